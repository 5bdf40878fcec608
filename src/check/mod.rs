//! The checker: a lowered spec plus the data schema become a typed model, or diagnostics that say what to fix.
//!
//! It checks what needs both the spec and the data (column names, the target's classes, leakage guards, feature
//! widths) and what needs several sections at once (the last layer against the loss and the classes, metrics
//! against the task, early stopping against the split), then infers every layer's shape. It does no I/O: the
//! data arrive as a [`DataView`] built by the `data` stage.
//!
//! The checks are grouped by what they look at: `target` (the task, the classes and the settings that depend on
//! them), `features` (the predictor columns, leakage guards, missing values and the input shape), `shapes` (every
//! layer's shape and parameters) and `output` (the last layer against the loss and the classes); `summary` prints
//! the result.

mod features;
mod output;
pub mod shapes;
mod summary;
mod target;

use crate::data::{ImageFolder, Schema};
use crate::diagnostics::{quote_list, Diagnostic, Diagnostics};
use crate::spec::ast::*;
use crate::spec::lower::{example, Lowered};
use crate::spec::Form;
pub use shapes::LayerSummary;

/// What the checker knows of the data.
#[derive(Clone, Copy, Debug)]
pub enum DataView<'a> {
    /// A CSV file's schema (or an image manifest's).
    Table(&'a Schema),
    /// An image folder with one sub-folder per class.
    Folder(&'a ImageFolder),
    /// The data could not be read; its errors are reported already and data checks are skipped.
    Unavailable,
}

/// What the model predicts.
#[derive(Clone, Debug, PartialEq)]
pub enum Task {
    /// Two classes; `positive` is the index in `classes` of the positive class.
    Binary { classes: Vec<String>, positive: usize, positive_is_default: bool },
    /// More than two classes.
    Multiclass { classes: Vec<String> },
    /// A number.
    Regression,
}

impl Task {
    /// The class labels, sorted; empty for a regression.
    pub fn classes(&self) -> &[String] {
        match self {
            Task::Binary { classes, .. } | Task::Multiclass { classes } => classes,
            Task::Regression => &[],
        }
    }
}

/// One predictor column and how it reaches the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Feature {
    /// The column name.
    pub name: String,
    /// Its kind.
    pub kind: ColumnKind,
    /// Input values it becomes (one-hot categories, plus a missing indicator).
    pub width: usize,
    /// Missing cells in the whole file.
    pub missing: usize,
    /// How missing cells are filled.
    pub impute: Impute,
    /// The categories the column is encoded with, in the schema's order (empty for a numeric column). A
    /// categorical column's are those of the rows the model is fitted on, when the split is known
    /// ([`check_with_split`]), else the whole file's; a binary column keeps both values of the file, because it is
    /// one input either way and its kind comes from the whole file. A constant fill outside them is not among
    /// them (the transform appends it, and `width` counts it).
    pub categories: Vec<String>,
}

/// The categories of each categorical predictor among the rows the model is fitted on (every non-test row under
/// k-fold, so that all folds share one input width), by column, each in the schema's order. A category seen only
/// outside them is unseen to the model, as at predict time.
pub type Vocabularies = std::collections::BTreeMap<String, Vec<String>>;

/// A checked spec: everything later stages need to know about the model's inputs and outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    /// What the model predicts.
    pub task: Task,
    /// Rows of the data (images for an image folder).
    pub rows: usize,
    /// Rows whose target is missing and which are dropped.
    pub target_missing: usize,
    /// Rows per class of the target (empty for a regression).
    pub class_counts: Vec<usize>,
    /// The predictor columns (empty for images).
    pub features: Vec<Feature>,
    /// The shape of one input row.
    pub input_shape: Vec<usize>,
    /// One entry per layer.
    pub layers: Vec<LayerSummary>,
}

impl Checked {
    /// Parameters of the whole model.
    pub fn total_params(&self) -> usize {
        self.layers.iter().map(|layer| layer.params).sum()
    }

    /// Trainable parameters of the whole model.
    pub fn trainable_params(&self) -> usize {
        self.layers.iter().map(|layer| layer.trainable).sum()
    }
}

pub use summary::{summary, SplitCounts};

/// The checked model of a trained run, rebuilt from its spec, its task and its input shape without reading any
/// data (what `galen predict` needs to lower the model again). Errors are the shape checker's.
pub fn rebuild(spec: &Spec, task: Task, input_shape: Vec<usize>) -> Result<Checked, Diagnostics> {
    let mut diagnostics = Diagnostics::new();
    match shapes::infer(&input_shape, &spec.model.value, &mut diagnostics) {
        Some(layers) => Ok(Checked {
            task,
            rows: 0,
            target_missing: 0,
            class_counts: Vec::new(),
            features: Vec::new(),
            input_shape,
            layers,
        }),
        None => Err(diagnostics),
    }
}

/// Checks a lowered spec against its data, with every categorical predictor's categories (and so its width) from
/// the whole file. Returns the typed model when every check that could run passed and the spec was sound;
/// diagnostics (errors and warnings) go to `diagnostics` either way.
pub fn check(lowered: &Lowered, data: DataView, diagnostics: &mut Diagnostics) -> Option<Checked> {
    check_with_split(lowered, data, |_, _| None, diagnostics)
}

/// [`check`] with the split planned in its course: once the task and the predictors are known and no error was
/// found, `split` is called with them (it plans the rows, which needs the classes and the `drop` strategies) and
/// gives the categories of the rows the model will be fitted on, from which the predictors' widths, the input
/// shape and the layers' parameters follow; `None` keeps the whole file's categories.
pub fn check_with_split(
    lowered: &Lowered,
    data: DataView,
    split: impl FnOnce(&Task, &[Feature]) -> Option<Vocabularies>,
    diagnostics: &mut Diagnostics,
) -> Option<Checked> {
    let spec = &lowered.spec;
    let form = lowered.form;
    let errors_before = diagnostics.error_count();
    check_train(spec, form, diagnostics);
    // The task follows from the target and the loss; a stand-in loss would only add a second, false error.
    let task = match data {
        DataView::Table(schema) if lowered.data_sound && lowered.loss_known => {
            target::target_task(spec, schema, diagnostics)
        }
        DataView::Folder(folder) if lowered.data_sound && lowered.loss_known => {
            target::folder_task(spec, folder, diagnostics)
        }
        _ => None,
    };
    if let Some((task, _)) = &task {
        target::check_task_settings(spec, task, diagnostics);
    }
    // The predictors, then the split (which needs the classes and the `drop` strategies), then the widths: a
    // categorical predictor's come from the categories of the rows the model is fitted on.
    let errors_before_inputs = diagnostics.error_count();
    let features = match data {
        DataView::Table(schema) if lowered.data_sound => {
            Some(features::table_features(spec, form, schema, diagnostics))
        }
        DataView::Folder(_) if lowered.data_sound => Some(Vec::new()),
        _ => None,
    };
    let vocabularies = match (&task, &features) {
        (Some((task, _)), Some(features)) if diagnostics.error_count() == errors_before => split(task, features),
        _ => None,
    };
    let inputs = match (data, features) {
        (DataView::Table(schema), Some(features)) => {
            features::table_inputs(spec, schema, features, vocabularies.as_ref(), diagnostics)
        }
        (DataView::Folder(_), Some(_)) => features::image_inputs(spec, diagnostics),
        _ => None,
    };
    let inputs = inputs.filter(|_| diagnostics.error_count() == errors_before_inputs);
    let layers = match &inputs {
        Some((_, shape)) if lowered.model_sound => shapes::infer(shape, &spec.model.value, diagnostics),
        _ => None,
    };
    if let (Some(layers), Some((task, _))) = (&layers, &task) {
        output::check_output(spec, form, task, layers, diagnostics);
    }
    let (Some((task, target)), Some((features, input_shape)), Some(layers)) = (task, inputs, layers) else {
        return None;
    };
    if diagnostics.error_count() > errors_before || !lowered.train_sound {
        return None;
    }
    let (rows, target_missing, class_counts) = target;
    Some(Checked { task, rows, target_missing, class_counts, features, input_shape, layers })
}

pub(super) fn unknown_column(name: &Spanned<String>, schema: &Schema, role: &str) -> Diagnostic {
    let names: Vec<&str> = schema.names().collect();
    // `a, b` written as one text in YAML names two columns, not one.
    let parts: Vec<&str> = name.value.split(',').map(str::trim).collect();
    let help = if parts.len() > 1 && parts.iter().all(|part| names.contains(part)) {
        format!("write a list of names: `[{}]`", parts.join(", "))
    } else {
        match crate::diagnostics::did_you_mean(&name.value, names.iter().copied()) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("the columns of the file are {}", quote_list(&names)),
        }
    };
    Diagnostic::error(
        "data::unknown_column",
        format!("{role} `{}` is not a column of {}", name.value, schema.path.display()),
    )
    .at(name.span)
    .with_label("no such column")
    .with_help(help)
}

/// Checks within `train` that need the split too.
fn check_train(spec: &Spec, form: Form, diagnostics: &mut Diagnostics) {
    if spec.data.split.value.has_validation() {
        return;
    }
    for (what, span) in spec.train.validation_watchers() {
        diagnostics.push(
            Diagnostic::error("check::no_validation", format!("{what} watches a validation metric but the split keeps no validation rows"))
                .at(span)
                .with_label("needs validation rows")
                .with_help(format!(
                    "add a validation fraction to `data.split`, for example `{}`; the test rows are never used for a training decision",
                    example(form, "split train=0.7 val=0.1 test=0.2")
                )),
        );
    }
}
