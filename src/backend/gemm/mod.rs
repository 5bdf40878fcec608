//! Matrix products with a fixed summation order: every output element is one chain of fused multiply-adds over `k`
//! in order (see [`kernels`]), so a product gives the same bits on every CPU path (portable, AVX2, AVX-512), on any
//! thread count, and for a row in any batch. Both operands are read through their strides, so a transposed operand
//! is never copied before packing.
//!
//! A large product is cut into parts of its output by its shape alone ([`parts`]), each computed by one thread;
//! since no element's sum depends on how the output is cut, the cut only decides which thread runs what.

mod kernels;

use rayon::prelude::*;

use super::cpu::CpuPath;
use super::plan::Layout;
use kernels::Block;

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
/// left one); at most one part per thread, so that no operand is packed more often than the threads need. The cut
/// cannot change a bit: every element is summed in `k` order whatever part computes it.
pub fn parts(m: usize, k: usize, n: usize, threads: usize) -> Vec<Part> {
    if m * n * k < PARALLEL_WORK || threads <= 1 {
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
    let count = count.min(threads);
    // Parts whole tiles wide: rows a multiple of 12 and columns of 32, which every path's micro-kernel divides.
    let multiple = if by_rows { 12 } else { 32 };
    let size = extent.div_ceil(count).div_ceil(multiple) * multiple;
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

/// `out = a × b` on `path` for `a` `[..., m, k]` and `b` `[..., k, n]` read through their layouts, into the
/// row-major `out` of `shape` `[..., m, n]`; batch axes may broadcast (stride 0).
///
/// # Panics
/// If the shapes disagree, a layout reaches past its buffer, or `path` is not supported by this CPU.
pub fn matmul(
    path: CpuPath,
    a: &[f32],
    a_layout: &Layout,
    b: &[f32],
    b_layout: &Layout,
    out: &mut [f32],
    shape: &[usize],
) {
    matmul_then(path, a, a_layout, b, b_layout, out, shape, None);
}

/// [`matmul`], then `epilogue(part, out)` on each finished [`Part`] of a two-dimensional product, on the thread
/// that computed it while its rows are still in cache (a fused bias and activation, or an activation's gradient);
/// `out` is the product's buffer, which the epilogue may read on the part's rows only. Parts cut along the
/// columns are all finished before the epilogue runs, once, on the whole product.
#[allow(clippy::too_many_arguments)]
pub fn matmul_then(
    path: CpuPath,
    a: &[f32],
    a_layout: &Layout,
    b: &[f32],
    b_layout: &Layout,
    out: &mut [f32],
    shape: &[usize],
    epilogue: Option<&Epilogue<'_>>,
) {
    assert!(path.is_supported(), "the {path} code path on a CPU without it");
    let rank = shape.len();
    assert!(
        rank >= 2 && a_layout.shape.len() == rank && b_layout.shape.len() == rank,
        "matmul operands of rank {rank}"
    );
    let (m, n) = (shape[rank - 2], shape[rank - 1]);
    let k = a_layout.shape[rank - 1];
    assert_eq!(b_layout.shape[rank - 2], k, "matmul inner sizes differ");
    assert!(
        a_layout.shape[..rank - 1] == shape[..rank - 1]
            && b_layout.shape[..rank - 2] == shape[..rank - 2]
            && b_layout.shape[rank - 1] == n,
        "matmul operands {:?} x {:?} do not make {shape:?}",
        a_layout.shape,
        b_layout.shape
    );
    let batch: usize = shape[..rank - 2].iter().product();
    assert_eq!(out.len(), batch * m * n, "matmul output size");
    if m * n * k > 0 {
        assert!(a_layout.reach() < a.len() && b_layout.reach() < b.len(), "matmul operand out of bounds");
    }
    let (a_strides, b_strides) = (matrix_strides(a_layout), matrix_strides(b_layout));
    if batch == 1 {
        let product = Product {
            path,
            a: a.as_ptr().wrapping_add(a_layout.offset),
            a_strides,
            b: b.as_ptr().wrapping_add(b_layout.offset),
            b_strides,
            out: out.as_mut_ptr(),
            k,
            n,
        };
        let parts = parts(m, k, n, rayon::current_num_threads());
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
    // A batch of products: each is computed whole by one thread, and large batches spread over the threads.
    let offsets: Vec<(usize, usize)> = (0..batch)
        .map(|product| {
            let mut index = product;
            let (mut a_offset, mut b_offset) = (a_layout.offset, b_layout.offset);
            for axis in (0..rank - 2).rev() {
                let position = index % shape[axis];
                index /= shape[axis];
                a_offset += position * a_layout.strides[axis] as usize;
                b_offset += position * b_layout.strides[axis] as usize;
            }
            (a_offset, b_offset)
        })
        .collect();
    let (a_base, b_base) = (SharedPointer(a.as_ptr()), SharedPointer(b.as_ptr()));
    let run = |(product, destination): (usize, &mut [f32])| {
        let (a_offset, b_offset) = offsets[product];
        let block = Block {
            out: destination.as_mut_ptr(),
            out_row_stride: n,
            a: a_base.get().wrapping_add(a_offset),
            a_strides,
            b: b_base.get().wrapping_add(b_offset),
            b_strides,
            m,
            k,
            n,
        };
        // SAFETY: as above, for one product of the batch; `destination` is its own `m × n` slice of `out`.
        unsafe { kernels::run(path, block) };
    };
    if m * n > 0 {
        if batch * m * n * k >= PARALLEL_WORK && rayon::current_num_threads() > 1 {
            out.par_chunks_mut(m * n).enumerate().for_each(run);
        } else {
            out.chunks_mut(m * n).enumerate().for_each(run);
        }
    }
    if let Some(epilogue) = epilogue {
        epilogue(&Part { rows: (0, batch * m), columns: (0, n) }, out.as_ptr());
    }
}

/// The row and column strides of a layout's last two axes.
fn matrix_strides(layout: &Layout) -> (isize, isize) {
    let rank = layout.strides.len();
    (layout.strides[rank - 2], layout.strides[rank - 1])
}

/// An operand's pointer, read by several threads.
#[derive(Clone, Copy)]
struct SharedPointer(*const f32);

// SAFETY: the operands are only read while the caller keeps them borrowed.
unsafe impl Sync for SharedPointer {}
unsafe impl Send for SharedPointer {}

impl SharedPointer {
    /// The pointer (a method, so that a closure captures the whole `Sync` wrapper, not its field).
    fn get(self) -> *const f32 {
        self.0
    }
}

/// A two-dimensional product's operands (at their first elements) and output, shared by the threads computing
/// its parts.
struct Product {
    path: CpuPath,
    a: *const f32,
    a_strides: (isize, isize),
    b: *const f32,
    b_strides: (isize, isize),
    out: *mut f32,
    k: usize,
    n: usize,
}

// SAFETY: the pointers are read (operands) or written on disjoint parts (output) while the caller keeps the
// buffers alive and borrowed.
unsafe impl Sync for Product {}

impl Product {
    /// The output buffer.
    fn output(&self) -> *const f32 {
        self.out
    }

    /// Computes one part of the output on this thread.
    ///
    /// # Safety
    /// The operands' strides must stay inside their buffers, `out` must hold `m × n` elements, and no other
    /// thread may write this part.
    unsafe fn part(&self, part: &Part) {
        let block = Block {
            out: self.out.add(part.rows.0 * self.n + part.columns.0),
            out_row_stride: self.n,
            a: self.a.wrapping_offset(part.rows.0 as isize * self.a_strides.0),
            a_strides: self.a_strides,
            b: self.b.wrapping_offset(part.columns.0 as isize * self.b_strides.1),
            b_strides: self.b_strides,
            m: part.rows.1 - part.rows.0,
            k: self.k,
            n: part.columns.1 - part.columns.0,
        };
        kernels::run(self.path, block);
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::kernels::tests::chain;
    use super::*;
    use crate::backend::cpu::available;

    fn reference(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|p| a[i * k + p] as f64 * b[p * n + j] as f64).sum::<f64>() as f32;
            }
        }
        out
    }

    /// The bits of every value, any NaN as one value: which NaN an operation returns when several of its operands
    /// are NaN is the instruction's choice, and is not part of the promise.
    fn bits(values: &[f32]) -> Vec<u32> {
        values.iter().map(|x| if x.is_nan() { f32::NAN.to_bits() } else { x.to_bits() }).collect()
    }

    /// Values with every exponent a product of two of them can reach in a sum of a few hundred terms, signed
    /// zeros, ties of rounding, subnormals and (rarely) infinities included.
    fn random_values(rng: &mut ChaCha8Rng, count: usize) -> Vec<f32> {
        (0..count)
            .map(|_| match rng.gen_range(0..2000) {
                0 => f32::INFINITY,
                1 => f32::NEG_INFINITY,
                2..=99 => 0.0,
                100..=199 => -0.0,
                200..=299 => rng.gen_range(-4i32..4) as f32,
                300..=349 => f32::from_bits(rng.gen_range(1..0x0080_0000)) * if rng.gen_bool(0.5) { 1.0 } else { -1.0 },
                350..=399 => rng.gen_range(-1.0f32..1.0) * libm::exp2f(rng.gen_range(-140..-120) as f32),
                _ => rng.gen_range(-1.0f32..1.0) * libm::exp2f(rng.gen_range(-12..12) as f32),
            })
            .collect()
    }

    #[test]
    fn products_match_a_plain_triple_loop_including_transposed_and_batched_operands() {
        let (m, k, n) = (7, 13, 5);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 11) as f32 - 5.0) / 3.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 17 % 7) as f32 - 3.0) / 2.0).collect();
        let expected = reference(&a, &b, m, k, n);
        for path in available() {
            let mut out = vec![0.0; m * n];
            matmul(path, &a, &Layout::contiguous(&[m, k]), &b, &Layout::contiguous(&[k, n]), &mut out, &[m, n]);
            for (x, y) in out.iter().zip(&expected) {
                assert!((x - y).abs() < 1e-4, "{path}: {x} vs {y}");
            }
            // `b` stored transposed (`[n, k]`) and read through swapped strides.
            let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
            let bt_layout = Layout { offset: 0, shape: vec![k, n], strides: vec![1, k as isize] };
            let mut out_t = vec![0.0; m * n];
            matmul(path, &a, &Layout::contiguous(&[m, k]), &bt, &bt_layout, &mut out_t, &[m, n]);
            assert_eq!(bits(&out_t), bits(&out), "{path}: the same bits through a transposed operand");
            // A batch of two with `b` broadcast along the batch axis.
            let a2: Vec<f32> = a.iter().chain(a.iter()).map(|x| x * 2.0).collect();
            let b_broadcast = Layout { offset: 0, shape: vec![2, k, n], strides: vec![0, n as isize, 1] };
            let mut out2 = vec![0.0; 2 * m * n];
            matmul(path, &a2, &Layout::contiguous(&[2, m, k]), &b, &b_broadcast, &mut out2, &[2, m, n]);
            for (x, y) in out2.iter().zip(expected.iter().chain(expected.iter())) {
                assert!((x - 2.0 * y).abs() < 1e-3, "{path}: {x} vs {}", 2.0 * y);
            }
        }
    }

    /// Every path gives exactly the defining chain of fused multiply-adds, over random shapes with ragged edges
    /// (m, n not multiples of any tile), k past one block and not a multiple of it, m or n = 1, transposed and
    /// offset operands, and a batch.
    #[test]
    fn every_path_gives_the_bits_of_the_fused_multiply_add_chain_on_random_shapes() {
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        let mut shapes = vec![(1, 1, 1), (1, 700, 1), (1, 300, 77), (77, 300, 1), (6, 256, 16), (12, 512, 32)];
        shapes.extend((0..40).map(|_| (rng.gen_range(1..160), rng.gen_range(0..600), rng.gen_range(1..140))));
        for (m, k, n) in shapes {
            let a_transposed = rng.gen_bool(0.5);
            let b_transposed = rng.gen_bool(0.5);
            let offset = rng.gen_range(0..3);
            let a = random_values(&mut rng, offset + m * k);
            let b = random_values(&mut rng, offset + k * n);
            let a_strides = if a_transposed { (1, m) } else { (k, 1) };
            let b_strides = if b_transposed { (1, k) } else { (n, 1) };
            let layout = |(rows, columns): (usize, usize), (row, column): (usize, usize)| Layout {
                offset,
                shape: vec![rows, columns],
                strides: vec![row as isize, column as isize],
            };
            let expected = chain(&a[offset..], a_strides, &b[offset..], b_strides, (m, k, n));
            for path in available() {
                let mut out = vec![f32::NAN; m * n];
                matmul(path, &a, &layout((m, k), a_strides), &b, &layout((k, n), b_strides), &mut out, &[m, n]);
                assert_eq!(
                    bits(&out),
                    bits(&expected),
                    "{path}: {m}x{k}x{n}, transposed {a_transposed} {b_transposed}"
                );
            }
        }
        // A batch of three, one product of which is a slice of a larger buffer.
        let (m, k, n) = (5, 300, 9);
        let a = random_values(&mut rng, 3 * m * k);
        let b = random_values(&mut rng, 3 * k * n);
        let mut expected = Vec::new();
        for product in 0..3 {
            expected.extend(chain(&a[product * m * k..], (k, 1), &b[product * k * n..], (n, 1), (m, k, n)));
        }
        for path in available() {
            let mut out = vec![f32::NAN; 3 * m * n];
            let (al, bl) = (Layout::contiguous(&[3, m, k]), Layout::contiguous(&[3, k, n]));
            matmul(path, &a, &al, &b, &bl, &mut out, &[3, m, n]);
            assert_eq!(bits(&out), bits(&expected), "{path}: a batch");
        }
    }

    /// A row's outputs are the same bits whatever batch it is computed in: alone, first, last, or in the middle
    /// of batches of every size around the tiles' edges.
    #[test]
    fn a_row_gives_the_same_bits_in_any_batch() {
        let mut rng = ChaCha8Rng::seed_from_u64(14);
        let (k, n) = (300, 70);
        let weights = random_values(&mut rng, k * n);
        let rows = random_values(&mut rng, 200 * k);
        let row = 57;
        for path in available() {
            let mut alone = vec![0.0; n];
            let b_layout = Layout::contiguous(&[k, n]);
            matmul(
                path,
                &rows[row * k..(row + 1) * k],
                &Layout::contiguous(&[1, k]),
                &weights,
                &b_layout,
                &mut alone,
                &[1, n],
            );
            for (first, count) in [(0, 200), (row, 1), (row, 13), (row - 12, 13), (40, 25), (50, 129)] {
                let mut out = vec![0.0; count * n];
                let a = &rows[first * k..(first + count) * k];
                matmul(path, a, &Layout::contiguous(&[count, k]), &weights, &b_layout, &mut out, &[count, n]);
                let position = row - first;
                assert_eq!(bits(&out[position * n..(position + 1) * n]), bits(&alone), "{path}: rows {first}+{count}");
            }
        }
    }

    #[test]
    fn large_products_are_cut_into_parts_and_give_the_same_bits_on_any_thread_count() {
        // Cut along the rows (the right operand is the smaller) and along the columns (the left one is).
        for (m, k, n) in [(600, 64, 40), (40, 64, 600)] {
            assert_eq!(parts(m, k, n, 1).len(), 1, "one thread, one part");
            for threads in [2, 3, 16] {
                let cut = parts(m, k, n, threads);
                assert!(cut.len() > 1 && cut.len() <= threads, "{m}x{k}x{n} is cut for {threads} threads");
                let covered: usize = cut.iter().map(|p| (p.rows.1 - p.rows.0) * (p.columns.1 - p.columns.0)).sum();
                assert_eq!(covered, m * n);
            }
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 17 % 89) as f32 - 44.0) / 5.0).collect();
            let expected = chain(&a, (k, 1), &b, (n, 1), (m, k, n));
            for path in available() {
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
                        matmul_then(path, &a, &al, &b, &bl, &mut out, &[m, n], Some(&epilogue))
                    });
                    assert!(
                        seen.into_inner().unwrap().iter().all(|&columns| columns == n),
                        "every row's epilogue ran once"
                    );
                    assert_eq!(bits(&out), bits(&expected), "{path}, {m}x{k}x{n} on {threads} threads");
                }
            }
        }
    }
}
