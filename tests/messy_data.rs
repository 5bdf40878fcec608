//! Every missing-value strategy and every leakage guard on realistic messy data: seeded variants of the shipped
//! datasets written by `galen synth messy` (missing cells, categorical codes, several rows per patient, a visit
//! date), checked and prepared end to end.

use std::path::{Path, PathBuf};

use galen::data::dataset;
use galen::data::{read_csv, CsvOptions};
use galen::diagnostics::{render, Diagnostics};
use galen::pipeline::{check_file, LoadedData};
use galen::synth::{messy_csv, MessyOptions};

/// A fresh folder for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("galen-messy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

fn write_messy(dir: &Path, dataset: &str, target: &str, seed: u64) -> PathBuf {
    let table = read_csv(&Path::new("specs/data").join(dataset), &CsvOptions::default()).expect("the dataset reads");
    let options =
        MessyOptions { target: Some(target.to_string()), missing: 0.15, codes: true, patients: true, date: true };
    let (bytes, _) = messy_csv(&table, &options, seed).expect("a messy variant");
    let path = dir.join("messy.csv");
    std::fs::write(&path, bytes).expect("written");
    path
}

fn spec(dir: &Path, name: &str, data: &str, output: &str) -> PathBuf {
    let text = format!("experiment \"{name}\"\nseed 3\n\ndata {{\n  source \"messy.csv\"\n{data}}}\n\nmodel {{\n  dense 8 relu\n  {output}\n}}\n\ntrain {{\n  loss {}\n  epochs 1\n}}\n",
        if output.contains("softmax") { "categorical_crossentropy" } else { "mse" });
    let path = dir.join(format!("{name}.galen"));
    std::fs::write(&path, text).expect("written");
    path
}

fn codes(path: &Path) -> (Vec<&'static str>, String) {
    let outcome = check_file(path);
    let text = outcome.file.as_ref().map_or(String::new(), |file| file.text.clone());
    let rendered = render(&outcome.diagnostics.items, &path.display().to_string(), &text, true);
    let errors = outcome.diagnostics.items.iter().filter(|d| d.is_error()).map(|d| d.code).collect();
    (errors, rendered)
}

#[test]
fn every_strategy_fills_every_gap_without_crossing_patients() {
    let dir = scratch("strategies");
    for (dataset, target, output) in
        [("breast_cancer.csv", "diagnosis", "dense 2 softmax"), ("diabetes_progression.csv", "progression", "dense 1")]
    {
        write_messy(&dir, dataset, target, 11);
        let numeric = ["mean", "median", "mode", "zero", "{constant=-1}", "ffill", "bfill", "interpolate", "drop"];
        for (index, strategy) in numeric.iter().enumerate() {
            let categorical = ["mode", "ffill", "bfill", "{constant=\"unknown\"}", "drop"][index % 5];
            let stratify = if output.contains("softmax") { " stratify" } else { "" };
            // The codes turn `sex` into two letters; declared categorical, a constant gets a column of its own.
            let types = if dataset.starts_with("diabetes") { "  types sex=categorical\n" } else { "" };
            let data = format!(
                "  target {target}\n{types}  exclude visit_date\n  missing numeric={strategy} categorical={categorical} indicator\n  split train=0.6 val=0.2 test=0.2 group=patient_id{stratify}\n"
            );
            let path = spec(&dir, &format!("s{index}"), &data, output);
            let outcome = check_file(&path);
            let (errors, rendered) = codes(&path);
            assert!(errors.is_empty(), "{dataset} with {strategy}/{categorical}:\n{rendered}");
            let (file, lowered, checked) =
                (outcome.file.as_ref().unwrap(), outcome.lowered.as_ref().unwrap(), outcome.checked.as_ref().unwrap());
            let mut diagnostics = Diagnostics::new();
            let prepared = dataset::prepare(file, &lowered.spec, checked, &outcome.loaded, &mut diagnostics)
                .unwrap_or_else(|| panic!("{dataset} with {strategy}: {diagnostics:?}"));
            for split in [&prepared.train, &prepared.val, &prepared.test] {
                assert!(split.inputs.iter().all(|v| v.is_finite()), "{dataset} with {strategy}: a gap was left");
            }
            let LoadedData::Table(table, _) = &outcome.loaded else { panic!() };
            let patient = table.column("patient_id").unwrap();
            let patients = |rows: &[usize]| -> std::collections::BTreeSet<String> {
                rows.iter().map(|&row| patient.get(row).unwrap().to_string()).collect()
            };
            let (train, test) = (patients(&prepared.train.rows), patients(&prepared.test.rows));
            assert!(train.is_disjoint(&test), "{dataset}: a patient is in train and test");
            if *strategy == "drop" {
                assert!(prepared.dropped_by_strategy > 0, "drop leaves rows out");
            }
        }
    }
}

#[test]
fn the_leakage_guards_fire_on_dates_and_identifiers() {
    let dir = scratch("guards");
    write_messy(&dir, "breast_cancer.csv", "diagnosis", 5);
    // The visit date is refused as a predictor until it is excluded.
    let path =
        spec(&dir, "date", "  target diagnosis\n  split train=0.8 test=0.2 group=patient_id\n", "dense 2 softmax");
    assert!(codes(&path).0.contains(&"check::date_column"), "{}", codes(&path).1);
    // Without a group split, the patient id is a predictor too: it is refused as an identifier-like column.
    let path = spec(&dir, "patient", "  target diagnosis\n  exclude visit_date\n", "dense 2 softmax");
    let (errors, rendered) = codes(&path);
    assert!(errors.contains(&"check::identifier_column"), "{rendered}");
}
