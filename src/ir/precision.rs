//! Changes the float precision of a whole graph, so that a graph built in `f32` can run in `f64` for gradient checks
//! against finite differences, where `f32` rounding would drown the comparison.

use super::{DType, Graph, Op, TensorType, Type};

/// `graph` with every float type (`f32` or `f64`) made `dtype`: node types, tuple parts, and scan bodies at any
/// depth. Integer and bool types stay, and so does every op; the graph's inputs change type with it, so the caller
/// feeds them in `dtype`.
pub fn with_float(graph: &Graph, dtype: DType) -> Graph {
    assert!(dtype.is_float(), "with_float takes a float dtype, not {dtype}");
    let mut graph = graph.clone();
    rewrite(&mut graph, dtype);
    graph
}

fn rewrite(graph: &mut Graph, dtype: DType) {
    for node in &mut graph.nodes {
        match &mut node.ty {
            Type::Tensor(tensor) => retype(tensor, dtype),
            Type::Tuple(parts) => parts.iter_mut().for_each(|part| retype(part, dtype)),
        }
        if let Op::Scan(scan) = &mut node.op {
            rewrite(&mut scan.body, dtype);
        }
    }
}

fn retype(tensor: &mut TensorType, dtype: DType) {
    if tensor.dtype.is_float() {
        tensor.dtype = dtype;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ndarray::{ArrayD, IxDyn};

    use super::with_float;
    use crate::interpreter::{run, Tensor};
    use crate::ir::{Builder, DType, Graph, Op, Role, Scan, TensorType, Type};

    /// A scan that scales a carry by each slice of a sequence, with a cast, an argmax and a comparison beside it, so
    /// that the graph holds float, `i32` and `bool` types inside and outside the body.
    fn mixed_graph() -> Graph {
        let mut body = Builder::new("cell");
        let carry = body.input("carry", Role::State, TensorType::new(DType::F32, [3]));
        let slice = body.input("slice", Role::Batch, TensorType::new(DType::F32, [3]));
        let next = body.mul(carry, slice);
        let best = body.argmax(next, 0);
        body.output("carry", next);
        body.output("best", best);
        let mut builder = Builder::new("mixed");
        let init = builder.input("init", Role::State, TensorType::new(DType::F32, [3]));
        let xs = builder.input("xs", Role::Batch, TensorType::new(DType::F32, [2, 3]));
        let scan = builder
            .scan(Scan { steps: 2, carries: 1, sequences: 1, reverse: false, body: body.finish() }, vec![init, xs]);
        let last = builder.get(scan, 0);
        let best = builder.get(scan, 1);
        let as_float = builder.cast(best, DType::F32);
        let zero = builder.constant_like(0.0, last);
        let positive = builder.compare(crate::ir::Compare::Gt, last, zero);
        builder.output("last", last);
        builder.output("best", as_float);
        builder.output("positive", positive);
        builder.finish()
    }

    /// Every tensor type in a graph, scan bodies included.
    fn all_types(graph: &Graph) -> Vec<TensorType> {
        let mut types = Vec::new();
        for node in &graph.nodes {
            match &node.ty {
                Type::Tensor(tensor) => types.push(tensor.clone()),
                Type::Tuple(parts) => types.extend(parts.iter().cloned()),
            }
            if let Op::Scan(scan) = &node.op {
                types.extend(all_types(&scan.body));
            }
        }
        types
    }

    #[test]
    fn every_float_type_changes_and_the_others_stay() {
        let graph = mixed_graph();
        let wide = with_float(&graph, DType::F64);
        let (before, after) = (all_types(&graph), all_types(&wide));
        assert_eq!(before.len(), after.len());
        for (before, after) in before.iter().zip(&after) {
            let expected = if before.dtype == DType::F32 { DType::F64 } else { before.dtype };
            assert_eq!(after, &TensorType::new(expected, before.shape.clone()));
        }
        assert!(after.iter().any(|ty| ty.dtype == DType::I32) && after.iter().any(|ty| ty.dtype == DType::Bool));
        assert_eq!(with_float(&wide, DType::F32), graph);
    }

    #[test]
    fn the_widened_graph_runs_in_f64_with_the_same_results() {
        let init = ArrayD::from_shape_vec(IxDyn(&[3]), vec![1.0, -2.0, 0.5]).unwrap();
        let xs = ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![2.0, 1.0, 4.0, -1.0, 3.0, 0.25]).unwrap();
        let narrow = BTreeMap::from([
            ("init".to_string(), Tensor::F32(init.mapv(|value| value as f32))),
            ("xs".to_string(), Tensor::F32(xs.mapv(|value| value as f32))),
        ]);
        let wide = BTreeMap::from([("init".to_string(), Tensor::F64(init)), ("xs".to_string(), Tensor::F64(xs))]);
        let narrow = run(&mixed_graph(), &narrow).unwrap();
        let wide = run(&with_float(&mixed_graph(), DType::F64), &wide).unwrap();
        assert_eq!(wide["last"].as_f64().unwrap().as_slice(), Some(&[-2.0, -6.0, 0.5][..]));
        assert_eq!(wide["best"].as_f64().unwrap().as_slice(), Some(&[0.0, 2.0][..]));
        assert_eq!(wide["positive"], narrow["positive"]);
        for name in ["last", "best"] {
            assert_eq!(narrow[name].dtype(), DType::F32);
            assert_eq!(narrow[name].to_f64(), wide[name].to_f64());
        }
    }
}
