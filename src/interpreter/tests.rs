//! Tests of the interpreter as a whole (input checking, graph checking and their messages, outputs), and the helpers
//! the per-family kernel tests share.

use std::collections::BTreeMap;

use ndarray::{ArrayD, IxDyn};

use super::{run, InterpretError, Tensor};
use crate::ir::{Builder, DType, Graph, Node, NodeId, Op, Output, Role, Scan, TensorType, Type};

/// The float dtypes every float kernel is tested in.
pub(super) const FLOATS: [DType; 2] = [DType::F32, DType::F64];

/// A float tensor of `dtype` holding `values` (rounded to `f32` for `f32`).
pub(super) fn floats(dtype: DType, shape: &[usize], values: &[f64]) -> Tensor {
    let array = ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).expect("values fit the shape");
    match dtype {
        DType::F32 => Tensor::F32(array.mapv(|value| value as f32)),
        DType::F64 => Tensor::F64(array),
        other => panic!("floats of dtype {other}"),
    }
}

/// An `i32` tensor.
pub(super) fn ints(shape: &[usize], values: &[i32]) -> Tensor {
    Tensor::I32(ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).expect("values fit the shape"))
}

/// A `bool` tensor.
pub(super) fn bools(shape: &[usize], values: &[bool]) -> Tensor {
    Tensor::Bool(ArrayD::from_shape_vec(IxDyn(shape), values.to_vec()).expect("values fit the shape"))
}

/// Runs a one-output graph: `build` gets the input nodes (named `x0`, `x1`, ... with the tensors' types) and returns
/// the node to read.
pub(super) fn eval(inputs: &[Tensor], build: impl FnOnce(&mut Builder, &[NodeId]) -> NodeId) -> Tensor {
    let mut builder = Builder::new("test");
    let ids: Vec<NodeId> = inputs
        .iter()
        .enumerate()
        .map(|(index, tensor)| builder.input(format!("x{index}"), Role::Batch, tensor.tensor_type()))
        .collect();
    let result = build(&mut builder, &ids);
    builder.output("y", result);
    let feed: BTreeMap<String, Tensor> =
        inputs.iter().enumerate().map(|(index, tensor)| (format!("x{index}"), tensor.clone())).collect();
    let mut outputs = run(&builder.finish(), &feed).expect("the graph runs");
    outputs.remove("y").expect("the output is returned")
}

/// Asserts `tensor` is `dtype[shape]` with exactly `expected` (NaN matching NaN).
pub(super) fn assert_exact(tensor: &Tensor, dtype: DType, shape: &[usize], expected: &[f64]) {
    assert_within(tensor, dtype, shape, expected, 0.0);
}

/// Asserts `tensor` is `dtype[shape]` with `expected` up to a relative error that suits the dtype's precision
/// (infinities and NaN must match exactly).
pub(super) fn assert_close(tensor: &Tensor, dtype: DType, shape: &[usize], expected: &[f64]) {
    assert_within(tensor, dtype, shape, expected, if dtype == DType::F32 { 1e-6 } else { 1e-13 });
}

fn assert_within(tensor: &Tensor, dtype: DType, shape: &[usize], expected: &[f64], tolerance: f64) {
    assert_eq!(tensor.tensor_type(), TensorType::new(dtype, shape));
    let found: Vec<f64> = tensor.to_f64().iter().copied().collect();
    assert_eq!(found.len(), expected.len(), "{found:?} against {expected:?}");
    for (index, (&found, &expected)) in found.iter().zip(expected).enumerate() {
        let fits = if expected.is_nan() {
            found.is_nan()
        } else if expected.is_infinite() || tolerance == 0.0 {
            found == expected
        } else {
            (found - expected).abs() <= tolerance * expected.abs().max(1.0)
        };
        assert!(fits, "element {index}: found {found}, expected {expected} (all: {tensor:?})");
    }
}

fn feed(entries: &[(&str, Tensor)]) -> BTreeMap<String, Tensor> {
    entries.iter().map(|(name, tensor)| (name.to_string(), tensor.clone())).collect()
}

/// `y = x + w` on `f32[2, 3]` inputs named `x` and `w`.
fn sum_graph() -> Graph {
    let mut builder = Builder::new("sum");
    let x = builder.input("x", Role::Batch, TensorType::new(DType::F32, [2, 3]));
    let w = builder.input("w", Role::Param, TensorType::new(DType::F32, [2, 3]));
    let y = builder.add(x, w);
    builder.output("y", y);
    builder.finish()
}

#[test]
fn a_missing_input_is_named_with_its_type() {
    let inputs = feed(&[("x", floats(DType::F32, &[2, 3], &[0.0; 6]))]);
    let error = run(&sum_graph(), &inputs).unwrap_err();
    assert_eq!(
        error,
        InterpretError::MissingInput { name: "w".to_string(), expected: TensorType::new(DType::F32, [2, 3]) }
    );
    assert_eq!(error.to_string(), "missing input `w`: the graph expects f32[2, 3]");
}

#[test]
fn an_input_of_the_wrong_shape_says_what_was_expected() {
    let inputs = feed(&[("x", floats(DType::F32, &[3, 2], &[0.0; 6])), ("w", floats(DType::F32, &[2, 3], &[0.0; 6]))]);
    let error = run(&sum_graph(), &inputs).unwrap_err();
    assert_eq!(error.to_string(), "input `x` is f32[3, 2] but the graph expects f32[2, 3]");
}

#[test]
fn an_input_of_the_wrong_dtype_says_what_was_expected() {
    let inputs = feed(&[("x", floats(DType::F32, &[2, 3], &[0.0; 6])), ("w", floats(DType::F64, &[2, 3], &[0.0; 6]))]);
    let error = run(&sum_graph(), &inputs).unwrap_err();
    assert!(matches!(&error, InterpretError::WrongInput { name, .. } if name == "w"));
    assert_eq!(error.to_string(), "input `w` is f64[2, 3] but the graph expects f32[2, 3]");
}

#[test]
fn inputs_the_graph_does_not_take_are_ignored() {
    let inputs = feed(&[
        ("x", floats(DType::F32, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])),
        ("w", floats(DType::F32, &[2, 3], &[0.5; 6])),
        ("unused", ints(&[1], &[7])),
    ]);
    let outputs = run(&sum_graph(), &inputs).unwrap();
    assert_eq!(outputs.keys().collect::<Vec<_>>(), ["y"]);
    assert_exact(&outputs["y"], DType::F32, &[2, 3], &[1.5, 2.5, 3.5, 4.5, 5.5, 6.5]);
}

#[test]
fn every_output_is_returned_by_name_even_an_input_or_a_repeated_node() {
    let mut builder = Builder::new("outputs");
    let x = builder.input("x", Role::Batch, TensorType::new(DType::F64, [2]));
    let doubled = builder.scale(x, 2.0);
    builder.output("x", x);
    builder.output("doubled", doubled);
    builder.output("again", doubled);
    let outputs = run(&builder.finish(), &feed(&[("x", floats(DType::F64, &[2], &[1.0, -3.0]))])).unwrap();
    assert_exact(&outputs["x"], DType::F64, &[2], &[1.0, -3.0]);
    assert_exact(&outputs["doubled"], DType::F64, &[2], &[2.0, -6.0]);
    assert_exact(&outputs["again"], DType::F64, &[2], &[2.0, -6.0]);
}

#[test]
fn outputs_come_back_in_row_major_layout() {
    let x = floats(DType::F32, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let transposed = match &x {
        Tensor::F32(array) => Tensor::F32(array.clone().reversed_axes()),
        _ => unreachable!(),
    };
    let mut builder = Builder::new("passthrough");
    let input = builder.input("x", Role::Batch, TensorType::new(DType::F32, [3, 2]));
    builder.output("y", input);
    let outputs = run(&builder.finish(), &feed(&[("x", transposed)])).unwrap();
    let y = outputs["y"].as_f32().unwrap();
    assert_eq!(y.as_slice(), Some(&[1.0, 4.0, 2.0, 5.0, 3.0, 6.0][..]));
}

/// A node whose operands differ, as a hand-written or parsed graph could have.
fn ill_typed_graph() -> Graph {
    let input = |name: &str, shape: [usize; 1]| Node {
        op: Op::Input { name: name.to_string(), role: Role::Batch },
        inputs: vec![],
        ty: Type::Tensor(TensorType::new(DType::F32, shape)),
    };
    let add = Node {
        op: Op::Binary(crate::ir::Binary::Add),
        inputs: vec![NodeId(0), NodeId(1)],
        ty: Type::Tensor(TensorType::new(DType::F32, [2])),
    };
    Graph {
        name: "bad".to_string(),
        nodes: vec![input("a", [2]), input("b", [3]), add],
        outputs: vec![Output { name: "y".to_string(), node: NodeId(2) }],
    }
}

#[test]
fn a_node_that_breaks_the_type_rules_is_named_with_the_reason() {
    let inputs = feed(&[("a", floats(DType::F32, &[2], &[0.0; 2])), ("b", floats(DType::F32, &[3], &[0.0; 3]))]);
    let error = run(&ill_typed_graph(), &inputs).unwrap_err();
    assert_eq!(
        error.to_string(),
        "node %2 (`add`): operands differ: f32[2] and f32[3] (broadcast explicitly with `expand`)"
    );
}

#[test]
fn a_node_declared_with_another_type_than_its_inputs_give_is_an_error() {
    let mut graph = sum_graph();
    graph.nodes[2].ty = Type::Tensor(TensorType::new(DType::F32, [6]));
    let inputs = feed(&[("x", floats(DType::F32, &[2, 3], &[0.0; 6])), ("w", floats(DType::F32, &[2, 3], &[0.0; 6]))]);
    let error = run(&graph, &inputs).unwrap_err();
    assert_eq!(error.to_string(), "node %2 (`add`): its inputs make it f32[2, 3] but it is declared f32[6]");
}

#[test]
fn a_node_reading_a_later_node_is_an_error() {
    let mut graph = sum_graph();
    graph.nodes[2].inputs = vec![NodeId(0), NodeId(2)];
    let error = run(&graph, &BTreeMap::new()).unwrap_err();
    assert_eq!(error.to_string(), "node %2 (`add`): it reads %2, which does not come before it");
}

#[test]
fn an_output_of_no_node_is_an_error() {
    let mut graph = sum_graph();
    graph.outputs.push(Output { name: "ghost".to_string(), node: NodeId(9) });
    let error = run(&graph, &BTreeMap::new()).unwrap_err();
    assert_eq!(error.to_string(), "output `ghost`: it reads %9, but the graph has 3 nodes");
}

#[test]
fn an_ill_typed_scan_body_is_reported_through_the_scan() {
    let mut body = ill_typed_graph();
    body.outputs = vec![Output { name: "carry".to_string(), node: NodeId(2) }];
    let mut builder = Builder::new("outer");
    let a = builder.input("a", Role::Batch, TensorType::new(DType::F32, [2]));
    let b = builder.input("b", Role::Batch, TensorType::new(DType::F32, [3]));
    let mut graph = builder.finish();
    graph.nodes.push(Node {
        op: Op::Scan(Box::new(Scan { steps: 1, carries: 1, sequences: 0, reverse: false, body })),
        inputs: vec![a, b],
        ty: Type::Tuple(vec![TensorType::new(DType::F32, [2])]),
    });
    let error = run(&graph, &BTreeMap::new()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "node %2 (`scan`): in its body, node %2 (`add`): operands differ: f32[2] and f32[3] (broadcast explicitly \
         with `expand`)"
    );
}

#[test]
fn a_constant_splats_its_value_in_every_dtype() {
    for dtype in FLOATS {
        let y = eval(&[], |builder, _| builder.constant(-2.5, dtype, [2, 2]));
        assert_exact(&y, dtype, &[2, 2], &[-2.5; 4]);
    }
    let y = eval(&[], |builder, _| builder.constant(-2.5, DType::I32, [3]));
    assert_eq!(y, ints(&[3], &[-2; 3]));
    let y = eval(&[], |builder, _| builder.constant(1.0, DType::Bool, []));
    assert_eq!(y, bools(&[], &[true]));
    assert_eq!(y.scalar(), Some(1.0));
}

#[test]
fn an_output_of_a_tuple_is_an_error() {
    let mut body = Builder::new("cell");
    let carry = body.input("carry", Role::State, TensorType::new(DType::F32, [1]));
    body.output("carry", carry);
    let mut builder = Builder::new("outer");
    let init = builder.input("init", Role::State, TensorType::new(DType::F32, [1]));
    let scan =
        builder.scan(Scan { steps: 3, carries: 1, sequences: 0, reverse: false, body: body.finish() }, vec![init]);
    builder.output("whole", scan);
    let error = run(&builder.finish(), &feed(&[("init", floats(DType::F32, &[1], &[1.0]))])).unwrap_err();
    assert_eq!(error.to_string(), "output `whole`: it reads %1, a tuple; read a part with `get`");
}
