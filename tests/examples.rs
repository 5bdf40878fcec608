//! Every example in `specs/` trains, and its final test metrics (rounded to 4 decimals) are snapshots, so that a
//! change that moves any experiment's result shows in review.

use std::path::{Path, PathBuf};

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

/// Trains an example on a backend and returns its run directory.
fn trained(spec: &Path, backend: Backend) -> PathBuf {
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
    out
}

/// A run's final test metrics without the curves.
fn test_metrics(run: &Path) -> serde_json::Map<String, Value> {
    let metrics: Value = serde_json::from_slice(&std::fs::read(run.join("metrics.json")).unwrap()).unwrap();
    let mut test =
        metrics["final"]["test"].as_object().unwrap_or_else(|| panic!("{} has a test split", run.display())).clone();
    // The curves, for the plots, are long and covered by the metrics they summarise.
    for curve in galen::run::report::CURVES {
        test.shift_remove(*curve);
    }
    test
}

/// The predicted class of every test row, from a run's `test_predictions.csv` (its last column).
fn predicted_classes(run: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(run.join("test_predictions.csv")).unwrap();
    text.lines().skip(1).map(|line| line.rsplit(',').next().unwrap_or_default().to_string()).collect()
}

/// Metrics that weigh the confidence of each probability rather than the ranking or the classes.
fn is_confidence(metric: &str) -> bool {
    matches!(metric, "loss" | "log_loss" | "calibration_intercept" | "calibration_slope")
}

/// The snapshots hold the JIT's metrics (the default backend; every CPU path gives the same bits, so they hold on
/// every machine). Two checks compare it with the interpreter, the oracle:
///
/// - **The JIT's model, scored by the interpreter**: one forward pass per row, where the backends differ only by the
///   JIT's polynomial exp/log/tanh/erf (a few ulps) and the order of its vector sums. Every metric, the
///   confidence-weighted ones included, agrees within 1e-4 (0.5% relative for the regression errors).
/// - **A model trained on each**: the rounding differences of every step compound over hundreds of steps, so the
///   two trainings reach different, equally good weights (issue 13 measured this on the LSTM example, gradients
///   clipped: over seeds 1-10 its test metrics differ between the JIT and the interpreter by more than 0.015 on 5
///   seeds, and between two JIT runs whose learning rates differ by 1e-6 on 6 seeds: the difference is the
///   training's sensitivity, not the backend). So the trained models are compared as models of equal quality: at
///   most 3% of the test rows (at least 2) change class, AUROC and Brier score within 0.03, and the regression
///   errors (MSE, RMSE, MAE) within 10% relative.
#[test]
fn examples_train_to_their_snapshot_metrics_on_the_jit_as_on_the_interpreter() {
    for spec in examples() {
        let name = spec.file_stem().unwrap().to_string_lossy().into_owned();
        let jit_run = trained(&spec, Backend::Jit);
        let jit = test_metrics(&jit_run);

        let options = galen::run::eval::EvalOptions::default();
        let (outcome, _) = galen::run::eval::eval(&jit_run, None, &options, Backend::Interpreter)
            .unwrap_or_else(|errors| panic!("{name}: the interpreter scores the JIT's model: {errors:?}"));
        let scored = outcome.to_json();
        let scored = scored["test"].as_object().unwrap_or_else(|| panic!("{name}: eval scores the test split"));
        for (metric, value) in &jit {
            let (Some(a), Some(b)) = (value.as_f64(), scored.get(metric).and_then(Value::as_f64)) else { continue };
            let relative = matches!(metric.as_str(), "mse" | "rmse" | "mae" | "loss");
            let allowed = if relative && b.abs() > 1.0 { 5e-3 * b.abs() } else { 1e-4 * b.abs().max(1.0) };
            assert!(
                (a - b).abs() <= allowed,
                "{name}: the JIT's model has {metric} {a}, scored by the interpreter {b}"
            );
        }

        let interpreted_run = trained(&spec, Backend::Interpreter);
        let interpreted = test_metrics(&interpreted_run);
        let (classes, other) = (predicted_classes(&jit_run), predicted_classes(&interpreted_run));
        assert_eq!(classes.len(), other.len());
        let changed = classes.iter().zip(&other).filter(|(a, b)| a != b).count();
        let allowed_rows = (classes.len() * 3 / 100).max(2);
        if jit.contains_key("accuracy") {
            assert!(
                changed <= allowed_rows,
                "{name}: {changed} of {} test rows change class between the JIT's and the interpreter's models",
                classes.len()
            );
        }
        for metric in ["auroc", "brier", "mse", "rmse", "mae"] {
            let (Some(a), Some(b)) =
                (jit.get(metric).and_then(Value::as_f64), interpreted.get(metric).and_then(Value::as_f64))
            else {
                continue;
            };
            let allowed = if matches!(metric, "mse" | "rmse" | "mae") { 0.1 * b.abs() } else { 0.03 };
            assert!((a - b).abs() <= allowed, "{name}: {metric} is {a} on the JIT but {b} on the interpreter");
        }
        assert!(jit.keys().all(|metric| interpreted.contains_key(metric) || is_confidence(metric)));
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
