//! The matrix products of the big MLP's train step (benches/specs/big_mlp.galen, batch 128) through galen's GEMM
//! (`backend::gemm::matmul`), on every CPU path this machine has (or the one `GALEN_CPU` names) and on 1 and 2
//! threads: milliseconds per product, GFLOP/s, and the transposed reads the train step makes (`xᵀ · dz`, `dz · wᵀ`)
//! beside the plain ones.
//!
//! First it measures the machine's f32 fused multiply-add peak on 1 and 2 threads (independent FMA chains in
//! registers, with the widest vectors the CPU has), so that each product's share of the peak is printed beside it.
//!
//! `cargo bench --bench gemm` (set `GEMM_REPEATS` for more repetitions). Figures only; nothing is asserted.

use std::time::Instant;

use galen::backend::cpu::{self, CpuPath};
use galen::backend::gemm::matmul;
use galen::backend::plan::Layout;

/// `[m, k] × [k, n]`, with whether each operand is read transposed, as the train step reads them.
const PRODUCTS: &[(&str, usize, usize, usize, bool, bool)] = &[
    ("x · w1 (forward)", 128, 1000, 512, false, false),
    ("xᵀ · dz1 (dw1)", 1000, 128, 512, true, false),
    ("h1 · w2 (forward)", 128, 512, 512, false, false),
    ("h1ᵀ · dz2 (dw2)", 512, 128, 512, true, false),
    ("dz2 · w2ᵀ (dh1)", 128, 512, 512, false, true),
    ("h2 · w3 (forward)", 128, 512, 10, false, false),
];

/// The layout of a `[rows, cols]` operand stored row-major, or stored as `[cols, rows]` and read transposed.
fn layout(rows: usize, cols: usize, transposed: bool) -> Layout {
    if transposed {
        Layout { offset: 0, shape: vec![rows, cols], strides: vec![1, rows as isize] }
    } else {
        Layout::contiguous(&[rows, cols])
    }
}

/// GFLOP/s of independent chains of fused multiply-adds in registers on `threads` threads: the f32 FMA peak the
/// CPU reaches with its widest vectors (AVX-512 where present, else AVX2), or `None` without FMA.
fn fma_peak(threads: usize) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        let (wide, narrow) = (CpuPath::V4.is_supported(), CpuPath::V3.is_supported());
        if !wide && !narrow {
            return None;
        }
        let iterations = 20_000_000usize;
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a thread pool");
        let started = Instant::now();
        let checksum: f32 = pool.install(|| {
            use rayon::prelude::*;
            (0..threads)
                .into_par_iter()
                // SAFETY: the CPU has the instructions each loop uses (checked above).
                .map(|_| unsafe {
                    if wide {
                        peak::avx512(iterations)
                    } else {
                        peak::avx2(iterations)
                    }
                })
                .sum()
        });
        let seconds = started.elapsed().as_secs_f64();
        let flops_per_iteration = if wide { 24.0 * 16.0 * 2.0 } else { 12.0 * 8.0 * 2.0 };
        assert!(checksum.is_finite(), "the chains stay finite");
        Some(flops_per_iteration * (iterations * threads) as f64 / seconds / 1e9)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = threads;
        None
    }
}

#[cfg(target_arch = "x86_64")]
mod peak {
    //! Independent FMA chains, enough of them to cover the FMA units' latency.

    use std::arch::x86_64::*;

    #[target_feature(enable = "avx,avx2,fma")]
    pub unsafe fn avx2(iterations: usize) -> f32 {
        let mut chains = [_mm256_set1_ps(0.5); 12];
        let (x, y) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        for _ in 0..iterations {
            for chain in chains.iter_mut() {
                *chain = _mm256_fmadd_ps(*chain, x, y);
            }
        }
        let mut total = [0.0f32; 8];
        for chain in chains {
            let mut lanes = [0.0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), chain);
            for (sum, lane) in total.iter_mut().zip(lanes) {
                *sum += lane;
            }
        }
        total.iter().sum()
    }

    #[target_feature(enable = "avx512f,avx,avx2,fma")]
    pub unsafe fn avx512(iterations: usize) -> f32 {
        let mut chains = [_mm512_set1_ps(0.5); 24];
        let (x, y) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        for _ in 0..iterations {
            for chain in chains.iter_mut() {
                *chain = _mm512_fmadd_ps(*chain, x, y);
            }
        }
        chains.iter().map(|&chain| _mm512_reduce_add_ps(chain)).sum()
    }
}

fn main() {
    let repeats: usize = std::env::var("GEMM_REPEATS").ok().and_then(|text| text.parse().ok()).unwrap_or(200);
    let paths: Vec<CpuPath> = match std::env::var(cpu::ENVIRONMENT_VARIABLE) {
        Ok(_) => vec![cpu::selected().unwrap_or_else(|error| panic!("{error}"))],
        // The portable path is for correctness, not speed: timed only when asked for.
        Err(_) => cpu::available().into_iter().filter(|&path| path != CpuPath::Portable).collect(),
    };
    let peaks = [fma_peak(1), fma_peak(2)];
    for (threads, peak) in [1, 2].into_iter().zip(peaks) {
        match peak {
            Some(peak) => println!("f32 FMA peak, {threads} thread(s): {peak:.1} GFLOP/s"),
            None => println!("f32 FMA peak, {threads} thread(s): not measured (no FMA instructions)"),
        }
    }
    println!(
        "{:<22} {:>18} {:>8} {:>8} {:>10} {:>10} {:>8}",
        "product", "[m, k, n]", "path", "threads", "ms", "GFLOP/s", "of peak"
    );
    for &(name, m, k, n, a_transposed, b_transposed) in PRODUCTS {
        for &path in &paths {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919 % 1009) as f32 - 504.0) / 504.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 104_729 % 997) as f32 - 498.0) / 498.0).collect();
            let (a_layout, b_layout) = (layout(m, k, a_transposed), layout(k, n, b_transposed));
            let mut out = vec![0.0f32; m * n];
            for (threads, peak) in [1, 2].into_iter().zip(peaks) {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a thread pool");
                let seconds = pool.install(|| {
                    for _ in 0..repeats / 10 + 1 {
                        matmul(path, &a, &a_layout, &b, &b_layout, &mut out, &[m, n]);
                    }
                    let started = Instant::now();
                    for _ in 0..repeats {
                        matmul(path, &a, &a_layout, &b, &b_layout, &mut out, &[m, n]);
                    }
                    started.elapsed().as_secs_f64() / repeats as f64
                });
                let gflops = 2.0 * (m * k * n) as f64 / seconds / 1e9;
                let share = peak.map_or("n/a".to_string(), |peak| format!("{:.0}%", 100.0 * gflops / peak));
                println!(
                    "{name:<22} {:>18} {:>8} {threads:>8} {:>10.3} {gflops:>10.1} {share:>8}",
                    format!("[{m}, {k}, {n}]"),
                    path.name(),
                    seconds * 1e3
                );
            }
        }
    }
}
