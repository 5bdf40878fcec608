//! Gradient checks through scans: a tanh recurrence read through its stacked outputs, its final carry or both, in
//! either direction; an LSTM-like cell; a step whose gradient reads saved products, reductions and logs; int carries
//! and sequences; a scan without carries; a scan inside a scan.

use super::{f64s, gradient_values, Case};
use crate::ir::text::parse;
use crate::ir::{Builder, DType, Graph, NodeId, Op, Role, Scan, TensorType};
use crate::passes::optimize;

/// `sigmoid(z) = 1 / (1 + e^-z)`.
fn sigmoid(builder: &mut Builder, z: NodeId) -> NodeId {
    let negated = builder.neg(z);
    let exponential = builder.exp(negated);
    let denominator = builder.offset(exponential, 1.0);
    builder.recip(denominator)
}

/// The cell `h' = tanh(h * w + x)`, returning `h'` as the new carry and as a per-step output.
fn tanh_cell(width: usize) -> crate::ir::Graph {
    let mut body = Builder::new("cell");
    let h = body.input("h", Role::State, f64s(&[width]));
    let x = body.input("x", Role::Batch, f64s(&[width]));
    let w = body.input("w", Role::Param, f64s(&[width]));
    let scaled = body.mul(h, w);
    let sum = body.add(scaled, x);
    let next = body.tanh(sum);
    body.output("h", next);
    body.output("y", next);
    body.finish()
}

/// The tanh recurrence over 5 steps; `read` picks what the loss reads from the result (final carry, stacked outputs).
fn check_tanh_scan(seed: u64, reverse: bool, read_final: bool, read_stacked: bool) {
    let mut case = Case::new(seed);
    let h0 = case.param("h0", &[3], -1.0, 1.0);
    let xs = case.param("xs", &[5, 3], -1.0, 1.0);
    let w = case.param("w", &[3], -1.5, 1.5);
    let scan = Scan { steps: 5, carries: 1, sequences: 1, reverse, body: tanh_cell(3) };
    let result = case.builder.scan(scan, vec![h0, xs, w]);
    let mut parts = Vec::new();
    if read_final {
        let last = case.builder.get(result, 0);
        parts.push(case.builder.reshape(last, vec![1, 3]));
    }
    if read_stacked {
        parts.push(case.builder.get(result, 1));
    }
    let read = case.builder.concat(parts, 0);
    case.check(read);
}

#[test]
fn a_tanh_recurrence_matches_finite_differences_through_its_stacked_outputs() {
    check_tanh_scan(100, false, false, true);
}

#[test]
fn a_tanh_recurrence_matches_finite_differences_through_its_final_carry() {
    check_tanh_scan(101, false, true, false);
}

#[test]
fn a_tanh_recurrence_matches_finite_differences_through_both_and_in_reverse() {
    check_tanh_scan(102, false, true, true);
    check_tanh_scan(103, true, true, true);
    check_tanh_scan(104, true, false, true);
}

#[test]
fn a_part_read_twice_adds_its_cotangents() {
    let mut case = Case::new(105);
    let h0 = case.param("h0", &[3], -1.0, 1.0);
    let xs = case.param("xs", &[4, 3], -1.0, 1.0);
    let w = case.param("w", &[3], -1.5, 1.5);
    let scan = Scan { steps: 4, carries: 1, sequences: 1, reverse: false, body: tanh_cell(3) };
    let result = case.builder.scan(scan, vec![h0, xs, w]);
    let first = case.builder.get(result, 1);
    let second = case.builder.get(result, 1);
    let squared = case.builder.mul(first, second);
    case.check(squared);
}

/// An LSTM-like cell: carries `h` and `c` of `[batch, units]`, a sequence `x` of `[batch, features]`, invariants
/// `w_x`, `w_h` and a bias; gates `i, f, o = sigmoid(...)`, `g = tanh(...)`, `c' = f c + i g`, `h' = o tanh(c')`.
fn lstm_cell(batch: usize, features: usize, units: usize) -> crate::ir::Graph {
    let mut body = Builder::new("lstm");
    let h = body.input("h", Role::State, f64s(&[batch, units]));
    let c = body.input("c", Role::State, f64s(&[batch, units]));
    let x = body.input("x", Role::Batch, f64s(&[batch, features]));
    let w_x = body.input("w_x", Role::Param, f64s(&[features, 4 * units]));
    let w_h = body.input("w_h", Role::Param, f64s(&[units, 4 * units]));
    let bias = body.input("bias", Role::Param, f64s(&[4 * units]));
    let from_x = body.matmul(x, w_x);
    let from_h = body.matmul(h, w_h);
    let summed = body.add(from_x, from_h);
    let spread = body.broadcast(bias, &[batch, 4 * units]);
    let gates = body.add(summed, spread);
    let gate = |body: &mut Builder, index: usize| body.slice_axis(gates, 1, index * units, (index + 1) * units);
    let input_gate = gate(&mut body, 0);
    let input_gate = sigmoid(&mut body, input_gate);
    let forget_gate = gate(&mut body, 1);
    let forget_gate = sigmoid(&mut body, forget_gate);
    let output_gate = gate(&mut body, 2);
    let output_gate = sigmoid(&mut body, output_gate);
    let candidate = gate(&mut body, 3);
    let candidate = body.tanh(candidate);
    let kept = body.mul(forget_gate, c);
    let added = body.mul(input_gate, candidate);
    let next_c = body.add(kept, added);
    let squashed = body.tanh(next_c);
    let next_h = body.mul(output_gate, squashed);
    body.output("h", next_h);
    body.output("c", next_c);
    body.output("y", next_h);
    body.finish()
}

/// An LSTM-like layer over 4 steps read through its stacked outputs and its final cell state; returns the case
/// and the read values.
fn lstm_case(seed: u64) -> (Case, NodeId) {
    let (steps, batch, features, units) = (4, 2, 3, 2);
    let mut case = Case::new(seed);
    let h0 = case.param("h0", &[batch, units], -0.5, 0.5);
    let c0 = case.param("c0", &[batch, units], -0.5, 0.5);
    let xs = case.param("xs", &[steps, batch, features], -1.0, 1.0);
    let w_x = case.param("w_x", &[features, 4 * units], -0.8, 0.8);
    let w_h = case.param("w_h", &[units, 4 * units], -0.8, 0.8);
    let bias = case.param("bias", &[4 * units], -0.5, 0.5);
    let scan = Scan { steps, carries: 2, sequences: 1, reverse: false, body: lstm_cell(batch, features, units) };
    let result = case.builder.scan(scan, vec![h0, c0, xs, w_x, w_h, bias]);
    let last_c = case.builder.get(result, 1);
    let ys = case.builder.get(result, 2);
    let flat_ys = case.builder.reshape(ys, vec![steps * batch * units]);
    let flat_c = case.builder.reshape(last_c, vec![batch * units]);
    let read = case.builder.concat(vec![flat_ys, flat_c], 0);
    (case, read)
}

#[test]
fn an_lstm_like_cell_matches_finite_differences_through_outputs_and_final_carries() {
    let (case, read) = lstm_case(110);
    case.check(read);
}

/// The gradient of the sum of `read` with respect to `wrt`, built on a copy of the case's graph: the whole graph,
/// and its backward scan's body optimized.
fn gradient_graph(case: &Case, read: NodeId, wrt: &[NodeId]) -> (Graph, Graph) {
    let mut builder = case.builder.clone();
    let axes = (0..builder.shape(read).len()).collect();
    let loss = builder.reduce_sum(read, axes);
    crate::passes::autodiff::gradients(&mut builder, loss, wrt);
    let graph = builder.finish();
    let body = graph
        .nodes
        .iter()
        .find_map(|node| match &node.op {
            Op::Scan(scan) if scan.reverse => Some(optimize(scan.body.clone(), true)),
            _ => None,
        })
        .expect("a backward scan");
    (graph, body)
}

/// How many nodes of `graph` run the op named `name`.
fn count(graph: &Graph, name: &str) -> usize {
    graph.nodes.iter().filter(|node| crate::ir::ops::name(&node.op) == name).count()
}

#[test]
fn saved_products_reductions_and_logs_give_the_finite_difference_gradients() {
    // A GRU-like step whose gradient reads a matrix product (`gate * hw`), a reduction (log's gradient reads its input)
    // and a tanh: the forward scan saves all three, and the backward body computes none of them again.
    let (steps, batch, units) = (4, 2, 3);
    let mut body = Builder::new("cell");
    let h = body.input("h", Role::State, f64s(&[batch, units]));
    let x = body.input("x", Role::Batch, f64s(&[batch, units]));
    let w = body.input("w", Role::Param, f64s(&[units, units]));
    let hw = body.matmul(h, w);
    let gate = sigmoid(&mut body, x);
    let gated = body.mul(gate, hw);
    let next = body.tanh(gated);
    let exponential = body.exp(next);
    let total = body.reduce_sum(exponential, vec![1]);
    let log = body.log(total);
    body.output("h", next);
    body.output("y", log);
    let scan = Scan { steps, carries: 1, sequences: 1, reverse: false, body: body.finish() };

    let mut case = Case::new(111);
    let h0 = case.param("h0", &[batch, units], -0.5, 0.5);
    let xs = case.param("xs", &[steps, batch, units], -1.0, 1.0);
    let w = case.param("w", &[units, units], -0.8, 0.8);
    let result = case.builder.scan(scan, vec![h0, xs, w]);
    let ys = case.builder.get(result, 1);
    let (_, body) = gradient_graph(&case, ys, &[h0, xs, w]);
    for costly in ["matmul", "tanh", "exp", "log", "reduce_sum"] {
        // The only product left is the gradient's own (`grad.hw` times `w` transposed, and `h` transposed times it).
        let expected = if costly == "matmul" { 2 } else { 0 };
        assert_eq!(count(&body, costly), expected, "{costly} in {body}");
    }
    case.check(ys);
}

#[test]
fn a_costly_value_of_the_invariants_alone_is_computed_again_not_saved_per_step() {
    // `h' = tanh(h * exp(w) + x)`: exp(w) is one value for every step, so storing it per step would waste memory.
    let mut body = Builder::new("cell");
    let h = body.input("h", Role::State, f64s(&[3]));
    let x = body.input("x", Role::Batch, f64s(&[3]));
    let w = body.input("w", Role::Param, f64s(&[3]));
    let rate = body.exp(w);
    let scaled = body.mul(h, rate);
    let sum = body.add(scaled, x);
    let next = body.tanh(sum);
    body.output("h", next);
    body.output("y", next);
    let scan = Scan { steps: 5, carries: 1, sequences: 1, reverse: false, body: body.finish() };

    let mut case = Case::new(112);
    let h0 = case.param("h0", &[3], -1.0, 1.0);
    let xs = case.param("xs", &[5, 3], -1.0, 1.0);
    let w = case.param("w", &[3], -1.0, 0.5);
    let result = case.builder.scan(scan, vec![h0, xs, w]);
    let ys = case.builder.get(result, 1);
    let (graph, backward) = gradient_graph(&case, ys, &[h0, xs, w]);
    // The forward loop adds only the carry it saves: the tanh is its own output `y` already, exp(w) is not saved.
    assert_eq!(graph.node(result).ty, crate::ir::Type::Tuple(vec![f64s(&[3]), f64s(&[5, 3]), f64s(&[5, 3])]));
    assert_eq!((count(&backward, "exp"), count(&backward, "tanh")), (1, 0), "{backward}");
    case.check(ys);
}

#[test]
fn the_gradient_graph_of_a_scan_round_trips_and_optimizes_to_the_same_gradients() {
    let (mut case, read) = lstm_case(111);
    let loss = case.builder.reduce_sum(read, vec![0]);
    let (graph, values) = case.gradient_graph(loss);
    // The names autodiff gives the backward body's inputs and outputs print and parse back.
    assert_eq!(parse(&graph.to_string()).expect("the gradient graph parses"), graph);
    let optimized = optimize(graph.clone(), true);
    let count = graph.outputs.len();
    let before = gradient_values(&graph, &values, count);
    let after = gradient_values(&optimized, &values, count);
    for (plain, folded) in before.iter().flatten().zip(after.iter().flatten()) {
        assert!((plain - folded).abs() <= 1e-12 * plain.abs().max(1.0), "{plain} became {folded}");
    }
    // Autodiff widened the forward scan in place instead of adding a second one, so the optimized graph keeps
    // one forward and one backward loop.
    let loops = optimized.nodes.iter().filter(|node| matches!(node.op, Op::Scan(_))).count();
    assert_eq!(loops, 2, "{optimized}");
}

#[test]
fn int_carries_and_sequences_get_no_gradient_and_the_floats_are_right() {
    // The carry `count` (i32) counts steps; the sequence `tokens` (i32) scales each step's input.
    let mut body = Builder::new("cell");
    let h = body.input("h", Role::State, f64s(&[2]));
    let count = body.input("count", Role::State, TensorType::new(DType::I32, [2]));
    let token = body.input("token", Role::Batch, TensorType::new(DType::I32, [2]));
    let x = body.input("x", Role::Batch, f64s(&[2]));
    let one = body.constant(1.0, DType::I32, [2]);
    let next_count = body.add(count, one);
    let weight = body.cast(token, DType::F64);
    let steps_so_far = body.cast(next_count, DType::F64);
    let scaled = body.mul(x, weight);
    let damped = body.div(h, steps_so_far);
    let sum = body.add(scaled, damped);
    let next = body.tanh(sum);
    body.output("h", next);
    body.output("count", next_count);
    body.output("y", next);

    let mut case = Case::new(120);
    let h0 = case.param("h0", &[2], -1.0, 1.0);
    let count0 = case.ints("count0", &[2], vec![0, 3]);
    let tokens = case.ints("tokens", &[3, 2], vec![1, -2, 3, 0, 2, 1]);
    let xs = case.param("xs", &[3, 2], -1.0, 1.0);
    let scan = Scan { steps: 3, carries: 2, sequences: 2, reverse: false, body: body.finish() };
    let result = case.builder.scan(scan, vec![h0, count0, tokens, xs]);
    let ys = case.builder.get(result, 2);
    case.check(ys);
}

#[test]
fn a_scan_without_carries_maps_its_body_over_the_steps() {
    let mut body = Builder::new("map");
    let x = body.input("x", Role::Batch, f64s(&[3]));
    let w = body.input("w", Role::Param, f64s(&[3]));
    let product = body.mul(x, w);
    let y = body.exp(product);
    body.output("y", y);

    let mut case = Case::new(130);
    let xs = case.param("xs", &[4, 3], -1.0, 1.0);
    let w = case.param("w", &[3], -1.0, 1.0);
    let scan = Scan { steps: 4, carries: 0, sequences: 1, reverse: false, body: body.finish() };
    let result = case.builder.scan(scan, vec![xs, w]);
    let ys = case.builder.get(result, 0);
    case.check(ys);
}

#[test]
fn a_scan_inside_a_scan_matches_finite_differences() {
    // The outer step runs the tanh recurrence over the rows of its slice, starting from its carry.
    let mut outer = Builder::new("outer");
    let h = outer.input("h", Role::State, f64s(&[2]));
    let rows = outer.input("rows", Role::Batch, f64s(&[3, 2]));
    let w = outer.input("w", Role::Param, f64s(&[2]));
    let inner = Scan { steps: 3, carries: 1, sequences: 1, reverse: false, body: tanh_cell(2) };
    let result = outer.scan(inner, vec![h, rows, w]);
    let last = outer.get(result, 0);
    let stacked = outer.get(result, 1);
    let total = outer.reduce_sum(stacked, vec![0]);
    outer.output("h", last);
    outer.output("total", total);

    let mut case = Case::new(140);
    let h0 = case.param("h0", &[2], -1.0, 1.0);
    let blocks = case.param("blocks", &[2, 3, 2], -1.0, 1.0);
    let w = case.param("w", &[2], -1.0, 1.0);
    let scan = Scan { steps: 2, carries: 1, sequences: 1, reverse: false, body: outer.finish() };
    let result = case.builder.scan(scan, vec![h0, blocks, w]);
    let last = case.builder.get(result, 0);
    let last = case.builder.reshape(last, vec![1, 2]);
    let totals = case.builder.get(result, 1);
    let read = case.builder.concat(vec![last, totals], 0);
    case.check(read);
}

#[test]
fn a_scan_of_no_steps_passes_the_carry_cotangent_through() {
    let mut case = Case::new(150);
    let h0 = case.param("h0", &[3], -1.0, 1.0);
    let w = case.param("w", &[3], -1.0, 1.0);
    let xs = case.data_with("xs", &[0, 3], Vec::new());
    let scan = Scan { steps: 0, carries: 1, sequences: 1, reverse: false, body: tanh_cell(3) };
    let result = case.builder.scan(scan, vec![h0, xs, w]);
    let last = case.builder.get(result, 0);
    case.check(last);
}
