//! The checker: a lowered spec plus the data schema become a typed model, or diagnostics that say what to fix.
//!
//! It checks what needs both the spec and the data (column names, the target's classes, leakage guards, feature
//! widths) and what needs several sections at once (the last layer against the loss and the classes, metrics
//! against the task, early stopping against the split), then infers every layer's shape. It does no I/O: the
//! data arrive as a [`DataView`] built by the `data` stage.

pub mod shapes;
mod summary;

use crate::data::{ColumnInfo, ImageFolder, Schema};
use crate::diagnostics::{unknown_name_help, Diagnostic, Diagnostics, Span};
use crate::spec::ast::*;
use crate::spec::lower::Lowered;
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
}

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

pub use summary::summary;

/// Checks a lowered spec against its data. Returns the typed model when every check that could run passed and
/// the spec was sound; diagnostics (errors and warnings) go to `diagnostics` either way.
pub fn check(lowered: &Lowered, data: DataView, diagnostics: &mut Diagnostics) -> Option<Checked> {
    let spec = &lowered.spec;
    let errors_before = diagnostics.error_count();
    check_train(spec, diagnostics);
    let task = match data {
        DataView::Table(schema) if lowered.data_sound => target_task(spec, schema, diagnostics),
        DataView::Folder(folder) if lowered.data_sound => folder_task(spec, folder, diagnostics),
        _ => None,
    };
    if let Some((task, _)) = &task {
        check_task_settings(spec, task, diagnostics);
    }
    let inputs = match data {
        DataView::Table(schema) if lowered.data_sound => table_inputs(spec, schema, diagnostics),
        DataView::Folder(_) if lowered.data_sound => image_inputs(spec, diagnostics),
        _ => None,
    };
    let layers = match &inputs {
        Some((_, shape)) if lowered.model_sound => shapes::infer(shape, &spec.model.value, diagnostics),
        _ => None,
    };
    if let (Some(layers), Some((task, _))) = (&layers, &task) {
        check_output(spec, task, layers, diagnostics);
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

/// Rows, rows with a missing target, and rows per class.
type TargetFacts = (usize, usize, Vec<usize>);

fn unknown_column(name: &Spanned<String>, schema: &Schema, role: &str) -> Diagnostic {
    let names: Vec<&str> = schema.names().collect();
    Diagnostic::error("data::unknown_column", format!("{role} `{}` is not a column of {}", name.value, schema.path.display()))
        .at(name.span)
        .with_label("no such column")
        .with_help(unknown_name_help(&name.value, &names))
}

fn target_task(spec: &Spec, schema: &Schema, diagnostics: &mut Diagnostics) -> Option<(Task, TargetFacts)> {
    let target = &spec.data.target;
    let Some(column) = schema.column(&target.value) else {
        diagnostics.push(unknown_column(target, schema, "the target"));
        return None;
    };
    if !spec.train.loss.value.is_classification() {
        if column.kind != ColumnKind::Numeric {
            diagnostics.push(
                Diagnostic::error("check::target_kind", format!("the loss `{}` predicts a number but the target `{}` is {}", spec.train.loss.value, target.value, kind_phrase(column)))
                    .at(spec.train.loss.span)
                    .with_label("a regression loss")
                    .with_help("for classes use `categorical_crossentropy` (softmax output) or `binary_crossentropy` (one sigmoid unit)"),
            );
            return None;
        }
        return Some((Task::Regression, (schema.rows, column.missing, Vec::new())));
    }
    if column.categories_truncated || column.distinct > 100 {
        diagnostics.push(
            Diagnostic::error("check::too_many_classes", format!("the target `{}` has {} different values, too many to be classes", target.value, column.distinct))
                .at(target.span)
                .with_label("treated as a class label because the loss is a classification loss")
                .with_help("to predict a number use a regression loss (`mse`, `mae` or `huber`) and one linear output unit"),
        );
        return None;
    }
    let classes = column.categories.clone();
    classes_task(spec, &target.value, classes, column.category_counts.clone(), (schema.rows, column.missing), diagnostics)
}

fn folder_task(spec: &Spec, folder: &ImageFolder, diagnostics: &mut Diagnostics) -> Option<(Task, TargetFacts)> {
    if !spec.train.loss.value.is_classification() {
        diagnostics.push(
            Diagnostic::error("check::target_kind", format!("the loss `{}` predicts a number but an image folder gives classes (its sub-folders)", spec.train.loss.value))
                .at(spec.train.loss.span)
                .with_help("use `categorical_crossentropy` or `binary_crossentropy`"),
        );
        return None;
    }
    let classes = folder.classes.iter().map(|class| class.name.clone()).collect();
    let counts = folder.classes.iter().map(|class| class.files.len()).collect();
    classes_task(spec, "the image class", classes, counts, (folder.image_count(), 0), diagnostics)
}

fn classes_task(
    spec: &Spec,
    target: &str,
    classes: Vec<String>,
    counts: Vec<usize>,
    (rows, missing): (usize, usize),
    diagnostics: &mut Diagnostics,
) -> Option<(Task, TargetFacts)> {
    if classes.len() < 2 {
        let only = classes.first().map_or("no value".to_string(), |class| format!("only `{class}`"));
        diagnostics.push(
            Diagnostic::error("data::single_class", format!("the target `{target}` has {only}: there is nothing to tell apart"))
                .at(spec.data.target.span)
                .with_help("check that the target column is the outcome and that the file holds every outcome"),
        );
        return None;
    }
    for (class, count) in classes.iter().zip(&counts) {
        if *count < 10 {
            diagnostics.push(
                Diagnostic::warning("data::tiny_class", format!("class `{class}` of `{target}` has only {count} row(s)"))
                    .at(spec.data.target.span)
                    .with_label("a class this small cannot be learned or evaluated reliably")
                    .with_help("collect more rows of this class, merge it with a related class, or leave it out"),
            );
        }
    }
    let task = if classes.len() == 2 {
        let (positive, positive_is_default) = match &spec.data.positive {
            Some(positive) => {
                let label = canonical_label(&positive.value, &classes);
                match classes.iter().position(|class| *class == label) {
                    Some(index) => (index, false),
                    None => {
                        let names: Vec<&str> = classes.iter().map(String::as_str).collect();
                        diagnostics.push(
                            Diagnostic::error("check::unknown_positive", format!("the positive class `{}` is not a class of `{target}`", positive.value))
                                .at(positive.span)
                                .with_label(format!("the classes are {}", crate::diagnostics::quote_list(&names)))
                                .with_help(unknown_name_help(&positive.value, &names)),
                        );
                        return None;
                    }
                }
            }
            None => (1, true),
        };
        Task::Binary { classes, positive, positive_is_default }
    } else {
        if let Some(positive) = &spec.data.positive {
            diagnostics.push(
                Diagnostic::error("check::positive_multiclass", format!("`positive` names the positive class of a two-class target, but `{target}` has {} classes", classes.len()))
                    .at(positive.span)
                    .with_help("remove `positive`; multi-class metrics are reported per class"),
            );
        }
        Task::Multiclass { classes }
    };
    Some((task, (rows, missing, counts)))
}

/// A user-written label in the classes' form: numbers compare as numbers (`positive: 1` matches `1.0`).
fn canonical_label(written: &str, classes: &[String]) -> String {
    let numeric = classes.iter().all(|class| crate::data::schema::parse_number(class).is_some());
    match crate::data::schema::parse_number(written).filter(|_| numeric) {
        Some(number) => crate::data::schema::canonical_number(number),
        None => written.trim().to_string(),
    }
}

fn kind_phrase(column: &ColumnInfo) -> String {
    match column.kind {
        ColumnKind::Categorical | ColumnKind::Binary => {
            let shown: Vec<&str> = column.categories.iter().take(3).map(String::as_str).collect();
            format!("{} with values such as {}", column.kind, crate::diagnostics::quote_list(&shown))
        }
        kind => kind.to_string(),
    }
}

/// Settings that depend on the task: metrics, class weights, stratification, early stopping's monitor.
fn check_task_settings(spec: &Spec, task: &Task, diagnostics: &mut Diagnostics) {
    let regression = matches!(task, Task::Regression);
    for metric in &spec.metrics.value {
        if metric.value.is_regression() != regression {
            let (what, help) = if regression {
                ("a regression (the target is a number)", "for a regression use `mse`, `rmse`, `mae` or `r2`")
            } else {
                ("a classifier", "for classes use `accuracy`, `sensitivity`, `specificity`, `auc`, ...")
            };
            diagnostics.push(
                Diagnostic::error("check::metric_task", format!("the metric `{}` does not apply to {what}", metric.value))
                    .at(metric.span)
                    .with_label("not for this task")
                    .with_help(help),
            );
        }
    }
    let monitors = spec.train.early_stopping.iter().map(|stopping| &stopping.value.monitor).chain(spec.train.schedule.iter().filter_map(|schedule| match &schedule.value {
        Schedule::Plateau { monitor, .. } => Some(monitor),
        _ => None,
    }));
    for monitor in monitors {
        let metric = monitor.value.strip_prefix("val_").and_then(Metric::from_name);
        if let Some(metric) = metric.filter(|metric| metric.is_regression() != regression) {
            diagnostics.push(
                Diagnostic::error("check::metric_task", format!("cannot monitor `{}`: `{metric}` does not apply to this task", monitor.value))
                    .at(monitor.span)
                    .with_help("monitor `val_loss`"),
            );
        }
    }
    if let Some(weights) = &spec.data.class_weight {
        match (&weights.value, task) {
            (_, Task::Regression) => diagnostics.push(
                Diagnostic::error("check::class_weight_regression", "`class_weight` needs classes but the target is a number")
                    .at(weights.span)
                    .with_help("remove `class_weight`"),
            ),
            (ClassWeight::Explicit(weights), _) => {
                let classes = task.classes();
                let names: Vec<&str> = classes.iter().map(String::as_str).collect();
                for (class, _) in weights {
                    if !classes.contains(&canonical_label(&class.value, classes)) {
                        diagnostics.push(
                            Diagnostic::error("check::unknown_class", format!("`class_weight` names `{}`, which is not a class of the target", class.value))
                                .at(class.span)
                                .with_help(unknown_name_help(&class.value, &names)),
                        );
                    }
                }
            }
            (ClassWeight::Balanced, _) => {}
        }
    }
    let stratify = match &spec.data.split.value {
        Split::Fractions { stratify, .. } | Split::TestFile { stratify, .. } | Split::KFold { stratify, .. } => Some(stratify),
        Split::Column { .. } => None,
    };
    if let Some(stratify) = stratify.filter(|stratify| stratify.value && regression) {
        diagnostics.push(
            Diagnostic::error("check::stratify_regression", "`stratify` keeps class proportions, but the target is a number")
                .at(stratify.span)
                .with_help("remove `stratify` for a regression"),
        );
    }
}

/// Checks within `train` that need the split too.
fn check_train(spec: &Spec, diagnostics: &mut Diagnostics) {
    let has_validation = spec.data.split.value.has_validation();
    let mut needs_validation: Vec<(Span, &str)> = Vec::new();
    if let Some(stopping) = &spec.train.early_stopping {
        if stopping.value.monitor.value.starts_with("val_") {
            needs_validation.push((stopping.span, "early stopping"));
        }
    }
    if let Some(schedule) = &spec.train.schedule {
        if let Schedule::Plateau { monitor, .. } = &schedule.value {
            if monitor.value.starts_with("val_") {
                needs_validation.push((schedule.span, "the plateau schedule"));
            }
        }
    }
    if has_validation {
        return;
    }
    for (span, what) in needs_validation {
        diagnostics.push(
            Diagnostic::error("check::no_validation", format!("{what} watches a validation metric but the split keeps no validation rows"))
                .at(span)
                .with_label("needs validation rows")
                .with_help("add a validation fraction to `data.split`, for example `split train=0.7 val=0.1 test=0.2`; the test rows are never used for a training decision"),
        );
    }
}

/// The predictor columns and the input shape, for a CSV source.
fn table_inputs(spec: &Spec, schema: &Schema, diagnostics: &mut Diagnostics) -> Option<(Vec<Feature>, Vec<usize>)> {
    let data = &spec.data;
    let errors_before = diagnostics.error_count();
    if let Source::Images { .. } = data.source.value {
        // An image manifest: the inputs are the images, the table only lists them.
        return image_inputs(spec, diagnostics);
    }
    let mut named: Vec<(&Spanned<String>, &str)> = Vec::new();
    named.extend(data.exclude.value.iter().map(|name| (name, "the excluded column")));
    named.extend(data.types.value.iter().map(|(name, _)| (name, "the column")));
    named.extend(data.missing.columns.iter().map(|(name, _)| (name, "the column")));
    if let Some(features) = &data.features {
        named.extend(features.value.iter().map(|name| (name, "the feature")));
    }
    let split_column = match &data.split.value {
        Split::Column { column } => Some(column),
        _ => None,
    };
    named.extend(split_column.map(|name| (name, "the split column")));
    named.extend(data.split.value.group().map(|name| (name, "the group column")));
    for (name, role) in &named {
        if schema.column(&name.value).is_none() {
            diagnostics.push(unknown_column(name, schema, role));
        }
    }
    let target = &data.target.value;
    let is_excluded = |name: &str| data.exclude.value.iter().any(|excluded| excluded.value == name);
    let chosen: Vec<(&ColumnInfo, Option<Span>)> = match &data.features {
        Some(features) => features.value.iter().filter_map(|name| schema.column(&name.value).map(|column| (column, Some(name.span)))).collect(),
        None => schema
            .columns
            .iter()
            .filter(|column| column.name != *target && !is_excluded(&column.name))
            .filter(|column| split_column.is_none_or(|split| split.value != column.name))
            .filter(|column| data.split.value.group().is_none_or(|group| group.value != column.name))
            .filter(|column| !(column.declared && matches!(column.kind, ColumnKind::Id | ColumnKind::Date)))
            .map(|column| (column, None))
            .collect(),
    };
    let mut features = Vec::new();
    for (column, listed_at) in chosen {
        if column.name == *target {
            diagnostics.push(
                Diagnostic::error("check::target_as_feature", format!("the target `{target}` is also listed as a feature"))
                    .at(listed_at.unwrap_or(data.target.span))
                    .with_label("this would leak the answer into the inputs")
                    .with_help(format!("remove `{target}` from `features`")),
            );
            continue;
        }
        if let Some(diagnostic) = leakage_guard(spec, column, listed_at) {
            diagnostics.push(diagnostic);
            continue;
        }
        if column.is_constant() && column.kind == ColumnKind::Numeric {
            diagnostics.push(
                Diagnostic::warning("data::constant_column", format!("the column `{}` has the same value on every row; it is kept with scale 1 but cannot help the model", column.name))
                    .at(listed_at.unwrap_or(data.span))
                    .with_help(format!("exclude it: `exclude {}`", column.name)),
            );
        }
        let impute = impute_for(spec, column, diagnostics);
        let categories = column.categories.len().max(1);
        let mut width = match (column.kind, data.encode.value) {
            (ColumnKind::Categorical, Encode::OneHot) => categories,
            _ => 1,
        };
        if data.missing.indicator.value && column.missing > 0 {
            width += 1;
        }
        features.push(Feature { name: column.name.clone(), kind: column.kind, width, missing: column.missing, impute });
    }
    if features.is_empty() && diagnostics.error_count() == errors_before {
        diagnostics.push(
            Diagnostic::error("check::no_features", "no column is left to predict from")
                .at(data.span)
                .with_help("check `features` and `exclude`"),
        );
    }
    let width: usize = features.iter().map(|feature| feature.width).sum();
    let shape = match &data.shape {
        Some(shape) => {
            let product: usize = shape.value.iter().product();
            if product != width {
                diagnostics.push(
                    Diagnostic::error("shape::mismatch", format!("`shape` {} holds {product} values per row but the data give {width} input values", shapes::format_shape(&shape.value)))
                        .at(shape.span)
                        .with_label(format!("{product} values"))
                        .with_help("make the sizes multiply to the number of input values (one-hot categories and missing indicators count), or exclude the extra columns"),
                );
                return None;
            }
            shape.value.clone()
        }
        None => vec![width],
    };
    (diagnostics.error_count() == errors_before).then_some((features, shape))
}

fn image_inputs(spec: &Spec, diagnostics: &mut Diagnostics) -> Option<(Vec<Feature>, Vec<usize>)> {
    let Source::Images { size, color, .. } = &spec.data.source.value else { return None };
    let shape = vec![size.value[0], size.value[1], color.value.channels()];
    if let Some(declared) = &spec.data.shape {
        if declared.value != shape {
            diagnostics.push(
                Diagnostic::error("shape::mismatch", format!("`shape` {} does not match the images, which are {}", shapes::format_shape(&declared.value), shapes::format_shape(&shape)))
                    .at(declared.span)
                    .with_help("remove `shape`: images take their shape from `size` and `color`"),
            );
            return None;
        }
    }
    Some((Vec::new(), shape))
}

/// The leakage guard of DESIGN.md: identifiers and dates are refused as predictors unless declared.
fn leakage_guard(spec: &Spec, column: &ColumnInfo, listed_at: Option<Span>) -> Option<Diagnostic> {
    let at = listed_at.unwrap_or(spec.data.span);
    match column.kind {
        ColumnKind::Id | ColumnKind::Date if column.declared => Some(
            Diagnostic::error("check::declared_not_predictor", format!("the column `{}` is declared `{}` and cannot be a predictor", column.name, column.kind))
                .at(at)
                .with_help(format!("remove it from `features`, or declare it `numeric` or `categorical` in `types`")),
        ),
        ColumnKind::Id => {
            let why = column.id_reason.map_or("its values identify rows", |reason| reason.explanation());
            Some(
                Diagnostic::error("check::identifier_column", format!("the column `{}` looks like an identifier ({why}) and would leak into the model", column.name))
                    .at(at)
                    .with_label(format!("`{}` would be a predictor", column.name))
                    .with_help(format!("exclude it (`exclude: [{0}]` / `exclude {0}`), or if it really is a predictor declare its kind in `types`", column.name)),
            )
        }
        ColumnKind::Date => Some(
            Diagnostic::error("check::date_column", format!("the column `{}` looks like a date; dates are almost always leaks, not predictors", column.name))
                .at(at)
                .with_label(format!("`{}` would be a predictor", column.name))
                .with_help(format!("exclude it (`exclude: [{0}]` / `exclude {0}`), or declare its kind in `types` if it really is a predictor", column.name)),
        ),
        _ => None,
    }
}

/// The strategy that fills a column's missing cells, checked against its kind.
fn impute_for(spec: &Spec, column: &ColumnInfo, diagnostics: &mut Diagnostics) -> Impute {
    let missing = &spec.data.missing;
    let per_column = missing.columns.iter().find(|(name, _)| name.value == column.name);
    let numeric = column.kind == ColumnKind::Numeric;
    let chosen = match per_column {
        Some((_, impute)) => impute,
        None if numeric => &missing.numeric,
        None => &missing.categorical,
    };
    let needs_numbers = matches!(chosen.value, Impute::Mean | Impute::Median | Impute::Interpolate | Impute::Zero);
    if needs_numbers && !numeric && (column.missing > 0 || per_column.is_some()) {
        diagnostics.push(
            Diagnostic::error("check::impute_kind", format!("`{}` needs numbers but the column `{}` is {}", chosen.value.name(), column.name, column.kind))
                .at(chosen.span)
                .with_help("use `mode`, `ffill`, `bfill`, `drop` or a constant for a categorical column"),
        );
    }
    chosen.value.clone()
}

/// The last layer against the loss and the number of classes.
fn check_output(spec: &Spec, task: &Task, layers: &[LayerSummary], diagnostics: &mut Diagnostics) {
    let (Some(last_layer), Some(last)) = (spec.model.value.last(), layers.last()) else { return };
    let loss = spec.train.loss.value;
    let activation = spec.model.value.iter().rev().find_map(|layer| layer.value.activation()).map(|a| a.value);
    let units = match last.output.as_slice() {
        [units] => *units,
        shape => {
            diagnostics.push(
                Diagnostic::error("shape::output", format!("the model ends with output {} but must end with one value per class or one number", shapes::format_shape(shape)))
                    .at(last_layer.span)
                    .with_help("end with `flatten` (or `global_avg_pool2d`) and a `dense` layer"),
            );
            return;
        }
    };
    let target = &spec.data.target.value;
    let at = last_layer.span;
    let push = |diagnostics: &mut Diagnostics, code, message: String, help: String| {
        diagnostics.push(Diagnostic::error(code, message).at(at).with_label("the output layer").with_help(help));
    };
    match (task, loss) {
        (Task::Regression, _) => {
            if units != 1 {
                push(diagnostics, "shape::mismatch", format!("the target `{target}` is one number but the last layer has {units} units"), "end with `dense 1` (linear) for a regression".into());
            } else if matches!(activation, Some(Activation::Softmax)) {
                push(diagnostics, "check::output_activation", "a softmax output cannot predict a number".into(), "end with a linear `dense 1` for a regression".into());
            }
        }
        (task, Loss::CategoricalCrossentropy) => {
            let classes = task.classes().len();
            if activation != Some(Activation::Softmax) {
                push(diagnostics, "check::output_activation", "`categorical_crossentropy` needs a softmax output".into(), format!("end with `dense {classes} softmax`"));
            } else if units != classes {
                push(diagnostics, "shape::mismatch", format!("the target `{target}` has {classes} classes but the last layer has {units} units"), format!("end with `dense {classes} softmax`, one unit per class"));
            }
        }
        (Task::Binary { .. }, _) => {
            if activation == Some(Activation::Softmax) {
                push(diagnostics, "check::output_activation", "a softmax output does not go with `binary_crossentropy`".into(), "end with `dense 1 sigmoid`, or keep `dense 2 softmax` with `categorical_crossentropy`".into());
            } else if units != 1 || activation != Some(Activation::Sigmoid) {
                push(diagnostics, "shape::mismatch", format!("`binary_crossentropy` needs one sigmoid unit but the last layer has {units} unit(s){}", activation.map_or(String::new(), |a| format!(" with `{a}`"))), "end with `dense 1 sigmoid`".into());
            }
        }
        (Task::Multiclass { classes }, _) => {
            push(diagnostics, "check::loss_task", format!("`binary_crossentropy` needs two classes but the target `{target}` has {}", classes.len()), format!("use `categorical_crossentropy` with `dense {} softmax`", classes.len()));
        }
    }
}
