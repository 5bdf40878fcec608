//! Passes over the IR. Each takes a graph and returns one that computes the same outputs from the same inputs;
//! autodiff is one of them, the others clean up what lowering and autodiff leave behind.

pub mod autodiff;
pub mod cse;
pub mod dce;
pub mod fold;
#[cfg(test)]
pub(crate) mod gradcheck;
pub mod join_pads;
pub(crate) mod rewrite;
pub mod simplify;
#[cfg(test)]
mod tests;

use crate::ir::verify::{verify, Stage};
use crate::ir::Graph;

/// The clean-up pipeline for a training step, in order; with `verify`, the verifier runs before the first pass and
/// after each one. A graph the verifier rejects after a pass is a bug in that pass, so it panics with the graph's
/// text and the errors under their lines.
///
/// Folding goes first so that simplification sees the constants it makes (`x * reshape(1)` is `x * 1`); sums of
/// pads are joined once those rewrites are done; common subexpressions are merged once the rewrites have made equal
/// nodes look alike, and dead code goes last, taking every node the others left unused.
pub fn optimize(graph: Graph, verify: bool) -> Graph {
    let graph = checked(graph, "before the passes", verify);
    let graph = checked(fold::fold(graph), "after fold", verify);
    let graph = checked(simplify::simplify(graph), "after simplify", verify);
    let graph = checked(join_pads::join_pads(graph), "after join_pads", verify);
    let graph = checked(cse::cse(graph), "after cse", verify);
    checked(dce::dce(graph), "after dce", verify)
}

/// The graph, verified at [`Stage::Step`] when `verify` is on.
fn checked(graph: Graph, when: &str, verify_on: bool) -> Graph {
    if verify_on {
        if let Err(errors) = verify(&graph, Stage::Step) {
            panic!("the IR is broken {when}, a bug in the pass:\n{errors}");
        }
    }
    graph
}
