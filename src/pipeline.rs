//! Runs the stages in order for one spec file: read, parse, lower, load the data's schema, check (planning the
//! split in its course), estimate the memory.
//!
//! This is the one place that joins the pure stages (`spec`, `check`) with I/O (`data`); the command line and
//! the tests both go through it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::check::{self, Checked, DataView, Feature, SplitCounts, Task, Vocabularies};
use crate::data::dataset::{self, Planned};
use crate::data::{self, CsvOptions, Layout};
// Where the loaded data and the spec-relative paths are defined; named here too, for the pipeline's callers.
pub use crate::data::{resolve, LoadedData};
use crate::diagnostics::{Diagnostic, Diagnostics, Location, Span};
use crate::memory::{self, Estimate, Limit};
use crate::spec::ast::{ColumnKind, Data, Source, Split};
use crate::spec::lower::Lowered;
use crate::spec::SpecFile;

/// Everything `galen check` learns about a spec.
#[derive(Debug)]
pub struct CheckOutcome {
    /// The spec file, when it could be read.
    pub file: Option<SpecFile>,
    /// All errors and warnings, in the order found.
    pub diagnostics: Diagnostics,
    /// The AST, when the spec parsed.
    pub lowered: Option<Lowered>,
    /// The data source as resolved against the spec's folder.
    pub data_path: Option<PathBuf>,
    /// The checked model, when there was no error.
    pub checked: Option<Checked>,
    /// The data as read, kept so that training reads each file once.
    pub loaded: LoadedData,
    /// Rows per split and class, as the spec's seed splits them (when the spec checked clean).
    pub split: Option<SplitCounts>,
    /// The split itself, handed on to training (when the spec checked clean).
    pub planned: Option<Planned>,
    /// The memory training needs (when the spec checked clean but for the memory limit).
    pub memory: Option<Estimate>,
}

impl CheckOutcome {
    /// The outcome of a spec that could not be read or parsed: only diagnostics.
    fn stopped(file: Option<SpecFile>, diagnostics: Diagnostics) -> CheckOutcome {
        CheckOutcome {
            file,
            diagnostics,
            lowered: None,
            data_path: None,
            checked: None,
            loaded: LoadedData::Unavailable,
            split: None,
            planned: None,
            memory: None,
        }
    }
}

/// Reads, parses and checks a spec file and its data.
pub fn check_file(path: &Path) -> CheckOutcome {
    check_file_with(path, Limit::from_environment())
}

/// Parses and checks a spec already in memory; relative paths start from the folder of `file.path`. The memory
/// estimate is compared with the limit of the environment ([`Limit::from_environment`]).
pub fn check_spec(file: SpecFile) -> CheckOutcome {
    check_spec_with(file, Limit::from_environment())
}

/// [`check_file`] with a memory limit of the caller's (tests give a fixed one, so that no figure of the machine's
/// reaches a snapshot).
pub fn check_file_with(path: &Path, limit: Result<Option<Limit>, String>) -> CheckOutcome {
    check_file_seeded(path, limit, None)
}

/// [`check_file_with`] with a seed that replaces the spec's (`--seed`): the split is planned with it, and the
/// outcome's spec carries it.
pub fn check_file_seeded(path: &Path, limit: Result<Option<Limit>, String>, seed: Option<u64>) -> CheckOutcome {
    match SpecFile::read(path) {
        Ok(file) => check_spec_seeded(file, limit, seed),
        Err(diagnostic) => {
            let mut diagnostics = Diagnostics::new();
            diagnostics.push(diagnostic);
            CheckOutcome::stopped(None, diagnostics)
        }
    }
}

/// [`check_spec`] with a memory limit of the caller's: `Ok(None)` when none is known (nothing is refused), `Err`
/// when the environment's could not be read (an error of the check).
pub fn check_spec_with(file: SpecFile, limit: Result<Option<Limit>, String>) -> CheckOutcome {
    check_spec_seeded(file, limit, None)
}

/// [`check_spec_with`] with a seed that replaces the spec's (`--seed`, or the seed a run recorded): the split is
/// planned with it, and the outcome's spec carries it.
pub fn check_spec_seeded(file: SpecFile, limit: Result<Option<Limit>, String>, seed: Option<u64>) -> CheckOutcome {
    let mut diagnostics = Diagnostics::new();
    let Some(mut lowered) = file.parse(&mut diagnostics) else {
        return CheckOutcome::stopped(Some(file), diagnostics);
    };
    if let Some(seed) = seed {
        lowered.spec.seed.value = seed;
    }
    let (data_path, loaded) =
        if lowered.data_sound { load_data(&file, &lowered, &mut diagnostics) } else { (None, LoadedData::Unavailable) };
    let view = match &loaded {
        LoadedData::Table(_, schema) | LoadedData::Manifest(_, schema) => DataView::Table(schema),
        LoadedData::Folder(folder) => DataView::Folder(folder),
        LoadedData::Unavailable => DataView::Unavailable,
    };
    // The split is planned once, in the check's course (the predictors' widths depend on its training rows); what
    // planning finds is said after the check's findings, and only when the check passed.
    let mut split_found = Diagnostics::new();
    let mut planned = None;
    let checked = check::check_with_split(
        &lowered,
        view,
        |task, features| {
            let (counts, plan, vocabularies) = plan_split(&lowered, task, features, &loaded, &mut split_found)?;
            planned = Some((counts, plan));
            Some(vocabularies)
        },
        &mut diagnostics,
    );
    let checked = checked.filter(|_| !diagnostics.has_errors());
    let planned = match checked {
        Some(_) => {
            diagnostics.extend(split_found);
            planned
        }
        None => None,
    };
    let (split, planned) = planned.unzip();
    let checked = checked.filter(|_| !diagnostics.has_errors());
    // Last, whether training fits in memory: it needs the checked model, and plans its train step.
    let memory = checked.as_ref().and_then(|checked| match limit {
        Ok(limit) => Some(memory::estimate(&lowered.spec, checked, limit, &mut diagnostics)),
        Err(why) => {
            diagnostics.push(
                Diagnostic::error("memory::bad_limit", why)
                    .with_help(format!("unset {} to use this machine's figure", memory::LIMIT_VARIABLE)),
            );
            None
        }
    });
    let checked = checked.filter(|_| !diagnostics.has_errors());
    CheckOutcome {
        file: Some(file),
        diagnostics,
        lowered: Some(lowered),
        data_path,
        checked,
        loaded,
        split,
        planned,
        memory,
    }
}

/// Plans the split that training will use, counts rows per split and class, and finds the categories of the
/// categorical predictors among the rows the model is fitted on.
fn plan_split(
    lowered: &Lowered,
    task: &Task,
    features: &[Feature],
    loaded: &LoadedData,
    diagnostics: &mut Diagnostics,
) -> Option<(SplitCounts, Planned, Vocabularies)> {
    let (usable, plan) = dataset::plan(&lowered.spec, task, features, loaded, diagnostics)?;
    let vocabularies = dataset::vocabularies(features, loaded, &plan.train);
    let class_of = |rows: &[usize]| -> Vec<usize> {
        let Some(classes) = &usable.classes else { return Vec::new() };
        let mut counts = vec![0; task.classes().len()];
        // Both lists are ascending (see `SplitPlan`), so one walk along the usable rows finds every row.
        debug_assert!(rows.windows(2).all(|pair| pair[0] < pair[1]));
        let mut position = 0;
        for &row in rows {
            while usable.rows.get(position).is_some_and(|&usable_row| usable_row < row) {
                position += 1;
            }
            if usable.rows.get(position) == Some(&row) {
                counts[classes[position] as usize] += 1;
            }
        }
        counts
    };
    let mut splits = Vec::new();
    if plan.folds.is_empty() {
        splits.push(("train".to_string(), plan.train.len(), class_of(&plan.train)));
        if !plan.val.is_empty() {
            splits.push(("val".to_string(), plan.val.len(), class_of(&plan.val)));
        }
    } else {
        for (index, fold) in plan.folds.iter().enumerate() {
            splits.push((format!("fold {}", index + 1), fold.val.len(), class_of(&fold.val)));
        }
    }
    if !plan.test.is_empty() {
        splits.push(("test".to_string(), plan.test.len(), class_of(&plan.test)));
    }
    let counts = SplitCounts { splits, dropped: usable.dropped_by_strategy };
    Some((counts, Planned::of(&usable, plan), vocabularies))
}

fn load_data(file: &SpecFile, lowered: &Lowered, diagnostics: &mut Diagnostics) -> (Option<PathBuf>, LoadedData) {
    let data = &lowered.spec.data;
    let declared: BTreeMap<String, ColumnKind> =
        data.types.value.iter().map(|(column, kind)| (column.value.clone(), kind.value)).collect();
    if let Split::TestFile { path, .. } = &data.split.value {
        let test_path = resolve(file, &path.value);
        if !test_path.is_file() {
            diagnostics.push(
                Diagnostic::error("data::not_found", format!("the test file {} does not exist", test_path.display()))
                    .at(path.span)
                    .with_label("no such file")
                    .with_help("paths in a spec are relative to the spec file's folder"),
            );
        }
    }
    match &data.source.value {
        Source::Csv { path, .. } => {
            let resolved = resolve(file, &path.value);
            let options = CsvOptions::of(&data.source.value);
            match data::read_table(&resolved, &options, training_layout(data, &declared)) {
                Ok(table) => {
                    let (schema, found) = data::infer_schema(&table, &declared);
                    diagnostics.extend(found);
                    (Some(resolved), LoadedData::Table(table, schema))
                }
                Err(found) => {
                    diagnostics.extend(found.into_iter().map(|d| point_at_spec(d, &resolved, path.span)));
                    (Some(resolved), LoadedData::Unavailable)
                }
            }
        }
        Source::Images { dir, manifest: Some(manifest), .. } => {
            let resolved_dir = resolve(file, &dir.value);
            let resolved = resolve(file, &manifest.value);
            match data::read_manifest(&resolved, &resolved_dir, &data.target.value, &CsvOptions::default()) {
                Ok(manifest) => {
                    let (schema, found) = data::infer_schema(&manifest.table, &declared);
                    diagnostics.extend(found);
                    (Some(resolved), LoadedData::Manifest(manifest, schema))
                }
                Err(found) => {
                    diagnostics.extend(found.into_iter().map(|d| point_at_spec(d, &resolved, manifest.span)));
                    (Some(resolved), LoadedData::Unavailable)
                }
            }
        }
        Source::Images { dir, manifest: None, .. } => {
            let resolved = resolve(file, &dir.value);
            match data::scan_image_folder(&resolved) {
                Ok(folder) => {
                    diagnostics.extend(folder.warnings.items.iter().cloned());
                    (Some(resolved), LoadedData::Folder(folder))
                }
                Err(found) => {
                    diagnostics.extend(found.into_iter().map(|d| point_at_spec(d, &resolved, dir.span)));
                    (Some(resolved), LoadedData::Unavailable)
                }
            }
        }
    }
}

/// How the training file is read: as numbers, straight into the f32 matrix the model trains on, but for the
/// columns whose text matters: the target (its labels), the split's group and column, and every column declared
/// of a kind other than numeric. A column holding text is read as text anyway.
fn training_layout(data: &Data, declared: &BTreeMap<String, ColumnKind>) -> Layout {
    let mut text: BTreeSet<String> =
        declared.iter().filter(|(_, kind)| **kind != ColumnKind::Numeric).map(|(name, _)| name.clone()).collect();
    text.insert(data.target.value.clone());
    if let Some(group) = data.split.value.group() {
        text.insert(group.value.clone());
    }
    if let Split::Column { column } = &data.split.value {
        text.insert(column.value.clone());
    }
    Layout::Numbers { text }
}

/// A problem with a whole data file is shown at the spec line that names the file.
fn point_at_spec(diagnostic: Diagnostic, path: &Path, span: Span) -> Diagnostic {
    match &diagnostic.location {
        Location::File(found) if found == path => {
            let shown = path.display().to_string();
            let message = if diagnostic.message.contains(&shown) {
                diagnostic.message.clone()
            } else {
                format!("{shown}: {}", diagnostic.message)
            };
            Diagnostic { message, ..diagnostic }.at(span)
        }
        _ => diagnostic,
    }
}
