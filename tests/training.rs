//! The training runtime end to end: `galen train` writes a complete run directory, reruns and thread counts give
//! the same bytes, `eval` and `predict` reproduce what training reported, early stopping, schedules and k-fold
//! behave, and mistakes are clear errors.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use galen::run::train::{train, Progress, TrainOptions, TrainOutcome};
use serde_json::Value;

fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("training-{name}"));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn options(spec: impl Into<PathBuf>, out: &Path, threads: usize) -> TrainOptions {
    TrainOptions {
        spec: spec.into(),
        out: Some(out.to_path_buf()),
        force: false,
        threads,
        seed: None,
        progress: Progress::Silent,
        backend: galen::backend::Backend::Jit,
        command: vec!["test".into()],
    }
}

fn trained(options: &TrainOptions) -> TrainOutcome {
    let outcome = train(options, None);
    assert!(!outcome.diagnostics.has_errors(), "{:?}", outcome.diagnostics);
    assert!(outcome.report.is_some());
    outcome
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))).unwrap()
}

fn galen(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_galen")).args(arguments).output().expect("galen runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether a command's error output says `phrase`. Errors are wrapped to the report width, and where a line breaks
/// depends on the length of the run directory's path, so spaces, line breaks and the `|` gutter are ignored.
fn says(stderr: &[u8], phrase: &str) -> bool {
    let squeeze = |text: &str| text.chars().filter(|c| !c.is_whitespace() && *c != '|').collect::<String>();
    squeeze(&text(stderr)).contains(&squeeze(phrase))
}

/// One line of a run's `splits.csv`: file, row, split, fold.
type SplitLine = (String, usize, String, Option<usize>);

/// Reads a run's `splits.csv` and checks it against the run (issue 16): its train, val and test rows are as many
/// as `metrics.json` reports for the final model's splits, and its test rows are exactly the rows of
/// `test_predictions.csv`, by the same numbering.
fn splits_agree(out: &Path) -> Vec<SplitLine> {
    let text = fs::read_to_string(out.join("splits.csv")).expect("splits.csv is written");
    assert_eq!(text.lines().next(), Some("file,row,split,fold"));
    let lines: Vec<SplitLine> = text
        .lines()
        .skip(1)
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells.len(), 4, "{line}");
            (cells[0].to_string(), cells[1].parse().unwrap(), cells[2].to_string(), cells[3].parse().ok())
        })
        .collect();
    let metrics = json(&out.join("metrics.json"));
    for split in ["train", "val", "test"] {
        let rows = metrics["final"][split]["rows"].as_u64().unwrap_or(0) as usize;
        assert_eq!(lines.iter().filter(|line| line.2 == split).count(), rows, "{split} rows");
    }
    assert!(lines.iter().all(|line| ["train", "val", "test", "dropped"].contains(&line.2.as_str())));
    let predictions = fs::read_to_string(out.join("test_predictions.csv")).unwrap();
    let predicted: Vec<usize> =
        predictions.lines().skip(1).map(|line| line.split(',').next().unwrap().parse().unwrap()).collect();
    let tested: Vec<usize> = lines.iter().filter(|line| line.2 == "test").map(|line| line.1).collect();
    assert_eq!(tested, predicted, "the test rows of splits.csv are those of test_predictions.csv");
    lines
}

/// The peers' settings (80/20 stratified, 64-64-2, adam 0.001, batch 32, 50 epochs): Keras reaches 0.965 accuracy
/// and 0.994 AUROC, PyTorch 0.974 and 0.996; the issue asks for at least 0.96 and 0.99.
#[test]
fn breast_cancer_writes_a_complete_run_directory_and_reaches_the_peers() {
    let out = temp_dir("peers");
    trained(&options("specs/breast_cancer_peers.galen", &out, 2));
    for file in [
        "breast_cancer_peers.galen",
        "manifest.json",
        "model.safetensors",
        "transform.json",
        "splits.csv",
        "metrics.json",
        "test_predictions.csv",
        "plots/learning_curves.svg",
        "plots/roc.svg",
        "plots/calibration.svg",
        "plots/confusion_matrix.svg",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    assert_eq!(
        fs::read(out.join("breast_cancer_peers.galen")).unwrap(),
        fs::read("specs/breast_cancer_peers.galen").unwrap()
    );
    let metrics = json(&out.join("metrics.json"));
    let test = &metrics["final"]["test"];
    assert_eq!(test["rows"], 114);
    let splits = splits_agree(&out);
    assert_eq!(splits.len(), 569, "one line per data row");
    assert!(splits.iter().enumerate().all(|(index, line)| line.0 == "data/breast_cancer.csv" && line.1 == index + 1));
    assert!(splits.iter().all(|line| line.2 != "dropped" && line.3.is_none()));
    let accuracy = test["accuracy"].as_f64().unwrap();
    let auroc = test["auroc"].as_f64().unwrap();
    assert!(accuracy >= 0.96 && auroc >= 0.99, "accuracy {accuracy}, AUROC {auroc}");
    let ci = &test["auroc_ci"];
    assert!(ci["low"].as_f64().unwrap() <= auroc && auroc <= ci["high"].as_f64().unwrap(), "{ci}");
    assert_eq!(ci["resamples"], 1000);
    for key in ["sensitivity_ci", "specificity_ci", "confusion_matrix", "calibration_slope", "brier", "npv", "ppv"] {
        assert!(test.get(key).is_some(), "{key} missing from the test metrics");
    }
    assert_eq!(metrics["epochs"].as_array().unwrap().len(), 50);
    assert!(metrics["final"]["train"]["accuracy"].as_f64().unwrap() > 0.98);
    // No times in metrics.json (they live in the manifest), so reruns give the same bytes.
    let metrics_text = fs::read_to_string(out.join("metrics.json")).unwrap();
    assert!(!metrics_text.contains("started") && !metrics_text.contains(":00Z"));

    let manifest = json(&out.join("manifest.json"));
    assert_eq!(manifest["status"], "completed");
    assert_eq!(manifest["seed"], 42);
    assert_eq!(manifest["threads"], 2);
    assert_eq!(manifest["code_path"]["backend"], "jit");
    assert_eq!(manifest["data"][0]["role"], "source");
    assert_eq!(
        manifest["data"][0]["sha256"].as_str().unwrap(),
        galen::run::sha256(&fs::read("specs/data/breast_cancer.csv").unwrap())
    );
    assert!(
        manifest["started"].as_str().unwrap().ends_with('Z') && manifest["finished"].as_str().unwrap().ends_with('Z')
    );

    // The weights read back with the safetensors crate, with the model's description in the metadata.
    let (weights, metadata) =
        galen::run::weights::from_bytes(&fs::read(out.join("model.safetensors")).unwrap()).unwrap();
    assert_eq!(weights["dense_1.kernel"].shape(), [30, 64]);
    assert!(!weights.keys().any(|name| name.starts_with("adam.")), "the optimizer's moments are not the model");
    assert_eq!(metadata["task"], "binary");
    assert_eq!(metadata["classes"], r#"["benign","malignant"]"#);
    assert_eq!(metadata["epoch"], "50");

    for plot in ["learning_curves", "roc", "calibration", "confusion_matrix"] {
        let svg = fs::read_to_string(out.join(format!("plots/{plot}.svg"))).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{plot}");
    }

    // `predict` on the whole file reproduces, bit for bit, the probabilities training reported for its test rows.
    let predicted = galen(&["predict", out.to_str().unwrap(), "--input", "specs/data/breast_cancer.csv"]);
    assert!(predicted.status.success(), "{}", text(&predicted.stderr));
    assert!(says(&predicted.stderr, "569 rows predicted; 0 missing cells filled; 0 unseen categories"));
    let predictions = text(&predicted.stdout);
    let by_row: std::collections::BTreeMap<&str, &str> =
        predictions.lines().skip(1).filter_map(|line| line.split_once(',')).collect();
    let test_predictions = fs::read_to_string(out.join("test_predictions.csv")).unwrap();
    assert_eq!(test_predictions.lines().next(), Some("row,truth,p_malignant,predicted"));
    assert_eq!(predictions.lines().next(), Some("row,p_malignant,predicted,filled,unseen,out_of_range"));
    for line in test_predictions.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let expected = format!("{},{},", cells[2], cells[3]);
        assert!(by_row[cells[0]].starts_with(&expected), "row {}: {} against {expected}", cells[0], by_row[cells[0]]);
    }
    assert_eq!(test_predictions.lines().count(), 115);

    // `eval` on the run's own data reproduces the final test metrics.
    let options = galen::run::eval::EvalOptions::default();
    let (evaluated, _) = galen::run::eval::eval(&out, None, &options, galen::backend::Backend::Jit).unwrap();
    let split = evaluated.splits.last().unwrap();
    assert_eq!(split.name, "test");
    assert_eq!(split.score.scores.to_json(), strip(test, &["loss"]));
}

/// A split's metrics without the keys training adds around them.
fn strip(value: &Value, keys: &[&str]) -> Value {
    let mut map = value.as_object().unwrap().clone();
    for key in keys {
        map.shift_remove(*key);
    }
    Value::Object(map)
}

/// A table large enough to pass every parallel size gate of the data stage (CSV files of 1 MiB and more are read
/// in a piece per thread; schemas of 20,000 rows and more are inferred in parallel).
fn write_large_table(path: &Path) {
    let mut text = String::from("a,b,c,d,e,f,g,h,i,j,group,outcome\n");
    let mut state = 12345u64;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (state >> 33) as f64 / (1u64 << 31) as f64
    };
    for row in 0..24_000 {
        let values: Vec<f64> = (0..10).map(|_| next() * 100.0).collect();
        let group = ["north", "south", "east", "west"][row % 4];
        let outcome = if values[0] + values[1] * 0.5 - values[2] * 0.3 + next() * 40.0 > 70.0 { "yes" } else { "no" };
        let cells: Vec<String> = values.iter().map(|value| format!("{value:.3}")).collect();
        text.push_str(&format!("{},{group},{outcome}\n", cells.join(",")));
    }
    assert!(text.len() > 1 << 20);
    fs::write(path, text).unwrap();
}

#[test]
fn reruns_and_thread_counts_give_the_same_model_and_metrics_bytes() {
    let dir = temp_dir("threads");
    fs::create_dir_all(&dir).unwrap();
    write_large_table(&dir.join("large.csv"));
    let spec = dir.join("large.galen");
    fs::write(
        &spec,
        r#"experiment "large"
seed 9
data {
  source "large.csv"
  target outcome
  positive "yes"
  scale standard
  split train=0.8 val=0.1 test=0.1 stratify
}
model {
  dense 16 relu
  dropout 0.2
  dense 1 sigmoid
}
train {
  optimizer adam lr=0.01
  loss binary_crossentropy
  epochs 2
  batch_size 256
}
metrics accuracy, auc
"#,
    )
    .unwrap();
    // Per run: the thread count, then model.safetensors, metrics.json, test_predictions.csv and splits.csv.
    type Files = (usize, Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);
    let mut files: Vec<Files> = Vec::new();
    for (run, threads) in [1, 2, 3, 2].into_iter().enumerate() {
        let out = dir.join(format!("run-{run}-threads-{threads}"));
        trained(&options(&spec, &out, threads));
        let read = |name: &str| fs::read(out.join(name)).unwrap();
        let (model, metrics) = (read("model.safetensors"), read("metrics.json"));
        files.push((threads, model, metrics, read("test_predictions.csv"), read("splits.csv")));
        assert_eq!(json(&out.join("manifest.json"))["threads"], threads);
    }
    let metrics = json(&dir.join("run-0-threads-1/metrics.json"));
    assert!(
        metrics["final"]["test"]["auroc"].as_f64().unwrap() > 0.8,
        "the model learns: {}",
        metrics["final"]["test"]
    );
    for (threads, model, metrics, predictions, splits) in &files[1..] {
        assert!(*model == files[0].1, "model.safetensors differs with {threads} threads");
        assert!(*metrics == files[0].2, "metrics.json differs with {threads} threads");
        assert!(*predictions == files[0].3, "test_predictions.csv differs with {threads} threads");
        assert!(*splits == files[0].4, "splits.csv differs with {threads} threads");
    }
}

#[test]
fn early_stopping_restores_the_best_epoch_and_the_plateau_schedule_lowers_the_rate() {
    let out = temp_dir("early");
    let outcome = trained(&options("tests/data/train/early_stopping.galen", &out, 1));
    let metrics = json(&out.join("metrics.json"));
    let training = &metrics["training"];
    assert_eq!(training["ending"]["status"], "stopped early");
    let epochs = metrics["epochs"].as_array().unwrap();
    assert!(epochs.len() < 200, "stopped at {}", epochs.len());
    // Patience 4: the best epoch is 4 epochs before the last, and it is the model.
    let best = training["best_epoch"].as_u64().unwrap() as usize;
    assert_eq!(best + 4, epochs.len());
    assert_eq!(training["model_epoch"], best);
    let val_losses: Vec<f64> = epochs.iter().map(|epoch| epoch["val"]["loss"].as_f64().unwrap()).collect();
    let lowest = val_losses.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(val_losses[best - 1], lowest);
    // The restored weights score exactly what the best epoch scored on the validation split.
    assert_eq!(metrics["final"]["val"]["loss"].as_f64().unwrap(), lowest);
    let (_, metadata) = galen::run::weights::from_bytes(&fs::read(out.join("model.safetensors")).unwrap()).unwrap();
    assert_eq!(metadata["epoch"], best.to_string());
    // The plateau schedule (patience 2, factor 0.5) halved the rate at least once.
    let rates: Vec<f64> = epochs.iter().map(|epoch| epoch["learning_rate"].as_f64().unwrap()).collect();
    assert_eq!(rates[0], 0.01);
    assert!(rates.contains(&0.005), "{rates:?}");
    assert!(outcome.report.unwrap().summary().contains("early stopping after epoch"));
}

#[test]
fn k_fold_reports_every_fold_and_refits_on_all_non_test_rows() {
    let out = temp_dir("kfold");
    trained(&options("tests/data/train/kfold_cosine.galen", &out, 2));
    let metrics = json(&out.join("metrics.json"));
    let cv = &metrics["cross_validation"];
    let folds = cv["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 5);
    let rows: u64 = folds.iter().map(|fold| fold["val"]["rows"].as_u64().unwrap()).sum();
    assert_eq!(rows, 455, "the folds cover the 455 non-test rows");
    let accuracies: Vec<f64> = folds.iter().map(|fold| fold["val"]["accuracy"].as_f64().unwrap()).collect();
    let mean = accuracies.iter().sum::<f64>() / 5.0;
    let sd = (accuracies.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / 4.0).sqrt();
    assert!((cv["mean"]["accuracy"].as_f64().unwrap() - mean).abs() < 1e-12);
    assert!((cv["sd"]["accuracy"].as_f64().unwrap() - sd).abs() < 1e-12);
    assert_eq!(metrics["final"]["train"]["rows"], 455);
    assert_eq!(metrics["final"]["test"]["rows"], 114);
    // splits.csv gives each non-test row the fold that holds it out, as many as the fold's validation rows.
    let splits = splits_agree(&out);
    for (index, fold) in folds.iter().enumerate() {
        let held_out = splits.iter().filter(|line| line.3 == Some(index + 1) && line.2 == "train").count();
        assert_eq!(held_out as u64, fold["val"]["rows"].as_u64().unwrap(), "fold {}", index + 1);
    }
    assert!(splits.iter().filter(|line| line.2 == "test").all(|line| line.3.is_none()));
    // The cosine schedule falls from 0.01 towards 0.0001 over the run.
    let rates: Vec<f64> =
        metrics["epochs"].as_array().unwrap().iter().map(|e| e["learning_rate"].as_f64().unwrap()).collect();
    assert_eq!(rates[0], 0.01);
    assert!(rates.windows(2).all(|pair| pair[1] < pair[0]) && rates[5] > 0.0001, "{rates:?}");
}

/// Issue 16: with a test file, splits.csv lists the first file's rows (training, validation, or left out for a
/// missing target) and then the test file's, each under its file's name as the spec writes it, numbered as
/// test_predictions.csv numbers them.
#[test]
fn splits_csv_names_the_rows_of_a_test_file_too() {
    let out = temp_dir("test-file-splits");
    trained(&options("tests/data/pipeline/test_file.yaml", &out, 1));
    let splits = splits_agree(&out);
    let of_file = |file: &str| splits.iter().filter(|line| line.0 == file).collect::<Vec<_>>();
    let (first, holdout) = (of_file("../../fuzz/small.csv"), of_file("holdout.csv"));
    assert_eq!(first.len() + holdout.len(), splits.len());
    assert!(first.iter().all(|line| line.2 != "test") && holdout.iter().all(|line| line.2 == "test"));
    assert_eq!(holdout.iter().map(|line| line.1).collect::<Vec<_>>(), (1..=12).collect::<Vec<_>>());
    let source = fs::read_to_string("tests/fuzz/small.csv").unwrap();
    assert_eq!(first.len(), source.lines().count() - 1, "one line per data row of the first file");
    let kept = first.iter().filter(|line| line.2 != "dropped").count();
    assert_eq!(kept, 43 + 5, "the training and validation rows");
    assert!(first.iter().enumerate().all(|(index, line)| line.1 == index + 1 && line.3.is_none()));
    let rerun = temp_dir("test-file-splits-again");
    trained(&options("tests/data/pipeline/test_file.yaml", &rerun, 2));
    assert_eq!(fs::read(out.join("splits.csv")).unwrap(), fs::read(rerun.join("splits.csv")).unwrap());
}

#[test]
fn a_step_schedule_halves_the_rate_and_a_regression_reports_its_metrics() {
    let out = temp_dir("step");
    trained(&options("tests/data/train/step_schedule.galen", &out, 2));
    let metrics = json(&out.join("metrics.json"));
    let rates: Vec<f64> =
        metrics["epochs"].as_array().unwrap().iter().map(|e| e["learning_rate"].as_f64().unwrap()).collect();
    assert_eq!(rates, [0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125]);
    let test = &metrics["final"]["test"];
    let (mse, rmse) = (test["mse"].as_f64().unwrap(), test["rmse"].as_f64().unwrap());
    assert!((rmse * rmse - mse).abs() < 1e-6 * mse);
    assert!(test["r2"].is_number() && test["mae"].is_number());
    assert!(!out.join("plots/roc.svg").exists() && out.join("plots/learning_curves.svg").exists());
    let predictions = fs::read_to_string(out.join("test_predictions.csv")).unwrap();
    assert_eq!(predictions.lines().next(), Some("row,truth,predicted"));
}

#[test]
fn mistakes_are_clear_errors() {
    let diverging =
        galen(&["train", "tests/data/train/diverging.galen", "--out", temp_dir("diverging").to_str().unwrap()]);
    assert_eq!(diverging.status.code(), Some(1));
    let stderr = text(&diverging.stderr);
    assert!(says(&diverging.stderr, "train::diverged") && says(&diverging.stderr, "at epoch 1, batch "), "{stderr}");
    assert!(says(&diverging.stderr, "try a tenth of it (lr=100)"), "{stderr}");
    assert_eq!(json(&temp_dir_path("diverging").join("manifest.json"))["status"], "failed");

    let large =
        galen(&["train", "tests/data/train/batch_too_large.galen", "--out", temp_dir("large").to_str().unwrap()]);
    assert_eq!(large.status.code(), Some(1));
    assert!(says(&large.stderr, "`batch_size` is 1000 but the training split has only 354 rows"));
    assert!(!temp_dir_path("large").exists(), "no run directory for a run that cannot start");

    let missing = galen(&["train", "specs/no_such_spec.galen"]);
    assert_eq!(missing.status.code(), Some(1));
    let no_run = galen(&["eval", "specs"]);
    assert_eq!(no_run.status.code(), Some(1));
    assert!(says(&no_run.stderr, "is not a galen run directory"));
    let threads = galen(&["train", "specs/breast_cancer.galen", "--threads", "0"]);
    assert_eq!(threads.status.code(), Some(2));
}

fn temp_dir_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("training-{name}"))
}

#[test]
fn the_command_line_refuses_an_existing_out_and_eval_and_predict_check_their_inputs() {
    let dir = temp_dir("cli");
    fs::create_dir_all(&dir).unwrap();
    // A private copy of the data, so that changing it does not disturb other tests.
    fs::copy("specs/data/breast_cancer.csv", dir.join("breast_cancer.csv")).unwrap();
    let spec = fs::read_to_string("tests/data/train/kfold_cosine.galen")
        .unwrap()
        .replace("../../../specs/data/breast_cancer.csv", "breast_cancer.csv")
        .replace("k_fold=5 test=0.2", "train=0.8 test=0.2")
        .replace("epochs 6", "epochs 2");
    fs::write(dir.join("small.galen"), spec).unwrap();
    let spec = dir.join("small.galen");
    let out = dir.join("run");
    // Standard error is not a terminal here: plain progress lines, a line per epoch, and the summary on stdout.
    let first = galen(&["train", spec.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let stdout = text(&first.stdout);
    assert!(stdout.starts_with(&format!("run directory: {}", out.display())), "{stdout}");
    assert!(stdout.contains("Sensitivity (recall)") && stdout.contains("95% CI"), "{stdout}");
    let stderr = text(&first.stderr);
    assert_eq!(stderr.lines().filter(|line| line.starts_with("epoch ")).count(), 2, "{stderr}");
    // --quiet (issue 17): the run directory alone on stdout, nothing on stderr when nothing is wrong.
    let quiet_out = dir.join("quiet");
    let quiet = galen(&["train", spec.to_str().unwrap(), "--out", quiet_out.to_str().unwrap(), "--quiet"]);
    assert!(quiet.status.success(), "{}", text(&quiet.stderr));
    assert_eq!(text(&quiet.stdout), format!("{}\n", quiet_out.display()));
    assert_eq!(text(&quiet.stderr), "");

    let again = galen(&["train", spec.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(says(&again.stderr, "run::exists"));
    let forced = galen(&["train", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "--force", "--seed", "5"]);
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    assert_eq!(json(&out.join("manifest.json"))["seed"], 5);
    // A forced run that fails leaves the earlier run whole.
    let diverged = galen(&["train", "tests/data/train/diverging.galen", "--out", out.to_str().unwrap(), "--force"]);
    assert_eq!(diverged.status.code(), Some(1));
    let kept = json(&out.join("manifest.json"));
    assert_eq!((kept["seed"].as_u64(), kept["status"].as_str()), (Some(5), Some("completed")));
    assert!(out.join("model.safetensors").is_file());
    let leftovers: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".galen-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Evaluation on the recorded data works while it is unchanged, and refuses once it changed.
    let eval = galen(&["eval", out.to_str().unwrap()]);
    assert!(eval.status.success(), "{}", text(&eval.stderr));
    assert!(text(&eval.stdout).starts_with("test (114 rows)"));
    let data = fs::read_to_string(dir.join("breast_cancer.csv")).unwrap();
    let header = data.lines().next().unwrap().to_string();
    let changed: String = data.lines().take(300).map(|line| format!("{line}\n")).collect();
    fs::write(dir.join("breast_cancer.csv"), &changed).unwrap();
    let refused = galen(&["eval", out.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(says(&refused.stderr, "eval::data_changed"), "{}", text(&refused.stderr));
    // `--data` evaluates another labelled file.
    let other = galen(&["eval", out.to_str().unwrap(), "--data", dir.join("breast_cancer.csv").to_str().unwrap()]);
    assert!(other.status.success(), "{}", text(&other.stderr));
    assert!(text(&other.stdout).starts_with("breast_cancer.csv (299 rows)"), "{}", text(&other.stdout));

    // A predict file without a feature column, or with an unknown one, is an error naming the columns.
    let columns: Vec<&str> = header.split(',').collect();
    let without: String = data
        .lines()
        .take(5)
        .map(|line| {
            line.split(',')
                .enumerate()
                .filter(|(i, _)| columns[*i] != "mean_radius")
                .map(|(_, c)| c)
                .collect::<Vec<_>>()
                .join(",")
                + "\n"
        })
        .collect();
    fs::write(dir.join("without.csv"), without).unwrap();
    let failed = galen(&["predict", out.to_str().unwrap(), "--input", dir.join("without.csv").to_str().unwrap()]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(says(&failed.stderr, "mean_radius"), "{}", text(&failed.stderr));
    let extra: String = data
        .lines()
        .take(5)
        .enumerate()
        .map(|(i, line)| format!("{line},{}\n", if i == 0 { "shoe_size" } else { "41" }))
        .collect();
    fs::write(dir.join("extra.csv"), extra).unwrap();
    // A column training did not have is ignored with a warning naming it (issue 16: IDs need not be stripped).
    let extra_run = galen(&["predict", out.to_str().unwrap(), "--input", dir.join("extra.csv").to_str().unwrap()]);
    assert_eq!(extra_run.status.code(), Some(0), "{}", text(&extra_run.stderr));
    assert!(says(&extra_run.stderr, "data::extra_column"), "{}", text(&extra_run.stderr));
    assert!(says(&extra_run.stderr, "shoe_size"), "{}", text(&extra_run.stderr));
    // Predictions go to a file when asked, rows in the input's order.
    let output = dir.join("predictions.csv");
    let predicted = galen(&[
        "predict",
        out.to_str().unwrap(),
        "--input",
        dir.join("breast_cancer.csv").to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
    ]);
    assert!(predicted.status.success(), "{}", text(&predicted.stderr));
    let written = fs::read_to_string(&output).unwrap();
    let rows: Vec<usize> =
        written.lines().skip(1).map(|line| line.split(',').next().unwrap().parse().unwrap()).collect();
    assert_eq!(rows, (1..=299).collect::<Vec<_>>());
}

/// Ctrl-C during training: galen stops after the current batch, keeps the last completed epoch's model, marks the
/// run interrupted and exits with 130.
#[cfg(unix)]
#[test]
fn an_interrupt_keeps_the_last_checkpoint() {
    let out = temp_dir("interrupt");
    let spec = "specs/breast_cancer_peers.galen";
    let child = Command::new(env!("CARGO_BIN_EXE_galen"))
        .args(["train", spec, "--out", out.to_str().unwrap(), "--quiet"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let model = out.join("model.safetensors");
    let started = std::time::Instant::now();
    while !model.exists() && started.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let output = child.wait_with_output().unwrap();
    let manifest = json(&out.join("manifest.json"));
    if output.status.code() == Some(0) {
        // Training ended before the signal arrived: nothing more to check on this machine.
        assert_eq!(manifest["status"], "completed");
        return;
    }
    assert_eq!(output.status.code(), Some(130), "{}", text(&output.stderr));
    assert_eq!(manifest["status"], "interrupted");
    let (weights, metadata) = galen::run::weights::from_bytes(&fs::read(&model).unwrap()).unwrap();
    assert!(weights.contains_key("dense_1.kernel"));
    assert!(metadata["epoch"].parse::<usize>().unwrap() >= 1);
}

#[test]
fn the_command_line_compiles_recurrent_models_and_prints_the_ast() {
    let ir = galen(&["compile", "specs/heart_rhythm_lstm.galen", "--emit", "ir", "--batch", "4"]);
    assert!(ir.status.success());
    let text = text(&ir.stdout);
    for header in ["graph forward {", "graph train_step {", "graph predict {"] {
        assert!(text.contains(header), "{header} missing");
    }
    assert!(text.contains("reverse=true"), "the train step holds the LSTM's backward scan");
    let ast = galen(&["compile", "specs/breast_cancer_peers.yaml", "--emit", "ast"]);
    assert!(text_of(&ast).contains("name: \"breast-cancer-peers\""));
}

fn text_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn k_fold_with_early_stopping_refits_for_the_folds_mean_best_epoch() {
    let dir = temp_dir("kfold-early");
    fs::create_dir_all(&dir).unwrap();
    let data = fs::canonicalize("specs/data/breast_cancer.csv").unwrap();
    let spec = fs::read_to_string("tests/data/train/kfold_cosine.galen")
        .unwrap()
        .replace("../../../specs/data/breast_cancer.csv", data.to_str().unwrap())
        .replace("epochs 6", "epochs 40")
        .replace(
            "schedule cosine min_lr=0.0001",
            "early_stopping monitor=val_loss patience=2\n  schedule plateau patience=1 factor=0.5",
        );
    fs::write(dir.join("spec.galen"), spec).unwrap();
    let out = dir.join("run");
    let outcome = trained(&options(dir.join("spec.galen"), &out, 2));
    let metrics = json(&out.join("metrics.json"));
    let folds = metrics["cross_validation"]["folds"].as_array().unwrap();
    assert!(folds.iter().all(|fold| fold["epochs_run"].as_u64().unwrap() < 40), "every fold stops early");
    let refit = &metrics["cross_validation"]["refit"];
    let epochs = refit["epochs"].as_u64().unwrap() as usize;
    assert_eq!(metrics["epochs"].as_array().unwrap().len(), epochs);
    assert_eq!(metrics["training"]["ending"]["status"], "completed");
    let changes: Vec<&str> = refit["changes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert!(changes[0].contains("mean best epoch") && changes[1].contains("plateau schedule dropped"), "{changes:?}");
    assert!(outcome.report.unwrap().summary().contains("final model: early stopping dropped"));
}

#[test]
fn an_interrupt_before_the_first_epoch_saves_no_model() {
    let out = temp_dir("interrupt-early");
    let interrupt = std::sync::atomic::AtomicBool::new(true);
    let outcome = train(&options("specs/breast_cancer_peers.galen", &out, 1), Some(&interrupt));
    assert!(outcome.interrupted && outcome.report.is_none());
    assert!(outcome.diagnostics.items.iter().any(|d| d.code == "train::interrupted"));
    assert!(!out.join("model.safetensors").exists());
    assert_eq!(json(&out.join("manifest.json"))["status"], "interrupted");
    // `predict` refuses a run without a model, saying what is missing.
    let refused = galen(&["predict", out.to_str().unwrap(), "--input", "specs/data/breast_cancer.csv"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(says(&refused.stderr, "model.safetensors"), "{}", text(&refused.stderr));
}

#[test]
fn a_damaged_run_directory_is_an_error_not_a_panic() {
    let dir = temp_dir("damaged");
    let out = dir.join("run");
    let spec = fs::read_to_string("specs/breast_cancer_peers.galen")
        .unwrap()
        .replace("data/breast_cancer.csv", fs::canonicalize("specs/data/breast_cancer.csv").unwrap().to_str().unwrap())
        .replace("epochs 50", "epochs 1");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("spec.galen"), spec).unwrap();
    trained(&options(dir.join("spec.galen"), &out, 1));
    let model = out.join("model.safetensors");
    let (weights, metadata) = galen::run::weights::from_bytes(&fs::read(&model).unwrap()).unwrap();
    let original: Vec<(String, String)> = metadata.clone().into_iter().collect();
    // The metadata names three classes, which neither the last layer nor the preprocessing has.
    let damaged: Vec<(String, String)> = metadata
        .into_iter()
        .map(|(key, value)| {
            let value = if key == "classes" { r#"["a","b","c"]"#.to_string() } else { value };
            (key, value)
        })
        .filter(|(key, _)| key != "positive")
        .map(|(key, value)| if key == "task" { (key, "multiclass".to_string()) } else { (key, value) })
        .collect();
    fs::write(&model, galen::run::weights::to_bytes(&weights, &damaged)).unwrap();
    for command in [
        vec!["eval", out.to_str().unwrap()],
        vec!["predict", out.to_str().unwrap(), "--input", "specs/data/breast_cancer.csv"],
    ] {
        let failed = galen(&command);
        assert_eq!(failed.status.code(), Some(1), "{command:?}");
        assert!(says(&failed.stderr, "run::model"), "{}", text(&failed.stderr));
    }
    // A truncated model file and a missing preprocessing file are errors too.
    fs::write(&model, b"not safetensors").unwrap();
    assert!(says(&galen(&["eval", out.to_str().unwrap()]).stderr, "the model cannot be read"));
    fs::write(&model, galen::run::weights::to_bytes(&weights, &[])).unwrap();
    assert!(says(&galen(&["eval", out.to_str().unwrap()]).stderr, "description is damaged"));
    fs::write(&model, galen::run::weights::to_bytes(&weights, &original)).unwrap();
    assert!(galen(&["eval", out.to_str().unwrap()]).status.success());
    fs::remove_file(out.join("transform.json")).unwrap();
    assert!(says(&galen(&["eval", out.to_str().unwrap()]).stderr, "saved preprocessing is missing"));
}

/// `--backend interp` keeps the reference interpreter reachable from the command line; `eval` and `predict` take it
/// too, and the manifest says which backend trained.
#[test]
fn the_interpreter_stays_reachable_from_the_command_line() {
    let out = temp_dir("interp");
    let trained = galen(&[
        "train",
        "tests/data/train/step_schedule.galen",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--backend",
        "interp",
    ]);
    assert!(trained.status.success(), "{}", text(&trained.stderr));
    assert_eq!(json(&out.join("manifest.json"))["code_path"]["backend"], "interp");
    let evaluated = galen(&["eval", out.to_str().unwrap(), "--backend", "interp"]);
    assert!(evaluated.status.success(), "{}", text(&evaluated.stderr));
    let wrong = galen(&["eval", out.to_str().unwrap(), "--backend", "gpu"]);
    assert_eq!(wrong.status.code(), Some(2));
}

/// Issue 13: every CPU path this machine has trains the same model, metrics and predictions, byte for byte, and
/// `predict` and `eval` on each path print the same bytes; the manifest records the path; a path the CPU lacks, or
/// a name that is no path, is refused with exit code 1 and says what the CPU can run.
#[test]
fn every_cpu_path_trains_evaluates_and_predicts_the_same_bytes() {
    let dir = temp_dir("cpu-paths");
    fs::create_dir_all(&dir).unwrap();
    let paths = galen::backend::cpu::available();
    for spec in ["specs/breast_cancer_peers.galen", "specs/digits_cnn.galen"] {
        let stem = Path::new(spec).file_stem().unwrap().to_string_lossy().into_owned();
        let mut runs: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
        for path in &paths {
            let out = dir.join(format!("{stem}-{path}"));
            let trained = galen(&["train", spec, "--out", out.to_str().unwrap(), "--quiet", "--cpu", path.name()]);
            assert!(trained.status.success(), "{spec} on {path}: {}", text(&trained.stderr));
            assert_eq!(json(&out.join("manifest.json"))["code_path"]["cpu_path"], path.name());
            let read = |name: &str| fs::read(out.join(name)).unwrap();
            let mut outputs = vec![read("model.safetensors"), read("metrics.json"), read("test_predictions.csv")];
            // Each path's run, scored and predicted again on every path: the same bytes as on the first path.
            let data = json(&out.join("manifest.json"))["data"][0]["path"].as_str().unwrap().to_string();
            let mut first: Option<(Vec<u8>, Vec<u8>)> = None;
            for other in &paths {
                let run = out.to_str().unwrap();
                let predicted = galen(&["predict", run, "--input", &data, "--cpu", other.name()]);
                assert!(predicted.status.success(), "{}", text(&predicted.stderr));
                let evaluated = Command::new(env!("CARGO_BIN_EXE_galen"))
                    .args(["eval", run])
                    .env("GALEN_CPU", other.name())
                    .output()
                    .unwrap();
                assert!(evaluated.status.success(), "{}", text(&evaluated.stderr));
                match &first {
                    None => first = Some((predicted.stdout.clone(), evaluated.stdout.clone())),
                    Some((predictions, scores)) => {
                        assert!(
                            predicted.stdout == *predictions,
                            "{spec}: predict differs on {other} from {}",
                            paths[0]
                        );
                        assert!(evaluated.stdout == *scores, "{spec}: eval differs on {other} from {}", paths[0]);
                    }
                }
                outputs.extend([predicted.stdout, evaluated.stdout]);
            }
            runs.push((path.name().to_string(), outputs));
        }
        for (path, outputs) in &runs[1..] {
            for (index, (a, b)) in runs[0].1.iter().zip(outputs).enumerate() {
                assert!(a == b, "{spec}: output {index} differs between the {} and {path} paths", runs[0].0);
            }
        }
    }
    for missing in galen::backend::cpu::ALL_PATHS.iter().filter(|path| !path.is_supported()) {
        let out = dir.join(format!("refused-{missing}"));
        let refused =
            galen(&["train", "specs/breast_cancer.galen", "--out", out.to_str().unwrap(), "--cpu", missing.name()]);
        assert_eq!(refused.status.code(), Some(1));
        assert!(says(&refused.stderr, &format!("asks for the {missing} code path")), "{}", text(&refused.stderr));
        assert!(!out.exists());
    }
    let unknown = Command::new(env!("CARGO_BIN_EXE_galen"))
        .args(["train", "specs/breast_cancer.galen", "--out", dir.join("unknown").to_str().unwrap()])
        .env("GALEN_CPU", "avx9")
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    assert!(says(&unknown.stderr, "GALEN_CPU names an unknown CPU code path `avx9`"), "{}", text(&unknown.stderr));
}

/// Issue 14: the committed specs too large for memory get exit 1, with the estimated bytes, from both `check` and
/// `train`, and `train` writes nothing, not even over an existing run directory with `--force`. Above half of the
/// limit, a warning; a limit that is no size is an error; a limit the machine cannot give is refused before
/// anything is written.
#[test]
fn specs_too_large_for_memory_are_refused_by_check_and_train_with_the_figures() {
    let limited = |arguments: &[&str], limit: &str| {
        Command::new(env!("CARGO_BIN_EXE_galen"))
            .env("GALEN_MEMORY_LIMIT", limit)
            .args(arguments)
            .output()
            .expect("galen runs")
    };
    let out = temp_dir("memory-refused");
    fs::create_dir_all(&out).expect("a folder");
    fs::write(out.join("keep.txt"), "an earlier run's file").expect("writes");
    let out_text = out.to_str().expect("a UTF-8 path");
    for (spec, code, figure) in [
        ("tests/errors/memory/huge_dense.galen", "shape::too_large", "33.9 ZiB"),
        ("tests/errors/memory/slip_dense.galen", "memory::too_large", "needs about 149.1 GiB"),
        ("tests/errors/memory/huge_conv.galen", "memory::too_large", "needs about 865.8 GiB"),
    ] {
        let checked = limited(&["check", spec], "16G");
        assert_eq!(checked.status.code(), Some(1), "{spec}: {}", text(&checked.stderr));
        assert!(says(&checked.stderr, code) && says(&checked.stderr, figure), "{spec}: {}", text(&checked.stderr));
        let trained = limited(&["train", spec, "--out", out_text, "--force"], "16G");
        assert_eq!(trained.status.code(), Some(1), "{spec}: {}", text(&trained.stderr));
        assert!(says(&trained.stderr, code) && says(&trained.stderr, figure), "{spec}: {}", text(&trained.stderr));
        assert!(!text(&trained.stderr).contains("panicked"));
    }
    // A limit the system cannot give: the estimate (260.8 GiB) passes, the allocator refuses it before the run
    // directory. Only where Linux refuses what it cannot back (`vm.overcommit_memory` 0 or 2, the default 0).
    let overcommit = fs::read_to_string("/proc/sys/vm/overcommit_memory").unwrap_or_default();
    if matches!(overcommit.trim(), "0" | "2") {
        let arguments = ["train", "tests/errors/memory/slip_dense.galen", "--out", out_text, "--force"];
        let refused = limited(&arguments, "60T");
        assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
        assert!(says(&refused.stderr, "memory::allocation_failed"), "{}", text(&refused.stderr));
    }
    assert_eq!(fs::read_to_string(out.join("keep.txt")).expect("kept"), "an earlier run's file");
    assert_eq!(fs::read_dir(&out).expect("the folder").count(), 1, "nothing was written");

    let warned = limited(&["check", "specs/diabetes.galen"], "80K");
    assert_eq!(warned.status.code(), Some(0), "{}", text(&warned.stderr));
    assert!(says(&warned.stderr, "memory::over_half"), "{}", text(&warned.stderr));
    assert!(text(&warned.stdout).contains("memory limit: 80.0 KiB (set by GALEN_MEMORY_LIMIT)"));
    let wrong = limited(&["check", "specs/diabetes.galen"], "lots");
    assert_eq!(wrong.status.code(), Some(1));
    assert!(says(&wrong.stderr, "memory::bad_limit"), "{}", text(&wrong.stderr));
}
