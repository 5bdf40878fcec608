//! Benchmark of the data stage: a generated 1,000,000-row CSV (30 numeric features and a binary outcome) is read,
//! its schema inferred and checked, then split, standardised on the training rows and turned into tensors.
//!
//! Run with `cargo bench --bench data_pipeline` (or `benches/compare_pandas.sh` to run pandas on the same file in
//! the same session). Prints wall time per phase and the process's peak resident memory. Set `GALEN_BENCH_ROWS`
//! for a smaller file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use galen::data::dataset;
use galen::diagnostics::Diagnostics;
use galen::pipeline::check_spec;
use galen::rng::{Purpose, Rng, Streams};
use galen::spec::{Form, SpecFile};

const FEATURES: usize = 30;

fn main() {
    let rows: usize = std::env::var("GALEN_BENCH_ROWS").ok().and_then(|text| text.parse().ok()).unwrap_or(1_000_000);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("bench-data");
    let csv = dir.join(format!("wide_{rows}.csv"));
    if !csv.exists() {
        let started = Instant::now();
        write_csv(&csv, rows).expect("the benchmark file can be written");
        eprintln!("wrote {} in {:.1} s", csv.display(), started.elapsed().as_secs_f64());
    }
    let size = std::fs::metadata(&csv).map(|meta| meta.len()).unwrap_or(0);
    println!("file: {} ({rows} rows x {} columns, {:.1} MB)", csv.display(), FEATURES + 1, size as f64 / 1e6);

    let spec = format!(
        "experiment \"bench\"\nseed 1\n\ndata {{\n  source \"{}\"\n  target y\n  scale standard\n  split train=0.8 test=0.2\n}}\n\nmodel {{\n  dense 2 softmax\n}}\n\ntrain {{\n  loss categorical_crossentropy\n  epochs 1\n}}\n",
        csv.display()
    );
    let file = SpecFile { path: PathBuf::from("bench.galen"), text: spec, form: Form::Dsl };
    let started = Instant::now();
    let outcome = check_spec(file.clone());
    let read = started.elapsed().as_secs_f64();
    let read_peak = peak_mb();
    let (Some(lowered), Some(checked)) = (&outcome.lowered, &outcome.checked) else {
        panic!("the benchmark spec must check: {:?}", outcome.diagnostics);
    };
    let started = Instant::now();
    let mut diagnostics = Diagnostics::new();
    // As `galen train` prepares them: the check's split, the table's numbers transformed in place.
    let planned = outcome.planned.expect("a clean check plans the split");
    let prepared = dataset::prepare_planned(&file, &lowered.spec, checked, outcome.loaded, planned, &mut diagnostics)
        .expect("prepared");
    let transform = started.elapsed().as_secs_f64();
    let values: usize =
        [&prepared.train.inputs, &prepared.test.inputs].iter().map(|x| x.shape().iter().product::<usize>()).sum();
    println!("read + schema + check: {read:.3} s (peak so far {read_peak:.1} MB)");
    println!("split + fit + apply:   {transform:.3} s ({values} values)");
    println!("total:                 {:.3} s", read + transform);
    println!("peak memory:           {:.1} MB ({:.2}x the file)", peak_mb(), peak_mb() * 1e6 / size as f64);
}

/// Seeded random rows: 30 measurements on different scales and a 0/1 outcome.
fn write_csv(path: &Path, rows: usize) -> std::io::Result<()> {
    std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    let mut rng = Streams::new(2026).stream(Purpose::Synth);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let header: Vec<String> = (0..FEATURES).map(|i| format!("x{i}")).chain(["y".to_string()]).collect();
    writeln!(out, "{}", header.join(","))?;
    let mut line = String::new();
    for _ in 0..rows {
        line.clear();
        let mut score = 0.0;
        for i in 0..FEATURES {
            let value: f64 = rng.gen_range(-1.0..1.0) * (1 + i) as f64 * 10.0;
            score += value / ((1 + i) as f64);
            line.push_str(&format!("{value:.4},"));
        }
        line.push_str(if score > 0.0 { "1" } else { "0" });
        writeln!(out, "{line}")?;
    }
    out.flush()
}

/// The process's peak resident set size (Linux `VmHWM`), in MB.
fn peak_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}
