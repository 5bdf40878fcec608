//! The help lines of lowering and checking: what a user probably meant by a name the spec does not know, where a
//! key that is written in the wrong section belongs, and examples written in the spec's own form.
//!
//! A clinician who writes `outcome`, `c_statistic` or `factor` uses a word from another tool or from the clinic;
//! the edit distance to `target`, `auc` or `categorical` is large, so "did you mean" alone cannot find them.

use crate::diagnostics::{did_you_mean, quote_list};
use crate::spec::ast::{Metric, CLIPPING_KEYS, LAYER_NAMES};
use crate::spec::Form;

/// Words users write for a name that the spec spells differently: other libraries' names, clinical names, British
/// spellings. A synonym is suggested only where the name it stands for is legal, so one word may stand for
/// different names in different places (`linear` is `dense` among layers and `interpolate` among strategies).
const SYNONYMS: &[(&str, &str)] = &[
    // Keys.
    ("experiment", "name"),
    ("name", "experiment"),
    ("outcome", "target"),
    ("label", "target"),
    ("response", "target"),
    ("y", "target"),
    ("file", "source"),
    ("path", "source"),
    ("predictors", "features"),
    ("inputs", "features"),
    ("drop", "exclude"),
    ("ignore", "exclude"),
    ("impute", "missing"),
    ("imputation", "missing"),
    ("scaling", "scale"),
    ("normalize", "scale"),
    ("normalise", "scale"),
    ("encoding", "encode"),
    ("class_weights", "class_weight"),
    ("weights", "class_weight"),
    ("prior_correction", "risk_correction"),
    ("optimiser", "optimizer"),
    ("loss_function", "loss"),
    ("n_epochs", "epochs"),
    ("num_epochs", "epochs"),
    ("batch", "batch_size"),
    ("scheduler", "schedule"),
    ("lr_schedule", "schedule"),
    ("learning_rate", "lr"),
    ("max_grad_norm", "global_clipnorm"),
    ("clip_grad_norm", "global_clipnorm"),
    ("kernel_size", "kernel"),
    ("pool_size", "size"),
    ("strides", "stride"),
    ("neurons", "units"),
    ("nodes", "units"),
    ("n_units", "units"),
    ("dropout_rate", "rate"),
    ("training", "train"),
    ("validation", "val"),
    ("valid", "val"),
    ("testing", "test"),
    ("folds", "k_fold"),
    // Layers.
    ("linear", "dense"),
    ("fully_connected", "dense"),
    ("fc", "dense"),
    ("conv", "conv2d"),
    ("convolution", "conv2d"),
    ("maxpool", "max_pool2d"),
    ("max_pooling2d", "max_pool2d"),
    ("average_pooling2d", "avg_pool2d"),
    ("global_average_pooling2d", "global_avg_pool2d"),
    ("batchnorm", "batch_norm"),
    ("batch_normalization", "batch_norm"),
    // Activations.
    ("logistic", "sigmoid"),
    ("identity", "linear"),
    ("none", "linear"),
    // Losses.
    ("crossentropy", "categorical_crossentropy"),
    ("cross_entropy", "categorical_crossentropy"),
    ("sparse_categorical_crossentropy", "categorical_crossentropy"),
    ("bce", "binary_crossentropy"),
    ("mean_squared_error", "mse"),
    ("l2", "mse"),
    ("mean_absolute_error", "mae"),
    ("l1", "mae"),
    ("smooth_l1", "huber"),
    // Optimizers.
    ("stochastic_gradient_descent", "sgd"),
    // Metrics.
    ("c_statistic", "auc"),
    ("c_index", "auc"),
    ("auroc", "auc"),
    ("roc_auc", "auc"),
    ("roc", "auc"),
    ("tpr", "sensitivity"),
    ("true_positive_rate", "sensitivity"),
    ("tnr", "specificity"),
    ("true_negative_rate", "specificity"),
    ("positive_predictive_value", "ppv"),
    ("negative_predictive_value", "npv"),
    ("f1_score", "f1"),
    ("f_score", "f1"),
    ("auprc", "pr_auc"),
    ("average_precision", "pr_auc"),
    ("brier_score", "brier"),
    ("cross_entropy", "log_loss"),
    ("r_squared", "r2"),
    ("rsquared", "r2"),
    // Scalings.
    ("zscore", "standard"),
    ("z_score", "standard"),
    ("standardize", "standard"),
    ("standardise", "standard"),
    ("normalize", "minmax"),
    ("normalise", "minmax"),
    ("iqr", "robust"),
    // Missing-value strategies.
    ("most_frequent", "mode"),
    ("average", "mean"),
    ("forward_fill", "ffill"),
    ("backward_fill", "bfill"),
    ("linear", "interpolate"),
    ("remove", "drop"),
    // Column kinds and encodings.
    ("factor", "categorical"),
    ("category", "categorical"),
    ("nominal", "categorical"),
    ("text", "categorical"),
    ("string", "categorical"),
    ("continuous", "numeric"),
    ("number", "numeric"),
    ("float", "numeric"),
    ("integer", "numeric"),
    ("int", "numeric"),
    ("boolean", "binary"),
    ("bool", "binary"),
    ("datetime", "date"),
    ("identifier", "id"),
    ("dummy", "onehot"),
    // Colors and schedules.
    ("grey", "grayscale"),
    ("gray", "grayscale"),
    ("greyscale", "grayscale"),
    ("color", "rgb"),
    ("colour", "rgb"),
    ("cosine_annealing", "cosine"),
    ("reduce_on_plateau", "plateau"),
    ("step_decay", "step"),
];

/// The keys of the top level, of `data` and of `train`, and where each belongs, for a key written in the wrong
/// section. Layer and metric names are looked up too.
const HOMES: &[(&[&str], &str)] = &[
    (&["name", "experiment", "seed", "data", "model", "train", "metrics"], "at the top level of the spec"),
    (DATA_KEYS, "in `data`"),
    (TRAIN_KEYS, "in `train`"),
    (&["val", "test", "stratify", "group", "test_file", "k_fold"], "in `data.split`"),
    (CLIPPING_KEYS, "among the optimizer's settings"),
];

/// The keys of `data.split`.
pub const SPLIT_KEYS: &[&str] = &["train", "val", "test", "stratify", "group", "column", "test_file", "k_fold"];

/// The keys of `data`.
pub const DATA_KEYS: &[&str] = &[
    "source",
    "target",
    "positive",
    "features",
    "exclude",
    "types",
    "shape",
    "missing",
    "scale",
    "encode",
    "split",
    "class_weight",
    "risk_correction",
];

/// The keys of `train`.
pub const TRAIN_KEYS: &[&str] = &["optimizer", "loss", "epochs", "batch_size", "early_stopping", "schedule"];

/// The parameters a layer takes by position, in order: `dense 64 relu` is `units=64 activation=relu`.
pub fn layer_positional(layer: &str) -> &'static [&'static str] {
    match layer {
        "dense" => &["units", "activation"],
        "conv2d" => &["filters", "kernel", "activation"],
        "max_pool2d" | "avg_pool2d" => &["size", "stride"],
        "dropout" => &["rate"],
        "lstm" | "gru" => &["units"],
        "activation" => &["name"],
        _ => &[],
    }
}

/// The name among `candidates` that `word` probably means: a synonym, else a close spelling.
pub fn suggestion<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let normalized = word.trim().to_lowercase().replace(['-', ' '], "_");
    let synonym = SYNONYMS
        .iter()
        .filter(|(written, _)| *written == normalized)
        .find_map(|(_, meant)| candidates.iter().find(|candidate| **candidate == *meant).copied());
    synonym.or_else(|| did_you_mean(word, candidates.iter().copied()))
}

/// The help line for an unknown name or key written in `here`: what it probably means, else where it belongs if it
/// is a key of another section, else the legal names.
pub fn name_help(word: &str, candidates: &[&str], here: Option<&str>) -> String {
    if let Some(close) = suggestion(word, candidates) {
        return format!("did you mean `{close}`?");
    }
    if let Some(here) = here {
        if let Some(home) = home_of(word).filter(|home| !home.starts_with(&format!("in {here}"))) {
            return format!("`{word}` belongs {home}, not in {here}: move it there");
        }
    }
    format!("expected one of: {}", quote_list(candidates))
}

/// Where a key, layer or metric named `word` is written.
fn home_of(word: &str) -> Option<&'static str> {
    if let Some((_, home)) = HOMES.iter().find(|(keys, _)| keys.contains(&word)) {
        return Some(home);
    }
    if LAYER_NAMES.contains(&word) {
        return Some("in `model` (it is a layer)");
    }
    if Metric::NAMES.contains(&word) {
        return Some("in `metrics` (it is a metric)");
    }
    None
}

/// Writes a DSL example (`key value`, `key a=b`, `key name a=b`) in the spec's own form.
pub fn example(form: Form, dsl: &str) -> String {
    if form == Form::Dsl {
        return dsl.to_string();
    }
    match dsl.split_once(' ') {
        Some((key, rest)) if rest.starts_with('{') => format!("{key}: ..."),
        Some((key, rest)) if rest.contains('=') => {
            let mut words = rest.split(' ');
            let first = words.next().unwrap_or_default();
            let pairs: Vec<String> = std::iter::once(first)
                .chain(words)
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            if first.contains('=') {
                format!("{key}: {{{}}}", pairs.join(", "))
            } else {
                format!("{key}: {{{first}: {{{}}}}}", pairs.join(", "))
            }
        }
        Some((key, rest)) if rest.contains(", ") => format!("{key}: [{rest}]"),
        Some((key, rest)) => format!("{key}: {rest}"),
        None => format!("{dsl}: ..."),
    }
}

/// A layer written in the spec's form: `dense 64 relu` or `- dense: {units: 64, activation: relu}`. Parameters
/// that the layer takes by position are written by position in the DSL.
pub fn layer_example(form: Form, layer: &str, params: &[(&str, String)]) -> String {
    let positional = layer_positional(layer);
    match form {
        Form::Dsl => {
            let mut words = vec![layer.to_string()];
            let mut by_position = true;
            for (index, (key, value)) in params.iter().enumerate() {
                by_position = by_position && positional.get(index) == Some(key);
                words.push(if by_position { value.clone() } else { format!("{key}={value}") });
            }
            words.join(" ")
        }
        Form::Yaml => match params {
            [] => format!("- {layer}"),
            [(key, value)] if positional.first() == Some(key) => format!("- {layer}: {value}"),
            _ => {
                let pairs: Vec<String> = params.iter().map(|(key, value)| format!("{key}: {value}")).collect();
                format!("- {layer}: {{{}}}", pairs.join(", "))
            }
        },
    }
}

/// How to write a list of names in the spec's form: `accuracy, auc` or `[accuracy, auc]`.
pub fn list_example(form: Form, key: &str, names: &[&str]) -> String {
    match form {
        Form::Dsl => format!("{key} {}", names.join(", ")),
        Form::Yaml => format!("{key}: [{}]", names.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synonyms_are_suggested_only_where_legal() {
        assert_eq!(suggestion("c_statistic", Metric::NAMES), Some("auc"));
        assert_eq!(suggestion("linear", LAYER_NAMES), Some("dense"));
        assert_eq!(suggestion("linear", &["mean", "median", "interpolate"]), Some("interpolate"));
        assert_eq!(suggestion("Z-Score", &["none", "standard", "minmax", "robust"]), Some("standard"));
        assert_eq!(suggestion("outcome", &["source", "target"]), Some("target"));
        assert_eq!(suggestion("outcome", &["units", "activation"]), None);
    }

    #[test]
    fn misplaced_keys_name_their_section() {
        assert_eq!(
            name_help("epochs", LAYER_NAMES, Some("`model`")),
            "`epochs` belongs in `train`, not in `model`: move it there"
        );
        assert_eq!(
            name_help("dropout", TRAIN_KEYS, Some("`train`")),
            "`dropout` belongs in `model` (it is a layer), not in `train`: move it there"
        );
        assert_eq!(
            name_help("global_clipnorm", TRAIN_KEYS, Some("`train`")),
            "`global_clipnorm` belongs among the optimizer's settings, not in `train`: move it there"
        );
        assert!(name_help("zzz", TRAIN_KEYS, Some("`train`")).starts_with("expected one of"));
    }

    #[test]
    fn examples_follow_the_form() {
        assert_eq!(example(Form::Yaml, "split train=0.7 val=0.1 test=0.2"), "split: {train: 0.7, val: 0.1, test: 0.2}");
        assert_eq!(example(Form::Yaml, "optimizer adam lr=0.001"), "optimizer: {adam: {lr: 0.001}}");
        let dense = [("units", "2".to_string()), ("activation", "softmax".to_string())];
        assert_eq!(layer_example(Form::Dsl, "dense", &dense), "dense 2 softmax");
        assert_eq!(layer_example(Form::Yaml, "dense", &dense), "- dense: {units: 2, activation: softmax}");
        assert_eq!(layer_example(Form::Yaml, "dense", &dense[..1]), "- dense: 2");
        let conv = [("filters", "16".to_string()), ("padding", "same".to_string())];
        assert_eq!(layer_example(Form::Dsl, "conv2d", &conv), "conv2d 16 padding=same");
    }
}
