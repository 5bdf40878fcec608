//! A trained run read back: its manifest, the spec it was trained with (and the run's seed), the model's task,
//! input shape and weights, and the saved preprocessing, every file checked against the others.

use std::path::Path;

use super::manifest::Manifest;
use super::{weights, RunDir, MANIFEST, MODEL, TRANSFORM};
use crate::check::{rebuild, Checked, Task};
use crate::data::transform::Transform;
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::lowering::Model;
use crate::metrics::PriorCorrection;
use crate::runtime::train::Weights;
use crate::spec::ast::{Source, Spec};
use crate::spec::{Form, SpecFile};

/// A trained run read back: its spec (with the run's seed), the model, its weights and preprocessing.
pub struct LoadedRun {
    /// The run directory.
    pub run: RunDir,
    /// Its manifest.
    pub manifest: Manifest,
    /// The spec as given, located where it was read from (so that its relative data paths resolve as in training).
    pub file: SpecFile,
    /// The spec, with the seed the run used.
    pub spec: Spec,
    /// The model's task, input shape and layers.
    pub checked: Checked,
    /// The weights.
    pub weights: Weights,
    /// The fitted preprocessing (tables only).
    pub transform: Option<Transform>,
    /// The correction of the risks for class weights that training reported with (`None` without class weights,
    /// and for a run saved before corrections were recorded).
    pub risk_correction: Option<PriorCorrection>,
}

/// Reads a run directory; every problem is an error naming the file.
pub fn load(path: &Path) -> Result<LoadedRun, Diagnostics> {
    let one = |diagnostic: Diagnostic| Diagnostics { items: vec![diagnostic] };
    let run = RunDir::open(path).map_err(one)?;
    let manifest = Manifest::parse(&run.read(MANIFEST).map_err(one)?, &run.file(MANIFEST)).map_err(one)?;
    let copy = run.file(&manifest.spec.copy);
    let text = String::from_utf8(run.read(&manifest.spec.copy).map_err(one)?).map_err(|_| {
        one(Diagnostic::error("run::spec", "the run's copy of the spec is not UTF-8 text").at_file(&copy))
    })?;
    let form = Form::from_path(&copy).unwrap_or(Form::Dsl);
    let file = SpecFile { path: manifest.spec.path.clone(), text, form };
    let mut diagnostics = Diagnostics::new();
    let Some(lowered) = file.parse(&mut diagnostics) else { return Err(diagnostics) };
    let mut spec = lowered.spec;
    spec.seed.value = manifest.seed;
    let model_path = run.file(MODEL);
    let (weights, metadata) = weights::from_bytes(&run.read(MODEL).map_err(one)?).map_err(|error| {
        one(Diagnostic::error("run::model", format!("the model cannot be read: {error}"))
            .at_file(&model_path)
            .with_help("the run directory is damaged; train again"))
    })?;
    let (task, input_shape) = model_description(&metadata).map_err(|error| {
        one(Diagnostic::error("run::model", format!("the model's description is damaged: {error}"))
            .at_file(&model_path))
    })?;
    let checked = rebuild(&spec, task, input_shape)?;
    let risk_correction = super::risk::from_metadata(&metadata, checked.task.classes().len()).map_err(|error| {
        one(Diagnostic::error("run::model", format!("the model's risk correction is damaged: {error}"))
            .at_file(&model_path)
            .with_help("the run directory is damaged; train again"))
    })?;
    let transform = match (&spec.data.source.value, run.file(TRANSFORM).is_file()) {
        (_, true) => {
            let text = String::from_utf8_lossy(&run.read(TRANSFORM).map_err(one)?).into_owned();
            Some(
                Transform::from_json(&text)
                    .map_err(|error| one(Diagnostic::error("run::transform", error).at_file(&run.file(TRANSFORM))))?,
            )
        }
        (Source::Csv { .. }, false) => {
            return Err(one(Diagnostic::error("run::transform", "the run's saved preprocessing is missing")
                .at_file(&run.file(TRANSFORM))
                .with_help("the run directory is incomplete (an interrupted or failed run?); train again")));
        }
        (Source::Images { .. }, false) => None,
    };
    let damaged = |what: String| {
        one(Diagnostic::error("run::model", format!("the run's files disagree: {what}"))
            .at_file(&model_path)
            .with_help("the run directory is damaged or its files come from different runs; train again"))
    };
    if let Some(transform) = &transform {
        let classes = match &transform.target {
            crate::data::transform::FittedTarget::Classes { classes, .. } => classes.clone(),
            crate::data::transform::FittedTarget::Number { .. } => Vec::new(),
        };
        if classes != checked.task.classes() {
            return Err(damaged("the model's classes are not the preprocessing's".to_string()));
        }
        if transform.width() != checked.input_shape.iter().product::<usize>() {
            return Err(damaged("the model's input width is not the preprocessing's".to_string()));
        }
    }
    let model = Model::new(&spec, &checked);
    let classes = checked.task.classes().len();
    let fits = match model.target_encoding() {
        crate::lowering::TargetEncoding::OneHot { classes: width } => width == classes,
        crate::lowering::TargetEncoding::Positive => classes == 2,
        crate::lowering::TargetEncoding::Numbers => classes == 0,
    };
    if !fits {
        return Err(damaged(format!(
            "the model's metadata names {classes} classes, which its last layer does not give"
        )));
    }
    for variable in model.variables().iter().filter(|variable| !crate::lowering::is_optimizer_state(variable)) {
        let found = weights.get(&variable.name).map(|value| value.shape().to_vec());
        if found.as_deref() != Some(variable.shape.as_slice()) {
            return Err(one(Diagnostic::error(
                "run::model",
                format!("the weights do not fit the spec's model: `{}` is missing or has another shape", variable.name),
            )
            .at_file(&model_path)
            .with_help("the run directory is damaged or its files come from different runs; train again")));
        }
    }
    Ok(LoadedRun { run, manifest, file, spec, checked, weights, transform, risk_correction })
}

/// A warning when the run did not finish training (its model is a checkpoint of an interrupted or failed run).
pub fn unfinished_warning(loaded: &LoadedRun) -> Option<Diagnostic> {
    let status = loaded.manifest.status.as_str();
    (!matches!(status, "completed" | "stopped early")).then(|| {
        Diagnostic::warning("run::unfinished", format!("this run's training did not finish (status: {status})"))
            .at_file(&loaded.run.file(MANIFEST))
            .with_help("its model is the last checkpoint written; train again for a finished model")
    })
}

/// The metadata `galen train` writes into `model.safetensors` to describe the model: task, classes, input shape.
pub fn describe_model(task: &Task, input_shape: &[usize]) -> Vec<(String, String)> {
    let (kind, classes, positive) = match task {
        Task::Binary { classes, positive, .. } => ("binary", classes.clone(), Some(*positive)),
        Task::Multiclass { classes } => ("multiclass", classes.clone(), None),
        Task::Regression => ("regression", Vec::new(), None),
    };
    let mut pairs = vec![
        ("task".to_string(), kind.to_string()),
        ("classes".to_string(), serde_json::to_string(&classes).unwrap_or_default()),
    ];
    if let Some(positive) = positive {
        pairs.push(("positive".to_string(), positive.to_string()));
    }
    pairs.push(("input_shape".to_string(), serde_json::to_string(input_shape).unwrap_or_default()));
    pairs
}

fn model_description(metadata: &std::collections::BTreeMap<String, String>) -> Result<(Task, Vec<usize>), String> {
    let get = |key: &str| metadata.get(key).ok_or_else(|| format!("no `{key}` in the metadata"));
    let classes: Vec<String> = serde_json::from_str(get("classes")?).map_err(|error| error.to_string())?;
    let input_shape: Vec<usize> = serde_json::from_str(get("input_shape")?).map_err(|error| error.to_string())?;
    let task = match get("task")?.as_str() {
        "binary" => {
            let positive: usize = get("positive")?.parse().map_err(|_| "`positive` is not a number".to_string())?;
            if classes.len() != 2 || positive > 1 {
                return Err("a binary model needs two classes".to_string());
            }
            Task::Binary { classes, positive, positive_is_default: false }
        }
        "multiclass" => Task::Multiclass { classes },
        "regression" => Task::Regression,
        other => return Err(format!("unknown task `{other}`")),
    };
    Ok((task, input_shape))
}

/// Rows of input values shaped as the model reads them (`[rows, input shape...]`).
pub fn to_model_shape(
    features: ndarray::Array2<f32>,
    input_shape: &[usize],
    path: &Path,
) -> Result<ndarray::ArrayD<f32>, Diagnostics> {
    let rows = features.nrows();
    let mut shape = vec![rows];
    shape.extend(input_shape);
    features.into_dyn().into_shape_with_order(shape).map_err(|_| Diagnostics {
        items: vec![Diagnostic::error("data::shape", "the file's values do not fill the model's input shape")
            .at_file(path)
            .with_help("the file needs the training file's columns")],
    })
}
