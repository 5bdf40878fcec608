//! `model.safetensors`: the weights in the safetensors format, written so that the same weights always give the
//! same bytes.
//!
//! The `safetensors` crate reads the files (and so checks every file galen writes), but its writer takes the
//! metadata as a `HashMap`, whose order changes from run to run; the header is therefore written here, in a fixed
//! order: `__metadata__` first with its keys as given, then the tensors by name. Tensors are little-endian f32,
//! laid out back to back in name order; the header is padded with spaces to a multiple of 8 bytes, as the format
//! recommends.

use std::collections::BTreeMap;

use ndarray::{ArrayD, IxDyn};
use safetensors::{Dtype, SafeTensors};
use serde_json::{Map, Value};

use crate::runtime::train::Weights;

/// The bytes of a safetensors file holding `weights`, with `metadata` (string pairs, kept in the order given).
pub fn to_bytes(weights: &Weights, metadata: &[(String, String)]) -> Vec<u8> {
    let mut header = Map::new();
    let metadata: Map<String, Value> =
        metadata.iter().map(|(key, value)| (key.clone(), Value::String(value.clone()))).collect();
    if !metadata.is_empty() {
        header.insert("__metadata__".to_string(), Value::Object(metadata));
    }
    let mut offset = 0usize;
    for (name, value) in weights {
        let size = value.len() * 4;
        let mut entry = Map::new();
        entry.insert("dtype".to_string(), Value::String("F32".to_string()));
        entry.insert("shape".to_string(), Value::from(value.shape().to_vec()));
        entry.insert("data_offsets".to_string(), Value::from(vec![offset, offset + size]));
        header.insert(name.clone(), Value::Object(entry));
        offset += size;
    }
    // A JSON value's display is serde_json's compact writer, and cannot fail.
    let mut header = Value::Object(header).to_string().into_bytes();
    while !header.len().is_multiple_of(8) {
        header.push(b' ');
    }
    let mut bytes = Vec::with_capacity(8 + header.len() + offset);
    bytes.extend_from_slice(&(header.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&header);
    for value in weights.values() {
        // Logical (row-major) order, whatever the array's memory layout.
        for number in value.iter() {
            bytes.extend_from_slice(&number.to_le_bytes());
        }
    }
    bytes
}

/// Reads the weights and metadata of a safetensors file; an error says what is wrong with it.
pub fn from_bytes(bytes: &[u8]) -> Result<(Weights, BTreeMap<String, String>), String> {
    let (_, metadata) =
        SafeTensors::read_metadata(bytes).map_err(|error| format!("not a safetensors file: {error}"))?;
    let tensors = SafeTensors::deserialize(bytes).map_err(|error| format!("not a safetensors file: {error}"))?;
    let mut weights = Weights::new();
    for (name, view) in tensors.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(format!("the tensor `{name}` holds {:?} values, galen writes F32", view.dtype()));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
            .collect();
        let array = ArrayD::from_shape_vec(IxDyn(view.shape()), values)
            .map_err(|_| format!("the tensor `{name}` has a shape that does not match its data"))?;
        weights.insert(name, array);
    }
    let metadata = metadata.metadata().clone().unwrap_or_default().into_iter().collect();
    Ok((weights, metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights() -> Weights {
        let mut weights = Weights::new();
        weights.insert("dense_1.kernel".into(), ArrayD::from_shape_fn(IxDyn(&[3, 2]), |i| (i[0] * 2 + i[1]) as f32));
        weights.insert("dense_1.bias".into(), ArrayD::from_elem(IxDyn(&[2]), -0.5));
        weights.insert("scalar".into(), ArrayD::from_elem(IxDyn(&[]), 7.0));
        weights
    }

    #[test]
    fn weights_and_metadata_read_back_exactly() {
        let metadata: Vec<(String, String)> = [("z", "last"), ("a", "first"), ("galen", "0.1.0")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let bytes = to_bytes(&weights(), &metadata);
        let (read, read_metadata) = from_bytes(&bytes).unwrap();
        assert_eq!(read, weights());
        assert_eq!(read_metadata.len(), 3);
        assert_eq!(read_metadata["z"], "last");
        // The header keeps the metadata in the order given, then tensors by name.
        let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        assert_eq!(header_len % 8, 0);
        let header = std::str::from_utf8(&bytes[8..8 + header_len]).unwrap();
        assert!(
            header.starts_with(r#"{"__metadata__":{"z":"last","a":"first","galen":"0.1.0"},"dense_1.bias""#),
            "{header}"
        );
        // The same weights give the same bytes.
        assert_eq!(bytes, to_bytes(&weights(), &metadata));
    }

    #[test]
    fn a_transposed_array_is_written_in_logical_order() {
        let mut transposed = Weights::new();
        let array = ArrayD::from_shape_fn(IxDyn(&[2, 3]), |i| (i[0] * 3 + i[1]) as f32);
        transposed.insert("w".into(), array.t().to_owned().into_dyn());
        let mut view = Weights::new();
        view.insert("w".into(), array.reversed_axes().into_dyn());
        assert_eq!(to_bytes(&transposed, &[]), to_bytes(&view, &[]));
    }

    #[test]
    fn broken_files_are_errors_not_panics() {
        let bytes = to_bytes(&weights(), &[]);
        for cut in [0, 4, 8, 20, bytes.len() - 1] {
            assert!(from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(from_bytes(b"not a safetensors file at all").is_err());
    }
}
