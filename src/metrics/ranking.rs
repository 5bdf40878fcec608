//! The metrics of how scores rank positive rows above negative ones: AUROC, average precision and the ROC curve.
//!
//! The rows are sorted once and grouped by equal score; every metric is a sweep over the groups from the highest
//! score. The AUROC sweep takes a multiplicity per row so that each bootstrap resample costs one pass, not a sort.

use super::{finite, ratio, RocCurve};

/// Rows in order of decreasing score, cut into groups of equal score.
pub(super) struct Ranking {
    /// Row indices, highest score first.
    order: Vec<usize>,
    /// The score and the end (in `order`) of each group of equal scores.
    groups: Vec<(f64, usize)>,
}

impl Ranking {
    /// The ranking of some scores; `None` when a score is not finite.
    pub(super) fn new(scores: &[f64]) -> Option<Ranking> {
        if !scores.iter().all(|score| score.is_finite()) {
            return None;
        }
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        let mut groups: Vec<(f64, usize)> = Vec::new();
        for (position, &row) in order.iter().enumerate() {
            match groups.last_mut() {
                // `total_cmp` puts -0.0 below 0.0, but they are the same score.
                Some((score, end)) if *score == scores[row] => *end = position + 1,
                _ => groups.push((scores[row], position + 1)),
            }
        }
        Some(Ranking { order, groups })
    }

    /// The groups as (score, positive weight, negative weight), from the highest score.
    fn weighted_groups<'a>(
        &'a self,
        is_positive: &'a [bool],
        weights: &'a [u32],
    ) -> impl Iterator<Item = (f64, f64, f64)> + 'a {
        let mut start = 0;
        self.groups.iter().map(move |&(score, end)| {
            let (mut positive, mut negative) = (0.0, 0.0);
            for &row in &self.order[start..end] {
                let weight = f64::from(weights[row]);
                if is_positive[row] {
                    positive += weight;
                } else {
                    negative += weight;
                }
            }
            start = end;
            (score, positive, negative)
        })
    }

    /// The Mann–Whitney AUROC with each row counted `weights[row]` times, ties counting half; `None` unless both
    /// classes have weight.
    pub(super) fn auroc(&self, is_positive: &[bool], weights: &[u32]) -> Option<f64> {
        let (mut positives_above, mut pairs_ranked) = (0.0, 0.0);
        let mut negatives = 0.0;
        for (_, positive, negative) in self.weighted_groups(is_positive, weights) {
            pairs_ranked += negative * (positives_above + 0.5 * positive);
            positives_above += positive;
            negatives += negative;
        }
        if positives_above == 0.0 || negatives == 0.0 {
            return None;
        }
        ratio(pairs_ranked, positives_above * negatives)
    }

    /// Average precision: the recall gained at each distinct threshold times the precision there; `None` without
    /// positive rows.
    pub(super) fn average_precision(&self, is_positive: &[bool]) -> Option<f64> {
        let positives = is_positive.iter().filter(|&&positive| positive).count() as f64;
        if positives == 0.0 {
            return None;
        }
        let unit = vec![1u32; is_positive.len()];
        let (mut true_positives, mut false_positives, mut recall, mut area) = (0.0, 0.0, 0.0, 0.0);
        for (_, positive, negative) in self.weighted_groups(is_positive, &unit) {
            true_positives += positive;
            false_positives += negative;
            let new_recall = true_positives / positives;
            area += (new_recall - recall) * (true_positives / (true_positives + false_positives));
            recall = new_recall;
        }
        finite(area)
    }

    /// The ROC curve; `None` unless both classes are present.
    pub(super) fn roc_curve(&self, is_positive: &[bool]) -> Option<RocCurve> {
        let positives = is_positive.iter().filter(|&&positive| positive).count() as f64;
        let negatives = is_positive.len() as f64 - positives;
        if positives == 0.0 || negatives == 0.0 {
            return None;
        }
        let mut curve = RocCurve { fpr: vec![0.0], tpr: vec![0.0], thresholds: vec![f64::INFINITY] };
        let unit = vec![1u32; is_positive.len()];
        let (mut true_positives, mut false_positives) = (0.0, 0.0);
        for (score, positive, negative) in self.weighted_groups(is_positive, &unit) {
            true_positives += positive;
            false_positives += negative;
            curve.fpr.push(false_positives / negatives);
            curve.tpr.push(true_positives / positives);
            curve.thresholds.push(score);
        }
        Some(curve)
    }
}
