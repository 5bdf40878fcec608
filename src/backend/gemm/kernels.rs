//! The GEMM's blocked loops and micro-kernels, one set per CPU path, all computing each output element as the same
//! chain of fused multiply-adds:
//!
//! ```text
//! c[i, j] = fma(a[i, k-1], b[k-1, j], ... fma(a[i, 1], b[1, j], fma(a[i, 0], b[0, j], +0.0)))
//! ```
//!
//! Each lane of a micro-kernel's accumulator owns one element of the output and adds its products in `k` order,
//! each rounded once. The loops over blocks of `k` store the accumulator to the output and load it back for the
//! next block, which changes no bit; the blocks of rows and columns only decide which elements are computed
//! together, never how one is. A ragged edge runs the same micro-kernel on zero-padded operands, and rows past
//! the edge are simply not computed. So the bits depend on `k` alone: not on `m`, `n`, a row's place in the batch,
//! the SIMD width, the block sizes, the thread that ran the block, or the CPU.

use std::cell::RefCell;

use crate::backend::cpu::CpuPath;

/// The depth of a block of `k`: a packed sliver of the right operand, `KC × NR` floats, stays in the L1 cache.
const KC: usize = 256;
/// The rows of a block of the left operand, packed once per block of `k` and kept in the L2 cache.
const MC: usize = 144;
/// The columns of a block of the right operand, packed once per block of `k`.
const NC: usize = 4096;
/// The widest micro-kernel row, in floats (the spill buffer for ragged columns).
const MAX_NR: usize = 64;

/// A `[m, k] × [k, n]` product of one block: the operands' first elements and strides (in elements, never
/// negative; 0 on a broadcast axis), the output's first element and row stride.
#[derive(Clone, Copy, Debug)]
pub(super) struct Block {
    pub out: *mut f32,
    pub out_row_stride: usize,
    pub a: *const f32,
    pub a_strides: (isize, isize),
    pub b: *const f32,
    pub b_strides: (isize, isize),
    pub m: usize,
    pub k: usize,
    pub n: usize,
}

/// Computes `block` on this thread with `path`'s micro-kernels.
///
/// # Safety
/// Every element the strides reach from the operand pointers must be readable; the `m × n` output elements, rows
/// `out_row_stride` apart, writable and overlapping neither operand; `path` must be supported by this CPU.
pub(super) unsafe fn run(path: CpuPath, block: Block) {
    if block.m == 0 || block.n == 0 {
        return;
    }
    if block.k == 0 {
        for row in 0..block.m {
            std::slice::from_raw_parts_mut(block.out.add(row * block.out_row_stride), block.n).fill(0.0);
        }
        return;
    }
    PACKED.with(|packed| {
        let mut packed = packed.borrow_mut();
        match path {
            CpuPath::Portable => blocked::<Scalar, 4, 4>(block, &mut packed),
            #[cfg(target_arch = "x86_64")]
            CpuPath::V3 => {
                assert!(path.is_supported(), "the v3 path on a CPU without AVX2 and FMA");
                x86::v3(block, &mut packed)
            }
            #[cfg(target_arch = "x86_64")]
            CpuPath::V4 => {
                assert!(path.is_supported(), "the v4 path on a CPU without AVX-512");
                x86::v4(block, &mut packed)
            }
            #[cfg(not(target_arch = "x86_64"))]
            CpuPath::V3 | CpuPath::V4 => unreachable!("x86-64 paths are never supported elsewhere"),
        }
    });
}

/// A vector of f32 lanes and the four operations a micro-kernel needs. Implementations are `#[inline(always)]`,
/// so that they compile inside the `#[target_feature]` function that instantiates the kernel.
pub(super) trait Lanes: Copy {
    /// The number of lanes.
    const WIDTH: usize;
    /// All lanes +0.0.
    ///
    /// # Safety
    /// The CPU must have the implementation's instructions (as for every method).
    unsafe fn zero() -> Self;
    /// `x` in every lane.
    ///
    /// # Safety
    /// As for [`Lanes::zero`].
    unsafe fn splat(x: f32) -> Self;
    /// `WIDTH` floats from `pointer` (no alignment needed).
    ///
    /// # Safety
    /// `pointer` must be readable for `WIDTH` floats.
    unsafe fn load(pointer: *const f32) -> Self;
    /// The lanes to `pointer`.
    ///
    /// # Safety
    /// `pointer` must be writable for `WIDTH` floats.
    unsafe fn store(self, pointer: *mut f32);
    /// `self × b + c` per lane, rounded once.
    ///
    /// # Safety
    /// As for [`Lanes::zero`].
    unsafe fn mul_add(self, b: Self, c: Self) -> Self;
    /// Copies a `WIDTH × WIDTH` block transposed: element `c` of source row `r` (rows `source_stride` apart, each
    /// `WIDTH` contiguous floats) goes to element `r` of destination row `c` (rows `destination_stride` apart).
    /// Moves only, so no bit changes; vector shuffles where an implementation has them.
    ///
    /// # Safety
    /// Both blocks must be inside their buffers.
    #[inline(always)]
    unsafe fn transpose(source: *const f32, source_stride: isize, destination: *mut f32, destination_stride: usize) {
        for row in 0..Self::WIDTH {
            for column in 0..Self::WIDTH {
                *destination.add(column * destination_stride + row) =
                    *source.offset(row as isize * source_stride + column as isize);
            }
        }
    }
}

/// One lane, with `f32::mul_add` (an FMA instruction where the target has one, else the C library's correctly
/// rounded `fmaf`): the portable path.
#[derive(Clone, Copy)]
pub(super) struct Scalar(f32);

impl Lanes for Scalar {
    const WIDTH: usize = 1;
    #[inline(always)]
    unsafe fn zero() -> Self {
        Scalar(0.0)
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self {
        Scalar(x)
    }
    #[inline(always)]
    unsafe fn load(pointer: *const f32) -> Self {
        Scalar(*pointer)
    }
    #[inline(always)]
    unsafe fn store(self, pointer: *mut f32) {
        *pointer = self.0;
    }
    #[inline(always)]
    unsafe fn mul_add(self, b: Self, c: Self) -> Self {
        Scalar(self.0.mul_add(b.0, c.0))
    }
}

/// Sixteen lanes emulated with `f32::mul_add`: the v4 path's blocking (12 × 32 tiles) on any CPU, for tests.
#[cfg(test)]
#[derive(Clone, Copy)]
pub(super) struct Emulated16([f32; 16]);

#[cfg(test)]
impl Lanes for Emulated16 {
    const WIDTH: usize = 16;
    unsafe fn zero() -> Self {
        Emulated16([0.0; 16])
    }
    unsafe fn splat(x: f32) -> Self {
        Emulated16([x; 16])
    }
    unsafe fn load(pointer: *const f32) -> Self {
        Emulated16(std::ptr::read_unaligned(pointer.cast()))
    }
    unsafe fn store(self, pointer: *mut f32) {
        std::ptr::write_unaligned(pointer.cast(), self.0)
    }
    unsafe fn mul_add(self, b: Self, c: Self) -> Self {
        Emulated16(std::array::from_fn(|lane| self.0[lane].mul_add(b.0[lane], c.0[lane])))
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The AVX2 + FMA (v3) and AVX-512 (v4) lanes and their entry points.

    use std::arch::x86_64::*;

    use super::{blocked, Block, Lanes, Packed};

    /// Eight lanes of a `ymm` register.
    #[derive(Clone, Copy)]
    pub(super) struct Avx2(__m256);

    impl Lanes for Avx2 {
        const WIDTH: usize = 8;
        #[inline(always)]
        unsafe fn transpose(
            source: *const f32,
            source_stride: isize,
            destination: *mut f32,
            destination_stride: usize,
        ) {
            let row = |index: isize| _mm256_loadu_ps(source.offset(index * source_stride));
            let (r0, r1, r2, r3, r4, r5, r6, r7) = (row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7));
            let (t0, t1) = (_mm256_unpacklo_ps(r0, r1), _mm256_unpackhi_ps(r0, r1));
            let (t2, t3) = (_mm256_unpacklo_ps(r2, r3), _mm256_unpackhi_ps(r2, r3));
            let (t4, t5) = (_mm256_unpacklo_ps(r4, r5), _mm256_unpackhi_ps(r4, r5));
            let (t6, t7) = (_mm256_unpacklo_ps(r6, r7), _mm256_unpackhi_ps(r6, r7));
            let (u0, u1) = (_mm256_shuffle_ps::<0x44>(t0, t2), _mm256_shuffle_ps::<0xEE>(t0, t2));
            let (u2, u3) = (_mm256_shuffle_ps::<0x44>(t1, t3), _mm256_shuffle_ps::<0xEE>(t1, t3));
            let (u4, u5) = (_mm256_shuffle_ps::<0x44>(t4, t6), _mm256_shuffle_ps::<0xEE>(t4, t6));
            let (u6, u7) = (_mm256_shuffle_ps::<0x44>(t5, t7), _mm256_shuffle_ps::<0xEE>(t5, t7));
            let columns = [
                _mm256_permute2f128_ps::<0x20>(u0, u4),
                _mm256_permute2f128_ps::<0x20>(u1, u5),
                _mm256_permute2f128_ps::<0x20>(u2, u6),
                _mm256_permute2f128_ps::<0x20>(u3, u7),
                _mm256_permute2f128_ps::<0x31>(u0, u4),
                _mm256_permute2f128_ps::<0x31>(u1, u5),
                _mm256_permute2f128_ps::<0x31>(u2, u6),
                _mm256_permute2f128_ps::<0x31>(u3, u7),
            ];
            for (index, column) in columns.into_iter().enumerate() {
                _mm256_storeu_ps(destination.add(index * destination_stride), column);
            }
        }
        #[inline(always)]
        unsafe fn zero() -> Self {
            Avx2(_mm256_setzero_ps())
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            Avx2(_mm256_set1_ps(x))
        }
        #[inline(always)]
        unsafe fn load(pointer: *const f32) -> Self {
            Avx2(_mm256_loadu_ps(pointer))
        }
        #[inline(always)]
        unsafe fn store(self, pointer: *mut f32) {
            _mm256_storeu_ps(pointer, self.0)
        }
        #[inline(always)]
        unsafe fn mul_add(self, b: Self, c: Self) -> Self {
            Avx2(_mm256_fmadd_ps(self.0, b.0, c.0))
        }
    }

    /// Sixteen lanes of a `zmm` register.
    #[derive(Clone, Copy)]
    pub(super) struct Avx512(__m512);

    impl Lanes for Avx512 {
        const WIDTH: usize = 16;
        #[inline(always)]
        unsafe fn zero() -> Self {
            Avx512(_mm512_setzero_ps())
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            Avx512(_mm512_set1_ps(x))
        }
        #[inline(always)]
        unsafe fn load(pointer: *const f32) -> Self {
            Avx512(_mm512_loadu_ps(pointer))
        }
        #[inline(always)]
        unsafe fn store(self, pointer: *mut f32) {
            _mm512_storeu_ps(pointer, self.0)
        }
        #[inline(always)]
        unsafe fn mul_add(self, b: Self, c: Self) -> Self {
            Avx512(_mm512_fmadd_ps(self.0, b.0, c.0))
        }
    }

    /// The v3 path: 6 × 16 tiles (twelve `ymm` accumulators, two for a row of the right operand, one broadcast).
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA; `block` as for [`super::run`].
    #[target_feature(enable = "avx,avx2,fma")]
    pub(super) unsafe fn v3(block: Block, packed: &mut Packed) {
        blocked::<Avx2, 6, 2>(block, packed)
    }

    /// The v4 path: 12 × 32 tiles (24 `zmm` accumulators, two for a row of the right operand, one broadcast).
    ///
    /// # Safety
    /// The CPU must have AVX-512 F; `block` as for [`super::run`].
    #[target_feature(enable = "avx512f,avx,avx2,fma")]
    pub(super) unsafe fn v4(block: Block, packed: &mut Packed) {
        blocked::<Avx512, 12, 2>(block, packed)
    }
}

/// Per-thread buffers for the packed operands, kept between products so that a warm loop allocates nothing.
#[derive(Default)]
pub(super) struct Packed {
    a: Vec<f32>,
    b: Vec<f32>,
}

thread_local! {
    static PACKED: RefCell<Packed> = RefCell::new(Packed::default());
}

/// `length` floats of `buffer`, starting at a 64-byte boundary (a cache line), grown as needed.
fn aligned(buffer: &mut Vec<f32>, length: usize) -> *mut f32 {
    if buffer.len() < length + 16 {
        buffer.resize(length + 16, 0.0);
    }
    let offset = buffer.as_ptr().align_offset(64).min(15);
    // SAFETY: `offset + length <= buffer.len()`.
    unsafe { buffer.as_mut_ptr().add(offset) }
}

/// The blocked product with `MR × NR` tiles of lanes `L`, `NR = NV × L::WIDTH` (BLIS's loop order: columns of the
/// right operand, then blocks of `k`, then rows, then tiles).
///
/// # Safety
/// As for [`run`], with `block.m`, `block.n` and `block.k` non-zero, and `L`'s instructions available.
#[inline(always)]
pub(super) unsafe fn blocked<L: Lanes, const MR: usize, const NV: usize>(block: Block, packed: &mut Packed) {
    let nr = NV * L::WIDTH;
    debug_assert!(nr <= MAX_NR && MR <= 12);
    let Block { out, out_row_stride, a, a_strides, b, b_strides, m, k, n } = block;
    // A row-major left operand is read in place when few tiles would reuse a packed copy.
    let pack_a = a_strides.1 != 1 || n > 2 * nr;
    for column in (0..n).step_by(NC) {
        let columns = NC.min(n - column);
        let slivers = columns.div_ceil(nr);
        for depth in (0..k).step_by(KC) {
            let kc = KC.min(k - depth);
            let packed_b = aligned(&mut packed.b, slivers * kc * nr);
            let b_block = b.offset(depth as isize * b_strides.0 + column as isize * b_strides.1);
            pack_b::<L, NV>(packed_b, b_block, b_strides, kc, columns, nr);
            for row in (0..m).step_by(MC) {
                let rows = MC.min(m - row);
                let a_block = a.offset(row as isize * a_strides.0 + depth as isize * a_strides.1);
                // The left operand's tiles: their first element, the step between their rows, between
                // successive `k`, and between tiles.
                let (a_tiles, a_row_step, a_depth_step, a_tile_step) = if pack_a {
                    let packed_a = aligned(&mut packed.a, rows.div_ceil(MR) * MR * kc);
                    pack_a_block::<MR>(packed_a, a_block, a_strides, rows, kc);
                    (packed_a.cast_const(), 1, MR as isize, (MR * kc) as isize)
                } else {
                    (a_block, a_strides.0, a_strides.1, MR as isize * a_strides.0)
                };
                for sliver in 0..slivers {
                    let first_column = sliver * nr;
                    let tile_columns = nr.min(columns - first_column);
                    let b_sliver = packed_b.add(sliver * kc * nr).cast_const();
                    for (tile, first_row) in (0..rows).step_by(MR).enumerate() {
                        let tile_rows = MR.min(rows - first_row);
                        let tile = Tile {
                            a: a_tiles.offset(tile as isize * a_tile_step),
                            a_row_step,
                            a_depth_step,
                            b: b_sliver,
                            out: out.add((row + first_row) * out_row_stride + column + first_column),
                            out_row_stride,
                            kc,
                            accumulate: depth > 0,
                            columns: tile_columns,
                        };
                        if pack_a {
                            tile_rows_dispatch::<L, NV, MR>(tile_rows, tile);
                        } else {
                            tile_rows_dispatch::<L, NV, 0>(tile_rows, tile);
                        }
                    }
                }
            }
        }
    }
}

/// One micro-kernel call: up to `MR` rows of the left operand over `kc` steps of `k`, a packed sliver of the right
/// operand (`kc × NR`, zero-padded past `columns`), and the output tile.
#[derive(Clone, Copy)]
struct Tile {
    a: *const f32,
    a_row_step: isize,
    a_depth_step: isize,
    b: *const f32,
    out: *mut f32,
    out_row_stride: usize,
    kc: usize,
    /// Whether the output holds the sum over earlier blocks of `k` (else the chain starts at +0.0).
    accumulate: bool,
    /// The tile's valid columns (`NR` but at the right edge).
    columns: usize,
}

/// Runs the micro-kernel for `rows` rows, a constant of each instance. `PACKED` is the row count of a packed left
/// operand's tiles (its rows are then 1 apart and its steps of `k` `PACKED` apart, constants of the code), or 0
/// for an operand read in place through the tile's strides.
#[inline(always)]
unsafe fn tile_rows_dispatch<L: Lanes, const NV: usize, const PACKED: usize>(rows: usize, tile: Tile) {
    match rows {
        1 => micro::<L, 1, NV, PACKED>(tile),
        2 => micro::<L, 2, NV, PACKED>(tile),
        3 => micro::<L, 3, NV, PACKED>(tile),
        4 => micro::<L, 4, NV, PACKED>(tile),
        5 => micro::<L, 5, NV, PACKED>(tile),
        6 => micro::<L, 6, NV, PACKED>(tile),
        7 => micro::<L, 7, NV, PACKED>(tile),
        8 => micro::<L, 8, NV, PACKED>(tile),
        9 => micro::<L, 9, NV, PACKED>(tile),
        10 => micro::<L, 10, NV, PACKED>(tile),
        11 => micro::<L, 11, NV, PACKED>(tile),
        12 => micro::<L, 12, NV, PACKED>(tile),
        _ => unreachable!("micro-kernels have at most 12 rows"),
    }
}

/// The micro-kernel: `R × NV` accumulators of lanes `L`, one output element per lane, each adding its products in
/// `k` order with one rounding apiece.
#[inline(always)]
unsafe fn micro<L: Lanes, const R: usize, const NV: usize, const PACKED: usize>(tile: Tile) {
    let width = L::WIDTH;
    let nr = NV * width;
    let full = tile.columns == nr;
    let (row_step, depth_step) = if PACKED > 0 { (1, PACKED as isize) } else { (tile.a_row_step, tile.a_depth_step) };
    let mut spill = [0.0f32; MAX_NR];
    let mut accumulators = [[L::zero(); NV]; R];
    if tile.accumulate {
        for (row, lanes) in accumulators.iter_mut().enumerate() {
            let mut source = tile.out.add(row * tile.out_row_stride).cast_const();
            if !full {
                std::ptr::copy_nonoverlapping(source, spill.as_mut_ptr(), tile.columns);
                source = spill.as_ptr();
            }
            for (vector, lane) in lanes.iter_mut().enumerate() {
                *lane = L::load(source.add(vector * width));
            }
        }
    }
    // One step of `k`: a row of the right operand's sliver, times each row's element of the left operand.
    #[inline(always)]
    unsafe fn step<L: Lanes, const R: usize, const NV: usize>(
        accumulators: &mut [[L; NV]; R],
        a: *const f32,
        row_step: isize,
        b: *const f32,
    ) {
        let mut b_lanes = [L::zero(); NV];
        for (vector, lanes) in b_lanes.iter_mut().enumerate() {
            *lanes = L::load(b.add(vector * L::WIDTH));
        }
        for (row, lanes) in accumulators.iter_mut().enumerate() {
            let x = L::splat(*a.offset(row as isize * row_step));
            for (lane, &b_lane) in lanes.iter_mut().zip(&b_lanes) {
                *lane = x.mul_add(b_lane, *lane);
            }
        }
    }
    let mut a = tile.a;
    let mut b = tile.b;
    // Four steps at a time, then the rest: the same steps in the same order.
    for _ in 0..tile.kc / 4 {
        step::<L, R, NV>(&mut accumulators, a, row_step, b);
        step::<L, R, NV>(&mut accumulators, a.offset(depth_step), row_step, b.add(nr));
        step::<L, R, NV>(&mut accumulators, a.offset(2 * depth_step), row_step, b.add(2 * nr));
        step::<L, R, NV>(&mut accumulators, a.offset(3 * depth_step), row_step, b.add(3 * nr));
        a = a.offset(4 * depth_step);
        b = b.add(4 * nr);
    }
    for _ in 0..tile.kc % 4 {
        step::<L, R, NV>(&mut accumulators, a, row_step, b);
        a = a.offset(depth_step);
        b = b.add(nr);
    }
    for (row, lanes) in accumulators.iter().enumerate() {
        let destination = tile.out.add(row * tile.out_row_stride);
        if full {
            for (vector, lane) in lanes.iter().enumerate() {
                lane.store(destination.add(vector * width));
            }
        } else {
            for (vector, lane) in lanes.iter().enumerate() {
                lane.store(spill.as_mut_ptr().add(vector * width));
            }
            std::ptr::copy_nonoverlapping(spill.as_ptr(), destination, tile.columns);
        }
    }
}

/// Packs `kc × columns` of the right operand into slivers of `nr` columns, each `kc` rows of `nr` contiguous floats,
/// zero-padded past `columns`.
#[inline(always)]
unsafe fn pack_b<L: Lanes, const NV: usize>(
    packed: *mut f32,
    b: *const f32,
    (row_stride, column_stride): (isize, isize),
    kc: usize,
    columns: usize,
    nr: usize,
) {
    for (sliver, first) in (0..columns).step_by(nr).enumerate() {
        let valid = nr.min(columns - first);
        let destination = packed.add(sliver * kc * nr);
        let source = b.offset(first as isize * column_stride);
        if column_stride == 1 && valid == nr {
            // Whole rows of the sliver, moved as vectors.
            for depth in 0..kc {
                let (from, to) = (source.offset(depth as isize * row_stride), destination.add(depth * nr));
                for vector in 0..NV {
                    L::load(from.add(vector * L::WIDTH)).store(to.add(vector * L::WIDTH));
                }
            }
        } else if column_stride == 1 {
            for depth in 0..kc {
                let row = destination.add(depth * nr);
                std::ptr::copy_nonoverlapping(source.offset(depth as isize * row_stride), row, valid);
                std::slice::from_raw_parts_mut(row.add(valid), nr - valid).fill(0.0);
            }
        } else if row_stride == 1 && valid == nr {
            // Stored transposed (each column contiguous in `k`): blocks of `WIDTH` columns by `WIDTH` steps of `k`,
            // transposed in registers, then the steps left over one by one.
            let whole = kc - kc % L::WIDTH;
            for depth in (0..whole).step_by(L::WIDTH) {
                for vector in 0..NV {
                    let from = source.offset((vector * L::WIDTH) as isize * column_stride + depth as isize);
                    L::transpose(from, column_stride, destination.add(depth * nr + vector * L::WIDTH), nr);
                }
            }
            for depth in whole..kc {
                for column in 0..nr {
                    *destination.add(depth * nr + column) =
                        *source.offset(column as isize * column_stride + depth as isize);
                }
            }
        } else {
            for column in 0..nr {
                if column < valid {
                    let from = source.offset(column as isize * column_stride);
                    for depth in 0..kc {
                        *destination.add(depth * nr + column) = *from.offset(depth as isize * row_stride);
                    }
                } else {
                    for depth in 0..kc {
                        *destination.add(depth * nr + column) = 0.0;
                    }
                }
            }
        }
    }
}

/// Packs `rows × kc` of the left operand into tiles of `mr` rows, each `kc` columns of `mr` contiguous floats,
/// zero-padded past `rows`.
#[inline(always)]
unsafe fn pack_a_block<const MR: usize>(
    packed: *mut f32,
    a: *const f32,
    (row_stride, column_stride): (isize, isize),
    rows: usize,
    kc: usize,
) {
    let mr = MR;
    for (tile, first) in (0..rows).step_by(mr).enumerate() {
        let valid = mr.min(rows - first);
        let destination = packed.add(tile * kc * mr);
        let source = a.offset(first as isize * row_stride);
        if row_stride == 1 && column_stride != 1 && valid == MR {
            // Stored transposed: a tile's rows are contiguous for each `k`, a constant-length copy.
            for depth in 0..kc {
                let (from, to) = (source.offset(depth as isize * column_stride), destination.add(depth * MR));
                for row in 0..MR {
                    *to.add(row) = *from.add(row);
                }
            }
        } else if row_stride == 1 && column_stride != 1 {
            for depth in 0..kc {
                let column = destination.add(depth * mr);
                std::ptr::copy_nonoverlapping(source.offset(depth as isize * column_stride), column, valid);
                std::slice::from_raw_parts_mut(column.add(valid), mr - valid).fill(0.0);
            }
        } else if valid == MR {
            // A whole tile, a step of `k` at a time: `MR` reads, one from each row, and `MR` contiguous writes.
            for depth in 0..kc {
                let (from, to) = (source.offset(depth as isize * column_stride), destination.add(depth * MR));
                for row in 0..MR {
                    *to.add(row) = *from.offset(row as isize * row_stride);
                }
            }
        } else {
            for row in 0..mr {
                if row < valid {
                    let from = source.offset(row as isize * row_stride);
                    for depth in 0..kc {
                        *destination.add(depth * mr + row) = *from.offset(depth as isize * column_stride);
                    }
                } else {
                    for depth in 0..kc {
                        *destination.add(depth * mr + row) = 0.0;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The defining chain of fused multiply-adds, element by element.
    pub(crate) fn chain(
        a: &[f32],
        a_strides: (usize, usize),
        b: &[f32],
        b_strides: (usize, usize),
        (m, k, n): (usize, usize, usize),
    ) -> Vec<f32> {
        let mut out = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut sum = 0.0f32;
                for p in 0..k {
                    sum = a[i * a_strides.0 + p * a_strides.1].mul_add(b[p * b_strides.0 + j * b_strides.1], sum);
                }
                out[i * n + j] = sum;
            }
        }
        out
    }

    /// The v4 path's tiles (12 × 32, sixteen lanes) emulated, so that its blocking, packing and ragged edges are
    /// tested on any CPU: transposed operands, broadcast (zero-stride) rows and columns, offsets, `k` across the
    /// blocks of 256 and `n` across the blocks of 4096 columns.
    #[test]
    fn the_v4_blocking_emulated_gives_the_chain_bits() {
        // (m, k, n, a transposed, b transposed, a's row stride 0, b's column stride 0, offset)
        let cases = [
            (1, 1, 1, false, false, false, false, 0),
            (13, 257, 33, false, false, false, false, 1),
            (25, 600, 70, true, false, false, false, 0),
            (12, 3, 32, false, true, false, false, 2),
            (150, 20, 5, true, true, false, false, 0),
            (14, 300, 40, false, false, true, false, 0),
            (30, 40, 50, false, false, false, true, 3),
            (3, 17, 4100, false, false, false, false, 0),
            (5, 260, 4130, true, true, false, false, 1),
        ];
        for (m, k, n, a_transposed, b_transposed, a_broadcast, b_broadcast, offset) in cases {
            let a: Vec<f32> = (0..offset + m * k).map(|i| ((i * 7919 % 1009) as f32 - 504.0) / 97.0).collect();
            let b: Vec<f32> = (0..offset + k * n).map(|i| ((i * 104_729 % 997) as f32 - 498.0) / 89.0).collect();
            let mut a_strides = if a_transposed { (1, m) } else { (k, 1) };
            let mut b_strides = if b_transposed { (1, k) } else { (n, 1) };
            if a_broadcast {
                a_strides.0 = 0;
            }
            if b_broadcast {
                b_strides.1 = 0;
            }
            let mut out = vec![f32::NAN; m * n];
            let block = Block {
                out: out.as_mut_ptr(),
                out_row_stride: n,
                a: a[offset..].as_ptr(),
                a_strides: (a_strides.0 as isize, a_strides.1 as isize),
                b: b[offset..].as_ptr(),
                b_strides: (b_strides.0 as isize, b_strides.1 as isize),
                m,
                k,
                n,
            };
            // SAFETY: the strides stay inside `a` and `b`; `out` holds `m × n`.
            unsafe { blocked::<Emulated16, 12, 2>(block, &mut Packed::default()) };
            let expected = chain(&a[offset..], a_strides, &b[offset..], b_strides, (m, k, n));
            assert!(out.iter().zip(&expected).all(|(x, y)| x.to_bits() == y.to_bits()), "{m}x{k}x{n}");
        }
    }
}
