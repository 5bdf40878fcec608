//! The matrix products of the big MLP's train step (benches/specs/big_mlp.galen, batch 128) through galen's GEMM
//! (`backend::gemm::matmul`), on every CPU path this machine has (or the one `GALEN_CPU` names) and on 1 and 2
//! threads: milliseconds per product, GFLOP/s, and the transposed reads the train step makes (`xᵀ · dz`, `dz · wᵀ`)
//! beside the plain ones.
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

fn main() {
    let repeats: usize = std::env::var("GEMM_REPEATS").ok().and_then(|text| text.parse().ok()).unwrap_or(200);
    let paths: Vec<CpuPath> = match std::env::var(cpu::ENVIRONMENT_VARIABLE) {
        Ok(_) => vec![cpu::selected().unwrap_or_else(|error| panic!("{error}"))],
        // The portable path is for correctness, not speed: timed only when asked for.
        Err(_) => cpu::available().into_iter().filter(|&path| path != CpuPath::Portable).collect(),
    };
    println!("{:<22} {:>18} {:>8} {:>8} {:>10} {:>10}", "product", "[m, k, n]", "path", "threads", "ms", "GFLOP/s");
    for &(name, m, k, n, a_transposed, b_transposed) in PRODUCTS {
        for &path in &paths {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919 % 1009) as f32 - 504.0) / 504.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 104_729 % 997) as f32 - 498.0) / 498.0).collect();
            let (a_layout, b_layout) = (layout(m, k, a_transposed), layout(k, n, b_transposed));
            let mut out = vec![0.0f32; m * n];
            for threads in [1, 2] {
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
                println!(
                    "{name:<22} {:>18} {:>8} {threads:>8} {:>10.3} {gflops:>10.1}",
                    format!("[{m}, {k}, {n}]"),
                    path.name(),
                    seconds * 1e3
                );
            }
        }
    }
}
