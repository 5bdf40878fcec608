//! Dead code elimination: removes the nodes no output depends on and renumbers the rest.
//!
//! Every input stays, used or not, so that a graph's signature (and a scan body's, which its scan feeds by
//! position) never changes. Inside the body of a scan that stays, the nodes its outputs do not need go too.

use super::rewrite::in_bodies;
use crate::ir::{Graph, NodeId, Op, Output};

/// The graph without its dead nodes, ids renumbered in order.
pub fn dce(mut graph: Graph) -> Graph {
    remove_dead(&mut graph);
    graph
}

fn remove_dead(graph: &mut Graph) {
    let live = live_nodes(graph);
    let mut renumbered: Vec<Option<NodeId>> = vec![None; graph.nodes.len()];
    let mut kept = Vec::with_capacity(graph.nodes.len());
    for (index, mut node) in std::mem::take(&mut graph.nodes).into_iter().enumerate() {
        if !live[index] {
            continue;
        }
        for input in &mut node.inputs {
            *input = renumbered[input.index()].expect("a live node reads live nodes");
        }
        renumbered[index] = Some(NodeId(kept.len() as u32));
        kept.push(node);
    }
    graph.nodes = kept;
    for output in &mut graph.outputs {
        output.node = renumbered[output.node.index()].expect("outputs are live");
    }
    in_bodies(graph, remove_dead);
}

/// Which nodes stay: the inputs and everything an output reads, directly or not.
fn live_nodes(graph: &Graph) -> Vec<bool> {
    let mut live: Vec<bool> = graph.nodes.iter().map(|node| matches!(node.op, Op::Input { .. })).collect();
    for Output { node, .. } in &graph.outputs {
        live[node.index()] = true;
    }
    // Nodes read only earlier nodes, so one backward sweep finds everything the outputs need.
    for index in (0..graph.nodes.len()).rev() {
        if live[index] {
            for input in &graph.nodes[index].inputs {
                live[input.index()] = true;
            }
        }
    }
    live
}
