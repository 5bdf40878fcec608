//! `galen eval RUN [--data CSV]`: scores a trained model again. Without `--data`, on the data it was trained on,
//! after checking that every data file still has the SHA-256 the run recorded, and with the same split; with
//! `--data`, on every row of another labelled CSV, through the saved preprocessing.

use std::path::Path;

use serde_json::Value;

use super::manifest::{sha256_folder, Manifest};
use super::{sha256_file, weights, RunDir, MANIFEST, MODEL, TRANSFORM};
use crate::backend::Backend;
use crate::check::{rebuild, Checked, Task};
use crate::data::dataset::{prepare, SplitData};
use crate::data::transform::Transform;
use crate::data::{read_csv, CsvOptions, Inputs};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::lowering::Model;
use crate::metrics::PriorCorrection;
use crate::pipeline::check_spec;
use crate::runtime::train::{Runner, SplitScore, Weights};
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

/// What `galen eval` found.
pub struct EvalOutcome {
    /// The scored splits, by name (`validation`, `test`, or the `--data` file's name).
    pub splits: Vec<(String, SplitScore)>,
}

impl EvalOutcome {
    /// The text `galen eval` prints.
    pub fn summary(&self) -> String {
        self.splits.iter().map(|(name, split)| super::report::split_text(name, split)).collect()
    }

    /// The scores as JSON, keyed by split.
    pub fn to_json(&self) -> Value {
        Value::Object(self.splits.iter().map(|(name, split)| (name.clone(), split.scores.to_json())).collect())
    }
}

/// Scores a run on its own data (checked against the recorded SHA-256) or on `data`.
pub fn eval(path: &Path, data: Option<&Path>, backend: Backend) -> Result<(EvalOutcome, Diagnostics), Diagnostics> {
    let loaded = load(path)?;
    let mut warnings = Diagnostics::new();
    warnings.extend(unfinished_warning(&loaded));
    let model = Model::new(&loaded.spec, &loaded.checked);
    let mut runner = Runner::new(&model, &loaded.checked, loaded.spec.train.batch_size.value)
        .with_backend(backend)
        .with_risk_correction(loaded.risk_correction.clone());
    let seed = Some(loaded.spec.seed.value);
    let splits = match data {
        None => {
            check_data_unchanged(&loaded.manifest)?;
            let outcome = check_spec(loaded.file.clone());
            let Some(checked) = outcome.checked.as_ref().filter(|_| !outcome.diagnostics.has_errors()) else {
                return Err(outcome.diagnostics);
            };
            let mut diagnostics = Diagnostics::new();
            let Some(prepared) = prepare(&loaded.file, &loaded.spec, checked, &outcome.loaded, &mut diagnostics) else {
                return Err(diagnostics);
            };
            if prepared.transform != loaded.transform {
                return Err(Diagnostics {
                    items: vec![Diagnostic::error(
                        "eval::preparation_changed",
                        "preparing the data again does not give the preprocessing saved with the model",
                    )
                    .at_file(&loaded.run.file(TRANSFORM))
                    .with_help(
                        "the data or galen's version changed since training; evaluate with `--data`, or train again",
                    )],
                });
            }
            warnings.extend(diagnostics.items.into_iter().filter(|d| !d.is_error()));
            let mut splits = Vec::new();
            for (name, split) in [("validation", &prepared.val), ("test", &prepared.test)] {
                if !split.is_empty() {
                    splits.push((name.to_string(), runner.score(split, &loaded.weights, seed)));
                }
            }
            if splits.is_empty() {
                return Err(Diagnostics {
                    items: vec![Diagnostic::error(
                        "eval::no_split",
                        "the run's split keeps no validation or test rows",
                    )
                    .at_file(&loaded.file.path)
                    .with_help("evaluate on a labelled file with `--data`")],
                });
            }
            splits
        }
        Some(data) => {
            let split = labelled_split(&loaded, data, &mut warnings)?;
            let name = data.file_name().map_or("data".into(), |name| name.to_string_lossy().into_owned());
            vec![(name, runner.score(&split, &loaded.weights, seed))]
        }
    };
    Ok((EvalOutcome { splits }, warnings))
}

/// Every data file the run recorded must still have its SHA-256.
fn check_data_unchanged(manifest: &Manifest) -> Result<(), Diagnostics> {
    let mut errors = Diagnostics::new();
    for record in &manifest.data {
        let found = if record.role == "images" { sha256_folder(&record.path) } else { sha256_file(&record.path) };
        match found {
            Ok(sha) if sha == record.sha256 => {}
            Ok(sha) => errors.push(
                Diagnostic::error(
                    "eval::data_changed",
                    format!(
                        "the {} changed since training: its SHA-256 is {sha}, the run recorded {}",
                        record.role, record.sha256
                    ),
                )
                .at_file(&record.path)
                .with_help("evaluate on a file of your choice with `--data`, or train again on the new data"),
            ),
            Err(error) => {
                errors.push(error.with_help("the run's data moved or was deleted; give a labelled file with `--data`"))
            }
        }
    }
    if errors.has_errors() {
        Err(errors)
    } else {
        Ok(())
    }
}

/// Every row of a labelled CSV with its target, through the saved preprocessing.
fn labelled_split(loaded: &LoadedRun, data: &Path, warnings: &mut Diagnostics) -> Result<SplitData, Diagnostics> {
    let (Some(transform), Source::Csv { .. }) = (&loaded.transform, &loaded.spec.data.source.value) else {
        return Err(Diagnostics {
            items: vec![Diagnostic::error("eval::images", "`--data` takes a CSV of features; this model reads images")
                .at_file(data)
                .with_help("evaluate an image model on its own data: run `galen eval RUN` without `--data`")],
        });
    };
    let table = read_csv(data, &CsvOptions::of(&loaded.spec.data.source.value))?;
    let problems = transform.check_columns(&table);
    if problems.has_errors() {
        return Err(problems);
    }
    warnings.extend(problems.items);
    let Some(column) = table.column(transform.target_name()) else {
        return Err(Diagnostics {
            items: vec![Diagnostic::error(
                "data::missing_column",
                format!("the file has no target column `{}`", transform.target_name()),
            )
            .at_file(data)
            .with_help("evaluating needs the outcome of every row; to predict without it use `galen predict`")],
        });
    };
    let rows: Vec<usize> = (0..table.rows()).filter(|&row| column.get(row).is_some()).collect();
    if rows.len() < table.rows() {
        warnings.push(
            Diagnostic::warning(
                "data::missing_target",
                format!("{} row(s) have no `{}` and are left out", table.rows() - rows.len(), transform.target_name()),
            )
            .at_file(data),
        );
    }
    let applied = transform.apply(&table, &rows)?;
    warnings.extend(applied.unseen_warning(data));
    let targets = transform.targets(&table, &applied.rows)?;
    if applied.rows.is_empty() {
        return Err(Diagnostics {
            items: vec![Diagnostic::error("eval::no_rows", "the file has no row to evaluate").at_file(data)],
        });
    }
    let inputs = to_model_shape(applied.features, &loaded.checked.input_shape, data)?;
    let weights = vec![1.0; applied.rows.len()];
    Ok(SplitData { rows: applied.rows, inputs: Inputs::from_array(inputs), targets, weights })
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
