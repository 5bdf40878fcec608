//! The risk correction of a run trained with class weights (`data.risk_correction`): found from the training rows
//! when training, recorded in the model's metadata (which `eval` and `predict` read back, so that they apply exactly
//! the correction training reported with) and in the manifest, and stated in `galen train`'s summary.
//!
//! A run saved before the correction existed has no record and is scored as before, uncorrected.

use std::collections::BTreeMap;

use crate::check::Checked;
use crate::data::dataset::{class_weight_table, SplitData};
use crate::data::transform::Targets;
use crate::metrics::PriorCorrection;
use crate::spec::ast::Spec;

/// The key of the correction in `model.safetensors`' metadata (its JSON, compact).
pub const METADATA_KEY: &str = "risk_correction";

/// The correction for a model trained on `train`: `None` without class weights or for a regression; with
/// `risk_correction: none` a correction that records the shift and changes no risk.
pub fn correction(spec: &Spec, checked: &Checked, train: &SplitData) -> Option<PriorCorrection> {
    let method = spec.data.risk_correction()?;
    let Targets::Classes(classes) = &train.targets else { return None };
    let weights: Vec<f64> = class_weight_table(spec, checked, classes).into_iter().map(f64::from).collect();
    let mut counts = vec![0usize; weights.len()];
    for &class in classes {
        if let Some(count) = counts.get_mut(class as usize) {
            *count += 1;
        }
    }
    PriorCorrection::new(method, &weights, &counts)
}

/// The metadata pair that records `correction` in the model file (none without a correction).
pub fn metadata(correction: Option<&PriorCorrection>) -> Option<(String, String)> {
    correction.map(|correction| (METADATA_KEY.to_string(), correction.to_json().to_string()))
}

/// The correction recorded in a model's metadata, checked against the model's number of classes; `None` for a model
/// trained without class weights, or saved before corrections were recorded.
pub fn from_metadata(metadata: &BTreeMap<String, String>, classes: usize) -> Result<Option<PriorCorrection>, String> {
    let Some(text) = metadata.get(METADATA_KEY) else { return Ok(None) };
    let value = serde_json::from_str(text).map_err(|error| format!("`{METADATA_KEY}` is not JSON: {error}"))?;
    let correction = PriorCorrection::from_json(&value).map_err(|error| format!("`{METADATA_KEY}`: {error}"))?;
    if correction.class_weights.len() != classes {
        return Err(format!("`{METADATA_KEY}` has {} classes but the model {classes}", correction.class_weights.len()));
    }
    Ok(Some(correction))
}

/// What `galen train` says of the correction: whether the risks it reports are corrected, from which prevalence to
/// which, and the method's reference.
pub fn summary_line(correction: &PriorCorrection, classes: &[String]) -> String {
    let shares = |values: &[f64]| -> String {
        let named = classes.iter().zip(values).map(|(class, share)| format!("{class} {:.1}%", 100.0 * share));
        named.collect::<Vec<_>>().join(", ")
    };
    let training = shares(&correction.training_prevalence);
    let weighted = shares(&correction.weighted_prevalence());
    if correction.applies() {
        format!(
            "risks corrected for the class weights (`risk_correction: prior`, Saerens et al. 2002): from the weighted \
             prevalence ({weighted}) back to the training rows' ({training}); the losses are of the uncorrected \
             outputs, as training computes them"
        )
    } else {
        format!(
            "risks not corrected for the class weights (`risk_correction: none`): they reflect the weighted \
             prevalence ({weighted}), not the training rows' ({training})"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ast::RiskCorrection;

    #[test]
    fn the_metadata_reads_back_and_a_model_without_it_is_uncorrected() {
        let correction = PriorCorrection::new(RiskCorrection::Prior, &[0.625, 2.5], &[80, 20]);
        let metadata: BTreeMap<String, String> = metadata(correction.as_ref()).into_iter().collect();
        assert_eq!(from_metadata(&metadata, 2), Ok(correction));
        assert!(from_metadata(&metadata, 3).is_err());
        assert_eq!(from_metadata(&BTreeMap::new(), 2), Ok(None));
        let damaged = BTreeMap::from([(METADATA_KEY.to_string(), "{".to_string())]);
        assert!(from_metadata(&damaged, 2).is_err());
    }

    #[test]
    fn the_summary_says_whether_risks_are_corrected() {
        let classes = ["benign".to_string(), "malignant".to_string()];
        let prior = PriorCorrection::new(RiskCorrection::Prior, &[0.625, 2.5], &[80, 20]).unwrap();
        let line = summary_line(&prior, &classes);
        assert!(line.starts_with("risks corrected"), "{line}");
        assert!(line.contains("(benign 50.0%, malignant 50.0%) back to the training rows' (benign 80.0%"), "{line}");
        let none = PriorCorrection { method: RiskCorrection::None, ..prior };
        assert!(summary_line(&none, &classes).starts_with("risks not corrected"));
    }
}
