//! Tests of the autodiff pass: the gradient graph it builds, and every op's gradient rule against central finite
//! differences in f64 at seeded random points (away from kinks); `scan.rs` has the loops and the compositions.

mod scan;

use std::collections::BTreeMap;

use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::interpreter::{run, Tensor};
use crate::ir::{Binary, Builder, Compare, DType, Graph, NodeId, Op, Role, Scan, TensorType, Type, Unary};
use crate::passes::autodiff::gradients;
use crate::passes::gradcheck::{self, Report, Tolerance};

pub(super) fn f64s(shape: &[usize]) -> TensorType {
    TensorType::new(DType::F64, shape.to_vec())
}

fn scans(graph: &Graph) -> usize {
    graph.nodes.iter().filter(|node| matches!(node.op, Op::Scan(_))).count()
}

#[test]
fn gradients_have_the_types_of_what_they_differentiate_and_an_unused_input_gets_zero() {
    let mut builder = Builder::new("forward");
    let x = builder.input("x", Role::Param, f64s(&[2, 3]));
    let unused = builder.input("unused", Role::Param, f64s(&[4]));
    let squares = builder.mul(x, x);
    let loss = builder.reduce_sum(squares, vec![0, 1]);
    let grads = gradients(&mut builder, loss, &[x, unused]);
    assert_eq!(builder.ty(grads[0]), &f64s(&[2, 3]));
    assert_eq!(builder.ty(grads[1]), &f64s(&[4]));
    assert_eq!(builder.graph().node(grads[1]).op, Op::Constant { value: 0.0 });
}

#[test]
fn a_branch_off_the_path_to_the_loss_builds_nothing() {
    let build = |with_branch: bool| {
        let mut builder = Builder::new("forward");
        let x = builder.input("x", Role::Param, f64s(&[3]));
        if with_branch {
            // Reads x but never reaches the loss.
            let aside = builder.exp(x);
            builder.output("aside", aside);
        }
        let y = builder.tanh(x);
        let loss = builder.reduce_sum(y, vec![0]);
        let before = builder.graph().nodes.len();
        gradients(&mut builder, loss, &[x]);
        builder.graph().nodes.len() - before
    };
    assert_eq!(build(true), build(false));
}

#[test]
fn the_same_graph_gives_the_same_gradient_graph() {
    let build = || {
        let mut builder = Builder::new("forward");
        let x = builder.input("x", Role::Param, f64s(&[2, 2]));
        let w = builder.input("w", Role::Param, f64s(&[2, 2]));
        let product = builder.matmul(x, w);
        let both = builder.add(product, x);
        let shifted = builder.max(both, w);
        let loss = builder.reduce_sum(shifted, vec![0, 1]);
        let grads = gradients(&mut builder, loss, &[w, x]);
        builder.output("grad.w", grads[0]);
        builder.output("grad.x", grads[1]);
        builder.finish()
    };
    assert_eq!(build(), build());
}

/// A scan summing `h = tanh(h * w + x_t)`; returns the builder, the scan and its inputs.
fn tanh_scan(steps: usize) -> (Builder, NodeId, NodeId, NodeId, NodeId) {
    let mut body = Builder::new("cell");
    let h = body.input("h", Role::State, f64s(&[2]));
    let x = body.input("x", Role::Batch, f64s(&[2]));
    let w = body.input("w", Role::Param, f64s(&[2]));
    let scaled = body.mul(h, w);
    let sum = body.add(scaled, x);
    let next = body.tanh(sum);
    body.output("h", next);
    body.output("y", next);

    let mut builder = Builder::new("forward");
    let h0 = builder.input("h0", Role::State, f64s(&[2]));
    let xs = builder.input("xs", Role::Batch, f64s(&[steps, 2]));
    let w = builder.input("w", Role::Param, f64s(&[2]));
    let scan = Scan { steps, carries: 1, sequences: 1, reverse: false, body: body.finish() };
    let result = builder.scan(scan, vec![h0, xs, w]);
    (builder, result, h0, xs, w)
}

#[test]
fn a_scan_is_run_forward_once_and_saves_its_carries_as_extra_parts() {
    let (mut builder, result, h0, xs, w) = tanh_scan(4);
    let ys = builder.get(result, 1);
    let loss = builder.reduce_sum(ys, vec![0, 1]);
    let grads = gradients(&mut builder, loss, &[h0, xs, w]);
    let graph = builder.graph();
    // One forward scan, one backward scan: the forward loop is widened in place, not run a second time.
    assert_eq!(scans(graph), 2);
    assert_eq!(graph.node(result).ty, Type::Tuple(vec![f64s(&[2]), f64s(&[4, 2]), f64s(&[4, 2])]));
    assert_eq!(graph.tensor_type(ys), &f64s(&[4, 2]));
    assert_eq!(graph.tensor_type(grads[0]), &f64s(&[2]));
    assert_eq!(graph.tensor_type(grads[1]), &f64s(&[4, 2]));
    assert_eq!(graph.tensor_type(grads[2]), &f64s(&[2]));
    // The backward body reads each step's tanh as the forward loop returned it (here its own output `y`, so no part
    // is added for it) rather than computing it again.
    let backward = graph
        .nodes
        .iter()
        .find_map(|node| match &node.op {
            Op::Scan(scan) if scan.reverse => Some(&scan.body),
            _ => None,
        })
        .expect("a backward scan");
    assert!(backward.nodes.iter().all(|node| node.op != Op::Unary(Unary::Tanh)), "{backward}");
}

/// A graph under test and the point it is checked at: each input gets seeded random values in its range, or given
/// values; the parameters are what the gradient is checked with respect to.
pub(super) struct Case {
    pub(super) builder: Builder,
    values: BTreeMap<String, Tensor>,
    params: Vec<String>,
    rng: ChaCha8Rng,
}

impl Case {
    pub(super) fn new(seed: u64) -> Case {
        Case {
            builder: Builder::new("case"),
            values: BTreeMap::new(),
            params: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Seeded values uniform in `low..high`.
    pub(super) fn uniform(&mut self, shape: &[usize], low: f64, high: f64) -> Vec<f64> {
        (0..shape.iter().product()).map(|_| self.rng.gen_range(low..high)).collect()
    }

    /// An input the gradient is checked for, with random values in `low..high`.
    pub(super) fn param(&mut self, name: &str, shape: &[usize], low: f64, high: f64) -> NodeId {
        let values = self.uniform(shape, low, high);
        self.param_with(name, shape, values)
    }

    /// An input the gradient is checked for, with given values.
    pub(super) fn param_with(&mut self, name: &str, shape: &[usize], values: Vec<f64>) -> NodeId {
        self.params.push(name.to_string());
        self.data_with(name, shape, values)
    }

    /// An input that is not differentiated (data, targets), with random values in `low..high`.
    pub(super) fn data(&mut self, name: &str, shape: &[usize], low: f64, high: f64) -> NodeId {
        let values = self.uniform(shape, low, high);
        self.data_with(name, shape, values)
    }

    /// An input that is not differentiated, with given values.
    pub(super) fn data_with(&mut self, name: &str, shape: &[usize], values: Vec<f64>) -> NodeId {
        let array = ArrayD::from_shape_vec(IxDyn(shape), values).expect("one value per element");
        self.values.insert(name.to_string(), Tensor::F64(array));
        self.builder.input(name, Role::Batch, f64s(shape))
    }

    /// An i32 input with given values.
    pub(super) fn ints(&mut self, name: &str, shape: &[usize], values: Vec<i32>) -> NodeId {
        let array = ArrayD::from_shape_vec(IxDyn(shape), values).expect("one value per element");
        self.values.insert(name.to_string(), Tensor::I32(array));
        self.builder.input(name, Role::Batch, TensorType::new(DType::I32, shape.to_vec()))
    }

    /// Checks the gradient of `sum(output * probe)`, with a random `probe` so that every output element weighs
    /// differently (a plain sum would hide a gradient sent to the wrong element), and returns the report.
    pub(super) fn check(mut self, output: NodeId) -> Report {
        let shape = self.builder.shape(output);
        let probe = self.data("probe", &shape, -1.0, 1.0);
        let weighted = self.builder.mul(output, probe);
        let loss = self.builder.reduce_sum(weighted, (0..shape.len()).collect());
        self.check_loss(loss)
    }

    /// Checks the gradient of a scalar `loss` and returns the report.
    pub(super) fn check_loss(mut self, loss: NodeId) -> Report {
        self.builder.output("loss", loss);
        let graph = self.builder.finish();
        let wrt: Vec<&str> = self.params.iter().map(String::as_str).collect();
        match gradcheck::check(&graph, "loss", &self.values, &wrt, Tolerance::default()) {
            Ok(report) => {
                // The figures the pass is judged by; `cargo test -- --nocapture` shows them.
                eprintln!("gradcheck {}: {report}", std::thread::current().name().unwrap_or("?"));
                assert!(report.compared > 0, "nothing was compared");
                report
            }
            Err(mismatch) => panic!("{mismatch}"),
        }
    }

    /// The graph with the gradients of `loss` as outputs `grad.0`, `grad.1`..., and the point to run it at.
    pub(super) fn gradient_graph(mut self, loss: NodeId) -> (Graph, BTreeMap<String, Tensor>) {
        let wrt: Vec<NodeId> =
            self.params.iter().map(|name| self.builder.graph().input(name).expect("an input")).collect();
        let grads = gradients(&mut self.builder, loss, &wrt);
        for (index, grad) in grads.into_iter().enumerate() {
            self.builder.output(format!("grad.{index}"), grad);
        }
        (self.builder.finish(), self.values)
    }

    /// Runs the graph with the gradients of `loss` as outputs and returns them.
    pub(super) fn gradients_of(self, loss: NodeId) -> Vec<Vec<f64>> {
        let count = self.params.len();
        let (graph, values) = self.gradient_graph(loss);
        gradient_values(&graph, &values, count)
    }
}

/// Runs a graph made by [`Case::gradient_graph`] and returns its `count` gradients.
pub(super) fn gradient_values(graph: &Graph, values: &BTreeMap<String, Tensor>, count: usize) -> Vec<Vec<f64>> {
    let outputs = run(graph, values).expect("the gradient graph runs");
    (0..count)
        .map(|index| match &outputs[&format!("grad.{index}")] {
            Tensor::F64(values) => values.iter().copied().collect(),
            other => panic!("a gradient in f64, found {other:?}"),
        })
        .collect()
}

#[test]
fn unary_ops_match_finite_differences() {
    let cases: [(Unary, f64, f64); 7] = [
        (Unary::Neg, -2.0, 2.0),
        (Unary::Exp, -2.0, 2.0),
        (Unary::Log, 0.5, 3.0),
        (Unary::Sqrt, 0.5, 3.0),
        (Unary::Recip, 0.5, 3.0),
        (Unary::Tanh, -2.0, 2.0),
        (Unary::Erf, -2.0, 2.0),
    ];
    for (seed, (unary, low, high)) in cases.into_iter().enumerate() {
        let mut case = Case::new(seed as u64);
        let x = case.param("x", &[3, 4], low, high);
        let y = case.builder.unary(unary, x);
        case.check(y);
    }
}

#[test]
fn arithmetic_matches_finite_differences() {
    for (seed, binary) in [Binary::Add, Binary::Sub, Binary::Mul, Binary::Div].into_iter().enumerate() {
        let mut case = Case::new(10 + seed as u64);
        let a = case.param("a", &[2, 5], -2.0, 2.0);
        let b = case.param("b", &[2, 5], 0.5, 2.0);
        let y = case.builder.binary(binary, a, b);
        case.check(y);
    }
}

#[test]
fn max_and_min_send_the_gradient_to_the_selected_operand() {
    for (seed, binary) in [Binary::Max, Binary::Min].into_iter().enumerate() {
        let mut case = Case::new(20 + seed as u64);
        // The operands stay at least 0.1 apart, away from the kink where they tie.
        let a_values = case.uniform(&[3, 4], -1.0, 1.0);
        let gaps = case.uniform(&[3, 4], 0.1, 0.5);
        let signs = case.uniform(&[3, 4], -1.0, 1.0);
        let b_values = (0..12).map(|i| a_values[i] + gaps[i] * signs[i].signum()).collect();
        let a = case.param_with("a", &[3, 4], a_values);
        let b = case.param_with("b", &[3, 4], b_values);
        let y = case.builder.binary(binary, a, b);
        case.check(y);
    }
}

#[test]
fn max_and_min_split_a_tie_evenly() {
    for binary in [Binary::Max, Binary::Min] {
        let mut case = Case::new(22);
        let a = case.param_with("a", &[3], vec![1.0, 2.0, 3.0]);
        let b = case.param_with("b", &[3], vec![1.0, 0.0, 5.0]);
        let y = case.builder.binary(binary, a, b);
        let loss = case.builder.reduce_sum(y, vec![0]);
        let grads = case.gradients_of(loss);
        let (a_wins, b_wins) = if binary == Binary::Max { (1.0, 0.0) } else { (0.0, 1.0) };
        assert_eq!(grads[0], vec![0.5, a_wins, b_wins]);
        assert_eq!(grads[1], vec![0.5, b_wins, a_wins]);
    }
    // max(x, x) = x: the two halves add up to the whole gradient, as finite differences see it.
    let mut case = Case::new(23);
    let x = case.param("x", &[4], -1.0, 1.0);
    let y = case.builder.max(x, x);
    case.check(y);
}

#[test]
fn select_sends_the_gradient_to_the_selected_branch_only() {
    let mut case = Case::new(30);
    let a = case.param("a", &[4, 3], -1.0, 1.0);
    let b = case.param("b", &[4, 3], -1.0, 1.0);
    let limit = case.data("limit", &[4, 3], -1.0, 1.0);
    let condition = case.builder.compare(Compare::Gt, a, limit);
    let doubled = case.builder.scale(a, 2.0);
    let grown = case.builder.exp(b);
    let y = case.builder.select(condition, doubled, grown);
    case.check(y);
}

#[test]
fn casts_pass_float_gradients_back_and_int_ones_not_at_all() {
    let mut case = Case::new(40);
    let x = case.param("x", &[5], 1.05, 1.45);
    // The f32 round trip is f64 to f64 once the check widens the graph; the i32 one is flat (every x truncates
    // and rounds to 1), so no gradient flows through it.
    let narrow = case.builder.cast(x, DType::F32);
    let wide = case.builder.cast(narrow, DType::F64);
    let whole = case.builder.cast(x, DType::I32);
    let back = case.builder.cast(whole, DType::F64);
    let y = case.builder.mul(wide, back);
    let y = case.builder.mul(y, x);
    case.check(y);
}

#[test]
fn reductions_match_finite_differences() {
    let mut case = Case::new(50);
    let x = case.param("x", &[3, 4, 5], -2.0, 2.0);
    let y = case.builder.reduce_sum(x, vec![0, 2]);
    case.check(y);

    // Random values do not tie, so each maximum is one element.
    let mut case = Case::new(51);
    let x = case.param("x", &[3, 4, 5], -2.0, 2.0);
    let y = case.builder.reduce_max(x, vec![1]);
    case.check(y);

    let mut case = Case::new(52);
    let x = case.param("x", &[3, 4], -2.0, 2.0);
    let y = case.builder.mean(x, vec![0, 1]);
    case.check(y);
}

#[test]
fn reduce_max_splits_the_gradient_among_tied_maxima() {
    let mut case = Case::new(53);
    let x = case.param_with("x", &[2, 3], vec![1.0, 3.0, 3.0, 2.0, 2.0, 2.0]);
    let y = case.builder.reduce_max(x, vec![1]);
    let loss = case.builder.reduce_sum(y, vec![0]);
    let grads = case.gradients_of(loss);
    let third = 1.0 / 3.0;
    assert_eq!(grads[0], vec![0.0, 0.5, 0.5, third, third, third]);
}

#[test]
fn argmax_passes_no_gradient() {
    let mut case = Case::new(54);
    let x = case.param("x", &[3, 4], -2.0, 2.0);
    let index = case.builder.argmax(x, 1);
    let as_float = case.builder.cast(index, DType::F64);
    let loss = case.builder.reduce_sum(as_float, vec![0]);
    let grads = case.gradients_of(loss);
    assert_eq!(grads[0], vec![0.0; 12]);
}

#[test]
fn reshape_permute_and_expand_match_finite_differences() {
    let mut case = Case::new(60);
    let x = case.param("x", &[2, 3, 4], -1.0, 1.0);
    let y = case.builder.reshape(x, vec![6, 4]);
    case.check(y);

    let mut case = Case::new(61);
    let x = case.param("x", &[2, 3, 4], -1.0, 1.0);
    let y = case.builder.permute(x, vec![2, 0, 1]);
    case.check(y);

    let mut case = Case::new(62);
    let x = case.param("x", &[2, 1, 3, 1], -1.0, 1.0);
    let y = case.builder.expand(x, vec![2, 4, 3, 5]);
    case.check(y);

    let mut case = Case::new(63);
    let bias = case.param("bias", &[3], -1.0, 1.0);
    let y = case.builder.broadcast(bias, &[4, 3]);
    case.check(y);
}

#[test]
fn pad_slice_and_concat_match_finite_differences() {
    let mut case = Case::new(70);
    let x = case.param("x", &[3, 4], -1.0, 1.0);
    let y = case.builder.pad(x, vec![1, 0], vec![2, 3], vec![2, 1], 0.5);
    case.check(y);

    for (seed, (start, end, step)) in
        [([1, 0], [5, 7], [2, 3]), ([0, 2], [6, 6], [1, 1]), ([2, 1], [3, 7], [4, 5])].into_iter().enumerate()
    {
        let mut case = Case::new(71 + seed as u64);
        let x = case.param("x", &[6, 7], -1.0, 1.0);
        let y = case.builder.slice(x, start.to_vec(), end.to_vec(), step.to_vec());
        case.check(y);
    }

    let mut case = Case::new(75);
    let a = case.param("a", &[2, 3], -1.0, 1.0);
    let b = case.param("b", &[2, 1], -1.0, 1.0);
    let c = case.param("c", &[2, 4], -1.0, 1.0);
    let y = case.builder.concat(vec![a, b, c, a], 1);
    case.check(y);
}

#[test]
fn matmul_matches_finite_differences() {
    let mut case = Case::new(80);
    let a = case.param("a", &[3, 4], -1.0, 1.0);
    let b = case.param("b", &[4, 5], -1.0, 1.0);
    let y = case.builder.matmul(a, b);
    case.check(y);

    let mut case = Case::new(81);
    let a = case.param("a", &[2, 3, 4], -1.0, 1.0);
    let b = case.param("b", &[2, 4, 2], -1.0, 1.0);
    let y = case.builder.matmul(a, b);
    case.check(y);

    // One operand read twice: the two cotangents add up.
    let mut case = Case::new(82);
    let a = case.param("a", &[3, 3], -1.0, 1.0);
    let y = case.builder.matmul(a, a);
    case.check(y);
}

#[test]
fn matmul_matches_finite_differences_over_swept_shapes() {
    let sizes = [(1, 1, 1), (1, 4, 3), (3, 1, 2), (2, 3, 1), (4, 2, 5)];
    for (seed, (m, k, n)) in sizes.into_iter().enumerate() {
        for batch in [vec![], vec![2], vec![1, 3]] {
            let mut case = Case::new(200 + seed as u64);
            let a = case.param("a", &[batch.clone(), vec![m, k]].concat(), -1.0, 1.0);
            let b = case.param("b", &[batch.clone(), vec![k, n]].concat(), -1.0, 1.0);
            let y = case.builder.matmul(a, b);
            case.check(y);
        }
    }
}

#[test]
fn reductions_match_finite_differences_over_every_set_of_axes() {
    for mask in 0..8_usize {
        let axes: Vec<usize> = (0..3).filter(|axis| mask & (1 << axis) != 0).collect();
        for (offset, sum) in [true, false].into_iter().enumerate() {
            let mut case = Case::new(300 + 2 * mask as u64 + offset as u64);
            let x = case.param("x", &[2, 1, 3], -2.0, 2.0);
            let y =
                if sum { case.builder.reduce_sum(x, axes.clone()) } else { case.builder.reduce_max(x, axes.clone()) };
            case.check(y);
        }
    }
}

#[test]
fn softmax_cross_entropy_from_logits_matches_finite_differences() {
    let (batch, classes) = (4, 5);
    let mut case = Case::new(90);
    let logits = case.param("logits", &[batch, classes], -3.0, 3.0);
    let mut one_hot = vec![0.0; batch * classes];
    for (row, class) in [2, 0, 4, 1].into_iter().enumerate() {
        one_hot[row * classes + class] = 1.0;
    }
    let targets = case.data_with("targets", &[batch, classes], one_hot);
    // log_softmax(x) = x - max - log(sum(exp(x - max))), the max taken out for stability as lowering does.
    let largest = case.builder.reduce_max(logits, vec![1]);
    let largest = case.builder.unreduce(largest, &[1], &[batch, classes]);
    let shifted = case.builder.sub(logits, largest);
    let exponentials = case.builder.exp(shifted);
    let total = case.builder.reduce_sum(exponentials, vec![1]);
    let log_total = case.builder.log(total);
    let log_total = case.builder.unreduce(log_total, &[1], &[batch, classes]);
    let log_probabilities = case.builder.sub(shifted, log_total);
    let picked = case.builder.mul(targets, log_probabilities);
    let per_row = case.builder.reduce_sum(picked, vec![1]);
    let mean = case.builder.mean(per_row, vec![0]);
    let loss = case.builder.neg(mean);
    case.check_loss(loss);
}

#[test]
fn a_dense_layer_with_a_squared_error_matches_finite_differences() {
    let (batch, features, units) = (5, 4, 3);
    let mut case = Case::new(91);
    let x = case.param("x", &[batch, features], -1.0, 1.0);
    let kernel = case.param("kernel", &[features, units], -1.0, 1.0);
    let bias = case.param("bias", &[units], -0.5, 0.5);
    let target = case.data("target", &[batch, units], -1.0, 1.0);
    let product = case.builder.matmul(x, kernel);
    let spread = case.builder.broadcast(bias, &[batch, units]);
    let pre = case.builder.add(product, spread);
    let y = case.builder.tanh(pre);
    let error = case.builder.sub(y, target);
    let squared = case.builder.mul(error, error);
    let loss = case.builder.mean(squared, vec![0, 1]);
    case.check_loss(loss);
}
