//! The matrix product kernel: batched `[..., m, k] x [..., k, n]`, each output element the chain of fused
//! multiply-adds over `k` in order, from +0.0: `c = fma(a[i, k-1], b[k-1, j], ... fma(a[i, 0], b[0, j], 0))`. That is
//! the order the compiled backend's GEMM follows on every CPU path, so the interpreter gives the same bits as the
//! JIT's products, and the same bits on every machine (a fused multiply-add is exactly rounded wherever it runs).

use ndarray::{ArrayD, IxDyn};

use super::tensor::{with_float, Float, Tensor};

pub(super) fn matmul(a: &Tensor, b: &Tensor) -> Tensor {
    with_float!(a.dtype(), T => T::wrap(float_matmul::<T>(T::unwrap(a), T::unwrap(b))))
}

/// Multiplies each batch element of the row-major operands into its slice of the result.
fn float_matmul<T: Float>(a: &ArrayD<T>, b: &ArrayD<T>) -> ArrayD<T> {
    let rank = a.ndim();
    let (m, k, n) = (a.shape()[rank - 2], a.shape()[rank - 1], b.shape()[rank - 1]);
    let batch: usize = a.shape()[..rank - 2].iter().product();
    let mut shape = a.shape()[..rank - 2].to_vec();
    shape.extend([m, n]);
    let (a, b) = (a.as_standard_layout(), b.as_standard_layout());
    let (a, b) = (
        a.as_slice().expect("a standard-layout array is one slice"),
        b.as_slice().expect("a standard-layout array is one slice"),
    );
    let mut product = vec![T::from_f64(0.0); batch * m * n];
    if m * n > 0 {
        for (index, out) in product.chunks_mut(m * n).enumerate() {
            let (a, b) = (&a[index * m * k..(index + 1) * m * k], &b[index * k * n..(index + 1) * k * n]);
            multiply(a, b, out, (m, k, n));
        }
    }
    ArrayD::from_shape_vec(IxDyn(&shape), product).expect("the product has the result's element count")
}

/// `out += a × b` for row-major `[m, k]`, `[k, n]` and `[m, n]` slices, with an FMA instruction where the CPU has one
/// (the same bits as without: only faster).
fn multiply<T: Float>(a: &[T], b: &[T], out: &mut [T], dims: (usize, usize, usize)) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has FMA.
        unsafe { multiply_with_fma(a, b, out, dims) };
        return;
    }
    multiply_rows(a, b, out, dims);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn multiply_with_fma<T: Float>(a: &[T], b: &[T], out: &mut [T], dims: (usize, usize, usize)) {
    multiply_rows(a, b, out, dims);
}

/// Row by row: each output row accumulates `a[i, p] × b[p, :]` for `p` in order, so every element is its chain of
/// fused multiply-adds in `k` order.
#[inline(always)]
fn multiply_rows<T: Float>(a: &[T], b: &[T], out: &mut [T], (m, k, n): (usize, usize, usize)) {
    for (row, out_row) in out.chunks_mut(n).enumerate().take(m) {
        for (p, b_row) in b.chunks(n).enumerate().take(k) {
            let x = a[row * k + p];
            for (sum, &y) in out_row.iter_mut().zip(b_row) {
                *sum = T::mul_add(x, y, *sum);
            }
        }
    }
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
