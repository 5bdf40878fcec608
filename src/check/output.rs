//! The output layer against the task: its units against the classes (or one value for a regression), its activation
//! against the loss, with the fix written in the spec's own form.

use super::{shapes, LayerSummary, Task};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::spec::ast::*;
use crate::spec::lower::layer_example;
use crate::spec::Form;

/// The last layer against the loss and the number of classes.
pub(super) fn check_output(
    spec: &Spec,
    form: Form,
    task: &Task,
    layers: &[LayerSummary],
    diagnostics: &mut Diagnostics,
) {
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
