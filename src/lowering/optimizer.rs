//! The optimizers' updates as IR, with Keras' conventions, so that one train-step graph holds the whole step.
//!
//! - sgd: `m = momentum m - lr g`, then `p += m` (or `p += momentum m - lr g` with nesterov); without momentum
//!   `p -= lr g` and no state.
//! - adam: `m += (g - m)(1 - beta1)`, `v += (g^2 - v)(1 - beta2)`, and `p -= alpha m / (sqrt(v) + eps)` with
//!   `alpha = lr sqrt(1 - beta2^t) / (1 - beta1^t)`, `t = step + 1`: the bias correction folded into the rate and
//!   epsilon added after it, as Keras does.
//! - adamw: adam after the decoupled decay `p -= p weight_decay lr`.
//!
//! The learning rate and the step are graph inputs, so schedules change them without rebuilding the graph.

use std::collections::BTreeMap;

use super::{Init, Variable};
use crate::ir::{Builder, NodeId, Role};
use crate::spec::ast::{Optimizer, OPTIMIZER_NAMES};

/// The hyperparameter inputs of a train step.
#[derive(Clone, Copy, Debug)]
pub struct Hyper {
    /// The learning rate, `f32[]`.
    pub learning_rate: NodeId,
    /// The number of steps taken before this one, `f32[]`.
    pub step: NodeId,
}

/// The optimizer's state variables for the trainable variables among `variables`: zeros, named
/// `OPTIMIZER.MOMENT.VARIABLE` (`adam.m.dense_1.kernel`).
pub fn state(optimizer: &Optimizer, variables: &[Variable]) -> Vec<Variable> {
    let moments: &[&str] = match optimizer {
        Optimizer::Sgd { momentum, .. } if momentum.value == 0.0 => &[],
        Optimizer::Sgd { .. } => &["momentum"],
        Optimizer::Adam { .. } | Optimizer::AdamW { .. } => &["m", "v"],
    };
    let trainable = variables.iter().filter(|variable| variable.role == Role::Param);
    trainable
        .flat_map(|variable| {
            moments.iter().map(|moment| Variable {
                name: moment_name(optimizer, moment, &variable.name),
                shape: variable.shape.clone(),
                init: Init::Zeros,
                role: Role::State,
            })
        })
        .collect()
}

/// Whether a variable belongs to the optimizer rather than to a layer.
pub fn is_state(variable: &Variable) -> bool {
    OPTIMIZER_NAMES.iter().any(|name| variable.name.strip_prefix(name).is_some_and(|rest| rest.starts_with('.')))
}

fn moment_name(optimizer: &Optimizer, moment: &str, variable: &str) -> String {
    format!("{}.{moment}.{variable}", optimizer.name())
}

/// The update of one trainable variable with gradient `grad`: its new value and its moments' new values, by
/// variable name.
pub fn update(
    builder: &mut Builder,
    optimizer: &Optimizer,
    hyper: Hyper,
    variable: &Variable,
    param: NodeId,
    grad: NodeId,
    variables: &BTreeMap<String, NodeId>,
) -> Vec<(String, NodeId)> {
    let shape = builder.shape(param);
    let moment = |name: &str| variables[&moment_name(optimizer, name, &variable.name)];
    let learning_rate = builder.broadcast(hyper.learning_rate, &shape);
    match optimizer {
        Optimizer::Sgd { momentum, nesterov, .. } => {
            let step = builder.mul(learning_rate, grad);
            if momentum.value == 0.0 {
                return vec![(variable.name.clone(), builder.sub(param, step))];
            }
            let velocity = moment("momentum");
            let kept = builder.scale(velocity, momentum.value);
            let new_velocity = builder.sub(kept, step);
            let change = if nesterov.value {
                let ahead = builder.scale(new_velocity, momentum.value);
                builder.sub(ahead, step)
            } else {
                new_velocity
            };
            let new_param = builder.add(param, change);
            vec![(variable.name.clone(), new_param), (moment_name(optimizer, "momentum", &variable.name), new_velocity)]
        }
        Optimizer::Adam { beta1, beta2, eps, .. } | Optimizer::AdamW { beta1, beta2, eps, .. } => {
            let param = match optimizer {
                Optimizer::AdamW { weight_decay, .. } => {
                    let decay = builder.mul(param, learning_rate);
                    let decay = builder.scale(decay, weight_decay.value);
                    builder.sub(param, decay)
                }
                _ => param,
            };
            let (m, v) = (moment("m"), moment("v"));
            let new_m = moving_average(builder, m, grad, beta1.value);
            let squares = builder.mul(grad, grad);
            let new_v = moving_average(builder, v, squares, beta2.value);
            let alpha = adam_rate(builder, hyper, beta1.value, beta2.value);
            let alpha = builder.broadcast(alpha, &shape);
            let root = builder.sqrt(new_v);
            let denominator = builder.offset(root, eps.value);
            let ratio = builder.div(new_m, denominator);
            let step = builder.mul(alpha, ratio);
            let new_param = builder.sub(param, step);
            vec![
                (variable.name.clone(), new_param),
                (moment_name(optimizer, "m", &variable.name), new_m),
                (moment_name(optimizer, "v", &variable.name), new_v),
            ]
        }
    }
}

/// `average + (value - average)(1 - beta)`.
fn moving_average(builder: &mut Builder, average: NodeId, value: NodeId, beta: f64) -> NodeId {
    let difference = builder.sub(value, average);
    let moved = builder.scale(difference, 1.0 - beta);
    builder.add(average, moved)
}

/// `lr sqrt(1 - beta2^t) / (1 - beta1^t)` with `t = step + 1` and `beta^t = e^(t ln beta)`, a scalar.
fn adam_rate(builder: &mut Builder, hyper: Hyper, beta1: f64, beta2: f64) -> NodeId {
    let t = builder.offset(hyper.step, 1.0);
    let mut correction = |beta: f64| {
        let exponent = builder.scale(t, libm::log(beta));
        let power = builder.exp(exponent);
        let negated = builder.neg(power);
        builder.offset(negated, 1.0)
    };
    let first = correction(beta1);
    let second = correction(beta2);
    let root = builder.sqrt(second);
    let ratio = builder.div(root, first);
    builder.mul(hyper.learning_rate, ratio)
}
