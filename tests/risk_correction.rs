//! Issue 16: risks corrected for class weights. A rare outcome (16% of rows) trained with `class_weight balanced`
//! gives calibrated risks with the prior correction (the default) and risks that overstate the outcome with
//! `risk_correction none`; `eval` and `predict` apply exactly the correction training reported with, and a run saved
//! before corrections were recorded is scored as it was.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use galen::backend::Backend;
use galen::run::train::{train, Progress, TrainOptions};
use serde_json::Value;

const CORRECTED: &str = "tests/data/risk/balanced.galen";
const UNCORRECTED: &str = "tests/data/risk/balanced_uncorrected.yaml";

fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("risk-{name}"));
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// Trains `spec` into `out` and returns `galen train`'s summary.
fn trained(spec: &str, out: &Path) -> String {
    let options = TrainOptions {
        spec: spec.into(),
        out: Some(out.to_path_buf()),
        force: false,
        threads: 1,
        seed: None,
        progress: Progress::Silent,
        backend: Backend::Jit,
        command: vec!["test".into()],
    };
    let outcome = train(&options, None);
    assert!(!outcome.diagnostics.has_errors(), "{spec}: {:?}", outcome.diagnostics);
    outcome.report.expect("a finished run").summary()
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))).unwrap()
}

fn test_metric(run: &Path, name: &str) -> f64 {
    let metrics = json(&run.join("metrics.json"));
    metrics["final"]["test"][name].as_f64().unwrap_or_else(|| panic!("no test `{name}` in {}", run.display()))
}

/// `P(event)` by data row, from a predictions CSV (`row`, then `truth` for the test predictions, `p_event`, ...).
fn risks_by_row(csv: &str) -> BTreeMap<usize, f32> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = header.iter().position(|name| *name == "p_event").unwrap();
    lines
        .filter(|line| !line.is_empty())
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            (cells[0].parse().unwrap(), cells[column].parse().unwrap())
        })
        .collect()
}

fn evaluated_intercept(run: &Path) -> f64 {
    let options = galen::run::eval::EvalOptions::default();
    let (outcome, _) =
        galen::run::eval::eval(run, None, &options, Backend::Jit).unwrap_or_else(|errors| panic!("{errors:?}"));
    outcome.to_json()["test"]["calibration_intercept"].as_f64().unwrap()
}

#[test]
fn balanced_class_weights_give_calibrated_risks_only_with_the_prior_correction() {
    let dir = temp_dir("balanced");
    let corrected = dir.join("prior");
    let uncorrected = dir.join("none");
    let corrected_summary = trained(CORRECTED, &corrected);
    let uncorrected_summary = trained(UNCORRECTED, &uncorrected);

    // The weighted model sees the outcome at 50% instead of about 16%: uncorrected, its risks are far too high and
    // the calibration intercept (the log-odds to add to them) is clearly negative; corrected, it is near 0.
    let intercept = test_metric(&corrected, "calibration_intercept");
    let uncorrected_intercept = test_metric(&uncorrected, "calibration_intercept");
    eprintln!("test calibration intercept: {intercept:.4} corrected, {uncorrected_intercept:.4} uncorrected");
    assert!(intercept.abs() < 0.25, "corrected intercept {intercept}");
    assert!(uncorrected_intercept < -1.0, "uncorrected intercept {uncorrected_intercept}");
    // The correction is a shift of the log-odds, so the slope and the ranking stay; the Brier score improves.
    assert!((test_metric(&corrected, "auroc") - test_metric(&uncorrected, "auroc")).abs() < 1e-3);
    assert!(test_metric(&corrected, "brier") < test_metric(&uncorrected, "brier"));
    let mean_risk = |run: &Path| {
        let risks = risks_by_row(&fs::read_to_string(run.join("test_predictions.csv")).unwrap());
        risks.values().map(|&p| f64::from(p)).sum::<f64>() / risks.len() as f64
    };
    assert!((mean_risk(&corrected) - 0.16).abs() < 0.03, "mean corrected risk {}", mean_risk(&corrected));
    assert!(mean_risk(&uncorrected) > 0.3, "mean uncorrected risk {}", mean_risk(&uncorrected));

    // The correction changes no weight: both runs trained the same model.
    let weights = |run: &Path| galen::run::weights::from_bytes(&fs::read(run.join("model.safetensors")).unwrap());
    let ((corrected_weights, metadata), (uncorrected_weights, _)) =
        (weights(&corrected).unwrap(), weights(&uncorrected).unwrap());
    assert_eq!(corrected_weights, uncorrected_weights);

    // Stated in the summary, recorded in the manifest, the metrics and the model.
    assert!(corrected_summary.contains("risks corrected for the class weights"), "{corrected_summary}");
    assert!(uncorrected_summary.contains("risks not corrected"), "{uncorrected_summary}");
    for (run, method) in [(&corrected, "prior"), (&uncorrected, "none")] {
        let manifest = json(&run.join("manifest.json"));
        assert_eq!(manifest["risk_correction"]["method"], method);
        let prevalence = manifest["risk_correction"]["training_prevalence"][0].as_f64().unwrap();
        assert!((prevalence - 0.16).abs() < 0.01, "{prevalence}");
        let weighted = manifest["risk_correction"]["weighted_prevalence"][0].as_f64().unwrap();
        assert!((weighted - 0.5).abs() < 1e-6, "{weighted}");
        assert_eq!(json(&run.join("metrics.json"))["risk_correction"]["method"], method);
    }
    assert!(metadata["risk_correction"].contains("\"prior\""), "{metadata:?}");

    // `galen eval` applies exactly the correction training reported with.
    assert_eq!(evaluated_intercept(&corrected), intercept);
    assert_eq!(evaluated_intercept(&uncorrected), uncorrected_intercept);

    // `galen predict` gives the test rows the risks of the test predictions, and classifies by them.
    let data = Path::new("tests/data/risk/rare_outcome.csv");
    let predicted = Command::new(env!("CARGO_BIN_EXE_galen"))
        .args(["predict", corrected.to_str().unwrap(), "--input", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(predicted.status.success(), "{}", String::from_utf8_lossy(&predicted.stderr));
    let predictions = String::from_utf8(predicted.stdout).unwrap();
    let all = risks_by_row(&predictions);
    let test = risks_by_row(&fs::read_to_string(corrected.join("test_predictions.csv")).unwrap());
    for (row, risk) in &test {
        assert_eq!(all[row], *risk, "row {row}");
    }
    let events = predictions.lines().filter(|line| line.ends_with(",event")).count();
    assert!(events < 400, "{events} of 2000 rows predicted `event` by a 0.5 threshold on corrected risks");
}

/// A run written before corrections were recorded has none in its model or manifest; it loads and is scored as the
/// model gives its risks, uncorrected (as the `none` run, which trained the same weights).
#[test]
fn a_run_saved_without_a_recorded_correction_is_scored_uncorrected() {
    let dir = temp_dir("old");
    let old = dir.join("old");
    let uncorrected = dir.join("none");
    trained(CORRECTED, &old);
    trained(UNCORRECTED, &uncorrected);
    let model = old.join("model.safetensors");
    let (weights, metadata) = galen::run::weights::from_bytes(&fs::read(&model).unwrap()).unwrap();
    let metadata: Vec<(String, String)> = metadata.into_iter().filter(|(key, _)| key != "risk_correction").collect();
    fs::write(&model, galen::run::weights::to_bytes(&weights, &metadata)).unwrap();
    let mut manifest = json(&old.join("manifest.json"));
    manifest.as_object_mut().unwrap().remove("risk_correction");
    fs::write(old.join("manifest.json"), serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
    assert_eq!(evaluated_intercept(&old), test_metric(&uncorrected, "calibration_intercept"));
}

#[test]
fn check_states_the_correction() {
    for (spec, expected) in [(CORRECTED, "risk correction: prior"), (UNCORRECTED, "risk correction: none")] {
        let outcome = galen::pipeline::check_file(Path::new(spec));
        assert!(!outcome.diagnostics.has_errors(), "{:?}", outcome.diagnostics);
        let (Some(lowered), Some(checked)) = (&outcome.lowered, &outcome.checked) else { panic!("{spec} checks") };
        let summary = galen::check::summary(&lowered.spec, checked, "", outcome.split.as_ref(), None);
        assert!(summary.contains("class weights: balanced"), "{summary}");
        assert!(summary.contains(expected), "{summary}");
    }
}
