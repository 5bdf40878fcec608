//! The losses of DESIGN.md as IR, with Keras' definitions and reduction: a loss per row (averaged over the
//! output's last axis), weighted by the row's sample weight, summed and divided by the batch size.
//! Cross-entropies read the logits when the model ends in the matching activation, so that they are computed
//! stably (log-sum-exp, and `max(z, 0) - z y + log(1 + e^-|z|)`); otherwise the output is clipped to
//! `[EPSILON, 1 - EPSILON]` as Keras does.

use super::Activations;
use crate::ir::{Builder, NodeId};
use crate::spec::ast::{Activation, Loss};

/// Keras' clipping epsilon for cross-entropies on probabilities.
pub const EPSILON: f64 = 1e-7;

/// The weighted mean loss of a batch: `sum(weight * loss_per_row) / batch`.
pub fn lower(builder: &mut Builder, loss: Loss, activations: &Activations, y: NodeId, weight: NodeId) -> NodeId {
    let per_row = per_row(builder, loss, activations, y);
    let weighted = builder.mul(per_row, weight);
    builder.mean(weighted, vec![0])
}

/// The loss of each row, `[batch]`.
fn per_row(builder: &mut Builder, loss: Loss, activations: &Activations, y: NodeId) -> NodeId {
    let logits = activations.logits;
    let last = builder.shape(logits).len() - 1;
    match (loss, activations.activation) {
        (Loss::CategoricalCrossentropy, Activation::Softmax) => {
            // log(sum(e^z)) - sum(y z), with the maximum taken out of the exponentials.
            let shape = builder.shape(logits);
            let max = builder.reduce_max(logits, vec![last]);
            let spread = builder.unreduce(max, &[last], &shape);
            let shifted = builder.sub(logits, spread);
            let exponentials = builder.exp(shifted);
            let total = builder.reduce_sum(exponentials, vec![last]);
            let log_total = builder.log(total);
            let log_sum_exp = builder.add(log_total, max);
            let picked = builder.mul(y, logits);
            let picked = builder.reduce_sum(picked, vec![last]);
            builder.sub(log_sum_exp, picked)
        }
        (Loss::CategoricalCrossentropy, _) => {
            let output = activations.output(builder);
            let shape = builder.shape(output);
            let total = builder.reduce_sum(output, vec![last]);
            let total = builder.unreduce(total, &[last], &shape);
            let normalised = builder.div(output, total);
            let clipped = clip(builder, normalised);
            let logs = builder.log(clipped);
            let picked = builder.mul(y, logs);
            let picked = builder.reduce_sum(picked, vec![last]);
            builder.neg(picked)
        }
        (Loss::BinaryCrossentropy, Activation::Sigmoid) => {
            // max(z, 0) - z y + log(1 + e^-|z|).
            let zero = builder.constant_like(0.0, logits);
            let positive_part = builder.max(logits, zero);
            let product = builder.mul(logits, y);
            let negated = builder.neg(logits);
            let magnitude = builder.max(logits, negated);
            let negative_magnitude = builder.neg(magnitude);
            let exponential = builder.exp(negative_magnitude);
            let one_plus = builder.offset(exponential, 1.0);
            let softplus = builder.log(one_plus);
            let difference = builder.sub(positive_part, product);
            let elementwise = builder.add(difference, softplus);
            builder.mean(elementwise, vec![last])
        }
        (Loss::BinaryCrossentropy, _) => {
            let output = activations.output(builder);
            let clipped = clip(builder, output);
            let log_p = builder.log(clipped);
            let negated = builder.neg(clipped);
            let complement = builder.offset(negated, 1.0);
            let log_complement = builder.log(complement);
            let negated_y = builder.neg(y);
            let not_y = builder.offset(negated_y, 1.0);
            let positive = builder.mul(y, log_p);
            let negative = builder.mul(not_y, log_complement);
            let likelihood = builder.add(positive, negative);
            let mean = builder.mean(likelihood, vec![last]);
            builder.neg(mean)
        }
        (Loss::Mse, _) => {
            let difference = difference(builder, activations, y);
            let squares = builder.mul(difference, difference);
            builder.mean(squares, vec![last])
        }
        (Loss::Mae, _) => {
            let difference = difference(builder, activations, y);
            let magnitude = absolute(builder, difference);
            builder.mean(magnitude, vec![last])
        }
        (Loss::Huber, _) => {
            // 0.5 q^2 + (|d| - q) with q = min(|d|, 1): quadratic within 1 of the target, linear beyond.
            let difference = difference(builder, activations, y);
            let magnitude = absolute(builder, difference);
            let one = builder.constant_like(1.0, magnitude);
            let quadratic_part = builder.min(magnitude, one);
            let squares = builder.mul(quadratic_part, quadratic_part);
            let half_squares = builder.scale(squares, 0.5);
            let linear_part = builder.sub(magnitude, quadratic_part);
            let elementwise = builder.add(half_squares, linear_part);
            builder.mean(elementwise, vec![last])
        }
    }
}

/// `output - y`.
fn difference(builder: &mut Builder, activations: &Activations, y: NodeId) -> NodeId {
    let output = activations.output(builder);
    builder.sub(output, y)
}

/// `|x|` as `max(x, -x)`.
fn absolute(builder: &mut Builder, x: NodeId) -> NodeId {
    let negated = builder.neg(x);
    builder.max(x, negated)
}

/// `x` clipped to `[EPSILON, 1 - EPSILON]`.
fn clip(builder: &mut Builder, x: NodeId) -> NodeId {
    let low = builder.constant_like(EPSILON, x);
    let high = builder.constant_like(1.0 - EPSILON, x);
    let raised = builder.max(x, low);
    builder.min(raised, high)
}
