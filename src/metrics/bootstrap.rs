//! Seeded bootstrap percentile intervals for the binary AUROC, sensitivity and specificity.
//!
//! A resample is a multiplicity per row (how many times the draw picked it), so each metric is one pass over the
//! rows and the AUROC reuses the split's one sort.

use super::ranking::Ranking;
use super::{Bootstrap, ConfidenceInterval};
use crate::rng::{Purpose, Rng, Streams};

/// The coverage of every interval.
const LEVEL: f64 = 0.95;

/// The intervals of a binary task.
pub(super) struct BinaryIntervals {
    /// Of the AUROC.
    pub(super) auroc: ConfidenceInterval,
    /// Of the sensitivity.
    pub(super) sensitivity: ConfidenceInterval,
    /// Of the specificity.
    pub(super) specificity: ConfidenceInterval,
}

/// Resamples the rows and collects each metric where it is defined. `ranking` is `None` when the scores are not
/// finite, which leaves the AUROC interval without usable resamples.
pub(super) fn binary_intervals(
    is_positive: &[bool],
    predicted_positive: &[bool],
    ranking: Option<&Ranking>,
    bootstrap: Bootstrap,
) -> BinaryIntervals {
    let rows = is_positive.len();
    let mut aurocs = Vec::new();
    let mut sensitivities = Vec::new();
    let mut specificities = Vec::new();
    if rows > 0 {
        let mut rng = Streams::new(bootstrap.seed).stream(Purpose::Bootstrap);
        let mut multiplicity = vec![0u32; rows];
        for _ in 0..bootstrap.resamples {
            multiplicity.fill(0);
            for _ in 0..rows {
                // A `u64` range, like `rng::shuffle`, so that the draws do not depend on the pointer width.
                multiplicity[rng.gen_range(0..rows as u64) as usize] += 1;
            }
            let counts = Counts::of(is_positive, predicted_positive, &multiplicity);
            sensitivities.extend(fraction(counts.true_positives, counts.true_positives + counts.false_negatives));
            specificities.extend(fraction(counts.true_negatives, counts.true_negatives + counts.false_positives));
            aurocs.extend(ranking.and_then(|ranking| ranking.auroc(is_positive, &multiplicity)));
        }
    }
    BinaryIntervals {
        auroc: interval(aurocs, bootstrap.resamples),
        sensitivity: interval(sensitivities, bootstrap.resamples),
        specificity: interval(specificities, bootstrap.resamples),
    }
}

/// The four cells of a binary confusion matrix, each row counted by its multiplicity.
#[derive(Default)]
struct Counts {
    true_positives: u64,
    false_positives: u64,
    true_negatives: u64,
    false_negatives: u64,
}

impl Counts {
    /// Counts one resample.
    fn of(is_positive: &[bool], predicted_positive: &[bool], multiplicity: &[u32]) -> Counts {
        let mut counts = Counts::default();
        for ((&positive, &predicted), &times) in is_positive.iter().zip(predicted_positive).zip(multiplicity) {
            let cell = match (positive, predicted) {
                (true, true) => &mut counts.true_positives,
                (false, true) => &mut counts.false_positives,
                (false, false) => &mut counts.true_negatives,
                (true, false) => &mut counts.false_negatives,
            };
            *cell += u64::from(times);
        }
        counts
    }
}

/// A share, `None` for a zero denominator.
fn fraction(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// The percentile interval of the usable resamples' values.
fn interval(mut values: Vec<f64>, resamples: usize) -> ConfidenceInterval {
    values.sort_by(f64::total_cmp);
    let tail = (1.0 - LEVEL) / 2.0;
    ConfidenceInterval {
        low: percentile(&values, tail),
        high: percentile(&values, 1.0 - tail),
        level: LEVEL,
        resamples,
        usable: values.len(),
    }
}

/// The `quantile` (0 to 1) of sorted values, interpolating linearly between the order statistics at positions
/// `quantile · (n - 1)` (`numpy.percentile`'s default, Hyndman and Fan's type 7); `None` for no values.
pub(super) fn percentile(sorted: &[f64], quantile: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let position = quantile * last as f64;
    let below = (position.floor() as usize).min(last);
    let above = (below + 1).min(last);
    let weight = position - below as f64;
    Some(sorted[below] + weight * (sorted[above] - sorted[below]))
}
