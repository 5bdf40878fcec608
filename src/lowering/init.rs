//! First values of the model's variables, drawn from the seeded init stream in variable order with Keras'
//! initialisers: glorot-uniform kernels, orthogonal recurrent kernels, zero biases (a unit forget bias for LSTM),
//! ones and zeros for batch norm's scale and statistics. Draws use f64 arithmetic and a portable generator, so the
//! same seed gives the same weights on every machine.

use std::collections::BTreeMap;

use ndarray::{Array2, ArrayD, IxDyn};

use super::{Init, Variable};
use crate::allocation::{try_zeroed, AllocationError};
use crate::rng::{ChaCha20Rng, Purpose, Rng, Streams};

/// The first value of every variable, by name; an error when the allocator refuses a variable's buffer.
pub fn initial_values(
    variables: &[Variable],
    streams: &Streams,
) -> Result<BTreeMap<String, ArrayD<f32>>, AllocationError> {
    let mut rng = streams.stream(Purpose::Init);
    variables.iter().map(|variable| Ok((variable.name.clone(), initial_value(variable, &mut rng)?))).collect()
}

fn initial_value(variable: &Variable, rng: &mut ChaCha20Rng) -> Result<ArrayD<f32>, AllocationError> {
    let shape = IxDyn(&variable.shape);
    let elements = variable.shape.iter().product();
    let mut values: Vec<f32> = try_zeroed(elements, &format!("the variable `{}`", variable.name))?;
    match &variable.init {
        Init::Zeros => {}
        Init::Ones => values.fill(1.0),
        Init::UnitForgetBias { units } => {
            values.iter_mut().skip(*units).take(*units).for_each(|value| *value = 1.0);
        }
        Init::GlorotUniform { fan_in, fan_out } => {
            let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
            values.iter_mut().for_each(|value| *value = ((2.0 * rng.gen::<f64>() - 1.0) * limit) as f32);
        }
        Init::Orthogonal => {
            let rows: usize = variable.shape[..variable.shape.len() - 1].iter().product();
            let columns = *variable.shape.last().expect("an orthogonal matrix has axes");
            let matrix = orthogonal(rows, columns, rng);
            values.iter_mut().zip(matrix.iter()).for_each(|(value, &drawn)| *value = drawn as f32);
        }
    }
    Ok(ArrayD::from_shape_vec(shape, values).expect("the buffer has the variable's element count"))
}

/// A `rows x columns` matrix with orthonormal rows or columns, as Keras' `Orthogonal`: the Q factor of a standard
/// normal matrix of shape `(max, min)` with the signs fixed by R's diagonal (here positive by construction),
/// transposed when there are fewer rows than columns.
fn orthogonal(rows: usize, columns: usize, rng: &mut ChaCha20Rng) -> Array2<f64> {
    let (long, short) = (rows.max(columns), rows.min(columns));
    let mut q = Array2::from_shape_simple_fn((long, short), || standard_normal(rng));
    // Modified Gram-Schmidt: orthonormalise the columns in order; R's diagonal (each norm) is positive.
    for column in 0..short {
        for earlier in 0..column {
            let projection = q.column(earlier).dot(&q.column(column));
            let earlier_column = q.column(earlier).to_owned();
            q.column_mut(column).scaled_add(-projection, &earlier_column);
        }
        let norm = q.column(column).dot(&q.column(column)).sqrt();
        q.column_mut(column).mapv_inplace(|value| value / norm);
    }
    if rows < columns {
        q.reversed_axes()
    } else {
        q
    }
}

/// A standard normal draw (Box-Muller).
fn standard_normal(rng: &mut ChaCha20Rng) -> f64 {
    let uniform: f64 = 1.0 - rng.gen::<f64>();
    let angle: f64 = rng.gen::<f64>();
    (-2.0 * libm::log(uniform)).sqrt() * libm::cos(std::f64::consts::TAU * angle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Role;

    fn variable(shape: &[usize], init: Init) -> Variable {
        Variable { name: "v".to_string(), shape: shape.to_vec(), init, role: Role::Param }
    }

    #[test]
    fn glorot_values_stay_within_the_limit_and_are_seeded() {
        let dense = variable(&[30, 64], Init::GlorotUniform { fan_in: 30, fan_out: 64 });
        let first = initial_values(std::slice::from_ref(&dense), &Streams::new(42)).expect("allocates");
        let again = initial_values(std::slice::from_ref(&dense), &Streams::new(42)).expect("allocates");
        let other = initial_values(std::slice::from_ref(&dense), &Streams::new(43)).expect("allocates");
        assert_eq!(first, again);
        assert_ne!(first, other);
        let limit = (6.0f64 / 94.0).sqrt() as f32;
        let values = &first["v"];
        assert!(values.iter().all(|value| value.abs() <= limit));
        let mean = values.iter().sum::<f32>() / values.len() as f32;
        assert!(mean.abs() < 0.02, "mean {mean}");
    }

    #[test]
    fn orthogonal_matrices_are_orthogonal_both_ways() {
        for (rows, columns) in [(8, 32), (16, 16), (12, 5)] {
            let matrix = orthogonal(rows, columns, &mut Streams::new(7).stream(Purpose::Init));
            assert_eq!(matrix.dim(), (rows, columns));
            let gram = if rows <= columns { matrix.dot(&matrix.t()) } else { matrix.t().dot(&matrix) };
            for ((i, j), value) in gram.indexed_iter() {
                let expected = if i == j { 1.0 } else { 0.0 };
                assert!((value - expected).abs() < 1e-10, "{rows}x{columns}: gram[{i}, {j}] = {value}");
            }
        }
    }

    #[test]
    fn the_forget_gate_bias_starts_at_one() {
        let bias =
            initial_values(&[variable(&[12], Init::UnitForgetBias { units: 3 })], &Streams::new(1)).expect("allocates");
        let expected = [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        assert_eq!(bias["v"].iter().copied().collect::<Vec<f32>>(), expected);
    }
}
