//! The data stage end to end, in DESIGN.md's order: drop unusable rows, split, fit the transform on the training
//! rows only, apply it to every split, and attach targets and per-sample loss weights.
//!
//! Rows are always named by their original index in the file they come from, so that every number galen reports
//! can be traced back to a line of the user's data.

use std::path::PathBuf;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};

use super::images::load_images;
use super::inputs::Inputs;
use super::split::{plan_split, Fold, SplitPlan, SplitRows};
use super::transform::{rows_dropped_by_strategy, Targets, Transform};
use super::{resolve, LoadedData};
use super::{CsvOptions, Schema, Table};
use crate::check::{Checked, Feature, Task, Vocabularies};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::rng::Streams;
use crate::spec::ast::{ClassWeight, ColumnKind, Source, Spec, Split};
use crate::spec::SpecFile;

/// The rows of one split, ready for the model.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitData {
    /// Original row index of each example, in the file it comes from.
    pub rows: Vec<usize>,
    /// The inputs: one example of the input shape per row.
    pub inputs: Inputs,
    /// The target of each row.
    pub targets: Targets,
    /// The loss weight of each row (`data.class_weight` on the training split, 1 elsewhere).
    pub weights: Vec<f32>,
}

impl SplitData {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the split has no example.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// A spec's data, split, fitted and transformed.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// Everything fitted on the training rows (for tables; images need nothing fitted).
    pub transform: Option<Transform>,
    /// Which rows went where.
    pub plan: SplitPlan,
    /// Training examples.
    pub train: SplitData,
    /// Validation examples (empty without a validation split, and for k-fold, where each fold has its own).
    pub val: SplitData,
    /// Test examples, used once at the end.
    pub test: SplitData,
    /// Rows left out because their target was missing.
    pub dropped_target: usize,
    /// Rows left out by a `drop` strategy.
    pub dropped_by_strategy: usize,
    /// The data rows of a `test_file` (0 without one): its test rows and those left out (a missing target, a `drop`
    /// strategy's gap), so that every row of that file can be accounted for.
    pub test_file_rows: usize,
    /// The group (patient) of each test row, when the split has a group column: the test predictions carry it.
    pub test_groups: Option<Vec<String>>,
}

/// The usable rows of the data with what the split needs to know about each.
#[derive(Clone, Debug, PartialEq)]
pub struct UsableRows {
    /// Original row indices, ascending.
    pub rows: Vec<usize>,
    /// Class index per usable row (classification only).
    pub classes: Option<Vec<u32>>,
    /// Group per usable row, when the split has a group column.
    pub groups: Option<Vec<String>>,
    /// Split-column value per usable row, for a `column` split.
    pub assigned: Option<Vec<String>>,
    /// Rows left out because their target was missing.
    pub dropped_target: usize,
    /// Rows left out by a `drop` strategy or a missing group cell.
    pub dropped_by_strategy: usize,
}

/// Finds the usable rows and plans the split, as `galen check` shows it and training uses it: `task` gives the
/// classes to stratify by, `features` the `drop` strategies that leave rows out.
pub fn plan(
    spec: &Spec,
    task: &Task,
    features: &[Feature],
    loaded: &LoadedData,
    diagnostics: &mut Diagnostics,
) -> Option<(UsableRows, SplitPlan)> {
    let usable = usable_rows(spec, task, features, loaded, diagnostics)?;
    let plan = plan_usable(spec, task, &usable, diagnostics)?;
    Some((usable, plan))
}

/// The categories of each categorical predictor among `rows` (the rows the model is fitted on: every non-test
/// row under k-fold), in the schema's order: what the check gives each such predictor, and so its width and the
/// transform's vocabulary. Empty for images.
pub fn vocabularies(features: &[Feature], loaded: &LoadedData, rows: &[usize]) -> Vocabularies {
    let LoadedData::Table(table, schema) = loaded else { return Vocabularies::new() };
    features
        .iter()
        .filter(|feature| feature.kind == ColumnKind::Categorical)
        .filter_map(|feature| {
            let (column, info) = (table.column(&feature.name)?, schema.column(&feature.name)?);
            let categories = info.categories_among(rows.iter().filter_map(|&row| column.get(row)));
            Some((feature.name.clone(), categories))
        })
        .collect()
}

/// The check's split plan, handed on to training so that the rows are planned (and warned about) once.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    /// Which rows go where.
    pub plan: SplitPlan,
    /// Rows left out because their target was missing.
    pub dropped_target: usize,
    /// Rows left out by a `drop` strategy or a missing group cell.
    pub dropped_by_strategy: usize,
}

impl Planned {
    /// The plan of `usable` rows.
    pub fn of(usable: &UsableRows, plan: SplitPlan) -> Planned {
        Planned { plan, dropped_target: usable.dropped_target, dropped_by_strategy: usable.dropped_by_strategy }
    }
}

fn plan_usable(spec: &Spec, task: &Task, usable: &UsableRows, diagnostics: &mut Diagnostics) -> Option<SplitPlan> {
    let split_rows = SplitRows {
        rows: &usable.rows,
        classes: usable.classes.as_deref(),
        class_names: task.classes(),
        groups: usable.groups.as_deref(),
        assigned: usable.assigned.as_deref(),
    };
    plan_split(&spec.data.split, &split_rows, &Streams::new(spec.seed.value), diagnostics)
}

/// Prepares the data of a checked spec: plans the split, fits on the training rows and applies everywhere. The
/// loaded data are left as they were read (see [`prepare_planned`] for training, which plans nothing again).
pub fn prepare(
    file: &SpecFile,
    spec: &Spec,
    checked: &Checked,
    loaded: &LoadedData,
    diagnostics: &mut Diagnostics,
) -> Option<Prepared> {
    let (usable, plan) = plan(spec, &checked.task, &checked.features, loaded, diagnostics)?;
    let planned = Planned::of(&usable, plan);
    // The usable rows are not needed beyond their counts: their memory is given back before the inputs are made.
    drop(usable);
    assemble(file, spec, checked, loaded, planned, diagnostics)
}

/// Prepares the data of a checked spec for training on the split the check planned: fits on its training rows
/// and applies everywhere. A table's numbers become the inputs in place, shared by its splits: the data are held
/// once, as the f32 matrix the model reads.
pub fn prepare_planned(
    file: &SpecFile,
    spec: &Spec,
    checked: &Checked,
    loaded: LoadedData,
    planned: Planned,
    diagnostics: &mut Diagnostics,
) -> Option<Prepared> {
    let LoadedData::Table(mut table, schema) = loaded else {
        return assemble(file, spec, checked, &loaded, planned, diagnostics);
    };
    let Planned { plan, dropped_target, dropped_by_strategy } = planned;
    let errors_before = diagnostics.error_count();
    let transform = Transform::fit(spec, checked, &schema, &table, &plan.train, diagnostics);
    if diagnostics.error_count() > errors_before {
        return None;
    }
    let test_file = matches!(spec.data.split.value, Split::TestFile { .. });
    let mut sets: Vec<&[usize]> = vec![&plan.train, &plan.val];
    if !test_file {
        sets.push(&plan.test);
    }
    let applied = transform.apply_in_place(&mut table, &sets).map_err(|found| diagnostics.extend(found)).ok()?;
    let values = Arc::new(applied.values);
    let mut splits = Vec::with_capacity(sets.len());
    for (index, set) in applied.sets.into_iter().enumerate() {
        let set = set.map_err(|found| diagnostics.extend(found)).ok()?;
        diagnostics.extend(set.unseen_warning(table.path()));
        let targets = transform.targets(&table, &set.rows).map_err(|found| diagnostics.extend(found)).ok()?;
        let weights = match (index == 0, &targets) {
            (true, Targets::Classes(classes)) => weights_for(spec, checked, classes),
            _ => vec![1.0; set.rows.len()],
        };
        let shape = checked.input_shape.clone();
        let Some(inputs) = Inputs::new(Arc::clone(&values), applied.width, set.rows.clone(), shape) else {
            diagnostics.push(shape_error(&checked.input_shape, applied.width));
            return None;
        };
        splits.push(SplitData { rows: set.rows, inputs, targets, weights });
    }
    let groups = splits.get(2).and_then(|test| group_cells(spec, &table, &test.rows));
    // The table's text (the target, the group) is given back before a test file is read.
    drop(table);
    let mut splits = splits.into_iter();
    let (Some(train), Some(val)) = (splits.next(), splits.next()) else { return None };
    let (test, test_file_rows, test_groups) = match (&spec.data.split.value, splits.next()) {
        (Split::TestFile { path, .. }, _) => {
            test_file_split(file, spec, checked, &transform, &path.value, diagnostics)?
        }
        (_, test) => (test?, 0, groups),
    };
    let transform = Some(transform);
    Some(Prepared {
        transform,
        plan,
        train,
        val,
        test,
        dropped_target,
        dropped_by_strategy,
        test_file_rows,
        test_groups,
    })
}

/// [`prepare_planned`] with the data of each cross-validation fold of the plan, in fold order. A warning that a
/// fold's fit repeats word for word (every fit says `data::fill_without_order`) is said once.
pub fn prepare_training(
    file: &SpecFile,
    spec: &Spec,
    checked: &Checked,
    loaded: LoadedData,
    planned: Planned,
    diagnostics: &mut Diagnostics,
) -> Option<(Prepared, Vec<Prepared>)> {
    // The folds are prepared from the data as read, before the final split's preparation takes them; what they
    // find is said after what the final split's preparation finds, and not at all when that fails.
    let mut fold_diagnostics = Diagnostics::new();
    let folds: Option<Vec<Prepared>> = planned
        .plan
        .folds
        .iter()
        .map(|fold| prepare_fold(file, spec, checked, &loaded, fold, &mut fold_diagnostics))
        .collect();
    let prepared = prepare_planned(file, spec, checked, loaded, planned, diagnostics)?;
    for diagnostic in fold_diagnostics.items {
        let said = diagnostics.items.iter().any(|d| d.code == diagnostic.code && d.message == diagnostic.message);
        if !said {
            diagnostics.push(diagnostic);
        }
    }
    Some((prepared, folds?))
}

/// Prepares one cross-validation fold: the transform is fitted on the fold's training rows only.
pub fn prepare_fold(
    file: &SpecFile,
    spec: &Spec,
    checked: &Checked,
    loaded: &LoadedData,
    fold: &Fold,
    diagnostics: &mut Diagnostics,
) -> Option<Prepared> {
    let plan = SplitPlan { train: fold.train.clone(), val: fold.val.clone(), test: Vec::new(), folds: Vec::new() };
    let planned = Planned { plan, dropped_target: 0, dropped_by_strategy: 0 };
    assemble(file, spec, checked, loaded, planned, diagnostics)
}

/// Fits on the plan's training rows and applies to every split. Its test rows are rows of the same file; a
/// `test_file` split loads its own rows instead.
fn assemble(
    file: &SpecFile,
    spec: &Spec,
    checked: &Checked,
    loaded: &LoadedData,
    planned: Planned,
    diagnostics: &mut Diagnostics,
) -> Option<Prepared> {
    let Planned { plan, dropped_target, dropped_by_strategy } = planned;
    let (train, val, test) = (&plan.train, &plan.val, &plan.test);
    match loaded {
        LoadedData::Table(table, schema) => {
            let errors_before = diagnostics.error_count();
            let transform = Transform::fit(spec, checked, schema, table, train, diagnostics);
            if diagnostics.error_count() > errors_before {
                return None;
            }
            let train_data = table_split(spec, checked, &transform, table, train, true, diagnostics)?;
            let val_data = table_split(spec, checked, &transform, table, val, false, diagnostics)?;
            let (test_data, test_file_rows, test_groups) = match &spec.data.split.value {
                Split::TestFile { path, .. } => {
                    test_file_split(file, spec, checked, &transform, &path.value, diagnostics)?
                }
                _ => {
                    let test_data = table_split(spec, checked, &transform, table, test, false, diagnostics)?;
                    let groups = group_cells(spec, table, &test_data.rows);
                    (test_data, 0, groups)
                }
            };
            Some(Prepared {
                transform: Some(transform),
                plan,
                train: train_data,
                val: val_data,
                test: test_data,
                dropped_target,
                dropped_by_strategy,
                test_file_rows,
                test_groups,
            })
        }
        LoadedData::Manifest(_, _) | LoadedData::Folder(_) => {
            let (files, classes) = image_rows(spec, &checked.task, loaded)?;
            let Source::Images { size, color, .. } = &spec.data.source.value else { return None };
            let split = |rows: &[usize], weighted: bool, diagnostics: &mut Diagnostics| -> Option<SplitData> {
                let chosen: Vec<PathBuf> = rows.iter().map(|&row| files[row].clone()).collect();
                let pixels =
                    load_images(&chosen, size.value, color.value).map_err(|found| diagnostics.extend(found)).ok()?;
                let targets: Vec<u32> = rows.iter().map(|&row| classes[row]).collect();
                let weights = if weighted { weights_for(spec, checked, &targets) } else { vec![1.0; rows.len()] };
                let inputs = Inputs::from_array(reshape(pixels.into_dyn(), &checked.input_shape, diagnostics)?);
                Some(SplitData { rows: rows.to_vec(), inputs, targets: Targets::Classes(targets), weights })
            };
            let (train, val, test) =
                (split(train, true, diagnostics)?, split(val, false, diagnostics)?, split(test, false, diagnostics)?);
            let test_file_rows = 0;
            Some(Prepared {
                transform: None,
                plan,
                train,
                val,
                test,
                dropped_target,
                dropped_by_strategy,
                test_file_rows,
                test_groups: None,
            })
        }
        LoadedData::Unavailable => None,
    }
}

fn table_split(
    spec: &Spec,
    checked: &Checked,
    transform: &Transform,
    table: &Table,
    rows: &[usize],
    weighted: bool,
    diagnostics: &mut Diagnostics,
) -> Option<SplitData> {
    let applied = transform.apply(table, rows).map_err(|found| diagnostics.extend(found)).ok()?;
    diagnostics.extend(applied.unseen_warning(table.path()));
    let targets = transform.targets(table, &applied.rows).map_err(|found| diagnostics.extend(found)).ok()?;
    // Class weights come from the training rows' own classes and apply to the training split only.
    let weights = match (weighted, &targets) {
        (true, Targets::Classes(classes)) => weights_for(spec, checked, classes),
        _ => vec![1.0; applied.rows.len()],
    };
    let inputs = Inputs::from_array(reshape(applied.features.into_dyn(), &checked.input_shape, diagnostics)?);
    Some(SplitData { rows: applied.rows, inputs, targets, weights })
}

/// The test rows of a `test_file` split: a second CSV, read with the same delimiter and transformed the same way;
/// the number of data rows in that file, and the group of each test row (with a group column).
fn test_file_split(
    file: &SpecFile,
    spec: &Spec,
    checked: &Checked,
    transform: &Transform,
    written: &str,
    diagnostics: &mut Diagnostics,
) -> Option<(SplitData, usize, Option<Vec<String>>)> {
    let path = resolve(file, written);
    let table = super::read_csv(&path, &CsvOptions::of(&spec.data.source.value))
        .map_err(|found| diagnostics.extend(found))
        .ok()?;
    let problems = transform.check_columns(&table, &[]);
    let failed = problems.has_errors();
    diagnostics.extend(problems);
    if failed {
        return None;
    }
    let target = &spec.data.target.value;
    let Some(column) = table.column(target) else {
        diagnostics.push(
            Diagnostic::error("data::missing_column", format!("the test file has no target column `{target}`"))
                .at_file(&path)
                .with_help("the test file needs the same columns as the training file, target included"),
        );
        return None;
    };
    let rows: Vec<usize> = (0..table.rows()).filter(|&row| column.get(row).is_some()).collect();
    let dropped = table.rows() - rows.len();
    if dropped > 0 {
        diagnostics.push(
            Diagnostic::warning(
                "data::missing_target",
                format!("{dropped} row(s) of the test file have no `{target}` and are left out"),
            )
            .at_file(&path),
        );
    }
    let split = table_split(spec, checked, transform, &table, &rows, false, diagnostics)?;
    let groups = group_cells(spec, &table, &split.rows);
    Some((split, table.rows(), groups))
}

/// The group of each of `rows`, when the split has a group column and the table holds it (as text).
fn group_cells(spec: &Spec, table: &Table, rows: &[usize]) -> Option<Vec<String>> {
    let column = table.column(&spec.data.split.value.group()?.value)?;
    Some(rows.iter().map(|&row| column.get(row).unwrap_or_default().to_string()).collect())
}

/// Per-row loss weights from `data.class_weight`: `balanced` gives each class the weight
/// `rows / (classes * rows of the class)` over the training rows, an explicit map its own (1 for classes it does
/// not name).
fn weights_for(spec: &Spec, checked: &Checked, classes: &[u32]) -> Vec<f32> {
    let per_class = class_weight_table(spec, checked, classes);
    classes.iter().map(|&class| per_class.get(class as usize).copied().unwrap_or(1.0)).collect()
}

/// The weight of each class, indexed by class.
pub fn class_weight_table(spec: &Spec, checked: &Checked, train_classes: &[u32]) -> Vec<f32> {
    let names = checked.task.classes();
    let mut weights = vec![1.0f32; names.len()];
    match spec.data.class_weight.as_ref().map(|weights| &weights.value) {
        None => {}
        Some(ClassWeight::Balanced) => {
            let mut counts = vec![0usize; names.len()];
            for &class in train_classes {
                if let Some(count) = counts.get_mut(class as usize) {
                    *count += 1;
                }
            }
            let total = train_classes.len() as f64;
            for (weight, count) in weights.iter_mut().zip(&counts) {
                if *count > 0 {
                    *weight = (total / (names.len() as f64 * *count as f64)) as f32;
                }
            }
        }
        Some(ClassWeight::Explicit(given)) => {
            let numeric = super::cells::labels_are_numbers(names);
            for (label, weight) in given {
                let label = super::cells::label_text(&label.value, numeric);
                if let Some(index) = names.iter().position(|name| *name == label) {
                    weights[index] = weight.value as f32;
                }
            }
        }
    }
    weights
}

/// Gives each row the input shape the checker inferred (`data.shape`, or the image's height, width, channels).
fn reshape(inputs: ArrayD<f32>, shape: &[usize], diagnostics: &mut Diagnostics) -> Option<ArrayD<f32>> {
    let rows = inputs.shape().first().copied().unwrap_or(0);
    let mut full = vec![rows];
    full.extend_from_slice(shape);
    // Inputs are built in standard layout; reshaping them then moves no value.
    let standard = if inputs.is_standard_layout() { inputs } else { inputs.as_standard_layout().into_owned() };
    match standard.into_shape_with_order(IxDyn(&full)) {
        Ok(reshaped) => Some(reshaped),
        Err(error) => {
            diagnostics
                .push(Diagnostic::error("data::shape", format!("the inputs cannot take the shape {shape:?}: {error}")));
            None
        }
    }
}

/// The error for inputs of `width` values a row that the input shape does not hold.
fn shape_error(shape: &[usize], width: usize) -> Diagnostic {
    let error = ndarray::ShapeError::from_kind(ndarray::ErrorKind::IncompatibleShape);
    Diagnostic::error("data::shape", format!("the inputs cannot take the shape {shape:?}: {error}"))
        .with_help(format!("each row has {width} input values"))
}

/// Rows with a target, without a `drop`-strategy gap and (with a group split) with a group.
fn usable_rows(
    spec: &Spec,
    task: &Task,
    features: &[Feature],
    loaded: &LoadedData,
    diagnostics: &mut Diagnostics,
) -> Option<UsableRows> {
    match loaded {
        LoadedData::Table(table, schema) => Some(table_rows(spec, task, features, table, schema, diagnostics)),
        LoadedData::Manifest(manifest, schema) => {
            Some(table_rows(spec, task, features, &manifest.table, schema, diagnostics))
        }
        LoadedData::Folder(_) => {
            // The rows of an image folder are its files, in the order `image_rows` lays them out.
            let (_, classes) = image_rows(spec, task, loaded)?;
            let rows = (0..classes.len()).collect();
            Some(UsableRows {
                rows,
                classes: Some(classes),
                groups: None,
                assigned: None,
                dropped_target: 0,
                dropped_by_strategy: 0,
            })
        }
        LoadedData::Unavailable => None,
    }
}

fn table_rows(
    spec: &Spec,
    task: &Task,
    features: &[Feature],
    table: &Table,
    schema: &Schema,
    diagnostics: &mut Diagnostics,
) -> UsableRows {
    let target_name = &spec.data.target.value;
    let target = table.column(target_name);
    let info = schema.column(target_name);
    let dropped_by_strategy: std::collections::BTreeSet<usize> =
        rows_dropped_by_strategy(features, table).into_iter().collect();
    let group_column = spec.data.split.value.group().and_then(|group| table.column(&group.value));
    let split_column = match &spec.data.split.value {
        Split::Column { column } => table.column(&column.value),
        _ => None,
    };
    let mut usable = UsableRows {
        rows: Vec::new(),
        classes: if matches!(task, Task::Regression) { None } else { Some(Vec::new()) },
        groups: group_column.map(|_| Vec::new()),
        assigned: split_column.map(|_| Vec::new()),
        dropped_target: 0,
        dropped_by_strategy: 0,
    };
    let classes = task.classes();
    let mut missing_group = 0;
    let mut class_of: std::collections::HashMap<&str, Option<usize>> = std::collections::HashMap::new();
    for row in 0..table.rows() {
        let Some(cell) = target.and_then(|column| column.get(row)) else {
            usable.dropped_target += 1;
            continue;
        };
        if dropped_by_strategy.contains(&row) {
            usable.dropped_by_strategy += 1;
            continue;
        }
        let group = group_column.map(|column| column.get(row));
        if let Some(None) = group {
            missing_group += 1;
            usable.dropped_by_strategy += 1;
            continue;
        }
        if let Some(list) = usable.classes.as_mut() {
            // Each different cell text is turned into a label once.
            let class = *class_of.entry(cell).or_insert_with(|| {
                let label = info.map_or_else(|| cell.trim().to_string(), |info| info.label_of(cell));
                classes.iter().position(|class| *class == label)
            });
            let Some(index) = class else { continue };
            list.push(index as u32);
        }
        if let (Some(list), Some(Some(group))) = (usable.groups.as_mut(), group) {
            list.push(group.to_string());
        }
        if let (Some(list), Some(column)) = (usable.assigned.as_mut(), split_column) {
            list.push(column.get(row).unwrap_or_default().to_string());
        }
        usable.rows.push(row);
    }
    if usable.dropped_target > 0 {
        diagnostics.push(
            Diagnostic::warning(
                "data::missing_target",
                format!("{} row(s) have no `{target_name}` and are left out", usable.dropped_target),
            )
            .at(spec.data.target.span)
            .with_label("rows without this value cannot be learned from")
            .with_help("fill in the outcome of those rows if it is known"),
        );
    }
    if missing_group > 0 {
        let group = spec.data.split.value.group().map_or(String::new(), |group| group.value.clone());
        diagnostics.push(
            Diagnostic::warning(
                "data::missing_group",
                format!("{missing_group} row(s) have no `{group}` and are left out of the grouped split"),
            )
            .at(spec.data.split.span)
            .with_help(format!("fill in `{group}` for every row so that each one can be kept with its patient")),
        );
    }
    usable
}

/// Image files and their class per row, for an image folder or a manifest.
fn image_rows(spec: &Spec, task: &Task, loaded: &LoadedData) -> Option<(Vec<PathBuf>, Vec<u32>)> {
    match loaded {
        LoadedData::Folder(folder) => {
            let mut files = Vec::new();
            let mut classes = Vec::new();
            for (index, class) in folder.classes.iter().enumerate() {
                files.extend(class.files.iter().cloned());
                classes.extend(std::iter::repeat_n(index as u32, class.files.len()));
            }
            Some((files, classes))
        }
        LoadedData::Manifest(manifest, schema) => {
            let column = manifest.table.column(&spec.data.target.value)?;
            let info = schema.column(&spec.data.target.value)?;
            let names = task.classes();
            let classes = (0..manifest.table.rows())
                .map(|row| {
                    let label = column.get(row).map(|cell| info.label_of(cell)).unwrap_or_default();
                    names.iter().position(|name| *name == label).unwrap_or(0) as u32
                })
                .collect();
            Some((manifest.files.clone(), classes))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::data::read_csv;
    use crate::pipeline::{check_file, CheckOutcome};
    use crate::synth::{messy_csv, MessyOptions};

    fn checked(path: &Path) -> CheckOutcome {
        let outcome = check_file(path);
        assert!(outcome.checked.is_some() && !outcome.diagnostics.has_errors(), "{path:?}: {:?}", outcome.diagnostics);
        outcome
    }

    /// Prepares `path` as the tests and `galen eval` do (planning, the data left as read) and as training does
    /// (the check's plan, the table's numbers transformed in place): the same inputs, targets and findings. Gives
    /// the numbers read per row and the inputs per row.
    fn prepared_both_ways(path: &Path) -> (usize, usize) {
        let (apart, in_place) = (checked(path), checked(path));
        let (file, spec, checked) =
            (apart.file.as_ref().unwrap(), &apart.lowered.as_ref().unwrap().spec, apart.checked.as_ref().unwrap());
        let read = match &in_place.loaded {
            LoadedData::Table(table, _) => table.matrix().width(),
            _ => 0,
        };
        let mut found_apart = Diagnostics::new();
        let expected = prepare(file, spec, checked, &apart.loaded, &mut found_apart).expect("prepares");
        let mut found = Diagnostics::new();
        let planned = in_place.planned.expect("the check plans the split");
        let prepared = prepare_planned(file, spec, checked, in_place.loaded, planned, &mut found).expect("prepares");
        // Planning again says again what the check said of the rows; the check's plan says nothing.
        found_apart.items.retain(|d| {
            !d.code.starts_with("split::") && d.code != "data::missing_target" && d.code != "data::missing_group"
        });
        assert_eq!(found, found_apart, "{path:?}");
        assert_eq!(prepared.transform, expected.transform, "{path:?}");
        assert_eq!(prepared.plan, expected.plan, "{path:?}");
        for (split, (found, expected)) in [
            ("train", (&prepared.train, &expected.train)),
            ("val", (&prepared.val, &expected.val)),
            ("test", (&prepared.test, &expected.test)),
        ] {
            assert_eq!(found.rows, expected.rows, "{path:?} {split}");
            let bits = |data: &SplitData| data.inputs.iter().map(|value| value.to_bits()).collect::<Vec<u32>>();
            assert_eq!(bits(found), bits(expected), "{path:?} {split}");
            assert_eq!(found.inputs.shape(), expected.inputs.shape(), "{path:?} {split}");
            assert_eq!((&found.targets, &found.weights), (&expected.targets, &expected.weights), "{path:?} {split}");
        }
        assert_eq!(
            (prepared.dropped_target, prepared.dropped_by_strategy),
            (expected.dropped_target, expected.dropped_by_strategy)
        );
        (read, prepared.transform.as_ref().map_or(0, Transform::width))
    }

    #[test]
    fn preparing_in_place_gives_what_preparing_apart_gives() {
        let others = ["tests/data/pipeline/test_file.yaml", "tests/data/pipeline/kfold.galen", "tests/fuzz/base.galen"];
        for example in crate::testing::example_specs().into_iter().chain(others.iter().map(PathBuf::from)) {
            prepared_both_ways(&example);
        }
    }

    /// A folder of messy variants of the shipped datasets, with every missing-value strategy, indicators (more
    /// inputs than numbers read), excluded columns (fewer), fills that follow the file's order within patients,
    /// and rows dropped by a strategy.
    #[test]
    fn preparing_messy_data_in_place_gives_what_preparing_apart_gives() {
        let dir = std::env::temp_dir().join(format!("galen-in-place-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch folder");
        let table = read_csv(Path::new("specs/data/breast_cancer.csv"), &CsvOptions::default()).expect("reads");
        let options =
            MessyOptions { target: Some("diagnosis".into()), missing: 0.15, codes: true, patients: true, date: true };
        let (bytes, _) = messy_csv(&table, &options, 11).expect("a messy variant");
        std::fs::write(dir.join("messy.csv"), bytes).expect("written");
        let cases = [
            ("median", "mode", " indicator", "  exclude visit_date\n"),
            ("ffill", "ffill", " indicator", "  exclude visit_date mean_radius mean_texture\n"),
            ("bfill", "bfill", "", "  exclude visit_date\n"),
            ("interpolate", "{constant=\"unknown\"}", " indicator", "  exclude visit_date worst_area\n"),
            ("drop", "drop", "", "  exclude visit_date\n"),
            ("{constant=-1}", "mode", " indicator", "  exclude visit_date\n  encode ordinal\n"),
            // Fewer inputs than numbers read: four numeric columns left out, the codes one input each.
            (
                "mean",
                "mode",
                "",
                "  exclude visit_date mean_radius mean_texture worst_area worst_perimeter\n  encode ordinal\n",
            ),
        ];
        let mut seen_widths = Vec::new();
        for (index, (numeric, categorical, indicator, more)) in cases.iter().enumerate() {
            let text = format!(
                "experiment \"messy\"\nseed 3\n\ndata {{\n  source \"messy.csv\"\n  target diagnosis\n{more}  missing numeric={numeric} categorical={categorical}{indicator}\n  scale robust\n  split train=0.6 val=0.2 test=0.2 group=patient_id stratify\n}}\n\nmodel {{\n  dense 4 relu\n  dense 2 softmax\n}}\n\ntrain {{\n  loss categorical_crossentropy\n  epochs 1\n}}\n"
            );
            let path: PathBuf = dir.join(format!("case{index}.galen"));
            std::fs::write(&path, text).expect("written");
            let widths = prepared_both_ways(&path);
            seen_widths.push(widths);
        }
        let _ = std::fs::remove_dir_all(&dir);
        assert!(seen_widths.iter().any(|(read, inputs)| inputs > read), "{seen_widths:?}");
        assert!(seen_widths.iter().any(|(read, inputs)| inputs < read), "{seen_widths:?}");
    }
}
