//! Reverse-mode automatic differentiation as a pass over the IR: appends to a graph the nodes computing the
//! gradient of a scalar loss with respect to chosen nodes.
//!
//! The pass walks the nodes on a path from the chosen nodes to the loss, last to first, and asks each op's gradient
//! rule ([`crate::ir::ops`], beside its type rule) for the cotangents of its inputs. Where a node is read several
//! times the cotangents are added, in a fixed order (readers last to first), so the same graph always gives the same
//! gradient graph. A scan's rule builds a backward scan whose body is differentiated by this same pass.

use crate::ir::ops::{self, Cotangent};
use crate::ir::{Builder, NodeId};

/// Appends the gradient of `loss`, a float scalar, with respect to each of `wrt` (same order) to the graph being
/// built, and returns the gradient nodes; each has the type of its `wrt` node. A node the loss does not depend on
/// gets a zero constant. Only the nodes on a path from `wrt` to the loss are differentiated.
///
/// ```
/// use galen::ir::{Builder, DType, Role, TensorType};
/// use galen::passes::autodiff::gradients;
///
/// let mut builder = Builder::new("forward");
/// let x = builder.input("x", Role::Param, TensorType::new(DType::F32, [3]));
/// let squares = builder.mul(x, x);
/// let loss = builder.reduce_sum(squares, vec![0]);
/// let grads = gradients(&mut builder, loss, &[x]);
/// builder.output("grad.x", grads[0]);
/// assert_eq!(builder.ty(grads[0]), &TensorType::new(DType::F32, [3]));
/// ```
pub fn gradients(builder: &mut Builder, loss: NodeId, wrt: &[NodeId]) -> Vec<NodeId> {
    let loss_type = builder.ty(loss).clone();
    assert!(
        loss_type.dtype.is_float() && loss_type.rank() == 0,
        "the loss {loss} must be a float scalar, found {loss_type}"
    );
    let seed = builder.constant(1.0, loss_type.dtype, Vec::new());
    let grads = backprop(builder, &[(loss, seed)], wrt);
    grads.into_iter().zip(wrt).map(|(grad, &of)| grad.unwrap_or_else(|| builder.constant_like(0.0, of))).collect()
}

/// Reverse mode from several seeds at once: `seeds` pairs a node with its cotangent (a node may appear more than
/// once; its cotangents add up). Returns the cotangent of each of `wrt`, `None` where none reaches it. A scan's
/// gradient rule calls this on its body, seeded with the cotangents of the body's outputs.
pub(crate) fn backprop(builder: &mut Builder, seeds: &[(NodeId, NodeId)], wrt: &[NodeId]) -> Vec<Option<NodeId>> {
    let on_path = on_path(builder, seeds, wrt);
    let mut adjoints: Vec<Option<Cotangent>> = vec![None; on_path.len()];
    for &(node, seed) in seeds {
        if on_path[node.index()] {
            accumulate(builder, &mut adjoints[node.index()], Cotangent::Tensor(seed));
        }
    }
    for index in (0..on_path.len()).rev() {
        let Some(cotangent) = adjoints[index].clone() else { continue };
        let node = NodeId(index as u32);
        let inputs = builder.graph().node(node).inputs.clone();
        let needed: Vec<bool> = inputs.iter().map(|input| on_path[input.index()]).collect();
        if !needed.contains(&true) {
            continue;
        }
        let grads = ops::vjp(builder, node, &cotangent, &needed, backprop);
        for ((input, grad), wanted) in inputs.iter().zip(grads).zip(needed) {
            if let (Some(grad), true) = (grad, wanted) {
                accumulate(builder, &mut adjoints[input.index()], grad);
            }
        }
    }
    wrt.iter()
        .map(|&of| match &adjoints[of.index()] {
            Some(Cotangent::Tensor(grad)) => Some(*grad),
            Some(Cotangent::Tuple(_)) => panic!("{of} is a tuple; differentiate with respect to its parts"),
            None => None,
        })
        .collect()
}

/// Which nodes (of those present now) lie on a path from one of `wrt` to one of the seeds: only they carry
/// cotangents, so nothing is built for a branch that does not reach the loss or does not depend on `wrt`.
fn on_path(builder: &Builder, seeds: &[(NodeId, NodeId)], wrt: &[NodeId]) -> Vec<bool> {
    let graph = builder.graph();
    let mut depends = vec![false; graph.nodes.len()];
    for &of in wrt {
        depends[of.index()] = true;
    }
    for (index, node) in graph.nodes.iter().enumerate() {
        if node.inputs.iter().any(|input| depends[input.index()]) {
            depends[index] = true;
        }
    }
    let mut on_path = vec![false; graph.nodes.len()];
    for &(node, _) in seeds {
        on_path[node.index()] = depends[node.index()];
    }
    for index in (0..graph.nodes.len()).rev() {
        if on_path[index] {
            for input in &graph.nodes[index].inputs {
                if depends[input.index()] {
                    on_path[input.index()] = true;
                }
            }
        }
    }
    on_path
}

/// Adds a cotangent into a node's adjoint, part by part for a tuple.
fn accumulate(builder: &mut Builder, adjoint: &mut Option<Cotangent>, grad: Cotangent) {
    let total = match (adjoint.take(), grad) {
        (None, grad) => grad,
        (Some(Cotangent::Tensor(sum)), Cotangent::Tensor(grad)) => Cotangent::Tensor(builder.add(sum, grad)),
        (Some(Cotangent::Tuple(sums)), Cotangent::Tuple(grads)) => Cotangent::Tuple(
            sums.into_iter()
                .zip(grads)
                .map(|parts| match parts {
                    (Some(sum), Some(grad)) => Some(builder.add(sum, grad)),
                    (sum, grad) => sum.or(grad),
                })
                .collect(),
        ),
        _ => panic!("a tensor cotangent and a tuple cotangent for one node"),
    };
    *adjoint = Some(total);
}

#[cfg(test)]
mod tests;
