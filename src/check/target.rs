//! The target and the task: the target column (or the image folder's classes) against the loss, the classes and the
//! positive class, and the settings that depend on the task (metrics, class weights, stratification, early
//! stopping's monitor).

use super::{unknown_column, Task};
use crate::data::{ColumnInfo, ImageFolder, Schema};
use crate::diagnostics::{quote_list, Diagnostic, Diagnostics};
use crate::spec::ast::*;

/// Rows, rows with a missing target, and rows per class.
pub(super) type TargetFacts = (usize, usize, Vec<usize>);

pub(super) fn target_task(spec: &Spec, schema: &Schema, diagnostics: &mut Diagnostics) -> Option<(Task, TargetFacts)> {
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

pub(super) fn folder_task(
    spec: &Spec,
    folder: &ImageFolder,
    diagnostics: &mut Diagnostics,
) -> Option<(Task, TargetFacts)> {
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
pub(super) fn check_task_settings(spec: &Spec, task: &Task, diagnostics: &mut Diagnostics) {
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
