//! Tests of the autodiff pass: the shape of the gradient graph it builds.

use crate::ir::{Builder, DType, Graph, NodeId, Op, Role, Scan, TensorType, Type};
use crate::passes::autodiff::gradients;

fn f64s(shape: &[usize]) -> TensorType {
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
}
