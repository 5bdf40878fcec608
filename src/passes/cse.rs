//! Common subexpression elimination: merges nodes that compute the same value (same op and attributes, same
//! inputs, same type) into the first of them.
//!
//! Inputs are never merged: two inputs of one type are two values. Constants merge when their values have the same
//! bits (`0.0` and `-0.0` stay apart). `add`, `mul`, `eq` and `ne` match with their operands either way round;
//! `max` and `min` do not, since `max(0.0, -0.0)` and `max(-0.0, 0.0)` are different zeros.

use std::collections::HashMap;

use super::rewrite::{in_bodies, rewrite, Rewrite};
use crate::ir::{Binary, Compare, Graph, Node, NodeId, Op, Type};

/// The graph with each repeated computation read from its first occurrence, scan bodies included. The repeats
/// stay, dead, for `dce`.
pub fn cse(mut graph: Graph) -> Graph {
    merge(&mut graph);
    graph
}

fn merge(graph: &mut Graph) {
    in_bodies(graph, merge);
    // Candidates by op name, operands and type; the map is only looked up, so its order never shows.
    let mut seen: HashMap<(&'static str, Vec<NodeId>, Type), Vec<NodeId>> = HashMap::new();
    rewrite(graph, |graph, id| {
        let node = graph.node(id);
        if matches!(node.op, Op::Input { .. }) {
            return Rewrite::Keep;
        }
        let key = (crate::ir::ops::name(&node.op), operands(node), node.ty.clone());
        let candidates = seen.entry(key).or_default();
        match candidates.iter().find(|&&earlier| same_op(&graph.node(earlier).op, &node.op)) {
            Some(&earlier) => Rewrite::Forward(earlier),
            None => {
                candidates.push(id);
                Rewrite::Keep
            }
        }
    });
}

/// A node's operands, in order, or sorted for an op whose result does not depend on their order.
fn operands(node: &Node) -> Vec<NodeId> {
    let mut operands = node.inputs.clone();
    let commutative = matches!(node.op, Op::Binary(Binary::Add | Binary::Mul) | Op::Compare(Compare::Eq | Compare::Ne));
    if commutative {
        operands.sort();
    }
    operands
}

/// Whether two ops of one name compute the same function: equal attributes, floats compared by their bits.
fn same_op(a: &Op, b: &Op) -> bool {
    match (a, b) {
        (Op::Constant { value: a }, Op::Constant { value: b }) => a.to_bits() == b.to_bits(),
        (
            Op::Pad { low, high, interior, value },
            Op::Pad { low: other_low, high: other_high, interior: other_interior, value: other_value },
        ) => {
            low == other_low
                && high == other_high
                && interior == other_interior
                && value.to_bits() == other_value.to_bits()
        }
        // Bodies compare by their text, which writes every float exactly (`-0.0` included).
        (Op::Scan(a), Op::Scan(b)) => {
            (a.steps, a.carries, a.sequences, a.reverse) == (b.steps, b.carries, b.sequences, b.reverse)
                && a.body.to_string() == b.body.to_string()
        }
        _ => a == b,
    }
}
