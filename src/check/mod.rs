//! The checker: a lowered spec plus the data schema become a typed model, or diagnostics that say what to fix.
//!
//! It checks what needs both the spec and the data (column names, the target's classes, leakage guards, feature
//! widths) and what needs several sections at once (the last layer against the loss and the classes, metrics
//! against the task, early stopping against the split), then infers every layer's shape. It does no I/O: the
//! data arrive as a [`DataView`] built by the `data` stage.

pub mod shapes;
mod summary;

use crate::data::{ColumnInfo, ImageFolder, Schema};
use crate::diagnostics::{quote_list, Diagnostic, Diagnostics, Span};
use crate::spec::ast::*;
use crate::spec::lower::{example, layer_example, Lowered};
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

/// Checks a lowered spec against its data. Returns the typed model when every check that could run passed and
/// the spec was sound; diagnostics (errors and warnings) go to `diagnostics` either way.
pub fn check(lowered: &Lowered, data: DataView, diagnostics: &mut Diagnostics) -> Option<Checked> {
    let spec = &lowered.spec;
    let form = lowered.form;
    let errors_before = diagnostics.error_count();
    check_train(spec, form, diagnostics);
    // The task follows from the target and the loss; a stand-in loss would only add a second, false error.
    let task = match data {
        DataView::Table(schema) if lowered.data_sound && lowered.loss_known => target_task(spec, schema, diagnostics),
        DataView::Folder(folder) if lowered.data_sound && lowered.loss_known => folder_task(spec, folder, diagnostics),
        _ => None,
    };
    if let Some((task, _)) = &task {
        check_task_settings(spec, task, diagnostics);
    }
    let inputs = match data {
        DataView::Table(schema) if lowered.data_sound => table_inputs(spec, form, schema, diagnostics),
        DataView::Folder(_) if lowered.data_sound => image_inputs(spec, diagnostics),
        _ => None,
    };
    let layers = match &inputs {
        Some((_, shape)) if lowered.model_sound => shapes::infer(shape, &spec.model.value, diagnostics),
        _ => None,
    };
    if let (Some(layers), Some((task, _))) = (&layers, &task) {
        check_output(spec, form, task, layers, diagnostics);
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
            Diagnostic::error(
                "check::too_many_classes",
                format!(
                    "the target `{}` has {} different values, too many to be classes",
                    target.value,
                    column.distinct_text()
                ),
            )
            .at(target.span)
            .with_label("treated as a class label because the loss is a classification loss")
            .with_help(
                "to predict a number use a regression loss (`mse`, `mae` or `huber`) and one linear output unit",
            ),
        );
        return None;
    }
    let classes = column.categories.clone();
    classes_task(
        spec,
        &target.value,
        classes,
        column.category_counts.clone(),
        (schema.rows, column.missing),
        diagnostics,
    )
}

fn folder_task(spec: &Spec, folder: &ImageFolder, diagnostics: &mut Diagnostics) -> Option<(Task, TargetFacts)> {
    if !spec.train.loss.value.is_classification() {
        diagnostics.push(
            Diagnostic::error(
                "check::target_kind",
                format!(
                    "the loss `{}` predicts a number but an image folder gives classes (its sub-folders)",
                    spec.train.loss.value
                ),
            )
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
            Diagnostic::error(
                "data::single_class",
                format!("the target `{target}` has {only}: there is nothing to tell apart"),
            )
            .at(spec.data.target.span)
            .with_label("a single class")
            .with_help("check that the target column is the outcome and that the file holds every outcome"),
        );
        return None;
    }
    for (class, count) in classes.iter().zip(&counts) {
        if *count < 10 {
            diagnostics.push(
                Diagnostic::warning(
                    "data::tiny_class",
                    format!("class `{class}` of `{target}` has only {count} row(s)"),
                )
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
                        let help = match crate::diagnostics::did_you_mean(&positive.value, names.iter().copied()) {
                            Some(close) => format!("did you mean `{close}`?"),
                            None => format!("name the class the model should flag, one of {}", quote_list(&names)),
                        };
                        diagnostics.push(
                            Diagnostic::error(
                                "check::unknown_positive",
                                format!("the positive class `{}` is not a class of `{target}`", positive.value),
                            )
                            .at(positive.span)
                            .with_label(format!("the classes are {}", quote_list(&names)))
                            .with_help(help),
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
                Diagnostic::error(
                    "check::positive_multiclass",
                    format!(
                        "`positive` names the positive class of a two-class target, but `{target}` has {} classes",
                        classes.len()
                    ),
                )
                .at(positive.span)
                .with_label("only for two classes")
                .with_help("remove `positive`; multi-class metrics are reported per class"),
            );
        }
        Task::Multiclass { classes }
    };
    Some((task, (rows, missing, counts)))
}

/// A user-written label in the classes' form: numbers compare as numbers (`positive: 1` matches `1.0`).
fn canonical_label(written: &str, classes: &[String]) -> String {
    crate::data::schema::label_text(written, crate::data::schema::labels_are_numbers(classes))
}

fn kind_phrase(column: &ColumnInfo) -> String {
    match column.kind {
        ColumnKind::Categorical | ColumnKind::Binary => {
            let shown: Vec<&str> = column.categories.iter().take(3).map(String::as_str).collect();
            format!("a class label with values such as {}", quote_list(&shown))
        }
        ColumnKind::Id => "an identifier".to_string(),
        ColumnKind::Date => "a date".to_string(),
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
                Diagnostic::error(
                    "check::metric_task",
                    format!("the metric `{}` does not apply to {what}", metric.value),
                )
                .at(metric.span)
                .with_label("not for this task")
                .with_help(help),
            );
        }
    }
    for (_, monitor, _) in spec.train.monitors() {
        let metric = monitor.value.strip_prefix("val_").and_then(Metric::from_name);
        if let Some(metric) = metric.filter(|metric| metric.is_regression() != regression) {
            diagnostics.push(
                Diagnostic::error(
                    "check::metric_task",
                    format!("cannot monitor `{}`: `{metric}` does not apply to this task", monitor.value),
                )
                .at(monitor.span)
                .with_label("not for this task")
                .with_help("monitor `val_loss`"),
            );
        }
    }
    if let Some(weights) = &spec.data.class_weight {
        match (&weights.value, task) {
            (_, Task::Regression) => diagnostics.push(
                Diagnostic::error(
                    "check::class_weight_regression",
                    "`class_weight` needs classes but the target is a number",
                )
                .at(weights.span)
                .with_label("only for classes")
                .with_help("remove `class_weight`"),
            ),
            (ClassWeight::Explicit(weights), _) => {
                let classes = task.classes();
                let names: Vec<&str> = classes.iter().map(String::as_str).collect();
                for (class, _) in weights {
                    if !classes.contains(&canonical_label(&class.value, classes)) {
                        diagnostics.push(
                            Diagnostic::error(
                                "check::unknown_class",
                                format!("`class_weight` names `{}`, which is not a class of the target", class.value),
                            )
                            .at(class.span)
                            .with_label("not a class")
                            .with_help(
                                match crate::diagnostics::did_you_mean(&class.value, names.iter().copied()) {
                                    Some(close) => format!("did you mean `{close}`?"),
                                    None => format!(
                                        "the classes of `{}` are {}",
                                        spec.data.target.value,
                                        quote_list(&names)
                                    ),
                                },
                            ),
                        );
                    }
                }
            }
            (ClassWeight::Balanced, _) => {}
        }
    }
    let stratify = match &spec.data.split.value {
        Split::Fractions { stratify, .. } | Split::TestFile { stratify, .. } | Split::KFold { stratify, .. } => {
            Some(stratify)
        }
        Split::Column { .. } => None,
    };
    if let Some(stratify) = stratify.filter(|stratify| stratify.value && regression) {
        diagnostics.push(
            Diagnostic::error(
                "check::stratify_regression",
                "`stratify` keeps class proportions, but the target is a number",
            )
            .at(stratify.span)
            .with_label("only for classes")
            .with_help("remove `stratify` for a regression"),
        );
    }
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

/// The predictor columns and the input shape, for a CSV source.
fn table_inputs(
    spec: &Spec,
    form: Form,
    schema: &Schema,
    diagnostics: &mut Diagnostics,
) -> Option<(Vec<Feature>, Vec<usize>)> {
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
        Some(features) => features
            .value
            .iter()
            .filter_map(|name| schema.column(&name.value).map(|column| (column, Some(name.span))))
            .collect(),
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
    let mut constant: Vec<&str> = Vec::new();
    for (column, listed_at) in chosen {
        if column.name == *target {
            diagnostics.push(
                Diagnostic::error(
                    "check::target_as_feature",
                    format!("the target `{target}` is also listed as a feature"),
                )
                .at(listed_at.unwrap_or(data.target.span))
                .with_label("this would leak the answer into the inputs")
                .with_help(format!("remove `{target}` from `features`")),
            );
            continue;
        }
        if let Some(diagnostic) = leakage_guard(spec, form, column, listed_at) {
            diagnostics.push(diagnostic);
            continue;
        }
        if column.is_constant() && column.kind == ColumnKind::Numeric {
            constant.push(&column.name);
        }
        let impute = impute_for(spec, column, diagnostics);
        if column.kind == ColumnKind::Categorical && column.categories_truncated {
            diagnostics.push(too_many_categories(spec, column, listed_at));
            continue;
        }
        // A constant fill that is not one of the column's values becomes a category of its own.
        let extra_category = match &impute {
            Impute::Constant(value) => usize::from(column.find_category(value.text()).is_none()),
            _ => 0,
        };
        let categories = column.categories.len().max(1) + extra_category;
        let mut width = match (column.kind, data.encode.value) {
            (ColumnKind::Categorical, Encode::OneHot) => categories,
            _ => 1,
        };
        if data.missing.indicator.value && column.missing > 0 {
            width += 1;
        }
        features.push(Feature { name: column.name.clone(), kind: column.kind, width, missing: column.missing, impute });
    }
    if !constant.is_empty() {
        diagnostics.push(constant_columns(spec, form, &constant));
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
            let Some(product) = shape.value.iter().try_fold(1usize, |product, &size| product.checked_mul(size)) else {
                diagnostics.push(
                    Diagnostic::error(
                        "shape::too_large",
                        format!(
                            "`shape` {} multiplies to more than 2^64 values per row",
                            shapes::format_shape(&shape.value)
                        ),
                    )
                    .at(shape.span)
                    .with_label("far too many values")
                    .with_help(format!("make the sizes multiply to {width}, the number of input values per row")),
                );
                return None;
            };
            if product != width {
                diagnostics.push(
                    Diagnostic::error("shape::mismatch", format!("`shape` {} holds {product} values per row but the data give {width} input values", shapes::format_shape(&shape.value)))
                        .at(shape.span)
                        .with_label(format!("{product} values"))
                        .with_help(format!("make the sizes multiply to {width}, the number of input values per row (one-hot categories and missing indicators count), or exclude the extra columns")),
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
                Diagnostic::error(
                    "shape::mismatch",
                    format!(
                        "`shape` {} does not match the images, which are {}",
                        shapes::format_shape(&declared.value),
                        shapes::format_shape(&shape)
                    ),
                )
                .at(declared.span)
                .with_help("remove `shape`: images take their shape from `size` and `color`"),
            );
            return None;
        }
    }
    Some((Vec::new(), shape))
}

/// One warning for every predictor column that holds a single value (blank pixels at an image's border, a site
/// code in a one-site study), at the data file's name.
fn constant_columns(spec: &Spec, form: Form, names: &[&str]) -> Diagnostic {
    let (message, label) = match names {
        [name] => (format!("the column `{name}` has the same value on every row; it is kept with scale 1 but cannot help the model"), "a constant column"),
        _ => (
            format!("{} columns have the same value on every row: {}; they are kept with scale 1 but cannot help the model", names.len(), quote_list(names)),
            "constant columns",
        ),
    };
    // With a `shape` (or layers that will need one), every column is a fixed position (a pixel, a time step)
    // that must stay in its place.
    let positional_layers = spec.model.value.iter().any(|layer| {
        matches!(
            layer.value,
            Layer::Conv2d { .. }
                | Layer::MaxPool2d { .. }
                | Layer::AvgPool2d { .. }
                | Layer::GlobalAvgPool2d
                | Layer::Lstm { .. }
                | Layer::Gru { .. }
        )
    });
    let help = if spec.data.shape.is_some() || positional_layers {
        "nothing to change: they keep their place in `shape`, as blank pixels at an image's border do".to_string()
    } else {
        format!("to leave them out, write `{}`", exclude_example(form, names))
    };
    Diagnostic::warning("data::constant_column", message)
        .at(spec.data.source.span)
        .with_label(format!("{label} in this file"))
        .with_help(help)
}

/// `exclude a, b` or `exclude: [a, b]`.
fn exclude_example(form: Form, names: &[&str]) -> String {
    crate::spec::lower::list_example(form, "exclude", names)
}

/// The leakage guard of DESIGN.md: identifiers and dates are refused as predictors unless declared. A column that
/// `features` lists is pointed at there; one chosen by default, at the data file's name.
fn leakage_guard(spec: &Spec, form: Form, column: &ColumnInfo, listed_at: Option<Span>) -> Option<Diagnostic> {
    let at = listed_at.unwrap_or(spec.data.source.span);
    let name = column.name.as_str();
    // A text identifier that really is a predictor is a category; a number that happens to rise row by row, a
    // measurement.
    let kind = match (column.id_reason, column.kind) {
        (Some(crate::data::schema::IdReason::UniqueText), _) | (_, ColumnKind::Categorical) => "categorical",
        _ => "numeric",
    };
    let declare = example(form, &format!("types {name}={kind}"));
    match column.kind {
        ColumnKind::Id | ColumnKind::Date if column.declared => Some(
            Diagnostic::error(
                "check::declared_not_predictor",
                format!("the column `{name}` is declared `{}` and cannot be a predictor", column.kind),
            )
            .at(at)
            .with_label(format!("`{name}` is listed as a predictor"))
            .with_help("remove it from `features`, or declare it `numeric` or `categorical` in `types`"),
        ),
        ColumnKind::Id => {
            let why = column.id_reason.map_or("its values identify rows", |reason| reason.explanation());
            Some(
                Diagnostic::error("check::identifier_column", format!("the column `{name}` looks like an identifier, not a measurement, and would leak into the model: {why}"))
                    .at(at)
                    .with_label(format!("`{name}` would be a predictor"))
                    .with_help(format!("leave it out with `{}`; if it really is a predictor, declare its kind, as in `{declare}`", exclude_example(form, &[name]))),
            )
        }
        ColumnKind::Date => Some(
            Diagnostic::error(
                "check::date_column",
                format!("the column `{name}` looks like a date; dates are almost always leaks, not predictors"),
            )
            .at(at)
            .with_label(format!("`{name}` would be a predictor"))
            .with_help(format!(
                "leave it out with `{}`, or if it really is a predictor declare its kind in `types`",
                exclude_example(form, &[name])
            )),
        ),
        // Text with a different value every few rows (a patient id repeated over visits) is no category either.
        ColumnKind::Categorical if !column.declared && looks_like_repeated_identifier(column) => {
            let rows = column.category_counts.iter().sum::<usize>();
            Some(
                Diagnostic::error(
                    "check::identifier_column",
                    format!(
                        "the column `{name}` looks like an identifier and would leak into the model: {} different values in {rows} rows",
                        column.distinct
                    ),
                )
                .at(at)
                .with_label(format!("`{name}` would be a predictor"))
                .with_help(format!(
                    "leave it out with `{}`, or use it to keep each patient's rows together with `split ... group={name}`; if it really is a category, declare it, as in `{declare}`",
                    exclude_example(form, &[name])
                )),
            )
        }
        _ => None,
    }
}

/// At least 20 different values and fewer than four rows per value on average: real categories repeat far more.
fn looks_like_repeated_identifier(column: &ColumnInfo) -> bool {
    let rows: usize = column.category_counts.iter().sum();
    column.distinct >= 20 && column.distinct * 4 > rows
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
            Diagnostic::error(
                "check::impute_kind",
                format!("`{}` needs numbers but the column `{}` is {}", chosen.value.name(), column.name, column.kind),
            )
            .at(chosen.span)
            .with_label(format!("cannot fill `{}`", column.name))
            .with_help("use `mode`, `ffill`, `bfill`, `drop` or a constant for a categorical column"),
        );
    }
    let applies = column.missing > 0 || per_column.is_some();
    if let (Impute::Constant(value), true) = (&chosen.value, applies) {
        let problem = match column.kind {
            ColumnKind::Numeric if crate::data::schema::parse_number(value.text()).is_none() => Some(format!(
                "the constant `{}` is not a number but the column `{}` is numeric",
                value.text(),
                column.name
            )),
            ColumnKind::Binary if column.find_category(value.text()).is_none() => Some(format!(
                "the constant `{}` is neither of the two values of the binary column `{}` ({})",
                value.text(),
                column.name,
                crate::diagnostics::quote_list(&column.categories.iter().map(String::as_str).collect::<Vec<_>>())
            )),
            _ => None,
        };
        if let Some(message) = problem {
            diagnostics.push(
                Diagnostic::error("check::constant_kind", message)
                    .at(chosen.span)
                    .with_label(format!("cannot fill `{}`", column.name))
                    .with_help(if column.kind == ColumnKind::Binary {
                format!("fill with one of its two values or `mode`, or declare `{}` categorical in `types` to give the constant a column of its own", column.name)
            } else {
                "use a number, or another strategy (`median`, `mean`, ...)".to_string()
            }),
            );
        }
    }
    chosen.value.clone()
}

/// A categorical predictor with more values than galen keeps a vocabulary for.
fn too_many_categories(spec: &Spec, column: &ColumnInfo, listed_at: Option<Span>) -> Diagnostic {
    Diagnostic::error(
        "check::too_many_categories",
        format!("the column `{}` has {} different values, too many to encode as categories", column.name, column.distinct_text()),
    )
    .at(listed_at.unwrap_or(spec.data.source.span))
    .with_label(format!("`{}` would be a predictor", column.name))
    .with_help(format!(
        "a text column with this many values is usually an identifier or free text: exclude it (`exclude {}`), or declare it `numeric` in `types` if its values are numbers",
        column.name
    ))
}

/// The last layer against the loss and the number of classes.
fn check_output(spec: &Spec, form: Form, task: &Task, layers: &[LayerSummary], diagnostics: &mut Diagnostics) {
    let (Some(last_layer), Some(last)) = (spec.model.value.last(), layers.last()) else { return };
    let loss = spec.train.loss.value;
    let activation = spec.model.value.iter().rev().find_map(|layer| layer.value.activation()).map(|a| a.value);
    let dense = |units: usize, activation: Option<&str>| {
        let mut params = vec![("units", units.to_string())];
        params.extend(activation.map(|activation| ("activation", activation.to_string())));
        format!("`{}`", layer_example(form, "dense", &params))
    };
    let units = match last.output.as_slice() {
        [units] => *units,
        shape => {
            diagnostics.push(
                Diagnostic::error(
                    "shape::output",
                    format!(
                        "the model ends with output {} but must end with one value per class or one number",
                        shapes::format_shape(shape)
                    ),
                )
                .at(last_layer.span)
                .with_label("the last layer")
                .with_help(format!(
                    "end with `flatten` (or `global_avg_pool2d`) and an output layer such as {}",
                    {
                        let (units, activation) = output_layer(task, loss);
                        dense(units, activation)
                    }
                )),
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
                push(
                    diagnostics,
                    "shape::mismatch",
                    format!("the target `{target}` is one number but the last layer has {units} units"),
                    format!("end with {} (one linear unit) for a regression", dense(1, None)),
                );
            } else if matches!(activation, Some(Activation::Softmax)) {
                push(
                    diagnostics,
                    "check::output_activation",
                    "a softmax output cannot predict a number: one softmax unit is always 1".into(),
                    format!("end with {} (one linear unit) for a regression", dense(1, None)),
                );
            }
        }
        (task, Loss::CategoricalCrossentropy) => {
            let classes = task.classes().len();
            if activation != Some(Activation::Softmax) {
                push(
                    diagnostics,
                    "check::output_activation",
                    "`categorical_crossentropy` needs a softmax output".into(),
                    format!("end with {}, one unit per class", dense(classes, Some("softmax"))),
                );
            } else if units != classes {
                push(
                    diagnostics,
                    "shape::mismatch",
                    format!("the target `{target}` has {classes} classes but the last layer has {units} units"),
                    format!("end with {}, one unit per class", dense(classes, Some("softmax"))),
                );
            }
        }
        (Task::Binary { .. }, _) => {
            if activation == Some(Activation::Softmax) {
                push(
                    diagnostics,
                    "check::output_activation",
                    "a softmax output does not go with `binary_crossentropy`".into(),
                    format!(
                        "end with {}, or keep {} with `categorical_crossentropy`",
                        dense(1, Some("sigmoid")),
                        dense(2, Some("softmax"))
                    ),
                );
            } else if units != 1 || activation != Some(Activation::Sigmoid) {
                let with = activation.map_or(String::new(), |a| format!(" with `{a}`"));
                let unit_word = if units == 1 { "unit" } else { "units" };
                push(
                    diagnostics,
                    "shape::mismatch",
                    format!(
                        "`binary_crossentropy` needs one sigmoid unit but the last layer has {units} {unit_word}{with}"
                    ),
                    format!("end with {}, which gives the risk of the positive class", dense(1, Some("sigmoid"))),
                );
            }
        }
        (Task::Multiclass { classes }, _) => {
            push(
                diagnostics,
                "check::loss_task",
                format!("`binary_crossentropy` needs two classes but the target `{target}` has {}", classes.len()),
                format!("use `categorical_crossentropy` with {}", dense(classes.len(), Some("softmax"))),
            );
        }
    }
}

/// The units and activation of the output layer that a task and a loss need, for examples.
fn output_layer(task: &Task, loss: Loss) -> (usize, Option<&'static str>) {
    match (task, loss) {
        (Task::Regression, _) => (1, None),
        (Task::Binary { .. }, Loss::BinaryCrossentropy) => (1, Some("sigmoid")),
        (task, _) => (task.classes().len(), Some("softmax")),
    }
}
