//! The matrix product kernel: batched `[..., m, k] x [..., k, n]`, one ndarray product per batch element.

use ndarray::{linalg::general_mat_mul, Array3, ArrayD, Axis, Ix3, IxDyn};

use super::tensor::{with_float, Float, Tensor};

pub(super) fn matmul(a: &Tensor, b: &Tensor) -> Tensor {
    with_float!(a.dtype(), T => T::wrap(float_matmul::<T>(T::unwrap(a), T::unwrap(b))))
}

/// Views both operands as `[batch, rows, columns]` and multiplies each batch element into its slice of the result.
fn float_matmul<T: Float>(a: &ArrayD<T>, b: &ArrayD<T>) -> ArrayD<T> {
    let rank = a.ndim();
    let (m, k, n) = (a.shape()[rank - 2], a.shape()[rank - 1], b.shape()[rank - 1]);
    let batch: usize = a.shape()[..rank - 2].iter().product();
    let mut shape = a.shape()[..rank - 2].to_vec();
    shape.extend([m, n]);
    let a = a.to_shape(Ix3(batch, m, k)).expect("matmul operands are [..., m, k] in a type-checked graph");
    let b = b.to_shape(Ix3(batch, k, n)).expect("matmul operands are [..., k, n] in a type-checked graph");
    let mut product = Array3::from_elem((batch, m, n), T::from_f64(0.0));
    for index in 0..batch {
        general_mat_mul(
            T::from_f64(1.0),
            &a.index_axis(Axis(0), index),
            &b.index_axis(Axis(0), index),
            T::from_f64(0.0),
            &mut product.index_axis_mut(Axis(0), index),
        );
    }
    product.into_shape_with_order(IxDyn(&shape)).expect("the product has the result's element count")
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_exact, eval, floats, FLOATS};

    #[test]
    fn multiplies_matrices() {
        for dtype in FLOATS {
            let a = floats(dtype, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
            let b = floats(dtype, &[3, 2], &[7.0, 8.0, 9.0, 10.0, 11.0, 12.0]);
            let y = eval(&[a, b], |builder, inputs| builder.matmul(inputs[0], inputs[1]));
            assert_exact(&y, dtype, &[2, 2], &[58.0, 64.0, 139.0, 154.0]);
        }
    }

    #[test]
    fn multiplies_a_transposed_operand() {
        for dtype in FLOATS {
            let a = floats(dtype, &[3, 2], &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
            let b = floats(dtype, &[3, 2], &[7.0, 8.0, 9.0, 10.0, 11.0, 12.0]);
            let y = eval(&[a, b], |builder, inputs| {
                let a = builder.transpose(inputs[0]);
                builder.matmul(a, inputs[1])
            });
            assert_exact(&y, dtype, &[2, 2], &[58.0, 64.0, 139.0, 154.0]);
        }
    }

    #[test]
    fn multiplies_each_batch_element_separately() {
        for dtype in FLOATS {
            let a = floats(dtype, &[2, 1, 2, 2], &[1.0, 2.0, 3.0, 4.0, 0.0, 1.0, 1.0, 0.0]);
            let b = floats(dtype, &[2, 1, 2, 1], &[1.0, -1.0, 5.0, 6.0]);
            let y = eval(&[a, b], |builder, inputs| builder.matmul(inputs[0], inputs[1]));
            assert_exact(&y, dtype, &[2, 1, 2, 1], &[-1.0, -1.0, 6.0, 5.0]);
        }
    }

    #[test]
    fn an_empty_inner_axis_gives_zeros() {
        for dtype in FLOATS {
            let a = floats(dtype, &[2, 0], &[]);
            let b = floats(dtype, &[0, 3], &[]);
            let y = eval(&[a, b], |builder, inputs| builder.matmul(inputs[0], inputs[1]));
            assert_exact(&y, dtype, &[2, 3], &[0.0; 6]);
        }
    }
}
