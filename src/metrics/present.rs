//! The reports as JSON (keys in a fixed order, undefined values `null`) and as aligned lines for the terminal.

use serde_json::{Map, Value};

use super::{
    Averages, BinaryMetrics, CalibrationBin, ClassMetrics, ClassificationReport, ConfidenceInterval, ConfusionMatrix,
    MulticlassMetrics, RegressionReport, RocCurve, TaskMetrics,
};

/// A copy of a JSON value with every non-integer number rounded to `places` decimals, for snapshots.
///
/// The rounding is decimal (the number printed with `places` decimals and read back), so 0.95235 rounds as its
/// exact binary value says; integers such as counts are left as they are, and -0 becomes 0.
pub fn rounded(value: &Value, places: u32) -> Value {
    match value {
        Value::Number(number) if number.is_f64() => {
            let Some(float) = number.as_f64() else { return value.clone() };
            let text = format!("{float:.*}", places as usize);
            let rounded: f64 = text.parse().unwrap_or(float);
            // Adding 0.0 turns -0.0 into 0.0 and leaves every other value as it is.
            Value::from(rounded + 0.0)
        }
        Value::Array(items) => Value::Array(items.iter().map(|item| rounded(item, places)).collect()),
        Value::Object(entries) => {
            Value::Object(entries.iter().map(|(key, item)| (key.clone(), rounded(item, places))).collect())
        }
        _ => value.clone(),
    }
}

impl ClassificationReport {
    /// The rule that turns probabilities into the predicted class behind every threshold-dependent figure
    /// (accuracy, sensitivity, specificity, PPV, NPV, F1, the per-class metrics and the confusion matrix), in
    /// words: `P(positive) >= 0.5` for a binary task, the most probable class (argmax) otherwise.
    pub fn threshold_rule(&self) -> String {
        match &self.task {
            TaskMetrics::Binary(binary) => {
                let positive = self.confusion.classes.get(binary.positive).map_or("", String::as_str);
                format!("P({positive}) >= 0.5")
            }
            TaskMetrics::Multiclass(_) => "the most probable class (argmax)".to_string(),
        }
    }

    /// The threshold as JSON: `{"rule": "probability", "value": 0.5, "class": POSITIVE}` for a binary task,
    /// `{"rule": "argmax"}` otherwise; `applies_to` lists the figures it decides.
    fn threshold_json(&self) -> Value {
        let decided = ["accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "per_class", "macro", "weighted"];
        let applies_to: Value = decided.iter().chain(&["confusion_matrix"]).map(|name| Value::from(*name)).collect();
        let mut json = Map::new();
        match &self.task {
            TaskMetrics::Binary(binary) => {
                json.insert("rule".into(), "probability".into());
                json.insert("value".into(), 0.5.into());
                json.insert("class".into(), self.confusion.classes.get(binary.positive).cloned().into());
            }
            TaskMetrics::Multiclass(_) => {
                json.insert("rule".into(), "argmax".into());
            }
        }
        json.insert("applies_to".into(), applies_to);
        Value::Object(json)
    }

    /// The report as JSON. Keys, in order: `task` (`"binary"` or `"multiclass"`), `rows`, then for a binary task
    /// `positive_class`, `accuracy`, `sensitivity`, `sensitivity_ci`, `specificity`, `specificity_ci`, `ppv`,
    /// `npv`, `f1`, `auroc`, `auroc_ci`, `pr_auc`, `log_loss`, `brier`, `calibration_intercept`,
    /// `calibration_slope`, and for a multi-class task `accuracy`, `auroc`, `pr_auc`, `log_loss`, `brier`; then
    /// `threshold` (the rule behind the threshold-dependent figures), `confusion_matrix` (`classes`, `counts`),
    /// `per_class`, `macro`, `weighted`, and the curves: `roc_curve` (`fpr`, `tpr`, `thresholds`) and
    /// `calibration_curve` (`mean_predicted`, `observed`, `count` per bin) for a binary task, `roc_curves`
    /// (`class`, `roc_curve`) and the pooled one-vs-rest `calibration_curve` for a multi-class one. An interval is
    /// `{"low", "high", "level", "resamples", "usable"}`. Undefined values are `null`.
    pub fn to_json(&self) -> Value {
        let mut json = Map::new();
        match &self.task {
            TaskMetrics::Binary(binary) => {
                json.insert("task".into(), "binary".into());
                json.insert("rows".into(), self.rows.into());
                let positive_class = self.confusion.classes.get(binary.positive).cloned();
                json.insert("positive_class".into(), positive_class.into());
                json.insert("accuracy".into(), number(self.accuracy));
                binary_json(&mut json, binary);
                json.insert("log_loss".into(), number(self.log_loss));
                json.insert("brier".into(), number(self.brier));
                json.insert("calibration_intercept".into(), number(binary.calibration_intercept));
                json.insert("calibration_slope".into(), number(binary.calibration_slope));
            }
            TaskMetrics::Multiclass(multiclass) => {
                json.insert("task".into(), "multiclass".into());
                json.insert("rows".into(), self.rows.into());
                json.insert("accuracy".into(), number(self.accuracy));
                json.insert("auroc".into(), number(multiclass.auroc));
                json.insert("pr_auc".into(), number(multiclass.pr_auc));
                json.insert("log_loss".into(), number(self.log_loss));
                json.insert("brier".into(), number(self.brier));
            }
        }
        json.insert("threshold".into(), self.threshold_json());
        json.insert("confusion_matrix".into(), confusion_json(&self.confusion));
        json.insert("per_class".into(), self.per_class.iter().map(class_json).collect());
        json.insert("macro".into(), averages_json(&self.macro_average));
        json.insert("weighted".into(), averages_json(&self.weighted_average));
        match &self.task {
            TaskMetrics::Binary(binary) => {
                json.insert("roc_curve".into(), binary.roc_curve.as_ref().map_or(Value::Null, roc_json));
                json.insert("calibration_curve".into(), binary.calibration_curve.iter().map(bin_json).collect());
            }
            TaskMetrics::Multiclass(multiclass) => {
                json.insert("roc_curves".into(), roc_curves_json(&self.confusion.classes, multiclass));
                json.insert("calibration_curve".into(), multiclass.calibration_curve.iter().map(bin_json).collect());
            }
        }
        Value::Object(json)
    }

    /// The report as lines for the terminal: each metric under its clinical name with the machine-learning name
    /// beside it, 4 decimals, the binary intervals after their metric, then a per-class table (multi-class) and
    /// the confusion matrix with class names.
    pub fn lines(&self) -> Vec<String> {
        let mut metrics: Vec<(&str, String)> = vec![("Rows", self.rows.to_string())];
        match &self.task {
            TaskMetrics::Binary(binary) => {
                let positive_class = self.confusion.classes.get(binary.positive).map_or("", String::as_str);
                metrics.push(("Positive class", positive_class.to_string()));
                metrics.push(("Threshold", self.threshold_rule()));
                metrics.push(("Accuracy", decimal(self.accuracy)));
                metrics.push(("Sensitivity (recall)", with_interval(binary.sensitivity, &binary.sensitivity_ci)));
                metrics.push(("Specificity", with_interval(binary.specificity, &binary.specificity_ci)));
                metrics.push(("PPV (precision)", decimal(binary.ppv)));
                metrics.push(("NPV", decimal(binary.npv)));
                metrics.push(("F1", decimal(binary.f1)));
                metrics.push(("AUROC (ROC AUC)", with_interval(binary.auroc, &binary.auroc_ci)));
                metrics.push(("PR AUC (average precision)", decimal(binary.pr_auc)));
                metrics.push(("Log loss (cross-entropy)", decimal(self.log_loss)));
                metrics.push(("Brier score", decimal(self.brier)));
                metrics.push(("Calibration slope", decimal(binary.calibration_slope)));
                metrics.push(("Calibration intercept", decimal(binary.calibration_intercept)));
            }
            TaskMetrics::Multiclass(multiclass) => {
                let one_vs_rest = |value| format!("{}  macro one-vs-rest", decimal(value));
                metrics.push(("Threshold", self.threshold_rule()));
                metrics.push(("Accuracy", decimal(self.accuracy)));
                metrics.push(("AUROC (ROC AUC)", one_vs_rest(multiclass.auroc)));
                metrics.push(("PR AUC (average precision)", one_vs_rest(multiclass.pr_auc)));
                metrics.push(("Log loss (cross-entropy)", decimal(self.log_loss)));
                metrics.push(("Brier score", decimal(self.brier)));
            }
        }
        let mut lines = aligned(&metrics);
        if let TaskMetrics::Multiclass(_) = self.task {
            lines.push(String::new());
            lines.extend(self.per_class_table());
        }
        lines.push(String::new());
        lines.push(format!(
            "Confusion matrix at {} (rows: true class, columns: predicted class)",
            self.threshold_rule()
        ));
        let mut table = vec![std::iter::once(String::new()).chain(self.confusion.classes.iter().cloned()).collect()];
        for (class, counts) in self.confusion.classes.iter().zip(&self.confusion.counts) {
            table.push(std::iter::once(class.clone()).chain(counts.iter().map(u64::to_string)).collect());
        }
        lines.extend(columns(&table));
        lines
    }

    /// The per-class metrics and their averages as a table.
    fn per_class_table(&self) -> Vec<String> {
        let header = ["Class", "Support", "PPV (precision)", "Sensitivity (recall)", "Specificity", "NPV", "F1"];
        let mut table: Vec<Vec<String>> = vec![header.iter().map(|title| title.to_string()).collect()];
        let row = |name: &str, support: u64, values: [Option<f64>; 5]| {
            std::iter::once(name.to_string()).chain([support.to_string()]).chain(values.map(decimal)).collect()
        };
        for class in &self.per_class {
            let values = [class.precision, class.recall, class.specificity, class.npv, class.f1];
            table.push(row(&class.class, class.support, values));
        }
        let support = self.per_class.iter().map(|class| class.support).sum();
        for (name, averages) in [("macro average", &self.macro_average), ("weighted average", &self.weighted_average)] {
            let values = [averages.precision, averages.recall, averages.specificity, averages.npv, averages.f1];
            table.push(row(name, support, values));
        }
        columns(&table)
    }
}

impl RegressionReport {
    /// The report as JSON: `task` (`"regression"`), `rows`, `mse`, `rmse`, `mae`, `r2`; undefined values `null`.
    pub fn to_json(&self) -> Value {
        let mut json = Map::new();
        json.insert("task".into(), "regression".into());
        json.insert("rows".into(), self.rows.into());
        json.insert("mse".into(), number(self.mse));
        json.insert("rmse".into(), number(self.rmse));
        json.insert("mae".into(), number(self.mae));
        json.insert("r2".into(), number(self.r2));
        Value::Object(json)
    }

    /// The report as aligned lines for the terminal, 4 decimals.
    pub fn lines(&self) -> Vec<String> {
        aligned(&[
            ("Rows", self.rows.to_string()),
            ("MSE", decimal(self.mse)),
            ("RMSE", decimal(self.rmse)),
            ("MAE", decimal(self.mae)),
            ("R² (coefficient of determination)", decimal(self.r2)),
        ])
    }
}

/// The metrics of the positive class, each interval after its metric.
fn binary_json(json: &mut Map<String, Value>, binary: &BinaryMetrics) {
    json.insert("sensitivity".into(), number(binary.sensitivity));
    json.insert("sensitivity_ci".into(), interval_json(&binary.sensitivity_ci));
    json.insert("specificity".into(), number(binary.specificity));
    json.insert("specificity_ci".into(), interval_json(&binary.specificity_ci));
    json.insert("ppv".into(), number(binary.ppv));
    json.insert("npv".into(), number(binary.npv));
    json.insert("f1".into(), number(binary.f1));
    json.insert("auroc".into(), number(binary.auroc));
    json.insert("auroc_ci".into(), interval_json(&binary.auroc_ci));
    json.insert("pr_auc".into(), number(binary.pr_auc));
}

/// `{"low", "high", "level", "resamples", "usable"}`.
fn interval_json(interval: &ConfidenceInterval) -> Value {
    let mut json = Map::new();
    json.insert("low".into(), number(interval.low));
    json.insert("high".into(), number(interval.high));
    json.insert("level".into(), number(Some(interval.level)));
    json.insert("resamples".into(), interval.resamples.into());
    json.insert("usable".into(), interval.usable.into());
    Value::Object(json)
}

/// `{"classes", "counts"}`, counts by true class then predicted class.
fn confusion_json(confusion: &ConfusionMatrix) -> Value {
    let mut json = Map::new();
    json.insert("classes".into(), confusion.classes.clone().into());
    json.insert("counts".into(), confusion.counts.clone().into());
    Value::Object(json)
}

/// One class against the rest.
fn class_json(class: &ClassMetrics) -> Value {
    let mut json = Map::new();
    json.insert("class".into(), class.class.clone().into());
    json.insert("support".into(), class.support.into());
    json.insert("precision".into(), number(class.precision));
    json.insert("recall".into(), number(class.recall));
    json.insert("specificity".into(), number(class.specificity));
    json.insert("npv".into(), number(class.npv));
    json.insert("f1".into(), number(class.f1));
    Value::Object(json)
}

/// An average over classes.
fn averages_json(averages: &Averages) -> Value {
    let mut json = Map::new();
    json.insert("precision".into(), number(averages.precision));
    json.insert("recall".into(), number(averages.recall));
    json.insert("specificity".into(), number(averages.specificity));
    json.insert("npv".into(), number(averages.npv));
    json.insert("f1".into(), number(averages.f1));
    Value::Object(json)
}

/// `{"fpr", "tpr", "thresholds"}`; the first threshold, +∞, is `null`.
fn roc_json(curve: &RocCurve) -> Value {
    let numbers = |values: &[f64]| values.iter().map(|&value| number(Some(value))).collect::<Value>();
    let mut json = Map::new();
    json.insert("fpr".into(), numbers(&curve.fpr));
    json.insert("tpr".into(), numbers(&curve.tpr));
    json.insert("thresholds".into(), numbers(&curve.thresholds));
    Value::Object(json)
}

/// One bin of the calibration curve.
fn bin_json(bin: &CalibrationBin) -> Value {
    let mut json = Map::new();
    json.insert("mean_predicted".into(), number(Some(bin.mean_predicted)));
    json.insert("observed".into(), number(Some(bin.observed)));
    json.insert("count".into(), bin.count.into());
    Value::Object(json)
}

/// `[{"class", "roc_curve"}]`, one entry per class.
fn roc_curves_json(classes: &[String], multiclass: &MulticlassMetrics) -> Value {
    classes
        .iter()
        .zip(&multiclass.roc_curves)
        .map(|(class, curve)| {
            let mut json = Map::new();
            json.insert("class".into(), class.clone().into());
            json.insert("roc_curve".into(), curve.as_ref().map_or(Value::Null, roc_json));
            Value::Object(json)
        })
        .collect()
}

/// A JSON number, `null` when undefined or not finite.
fn number(value: Option<f64>) -> Value {
    value.filter(|value| value.is_finite()).map_or(Value::Null, Value::from)
}

/// A value with 4 decimals, or `undefined`.
fn decimal(value: Option<f64>) -> String {
    value.map_or_else(|| "undefined".to_string(), |value| format!("{value:.4}"))
}

/// A value followed by its interval, `0.9524  95% CI 0.8810–1.0000`, with the usable resamples when some were
/// skipped.
fn with_interval(value: Option<f64>, interval: &ConfidenceInterval) -> String {
    let level = format!("{}% CI", (interval.level * 100.0).round());
    let bounds = match (interval.low, interval.high) {
        (Some(low), Some(high)) => format!("{level} {low:.4}–{high:.4}"),
        _ => format!("{level} undefined"),
    };
    let skipped = if interval.usable < interval.resamples {
        format!(" ({} of {} resamples usable)", interval.usable, interval.resamples)
    } else {
        String::new()
    };
    format!("{}  {bounds}{skipped}", decimal(value))
}

/// Names padded to one column, two spaces before the values.
fn aligned(metrics: &[(&str, String)]) -> Vec<String> {
    let width = metrics.iter().map(|(name, _)| name.chars().count()).max().unwrap_or(0);
    metrics.iter().map(|(name, value)| format!("{name:<width$}  {value}")).collect()
}

/// A table: the first column left-aligned, the others right-aligned, columns two spaces apart.
fn columns(table: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = Vec::new();
    for row in table {
        for (column, cell) in row.iter().enumerate() {
            let width = cell.chars().count();
            match widths.get_mut(column) {
                Some(existing) => *existing = (*existing).max(width),
                None => widths.push(width),
            }
        }
    }
    table
        .iter()
        .map(|row| {
            let cells = row.iter().zip(&widths).enumerate().map(|(column, (cell, &width))| match column {
                0 => format!("{cell:<width$}"),
                _ => format!("{cell:>width$}"),
            });
            cells.collect::<Vec<_>>().join("  ").trim_end().to_string()
        })
        .collect()
}
