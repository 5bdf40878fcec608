//! Predictions a clinician can trust row by row (issue 16): `predict` and `eval` flag every row whose cell was
//! filled, whose category training never saw, or whose number lies beyond the training range; `--strict` refuses
//! them; identifiers are carried through with `--keep`; `eval --out` writes its results; a run saved before the
//! ranges were recorded still predicts, without range flags and with a warning saying so.
//!
//! One small model of `tests/data/flags/flchain.yaml` is trained once and shared by the tests.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

mod common;

use common::{galen, says, text};

fn dir(name: &str) -> PathBuf {
    common::fresh_dir("predictions", name)
}

/// The shared run (trained once).
fn run() -> &'static Path {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let out = dir("run").join("flchain");
        let trained = galen(&["train", "tests/data/flags/flchain.yaml", "--out", out.to_str().unwrap(), "-q"]);
        assert!(trained.status.success(), "{}", text(&trained.stderr));
        out
    })
}

/// The training ranges saved with the run, by column.
fn ranges() -> Vec<(String, f64, f64)> {
    let transform: Value = serde_json::from_slice(&fs::read(run().join("transform.json")).unwrap()).unwrap();
    transform["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|feature| {
            let range = feature["values"]["range"].as_array()?;
            Some((feature["name"].as_str()?.to_string(), range[0].as_f64()?, range[1].as_f64()?))
        })
        .collect()
}

/// The rows of a CSV as maps from column to cell.
fn records(csv: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|line| header.iter().map(|name| name.to_string()).zip(line.split(',').map(str::to_string)).collect())
        .collect()
}

/// A patient row of the model's columns, with an identifier training never had.
const HEADER: &str = "patient_id,age,sex,kappa,lambda,creatinine,mgus";

#[test]
fn training_ranges_are_saved_and_bound_the_training_rows() {
    let ranges = ranges();
    let names: Vec<&str> = ranges.iter().map(|(name, _, _)| name.as_str()).collect();
    assert_eq!(names, ["age", "kappa", "lambda", "creatinine", "mgus"]);
    let (_, low, high) = &ranges[0];
    // flchain holds people aged 50 and over; the oldest among this sample's training rows is 97.
    assert_eq!((*low, *high), (50.0, 97.0));
}

#[test]
fn predict_flags_unseen_codes_out_of_range_values_and_filled_cells_and_keeps_ids() {
    let dir = dir("flags");
    let input = dir.join("new.csv");
    // Age: the training rows span 50..97, so 45.4 (within 10% of the range, 4.7, below 50) is not flagged and 45.2
    // is.
    let rows = [
        "p1,70,F,1.2,1.5,1.0,0",
        "p2,70,Female,1.2,1.5,1.0,0",
        "p3,-5,M,1.2,1.5,55,0",
        "p4,66,M,1.1,1.4,,0",
        "p5,45.4,M,1.1,1.4,1.0,0",
        "p6,45.2,M,1.1,1.4,1.0,0",
    ];
    fs::write(&input, format!("{HEADER}\n{}\n", rows.join("\n"))).unwrap();
    let run = run().to_str().unwrap();
    let predicted = galen(&["predict", run, "--input", input.to_str().unwrap(), "--keep", "patient_id"]);
    assert_eq!(predicted.status.code(), Some(0), "{}", text(&predicted.stderr));
    let csv = text(&predicted.stdout);
    assert_eq!(csv.lines().next(), Some("row,patient_id,p_1,predicted,filled,unseen,out_of_range"));
    let records = records(&csv);
    let flags: Vec<(&str, &str, &str, &str)> = records
        .iter()
        .map(|r| (r["patient_id"].as_str(), r["filled"].as_str(), r["unseen"].as_str(), r["out_of_range"].as_str()))
        .collect();
    assert_eq!(
        flags,
        [
            ("p1", "", "", ""),
            ("p2", "", "sex", ""),
            ("p3", "", "", "age;creatinine"),
            ("p4", "creatinine", "", ""),
            ("p5", "", "", ""),
            ("p6", "", "", "age"),
        ]
    );
    // Every row still gets its prediction.
    assert!(records.iter().all(|r| r["p_1"].parse::<f64>().is_ok_and(|p| (0.0..=1.0).contains(&p))));
    // The summary names the flagged rows and their columns; the identifier column is kept, so it is no warning.
    let stderr = text(&predicted.stderr);
    assert!(
        says(
            &predicted.stderr,
            "4 of 6 rows flagged: row 2 (unseen sex), row 3 (out of range age, creatinine), row 4 (filled creatinine), \
             row 6 (out of range age)"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("data::extra_column"), "{stderr}");
    // Without --keep, the identifier is ignored with a warning naming it, never an error.
    let plain = galen(&["predict", run, "--input", input.to_str().unwrap()]);
    assert_eq!(plain.status.code(), Some(0), "{}", text(&plain.stderr));
    assert!(says(&plain.stderr, "data::extra_column") && says(&plain.stderr, "`patient_id`"));
    assert_eq!(text(&plain.stdout).lines().next(), Some("row,p_1,predicted,filled,unseen,out_of_range"));
}

#[test]
fn strict_refuses_flagged_rows_and_writes_nothing() {
    let dir = dir("strict");
    let run = run().to_str().unwrap();
    let (input, output) = (dir.join("new.csv"), dir.join("predictions.csv"));
    fs::write(&input, format!("{HEADER}\nq1,70,F,1.2,1.5,1.0,0\nq2,70,Female,1.2,1.5,1.0,0\n")).unwrap();
    let refused =
        galen(&["predict", run, "--input", input.to_str().unwrap(), "-o", output.to_str().unwrap(), "--strict"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(says(&refused.stderr, "data::flagged_rows"), "{}", text(&refused.stderr));
    assert!(says(&refused.stderr, "--strict: 1 of 2 rows flagged: row 2 (unseen sex)"), "{}", text(&refused.stderr));
    assert!(!output.exists(), "--strict wrote predictions");
    // Clean rows pass.
    fs::write(&input, format!("{HEADER}\nq1,70,F,1.2,1.5,1.0,0\n")).unwrap();
    let clean =
        galen(&["predict", run, "--input", input.to_str().unwrap(), "-o", output.to_str().unwrap(), "--strict"]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean.stderr));
    assert!(says(&clean.stderr, "no row flagged"));
    assert!(output.exists());
}

#[test]
fn a_missing_model_column_is_an_error_naming_it_and_keep_must_name_columns() {
    let dir = dir("columns");
    let run = run().to_str().unwrap();
    let input = dir.join("no_age.csv");
    fs::write(&input, "sex,kappa,lambda,creatinine,mgus\nF,1.2,1.5,1.0,0\n").unwrap();
    let failed = galen(&["predict", run, "--input", input.to_str().unwrap()]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(says(&failed.stderr, "data::missing_column") && says(&failed.stderr, "`age`"), "{}", text(&failed.stderr));
    let input = dir.join("full.csv");
    fs::write(&input, format!("{HEADER}\nq1,70,F,1.2,1.5,1.0,0\n")).unwrap();
    let failed = galen(&["predict", run, "--input", input.to_str().unwrap(), "--keep", "patient_id,mrn"]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(says(&failed.stderr, "`--keep` names `mrn`, which the file does not have"), "{}", text(&failed.stderr));
}

/// The test split of the shipped sample with `sex` recoded (`female`/`male`) in all rows but the first.
fn recoded(dir: &Path) -> PathBuf {
    let data = fs::read_to_string("tests/data/flags/flchain.csv").unwrap();
    let mut lines: Vec<String> = data.lines().take(201).map(str::to_string).collect();
    for line in lines.iter_mut().skip(2) {
        *line = line.replacen(",F,", ",female,", 1).replacen(",M,", ",male,", 1);
    }
    let path = dir.join("recoded.csv");
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn eval_warns_on_many_flagged_rows_refuses_them_with_strict_and_writes_its_results() {
    let dir = dir("eval");
    let run = run().to_str().unwrap();
    let data = recoded(&dir);
    let out = dir.join("results");
    let evaluated =
        galen(&["eval", run, "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap(), "--keep", "age"]);
    assert_eq!(evaluated.status.code(), Some(0), "{}", text(&evaluated.stderr));
    assert!(
        says(&evaluated.stderr, "eval::flagged_rows") && says(&evaluated.stderr, "199 of 200 rows (99.5%)"),
        "{}",
        text(&evaluated.stderr)
    );
    let stdout = text(&evaluated.stdout);
    assert!(stdout.contains("199 of 200 rows flagged: row 2 (unseen sex)"), "{stdout}");
    assert!(stdout.contains("Threshold") && stdout.contains("P(1) >= 0.5"), "{stdout}");
    // The results: metrics with the threshold, predictions with the kept column, truth and flags, and plots.
    let metrics: Value = serde_json::from_slice(&fs::read(out.join("metrics.json")).unwrap()).unwrap();
    let scores = &metrics["splits"]["recoded.csv"];
    assert_eq!(scores["rows"], 200);
    assert_eq!(scores["threshold"]["rule"], "probability");
    assert_eq!(scores["threshold"]["value"], 0.5);
    assert_eq!(metrics["flagged_rows"]["recoded.csv"], 199);
    let predictions = fs::read_to_string(out.join("data_predictions.csv")).unwrap();
    assert_eq!(predictions.lines().next(), Some("row,age,truth,p_1,predicted,filled,unseen,out_of_range"));
    let records = records(&predictions);
    assert_eq!(records.len(), 200);
    assert_eq!(records.iter().filter(|r| r["unseen"] == "sex").count(), 199);
    for plot in ["data_roc.svg", "data_calibration.svg", "data_confusion_matrix.svg"] {
        let svg = fs::read_to_string(out.join("plots").join(plot)).unwrap();
        assert!(svg.starts_with("<svg"), "{plot}");
    }
    assert!(fs::read_to_string(out.join("plots/data_confusion_matrix.svg")).unwrap().contains("P(1) &gt;= 0.5"));
    // --strict: an error naming the rows, and nothing written.
    let strict_out = dir.join("strict");
    let refused =
        galen(&["eval", run, "--data", data.to_str().unwrap(), "--out", strict_out.to_str().unwrap(), "--strict"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(says(&refused.stderr, "--strict: 199 of 200 rows flagged: row 2 (unseen sex)"));
    assert!(!strict_out.exists());
    // `--out` never replaces a run's own files.
    let into_run = galen(&["eval", run, "--data", data.to_str().unwrap(), "--out", run]);
    assert_eq!(into_run.status.code(), Some(1));
    assert!(says(&into_run.stderr, "eval::out"), "{}", text(&into_run.stderr));
}

#[test]
fn eval_on_the_runs_own_data_flags_and_writes_each_split() {
    let dir = dir("own");
    let out = dir.join("results");
    let evaluated = galen(&["eval", run().to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(evaluated.status.code(), Some(0), "{}", text(&evaluated.stderr));
    for split in ["validation", "test"] {
        let predictions = fs::read_to_string(out.join(format!("{split}_predictions.csv"))).unwrap();
        let records = records(&predictions);
        assert!(!records.is_empty());
        // creatinine is missing for some people: their rows are flagged as filled, the others are not.
        let filled = records.iter().filter(|r| r["filled"] == "creatinine").count();
        assert!(filled > 0 && filled < records.len(), "{split}: {filled} of {}", records.len());
        assert!(out.join(format!("plots/{split}_roc.svg")).exists());
    }
    // The test predictions equal those training wrote (same rows, same probabilities).
    let trained = fs::read_to_string(run().join("test_predictions.csv")).unwrap();
    let evaluated = fs::read_to_string(out.join("test_predictions.csv")).unwrap();
    let columns = |csv: &str| -> Vec<(String, String)> {
        records(csv).into_iter().map(|r| (r["row"].clone(), r["p_1"].clone())).collect()
    };
    assert_eq!(columns(&trained), columns(&evaluated));
}

#[test]
fn eval_says_when_every_target_is_empty() {
    let dir = dir("no_targets");
    let data = dir.join("unlabelled.csv");
    fs::write(&data, "age,sex,kappa,lambda,creatinine,mgus,death\n70,F,1.2,1.5,1.0,0,\n66,M,1.1,1.4,1.2,0,\n").unwrap();
    let failed = galen(&["eval", run().to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(says(&failed.stderr, "every row's target `death` is empty"), "{}", text(&failed.stderr));
}

/// A run saved by an earlier galen has no training ranges: it still predicts and evaluates, with every other flag,
/// and a warning says why no row is flagged out of range.
#[test]
fn a_run_saved_without_ranges_still_predicts_and_says_why_it_flags_no_range() {
    let dir = dir("old_run");
    let old = dir.join("run");
    fs::create_dir_all(&old).unwrap();
    for entry in fs::read_dir(run()).unwrap() {
        let entry = entry.unwrap();
        if entry.path().is_file() {
            fs::copy(entry.path(), old.join(entry.file_name())).unwrap();
        }
    }
    let mut transform: Value = serde_json::from_slice(&fs::read(old.join("transform.json")).unwrap()).unwrap();
    for feature in transform["features"].as_array_mut().unwrap() {
        feature["values"].as_object_mut().unwrap().remove("range");
    }
    fs::write(old.join("transform.json"), serde_json::to_string_pretty(&transform).unwrap()).unwrap();
    let input = dir.join("new.csv");
    fs::write(&input, format!("{HEADER}\nq1,-5,Female,1.2,1.5,,0\n")).unwrap();
    let predicted = galen(&["predict", old.to_str().unwrap(), "--input", input.to_str().unwrap()]);
    assert_eq!(predicted.status.code(), Some(0), "{}", text(&predicted.stderr));
    assert!(says(&predicted.stderr, "run::no_ranges"), "{}", text(&predicted.stderr));
    let records = records(&text(&predicted.stdout));
    assert_eq!((records[0]["filled"].as_str(), records[0]["unseen"].as_str()), ("creatinine", "sex"));
    assert_eq!(records[0]["out_of_range"], "");
    let data = recoded(&dir);
    let evaluated = galen(&["eval", old.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert_eq!(evaluated.status.code(), Some(0), "{}", text(&evaluated.stderr));
    assert!(says(&evaluated.stderr, "run::no_ranges"));
}

/// `eval` prepares the run's own data with the seed the run used, which `--seed` may have set: the split, and so
/// the training rows' categories and the inputs' width, depend on it (found with the vocabulary from training
/// rows: under the spec's own seed a ward falls outside training, and the preprocessing differed).
#[test]
fn eval_of_a_run_trained_with_another_seed_prepares_with_that_seed() {
    let out = dir("seeded").join("run");
    let spec = "tests/data/pipeline/wards_kfold.galen";
    let trained = galen(&["train", spec, "--seed", "2", "--out", out.to_str().unwrap(), "-q"]);
    assert!(trained.status.success(), "{}", text(&trained.stderr));
    let evaluated = galen(&["eval", out.to_str().unwrap()]);
    assert_eq!(evaluated.status.code(), Some(0), "{}", text(&evaluated.stderr));
    assert!(text(&evaluated.stdout).contains("test ("), "{}", text(&evaluated.stdout));
}

/// With a grouped split, `test_predictions.csv` carries each test row's group, so predictions join to patients.
#[test]
fn test_predictions_carry_the_group_column_of_a_grouped_split() {
    let dir = dir("grouped");
    let data = fs::canonicalize("tests/fuzz/small.csv").unwrap();
    let spec = dir.join("grouped.yaml");
    fs::write(
        &spec,
        format!(
            "name: grouped\nseed: 3\ndata:\n  source: \"{}\"\n  target: outcome\n  exclude: [visit_date]\n  \
             split: {{train: 0.6, val: 0.2, test: 0.2, group: patient_id}}\nmodel:\n  - dense: {{units: 1, \
             activation: sigmoid}}\ntrain:\n  loss: binary_crossentropy\n  epochs: 2\n  batch_size: 8\n",
            data.display()
        ),
    )
    .unwrap();
    let out = dir.join("run");
    let trained = galen(&["train", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"]);
    assert!(trained.status.success(), "{}", text(&trained.stderr));
    let predictions = fs::read_to_string(out.join("test_predictions.csv")).unwrap();
    assert!(predictions.starts_with("row,patient_id,truth,"), "{predictions}");
    let rows = records(&fs::read_to_string(&data).unwrap());
    let records = records(&predictions);
    assert!(!records.is_empty());
    for record in &records {
        let line: usize = record["row"].parse().unwrap();
        assert_eq!(record["patient_id"], rows[line - 1]["patient_id"], "row {line}");
    }
}
