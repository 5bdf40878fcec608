//! A split's metrics from the model's outputs: the bridge between the graphs' outputs (probabilities or numbers,
//! as f32) and [`crate::metrics`], which computes every metric over the whole split.

use ndarray::Array2;
use serde_json::Value;

use crate::check::Task;
use crate::data::transform::Targets;
use crate::lowering::TargetEncoding;
use crate::metrics::{self, Bootstrap, ClassPredictions, ClassificationReport, RegressionReport, TaskMetrics};
use crate::plots;

/// Every single-number metric name of a classifier and of a regression, in report order.
const CLASSIFIER_NUMBERS: &[&str] =
    &["accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "auc", "pr_auc", "log_loss", "brier"];
const REGRESSION_NUMBERS: &[&str] = &["mse", "rmse", "mae", "r2"];

/// The metrics of one split.
#[derive(Clone, Debug, PartialEq)]
pub enum Scores {
    /// A classifier's (boxed: it is much larger than a regression's).
    Classification(Box<ClassificationReport>),
    /// A regression's.
    Regression(RegressionReport),
}

impl Scores {
    /// The metrics of `outputs` (`[rows, width]`, as the graphs give them) against `targets`. With `bootstrap`
    /// (a seed), the confidence intervals are computed from 1000 resamples; without, they are left undefined.
    pub fn of(
        task: &Task,
        encoding: TargetEncoding,
        outputs: &Array2<f32>,
        targets: &Targets,
        bootstrap: Option<u64>,
    ) -> Scores {
        let bootstrap = match bootstrap {
            Some(seed) => Bootstrap::new(seed),
            None => Bootstrap { resamples: 0, seed: 0 },
        };
        match (task, targets) {
            (Task::Binary { classes, .. } | Task::Multiclass { classes }, Targets::Classes(truth)) => {
                let positive = match task {
                    Task::Binary { positive, .. } => Some(*positive),
                    _ => None,
                };
                let rows = outputs.nrows();
                let probabilities = match encoding {
                    TargetEncoding::Positive => {
                        let positive = positive.unwrap_or(1);
                        Array2::from_shape_fn((rows, 2), |(row, class)| {
                            let p = f64::from(outputs[[row, 0]]);
                            if class == positive {
                                p
                            } else {
                                1.0 - p
                            }
                        })
                    }
                    _ => outputs.mapv(f64::from),
                };
                let truth: Vec<usize> = truth.iter().map(|&class| class as usize).collect();
                let predictions =
                    ClassPredictions { classes, truth: &truth, probabilities: probabilities.view(), positive };
                let report = metrics::classification(&predictions, bootstrap)
                    .unwrap_or_else(|error| panic!("the outputs do not fit the classes, a bug: {error}"));
                Scores::Classification(Box::new(report))
            }
            (_, Targets::Numbers(truth)) => {
                let truth: Vec<f64> = truth.iter().map(|&value| f64::from(value)).collect();
                let predicted: Vec<f64> = outputs.column(0).iter().map(|&value| f64::from(value)).collect();
                let report = metrics::regression(&truth, &predicted)
                    .unwrap_or_else(|error| panic!("the outputs do not fit the targets, a bug: {error}"));
                Scores::Regression(report)
            }
            (Task::Regression, Targets::Classes(_)) => {
                panic!("a regression's targets are classes, a bug")
            }
        }
    }

    /// A metric by its spec name (`accuracy`, `auc`, `rmse`...); `None` when it does not apply or is undefined.
    pub fn value(&self, name: &str) -> Option<f64> {
        self.headline(&[name]).first().map(|(_, value)| *value).filter(|value| !value.is_nan())
    }

    /// The metrics named, in the order named, with NaN for an undefined one; names that do not apply are left out.
    pub fn headline(&self, names: &[&str]) -> Vec<(String, f64)> {
        match self {
            Scores::Classification(report) => report.headline(names),
            Scores::Regression(report) => report.headline(names),
        }
    }

    /// Every single-number metric that is defined, in report order.
    pub fn numbers(&self) -> Vec<(String, f64)> {
        let names = match self {
            Scores::Classification(_) => CLASSIFIER_NUMBERS,
            Scores::Regression(_) => REGRESSION_NUMBERS,
        };
        self.headline(names).into_iter().filter(|(_, value)| value.is_finite()).collect()
    }

    /// Every metric as JSON (with curves and intervals).
    pub fn to_json(&self) -> Value {
        match self {
            Scores::Classification(report) => report.to_json(),
            Scores::Regression(report) => report.to_json(),
        }
    }

    /// The metrics as aligned lines, clinical names first.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Scores::Classification(report) => report.lines(),
            Scores::Regression(report) => report.lines(),
        }
    }

    /// ROC curves for the plot: the positive class's, or one per class against the rest.
    pub fn roc_series(&self) -> Option<Vec<plots::RocSeries>> {
        let Scores::Classification(report) = self else { return None };
        let series = match &report.task {
            TaskMetrics::Binary(binary) => {
                let curve = binary.roc_curve.as_ref()?;
                let class = report.confusion.classes.get(binary.positive).cloned().unwrap_or_default();
                vec![roc_series(format!("positive class {class}"), curve, binary.auroc)]
            }
            TaskMetrics::Multiclass(multiclass) => report
                .confusion
                .classes
                .iter()
                .zip(&multiclass.roc_curves)
                .filter_map(|(class, curve)| {
                    let curve = curve.as_ref()?;
                    let auc = auc_of(curve);
                    Some(roc_series(format!("{class} against the rest"), curve, auc))
                })
                .collect(),
        };
        (!series.is_empty()).then_some(series)
    }

    /// The calibration curve's bins: of the positive class, or for several classes one-vs-rest with every class
    /// pooled.
    pub fn calibration_bins(&self) -> Option<Vec<plots::CalibrationBin>> {
        let Scores::Classification(report) = self else { return None };
        let curve = match &report.task {
            TaskMetrics::Binary(binary) => &binary.calibration_curve,
            TaskMetrics::Multiclass(multiclass) => &multiclass.calibration_curve,
        };
        Some(
            curve
                .iter()
                .map(|bin| plots::CalibrationBin {
                    mean_predicted: bin.mean_predicted,
                    observed: bin.observed,
                    count: bin.count as usize,
                })
                .collect(),
        )
    }

    /// The confusion matrix: class names and counts (true class by row).
    pub fn confusion(&self) -> Option<(Vec<String>, Vec<Vec<u64>>)> {
        let Scores::Classification(report) = self else { return None };
        Some((report.confusion.classes.clone(), report.confusion.counts.clone()))
    }

    /// The rule behind the threshold-dependent figures, in words (classification only).
    pub fn threshold_rule(&self) -> Option<String> {
        let Scores::Classification(report) = self else { return None };
        Some(report.threshold_rule())
    }
}

fn roc_series(class: String, curve: &metrics::RocCurve, auc: Option<f64>) -> plots::RocSeries {
    plots::RocSeries { label: class, points: curve.fpr.iter().copied().zip(curve.tpr.iter().copied()).collect(), auc }
}

/// The area under a ROC curve by the trapezoidal rule (equal to the Mann–Whitney AUROC for a full curve).
fn auc_of(curve: &metrics::RocCurve) -> Option<f64> {
    let points: Vec<(f64, f64)> = curve.fpr.iter().copied().zip(curve.tpr.iter().copied()).collect();
    let area = points.windows(2).map(|pair| (pair[1].0 - pair[0].0) * (pair[1].1 + pair[0].1) / 2.0).sum::<f64>();
    area.is_finite().then_some(area)
}
