//! The one predictor of a trained run: the run read back and checked ([`load`]), a CSV's rows through the saved
//! preprocessing with each row's flags (cells filled, categories unseen, numbers out of the training range), the
//! model's outputs, and the predictions file with its flag columns. `galen predict` and `galen eval` go through it,
//! so that they prepare, flag and write rows alike.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayD};

use super::loaded::{load, to_model_shape, unfinished_warning, LoadedRun};
use super::report::{prediction_cells, probability_columns};
use crate::backend::Backend;
use crate::check::Task;
use crate::data::images::load_images;
use crate::data::transform::Transform;
use crate::data::{read_csv, CsvOptions, RowFlags, Table, FLAG_COLUMNS};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::lowering::Model;
use crate::runtime::train::Runner;
use crate::spec::ast::Source;

/// Flagged rows named one by one in a summary or an error; the rest are counted.
pub const NAMED_FLAGGED_ROWS: usize = 10;

/// `galen eval` warns when more than this share of the rows it scores is flagged.
pub const FLAGGED_SHARE_WARNING: f64 = 0.05;

/// A trained run ready to predict.
pub struct Predictor {
    /// The run as read back.
    pub loaded: LoadedRun,
    /// What runs the model.
    pub backend: Backend,
}

/// Rows of a CSV made ready for the model.
#[derive(Clone, Debug)]
pub struct TableRows {
    /// The table's rows given, in order.
    pub rows: Vec<usize>,
    /// The rows kept, a subsequence of `rows` (a `drop` strategy leaves out rows with a missing cell).
    pub kept: Vec<usize>,
    /// The inputs of the kept rows, shaped as the model reads them.
    pub inputs: ArrayD<f32>,
    /// Each given row's flags, in the order of `rows` (all clean for an image model).
    pub flags: Vec<RowFlags>,
    /// Cells filled by the saved missing-value strategies (kept rows).
    pub imputed: usize,
    /// Cells holding a category the model never saw, per column (kept rows).
    pub unseen: BTreeMap<String, usize>,
}

impl TableRows {
    /// The given rows that are flagged.
    pub fn flagged(&self) -> usize {
        self.flags.iter().filter(|flags| !flags.is_clean()).count()
    }
}

impl Predictor {
    /// Reads the run at `path`, with a warning when its training did not finish.
    pub fn open(path: &Path, backend: Backend) -> Result<(Predictor, Diagnostics), Diagnostics> {
        let loaded = load(path)?;
        let mut warnings = Diagnostics::new();
        warnings.extend(unfinished_warning(&loaded));
        Ok((Predictor { loaded, backend }, warnings))
    }

    /// The model's task.
    pub fn task(&self) -> &Task {
        &self.loaded.checked.task
    }

    /// Reads a CSV with the training file's options (delimiter, missing markers).
    pub fn read_table(&self, path: &Path) -> Result<Table, Diagnostics> {
        read_csv(path, &CsvOptions::of(&self.loaded.spec.data.source.value))
    }

    /// Prepares `rows` of `table` (read from `path`): through the saved preprocessing for a table model, with each
    /// row's flags; the files its `file` column lists for an image model. Columns the model needs and the file
    /// lacks are an error; columns the training file did not have are a warning, unless `keep` copies them.
    pub fn table_rows(
        &self,
        table: &Table,
        rows: &[usize],
        keep: &[String],
        path: &Path,
        warnings: &mut Diagnostics,
    ) -> Result<TableRows, Diagnostics> {
        match (&self.loaded.spec.data.source.value, &self.loaded.transform) {
            (Source::Images { size, color, .. }, _) => {
                let Some(column) = table.column("file") else {
                    return Err(one(Diagnostic::error(
                        "data::missing_column",
                        "an image model predicts from a CSV with a `file` column listing the images",
                    )
                    .at_file(path)
                    .with_help("list one image path per row, relative to the CSV's folder")));
                };
                let dir = path.parent().map_or(PathBuf::from("."), Path::to_path_buf);
                let files: Vec<PathBuf> = rows.iter().map(|&row| dir.join(column.get(row).unwrap_or(""))).collect();
                let pixels = load_images(&files, size.value, color.value)?;
                let inputs = to_model_shape(pixels, &self.loaded.checked.input_shape, path)?;
                let flags = vec![RowFlags::default(); rows.len()];
                Ok(TableRows {
                    rows: rows.to_vec(),
                    kept: rows.to_vec(),
                    inputs,
                    flags,
                    imputed: 0,
                    unseen: BTreeMap::new(),
                })
            }
            (Source::Csv { .. }, Some(transform)) => {
                let problems = transform.check_columns(table, keep);
                if problems.has_errors() {
                    return Err(problems);
                }
                warnings.extend(problems.items);
                warnings.extend(no_ranges_warning(transform, &self.loaded));
                let applied = transform.apply(table, rows)?;
                warnings.extend(applied.unseen_warning(path));
                let flags = transform.flag_rows(table, rows)?;
                let inputs = to_model_shape(applied.features, &self.loaded.checked.input_shape, path)?;
                Ok(TableRows {
                    rows: rows.to_vec(),
                    kept: applied.rows,
                    inputs,
                    flags,
                    imputed: applied.imputed,
                    unseen: applied.unseen,
                })
            }
            (Source::Csv { .. }, None) => {
                Err(one(Diagnostic::error("run::transform", "the run has no saved preprocessing")
                    .at_file(&self.loaded.run.file(super::TRANSFORM))
                    .with_help("the run directory is damaged; train again")))
            }
        }
    }

    /// The model's outputs for prepared inputs, a row each: class probabilities (P(positive) for one sigmoid unit)
    /// or predicted numbers.
    pub fn outputs(&self, inputs: &ArrayD<f32>) -> Array2<f32> {
        let model = Model::new(&self.loaded.spec, &self.loaded.checked);
        let batch = self.loaded.spec.train.batch_size.value;
        let mut runner = Runner::new(&model, &self.loaded.checked, batch)
            .with_backend(self.backend)
            .with_risk_correction(self.loaded.risk_correction.clone());
        runner.predict(inputs, &self.loaded.weights)
    }
}

/// The warning that a run saved before galen recorded the training ranges gets no out-of-range flags.
pub fn no_ranges_warning(transform: &Transform, loaded: &LoadedRun) -> Option<Diagnostic> {
    (!transform.has_ranges()).then(|| {
        Diagnostic::warning(
            "run::no_ranges",
            "this run's saved preprocessing has no training ranges (an earlier galen saved it): no row is flagged \
             out of range",
        )
        .at_file(&loaded.run.file(super::TRANSFORM))
        .with_help("train the model again to record them; the other flags are unaffected")
    })
}

/// The columns named by `--keep`, each with its cells for `rows`; a name the file lacks is an error.
pub fn kept_columns(table: &Table, keep: &[String], rows: &[usize]) -> Result<Vec<(String, Vec<String>)>, Diagnostics> {
    let absent: Vec<&str> = keep.iter().map(String::as_str).filter(|name| table.column(name).is_none()).collect();
    if !absent.is_empty() {
        let names: Vec<String> = absent.iter().map(|name| format!("`{name}`")).collect();
        return Err(one(Diagnostic::error(
            "data::missing_column",
            format!("`--keep` names {}, which the file does not have", names.join(", ")),
        )
        .at_data(table.path(), 1, None)
        .with_help("name columns of the file's header, separated by commas")));
    }
    Ok(keep
        .iter()
        .filter_map(|name| {
            let column = table.column(name)?;
            Some((name.clone(), rows.iter().map(|&row| column.get(row).unwrap_or("").to_string()).collect()))
        })
        .collect())
}

/// The flagged rows in words, `lines` naming each row (1-based data lines): the first [`NAMED_FLAGGED_ROWS`], then
/// a count. `None` when no row is flagged.
pub fn flagged_rows_text(lines: &[usize], flags: &[RowFlags]) -> Option<String> {
    let flagged: Vec<(usize, &RowFlags)> =
        lines.iter().copied().zip(flags).filter(|(_, flags)| !flags.is_clean()).collect();
    if flagged.is_empty() {
        return None;
    }
    let named: Vec<String> = flagged
        .iter()
        .take(NAMED_FLAGGED_ROWS)
        .map(|(line, flags)| format!("row {line} ({})", flags.describe()))
        .collect();
    let mut text = format!("{} of {} rows flagged: {}", flagged.len(), flags.len(), named.join(", "));
    if flagged.len() > NAMED_FLAGGED_ROWS {
        text.push_str(&format!(", and {} more", flagged.len() - NAMED_FLAGGED_ROWS));
    }
    Some(text)
}

/// `--strict`'s error when a row is flagged, naming the rows and columns; `None` when every row is clean.
pub fn strict_error(path: &Path, lines: &[usize], flags: &[RowFlags]) -> Option<Diagnostic> {
    let text = flagged_rows_text(lines, flags)?;
    Some(Diagnostic::error("data::flagged_rows", format!("--strict: {text}")).at_file(path).with_help(
        "fill the missing cells, correct the categories and values the training rows did not have, or leave \
                 out `--strict` to get these rows' predictions with their flags",
    ))
}

/// One row of a predictions file.
pub struct PredictionRow<'a> {
    /// The row's number among the data rows of its file, from 1.
    pub line: usize,
    /// The copied columns' cells, in the order of the header's kept columns.
    pub kept: Vec<&'a str>,
    /// The true target, when known.
    pub truth: Option<String>,
    /// The model's output; `None` leaves the prediction's cells empty (a row a `drop` strategy left out).
    pub output: Option<Vec<f32>>,
    /// The row's flags, when the file has flag columns.
    pub flags: Option<&'a RowFlags>,
}

/// A predictions file: `row`, the kept columns, `truth` when known, the probabilities and `predicted` (or the
/// predicted number), then the flag columns `filled`, `unseen` and `out_of_range` when `flags`.
pub fn predictions_csv<'a>(
    task: &Task,
    kept: &[&str],
    truth: bool,
    flags: bool,
    rows: impl IntoIterator<Item = PredictionRow<'a>>,
) -> Result<String, Diagnostics> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = vec!["row".to_string()];
    header.extend(kept.iter().map(|name| name.to_string()));
    if truth {
        header.push("truth".to_string());
    }
    let predictions = probability_columns(task).len() + 1;
    header.extend(probability_columns(task));
    header.push("predicted".to_string());
    if flags {
        header.extend(FLAG_COLUMNS.iter().map(|name| name.to_string()));
    }
    let failed = |error: csv::Error| one(Diagnostic::error("predict::write", format!("cannot write: {error}")));
    writer.write_record(&header).map_err(failed)?;
    for row in rows {
        let mut record = vec![row.line.to_string()];
        record.extend(row.kept.iter().map(|cell| cell.to_string()));
        if truth {
            record.push(row.truth.unwrap_or_default());
        }
        match &row.output {
            Some(output) => record.extend(prediction_cells(task, output)),
            None => record.extend(std::iter::repeat_n(String::new(), predictions)),
        }
        if flags {
            record.extend(row.flags.map(RowFlags::cells).unwrap_or_default());
        }
        writer.write_record(&record).map_err(failed)?;
    }
    let bytes = writer.into_inner().map_err(|error| one(Diagnostic::error("predict::write", error.to_string())))?;
    String::from_utf8(bytes).map_err(|error| one(Diagnostic::error("predict::write", error.to_string())))
}

fn one(diagnostic: Diagnostic) -> Diagnostics {
    Diagnostics { items: vec![diagnostic] }
}
