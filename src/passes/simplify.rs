//! Algebraic simplification: rewrites that make a node cheaper or send its uses to a node that already holds its
//! value, each exact for every value of the operands (NaN, infinities and signed zeros included).
//!
//! | rewrite                                   | when                                                         |
//! |-------------------------------------------|--------------------------------------------------------------|
//! | `x * 1`, `1 * x`, `x / 1` → `x`           | always                                                       |
//! | `x + 0`, `0 + x` → `x`                    | `i32`; for floats only when the zero is `-0.0`, since `-0.0 + 0.0` is `0.0` |
//! | `x - 0` → `x`                             | `i32`; for floats only when the zero is `0.0`, since `-0.0 - -0.0` is `0.0` |
//! | `x * 0`, `0 * x` → `0`                    | `i32` only: for floats `inf * 0` and `NaN * 0` are NaN, and `-1 * 0` is `-0.0` |
//! | `neg(neg(x))` → `x`                       | always                                                       |
//! | `reshape(reshape(x))` → `reshape(x)`      | always; and a reshape to `x`'s own shape is `x`              |
//! | `permute(permute(x))` → one permute       | always; and a permute that keeps every axis in place is `x`  |
//! | `expand(x)` → `x`, `cast(x)` → `x`        | when the type does not change                                |
//!
//! "0" and "1" are splat constants whose value, converted to the node's dtype, is exactly that number. Like the
//! other passes, a forwarded node stays, dead, for `dce`.

use super::rewrite::{element, in_bodies, rewrite, splat, Rewrite};
use crate::ir::{Binary, DType, Graph, NodeId, Op, Unary};

/// The graph with every rewrite of the module documentation applied, scan bodies included.
pub fn simplify(mut graph: Graph) -> Graph {
    simplify_in_place(&mut graph);
    graph
}

fn simplify_in_place(graph: &mut Graph) {
    in_bodies(graph, simplify_in_place);
    rewrite(graph, simplified);
}

/// What simplification does with one node.
fn simplified(graph: &Graph, id: NodeId) -> Rewrite {
    let node = graph.node(id);
    match (&node.op, node.inputs.as_slice()) {
        (Op::Binary(binary), &[a, b]) => arithmetic(graph, *binary, a, b),
        (Op::Unary(Unary::Neg), &[x]) => match (&graph.node(x).op, graph.node(x).inputs.as_slice()) {
            (Op::Unary(Unary::Neg), &[inner]) => Rewrite::Forward(inner),
            _ => Rewrite::Keep,
        },
        (Op::Reshape, &[x]) => {
            let source = match (&graph.node(x).op, graph.node(x).inputs.as_slice()) {
                (Op::Reshape, &[inner]) => inner,
                _ => x,
            };
            if graph.node(source).ty == node.ty {
                Rewrite::Forward(source)
            } else if source != x {
                Rewrite::Replace(Op::Reshape, vec![source])
            } else {
                Rewrite::Keep
            }
        }
        (Op::Permute { perm }, &[x]) => {
            let (source, perm) = match (&graph.node(x).op, graph.node(x).inputs.as_slice()) {
                // Axis i of the outer result is axis perm[i] of the inner one, which is axis inner[perm[i]] of x.
                (Op::Permute { perm: inner }, &[source]) => (source, perm.iter().map(|&axis| inner[axis]).collect()),
                _ => (x, perm.clone()),
            };
            if perm.iter().enumerate().all(|(position, &axis)| position == axis) {
                Rewrite::Forward(source)
            } else if source != x {
                Rewrite::Replace(Op::Permute { perm }, vec![source])
            } else {
                Rewrite::Keep
            }
        }
        (Op::Expand | Op::Cast, &[x]) if graph.node(x).ty == node.ty => Rewrite::Forward(x),
        _ => Rewrite::Keep,
    }
}

/// The rewrites of `a op b`.
fn arithmetic(graph: &Graph, binary: Binary, a: NodeId, b: NodeId) -> Rewrite {
    let dtype = graph.tensor_type(a).dtype;
    let is = |id: NodeId, wanted: f64| {
        splat(graph, id).is_some_and(|value| element(value, dtype).to_bits() == wanted.to_bits())
    };
    let zero_for = |id: NodeId, float_zero: f64| if dtype.is_float() { is(id, float_zero) } else { is(id, 0.0) };
    match binary {
        Binary::Mul if is(b, 1.0) => Rewrite::Forward(a),
        Binary::Mul if is(a, 1.0) => Rewrite::Forward(b),
        Binary::Mul if dtype == DType::I32 && (is(a, 0.0) || is(b, 0.0)) => {
            Rewrite::Replace(Op::Constant { value: 0.0 }, Vec::new())
        }
        Binary::Div if is(b, 1.0) => Rewrite::Forward(a),
        // x + -0.0 is x for every float x; x + 0.0 is not when x is -0.0.
        Binary::Add if zero_for(b, -0.0) => Rewrite::Forward(a),
        Binary::Add if zero_for(a, -0.0) => Rewrite::Forward(b),
        // x - 0.0 is x for every float x; x - -0.0 is not when x is -0.0.
        Binary::Sub if zero_for(b, 0.0) => Rewrite::Forward(a),
        _ => Rewrite::Keep,
    }
}
