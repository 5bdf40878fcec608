//! Tests of the passes over random graphs (every op, scans in scans): the pipeline keeps every graph valid and its
//! signature unchanged, the clean-up passes reach their fixed point in one run, and inputs never fold.

use super::{cse, dce, fold, optimize, simplify};
use crate::ir::random::random_graph;
use crate::ir::text::parse;
use crate::ir::{Graph, Op, TensorType};

/// How many random graphs each test runs.
const GRAPHS: u64 = 300;

/// What a caller sees of a graph: its inputs (name, role, type) and its outputs (name, type).
fn signature(graph: &Graph) -> (Vec<String>, Vec<(String, TensorType)>) {
    let inputs = graph
        .inputs()
        .iter()
        .map(|(id, name, role)| format!("{name} {} {}", role.name(), graph.node(*id).ty))
        .collect();
    let outputs =
        graph.outputs.iter().map(|output| (output.name.clone(), graph.tensor_type(output.node).clone())).collect();
    (inputs, outputs)
}

/// The number of nodes, scan bodies included.
fn size(graph: &Graph) -> usize {
    graph.nodes.iter().map(|node| 1 + if let Op::Scan(scan) = &node.op { size(&scan.body) } else { 0 }).sum()
}

#[test]
fn the_pipeline_keeps_graphs_valid_with_their_signature() {
    for seed in 0..GRAPHS {
        let graph = random_graph(seed);
        // `optimize` verifies the graph after every pass and panics, naming the pass, if one breaks it.
        let optimized = optimize(graph.clone(), true);
        assert_eq!(signature(&optimized), signature(&graph), "seed {seed}");
        assert!(size(&optimized) <= size(&graph), "seed {seed}: the passes grew\n{graph}\ninto\n{optimized}");
    }
}

#[test]
fn clean_up_passes_reach_their_fixed_point_in_one_run() {
    // Compared as text: folding may make a NaN, which equals nothing.
    for seed in 0..GRAPHS {
        let graph = random_graph(seed);
        let once = dce::dce(graph.clone()).to_string();
        assert_eq!(dce::dce(dce::dce(graph.clone())).to_string(), once, "dce, seed {seed}");
        let once = cse::cse(graph.clone());
        assert_eq!(cse::cse(once.clone()).to_string(), once.to_string(), "cse, seed {seed}");
        let once = fold::fold(graph.clone());
        assert_eq!(fold::fold(once.clone()).to_string(), once.to_string(), "fold, seed {seed}");
        let once = simplify::simplify(graph);
        assert_eq!(simplify::simplify(once.clone()).to_string(), once.to_string(), "simplify, seed {seed}");
    }
}

#[test]
fn hyper_inputs_are_never_folded() {
    let graph = parse(
        "graph train_step {
  %0 = input \"learning_rate\" hyper : f32[]
  %1 = input \"step\" hyper : f32[]
  %2 = constant 0.9 : f32[]
  %3 = mul %0, %2 : f32[]
  %4 = add %1, %2 : f32[]
  %5 = mul %3, %4 : f32[]
  output \"rate\" = %5
}
",
    )
    .expect("a valid graph");
    let optimized = optimize(graph.clone(), true);
    assert_eq!(optimized.to_string(), graph.to_string(), "nothing here can fold: every product reads an input");
    let uses = optimized.use_counts();
    assert!(optimized.inputs().iter().all(|(id, _, _)| uses[id.index()] > 0));
}

#[test]
fn folding_follows_the_dtype() {
    let graph = parse(
        "graph g {
  %0 = input \"x\" batch : f32[0, 3]
  %1 = constant inf : f32[0, 3]
  %2 = reduce_sum %1 axes=[0] : f32[3]
  %3 = reduce_max %1 axes=[0] : f32[3]
  %4 = constant 0.1 : f32[]
  %5 = constant 0 : f32[]
  %6 = add %4, %5 : f32[]
  %7 = constant 3 : f32[]
  %8 = reduce_sum %7 axes=[] : f32[]
  output \"empty sum\" = %2
  output \"empty max\" = %3
  output \"rounded\" = %6
  output \"one\" = %8
}
",
    )
    .expect("a valid graph");
    let folded = fold::fold(graph);
    let value = |index: usize| match folded.nodes[index].op {
        Op::Constant { value } => Some(value),
        _ => None,
    };
    // A sum of no elements is 0, even of infinities; a max of none is the dtype's lowest value, left to run.
    assert_eq!(value(2), Some(0.0));
    assert_eq!(value(3), None);
    // The sum is an f32: 0.1 as the f32 nearest it, not the f64.
    assert_eq!(value(6), Some(f64::from(0.1f32)));
    // A reduction over no axes sums one element.
    assert_eq!(value(8), Some(3.0));
}
