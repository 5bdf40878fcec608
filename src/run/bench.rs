//! `galen bench`: times each stage of a training run (load, transform, compile, every epoch, evaluation) and says
//! how much arithmetic training does per sample, without writing a run directory.
//!
//! The compile time is [`Runner::prepare`]: building, optimizing and compiling the train-step and evaluation graphs
//! of every batch size the run meets, before the first batch. An epoch's time is its training batches only; scoring
//! the validation split after it is timed apart. The steady rate leaves out the first epoch, which pays for whatever
//! a backend does on first use, so it compares with a peer framework's rate after its JIT compilation.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::train::check_sizes;
use crate::data::dataset::prepare_planned;
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::ir::{Graph, Op};
use crate::lowering::Model;
use crate::memory::Limit;
use crate::pipeline::check_file_seeded;
use crate::runtime::train::{Event, Runner};
use crate::spec::ast::Schedule;
use crate::spec::SpecFile;

/// What `galen bench` was asked to do.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// The spec file.
    pub spec: PathBuf,
    /// Epochs to train (default: the spec's).
    pub epochs: Option<usize>,
    /// Worker threads (the run's own rayon pool).
    pub threads: usize,
    /// A seed replacing the spec's.
    pub seed: Option<u64>,
    /// What runs the model.
    pub backend: crate::backend::Backend,
    /// Time every step of the train-step graphs and report where the time went.
    pub profile: bool,
}

/// What a benchmark run produced.
#[derive(Debug, Default)]
pub struct BenchOutcome {
    /// The spec file, for rendering diagnostics.
    pub file: Option<SpecFile>,
    /// Every error and warning.
    pub diagnostics: Diagnostics,
    /// The timings, when the run got through training.
    pub report: Option<BenchReport>,
}

/// The times of one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochTiming {
    /// The epoch, from 1.
    pub epoch: usize,
    /// Seconds spent on the epoch's training batches.
    pub train_seconds: f64,
    /// Seconds spent scoring the validation split after the epoch (0 without one).
    pub validation_seconds: f64,
    /// Training rows per second of `train_seconds`.
    pub samples_per_second: f64,
    /// The epoch's mean training loss.
    pub loss: f64,
}

/// The timings of a benchmark run.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchReport {
    /// The spec file as given.
    pub spec: PathBuf,
    /// The spec's experiment name.
    pub experiment: String,
    /// The backend that ran the graphs.
    pub backend: &'static str,
    /// The CPU code path of the JIT (`portable`, `v3`, `v4`); `None` on the interpreter.
    pub cpu_path: Option<&'static str>,
    /// Worker threads.
    pub threads: usize,
    /// The seed used.
    pub seed: u64,
    /// The batch size.
    pub batch_size: usize,
    /// Rows of the training split.
    pub train_rows: usize,
    /// Rows of the validation split.
    pub val_rows: usize,
    /// Rows of the test split.
    pub test_rows: usize,
    /// Reading, parsing and checking the spec, with reading the data.
    pub load: Duration,
    /// Splitting the rows, fitting the preprocessing on the training rows and applying it.
    pub transform: Duration,
    /// Lowering the model and preparing its graphs: spec to ready kernels.
    pub compile: Duration,
    /// One entry per epoch trained.
    pub epochs: Vec<EpochTiming>,
    /// Training rows per second over epochs 2..N (epoch 1 when there is only one).
    pub steady_samples_per_second: f64,
    /// Evaluating the test split (or the training split when there is no test split) once, with its metrics.
    pub evaluation: Duration,
    /// The split evaluated: `test` or `train`.
    pub evaluated_split: &'static str,
    /// The evaluated split's loss.
    pub evaluation_loss: f64,
    /// The evaluated split's accuracy (classifiers).
    pub evaluation_accuracy: Option<f64>,
    /// Floating-point operations of the train step's matrix products, per training row.
    pub train_flops_per_sample: f64,
    /// The peak resident memory of the process in bytes (VmHWM), where the system says it.
    pub peak_rss_bytes: Option<u64>,
    /// `galen check`'s memory estimate for training (see [`crate::memory`]), to compare with the peak.
    pub memory_estimate: Option<crate::memory::Estimate>,
    /// Settings of the spec left out so that every epoch runs: early stopping, a schedule watching missing rows.
    pub dropped: Vec<String>,
    /// With `--profile`: the train step's steps, the slowest first (empty otherwise, and on the interpreter).
    pub profile: Vec<crate::backend::StepTime>,
}

/// How many of the slowest steps `--profile` prints.
const PROFILE_LINES: usize = 15;

impl BenchReport {
    /// The arithmetic rate of the steady epochs, in GFLOP/s (matrix products only).
    pub fn achieved_gflops(&self) -> f64 {
        self.train_flops_per_sample * self.steady_samples_per_second / 1e9
    }

    /// Which epochs the steady rate is over: `2..5`, or `1`.
    pub fn steady_epochs(&self) -> String {
        match self.epochs.len() {
            0 | 1 => "1".to_string(),
            count => format!("2..{count}"),
        }
    }

    /// The report for people: one labelled line per figure.
    pub fn summary(&self) -> String {
        let mut lines = vec![
            format!("spec            {} (experiment \"{}\")", self.spec.display(), self.experiment),
            match self.cpu_path {
                Some(path) => format!(
                    "backend         {} ({path} CPU path), {} threads, seed {}",
                    self.backend, self.threads, self.seed
                ),
                None => format!("backend         {}, {} threads, seed {}", self.backend, self.threads, self.seed),
            },
            format!(
                "rows            train {}, val {}, test {}; batch {}",
                self.train_rows, self.val_rows, self.test_rows, self.batch_size
            ),
            format!("load            {:.1} ms (read, parse and check the spec, read the data)", millis(self.load)),
            format!("transform       {:.1} ms (split, fit and apply the preprocessing)", millis(self.transform)),
            format!("compile         {:.1} ms (lower, optimize and compile the graphs)", millis(self.compile)),
        ];
        for epoch in &self.epochs {
            let mut line = format!(
                "epoch {:<9} {:.3} s  {:.0} samples/s  loss {:.4}",
                epoch.epoch, epoch.train_seconds, epoch.samples_per_second, epoch.loss
            );
            if self.val_rows > 0 {
                line.push_str(&format!("  (validation {:.3} s)", epoch.validation_seconds));
            }
            lines.push(line);
        }
        lines.push(format!(
            "steady          {:.0} samples/s (epochs {})",
            self.steady_samples_per_second,
            self.steady_epochs()
        ));
        let accuracy = self.evaluation_accuracy.map_or(String::new(), |accuracy| format!(", accuracy {accuracy:.4}"));
        lines.push(format!(
            "evaluation      {:.1} ms ({} split, loss {:.4}{accuracy})",
            millis(self.evaluation),
            self.evaluated_split,
            self.evaluation_loss
        ));
        lines.push(format!(
            "train flops     {:.4} MFLOP per sample (matrix products of the train step), {:.2} GFLOP/s achieved",
            self.train_flops_per_sample / 1e6,
            self.achieved_gflops()
        ));
        let rss = self.peak_rss_bytes.map_or("unknown".to_string(), |bytes| format!("{:.1} MB", megabytes(bytes)));
        lines.push(format!("peak memory     {rss} (VmHWM)"));
        if let Some(estimate) = &self.memory_estimate {
            for line in estimate.lines().lines() {
                lines.push(format!("  {line}"));
            }
        }
        if !self.profile.is_empty() {
            let total: f64 = self.profile.iter().map(|step| step.seconds).sum();
            lines.push(format!(
                "profile         the train step's {} steps by time ({:.3} s in all; the top {})",
                self.profile.len(),
                total,
                PROFILE_LINES.min(self.profile.len())
            ));
            for step in self.profile.iter().take(PROFILE_LINES) {
                lines.push(format!(
                    "  {:5.1}%  {:8.3} ms/call  {:>6} calls  {}",
                    100.0 * step.seconds / total.max(f64::MIN_POSITIVE),
                    1e3 * step.seconds / step.calls.max(1) as f64,
                    step.calls,
                    step.label
                ));
            }
        }
        for dropped in &self.dropped {
            lines.push(format!("note            {dropped}"));
        }
        lines.join("\n") + "\n"
    }

    /// The report as one JSON object (times in milliseconds or seconds, as the keys say).
    pub fn to_json(&self) -> Value {
        let epochs: Vec<Value> = self
            .epochs
            .iter()
            .map(|epoch| {
                json!({
                    "epoch": epoch.epoch,
                    "train_seconds": epoch.train_seconds,
                    "validation_seconds": epoch.validation_seconds,
                    "samples_per_second": epoch.samples_per_second,
                    "loss": epoch.loss,
                })
            })
            .collect();
        json!({
            "framework": "galen",
            "version": env!("CARGO_PKG_VERSION"),
            "spec": self.spec.display().to_string(),
            "experiment": self.experiment,
            "backend": self.backend,
            "cpu_path": self.cpu_path,
            "threads": self.threads,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "train_rows": self.train_rows,
            "val_rows": self.val_rows,
            "test_rows": self.test_rows,
            "load_ms": millis(self.load),
            "transform_ms": millis(self.transform),
            "compile_ms": millis(self.compile),
            "epochs": epochs,
            "steady_epochs": self.steady_epochs(),
            "steady_samples_per_second": self.steady_samples_per_second,
            "evaluation_ms": millis(self.evaluation),
            "evaluated_split": self.evaluated_split,
            "evaluation_loss": self.evaluation_loss,
            "evaluation_accuracy": self.evaluation_accuracy,
            "train_flops_per_sample": self.train_flops_per_sample,
            "achieved_gflops": self.achieved_gflops(),
            "peak_rss_mb": self.peak_rss_bytes.map(megabytes),
            "memory_estimate_mb": self.memory_estimate.as_ref().map(|estimate| megabytes(estimate.total())),
            "dropped": self.dropped,
            "profile": self.profile.iter().map(|step| json!({
                "step": step.label,
                "seconds": step.seconds,
                "calls": step.calls,
            })).collect::<Vec<Value>>(),
        })
    }
}

/// Benchmarks a spec in its own pool of `options.threads` threads.
pub fn bench(options: &BenchOptions) -> BenchOutcome {
    match rayon::ThreadPoolBuilder::new().num_threads(options.threads.max(1)).build() {
        Ok(pool) => pool.install(|| bench_in_pool(options)),
        Err(error) => {
            let mut outcome = BenchOutcome::default();
            outcome.diagnostics.push(Diagnostic::error("run::threads", format!("cannot start the threads: {error}")));
            outcome
        }
    }
}

fn bench_in_pool(options: &BenchOptions) -> BenchOutcome {
    let started = Instant::now();
    let check = check_file_seeded(&options.spec, Limit::from_environment(), options.seed);
    let load = started.elapsed();
    let mut outcome = BenchOutcome { file: check.file.clone(), diagnostics: check.diagnostics, report: None };
    let (Some(file), Some(lowered), Some(checked)) = (&check.file, &check.lowered, &check.checked) else {
        return outcome;
    };
    if outcome.diagnostics.has_errors() {
        return outcome;
    }
    // The spec carries `--seed` when given: the check planned the split with it.
    let mut spec = lowered.spec.clone();
    let diagnostics = &mut outcome.diagnostics;
    let Some(planned) = check.planned else { return outcome };
    let started = Instant::now();
    let Some(prepared) = prepare_planned(file, &spec, checked, check.loaded, planned, diagnostics) else {
        return outcome;
    };
    let transform = started.elapsed();

    // Every epoch runs, so that epochs compare between runs and frameworks: early stopping is left out, and so is
    // a schedule that watches validation rows when there are none (k-fold specs train the final model only).
    let mut dropped = Vec::new();
    if spec.train.early_stopping.take().is_some() {
        dropped.push("early stopping is off: every epoch runs".to_string());
    }
    let watches_validation = |schedule: &Schedule| match schedule {
        Schedule::Plateau { monitor, .. } => monitor.value.starts_with("val_"),
        _ => false,
    };
    if prepared.val.is_empty() && spec.train.schedule.as_ref().is_some_and(|s| watches_validation(&s.value)) {
        spec.train.schedule = None;
        dropped.push("the plateau schedule is off: there are no validation rows to watch".to_string());
    }
    if !prepared.plan.folds.is_empty() {
        dropped.push("cross-validation folds are skipped: only the final model trains".to_string());
    }
    if !check_sizes(&spec, &prepared, &[], diagnostics) {
        return outcome;
    }

    let batch_size = spec.train.batch_size.value;
    let started = Instant::now();
    let model = Model::new(&spec, checked);
    let mut runner = Runner::new(&model, checked, batch_size).with_backend(options.backend);
    runner.prepare(prepared.train.len(), prepared.val.len().max(prepared.test.len()));
    let compile = started.elapsed();

    let epochs = options.epochs.unwrap_or(spec.train.epochs.value).max(1);
    let mut timer = EpochTimer::new(prepared.train.len());
    crate::backend::set_profiling(options.profile);
    let fitted = runner.fit(&spec, &prepared.train, &prepared.val, epochs, spec.seed.value, None, &mut |event| {
        timer.event(&event);
    });
    crate::backend::set_profiling(false);
    let mut profile = runner.train_profile();
    profile.retain(|step| step.calls > 0);
    profile.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    let fit = match fitted {
        Ok(fit) => fit,
        Err(failure) => {
            diagnostics.push(failure.diagnostic(&spec, ""));
            return outcome;
        }
    };

    let (evaluated_split, split) =
        if prepared.test.is_empty() { ("train", &prepared.train) } else { ("test", &prepared.test) };
    let started = Instant::now();
    let score = runner.score(split, &fit.values, None);
    let evaluation = started.elapsed();

    let train_step = crate::compile::optimized(
        &model,
        crate::compile::GraphKind::TrainStep,
        batch_size.min(prepared.train.len()).max(1),
        crate::compile::Settings::from_environment(),
    );
    let batch_rows = batch_size.min(prepared.train.len()).max(1) as f64;
    let epochs = timer.finish();
    outcome.report = Some(BenchReport {
        spec: options.spec.clone(),
        experiment: spec.name.value.clone(),
        backend: options.backend.name(),
        cpu_path: (options.backend == crate::backend::Backend::Jit)
            .then(crate::backend::cpu::selected)
            .and_then(Result::ok)
            .map(crate::backend::cpu::CpuPath::name),
        threads: options.threads.max(1),
        seed: spec.seed.value,
        batch_size,
        train_rows: prepared.train.len(),
        val_rows: prepared.val.len(),
        test_rows: prepared.test.len(),
        load,
        transform,
        compile,
        steady_samples_per_second: steady_rate(&epochs, prepared.train.len()),
        epochs,
        evaluation,
        evaluated_split,
        evaluation_loss: score.loss,
        evaluation_accuracy: score.value("accuracy"),
        train_flops_per_sample: matmul_flops(&train_step) / batch_rows,
        peak_rss_bytes: peak_rss_bytes(),
        memory_estimate: check.memory.clone(),
        dropped,
        profile,
    });
    outcome
}

/// The floating-point operations of a graph's matrix products: `2 * m * n * k` for each `[..., m, k] x [..., k, n]`
/// (times its batch axes), and a scan's body once per step. Elementwise ops, reductions and data movement are left
/// out: for dense and convolutional layers the products are nearly all of the arithmetic.
pub fn matmul_flops(graph: &Graph) -> f64 {
    graph
        .nodes
        .iter()
        .map(|node| match &node.op {
            Op::MatMul => {
                let a = graph.tensor_type(node.inputs[0]);
                let k = a.shape.last().copied().unwrap_or(1);
                let result = node.ty.tensor().map_or(0, |tensor| tensor.elements());
                2.0 * result as f64 * k as f64
            }
            Op::Scan(scan) => scan.steps as f64 * matmul_flops(&scan.body),
            _ => 0.0,
        })
        .sum()
}

/// Rows per second over the epochs after the first (the first alone when there is only one).
fn steady_rate(epochs: &[EpochTiming], rows: usize) -> f64 {
    let steady = if epochs.len() > 1 { &epochs[1..] } else { epochs };
    let seconds: f64 = steady.iter().map(|epoch| epoch.train_seconds).sum();
    if seconds > 0.0 {
        (rows * steady.len()) as f64 / seconds
    } else {
        0.0
    }
}

/// Times epochs from training's events: an epoch's training ends with its last batch, and its validation scoring
/// runs between that and the epoch's end.
struct EpochTimer {
    rows: usize,
    started: Instant,
    batches: usize,
    trained: Option<Instant>,
    epochs: Vec<EpochTiming>,
}

impl EpochTimer {
    fn new(rows: usize) -> EpochTimer {
        EpochTimer { rows, started: Instant::now(), batches: 0, trained: None, epochs: Vec::new() }
    }

    fn event(&mut self, event: &Event) {
        match event {
            Event::EpochStart { batches, .. } => {
                self.batches = *batches;
                self.trained = None;
                self.started = Instant::now();
            }
            Event::Batch { batch, .. } if *batch == self.batches => self.trained = Some(Instant::now()),
            Event::Batch { .. } => {}
            Event::Epoch { record, .. } => {
                let ended = Instant::now();
                let trained = self.trained.unwrap_or(ended);
                let train_seconds = trained.duration_since(self.started).as_secs_f64();
                let samples_per_second = if train_seconds > 0.0 { self.rows as f64 / train_seconds } else { 0.0 };
                self.epochs.push(EpochTiming {
                    epoch: record.epoch,
                    train_seconds,
                    validation_seconds: ended.duration_since(trained).as_secs_f64(),
                    samples_per_second,
                    loss: record.loss,
                });
            }
        }
    }

    fn finish(self) -> Vec<EpochTiming> {
        self.epochs
    }
}

/// The process's peak resident memory (VmHWM of `/proc/self/status`), on systems that have it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kilobytes: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kilobytes * 1024)
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Builder, DType, Role, Scan, TensorType};

    #[test]
    fn matmul_flops_count_every_product_with_its_batch_axes_and_each_scan_step() {
        let mut body = Builder::new("cell");
        let h = body.input("h", Role::State, TensorType::new(DType::F32, [2, 4]));
        let w = body.input("w", Role::Param, TensorType::new(DType::F32, [4, 4]));
        let next = body.matmul(h, w);
        body.output("h", next);
        let body = body.finish();
        assert_eq!(matmul_flops(&body), 2.0 * 2.0 * 4.0 * 4.0);

        let mut builder = Builder::new("flops");
        let a = builder.input("a", Role::Batch, TensorType::new(DType::F32, [3, 4, 2]));
        let b = builder.input("b", Role::Param, TensorType::new(DType::F32, [3, 2, 5]));
        let product = builder.matmul(a, b);
        builder.output("y", product);
        let h0 = builder.input("h0", Role::State, TensorType::new(DType::F32, [2, 4]));
        let w = builder.input("w", Role::Param, TensorType::new(DType::F32, [4, 4]));
        let scan = Scan { steps: 5, carries: 1, sequences: 0, reverse: false, body };
        let result = builder.scan(scan, vec![h0, w]);
        let last = builder.get(result, 0);
        builder.output("h", last);
        let graph = builder.finish();
        assert_eq!(matmul_flops(&graph), 2.0 * 3.0 * 4.0 * 5.0 * 2.0 + 5.0 * 2.0 * 2.0 * 4.0 * 4.0);
    }

    #[test]
    fn the_steady_rate_leaves_out_the_first_epoch() {
        let epoch = |epoch, train_seconds| EpochTiming {
            epoch,
            train_seconds,
            validation_seconds: 0.0,
            samples_per_second: 0.0,
            loss: 0.0,
        };
        assert_eq!(steady_rate(&[epoch(1, 10.0)], 100), 10.0);
        assert_eq!(steady_rate(&[epoch(1, 10.0), epoch(2, 1.0), epoch(3, 3.0)], 100), 50.0);
        assert_eq!(steady_rate(&[], 100), 0.0);
    }
}
