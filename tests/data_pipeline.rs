//! The data stage end to end on the shipped examples: split sizes, shapes, scaling fitted on training rows only,
//! groups kept whole, k-fold partitions, a test file, class weights, and the saved transform reproducing the
//! training-time tensors at predict time.

use std::collections::BTreeSet;
use std::path::Path;

use galen::data::dataset::{self, Prepared};
use galen::data::transform::{Targets, Transform};
use galen::diagnostics::{render, Diagnostics};
use galen::pipeline::{check_file, CheckOutcome, LoadedData};

fn checked(path: &str) -> CheckOutcome {
    let outcome = check_file(Path::new(path));
    let text = outcome.file.as_ref().map_or("", |file| file.text.as_str());
    let rendered = render(&outcome.diagnostics.items, path, text, true);
    assert!(outcome.checked.is_some(), "{path} does not check:\n{rendered}");
    outcome
}

fn prepare(outcome: &CheckOutcome) -> Prepared {
    let mut diagnostics = Diagnostics::new();
    let (file, lowered, checked) =
        (outcome.file.as_ref().unwrap(), outcome.lowered.as_ref().unwrap(), outcome.checked.as_ref().unwrap());
    let prepared = dataset::prepare(file, &lowered.spec, checked, &outcome.loaded, &mut diagnostics);
    assert!(!diagnostics.has_errors(), "{diagnostics:?}");
    prepared.expect("the data are prepared")
}

#[test]
fn breast_cancer_is_split_scaled_on_train_and_shaped() {
    let outcome = checked("specs/breast_cancer.galen");
    let prepared = prepare(&outcome);
    assert_eq!((prepared.train.len(), prepared.val.len(), prepared.test.len()), (398, 57, 114));
    assert_eq!(prepared.train.inputs.shape(), &[398, 30]);
    assert_eq!(prepared.test.inputs.shape(), &[114, 30]);
    // Standard scaling is fitted on the training rows: there each input has mean 0 and deviation 1; on the
    // test rows it does not (exactly).
    let train = prepared.train.inputs.to_array().into_dimensionality::<ndarray::Ix2>().unwrap();
    for column in train.columns() {
        let mean = column.iter().map(|&v| v as f64).sum::<f64>() / column.len() as f64;
        let deviation =
            (column.iter().map(|&v| (v as f64 - mean) * (v as f64 - mean)).sum::<f64>() / column.len() as f64).sqrt();
        assert!(mean.abs() < 1e-5 && (deviation - 1.0).abs() < 1e-4, "mean {mean}, deviation {deviation}");
    }
    let all: BTreeSet<usize> =
        prepared.train.rows.iter().chain(&prepared.val.rows).chain(&prepared.test.rows).copied().collect();
    assert_eq!(all.len(), 569, "every row is in exactly one split");
    let Targets::Classes(classes) = &prepared.test.targets else { panic!("a classifier has classes") };
    let malignant = classes.iter().filter(|&&class| class == 1).count();
    assert_eq!(malignant, 43, "stratified: the test split keeps the 37% malignant share");
}

#[test]
fn preparing_twice_gives_identical_tensors() {
    let outcome = checked("specs/digits_cnn.yaml");
    let (first, second) = (prepare(&outcome), prepare(&outcome));
    assert_eq!(first.train, second.train);
    assert_eq!(first.test, second.test);
    assert_eq!(first.train.inputs.shape()[1..], [8, 8, 1]);
    assert!(first.train.inputs.iter().all(|&v| (0.0..=1.0).contains(&v)), "minmax puts training pixels in [0, 1]");
}

#[test]
fn the_saved_transform_reproduces_the_test_tensors() {
    for path in ["specs/breast_cancer.yaml", "specs/diabetes.galen", "tests/data/pipeline/test_file.yaml"] {
        let outcome = checked(path);
        let prepared = prepare(&outcome);
        let transform = prepared.transform.as_ref().expect("a table has a transform");
        let reloaded = Transform::from_json(&transform.to_json()).expect("the saved transform reads back");
        assert_eq!(&reloaded, transform, "{path}");
        if let LoadedData::Table(table, _) = &outcome.loaded {
            let rows = if path.contains("test_file") { &prepared.val.rows } else { &prepared.test.rows };
            let applied = reloaded.apply(table, rows).expect("applies");
            let expected = if path.contains("test_file") { &prepared.val.inputs } else { &prepared.test.inputs };
            assert_eq!(
                applied.features.into_dyn(),
                expected.to_array(),
                "{path}: predict-time inputs differ from training's"
            );
        }
    }
}

#[test]
fn a_test_file_supplies_the_test_rows() {
    let prepared = prepare(&checked("tests/data/pipeline/test_file.yaml"));
    assert_eq!(prepared.test.len(), 12, "all rows of holdout.csv");
    assert_eq!((prepared.train.len(), prepared.val.len()), (43, 5));
    assert_eq!(prepared.train.inputs.shape()[1], 9, "one-hot smoker with the constant's own category, and indicators");
}

#[test]
fn groups_never_straddle_splits() {
    let outcome = checked("specs/digit_manifest.galen");
    let prepared = prepare(&outcome);
    let LoadedData::Manifest(manifest, _) = &outcome.loaded else { panic!("a manifest source") };
    let patient = manifest.table.column("patient").expect("the manifest names patients");
    let patients = |rows: &[usize]| -> BTreeSet<String> {
        rows.iter().map(|&row| patient.get(row).unwrap().to_string()).collect()
    };
    let (train, val, test) =
        (patients(&prepared.train.rows), patients(&prepared.val.rows), patients(&prepared.test.rows));
    assert!(train.is_disjoint(&val) && train.is_disjoint(&test) && val.is_disjoint(&test));
    assert_eq!(prepared.train.inputs.shape()[1..], [8, 8, 1]);
    assert_eq!(prepared.train.len() + prepared.val.len() + prepared.test.len(), 200);
}

#[test]
fn an_image_folder_loads_every_image_once() {
    let prepared = prepare(&checked("specs/digit_images.yaml"));
    assert_eq!(prepared.train.len() + prepared.val.len() + prepared.test.len(), 100);
    assert!(prepared.test.inputs.iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert!(prepared.test.inputs.iter().any(|&v| v > 0.5), "the digits have ink");
}

#[test]
fn k_fold_partitions_the_non_test_rows_and_fits_each_fold_on_its_own() {
    let outcome = checked("tests/data/pipeline/kfold.galen");
    let prepared = prepare(&outcome);
    let folds = &prepared.plan.folds;
    assert_eq!(folds.len(), 4);
    let mut seen: Vec<usize> = folds.iter().flat_map(|fold| fold.val.iter().copied()).collect();
    seen.sort();
    assert_eq!(seen, prepared.plan.train, "each non-test row is validated in exactly one fold");
    let (file, lowered, checked) =
        (outcome.file.as_ref().unwrap(), outcome.lowered.as_ref().unwrap(), outcome.checked.as_ref().unwrap());
    let mut transforms = Vec::new();
    for fold in folds {
        let mut diagnostics = Diagnostics::new();
        let fold_data = dataset::prepare_fold(file, &lowered.spec, checked, &outcome.loaded, fold, &mut diagnostics)
            .expect("a fold");
        assert_eq!(fold_data.train.rows, fold.train);
        assert!(fold_data.test.is_empty());
        transforms.push(fold_data.transform.unwrap().to_json());
    }
    transforms.dedup();
    assert_eq!(transforms.len(), 4, "every fold fits its own statistics");
}

#[test]
fn balanced_class_weights_come_from_the_training_rows() {
    let outcome = checked("tests/fuzz/base.galen");
    let prepared = prepare(&outcome);
    let Targets::Classes(classes) = &prepared.train.targets else { panic!() };
    let n = classes.len() as f32;
    for class in [0u32, 1] {
        let count = classes.iter().filter(|&&c| c == class).count() as f32;
        let expected = n / (2.0 * count);
        let weight = prepared.train.weights[classes.iter().position(|&c| c == class).unwrap()];
        assert!((weight - expected).abs() < 1e-6, "class {class}: {weight} vs {expected}");
    }
    assert!(prepared.test.weights.iter().all(|&w| w == 1.0), "weights apply to training only");
}

/// The text of `column`'s cells in `rows` (empty for a missing cell).
fn cells(outcome: &CheckOutcome, column: &str, rows: &[usize]) -> Vec<String> {
    let LoadedData::Table(table, _) = &outcome.loaded else { panic!("a table") };
    let column = table.column(column).expect("the column");
    rows.iter().map(|&row| column.get(row).unwrap_or_default().to_string()).collect()
}

/// Issue 16: a categorical column's vocabulary comes from the training rows. The wards `C` and `E` appear only in
/// test rows and `D` and `G` only in validation rows: the check gives `ward` two inputs fewer than the file holds
/// categories, the fitted transform has no input for them, and the rows holding them count as unseen, as at
/// predict time.
#[test]
fn categories_seen_only_outside_training_have_no_input_and_are_unseen() {
    let outcome = checked("tests/data/pipeline/wards_column.yaml");
    let checked = outcome.checked.as_ref().unwrap();
    let ward = checked.features.iter().find(|feature| feature.name == "ward").expect("`ward` is a predictor");
    assert_eq!((ward.categories.clone(), ward.width), (vec!["A".into(), "B".into(), "F".into()], 3));
    assert_eq!(checked.input_shape, [4], "the check's width: three wards and the age");
    let summary = galen::check::summary(&outcome.lowered.as_ref().unwrap().spec, checked, "wards.csv", None, None);
    assert!(summary.contains("features: 2 columns -> 4 input values"), "{summary}");
    let (file, lowered) = (outcome.file.as_ref().unwrap(), outcome.lowered.as_ref().unwrap());
    let mut diagnostics = Diagnostics::new();
    let prepared = dataset::prepare(file, &lowered.spec, checked, &outcome.loaded, &mut diagnostics).expect("prepares");
    let transform = prepared.transform.as_ref().unwrap();
    assert_eq!(transform.input_names(), ["ward=A", "ward=B", "ward=F", "age"]);
    assert_eq!(prepared.test.inputs.shape(), [5, 4]);
    let LoadedData::Table(table, _) = &outcome.loaded else { panic!("a table") };
    for (rows, unseen) in [(&prepared.test.rows, 3), (&prepared.val.rows, 3), (&prepared.train.rows, 0)] {
        let applied = transform.apply(table, rows).expect("applies");
        assert_eq!(applied.unseen.get("ward").copied().unwrap_or(0), unseen, "{:?}", cells(&outcome, "ward", rows));
    }
    // A test row of an unseen ward is all zeros in `ward`'s inputs, as `predict` encodes it.
    let position = cells(&outcome, "ward", &prepared.test.rows).iter().position(|ward| ward == "C").unwrap();
    let test = prepared.test.inputs.to_array();
    assert_eq!(test.as_slice().unwrap()[position * 4..position * 4 + 3], [0.0, 0.0, 0.0]);
    let warnings: Vec<&str> =
        diagnostics.items.iter().filter(|d| d.code == "data::unseen_category").map(|d| d.message.as_str()).collect();
    assert_eq!(warnings.len(), 2, "validation and test: {diagnostics:?}");
    assert!(warnings.iter().all(|message| message.contains("`ward` (3)")), "{warnings:?}");
}

/// Issue 16, k-fold: the vocabulary is that of every non-test row, so every fold's transform has the final
/// model's inputs; a ward of the test rows alone has none.
#[test]
fn every_fold_shares_the_vocabulary_of_the_non_test_rows() {
    let outcome = checked("tests/data/pipeline/wards_kfold.galen");
    let (file, lowered, checked) =
        (outcome.file.as_ref().unwrap(), outcome.lowered.as_ref().unwrap(), outcome.checked.as_ref().unwrap());
    let prepared = prepare(&outcome);
    let plan = &prepared.plan;
    let mut outside_test: Vec<String> = cells(&outcome, "ward", &plan.train);
    outside_test.sort();
    outside_test.dedup();
    let test_only: BTreeSet<String> =
        cells(&outcome, "ward", &plan.test).into_iter().filter(|ward| !outside_test.contains(ward)).collect();
    assert!(!test_only.is_empty(), "the seed leaves some ward to the test rows alone: {:?}", plan.test);
    let ward = checked.features.iter().find(|feature| feature.name == "ward").unwrap();
    assert_eq!(ward.categories, outside_test);
    let transform = prepared.transform.as_ref().unwrap();
    let width = transform.width();
    assert_eq!(width, outside_test.len() + 1);
    assert_eq!(checked.input_shape, [width]);
    assert!(test_only.iter().all(|ward| !transform.input_names().contains(&format!("ward={ward}"))));
    assert_eq!(plan.folds.len(), 3);
    for fold in &plan.folds {
        let mut diagnostics = Diagnostics::new();
        let fold_data = dataset::prepare_fold(file, &lowered.spec, checked, &outcome.loaded, fold, &mut diagnostics)
            .expect("a fold");
        let fold_transform = fold_data.transform.as_ref().unwrap();
        assert_eq!(fold_transform.input_names(), transform.input_names(), "every fold has the same inputs");
        assert_eq!((fold_data.train.inputs.shape()[1], fold_data.val.inputs.shape()[1]), (width, width));
    }
    let LoadedData::Table(table, _) = &outcome.loaded else { panic!("a table") };
    let unseen = transform.apply(table, &plan.test).expect("applies").unseen.get("ward").copied().unwrap_or(0);
    let test_wards = cells(&outcome, "ward", &plan.test);
    assert_eq!(unseen, test_wards.iter().filter(|ward| test_only.contains(*ward)).count());
}
