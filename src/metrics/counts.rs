//! The metrics read off the confusion matrix: each class against the rest, and their averages.

use super::{ratio, Averages, ClassMetrics, ConfusionMatrix};

/// `counts[true class][predicted class]`; the indices are already checked to be below `classes`.
pub(super) fn confusion_counts(truth: &[usize], predicted: &[usize], classes: usize) -> Vec<Vec<u64>> {
    let mut counts = vec![vec![0u64; classes]; classes];
    for (&truth, &predicted) in truth.iter().zip(predicted) {
        if let Some(cell) = counts.get_mut(truth).and_then(|row| row.get_mut(predicted)) {
            *cell += 1;
        }
    }
    counts
}

/// Each class against the rest.
pub(super) fn class_metrics(confusion: &ConfusionMatrix) -> Vec<ClassMetrics> {
    let counts = &confusion.counts;
    let total: u64 = counts.iter().flatten().sum();
    let fraction = |numerator: u64, denominator: u64| ratio(numerator as f64, denominator as f64);
    confusion
        .classes
        .iter()
        .enumerate()
        .map(|(class, name)| {
            let true_positives = counts[class][class];
            let support: u64 = counts[class].iter().sum();
            let predicted: u64 = counts.iter().map(|row| row[class]).sum();
            let false_negatives = support - true_positives;
            let false_positives = predicted - true_positives;
            let true_negatives = total - support - false_positives;
            ClassMetrics {
                class: name.clone(),
                support,
                precision: fraction(true_positives, predicted),
                recall: fraction(true_positives, support),
                specificity: fraction(true_negatives, true_negatives + false_positives),
                npv: fraction(true_negatives, true_negatives + false_negatives),
                f1: fraction(2 * true_positives, 2 * true_positives + false_positives + false_negatives),
            }
        })
        .collect()
}

/// The macro and the support-weighted averages; an undefined value counts as 0 (see [`Averages`]).
pub(super) fn averages(per_class: &[ClassMetrics], rows: usize) -> (Averages, Averages) {
    let average = |weight: &dyn Fn(&ClassMetrics) -> f64, value: &dyn Fn(&ClassMetrics) -> Option<f64>| {
        if rows == 0 {
            return None;
        }
        let total_weight: f64 = per_class.iter().map(weight).sum();
        let weighted: f64 = per_class.iter().map(|class| weight(class) * value(class).unwrap_or(0.0)).sum();
        ratio(weighted, total_weight)
    };
    let averages = |weight: &dyn Fn(&ClassMetrics) -> f64| Averages {
        precision: average(weight, &|class| class.precision),
        recall: average(weight, &|class| class.recall),
        specificity: average(weight, &|class| class.specificity),
        npv: average(weight, &|class| class.npv),
        f1: average(weight, &|class| class.f1),
    };
    (averages(&|_| 1.0), averages(&|class| class.support as f64))
}
