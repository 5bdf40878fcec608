//! The prior correction of a classifier's risks for class weights (Saerens, Latinne and Decaestecker 2002; King and
//! Zeng 2001).
//!
//! A model trained with class weights `w_k` on `n_k` training rows of each class learns the classes as if their
//! prevalences were the weighted ones, `π̃_k = w_k n_k / Σ_j w_j n_j`, instead of the training rows' own,
//! `π_k = n_k / Σ_j n_j`; its probabilities then overstate the classes weighted up. Bayes' rule moves them back:
//! `p'_k = (p_k π_k / π̃_k) / Σ_j (p_j π_j / π̃_j)`. A model with one sigmoid unit gives `P(positive)`, corrected
//! with its complement as the two classes' probabilities.
//!
//! The factor `π_k / π̃_k` equals `(Σ_j w_j π_j) / w_k`, so the correction needs the class weights and the training
//! prevalence only, and stays defined for a class without training rows (where `π_k / π̃_k` is 0/0 but its limit is
//! that). Pure, and never panics: a row whose probabilities do not sum to a positive finite number is left as it is.

use ndarray::Array2;
use serde_json::{json, Value};

use crate::spec::ast::RiskCorrection;

/// The method's reference, written beside it wherever the correction is recorded.
pub const REFERENCE: &str = "Saerens, Latinne and Decaestecker 2002, Neural Computation 14(1):21-41; King and Zeng \
    2001, Political Analysis 9(2):137-163";

/// What class weights did to a model's risks, and whether they are corrected back.
#[derive(Clone, Debug, PartialEq)]
pub struct PriorCorrection {
    /// `prior` corrects the risks; `none` records the shift but leaves the risks as the weighted model gives them.
    pub method: RiskCorrection,
    /// Each class's weight in the loss, `w_k`, in class order.
    pub class_weights: Vec<f64>,
    /// Each class's share of the training rows, `π_k`, in class order.
    pub training_prevalence: Vec<f64>,
}

impl PriorCorrection {
    /// The correction for `class_weights` and the training rows per class (`counts`), in class order; `None` when
    /// the two lengths differ, there are fewer than two classes or no rows, or a weight is not positive and finite.
    pub fn new(method: RiskCorrection, class_weights: &[f64], counts: &[usize]) -> Option<PriorCorrection> {
        let rows: usize = counts.iter().sum();
        if rows == 0 {
            return None;
        }
        let training_prevalence = counts.iter().map(|&count| count as f64 / rows as f64).collect();
        PriorCorrection { method, class_weights: class_weights.to_vec(), training_prevalence }.valid()
    }

    /// Whether the risks are corrected (`prior`), rather than only recorded (`none`).
    pub fn applies(&self) -> bool {
        self.method == RiskCorrection::Prior
    }

    /// The prevalence the weighted model learned, `π̃_k = w_k π_k / Σ_j w_j π_j`.
    pub fn weighted_prevalence(&self) -> Vec<f64> {
        let total = self.weighted_total();
        self.class_weights.iter().zip(&self.training_prevalence).map(|(weight, share)| weight * share / total).collect()
    }

    /// The factor of each class's probability, `π_k / π̃_k`, before the row is normalised again.
    pub fn factors(&self) -> Vec<f64> {
        let total = self.weighted_total();
        self.class_weights.iter().map(|weight| total / weight).collect()
    }

    /// One row of class probabilities, corrected in place (unchanged with `none`).
    pub fn correct(&self, probabilities: &mut [f64]) {
        if !self.applies() || probabilities.len() != self.class_weights.len() {
            return;
        }
        let factors = self.factors();
        let scaled: Vec<f64> = probabilities.iter().zip(&factors).map(|(p, factor)| p * factor).collect();
        let sum: f64 = scaled.iter().sum();
        if sum.is_finite() && sum > 0.0 {
            for (p, scaled) in probabilities.iter_mut().zip(scaled) {
                *p = scaled / sum;
            }
        }
    }

    /// `P(positive)` of a two-class model with one sigmoid unit, corrected with its complement (unchanged with
    /// `none`, or when the model has not two classes).
    pub fn correct_positive(&self, p: f64, positive: usize) -> f64 {
        if self.class_weights.len() != 2 || positive > 1 {
            return p;
        }
        let mut pair = [0.0; 2];
        pair[positive] = p;
        pair[1 - positive] = 1.0 - p;
        self.correct(&mut pair);
        pair[positive]
    }

    /// A split's outputs as the graphs give them, corrected in place: a probability per class in each row, or one
    /// column of `P(classes[positive])` for a model with one sigmoid unit. Computed in f64, stored as f32.
    pub fn correct_outputs(&self, outputs: &mut Array2<f32>, positive: usize) {
        if !self.applies() {
            return;
        }
        for mut row in outputs.rows_mut() {
            if row.len() == 1 {
                row[0] = self.correct_positive(f64::from(row[0]), positive) as f32;
            } else {
                let mut probabilities: Vec<f64> = row.iter().map(|&p| f64::from(p)).collect();
                self.correct(&mut probabilities);
                row.iter_mut().zip(probabilities).for_each(|(out, p)| *out = p as f32);
            }
        }
    }

    /// The correction as JSON, as the run directory records it: the method, its reference, the class weights, the
    /// training prevalence (what [`PriorCorrection::from_json`] reads) and the weighted prevalence (for the reader).
    pub fn to_json(&self) -> Value {
        json!({
            "method": self.method.name(),
            "reference": REFERENCE,
            "class_weights": self.class_weights,
            "training_prevalence": self.training_prevalence,
            "weighted_prevalence": self.weighted_prevalence(),
        })
    }

    /// Reads [`PriorCorrection::to_json`]'s form back; an error says what is wrong.
    pub fn from_json(value: &Value) -> Result<PriorCorrection, String> {
        let method = value["method"].as_str().ok_or("no `method`")?;
        let method = RiskCorrection::from_name(method).ok_or_else(|| format!("unknown method `{method}`"))?;
        let numbers = |key: &str| -> Result<Vec<f64>, String> {
            let items = value[key].as_array().ok_or_else(|| format!("no `{key}` list"))?;
            items.iter().map(|item| item.as_f64().ok_or_else(|| format!("`{key}` holds a non-number"))).collect()
        };
        let correction = PriorCorrection {
            method,
            class_weights: numbers("class_weights")?,
            training_prevalence: numbers("training_prevalence")?,
        };
        correction.valid().ok_or_else(|| "the class weights or the training prevalence are not valid".to_string())
    }

    /// `Σ_j w_j π_j`, the weighted rows per training row.
    fn weighted_total(&self) -> f64 {
        self.class_weights.iter().zip(&self.training_prevalence).map(|(weight, share)| weight * share).sum()
    }

    /// The correction when it can be applied: two or more classes, as many weights as shares, every weight positive
    /// and finite, the shares at least 0 and summing to 1.
    fn valid(self) -> Option<PriorCorrection> {
        let classes = self.class_weights.len();
        let weights = self.class_weights.iter().all(|weight| weight.is_finite() && *weight > 0.0);
        let shares = self.training_prevalence.iter().all(|share| share.is_finite() && *share >= 0.0);
        let sum: f64 = self.training_prevalence.iter().sum();
        let sound = classes >= 2 && self.training_prevalence.len() == classes && weights && shares;
        (sound && (sum - 1.0).abs() < 1e-9).then_some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn close(found: f64, expected: f64) {
        assert!((found - expected).abs() < 1e-12, "{found} is not {expected}");
    }

    /// 80 negative and 20 positive training rows, `class_weight: balanced`: w = 100 / (2 · 80) = 0.625 and
    /// 100 / (2 · 20) = 2.5, so π = (0.8, 0.2) and π̃ = (50, 50) / 100 = (0.5, 0.5). By hand, P = 0.5 becomes
    /// (0.5 · 0.2 / 0.5) / (0.5 · 0.8 / 0.5 + 0.5 · 0.2 / 0.5) = 0.2 / 1.0 = 0.2, and P = 0.9 becomes
    /// 0.36 / (0.36 + 0.16) = 0.36 / 0.52.
    #[test]
    fn a_balanced_binary_model_is_corrected_back_to_the_training_prevalence() {
        let correction = PriorCorrection::new(RiskCorrection::Prior, &[0.625, 2.5], &[80, 20]).unwrap();
        assert_eq!(correction.training_prevalence, vec![0.8, 0.2]);
        let weighted = correction.weighted_prevalence();
        close(weighted[0], 0.5);
        close(weighted[1], 0.5);
        let factors = correction.factors();
        close(factors[0], 0.8 / 0.5);
        close(factors[1], 0.2 / 0.5);
        close(correction.correct_positive(0.5, 1), 0.2);
        close(correction.correct_positive(0.9, 1), 0.36 / 0.52);
        // The positive class first: P(class 0) = 0.5 becomes 0.8.
        close(correction.correct_positive(0.5, 0), 0.8);
        let mut pair = [0.1, 0.9];
        correction.correct(&mut pair);
        close(pair[1], 0.36 / 0.52);
        close(pair[0], 0.16 / 0.52);
    }

    /// 50, 30 and 20 training rows with weights 1, 2 and 4: π = (0.5, 0.3, 0.2), the weighted rows are 50, 60 and 80
    /// of 190, so π̃ = (50, 60, 80) / 190 and the factors π / π̃ are 1.9, 0.95 and 0.475. By hand,
    /// p = (0.2, 0.3, 0.5) scales to (0.38, 0.285, 0.2375), which sum to 0.9025.
    #[test]
    fn three_classes_are_corrected_by_hand() {
        let correction = PriorCorrection::new(RiskCorrection::Prior, &[1.0, 2.0, 4.0], &[50, 30, 20]).unwrap();
        let weighted = correction.weighted_prevalence();
        for (found, expected) in weighted.iter().zip([50.0 / 190.0, 60.0 / 190.0, 80.0 / 190.0]) {
            close(*found, expected);
        }
        for (found, expected) in correction.factors().iter().zip([1.9, 0.95, 0.475]) {
            close(*found, expected);
        }
        let mut row = [0.2, 0.3, 0.5];
        correction.correct(&mut row);
        for (found, expected) in row.iter().zip([0.38 / 0.9025, 0.285 / 0.9025, 0.2375 / 0.9025]) {
            close(*found, expected);
        }
        close(row.iter().sum(), 1.0);
    }

    #[test]
    fn outputs_of_a_sigmoid_or_a_softmax_are_corrected_row_by_row() {
        let binary = PriorCorrection::new(RiskCorrection::Prior, &[0.625, 2.5], &[80, 20]).unwrap();
        let mut sigmoid = array![[0.5f32], [0.9], [1.0], [0.0]];
        binary.correct_outputs(&mut sigmoid, 1);
        let expected = [0.2, 0.899999976158142 * 0.4 / (0.899999976158142 * 0.4 + 0.100000023841858 * 1.6), 1.0, 0.0];
        for (found, expected) in sigmoid.column(0).iter().zip(expected) {
            assert!((f64::from(*found) - expected).abs() < 1e-7, "{found} is not {expected}");
        }
        let three = PriorCorrection::new(RiskCorrection::Prior, &[1.0, 2.0, 4.0], &[50, 30, 20]).unwrap();
        let mut softmax = array![[0.2f32, 0.3, 0.5], [f32::NAN, 0.5, 0.5]];
        three.correct_outputs(&mut softmax, 0);
        assert!((softmax[[0, 0]] - (0.38 / 0.9025) as f32).abs() < 1e-7);
        // A row that cannot be normalised is left as the model gave it.
        assert!(softmax[[1, 0]].is_nan() && softmax[[1, 1]] == 0.5);
    }

    #[test]
    fn none_records_the_shift_but_changes_no_risk() {
        let correction = PriorCorrection::new(RiskCorrection::None, &[0.625, 2.5], &[80, 20]).unwrap();
        assert!(!correction.applies());
        assert_eq!(correction.correct_positive(0.9, 1), 0.9);
        let mut outputs = array![[0.1f32, 0.9]];
        correction.correct_outputs(&mut outputs, 1);
        assert_eq!(outputs, array![[0.1f32, 0.9]]);
    }

    #[test]
    fn equal_weights_change_nothing() {
        let correction = PriorCorrection::new(RiskCorrection::Prior, &[3.0, 3.0, 3.0], &[7, 2, 1]).unwrap();
        let mut row = [0.25, 0.25, 0.5];
        correction.correct(&mut row);
        assert_eq!(row, [0.25, 0.25, 0.5]);
    }

    #[test]
    fn a_class_without_training_rows_keeps_a_finite_factor() {
        let correction = PriorCorrection::new(RiskCorrection::Prior, &[1.0, 2.0, 1.0], &[6, 4, 0]).unwrap();
        assert!(correction.factors().iter().all(|factor| factor.is_finite() && *factor > 0.0));
        let mut row = [0.2, 0.4, 0.4];
        correction.correct(&mut row);
        close(row.iter().sum(), 1.0);
    }

    #[test]
    fn the_json_form_reads_back_to_the_same_bits() {
        let weights = [1.0 / 3.0, 1.7320508075688772, 0.1];
        let correction = PriorCorrection::new(RiskCorrection::Prior, &weights, &[113, 7, 29]).unwrap();
        let text = correction.to_json().to_string();
        let read = PriorCorrection::from_json(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(read, correction);
        assert_eq!(read.factors(), correction.factors());
        assert_eq!(correction.to_json()["weighted_prevalence"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn damaged_or_impossible_corrections_are_refused() {
        assert_eq!(PriorCorrection::new(RiskCorrection::Prior, &[1.0, 2.0], &[0, 0]), None);
        assert_eq!(PriorCorrection::new(RiskCorrection::Prior, &[1.0, 0.0], &[3, 4]), None);
        assert_eq!(PriorCorrection::new(RiskCorrection::Prior, &[1.0, f64::NAN], &[3, 4]), None);
        assert_eq!(PriorCorrection::new(RiskCorrection::Prior, &[1.0], &[3]), None);
        assert_eq!(PriorCorrection::new(RiskCorrection::Prior, &[1.0, 2.0], &[3, 4, 5]), None);
        for damaged in [
            json!({}),
            json!({"method": "posterior", "class_weights": [1, 2], "training_prevalence": [0.5, 0.5]}),
            json!({"method": "prior", "class_weights": [1, 2], "training_prevalence": [0.5, 0.6]}),
            json!({"method": "prior", "class_weights": [1, -2], "training_prevalence": [0.5, 0.5]}),
            json!({"method": "prior", "class_weights": [1, "2"], "training_prevalence": [0.5, 0.5]}),
            json!({"method": "prior", "class_weights": [1, 2, 3], "training_prevalence": [0.5, 0.5]}),
        ] {
            assert!(PriorCorrection::from_json(&damaged).is_err(), "{damaged}");
        }
    }
}
