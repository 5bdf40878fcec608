//! Rewriting, shared by the passes that replace nodes. In place ([`rewrite`]): ids stay put, so a pass's effect is
//! easy to read in the printed graph, and the nodes a rewrite leaves unused stay until `dce` takes them. Rebuilt
//! ([`crate::ir::rebuild`], beside the builder, since the scan's gradient rule rebuilds a body too): for a pass that
//! puts new nodes in a node's place.

use crate::ir::{DType, Graph, NodeId, Op};

/// What a rule does with one node.
pub(crate) enum Rewrite {
    /// Leaves it as it is.
    Keep,
    /// Turns it into another op on other inputs, with the same type: a folded constant, a composed permute.
    Replace(Op, Vec<NodeId>),
    /// Sends its uses (and the outputs that read it) to an earlier node of the same type; the node stays, dead.
    Forward(NodeId),
}

/// Runs `rule` on each node in order. A node's inputs already point at their replacements when the rule sees it, so
/// rules compose along chains (`neg(neg(neg(x)))`).
pub(crate) fn rewrite(graph: &mut Graph, mut rule: impl FnMut(&Graph, NodeId) -> Rewrite) {
    let mut forward: Vec<NodeId> = graph.ids().collect();
    for index in 0..graph.nodes.len() {
        for input in &mut graph.nodes[index].inputs {
            *input = forward[input.index()];
        }
        let id = NodeId(index as u32);
        match rule(graph, id) {
            Rewrite::Keep => {}
            Rewrite::Replace(op, inputs) => {
                let node = &mut graph.nodes[index];
                node.op = op;
                node.inputs = inputs;
            }
            Rewrite::Forward(to) => {
                debug_assert!(to < id && graph.node(to).ty == graph.node(id).ty, "{id} forwarded to {to}");
                forward[index] = forward[to.index()];
            }
        }
    }
    for output in &mut graph.outputs {
        output.node = forward[output.node.index()];
    }
}

/// Runs `pass` on the body of every scan of the graph (and, through `pass`, on theirs).
pub(crate) fn in_bodies(graph: &mut Graph, pass: fn(&mut Graph)) {
    for node in &mut graph.nodes {
        if let Op::Scan(scan) = &mut node.op {
            pass(&mut scan.body);
        }
    }
}

/// The value of a splat constant node, or `None` for any other node. Inputs are never constants: this is what
/// keeps the learning rate and the step (`hyper` inputs) from being folded.
pub(crate) fn splat(graph: &Graph, id: NodeId) -> Option<f64> {
    match graph.node(id).op {
        Op::Constant { value } => Some(value),
        _ => None,
    }
}

/// The value an element of `dtype` holds when a constant says `value`, as the interpreter converts it: `f32` rounds
/// to nearest, `i32` truncates toward zero (saturating, NaN gives 0), `bool` is `value != 0` as 0 or 1.
pub(crate) fn element(value: f64, dtype: DType) -> f64 {
    match dtype {
        DType::F32 => f64::from(value as f32),
        DType::F64 => value,
        DType::I32 => f64::from(value as i32),
        DType::Bool => f64::from(u8::from(value != 0.0)),
    }
}
