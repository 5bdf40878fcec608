//! Matrix products through the `gemm` crate: its packed, vectorized kernels (AVX-512 where the CPU has it, chosen
//! at run time), with both operands read through their strides, so a transposed operand is never copied.
//!
//! The sum over `k` runs in one fixed order: `gemm` splits only the output's tiles among threads, so a product is
//! the same bits on one thread or many.

use gemm::Parallelism;

use super::plan::Layout;

/// Products with fewer multiply-adds than this run on one thread.
const PARALLEL_WORK: usize = 1 << 18;

/// `out = a × b` for `a` `[..., m, k]` and `b` `[..., k, n]` read through their layouts, into the row-major `out` of
/// `shape` `[..., m, n]`; batch axes may broadcast (stride 0).
pub fn matmul(a: &[f32], a_layout: &Layout, b: &[f32], b_layout: &Layout, out: &mut [f32], shape: &[usize]) {
    let rank = shape.len();
    assert!(
        rank >= 2 && a_layout.shape.len() == rank && b_layout.shape.len() == rank,
        "matmul operands of rank {rank}"
    );
    let (m, n) = (shape[rank - 2], shape[rank - 1]);
    let k = a_layout.shape[rank - 1];
    assert_eq!(b_layout.shape[rank - 2], k, "matmul inner sizes differ");
    let batch: usize = shape[..rank - 2].iter().product();
    assert_eq!(out.len(), batch * m * n, "matmul output size");
    let (a_rs, a_cs) = (a_layout.strides[rank - 2], a_layout.strides[rank - 1]);
    let (b_rs, b_cs) = (b_layout.strides[rank - 2], b_layout.strides[rank - 1]);
    // Bounds: the furthest element each operand reaches.
    let reach = |layout: &Layout| -> usize {
        layout.offset
            + layout
                .shape
                .iter()
                .zip(&layout.strides)
                .map(|(&size, &s)| size.saturating_sub(1) * s as usize)
                .sum::<usize>()
    };
    if m * n * k > 0 {
        assert!(reach(a_layout) < a.len() && reach(b_layout) < b.len(), "matmul operand out of bounds");
    }
    let parallelism = if m * n * k >= PARALLEL_WORK && rayon::current_num_threads() > 1 {
        Parallelism::Rayon(rayon::current_num_threads())
    } else {
        Parallelism::None
    };
    let mut index = vec![0usize; rank - 2];
    for product in 0..batch {
        let offset = |layout: &Layout| {
            layout.offset as isize
                + index.iter().zip(&layout.strides).map(|(&i, &stride)| i as isize * stride).sum::<isize>()
        };
        let (a_offset, b_offset) = (offset(a_layout), offset(b_layout));
        let dst = &mut out[product * m * n..(product + 1) * m * n];
        if k == 0 {
            dst.fill(0.0);
        } else if m * n > 0 {
            // SAFETY: the asserts above keep every element the strides reach inside `a`, `b` and `dst`; `dst` does
            // not overlap the operands (it is a buffer of its own).
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    dst.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    a.as_ptr().offset(a_offset),
                    a_cs,
                    a_rs,
                    b.as_ptr().offset(b_offset),
                    b_cs,
                    b_rs,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    parallelism,
                );
            }
        }
        for axis in (0..index.len()).rev() {
            index[axis] += 1;
            if index[axis] < shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a[i * k + p] as f64 * b[p * n + j] as f64).sum::<f64>() as f32;
            }
        }
        out
    }

    #[test]
    fn products_match_a_plain_triple_loop_including_transposed_and_batched_operands() {
        let (m, k, n) = (7, 13, 5);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 11) as f32 - 5.0) / 3.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 17 % 7) as f32 - 3.0) / 2.0).collect();
        let expected = reference(&a, &b, m, k, n);
        let mut out = vec![0.0; m * n];
        matmul(&a, &Layout::contiguous(&[m, k]), &b, &Layout::contiguous(&[k, n]), &mut out, &[m, n]);
        for (x, y) in out.iter().zip(&expected) {
            assert!((x - y).abs() < 1e-4, "{x} vs {y}");
        }
        // `b` stored transposed (`[n, k]`) and read through swapped strides.
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        let bt_layout = Layout { offset: 0, shape: vec![k, n], strides: vec![1, k as isize] };
        let mut out_t = vec![0.0; m * n];
        matmul(&a, &Layout::contiguous(&[m, k]), &bt, &bt_layout, &mut out_t, &[m, n]);
        for (x, y) in out_t.iter().zip(&expected) {
            assert!((x - y).abs() < 1e-4, "{x} vs {y}");
        }
        // A batch of two with `b` broadcast along the batch axis.
        let a2: Vec<f32> = a.iter().chain(a.iter()).map(|x| x * 2.0).collect();
        let b_broadcast = Layout { offset: 0, shape: vec![2, k, n], strides: vec![0, n as isize, 1] };
        let mut out2 = vec![0.0; 2 * m * n];
        matmul(&a2, &Layout::contiguous(&[2, m, k]), &b, &b_broadcast, &mut out2, &[2, m, n]);
        for (x, y) in out2.iter().zip(expected.iter().chain(expected.iter())) {
            assert!((x - 2.0 * y).abs() < 1e-3, "{x} vs {}", 2.0 * y);
        }
    }
}
