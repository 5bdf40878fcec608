//! Clinical and machine-learning metrics over a whole split, with seeded bootstrap confidence intervals.
//!
//! [`classification`] takes a classifier's predicted probabilities for every row of a split and reports everything
//! that applies to the task; [`regression`] does the same for predicted numbers. The reports serialise to JSON
//! ([`ClassificationReport::to_json`]) and print as aligned lines for the terminal ([`ClassificationReport::lines`]),
//! each metric under its clinical name with the machine-learning name beside it.
//!
//! The definitions follow scikit-learn (named on each field) so that the numbers can be checked against it; the
//! unit tests compare with values computed by scikit-learn and statsmodels (`tests/data/metrics/known_values.py`).
//!
//! Undefined is not zero: a metric whose denominator is zero (sensitivity with no positive rows), that needs both
//! classes (AUROC), that is fitted and does not converge (the calibration slope of perfectly separated
//! predictions), or that reads a probability that is not finite is `None`, printed as `undefined` and written as
//! JSON `null`. Every `Some` value in a report is finite. The one exception is taken from scikit-learn so that the
//! averages match it: the macro and weighted averages count an undefined per-class value as 0.
//!
//! **Architecture invariant:** this module is pure (no I/O, no clock, no thread-local randomness: resampling
//! draws from [`Streams::stream`](crate::rng::Streams::stream)`(Purpose::Bootstrap)`) and never panics on any
//! input; a shape mismatch between the truth and the predictions is an [`InputError`].
//!
//! ```
//! use galen::metrics::{classification, Bootstrap, ClassPredictions};
//! use ndarray::array;
//!
//! let classes = vec!["benign".to_string(), "malignant".to_string()];
//! let truth = [0, 0, 1, 1];
//! let probabilities = array![[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.55, 0.45]];
//! let predictions =
//!     ClassPredictions { classes: &classes, truth: &truth, probabilities: probabilities.view(), positive: Some(1) };
//! let report = classification(&predictions, Bootstrap::new(42)).unwrap();
//! assert_eq!(report.accuracy, Some(0.75));
//! let headline = report.headline(&["sensitivity", "auc"]);
//! assert_eq!(headline, vec![("sensitivity".to_string(), 0.5), ("auc".to_string(), 1.0)]);
//! for line in report.lines() {
//!     println!("{line}");
//! }
//! ```

mod bootstrap;
mod calibration;
mod counts;
mod present;
pub mod prior;
mod ranking;
#[cfg(test)]
mod tests;

use std::fmt;

use ndarray::ArrayView2;

pub use present::rounded;
pub use prior::PriorCorrection;

/// A classifier's predictions on one split.
#[derive(Clone, Copy, Debug)]
pub struct ClassPredictions<'a> {
    /// Class names in index order.
    pub classes: &'a [String],
    /// The true class index of each row.
    pub truth: &'a [usize],
    /// The predicted probability of each class (rows × classes). For a binary model with one sigmoid unit the
    /// caller builds `[1 - p, p]` in class order.
    pub probabilities: ArrayView2<'a, f64>,
    /// `Some(index of the positive class)` for a binary task (exactly two classes); `None` for a multi-class task.
    pub positive: Option<usize>,
}

/// How to resample for the confidence intervals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bootstrap {
    /// How many resamples of the rows to draw (0 leaves every interval undefined).
    pub resamples: usize,
    /// The seed of the bootstrap stream (the spec's seed).
    pub seed: u64,
}

/// The truth and the predictions do not fit together: a bug in the caller, reported instead of a panic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InputError {
    /// The truth and the predictions have different numbers of rows.
    RowCount {
        /// Rows of truth.
        truth: usize,
        /// Rows of predictions.
        predictions: usize,
    },
    /// The probabilities have a column count other than the number of classes.
    ClassCount {
        /// Class names given.
        classes: usize,
        /// Probability columns given.
        columns: usize,
    },
    /// A true class index is not the index of a class.
    TruthOutOfRange {
        /// The row, from 0.
        row: usize,
        /// Its true class index.
        index: usize,
        /// Class names given.
        classes: usize,
    },
    /// A positive class was given for a task without exactly two classes, or its index is not 0 or 1.
    Positive {
        /// The positive class index given.
        positive: usize,
        /// Class names given.
        classes: usize,
    },
}

/// Every metric that applies to a classifier's predictions on one split.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassificationReport {
    /// Rows evaluated.
    pub rows: usize,
    /// The share of rows whose predicted class is the true one (scikit-learn `accuracy_score`).
    pub accuracy: Option<f64>,
    /// Counts of true (rows) against predicted (columns) classes.
    pub confusion: ConfusionMatrix,
    /// Mean cross-entropy in nats (scikit-learn `log_loss`): probabilities are clipped to `[ε, 1 - ε]` with ε the
    /// `f64` machine epsilon, as scikit-learn ≥ 1.5 does (older versions clipped at 1e-15). A binary task reads
    /// only the positive class's probability `p`, as `log_loss(y, p)`.
    pub log_loss: Option<f64>,
    /// Brier score (scikit-learn `brier_score_loss`). Binary: the mean of `(p - y)²` with `p` the positive
    /// class's probability and `y` 1 for a positive row. Multi-class: the mean over rows of the sum over classes
    /// of `(p - one-hot)²` (`scale_by_half=False`), which ranges over `[0, 2]`.
    pub brier: Option<f64>,
    /// Metrics of each class against the rest, in class order.
    pub per_class: Vec<ClassMetrics>,
    /// The unweighted mean over classes (scikit-learn `average='macro'` with `labels` every class).
    pub macro_average: Averages,
    /// The mean over classes weighted by support (scikit-learn `average='weighted'`).
    pub weighted_average: Averages,
    /// The metrics of a binary or a multi-class task.
    pub task: TaskMetrics,
}

/// Counts of true against predicted classes.
///
/// The predicted class of a multi-class row is the most probable one, ties going to the lowest index and NaN
/// never winning (a row of NaN predicts class 0). A binary row predicts the positive class when its probability
/// is at least 0.5 (as the training loop does), so `[0.5, 0.5]` predicts the positive class whatever its index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    /// Class names, the order of rows and columns.
    pub classes: Vec<String>,
    /// `counts[true class][predicted class]`.
    pub counts: Vec<Vec<u64>>,
}

/// One class against the rest (scikit-learn `precision_recall_fscore_support` with `labels` every class); a
/// value is `None` where its denominator is zero.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassMetrics {
    /// The class name.
    pub class: String,
    /// Rows whose true class this is.
    pub support: u64,
    /// Precision (PPV): TP / (TP + FP).
    pub precision: Option<f64>,
    /// Recall (sensitivity): TP / (TP + FN).
    pub recall: Option<f64>,
    /// Specificity: TN / (TN + FP).
    pub specificity: Option<f64>,
    /// Negative predictive value: TN / (TN + FN).
    pub npv: Option<f64>,
    /// F1: 2 TP / (2 TP + FP + FN), as scikit-learn ≥ 1.3 computes it.
    pub f1: Option<f64>,
}

/// Averages of the per-class metrics. An undefined per-class value counts as 0, as scikit-learn's default
/// `zero_division` does; an average is `None` only when there are no rows. Specificity and NPV are averaged by
/// the same rules as precision and recall.
#[derive(Clone, Debug, PartialEq)]
pub struct Averages {
    /// Averaged precision (PPV).
    pub precision: Option<f64>,
    /// Averaged recall (sensitivity).
    pub recall: Option<f64>,
    /// Averaged specificity.
    pub specificity: Option<f64>,
    /// Averaged negative predictive value.
    pub npv: Option<f64>,
    /// Averaged F1.
    pub f1: Option<f64>,
}

/// The metrics that depend on the kind of classification task.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskMetrics {
    /// Two classes, one of them positive (boxed: it holds the curves and intervals, the other variant little).
    Binary(Box<BinaryMetrics>),
    /// Any number of classes, none positive.
    Multiclass(MulticlassMetrics),
}

/// The clinical metrics of a binary task, for its positive class.
#[derive(Clone, Debug, PartialEq)]
pub struct BinaryMetrics {
    /// The index of the positive class.
    pub positive: usize,
    /// Sensitivity (recall): TP / (TP + FN).
    pub sensitivity: Option<f64>,
    /// Specificity: TN / (TN + FP).
    pub specificity: Option<f64>,
    /// Positive predictive value (precision): TP / (TP + FP).
    pub ppv: Option<f64>,
    /// Negative predictive value: TN / (TN + FN).
    pub npv: Option<f64>,
    /// F1: 2 TP / (2 TP + FP + FN).
    pub f1: Option<f64>,
    /// Area under the ROC curve (c-statistic): the Mann–Whitney probability that a positive row scores above a
    /// negative one, ties counting half (scikit-learn `roc_auc_score`). `None` unless both classes are present.
    pub auroc: Option<f64>,
    /// Average precision, the step-wise area under the precision-recall curve: the sum over distinct thresholds,
    /// from the highest, of the recall gained times the precision there (scikit-learn `average_precision_score`).
    /// `None` without positive rows.
    pub pr_auc: Option<f64>,
    /// Calibration-in-the-large (Van Calster et al. 2016, 2019): `a` in the logistic model
    /// `logit P(y = 1) = a + logit(p)`, the predictions' logit an offset, fitted by Newton's method. 0 is ideal;
    /// negative means the predicted risks are too high. `None` unless both classes are present.
    pub calibration_intercept: Option<f64>,
    /// Calibration slope (Van Calster et al.): `b` in the logistic model `logit P(y = 1) = a + b · logit(p)`,
    /// fitted by Newton's method. 1 is ideal; below 1 means the predictions are too extreme. `None` when the fit
    /// does not exist (one class only, predictions that separate the classes perfectly, a single distinct
    /// prediction). Probabilities are clipped as for the log loss before taking the logit.
    pub calibration_slope: Option<f64>,
    /// The bootstrap interval of the AUROC.
    pub auroc_ci: ConfidenceInterval,
    /// The bootstrap interval of the sensitivity.
    pub sensitivity_ci: ConfidenceInterval,
    /// The bootstrap interval of the specificity.
    pub specificity_ci: ConfidenceInterval,
    /// The ROC curve of the positive class, for plots; `None` unless both classes are present.
    pub roc_curve: Option<RocCurve>,
    /// Observed against predicted risk in 10 uniform bins, for plots.
    pub calibration_curve: Vec<CalibrationBin>,
}

/// The metrics of a multi-class task that are not per class.
#[derive(Clone, Debug, PartialEq)]
pub struct MulticlassMetrics {
    /// The macro average of the one-vs-rest AUROCs (scikit-learn `roc_auc_score(multi_class='ovr',
    /// average='macro')`), over the classes whose AUROC is defined (present, and not the only class present).
    pub auroc: Option<f64>,
    /// The macro average of the one-vs-rest average precisions (scikit-learn `average_precision_score` of the
    /// one-hot truth, `average='macro'`), over the classes present.
    pub pr_auc: Option<f64>,
    /// The one-vs-rest ROC curve of each class, in class order; `None` for a class absent from the truth or the
    /// only one present.
    pub roc_curves: Vec<Option<RocCurve>>,
    /// The one-vs-rest calibration curve with every class pooled: each row gives one (probability of the class,
    /// whether it is the class) pair per class, binned as the binary curve is (classwise calibration, Kull et al.
    /// 2019); probabilities that are not finite are left out.
    pub calibration_curve: Vec<CalibrationBin>,
}

/// A bootstrap percentile interval.
///
/// Rows are resampled with replacement (`resamples` times, each drawing as many rows as the split has, with
/// `gen_range` from the bootstrap stream of `Bootstrap::seed`); resamples where the metric is undefined (one class
/// only) are skipped. The bounds are the 2.5th and 97.5th percentiles of the usable resamples' values, linearly
/// interpolated between order statistics as `numpy.percentile`'s default does.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfidenceInterval {
    /// The lower bound; `None` when no resample was usable.
    pub low: Option<f64>,
    /// The upper bound; `None` when no resample was usable.
    pub high: Option<f64>,
    /// The coverage, 0.95.
    pub level: f64,
    /// Resamples drawn.
    pub resamples: usize,
    /// Resamples where the metric was defined.
    pub usable: usize,
}

/// A ROC curve as scikit-learn's `roc_curve(drop_intermediate=False)`: a point for each distinct score, from the
/// highest, after a first point (0, 0) whose threshold is +∞ (JSON `null`).
#[derive(Clone, Debug, PartialEq)]
pub struct RocCurve {
    /// False positive rate at each threshold.
    pub fpr: Vec<f64>,
    /// True positive rate (sensitivity) at each threshold.
    pub tpr: Vec<f64>,
    /// A row is predicted positive when its score is at least the threshold.
    pub thresholds: Vec<f64>,
}

/// One bin of the calibration curve: bins are `[0, 0.1], (0.1, 0.2], … (0.9, 1]` of the predicted probability of
/// the positive class, as scikit-learn's `calibration_curve(n_bins=10, strategy='uniform')`; empty bins are left
/// out, and a probability below 0 or above 1 falls in the first or last bin.
#[derive(Clone, Debug, PartialEq)]
pub struct CalibrationBin {
    /// The mean predicted probability of the bin's rows.
    pub mean_predicted: f64,
    /// The share of the bin's rows that are positive.
    pub observed: f64,
    /// Rows in the bin.
    pub count: u64,
}

/// Every metric of a regression on one split; each is `None` for an empty split or when a value is not finite.
#[derive(Clone, Debug, PartialEq)]
pub struct RegressionReport {
    /// Rows evaluated.
    pub rows: usize,
    /// Mean squared error (scikit-learn `mean_squared_error`).
    pub mse: Option<f64>,
    /// Root mean squared error.
    pub rmse: Option<f64>,
    /// Mean absolute error (scikit-learn `mean_absolute_error`).
    pub mae: Option<f64>,
    /// Coefficient of determination, 1 - SS_res / SS_tot (scikit-learn `r2_score`). `None` when the truth is
    /// constant (SS_tot = 0, one row included), where scikit-learn returns 1 or 0 instead.
    pub r2: Option<f64>,
}

impl Bootstrap {
    /// The default number of resamples.
    pub const DEFAULT_RESAMPLES: usize = 1000;

    /// The default number of resamples with a seed.
    pub fn new(seed: u64) -> Bootstrap {
        Bootstrap { resamples: Bootstrap::DEFAULT_RESAMPLES, seed }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::RowCount { truth, predictions } => {
                write!(f, "{truth} rows of truth but {predictions} rows of predictions")
            }
            InputError::ClassCount { classes, columns } => {
                write!(f, "{classes} classes but {columns} columns of probabilities")
            }
            InputError::TruthOutOfRange { row, index, classes } => {
                write!(f, "row {row} has true class index {index} but there are {classes} classes")
            }
            InputError::Positive { positive, classes } => {
                write!(f, "positive class index {positive} given for {classes} classes; a binary task has 2")
            }
        }
    }
}

impl std::error::Error for InputError {}

/// Computes every metric that applies to a classifier's predictions, with bootstrap intervals for a binary task.
pub fn classification(
    predictions: &ClassPredictions,
    bootstrap: Bootstrap,
) -> Result<ClassificationReport, InputError> {
    validate(predictions)?;
    let rows = predictions.truth.len();
    let predicted = predicted_classes(predictions);
    let confusion = ConfusionMatrix {
        classes: predictions.classes.to_vec(),
        counts: counts::confusion_counts(predictions.truth, &predicted, predictions.classes.len()),
    };
    let correct = predictions.truth.iter().zip(&predicted).filter(|(truth, predicted)| truth == predicted).count();
    let per_class = counts::class_metrics(&confusion);
    let (macro_average, weighted_average) = counts::averages(&per_class, rows);
    let (log_loss, brier, task) = match predictions.positive {
        Some(positive) => {
            let scores = predictions.probabilities.column(positive).to_vec();
            let is_positive: Vec<bool> = predictions.truth.iter().map(|&truth| truth == positive).collect();
            let binary = binary_metrics(positive, &per_class[positive], &scores, &is_positive, bootstrap);
            (
                binary_log_loss(&scores, &is_positive),
                binary_brier(&scores, &is_positive),
                TaskMetrics::Binary(Box::new(binary)),
            )
        }
        None => (
            multiclass_log_loss(predictions),
            multiclass_brier(predictions),
            TaskMetrics::Multiclass(multiclass_metrics(predictions)),
        ),
    };
    Ok(ClassificationReport {
        rows,
        accuracy: ratio(correct as f64, rows as f64),
        confusion,
        log_loss,
        brier,
        per_class,
        macro_average,
        weighted_average,
        task,
    })
}

/// Computes every regression metric of predicted against true values.
pub fn regression(truth: &[f64], predicted: &[f64]) -> Result<RegressionReport, InputError> {
    if truth.len() != predicted.len() {
        return Err(InputError::RowCount { truth: truth.len(), predictions: predicted.len() });
    }
    let rows = truth.len();
    let count = rows as f64;
    let squared_error: f64 = truth.iter().zip(predicted).map(|(t, p)| (t - p) * (t - p)).sum();
    let absolute_error: f64 = truth.iter().zip(predicted).map(|(t, p)| (t - p).abs()).sum();
    let mean_truth = truth.iter().sum::<f64>() / count;
    let total_squares: f64 = truth.iter().map(|t| (t - mean_truth) * (t - mean_truth)).sum();
    let mse = ratio(squared_error, count);
    Ok(RegressionReport {
        rows,
        mse,
        rmse: mse.map(f64::sqrt),
        mae: ratio(absolute_error, count),
        r2: ratio(squared_error, total_squares).and_then(|share| finite(1.0 - share)),
    })
}

impl ClassificationReport {
    /// The values of the metrics a spec names, in the order named, for the headline of `galen train`: `accuracy`,
    /// `precision`/`ppv`, `recall`/`sensitivity`, `specificity`, `npv`, `f1`, `auc`, `pr_auc`, `log_loss`,
    /// `brier`. A binary task reports the positive class; a multi-class task the macro averages (one-vs-rest for
    /// `auc` and `pr_auc`). An undefined value is NaN; a name that has no single value for a classifier
    /// (`confusion_matrix`, regression metrics, unknown names) is left out.
    /// `calibration` gives two figures, `calibration_intercept` and `calibration_slope` (binary tasks only).
    pub fn headline(&self, metric_names: &[&str]) -> Vec<(String, f64)> {
        metric_names
            .iter()
            .flat_map(|&name| match name {
                "calibration" => vec!["calibration_intercept", "calibration_slope"],
                _ => vec![name],
            })
            .filter_map(|name| Some((name.to_string(), self.metric(name)?.unwrap_or(f64::NAN))))
            .collect()
    }

    /// One metric by its spec name: `None` when the name has no value here, `Some(None)` when it is undefined.
    fn metric(&self, name: &str) -> Option<Option<f64>> {
        let averages = &self.macro_average;
        let value = match (&self.task, name) {
            (_, "accuracy") => self.accuracy,
            (_, "log_loss") => self.log_loss,
            (_, "brier") => self.brier,
            (TaskMetrics::Binary(binary), "precision" | "ppv") => binary.ppv,
            (TaskMetrics::Binary(binary), "recall" | "sensitivity") => binary.sensitivity,
            (TaskMetrics::Binary(binary), "specificity") => binary.specificity,
            (TaskMetrics::Binary(binary), "npv") => binary.npv,
            (TaskMetrics::Binary(binary), "f1") => binary.f1,
            (TaskMetrics::Binary(binary), "auc") => binary.auroc,
            (TaskMetrics::Binary(binary), "pr_auc") => binary.pr_auc,
            (TaskMetrics::Binary(binary), "calibration_intercept") => binary.calibration_intercept,
            (TaskMetrics::Binary(binary), "calibration_slope") => binary.calibration_slope,
            (TaskMetrics::Multiclass(_), "precision" | "ppv") => averages.precision,
            (TaskMetrics::Multiclass(_), "recall" | "sensitivity") => averages.recall,
            (TaskMetrics::Multiclass(_), "specificity") => averages.specificity,
            (TaskMetrics::Multiclass(_), "npv") => averages.npv,
            (TaskMetrics::Multiclass(_), "f1") => averages.f1,
            (TaskMetrics::Multiclass(multiclass), "auc") => multiclass.auroc,
            (TaskMetrics::Multiclass(multiclass), "pr_auc") => multiclass.pr_auc,
            _ => return None,
        };
        Some(value)
    }
}

impl RegressionReport {
    /// The values of the metrics a spec names (`mse`, `rmse`, `mae`, `r2`), in the order named, for the headline
    /// of `galen train`. An undefined value is NaN; other names are left out.
    pub fn headline(&self, metric_names: &[&str]) -> Vec<(String, f64)> {
        metric_names
            .iter()
            .filter_map(|&name| {
                let value = match name {
                    "mse" => self.mse,
                    "rmse" => self.rmse,
                    "mae" => self.mae,
                    "r2" => self.r2,
                    _ => return None,
                };
                Some((name.to_string(), value.unwrap_or(f64::NAN)))
            })
            .collect()
    }
}

/// Checks that the truth and the predictions fit together.
fn validate(predictions: &ClassPredictions) -> Result<(), InputError> {
    let classes = predictions.classes.len();
    let (rows, columns) = predictions.probabilities.dim();
    if predictions.truth.len() != rows {
        return Err(InputError::RowCount { truth: predictions.truth.len(), predictions: rows });
    }
    if columns != classes {
        return Err(InputError::ClassCount { classes, columns });
    }
    if let Some((row, &index)) = predictions.truth.iter().enumerate().find(|(_, &index)| index >= classes) {
        return Err(InputError::TruthOutOfRange { row, index, classes });
    }
    match predictions.positive {
        Some(positive) if classes != 2 || positive >= 2 => Err(InputError::Positive { positive, classes }),
        _ => Ok(()),
    }
}

/// The predicted class of each row: the positive class at a probability of at least 0.5 for a binary task, the
/// most probable class otherwise (see [`ConfusionMatrix`]).
fn predicted_classes(predictions: &ClassPredictions) -> Vec<usize> {
    let probabilities = predictions.probabilities;
    match predictions.positive {
        Some(positive) => probabilities
            .column(positive)
            .iter()
            .map(|&probability| if probability >= 0.5 { positive } else { 1 - positive })
            .collect(),
        None => probabilities.rows().into_iter().map(|row| most_probable(row.iter().copied())).collect(),
    }
}

/// The index of the largest value, the lowest index on ties; NaN never wins, and all NaN gives 0.
fn most_probable(values: impl Iterator<Item = f64>) -> usize {
    let mut best: Option<(usize, f64)> = None;
    for (index, value) in values.enumerate() {
        let better = match best {
            None => !value.is_nan(),
            Some((_, best_value)) => value > best_value,
        };
        if better {
            best = Some((index, value));
        }
    }
    best.map_or(0, |(index, _)| index)
}

/// The binary metrics from the positive class's counts, its scores and the bootstrap.
fn binary_metrics(
    positive: usize,
    positive_class: &ClassMetrics,
    scores: &[f64],
    is_positive: &[bool],
    bootstrap: Bootstrap,
) -> BinaryMetrics {
    // `Ranking::new` is `None` when a score is not finite, which leaves every score-based metric undefined.
    let ranking = ranking::Ranking::new(scores);
    let ranking = ranking.as_ref();
    let predicted_positive: Vec<bool> = scores.iter().map(|&score| score >= 0.5).collect();
    let intervals = bootstrap::binary_intervals(is_positive, &predicted_positive, ranking, bootstrap);
    let unit = vec![1u32; scores.len()];
    let logits: Option<Vec<f64>> = ranking.map(|_| scores.iter().map(|&score| calibration::logit(score)).collect());
    let logits = logits.as_deref();
    BinaryMetrics {
        positive,
        sensitivity: positive_class.recall,
        specificity: positive_class.specificity,
        ppv: positive_class.precision,
        npv: positive_class.npv,
        f1: positive_class.f1,
        auroc: ranking.and_then(|ranking| ranking.auroc(is_positive, &unit)),
        pr_auc: ranking.and_then(|ranking| ranking.average_precision(is_positive)),
        calibration_intercept: logits.and_then(|logits| calibration::intercept(is_positive, logits)),
        calibration_slope: logits.and_then(|logits| calibration::slope(is_positive, logits)),
        auroc_ci: intervals.auroc,
        sensitivity_ci: intervals.sensitivity,
        specificity_ci: intervals.specificity,
        roc_curve: ranking.and_then(|ranking| ranking.roc_curve(is_positive)),
        calibration_curve: ranking.map_or_else(Vec::new, |_| calibration::curve(scores, is_positive)),
    }
}

/// The one-vs-rest ranking metrics of a multi-class task.
fn multiclass_metrics(predictions: &ClassPredictions) -> MulticlassMetrics {
    let unit = vec![1u32; predictions.truth.len()];
    let mut aurocs = Vec::new();
    let mut average_precisions = Vec::new();
    let mut roc_curves = Vec::new();
    let mut pooled_scores = Vec::new();
    let mut pooled_positive = Vec::new();
    // Any probability that is not finite leaves every ranking metric undefined, as it does for a binary task.
    let all_finite = predictions.probabilities.iter().all(|value| value.is_finite());
    for class in 0..predictions.classes.len() {
        let scores = predictions.probabilities.column(class).to_vec();
        let is_positive: Vec<bool> = predictions.truth.iter().map(|&truth| truth == class).collect();
        let ranking = ranking::Ranking::new(&scores).filter(|_| all_finite);
        let ranking = ranking.as_ref();
        aurocs.extend(ranking.and_then(|ranking| ranking.auroc(&is_positive, &unit)));
        average_precisions.extend(ranking.and_then(|ranking| ranking.average_precision(&is_positive)));
        roc_curves.push(ranking.and_then(|ranking| ranking.roc_curve(&is_positive)));
        pooled_scores.extend(scores.iter().copied().filter(|score| score.is_finite()));
        pooled_positive.extend(scores.iter().zip(&is_positive).filter(|(score, _)| score.is_finite()).map(|(_, &p)| p));
    }
    let calibration_curve = calibration::curve(&pooled_scores, &pooled_positive);
    MulticlassMetrics { auroc: mean(&aurocs), pr_auc: mean(&average_precisions), roc_curves, calibration_curve }
}

/// The binary log loss from the positive class's probabilities.
fn binary_log_loss(scores: &[f64], is_positive: &[bool]) -> Option<f64> {
    // Clipping would turn an infinite probability into a finite loss; it is undefined instead.
    if !scores.iter().all(|score| score.is_finite()) {
        return None;
    }
    let total: f64 = scores
        .iter()
        .zip(is_positive)
        .map(|(&score, &positive)| -libm::log(clip(if positive { score } else { 1.0 - score })))
        .sum();
    ratio(total, scores.len() as f64)
}

/// The binary Brier score from the positive class's probabilities.
fn binary_brier(scores: &[f64], is_positive: &[bool]) -> Option<f64> {
    let total: f64 = scores
        .iter()
        .zip(is_positive)
        .map(|(&score, &positive)| {
            let error = score - if positive { 1.0 } else { 0.0 };
            error * error
        })
        .sum();
    ratio(total, scores.len() as f64)
}

/// The multi-class log loss: the clipped probability of each row's true class.
fn multiclass_log_loss(predictions: &ClassPredictions) -> Option<f64> {
    let probabilities = predictions.probabilities;
    // A non-finite probability of another class does not enter the sum but still makes the loss undefined.
    if !probabilities.iter().all(|value| value.is_finite()) {
        return None;
    }
    let total: f64 =
        predictions.truth.iter().enumerate().map(|(row, &truth)| -libm::log(clip(probabilities[[row, truth]]))).sum();
    ratio(total, predictions.truth.len() as f64)
}

/// The multi-class Brier score: the squared distance of each row's probabilities from its one-hot truth.
fn multiclass_brier(predictions: &ClassPredictions) -> Option<f64> {
    let total: f64 = predictions
        .probabilities
        .rows()
        .into_iter()
        .zip(predictions.truth)
        .map(|(row, &truth)| {
            let one_hot = |class: usize| if class == truth { 1.0 } else { 0.0 };
            row.iter().enumerate().map(|(class, &p)| (p - one_hot(class)) * (p - one_hot(class))).sum::<f64>()
        })
        .sum();
    ratio(total, predictions.truth.len() as f64)
}

/// A probability clipped to `[ε, 1 - ε]` before a logarithm, as scikit-learn does (NaN stays NaN).
fn clip(probability: f64) -> f64 {
    probability.clamp(f64::EPSILON, 1.0 - f64::EPSILON)
}

/// A quotient when it is finite (so a zero denominator or a NaN gives `None`).
fn ratio(numerator: f64, denominator: f64) -> Option<f64> {
    finite(numerator / denominator)
}

/// A value when it is finite.
fn finite(value: f64) -> Option<f64> {
    value.is_finite().then_some(value)
}

/// The mean of some values; `None` when there are none.
fn mean(values: &[f64]) -> Option<f64> {
    ratio(values.iter().sum(), values.len() as f64)
}
