//! The activation functions as primitive ops, shared by the layers (`layers`), the recurrent cells (`recurrent`,
//! whose gates are sigmoids) and the model's output (probabilities from logits).

use crate::ir::{Builder, Compare, NodeId};
use crate::spec::ast::Activation;

/// The slope of `leaky_relu` for negative inputs.
pub const LEAKY_RELU_SLOPE: f64 = 0.01;

/// An activation function as primitive ops. Sigmoid is written through tanh (`0.5 tanh(x / 2) + 0.5`) so that
/// neither it nor its gradient overflows; elu exponentiates only non-positive values for the same reason.
pub fn activate(builder: &mut Builder, activation: Activation, x: NodeId) -> NodeId {
    match activation {
        Activation::Linear => x,
        Activation::Relu => {
            // A select rather than max(x, 0), whose gradient splits the tie at 0 and passes half: the gradient at
            // exactly 0 is 0, as in TensorFlow and PyTorch. The tie is common at the first step, where a zero bias
            // meets all-zero input windows (the blank border of an image). NaN still propagates.
            let zero = builder.constant_like(0.0, x);
            let non_positive = builder.compare(Compare::Le, x, zero);
            builder.select(non_positive, zero, x)
        }
        Activation::LeakyRelu => {
            let zero = builder.constant_like(0.0, x);
            let positive = builder.compare(Compare::Gt, x, zero);
            let scaled = builder.scale(x, LEAKY_RELU_SLOPE);
            builder.select(positive, x, scaled)
        }
        Activation::Elu => {
            let zero = builder.constant_like(0.0, x);
            let positive = builder.compare(Compare::Gt, x, zero);
            let negative_part = builder.min(x, zero);
            let exponential = builder.exp(negative_part);
            let below = builder.offset(exponential, -1.0);
            builder.select(positive, x, below)
        }
        Activation::Gelu => {
            let scaled = builder.scale(x, std::f64::consts::FRAC_1_SQRT_2);
            let erf = builder.erf(scaled);
            let one_plus = builder.offset(erf, 1.0);
            let half = builder.scale(x, 0.5);
            builder.mul(half, one_plus)
        }
        Activation::Sigmoid => sigmoid(builder, x),
        Activation::Tanh => builder.tanh(x),
        Activation::Softmax => softmax(builder, x),
    }
}

/// `1 / (1 + e^-x)`, computed as `0.5 tanh(x / 2) + 0.5`.
pub fn sigmoid(builder: &mut Builder, x: NodeId) -> NodeId {
    let half = builder.scale(x, 0.5);
    let tanh = builder.tanh(half);
    let scaled = builder.scale(tanh, 0.5);
    builder.offset(scaled, 0.5)
}

/// Softmax over the last axis, shifted by the maximum so that no exponential overflows.
pub fn softmax(builder: &mut Builder, x: NodeId) -> NodeId {
    let shape = builder.shape(x);
    let last = shape.len() - 1;
    let max = builder.reduce_max(x, vec![last]);
    let max = builder.unreduce(max, &[last], &shape);
    let shifted = builder.sub(x, max);
    let exponentials = builder.exp(shifted);
    let total = builder.reduce_sum(exponentials, vec![last]);
    let total = builder.unreduce(total, &[last], &shape);
    builder.div(exponentials, total)
}
