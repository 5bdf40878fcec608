//! Every example in `specs/` trains, and its final test metrics (rounded to 4 decimals) are snapshots, so that a
//! change that moves any experiment's result shows in review.

use std::path::Path;

use galen::backend::Backend;
use galen::metrics::rounded;
use galen::run::train::{train, Progress, TrainOptions};
use serde_json::Value;

/// The example specs, in name order.
fn examples() -> Vec<std::path::PathBuf> {
    let mut specs: Vec<_> = std::fs::read_dir("specs")
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "galen"))
        .collect();
    specs.sort();
    assert!(specs.len() >= 8, "{specs:?}");
    specs
}

/// Trains an example on a backend and returns its final test metrics without the curves.
fn test_metrics(spec: &Path, backend: Backend) -> serde_json::Map<String, Value> {
    let name = spec.file_stem().unwrap().to_string_lossy().into_owned();
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("example-{name}-{backend}"));
    let _ = std::fs::remove_dir_all(&out);
    let options = TrainOptions {
        spec: spec.to_path_buf(),
        out: Some(out.clone()),
        force: false,
        threads: 2,
        seed: None,
        progress: Progress::Silent,
        backend,
        command: Vec::new(),
    };
    let outcome = train(&options, None);
    assert!(!outcome.diagnostics.has_errors(), "{name}: {:?}", outcome.diagnostics);
    let fallback = outcome.diagnostics.items.iter().find(|diagnostic| diagnostic.code == "backend::fallback");
    assert!(fallback.is_none(), "{name} on {backend}: {fallback:?}");
    let metrics: Value = serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    let mut test = metrics["final"]["test"].as_object().unwrap_or_else(|| panic!("{name} has a test split")).clone();
    // The curves, for the plots, are long and covered by the metrics they summarise.
    for curve in galen::run::report::CURVES {
        test.shift_remove(*curve);
    }
    test
}

/// The snapshots hold the JIT's metrics (the default backend). Training on the interpreter reaches the same
/// metrics within a stated tolerance: the backends differ by float rounding (polynomial exp/log/tanh, fused
/// multiply-adds, GEMM's summation order), which training amplifies over the epochs but does not bias. Tolerance:
/// 0.03 absolute on every metric in [0, 1] (accuracy, AUROC, PPV, sensitivity, R², Brier...; a handful of test rows
/// may change class) and 10% relative on the error metrics (MSE, RMSE, MAE). The loss, log loss and calibration
/// intercept and slope are not compared: they weigh the confidence of each probability, and a run with loss spikes
/// (the GRU example's validation loss jumps at epoch 3) ends at a different confidence on each backend (GRU test
/// loss 0.13 on the JIT, 0.03 on the interpreter, with accuracy 0.978 and 0.989).
#[test]
fn examples_train_to_their_snapshot_metrics_on_the_jit_as_on_the_interpreter() {
    for spec in examples() {
        let name = spec.file_stem().unwrap().to_string_lossy().into_owned();
        let jit = test_metrics(&spec, Backend::Jit);
        let interpreted = test_metrics(&spec, Backend::Interpreter);
        for (metric, value) in &jit {
            let confidence =
                matches!(metric.as_str(), "loss" | "log_loss" | "calibration_intercept" | "calibration_slope");
            let (Some(a), Some(b), false) = (value.as_f64(), interpreted[metric].as_f64(), confidence) else {
                continue;
            };
            let relative = matches!(metric.as_str(), "mse" | "rmse" | "mae");
            let allowed = if relative { 0.1 * b.abs() } else { 0.03 };
            assert!((a - b).abs() <= allowed, "{name}: {metric} is {a} on the JIT but {b} on the interpreter");
        }
        insta::assert_json_snapshot!(format!("test_metrics@{name}"), rounded(&Value::Object(jit), 4));
    }
}

/// The kernel plans of every example (train step and predict, batch 4) are snapshots, so that a change to fusion or
/// scheduling shows in review.
#[test]
fn kernel_plans_of_every_example_are_stable() {
    for spec in examples() {
        let name = spec.file_stem().unwrap().to_string_lossy().into_owned();
        let outcome = galen::pipeline::check_file(&spec);
        let (Some(lowered), Some(checked)) = (&outcome.lowered, &outcome.checked) else { panic!("{name} checks") };
        let plans = galen::cli::compile_kernels(&lowered.spec, checked, Some(4));
        insta::assert_snapshot!(format!("kernel_plan@{name}"), plans);
    }
}
