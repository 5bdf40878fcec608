//! `galen predict RUN --input CSV [--output CSV] [--keep COLUMNS] [--strict]`: the saved preprocessing and model
//! applied to new rows, in the input's order: P(positive) for a binary model (a probability per class otherwise)
//! and the predicted class, or the predicted number for a regression; each row flagged where a cell was filled, a
//! category is one training never saw, or a number lies out of the training range.

use std::collections::BTreeMap;
use std::path::Path;

use super::predictor::{flagged_rows_text, kept_columns, predictions_csv, strict_error, PredictionRow, Predictor};
use crate::backend::Backend;
use crate::diagnostics::Diagnostics;

/// What `galen predict` is asked for besides the run and the input.
#[derive(Clone, Debug, Default)]
pub struct PredictOptions {
    /// Columns of the input copied into the output (identifiers), in this order.
    pub keep: Vec<String>,
    /// Any flagged row is an error, and nothing is written.
    pub strict: bool,
}

/// What `galen predict` made.
#[derive(Clone, Debug)]
pub struct Predictions {
    /// The predictions as CSV: `row` (the input's data row number, from 1), the kept columns, the probabilities,
    /// `predicted`, and the flags `filled`, `unseen` and `out_of_range`.
    pub csv: String,
    /// Rows of the input.
    pub rows: usize,
    /// Rows left without a prediction because a cell their column's strategy drops was missing.
    pub skipped: usize,
    /// Cells filled by the saved missing-value strategies.
    pub imputed: usize,
    /// Cells holding a category the model never saw, per column.
    pub unseen: BTreeMap<String, usize>,
    /// The flagged rows in words (the first ten, then a count); `None` when every row is clean.
    pub flagged: Option<String>,
}

impl Predictions {
    /// The counts `galen predict` reports on standard error, and the flagged rows.
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
        match &self.flagged {
            Some(flagged) => text.push_str(&format!("\n{flagged}")),
            None => text.push_str("\nno row flagged"),
        }
        text
    }
}

/// Predicts every row of `input` with the run at `run`.
pub fn predict(
    run: &Path,
    input: &Path,
    options: &PredictOptions,
    backend: Backend,
) -> Result<(Predictions, Diagnostics), Diagnostics> {
    let (predictor, mut warnings) = Predictor::open(run, backend)?;
    let table = predictor.read_table(input)?;
    let all: Vec<usize> = (0..table.rows()).collect();
    let kept_cells = kept_columns(&table, &options.keep, &all)?;
    let prepared = predictor.table_rows(&table, &all, &options.keep, input, &mut warnings)?;
    let lines: Vec<usize> = all.iter().map(|row| row + 1).collect();
    if options.strict {
        if let Some(error) = strict_error(input, &lines, &prepared.flags) {
            return Err(Diagnostics { items: vec![error] });
        }
    }
    let outputs = predictor.outputs(&prepared.inputs);
    let mut next = prepared.kept.iter().copied().enumerate().peekable();
    let kept_names: Vec<&str> = options.keep.iter().map(String::as_str).collect();
    let rows = all.iter().zip(&prepared.flags).map(|(&row, flags)| {
        let output = match next.peek() {
            Some(&(position, kept_row)) if kept_row == row => {
                next.next();
                Some(outputs.row(position).to_vec())
            }
            _ => None,
        };
        PredictionRow {
            line: row + 1,
            kept: kept_cells.iter().map(|(_, cells)| cells[row].as_str()).collect(),
            truth: None,
            output,
            flags: Some(flags),
        }
    });
    let csv = predictions_csv(predictor.task(), &kept_names, false, true, rows)?;
    let flagged = flagged_rows_text(&lines, &prepared.flags);
    let predictions = Predictions {
        csv,
        rows: table.rows(),
        skipped: table.rows() - prepared.kept.len(),
        imputed: prepared.imputed,
        unseen: prepared.unseen,
        flagged,
    };
    Ok((predictions, warnings))
}
