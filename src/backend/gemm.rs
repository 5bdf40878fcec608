//! Matrix products through the `gemm` crate: its packed, vectorized kernels (AVX-512 where the CPU has it, chosen
//! at run time), with both operands read through their strides, so a transposed operand is never copied.
//!
//! The sum over `k` runs in one fixed order: a large product is cut into parts of its output by its shape alone
//! ([`parts`]), each computed by one thread, so a product is the same bits on one thread or many.

use gemm::Parallelism;
use rayon::prelude::*;

use super::plan::Layout;

/// Products with fewer multiply-adds than this run on one thread.
const PARALLEL_WORK: usize = 1 << 18;

/// A part of a product's output: rows `rows` and columns `columns` of `[m, n]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// The first row and one past the last.
    pub rows: (usize, usize),
    /// The first column and one past the last.
    pub columns: (usize, usize),
}

/// How a large `[m, k] × [k, n]` product is cut into parts that run on separate threads: along the rows when the
/// right operand is the smaller (each part packs all of it), else along the columns (each part packs all of the
/// left one). The cut depends on the shapes only, never on the thread count, so every element's sum over `k` is
/// computed by the same code, with the same blocking, on one thread or many: the bits do not change.
pub fn parts(m: usize, k: usize, n: usize) -> Vec<Part> {
    if m * n * k < PARALLEL_WORK {
        return vec![Part { rows: (0, m), columns: (0, n) }];
    }
    let by_rows = k * n <= m * k;
    let extent = if by_rows { m } else { n };
    let count = match extent {
        1024.. => 8,
        256.. => 4,
        128.. => 2,
        _ => 1,
    };
    // Parts a multiple of 16 wide, the microkernels' row and column blocks divide them.
    let size = extent.div_ceil(count).div_ceil(16) * 16;
    (0..extent)
        .step_by(size)
        .map(|start| {
            let range = (start, (start + size).min(extent));
            if by_rows {
                Part { rows: range, columns: (0, n) }
            } else {
                Part { rows: (0, m), columns: range }
            }
        })
        .collect()
}

/// Work run on a finished part of a product, given the product's buffer.
pub type Epilogue<'a> = dyn Fn(&Part, *const f32) + Sync + 'a;

/// `out = a × b` for `a` `[..., m, k]` and `b` `[..., k, n]` read through their layouts, into the row-major `out` of
/// `shape` `[..., m, n]`; batch axes may broadcast (stride 0).
pub fn matmul(a: &[f32], a_layout: &Layout, b: &[f32], b_layout: &Layout, out: &mut [f32], shape: &[usize]) {
    matmul_then(a, a_layout, b, b_layout, out, shape, None);
}

/// [`matmul`], then `epilogue(part, out)` on each finished [`Part`] of a two-dimensional product, on the thread
/// that computed it while its rows are still in cache (a fused bias and activation, or an activation's gradient);
/// `out` is the product's buffer, which the epilogue may read on the part's rows only. Parts cut along the
/// columns are all finished before the epilogue runs, once, on the whole product.
#[allow(clippy::too_many_arguments)]
pub fn matmul_then(
    a: &[f32],
    a_layout: &Layout,
    b: &[f32],
    b_layout: &Layout,
    out: &mut [f32],
    shape: &[usize],
    epilogue: Option<&Epilogue<'_>>,
) {
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
    if m * n * k > 0 {
        assert!(a_layout.reach() < a.len() && b_layout.reach() < b.len(), "matmul operand out of bounds");
    }
    if batch == 1 {
        let product = Product { a: a.as_ptr(), a_layout, b: b.as_ptr(), b_layout, out: out.as_mut_ptr(), k, n };
        let parts = parts(m, k, n);
        let by_columns = parts.len() > 1 && parts[0].columns != (0, n);
        let run = |part: &Part| {
            // SAFETY: the asserts above keep every element the strides reach inside `a`, `b` and `out`; parts
            // write disjoint blocks of `out`, which does not overlap the operands (it is a buffer of its own).
            unsafe { product.part(part) };
            if let Some(epilogue) = epilogue.filter(|_| !by_columns) {
                epilogue(part, product.output());
            }
        };
        if parts.len() > 1 && rayon::current_num_threads() > 1 {
            parts.par_iter().for_each(run);
        } else {
            parts.iter().for_each(run);
        }
        if let Some(epilogue) = epilogue.filter(|_| by_columns) {
            // Every row needs every column part: the epilogue runs after them, on as many blocks of rows.
            let size = m.div_ceil(parts.len());
            let rows: Vec<Part> = (0..m)
                .step_by(size.max(1))
                .map(|start| Part { rows: (start, (start + size).min(m)), columns: (0, n) })
                .collect();
            let run = |part: &Part| epilogue(part, product.output());
            if rayon::current_num_threads() > 1 {
                rows.par_iter().for_each(run);
            } else {
                rows.iter().for_each(run);
            }
        }
        return;
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
        // SAFETY: as above, for one product of the batch.
        unsafe {
            gemm_block(
                dst.as_mut_ptr(),
                n,
                a.as_ptr().offset(a_offset),
                a_layout,
                b.as_ptr().offset(b_offset),
                b_layout,
                (m, k, n),
                parallelism,
            )
        };
        for axis in (0..index.len()).rev() {
            index[axis] += 1;
            if index[axis] < shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
    if let Some(epilogue) = epilogue {
        epilogue(&Part { rows: (0, batch * m), columns: (0, n) }, out.as_ptr());
    }
}

/// A two-dimensional product's operands and output, shared by the threads computing its parts.
struct Product<'l> {
    a: *const f32,
    a_layout: &'l Layout,
    b: *const f32,
    b_layout: &'l Layout,
    out: *mut f32,
    k: usize,
    n: usize,
}

// SAFETY: the pointers are read (operands) or written on disjoint parts (output) while the caller keeps the
// buffers alive and borrowed.
unsafe impl Sync for Product<'_> {}

impl Product<'_> {
    /// The output buffer.
    fn output(&self) -> *const f32 {
        self.out
    }

    /// Computes one part of the output on this thread.
    ///
    /// # Safety
    /// The operands' layouts must stay inside their buffers, `out` must hold `m × n` elements, and no other thread
    /// may write this part.
    unsafe fn part(&self, part: &Part) {
        let (rank_a, rank_b) = (self.a_layout.strides.len(), self.b_layout.strides.len());
        let a_row = self.a_layout.strides[rank_a - 2];
        let b_column = self.b_layout.strides[rank_b - 1];
        let (rows, columns) = (part.rows.1 - part.rows.0, part.columns.1 - part.columns.0);
        let a = self.a.offset(self.a_layout.offset as isize + part.rows.0 as isize * a_row);
        let b = self.b.offset(self.b_layout.offset as isize + part.columns.0 as isize * b_column);
        let out = self.out.add(part.rows.0 * self.n + part.columns.0);
        gemm_block(out, self.n, a, self.a_layout, b, self.b_layout, (rows, self.k, columns), Parallelism::None);
    }
}

/// `gemm` on one `[m, k] × [k, n]` block: `a` and `b` point at the block's first elements, read with the last two
/// strides of their layouts; `out` at its first element, rows `row_stride` apart.
///
/// # Safety
/// Every element the strides reach from the pointers must be inside live buffers; `out` must not overlap them.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_block(
    out: *mut f32,
    row_stride: usize,
    a: *const f32,
    a_layout: &Layout,
    b: *const f32,
    b_layout: &Layout,
    (m, k, n): (usize, usize, usize),
    parallelism: Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for row in 0..m {
            std::slice::from_raw_parts_mut(out.add(row * row_stride), n).fill(0.0);
        }
        return;
    }
    let (rank_a, rank_b) = (a_layout.strides.len(), b_layout.strides.len());
    let (a_rs, a_cs) = (a_layout.strides[rank_a - 2], a_layout.strides[rank_a - 1]);
    let (b_rs, b_cs) = (b_layout.strides[rank_b - 2], b_layout.strides[rank_b - 1]);
    gemm::gemm(
        m,
        n,
        k,
        out,
        1,
        row_stride as isize,
        false,
        a,
        a_cs,
        a_rs,
        b,
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

    #[test]
    fn large_products_are_cut_by_shape_alone_and_give_the_same_bits_on_any_thread_count() {
        // Cut along the rows (the right operand is the smaller) and along the columns (the left one is).
        for (m, k, n) in [(600, 64, 40), (40, 64, 600)] {
            let cut = parts(m, k, n);
            assert!(cut.len() > 1, "{m}x{k}x{n} is cut");
            let covered: usize = cut.iter().map(|p| (p.rows.1 - p.rows.0) * (p.columns.1 - p.columns.0)).sum();
            assert_eq!(covered, m * n);
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 17 % 89) as f32 - 44.0) / 5.0).collect();
            let expected = reference(&a, &b, m, k, n);
            let mut results = Vec::new();
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool");
                let mut out = vec![0.0f32; m * n];
                let seen = std::sync::Mutex::new(vec![0usize; m]);
                let epilogue = |part: &Part, _: *const f32| {
                    let mut seen = seen.lock().unwrap();
                    for row in part.rows.0..part.rows.1 {
                        seen[row] += part.columns.1 - part.columns.0;
                    }
                };
                pool.install(|| {
                    let (al, bl) = (Layout::contiguous(&[m, k]), Layout::contiguous(&[k, n]));
                    matmul_then(&a, &al, &b, &bl, &mut out, &[m, n], Some(&epilogue))
                });
                assert!(
                    seen.into_inner().unwrap().iter().all(|&columns| columns == n),
                    "every row's epilogue ran once"
                );
                for (x, y) in out.iter().zip(&expected) {
                    assert!((x - y).abs() <= 1e-3 * y.abs().max(1.0), "{x} vs {y}");
                }
                results.push(out.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
            }
            assert!(results.windows(2).all(|pair| pair[0] == pair[1]), "{m}x{k}x{n}: the same bits on 1, 2, 3 threads");
        }
    }
}
