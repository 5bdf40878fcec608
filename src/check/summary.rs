//! The text `galen check` prints on success: a model summary in the manner of Keras' `model.summary()` and a
//! summary of the data as the model will see it.

use std::fmt::Write;

use super::shapes::format_shape;
use super::{Checked, Task};
use crate::spec::ast::{ClassWeight, RiskCorrection, Source, Spec, Split};
use crate::spec::lower::trim_float;

/// How many rows (and of each class) each split receives, as planned for the spec's seed.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitCounts {
    /// One entry per split: its name, its rows and its rows per class (empty for a regression).
    pub splits: Vec<(String, usize, Vec<usize>)>,
    /// Rows left out by a `drop` strategy or a missing group.
    pub dropped: usize,
}

/// The summary of a checked spec. `data_path` is the data source as resolved (shown to the user); `split`, when
/// the split could be planned, adds the rows per split and per class; `memory`, the memory estimate's lines
/// (`memory::Estimate::lines`: the estimate needs the compiler, which comes after the checker), ends it.
pub fn summary(
    spec: &Spec,
    checked: &Checked,
    data_path: &str,
    split: Option<&SplitCounts>,
    memory: Option<&str>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "experiment `{}` (seed {})", spec.name.value, spec.seed.value);
    let _ = writeln!(out);
    model_table(&mut out, checked);
    let _ = writeln!(out);
    data_summary(&mut out, spec, checked, data_path, split);
    if let Some(memory) = memory {
        let _ = writeln!(out);
        out.push_str(memory);
    }
    out
}

fn split_table(out: &mut String, checked: &Checked, split: &SplitCounts) {
    if split.dropped > 0 {
        let _ = writeln!(out, "  rows left out by `drop` or a missing group: {}", split.dropped);
    }
    let classes = checked.task.classes();
    let mut header = vec!["split".to_string(), "rows".to_string()];
    header.extend(classes.iter().cloned());
    let mut rows = vec![header];
    for (name, count, per_class) in &split.splits {
        let mut row = vec![name.clone(), count.to_string()];
        row.extend(per_class.iter().map(usize::to_string));
        rows.push(row);
    }
    let columns = rows[0].len();
    let widths: Vec<usize> =
        (0..columns).map(|c| rows.iter().map(|row| row.get(c).map_or(0, String::len)).max().unwrap_or(0)).collect();
    let _ = writeln!(out, "  rows per split{}:", if classes.is_empty() { "" } else { " and class" });
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(
                |(c, cell)| {
                    if c == 0 {
                        format!("{cell:<w$}", w = widths[c])
                    } else {
                        format!("{cell:>w$}", w = widths[c])
                    }
                },
            )
            .collect();
        let _ = writeln!(out, "    {}", cells.join("  "));
    }
}

fn model_table(out: &mut String, checked: &Checked) {
    let mut rows = vec![("input".to_string(), format_shape(&checked.input_shape), "0".to_string())];
    for (index, layer) in checked.layers.iter().enumerate() {
        rows.push((format!("{} ({})", index + 1, layer.kind), format_shape(&layer.output), group_digits(layer.params)));
    }
    let widths = [
        rows.iter().map(|row| row.0.len()).max().unwrap_or(0).max(5),
        rows.iter().map(|row| row.1.len()).max().unwrap_or(0).max(12),
        rows.iter().map(|row| row.2.len()).max().unwrap_or(0).max(10),
    ];
    let rule = "-".repeat(widths[0] + widths[1] + widths[2] + 4);
    let _ = writeln!(out, "model");
    let _ = writeln!(
        out,
        "{:<w0$}  {:<w1$}  {:>w2$}",
        "layer",
        "output shape",
        "parameters",
        w0 = widths[0],
        w1 = widths[1],
        w2 = widths[2]
    );
    let _ = writeln!(out, "{rule}");
    for (name, shape, params) in rows {
        let _ =
            writeln!(out, "{name:<w0$}  {shape:<w1$}  {params:>w2$}", w0 = widths[0], w1 = widths[1], w2 = widths[2]);
    }
    let _ = writeln!(out, "{rule}");
    let total = checked.total_params();
    let trainable = checked.trainable_params();
    let _ = writeln!(out, "total parameters: {}", group_digits(total));
    let _ = writeln!(out, "trainable parameters: {}", group_digits(trainable));
    if total != trainable {
        let _ = writeln!(out, "non-trainable parameters: {}", group_digits(total - trainable));
    }
}

fn data_summary(out: &mut String, spec: &Spec, checked: &Checked, data_path: &str, split: Option<&SplitCounts>) {
    let data = &spec.data;
    let _ = writeln!(out, "data");
    let what = match &data.source.value {
        Source::Csv { .. } => "rows",
        Source::Images { .. } => "images",
    };
    let _ = writeln!(out, "  source: {data_path} ({} {what})", checked.rows);
    if checked.target_missing > 0 {
        let _ = writeln!(out, "  rows dropped for a missing target: {}", checked.target_missing);
    }
    match &checked.task {
        Task::Regression => {
            let _ = writeln!(out, "  target: `{}` (a number: regression)", data.target.value);
        }
        Task::Binary { classes, positive, positive_is_default } => {
            let _ = writeln!(out, "  target: `{}` (2 classes: binary)", data.target.value);
            class_lines(out, classes, &checked.class_counts);
            let how = if *positive_is_default {
                " (by default the last class in sort order; set `positive` to change it)"
            } else {
                ""
            };
            let _ = writeln!(out, "  positive class: `{}`{how}", classes[*positive]);
        }
        Task::Multiclass { classes } => {
            let _ = writeln!(out, "  target: `{}` ({} classes)", data.target.value, classes.len());
            class_lines(out, classes, &checked.class_counts);
        }
    }
    let _ = writeln!(out, "  split: {}", split_phrase(&data.split.value));
    if let Some(split) = split {
        split_table(out, checked, split);
    }
    class_weight_lines(out, data);
    if checked.features.is_empty() {
        return;
    }
    let inputs: usize = checked.features.iter().map(|feature| feature.width).sum();
    let _ = writeln!(
        out,
        "  features: {} columns -> {inputs} input values, scaled `{}`",
        checked.features.len(),
        data.scale.value
    );
    let name_width = checked.features.iter().map(|feature| feature.name.len()).max().unwrap_or(0).max(6);
    let _ = writeln!(out, "    {:<name_width$}  {:<11}  {:>6}  {:>7}  fill", "column", "kind", "inputs", "missing");
    for feature in &checked.features {
        let fill = if feature.missing > 0 { feature.impute.name() } else { "-" };
        let _ = writeln!(
            out,
            "    {:<name_width$}  {:<11}  {:>6}  {:>7}  {fill}",
            feature.name,
            feature.kind.name(),
            feature.width,
            feature.missing,
        );
    }
}

/// The class weights, and whether the risks reported are corrected for them.
fn class_weight_lines(out: &mut String, data: &crate::spec::ast::Data) {
    let (Some(weights), Some(correction)) = (&data.class_weight, data.risk_correction()) else { return };
    let weights = match &weights.value {
        ClassWeight::Balanced => {
            "balanced (each class weighs rows / (classes × its rows), over the training rows)".to_string()
        }
        ClassWeight::Explicit(given) => {
            let given: Vec<String> =
                given.iter().map(|(class, weight)| format!("{} {}", class.value, trim_float(weight.value))).collect();
            format!("{} (1 for a class not named)", given.join(", "))
        }
    };
    let _ = writeln!(out, "  class weights: {weights}");
    let correction = match correction {
        RiskCorrection::Prior => {
            "prior (reported risks corrected back to the training prevalence, Saerens et al. 2002)"
        }
        RiskCorrection::None => "none (reported risks reflect the weighted classes, not the training prevalence)",
    };
    let _ = writeln!(out, "  risk correction: {correction}");
}

fn class_lines(out: &mut String, classes: &[String], counts: &[usize]) {
    let total: usize = counts.iter().sum();
    for (class, count) in classes.iter().zip(counts) {
        let share = if total > 0 { 100.0 * *count as f64 / total as f64 } else { 0.0 };
        let _ = writeln!(out, "    {class}: {count} ({share:.1}%)");
    }
}

fn split_phrase(split: &Split) -> String {
    let extras = |stratify: bool, group: &Option<crate::spec::ast::Spanned<String>>| {
        let mut text = String::new();
        if stratify {
            text.push_str(", stratified");
        }
        if let Some(group) = group {
            let _ = write!(text, ", grouped by `{}`", group.value);
        }
        text
    };
    match split {
        Split::Fractions { train, val, test, stratify, group } => format!(
            "train {} / val {} / test {}{}",
            trim_float(train.value),
            trim_float(val.value),
            trim_float(test.value),
            extras(stratify.value, group)
        ),
        Split::Column { column } => format!("as given by the column `{}`", column.value),
        Split::TestFile { path, val, stratify, group } => {
            format!(
                "test rows from {}; val {} of the rest{}",
                path.value,
                trim_float(val.value),
                extras(stratify.value, group)
            )
        }
        Split::KFold { folds, test, stratify, group } => {
            format!(
                "{}-fold cross-validation after holding out test {}{}",
                folds.value,
                trim_float(test.value),
                extras(stratify.value, group)
            )
        }
    }
}

/// `12345` as `12,345`.
pub fn group_digits(value: usize) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
