//! What a run reports: `metrics.json` (per epoch and final, per split, with cross-validation when asked), the test
//! split's predictions, the plots, and the summary `galen train` prints.

use serde_json::{json, Map, Value};

use super::{RunDir, METRICS, PLOTS, TEST_PREDICTIONS};
use crate::check::{Checked, Task};
use crate::data::dataset::{Prepared, SplitData};
use crate::data::split::Assigned;
use crate::data::transform::Targets;
use crate::diagnostics::Diagnostic;
use crate::metrics::PriorCorrection;
use crate::plots;
use crate::runtime::train::{Ending, EpochRecord, Fit, Runner, SplitOutputs, SplitScore};
use crate::spec::ast::{Metric, Source, Spec, Split};

/// The keys of a split's metrics that hold curves for the plots.
pub const CURVES: &[&str] = &["roc_curve", "roc_curves", "calibration_curve"];

/// Numbers by metric name, in report order.
pub type Named = Vec<(String, f64)>;

/// One cross-validation fold's result.
#[derive(Clone, Debug)]
pub struct FoldResult {
    /// Rows the fold trained on.
    pub train_rows: usize,
    /// The fold's training.
    pub fit: Fit,
    /// The held-out fold's score with the fold's final weights.
    pub val: SplitScore,
}

/// Everything a finished run reports.
#[derive(Clone, Debug)]
pub struct Report {
    /// The final model's epochs.
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights are the model.
    pub result_epoch: usize,
    /// Early stopping's best epoch.
    pub best_epoch: Option<usize>,
    /// Why training ended.
    pub ending: Ending,
    /// Epochs the final model was trained for.
    pub epochs: usize,
    /// The training split, scored with the final weights in inference mode.
    pub train: SplitScore,
    /// The validation split, when there is one.
    pub val: Option<SplitScore>,
    /// The test split with its outputs, when there is one.
    pub test: Option<(SplitScore, SplitOutputs)>,
    /// Cross-validation folds.
    pub folds: Vec<FoldResult>,
    /// The metric names the spec lists, for the headline.
    pub headline: Vec<String>,
    /// What changed for the final model after cross-validation (settings dropped, epochs chosen).
    pub refit_changes: Vec<String>,
    /// With class weights, the correction of the final model's risks (applied with `prior`, recorded with `none`).
    pub risk_correction: Option<PriorCorrection>,
    /// The class names, for the correction's summary.
    pub classes: Vec<String>,
}

impl Report {
    /// Scores the final weights on every split: the test split (and validation) with bootstrap confidence
    /// intervals from the spec's seed.
    pub fn build(
        spec: &Spec,
        checked: &Checked,
        runner: &mut Runner,
        prepared: &Prepared,
        fit: Fit,
        folds: Vec<FoldResult>,
        epochs: usize,
    ) -> Report {
        let seed = Some(spec.seed.value);
        let train = runner.score(&prepared.train, &fit.values, None);
        let val = (!prepared.val.is_empty()).then(|| runner.score(&prepared.val, &fit.values, seed));
        let test = (!prepared.test.is_empty()).then(|| {
            let outputs = runner.evaluate(&prepared.test, &fit.values);
            (runner.score_outputs(&prepared.test, &outputs, seed), outputs)
        });
        let headline = spec.metrics.value.iter().map(|metric| metric.value.to_string()).collect();
        Report {
            history: fit.history,
            result_epoch: fit.result_epoch,
            best_epoch: fit.best_epoch,
            ending: fit.ending,
            epochs,
            train,
            val,
            test,
            folds,
            headline,
            refit_changes: Vec::new(),
            risk_correction: runner.risk_correction().cloned(),
            classes: checked.task.classes().to_vec(),
        }
    }

    /// `metrics.json`: no times, so that a rerun writes the same bytes.
    pub fn to_json(&self, spec: &Spec, checked: &Checked) -> Value {
        let mut root = Map::new();
        root.insert("experiment".into(), json!(spec.name.value));
        root.insert("seed".into(), json!(spec.seed.value));
        root.insert("task".into(), task_json(&checked.task));
        if let Some(correction) = &self.risk_correction {
            let mut record = correction.to_json();
            let scope = if correction.applies() {
                "every probability and metric here (each epoch's and the final ones) is of the corrected risks; \
                 the losses are of the model's uncorrected outputs, as training computes them"
            } else {
                "the risks are the weighted model's, not corrected"
            };
            if let Value::Object(map) = &mut record {
                map.insert("scope".into(), json!(scope));
            }
            root.insert("risk_correction".into(), record);
        }
        let ending = match self.ending {
            Ending::Completed => json!({"status": "completed"}),
            Ending::EarlyStopped { epoch } => json!({"status": "stopped early", "epoch": epoch}),
            Ending::Interrupted { epoch } => json!({"status": "interrupted", "epoch": epoch}),
        };
        root.insert(
            "training".into(),
            json!({
                "epochs": self.epochs,
                "epochs_run": self.history.len(),
                "model_epoch": self.result_epoch,
                "best_epoch": self.best_epoch,
                "ending": ending,
            }),
        );
        let epochs: Vec<Value> = self
            .history
            .iter()
            .map(|record| {
                let mut entry = Map::new();
                entry.insert("epoch".into(), json!(record.epoch));
                entry.insert("learning_rate".into(), number(record.learning_rate));
                entry.insert("train".into(), json!({"loss": number(record.loss)}));
                if let Some(val) = &record.val {
                    // The curves of every epoch would swamp the file; the final splits keep theirs.
                    let mut val = split_json(val);
                    if let Value::Object(map) = &mut val {
                        map.retain(|key, _| !CURVES.contains(&key.as_str()));
                    }
                    entry.insert("val".into(), val);
                }
                Value::Object(entry)
            })
            .collect();
        root.insert("epochs".into(), Value::Array(epochs));
        let mut last = Map::new();
        last.insert("train".into(), split_json(&self.train));
        if let Some(val) = &self.val {
            last.insert("val".into(), split_json(val));
        }
        if let Some((test, _)) = &self.test {
            last.insert("test".into(), split_json(test));
        }
        root.insert("final".into(), Value::Object(last));
        if !self.folds.is_empty() {
            root.insert("cross_validation".into(), self.folds_json());
        }
        Value::Object(root)
    }

    fn folds_json(&self) -> Value {
        let folds: Vec<Value> = self
            .folds
            .iter()
            .enumerate()
            .map(|(index, fold)| {
                json!({
                    "fold": index + 1,
                    "train_rows": fold.train_rows,
                    "epochs_run": fold.fit.history.len(),
                    "model_epoch": fold.fit.result_epoch,
                    "val": split_json(&fold.val),
                })
            })
            .collect();
        let (mean, sd) = self.fold_summary();
        let as_map = |pairs: &[(String, f64)]| -> Value {
            Value::Object(pairs.iter().map(|(name, value)| (name.clone(), number(*value))).collect())
        };
        json!({
            "folds": folds,
            "mean": as_map(&mean),
            "sd": as_map(&sd),
            "refit": {"rows": "every non-test row", "epochs": self.epochs, "changes": self.refit_changes},
        })
    }

    /// The mean and sample standard deviation over folds of the loss and every single-number metric, over the folds
    /// where it is defined.
    pub fn fold_summary(&self) -> (Named, Named) {
        let mut names = vec!["loss".to_string()];
        for fold in &self.folds {
            for (name, _) in fold.val.scores.numbers() {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        let mut mean = Vec::new();
        let mut sd = Vec::new();
        for name in names {
            let values: Vec<f64> = self.folds.iter().filter_map(|fold| fold.val.value(&name)).collect();
            if values.is_empty() {
                continue;
            }
            let (m, s) = mean_sd(&values);
            mean.push((name.clone(), m));
            sd.push((name, s));
        }
        (mean, sd)
    }

    /// Writes `metrics.json`, the test predictions and the plots.
    pub fn write(&self, run: &RunDir, spec: &Spec, checked: &Checked, prepared: &Prepared) -> Result<(), Diagnostic> {
        // A JSON value's alternate display is serde_json's pretty printer, and cannot fail.
        run.write(METRICS, format!("{:#}\n", self.to_json(spec, checked)).as_bytes())?;
        if let Some((_, outputs)) = &self.test {
            let group = spec.data.split.value.group().map(|group| group.value.as_str());
            let groups = group.zip(prepared.test_groups.as_deref());
            run.write(TEST_PREDICTIONS, predictions_csv(&checked.task, &prepared.test, groups, outputs).as_bytes())?;
        }
        self.write_plots(run, spec, checked)
    }

    fn write_plots(&self, run: &RunDir, spec: &Spec, checked: &Checked) -> Result<(), Diagnostic> {
        let title = &spec.name.value;
        let single = |name: &&String| Metric::from_name(name).is_some_and(Metric::is_single_number);
        let monitored = self.headline.iter().find(single).cloned();
        let points: Vec<plots::EpochPoint> = self
            .history
            .iter()
            .map(|record| plots::EpochPoint {
                epoch: record.epoch,
                train_loss: record.loss,
                val_loss: record.val.as_ref().map(|val| val.loss),
                val_metric: monitored.as_ref().and_then(|name| Some((name.clone(), record.val.as_ref()?.value(name)?))),
            })
            .collect();
        let validation = self.val.as_ref().map_or(String::new(), |val| format!(", validation n = {}", val.rows));
        let curves = format!("{title}: learning curves (training n = {}{validation})", self.train.rows);
        let mut svgs = vec![("learning_curves.svg", plots::learning_curves(&curves, &points, self.best_epoch))];
        let scored = match (&self.test, &self.val) {
            (Some((test, _)), _) => Some(("test split", test)),
            (None, Some(val)) => Some(("validation split", val)),
            (None, None) => None,
        };
        if let Some((split, scored)) = scored {
            svgs.extend(split_plots(title, split, &checked.task, scored));
        }
        for (name, svg) in svgs {
            let svg = svg.map_err(|error| Diagnostic::error("run::plot", format!("cannot draw `{name}`: {error}")))?;
            run.write(&format!("{PLOTS}/{name}"), svg.as_bytes())?;
        }
        Ok(())
    }

    /// The summary `galen train` prints: the final splits' metrics, clinical names first.
    pub fn summary(&self) -> String {
        let mut text = String::new();
        let ending = match self.ending {
            Ending::Completed => format!("trained {} epochs", self.history.len()),
            Ending::EarlyStopped { epoch } => format!(
                "early stopping after epoch {epoch}; the model is epoch {}'s (best {})",
                self.result_epoch,
                self.best_epoch.map_or("none".to_string(), |epoch| epoch.to_string())
            ),
            Ending::Interrupted { epoch } => {
                format!("interrupted during epoch {epoch}; the model is epoch {}'s", self.result_epoch)
            }
        };
        text.push_str(&format!("{ending}\n"));
        if let Some(correction) = &self.risk_correction {
            text.push_str(&format!("{}\n", super::risk::summary_line(correction, &self.classes)));
        }
        let scored = match (&self.test, &self.val) {
            (Some((test, _)), _) => Some(("test", test)),
            (None, Some(val)) => Some(("validation", val)),
            (None, None) => None,
        };
        if let Some((split, score)) = scored {
            let names: Vec<&str> = self.headline.iter().map(String::as_str).collect();
            let headline: Vec<String> =
                score.scores.headline(&names).iter().map(|(name, value)| format!("{name} {value:.4}")).collect();
            if !headline.is_empty() {
                text.push_str(&format!("headline ({split}): {}\n", headline.join(", ")));
            }
        }
        if !self.folds.is_empty() {
            let (mean, sd) = self.fold_summary();
            text.push_str(&format!("\ncross-validation ({} folds, mean ± sd)\n", self.folds.len()));
            for ((name, m), (_, s)) in mean.iter().zip(&sd) {
                text.push_str(&format!("  {name:<24} {m:.4} ± {s:.4}\n"));
            }
            for change in &self.refit_changes {
                text.push_str(&format!("final model: {change}\n"));
            }
        }
        let mut splits = vec![("validation", self.val.as_ref())];
        splits.push(("test", self.test.as_ref().map(|(test, _)| test)));
        for (name, split) in splits {
            let Some(split) = split else { continue };
            text.push('\n');
            text.push_str(&split_text(name, split));
        }
        text
    }
}

/// The plots of a classifier's scored split, by file name: the ROC curve, the calibration curve and the confusion
/// matrix (titled with the threshold behind it); none for a regression. Each title names the experiment, the split
/// (`split`: `test split`, `` `new.csv` ``) and its n, and the positive class of a binary model.
pub fn split_plots(
    experiment: &str,
    split: &str,
    task: &Task,
    scored: &SplitScore,
) -> Vec<(&'static str, Result<String, String>)> {
    let mut svgs = Vec::new();
    let positive = match task {
        Task::Binary { classes, positive, .. } => format!(", positive class {}", classes[*positive]),
        Task::Multiclass { .. } => String::new(),
        Task::Regression => return svgs,
    };
    let title = format!("{experiment}: {split}, n = {}{positive}", scored.rows);
    let title = &title;
    if let Some(series) = scored.scores.roc_series() {
        svgs.push(("roc.svg", plots::roc_curve(title, &series)));
    }
    if let Some(bins) = scored.scores.calibration_bins() {
        let title = match task {
            Task::Multiclass { .. } => format!("{title} (each class against the rest, pooled)"),
            _ => title.to_string(),
        };
        svgs.push(("calibration.svg", plots::calibration_curve(&title, &bins)));
    }
    if let Some((classes, counts)) = scored.scores.confusion() {
        let rule = scored.scores.threshold_rule().unwrap_or_default();
        let title = format!("{title} (at {rule})");
        svgs.push(("confusion_matrix.svg", plots::confusion_matrix(&title, &classes, &counts)));
    }
    svgs
}

/// A split's metrics as `galen train` and `galen eval` print them: `NAME (N rows)`, then a line per metric.
pub fn split_text(name: &str, split: &SplitScore) -> String {
    let mut text = format!("{name} ({} rows)\n", split.rows);
    for line in split.scores.lines() {
        text.push_str(&format!("  {line}\n"));
    }
    text
}

/// The mean and the sample standard deviation (n - 1; 0 for one value).
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let variance = values.iter().map(|value| (value - mean) * (value - mean)).sum::<f64>() / (n - 1.0);
    (mean, variance.sqrt())
}

fn number(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

fn split_json(score: &SplitScore) -> Value {
    let mut map = Map::new();
    map.insert("rows".into(), json!(score.rows));
    map.insert("loss".into(), number(score.loss));
    if let Value::Object(metrics) = score.scores.to_json() {
        for (key, value) in metrics {
            if key != "rows" {
                map.insert(key, value);
            }
        }
    }
    Value::Object(map)
}

fn task_json(task: &Task) -> Value {
    match task {
        Task::Binary { classes, positive, .. } => {
            json!({"kind": "binary", "classes": classes, "positive": classes.get(*positive)})
        }
        Task::Multiclass { classes } => json!({"kind": "multiclass", "classes": classes}),
        Task::Regression => json!({"kind": "regression"}),
    }
}

/// The header of a predictions file: `p_CLASS` columns (P(positive) alone for a binary task) and `predicted`.
pub fn probability_columns(task: &Task) -> Vec<String> {
    match task {
        Task::Binary { classes, positive, .. } => vec![format!("p_{}", classes[*positive])],
        Task::Multiclass { classes } => classes.iter().map(|class| format!("p_{class}")).collect(),
        Task::Regression => Vec::new(),
    }
}

/// One output row as `p_...` cells and the predicted class (or the predicted number).
pub fn prediction_cells(task: &Task, output: &[f32]) -> Vec<String> {
    match task {
        Task::Binary { classes, positive, .. } => {
            let p = output.first().copied().unwrap_or(f32::NAN);
            let p = if output.len() == 2 { output[*positive] } else { p };
            let predicted = if p >= 0.5 { *positive } else { 1 - *positive };
            vec![p.to_string(), classes[predicted].clone()]
        }
        Task::Multiclass { classes } => {
            let best =
                output.iter().enumerate().fold(0, |best, (class, &p)| if p > output[best] { class } else { best });
            let mut cells: Vec<String> = output.iter().map(f32::to_string).collect();
            cells.push(classes.get(best).cloned().unwrap_or_default());
            cells
        }
        Task::Regression => vec![output.first().map_or(String::new(), f32::to_string)],
    }
}

/// A row's number as the run's files write it: its place among the data rows of its file, counted from 1 (the
/// header is not counted, so a file's line is this number plus one). `test_predictions.csv` and `splits.csv`
/// share it, so that they join on it.
pub fn row_number(row: usize) -> usize {
    row + 1
}

/// `splits.csv`: where every data row went, one line per row in file order, with the columns `file` (the data
/// file as the spec writes it: `data.source`, or `split.test_file` for the rows of a test file), `row` (as
/// [`row_number`] counts, as in `test_predictions.csv`), `split` (`train`, `val`, `test`, or `dropped` for a row
/// left out before the split: a missing target, a `drop` strategy's gap, a missing group; a test file's row left
/// out likewise) and `fold` (under k-fold, the fold that holds the row out, from 1; empty otherwise). Under
/// k-fold the final model's training rows are every non-test row, so they are `train` with their fold.
pub fn splits_csv(spec: &Spec, rows: usize, prepared: &Prepared) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let _ = writer.write_record(["file", "row", "split", "fold"]);
    let source = match &spec.data.source.value {
        Source::Csv { path, .. } => &path.value,
        Source::Images { manifest: Some(manifest), .. } => &manifest.value,
        Source::Images { dir, .. } => &dir.value,
    };
    for (row, (split, fold)) in prepared.plan.assignment(rows).into_iter().enumerate() {
        let fold = fold.map_or(String::new(), |fold| fold.to_string());
        let _ = writer.write_record([source, &row_number(row).to_string(), split.name(), &fold]);
    }
    if let Split::TestFile { path, .. } = &spec.data.split.value {
        let mut assigned = vec![Assigned::Dropped; prepared.test_file_rows];
        for &row in &prepared.test.rows {
            if let Some(split) = assigned.get_mut(row) {
                *split = Assigned::Test;
            }
        }
        for (row, split) in assigned.into_iter().enumerate() {
            let _ = writer.write_record([&path.value, &row_number(row).to_string(), split.name(), ""]);
        }
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// The test split's predictions: `row` (the row's number among the data rows of its file, from 1), the split's
/// group column when it has one (the column's name, a cell per row), the truth, the probabilities and the predicted
/// class.
fn predictions_csv(
    task: &Task,
    split: &SplitData,
    groups: Option<(&str, &[String])>,
    outputs: &SplitOutputs,
) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["row".to_string()];
    header.extend(groups.map(|(name, _)| name.to_string()));
    header.push("truth".to_string());
    header.extend(probability_columns(task));
    header.push("predicted".to_string());
    let _ = writer.write_record(&header);
    for (position, &row) in split.rows.iter().enumerate() {
        let truth = match (&split.targets, task) {
            (Targets::Classes(classes), _) => task.classes()[classes[position] as usize].clone(),
            (Targets::Numbers(numbers), _) => numbers[position].to_string(),
        };
        let output = outputs.outputs.row(position).to_vec();
        let mut record = vec![row_number(row).to_string()];
        record.extend(groups.map(|(_, cells)| cells.get(position).cloned().unwrap_or_default()));
        record.push(truth);
        record.extend(prediction_cells(task, &output));
        let _ = writer.write_record(&record);
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}
