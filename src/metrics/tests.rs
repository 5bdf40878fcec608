//! Metrics against values computed independently by scikit-learn 1.9.1 and statsmodels 0.15.0
//! (`tests/data/metrics/known_values.py`), and the behaviour on degenerate inputs.

use ndarray::{array, Array2};
use serde_json::json;

use super::*;

/// Tolerance for closed-form metrics.
const EXACT: f64 = 1e-9;

/// Tolerance for the Newton fits against statsmodels.
const FITTED: f64 = 1e-6;

fn names(classes: &[&str]) -> Vec<String> {
    classes.iter().map(|class| class.to_string()).collect()
}

fn close(actual: Option<f64>, expected: f64, tolerance: f64, what: &str) {
    let actual = actual.unwrap_or_else(|| panic!("{what} is undefined, expected {expected}"));
    assert!((actual - expected).abs() <= tolerance, "{what}: {actual} but expected {expected}");
}

fn close_all(actual: &[f64], expected: &[f64], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: {actual:?} against {expected:?}");
    for (index, (&actual, &expected)) in actual.iter().zip(expected).enumerate() {
        let equal = actual == expected || (actual - expected).abs() <= EXACT;
        assert!(equal, "{what}[{index}]: {actual} but expected {expected}");
    }
}

/// `[1 - p, p]` rows, as the training loop builds them for a sigmoid output, with the positive class at `positive`.
fn binary_probabilities(scores: &[f64], positive: usize) -> Array2<f64> {
    Array2::from_shape_fn(
        (scores.len(), 2),
        |(row, class)| {
            if class == positive {
                scores[row]
            } else {
                1.0 - scores[row]
            }
        },
    )
}

fn binary_report(classes: &[&str], truth: &[usize], scores: &[f64], positive: usize) -> ClassificationReport {
    let classes = names(classes);
    let probabilities = binary_probabilities(scores, positive);
    let predictions =
        ClassPredictions { classes: &classes, truth, probabilities: probabilities.view(), positive: Some(positive) };
    classification(&predictions, Bootstrap { resamples: 200, seed: 7 }).unwrap()
}

fn binary(report: &ClassificationReport) -> &BinaryMetrics {
    match &report.task {
        TaskMetrics::Binary(binary) => binary,
        TaskMetrics::Multiclass(_) => panic!("expected a binary report"),
    }
}

fn multiclass(report: &ClassificationReport) -> &MulticlassMetrics {
    match &report.task {
        TaskMetrics::Multiclass(multiclass) => multiclass,
        TaskMetrics::Binary(_) => panic!("expected a multi-class report"),
    }
}

/// Scores with ties within and across classes, and a score of exactly 0.5 (predicted positive).
const TIES_TRUTH: [usize; 12] = [0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0];
const TIES_SCORES: [f64; 12] = [0.1, 0.4, 0.35, 0.8, 0.4, 0.8, 0.2, 0.65, 0.5, 0.5, 0.9, 0.7];

#[test]
fn binary_with_ties_matches_scikit_learn() {
    let report = binary_report(&["benign", "malignant"], &TIES_TRUTH, &TIES_SCORES, 1);
    let metrics = binary(&report);
    assert_eq!(report.rows, 12);
    close(report.accuracy, 0.75, EXACT, "accuracy_score");
    assert_eq!(report.confusion.counts, vec![vec![4, 2], vec![1, 5]], "confusion_matrix");
    close(metrics.ppv, 0.7142857142857143, EXACT, "precision_score");
    close(metrics.sensitivity, 0.8333333333333334, EXACT, "recall_score");
    close(metrics.specificity, 0.6666666666666666, EXACT, "recall_score(pos_label=0)");
    close(metrics.npv, 0.8, EXACT, "precision_score(pos_label=0)");
    close(metrics.f1, 0.7692307692307693, EXACT, "f1_score");
    close(metrics.auroc, 0.8194444444444445, EXACT, "roc_auc_score");
    close(metrics.pr_auc, 0.8523809523809524, EXACT, "average_precision_score");
    close(report.log_loss, 0.49772292823560177, EXACT, "log_loss");
    close(report.brier, 0.16625, EXACT, "brier_score_loss");
    close(metrics.calibration_intercept, -0.1299363007055636, FITTED, "GLM Binomial offset=logit(p)");
    close(metrics.calibration_slope, 1.506109049312046, FITTED, "GLM Binomial on logit(p)");

    // roc_curve(y, p, drop_intermediate=False)
    let curve = metrics.roc_curve.as_ref().unwrap();
    let sixth = 1.0 / 6.0;
    close_all(
        &curve.fpr,
        &[0.0, 0.0, 0.0, sixth, sixth, 2.0 * sixth, 4.0 * sixth, 4.0 * sixth, 5.0 * sixth, 1.0],
        "fpr",
    );
    close_all(&curve.tpr, &[0.0, sixth, 0.5, 0.5, 4.0 * sixth, 5.0 * sixth, 5.0 * sixth, 1.0, 1.0, 1.0], "tpr");
    let thresholds = [f64::INFINITY, 0.9, 0.8, 0.7, 0.65, 0.5, 0.4, 0.35, 0.2, 0.1];
    close_all(&curve.thresholds, &thresholds, "thresholds");

    // calibration_curve(y, p, n_bins=10, strategy='uniform'); counts from numpy.searchsorted on the bin edges.
    let bins = &metrics.calibration_curve;
    let mean_predicted: Vec<f64> = bins.iter().map(|bin| bin.mean_predicted).collect();
    let observed: Vec<f64> = bins.iter().map(|bin| bin.observed).collect();
    let counts: Vec<u64> = bins.iter().map(|bin| bin.count).collect();
    close_all(&mean_predicted, &[0.1, 0.2, 0.3833333333333333, 0.5, 0.675, 0.8, 0.9], "prob_pred");
    close_all(&observed, &[0.0, 0.0, 0.3333333333333333, 0.5, 0.5, 1.0, 1.0], "prob_true");
    assert_eq!(counts, vec![1, 1, 3, 2, 2, 2, 1]);
}

#[test]
fn imbalanced_binary_with_the_positive_class_first_matches_scikit_learn() {
    // In the Python script 1 marks the positive class; here the positive class is index 0, "disease".
    let positive_in_python = [0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0];
    let truth: Vec<usize> = positive_in_python.iter().map(|&y| 1 - y).collect();
    let scores = [
        0.05, 0.12, 0.62, 0.08, 0.31, 0.02, 0.45, 0.28, 0.15, 0.09, 0.22, 0.04, 0.55, 0.71, 0.11, 0.07, 0.18, 0.38,
        0.03, 0.26,
    ];
    let report = binary_report(&["disease", "healthy"], &truth, &scores, 0);
    let metrics = binary(&report);
    assert_eq!(metrics.positive, 0);
    close(report.accuracy, 0.85, EXACT, "accuracy_score");
    // confusion_matrix gives [[15, 1], [2, 2]] for classes (healthy, disease); here the order is (disease, healthy).
    assert_eq!(report.confusion.counts, vec![vec![2, 2], vec![1, 15]]);
    close(metrics.ppv, 0.6666666666666666, EXACT, "precision_score");
    close(metrics.sensitivity, 0.5, EXACT, "recall_score");
    close(metrics.specificity, 0.9375, EXACT, "recall_score(pos_label=0)");
    close(metrics.npv, 0.8823529411764706, EXACT, "precision_score(pos_label=0)");
    close(metrics.f1, 0.5714285714285714, EXACT, "f1_score");
    close(metrics.auroc, 0.921875, EXACT, "roc_auc_score");
    close(metrics.pr_auc, 0.7928571428571428, EXACT, "average_precision_score");
    close(report.log_loss, 0.3188213941676813, EXACT, "log_loss");
    close(report.brier, 0.09773000000000001, EXACT, "brier_score_loss");
    close(metrics.calibration_intercept, -0.2709170000419603, FITTED, "GLM Binomial offset=logit(p)");
    close(metrics.calibration_slope, 1.8821658744704965, FITTED, "GLM Binomial on logit(p)");

    let curve = metrics.roc_curve.as_ref().unwrap();
    let fpr = [
        0.0, 0.0, 0.0, 0.0625, 0.125, 0.125, 0.1875, 0.1875, 0.25, 0.3125, 0.375, 0.4375, 0.5, 0.5625, 0.625, 0.6875,
        0.75, 0.8125, 0.875, 0.9375, 1.0,
    ];
    let mut tpr = vec![0.0, 0.25, 0.5, 0.5, 0.5, 0.75, 0.75];
    tpr.resize(21, 1.0);
    close_all(&curve.fpr, &fpr, "fpr");
    close_all(&curve.tpr, &tpr, "tpr");

    let bins = &metrics.calibration_curve;
    let mean_predicted: Vec<f64> = bins.iter().map(|bin| bin.mean_predicted).collect();
    let observed: Vec<f64> = bins.iter().map(|bin| bin.observed).collect();
    let expected_mean = [0.054285714285714284, 0.14, 0.25333333333333335, 0.345, 0.45, 0.55, 0.62, 0.71];
    close_all(&mean_predicted, &expected_mean, "prob_pred");
    close_all(&observed, &[0.0, 0.0, 0.3333333333333333, 0.5, 0.0, 0.0, 1.0, 1.0], "prob_true");
    assert_eq!(bins.iter().map(|bin| bin.count).collect::<Vec<_>>(), vec![7, 4, 3, 2, 1, 1, 1, 1]);
}

#[test]
fn log_loss_clips_probabilities_of_zero_and_one() {
    // log_loss([1, 0, 1, 0], [1.0, 0.0, 0.0, 0.3]): the third row's loss is -ln(machine epsilon).
    let report = binary_report(&["no", "yes"], &[1, 0, 1, 0], &[1.0, 0.0, 0.0, 0.3], 1);
    close(report.log_loss, 9.100082083263972, EXACT, "log_loss");
}

/// Three classes of unequal support; row 6 is a tie between classes 0 and 1.
fn three_classes() -> (Vec<String>, Vec<usize>, Array2<f64>) {
    let truth = vec![0, 1, 2, 0, 1, 2, 0, 2, 2, 0, 1, 2, 2, 2, 1];
    let probabilities = array![
        [0.7, 0.2, 0.1],
        [0.2, 0.5, 0.3],
        [0.1, 0.3, 0.6],
        [0.3, 0.4, 0.3],
        [0.1, 0.8, 0.1],
        [0.3, 0.3, 0.4],
        [0.4, 0.4, 0.2],
        [0.25, 0.25, 0.5],
        [0.2, 0.2, 0.6],
        [0.6, 0.3, 0.1],
        [0.5, 0.4, 0.1],
        [0.1, 0.1, 0.8],
        [0.35, 0.45, 0.2],
        [0.8, 0.1, 0.1],
        [0.3, 0.6, 0.1],
    ];
    (names(&["a", "b", "c"]), truth, probabilities)
}

fn three_class_report() -> ClassificationReport {
    let (classes, truth, probabilities) = three_classes();
    let predictions =
        ClassPredictions { classes: &classes, truth: &truth, probabilities: probabilities.view(), positive: None };
    classification(&predictions, Bootstrap::new(1)).unwrap()
}

#[test]
fn three_classes_match_scikit_learn() {
    let report = three_class_report();
    close(report.accuracy, 0.7333333333333333, EXACT, "accuracy_score");
    // confusion_matrix(y, argmax(p, axis=1)): the tie in row 6 predicts class 0.
    assert_eq!(report.confusion.counts, vec![vec![3, 1, 0], vec![1, 3, 0], vec![1, 1, 5]]);

    // precision_recall_fscore_support(labels=[0, 1, 2], zero_division=0) and multilabel_confusion_matrix.
    let column = |value: fn(&ClassMetrics) -> Option<f64>| -> Vec<f64> {
        report.per_class.iter().map(|class| value(class).unwrap()).collect()
    };
    close_all(&column(|class| class.precision), &[0.6, 0.6, 1.0], "precision");
    close_all(&column(|class| class.recall), &[0.75, 0.75, 0.7142857142857143], "recall");
    close_all(&column(|class| class.f1), &[0.6666666666666666, 0.6666666666666666, 0.8333333333333334], "f1");
    close_all(&column(|class| class.specificity), &[0.8181818181818182, 0.8181818181818182, 1.0], "specificity");
    close_all(&column(|class| class.npv), &[0.9, 0.9, 0.8], "npv");
    assert_eq!(report.per_class.iter().map(|class| class.support).collect::<Vec<_>>(), vec![4, 4, 7]);

    // precision_score / recall_score / f1_score with average='macro' and average='weighted'.
    close(report.macro_average.precision, 0.7333333333333334, EXACT, "macro precision");
    close(report.macro_average.recall, 0.7380952380952381, EXACT, "macro recall");
    close(report.macro_average.f1, 0.7222222222222222, EXACT, "macro f1");
    close(report.weighted_average.precision, 0.7866666666666667, EXACT, "weighted precision");
    close(report.weighted_average.recall, 0.7333333333333333, EXACT, "weighted recall");
    close(report.weighted_average.f1, 0.7444444444444446, EXACT, "weighted f1");

    let metrics = multiclass(&report);
    close(metrics.auroc, 0.8766233766233765, EXACT, "roc_auc_score(multi_class='ovr', average='macro')");
    close(metrics.pr_auc, 0.773941798941799, EXACT, "average_precision_score(label_binarize(y), average='macro')");
    close(report.log_loss, 0.8064951272085034, EXACT, "log_loss");
    close(report.brier, 0.4613333333333333, EXACT, "brier_score_loss(scale_by_half=False)");

    // roc_curve(label_binarize(y)[:, c], p[:, c], drop_intermediate=False) for class 2.
    let curve = metrics.roc_curves[2].as_ref().unwrap();
    close_all(&curve.fpr, &[0.0, 0.0, 0.0, 0.0, 0.0, 0.25, 0.375, 1.0], "fpr");
    let sevenths = [0.0, 1.0, 3.0, 4.0, 5.0, 5.0, 6.0, 7.0].map(|count| count / 7.0);
    close_all(&curve.tpr, &sevenths, "tpr");
    close_all(&curve.thresholds, &[f64::INFINITY, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1], "thresholds");
    let class_0 = metrics.roc_curves[0].as_ref().unwrap();
    let elevenths = [0.0, 1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 5.0, 6.0, 8.0, 11.0].map(|count| count / 11.0);
    close_all(&class_0.fpr, &elevenths, "class 0 fpr");
}

#[test]
fn regression_matches_scikit_learn() {
    let truth = [3.0, -0.5, 2.0, 7.0, 4.2, 1.1, 0.0, 5.5];
    let predicted = [2.5, 0.0, 2.1, 7.8, 3.9, 1.5, -0.3, 6.0];
    let report = regression(&truth, &predicted).unwrap();
    assert_eq!(report.rows, 8);
    close(report.mse, 0.21749999999999997, EXACT, "mean_squared_error");
    close(report.rmse, 0.4663689526544407, EXACT, "sqrt(mean_squared_error)");
    close(report.mae, 0.42500000000000004, EXACT, "mean_absolute_error");
    close(report.r2, 0.9646260577876039, EXACT, "r2_score");
}

#[test]
fn bootstrap_is_fixed_by_the_seed() {
    let classes = names(&["benign", "malignant"]);
    let probabilities = binary_probabilities(&TIES_SCORES, 1);
    let predictions = ClassPredictions {
        classes: &classes,
        truth: &TIES_TRUTH,
        probabilities: probabilities.view(),
        positive: Some(1),
    };
    let intervals = |seed| {
        let report = classification(&predictions, Bootstrap { resamples: 300, seed }).unwrap();
        let metrics = binary(&report).clone();
        (metrics.auroc_ci, metrics.sensitivity_ci, metrics.specificity_ci)
    };
    assert_eq!(intervals(11), intervals(11));
    assert_ne!(intervals(11), intervals(12));
}

#[test]
fn bootstrap_intervals_contain_the_estimate() {
    // 200 rows whose score rises with the chance of being positive: every interval is informative.
    let mut rng = crate::rng::TestRng::new(3);
    let scores: Vec<f64> = (0..200).map(|_| rng.below(1000) as f64 / 1000.0).collect();
    let truth: Vec<usize> = scores.iter().map(|&score| usize::from(rng.below(1000) as f64 / 1000.0 < score)).collect();
    let report = binary_report(&["no", "yes"], &truth, &scores, 1);
    let metrics = binary(&report);
    for (name, estimate, interval) in [
        ("auroc", metrics.auroc, &metrics.auroc_ci),
        ("sensitivity", metrics.sensitivity, &metrics.sensitivity_ci),
        ("specificity", metrics.specificity, &metrics.specificity_ci),
    ] {
        let (estimate, low, high) = (estimate.unwrap(), interval.low.unwrap(), interval.high.unwrap());
        assert!(low < estimate && estimate < high, "{name}: {estimate} outside {low}–{high}");
        assert!(high - low < 0.3, "{name}: {low}–{high} is implausibly wide for 200 rows");
        assert_eq!((interval.resamples, interval.usable, interval.level), (200, 200, 0.95));
    }
}

#[test]
fn bootstrap_skips_resamples_with_one_class() {
    // One positive in 20 rows: about e^-1 of the resamples miss it, and sensitivity is undefined there.
    let truth: Vec<usize> = (0..20).map(|row| usize::from(row == 0)).collect();
    let scores: Vec<f64> = (0..20).map(|row| row as f64 / 20.0).collect();
    let report = binary_report(&["no", "yes"], &truth, &scores, 1);
    let interval = &binary(&report).sensitivity_ci;
    assert!(interval.usable > 100 && interval.usable < 160, "{} usable of 200", interval.usable);
    assert_eq!(binary(&report).auroc_ci.usable, interval.usable);
    assert_eq!(binary(&report).specificity_ci.usable, 200);
}

#[test]
fn percentile_interpolates_as_numpy() {
    // numpy.percentile([1, 2, 3, 4], [2.5, 97.5]) == [1.075, 3.925]
    assert_eq!(bootstrap::percentile(&[1.0, 2.0, 3.0, 4.0], 0.025), Some(1.075));
    assert!((bootstrap::percentile(&[1.0, 2.0, 3.0, 4.0], 0.975).unwrap() - 3.925).abs() < EXACT);
    assert_eq!(bootstrap::percentile(&[5.0], 0.975), Some(5.0));
    assert_eq!(bootstrap::percentile(&[], 0.5), None);
}

#[test]
fn one_class_in_truth_leaves_ranking_metrics_undefined() {
    let report = binary_report(&["no", "yes"], &[0, 0, 0], &[0.2, 0.7, 0.4], 1);
    let metrics = binary(&report);
    assert_eq!(metrics.auroc, None);
    assert_eq!(metrics.pr_auc, None);
    assert_eq!(metrics.sensitivity, None);
    assert_eq!(metrics.calibration_slope, None);
    assert_eq!(metrics.calibration_intercept, None);
    assert_eq!(metrics.roc_curve, None);
    assert_eq!((metrics.auroc_ci.usable, metrics.auroc_ci.low), (0, None));
    close(metrics.specificity, 2.0 / 3.0, EXACT, "specificity");
    assert!(report.headline(&["auc", "specificity"])[0].1.is_nan());
}

#[test]
fn an_empty_split_reports_zero_rows() {
    let classes = names(&["no", "yes"]);
    let probabilities = Array2::<f64>::zeros((0, 2));
    for positive in [Some(1), None] {
        let predictions =
            ClassPredictions { classes: &classes, truth: &[], probabilities: probabilities.view(), positive };
        let report = classification(&predictions, Bootstrap::new(5)).unwrap();
        assert_eq!(report.rows, 0);
        assert_eq!((report.accuracy, report.log_loss, report.brier), (None, None, None));
        assert_eq!(report.macro_average.f1, None);
        assert!(report.per_class.iter().all(|class| class.precision.is_none() && class.support == 0));
        let json = report.to_json();
        assert_eq!((json["rows"].clone(), json["accuracy"].clone()), (json!(0), json!(null)));
        assert!(report.lines().iter().any(|line| line.starts_with("Accuracy") && line.ends_with("undefined")));
    }
    let report = regression(&[], &[]).unwrap();
    assert_eq!((report.rows, report.mse, report.r2), (0, None, None));
}

#[test]
fn perfect_separation_leaves_the_calibration_slope_undefined() {
    let report = binary_report(&["no", "yes"], &[0, 0, 1, 1], &[0.1, 0.2, 0.8, 0.9], 1);
    let metrics = binary(&report);
    assert_eq!(metrics.auroc, Some(1.0));
    assert_eq!(metrics.calibration_slope, None);
    // The intercept with the slope fixed at 1 exists whenever both classes are present.
    assert!(metrics.calibration_intercept.is_some());
    // A single distinct prediction cannot be given a slope.
    let constant = binary_report(&["no", "yes"], &[0, 1, 1, 0], &[0.3; 4], 1);
    assert_eq!(binary(&constant).calibration_slope, None);
    close(binary(&constant).calibration_intercept, libm::log(1.0f64 / 0.3 - 1.0), FITTED, "logit(0.5) - logit(0.3)");
}

#[test]
fn nan_probabilities_leave_probability_metrics_undefined() {
    let report = binary_report(&["no", "yes"], &[0, 1, 1, 0], &[0.2, f64::NAN, 0.9, 0.4], 1);
    let metrics = binary(&report);
    assert_eq!((report.log_loss, report.brier, metrics.auroc, metrics.pr_auc), (None, None, None, None));
    assert_eq!((metrics.calibration_slope, metrics.roc_curve.as_ref(), metrics.auroc_ci.usable), (None, None, 0));
    // A NaN probability is not at least 0.5: the row is predicted negative.
    assert_eq!(report.confusion.counts, vec![vec![2, 0], vec![1, 1]]);

    let (classes, truth, mut probabilities) = three_classes();
    probabilities[[3, 1]] = f64::NAN;
    let predictions =
        ClassPredictions { classes: &classes, truth: &truth, probabilities: probabilities.view(), positive: None };
    let report = classification(&predictions, Bootstrap::new(1)).unwrap();
    assert_eq!((report.log_loss, report.brier, multiclass(&report).auroc), (None, None, None));
    // NaN never wins the argmax: row 3 ([0.3, NaN, 0.3]) predicts class 0, the lowest of the tie.
    assert_eq!(report.confusion.counts[0], vec![4, 0, 0]);
}

#[test]
fn mismatched_inputs_are_errors() {
    let classes = names(&["no", "yes"]);
    let probabilities = array![[0.5, 0.5], [0.2, 0.8]];
    let view = probabilities.view();
    let check = |truth: &[usize], positive| {
        classification(&ClassPredictions { classes: &classes, truth, probabilities: view, positive }, Bootstrap::new(0))
            .unwrap_err()
    };
    assert_eq!(check(&[0], None), InputError::RowCount { truth: 1, predictions: 2 });
    assert_eq!(check(&[0, 2], None), InputError::TruthOutOfRange { row: 1, index: 2, classes: 2 });
    assert_eq!(check(&[0, 1], Some(2)), InputError::Positive { positive: 2, classes: 2 });
    let three = names(&["a", "b", "c"]);
    let predictions = ClassPredictions { classes: &three, truth: &[0, 1], probabilities: view, positive: None };
    let error = classification(&predictions, Bootstrap::new(0)).unwrap_err();
    assert_eq!(error.to_string(), "3 classes but 2 columns of probabilities");
    assert_eq!(regression(&[1.0], &[]).unwrap_err(), InputError::RowCount { truth: 1, predictions: 0 });
}

#[test]
fn constant_truth_leaves_r2_undefined() {
    let report = regression(&[2.0, 2.0, 2.0], &[1.0, 2.0, 3.0]).unwrap();
    close(report.mse, 2.0 / 3.0, EXACT, "mse");
    assert_eq!(report.r2, None);
    assert!(report.headline(&["r2", "mae", "auc"]).iter().map(|(name, _)| name.as_str()).eq(["r2", "mae"]));
}

#[test]
fn headline_maps_spec_names() {
    let report = binary_report(&["benign", "malignant"], &TIES_TRUTH, &TIES_SCORES, 1);
    let headline = report.headline(&["auc", "precision", "recall", "confusion_matrix", "mse", "brier"]);
    let expected = [("auc", 0.8194444444444445), ("precision", 0.7142857142857143), ("recall", 0.8333333333333334)];
    for ((name, value), (expected_name, expected_value)) in headline.iter().zip(expected) {
        assert_eq!(name, expected_name);
        assert!((value - expected_value).abs() < EXACT);
    }
    assert_eq!(headline.len(), 4, "confusion_matrix and mse have no classifier headline: {headline:?}");
    let multi = three_class_report();
    let headline = multi.headline(&["f1", "auc"]);
    assert!((headline[0].1 - 0.7222222222222222).abs() < EXACT, "macro f1");
    assert!((headline[1].1 - 0.8766233766233765).abs() < EXACT, "macro one-vs-rest auroc");
}

#[test]
fn json_has_fixed_keys_and_rounds() {
    let report = binary_report(&["benign", "malignant"], &TIES_TRUTH, &TIES_SCORES, 1);
    let json = rounded(&report.to_json(), 4);
    let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    let expected = [
        "task",
        "rows",
        "positive_class",
        "accuracy",
        "sensitivity",
        "sensitivity_ci",
        "specificity",
        "specificity_ci",
        "ppv",
        "npv",
        "f1",
        "auroc",
        "auroc_ci",
        "pr_auc",
        "log_loss",
        "brier",
        "calibration_intercept",
        "calibration_slope",
        "threshold",
        "confusion_matrix",
        "per_class",
        "macro",
        "weighted",
        "roc_curve",
        "calibration_curve",
    ];
    assert_eq!(keys, expected);
    assert_eq!(json["auroc"], json!(0.8194));
    assert_eq!(json["ppv"], json!(0.7143));
    assert_eq!(json["rows"], json!(12));
    assert_eq!(json["positive_class"], json!("malignant"));
    assert_eq!(json["threshold"]["rule"], json!("probability"));
    assert_eq!(
        (json["threshold"]["value"].clone(), json["threshold"]["class"].clone()),
        (json!(0.5), json!("malignant"))
    );
    assert_eq!(json["confusion_matrix"], json!({"classes": ["benign", "malignant"], "counts": [[4, 2], [1, 5]]}));
    assert_eq!(json["roc_curve"]["thresholds"][0], json!(null), "the +∞ threshold");
    let interval = json["auroc_ci"].as_object().unwrap();
    assert_eq!(interval.keys().collect::<Vec<_>>(), ["low", "high", "level", "resamples", "usable"]);
    assert_eq!((interval["level"].clone(), interval["resamples"].clone()), (json!(0.95), json!(200)));

    let multi = three_class_report().to_json();
    let keys: Vec<&str> = multi.as_object().unwrap().keys().map(String::as_str).collect();
    let expected = [
        "task",
        "rows",
        "accuracy",
        "auroc",
        "pr_auc",
        "log_loss",
        "brier",
        "threshold",
        "confusion_matrix",
        "per_class",
        "macro",
        "weighted",
        "roc_curves",
        "calibration_curve",
    ];
    assert_eq!(keys, expected);
    assert_eq!(multi["threshold"]["rule"], json!("argmax"));
    let regression = regression(&[1.0, 2.0], &[1.5, 2.0]).unwrap().to_json();
    assert_eq!(
        rounded(&regression, 4),
        json!({"task": "regression", "rows": 2, "mse": 0.125, "rmse": 0.3536, "mae": 0.25, "r2": 0.5})
    );
}

#[test]
fn rounding_is_decimal_and_leaves_integers() {
    let value = json!({"a": [0.123456, -0.00001, 2.5e-5, 1.0], "b": 7, "c": null, "d": "x"});
    assert_eq!(rounded(&value, 4), json!({"a": [0.1235, 0.0, 0.0, 1.0], "b": 7, "c": null, "d": "x"}));
    assert_eq!(rounded(&json!(0.12345), 2).to_string(), "0.12");
    assert_eq!(rounded(&json!(-0.00001), 4).to_string(), "0.0");
}

#[test]
fn lines_name_clinical_and_ml_metrics() {
    let report = binary_report(&["benign", "malignant"], &TIES_TRUTH, &TIES_SCORES, 1);
    let lines = report.lines();
    let line = |start: &str| lines.iter().find(|line| line.starts_with(start)).cloned().unwrap_or_default();
    assert!(line("Sensitivity (recall)").contains("0.8333  95% CI "), "{lines:#?}");
    assert!(line("PPV (precision)").ends_with("0.7143"));
    assert!(line("AUROC (ROC AUC)").contains("0.8194  95% CI"));
    // Values start in one column.
    let column = |text: &str| text.find("0.").unwrap();
    assert_eq!(column(&line("Accuracy")), column(&line("PR AUC (average precision)")));
    let matrix = lines.iter().position(|line| line.starts_with("Confusion matrix")).unwrap();
    assert_eq!(
        lines[matrix + 1..],
        ["           benign  malignant", "benign          4          2", "malignant       1          5"]
    );

    let multi = three_class_report().lines();
    assert!(multi.iter().any(|line| line.starts_with("macro average") && line.contains("0.7333")), "{multi:#?}");
    let regression = regression(&[1.0, 2.0], &[1.5, 2.0]).unwrap().lines();
    assert_eq!(regression[4], "R² (coefficient of determination)  0.5000");
    assert_eq!(regression[1], "MSE                                0.1250");
}

#[test]
fn a_multiclass_calibration_curve_pools_every_class_against_the_rest() {
    let classes = names(&["a", "b", "c"]);
    let probabilities = array![[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]];
    let truth = [0, 1, 0];
    let predictions =
        ClassPredictions { classes: &classes, truth: &truth, probabilities: probabilities.view(), positive: None };
    let report = classification(&predictions, Bootstrap { resamples: 0, seed: 0 }).unwrap();
    // The nine (probability, is the class) pairs binned as scikit-learn's calibration_curve(n_bins=10) would bin
    // them: 0.1 x3 (none the class), 0.2 (no), 0.3 x2 (one yes), 0.4 (no), 0.7 (yes), 0.8 (yes).
    let bins: Vec<(f64, f64, u64)> =
        multiclass(&report).calibration_curve.iter().map(|bin| (bin.mean_predicted, bin.observed, bin.count)).collect();
    let expected = [(0.1, 0.0, 3), (0.2, 0.0, 1), (0.3, 0.5, 2), (0.4, 0.0, 1), (0.7, 1.0, 1), (0.8, 1.0, 1)];
    assert_eq!(bins.len(), expected.len(), "{bins:?}");
    for (found, wanted) in bins.iter().zip(expected) {
        assert!((found.0 - wanted.0).abs() < 1e-12 && found.1 == wanted.1 && found.2 == wanted.2, "{bins:?}");
    }
    assert!(report.to_json()["calibration_curve"].as_array().is_some_and(|bins| bins.len() == 6));
}
