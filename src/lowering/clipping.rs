//! Gradient clipping as IR, exactly as Keras 3's optimizers do it (`keras/src/optimizers/base_optimizer.py`),
//! between the gradients of the trainable parameters and the optimizer's update:
//!
//! - `clipnorm c`, each gradient tensor `g` on its own: `g c / max(||g||, c)`, with `||g|| = sqrt(sum(g^2))`;
//! - `global_clipnorm c`, all gradients together: with `n = sqrt(sum over every g of sum(g^2))`, every `g` times
//!   `c min(1/n, 1/c) + (n - n)`, whose last term makes the scale NaN when `n` is infinite or NaN (and the
//!   diverging loss is then reported at the next step, as it would be without clipping);
//! - `clipvalue v`: each element clipped to `[-v, v]`.
//!
//! The limits are constants: the spec fixes them for the whole run. Nothing here is differentiated, so Keras'
//! two-tap `where` around the square root of `clipnorm` (there to keep NaN out of a gradient of the norm) is left
//! out: `sqrt(l2sum)` is the same value for every sum of squares, 0 and NaN included.

use crate::ir::{Builder, NodeId};
use crate::spec::ast::Clipping;

/// The gradients clipped as `clipping` says, in the same order; as they are without clipping.
pub fn clip(builder: &mut Builder, clipping: Option<Clipping>, grads: &[NodeId]) -> Vec<NodeId> {
    match clipping {
        None => grads.to_vec(),
        Some(Clipping::Norm(limit)) => grads.iter().map(|&grad| clip_norm(builder, grad, limit)).collect(),
        Some(Clipping::GlobalNorm(limit)) => clip_global_norm(builder, grads, limit),
        Some(Clipping::Value(limit)) => grads.iter().map(|&grad| clip_value(builder, grad, limit)).collect(),
    }
}

/// `sum(g^2)` over every element of `grad`, a scalar.
fn sum_of_squares(builder: &mut Builder, grad: NodeId) -> NodeId {
    let squares = builder.mul(grad, grad);
    let axes: Vec<usize> = (0..builder.shape(grad).len()).collect();
    builder.reduce_sum(squares, axes)
}

/// Keras' `_clip_by_norm`: `g c / max(||g||, c)`.
fn clip_norm(builder: &mut Builder, grad: NodeId, limit: f64) -> NodeId {
    let shape = builder.shape(grad);
    let sum = sum_of_squares(builder, grad);
    let norm = builder.sqrt(sum);
    let limit_node = builder.constant_like(limit, norm);
    let denominator = builder.max(norm, limit_node);
    let denominator = builder.broadcast(denominator, &shape);
    let scaled = builder.scale(grad, limit);
    builder.div(scaled, denominator)
}

/// Keras' `clip_by_global_norm`: every gradient times `c min(1/n, 1/c) + (n - n)`.
fn clip_global_norm(builder: &mut Builder, grads: &[NodeId], limit: f64) -> Vec<NodeId> {
    let Some((&first, rest)) = grads.split_first() else { return Vec::new() };
    let mut total = sum_of_squares(builder, first);
    for &grad in rest {
        let sum = sum_of_squares(builder, grad);
        total = builder.add(total, sum);
    }
    let norm = builder.sqrt(total);
    let inverse = builder.recip(norm);
    let inverse_limit = builder.constant_like(1.0 / limit, inverse);
    let smaller = builder.min(inverse, inverse_limit);
    let finite_scale = builder.scale(smaller, limit);
    // Zero for a finite norm, NaN for an infinite or NaN one.
    let nan_if_not_finite = builder.sub(norm, norm);
    let scale = builder.add(finite_scale, nan_if_not_finite);
    grads
        .iter()
        .map(|&grad| {
            let shape = builder.shape(grad);
            let scale = builder.broadcast(scale, &shape);
            builder.mul(grad, scale)
        })
        .collect()
}

/// Keras' `clip(g, -v, v)`.
fn clip_value(builder: &mut Builder, grad: NodeId, limit: f64) -> NodeId {
    let low = builder.constant_like(-limit, grad);
    let high = builder.constant_like(limit, grad);
    let raised = builder.max(grad, low);
    builder.min(raised, high)
}
