//! `galen predict RUN --input CSV [--output CSV]`: the saved preprocessing and model applied to new rows, in the
//! input's order: P(positive) for a binary model (a probability per class otherwise) and the predicted class, or
//! the predicted number for a regression.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::eval::{load, to_model_shape, LoadedRun};
use super::report::{prediction_cells, probability_columns};
use crate::backend::Backend;
use crate::data::images::load_images;
use crate::data::{read_csv, CsvOptions};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::lowering::Model;
use crate::runtime::train::Runner;
use crate::spec::ast::Source;

/// What `galen predict` made.
#[derive(Clone, Debug)]
pub struct Predictions {
    /// The predictions as CSV: `row` (the input's data row number, from 1), the probabilities, `predicted`.
    pub csv: String,
    /// Rows of the input.
    pub rows: usize,
    /// Rows left without a prediction because a cell their column's strategy drops was missing.
    pub skipped: usize,
    /// Cells filled by the saved missing-value strategies.
    pub imputed: usize,
    /// Cells holding a category the model never saw, per column.
    pub unseen: BTreeMap<String, usize>,
}

impl Predictions {
    /// The counts `galen predict` reports on standard error.
    pub fn summary(&self) -> String {
        let mut text = format!("{} rows predicted", self.rows - self.skipped);
        if self.skipped > 0 {
            text.push_str(&format!(", {} left empty (a missing cell their strategy drops)", self.skipped));
        }
        text.push_str(&format!("; {} missing cells filled", self.imputed));
        let unseen: usize = self.unseen.values().sum();
        text.push_str(&format!("; {unseen} unseen categories"));
        if unseen > 0 {
            let columns: Vec<String> = self.unseen.iter().map(|(name, count)| format!("{name} {count}")).collect();
            text.push_str(&format!(" ({})", columns.join(", ")));
        }
        text
    }
}

/// Predicts every row of `input` with the run at `run`.
pub fn predict(run: &Path, input: &Path, backend: Backend) -> Result<(Predictions, Diagnostics), Diagnostics> {
    let loaded = load(run)?;
    let mut warnings = Diagnostics::new();
    warnings.extend(super::eval::unfinished_warning(&loaded));
    let (inputs, kept, rows, imputed, unseen) = match &loaded.spec.data.source.value {
        Source::Csv { .. } => table_inputs(&loaded, input, &mut warnings)?,
        Source::Images { size, color, .. } => {
            let table = read_csv(input, &CsvOptions::of(&loaded.spec.data.source.value))?;
            let Some(column) = table.column("file") else {
                return Err(one(Diagnostic::error(
                    "data::missing_column",
                    "an image model predicts from a CSV with a `file` column listing the images",
                )
                .at_file(input)
                .with_help("list one image path per row, relative to the CSV's folder")));
            };
            let dir = input.parent().map_or(PathBuf::from("."), Path::to_path_buf);
            let files: Vec<PathBuf> = (0..table.rows()).map(|row| dir.join(column.get(row).unwrap_or(""))).collect();
            let pixels = load_images(&files, size.value, color.value)?;
            let rows = table.rows();
            (to_model_shape(pixels, &loaded.checked.input_shape, input)?, (0..rows).collect(), rows, 0, BTreeMap::new())
        }
    };
    let model = Model::new(&loaded.spec, &loaded.checked);
    let mut runner = Runner::new(&model, &loaded.checked, loaded.spec.train.batch_size.value)
        .with_backend(backend)
        .with_risk_correction(loaded.risk_correction.clone());
    let outputs = runner.predict(&inputs, &loaded.weights);
    let task = &loaded.checked.task;
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["row".to_string()];
    header.extend(probability_columns(task));
    header.push("predicted".to_string());
    let width = header.len();
    let write_error = |error: csv::Error| one(Diagnostic::error("predict::write", format!("cannot write: {error}")));
    writer.write_record(&header).map_err(write_error)?;
    let mut next = kept.iter().copied().enumerate().peekable();
    for row in 0..rows {
        let mut record = vec![(row + 1).to_string()];
        match next.peek() {
            Some(&(position, kept_row)) if kept_row == row => {
                record.extend(prediction_cells(task, &outputs.row(position).to_vec()));
                next.next();
            }
            _ => record.resize(width, String::new()),
        }
        writer.write_record(&record).map_err(write_error)?;
    }
    let bytes = writer.into_inner().map_err(|error| one(Diagnostic::error("predict::write", error.to_string())))?;
    let csv = String::from_utf8(bytes).unwrap_or_default();
    Ok((Predictions { csv, rows, skipped: rows - kept.len(), imputed, unseen }, warnings))
}

type TableInputs = (ndarray::ArrayD<f32>, Vec<usize>, usize, usize, BTreeMap<String, usize>);

/// A CSV's rows through the saved preprocessing; its columns must match the training file's.
fn table_inputs(loaded: &LoadedRun, input: &Path, warnings: &mut Diagnostics) -> Result<TableInputs, Diagnostics> {
    let Some(transform) = &loaded.transform else {
        return Err(one(Diagnostic::error("run::transform", "the run has no saved preprocessing")
            .at_file(&loaded.run.file(super::TRANSFORM))
            .with_help("the run directory is damaged; train again")));
    };
    let table = read_csv(input, &CsvOptions::of(&loaded.spec.data.source.value))?;
    let problems = transform.check_columns(&table);
    if problems.has_errors() {
        return Err(problems);
    }
    warnings.extend(problems.items);
    let all: Vec<usize> = (0..table.rows()).collect();
    let applied = transform.apply(&table, &all)?;
    warnings.extend(applied.unseen_warning(input));
    let inputs = to_model_shape(applied.features, &loaded.checked.input_shape, input)?;
    Ok((inputs, applied.rows, table.rows(), applied.imputed, applied.unseen))
}

fn one(diagnostic: Diagnostic) -> Diagnostics {
    Diagnostics { items: vec![diagnostic] }
}
