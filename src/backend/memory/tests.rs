//! Tests of [`Plan::peak_bytes`]: small graphs whose peak is computed by hand from the module documentation's rules,
//! and properties of every example's plans and of random plans.

use std::path::Path;

use crate::backend::memory::{tensor_bytes, type_bytes};
use crate::backend::plan::{plan, Plan, Step};
use crate::compile::{self, GraphKind, Settings};
use crate::ir::random::random_graph;
use crate::ir::{Builder, DType, Graph, Role, Scan, TensorType, Type};
use crate::lowering::Model;
use crate::passes::optimize;
use crate::pipeline::check_file;
use crate::testing::example_specs;

fn f32s(shape: &[usize]) -> TensorType {
    TensorType::new(DType::F32, shape)
}

/// An example's model, checked.
fn model(name: &str) -> Model {
    let spec = format!("specs/{name}.galen");
    let outcome = check_file(Path::new(&spec));
    let (Some(lowered), Some(checked)) = (&outcome.lowered, &outcome.checked) else { panic!("{spec} checks") };
    Model::new(&lowered.spec, checked)
}

/// Every example's name, in name order.
fn examples() -> Vec<String> {
    example_specs().iter().map(|path| path.file_stem().unwrap_or_default().to_string_lossy().to_string()).collect()
}

fn planned(model: &Model, kind: GraphKind, batch: usize) -> Plan {
    compile::planned(model, kind, batch, Settings::verified())
}

/// The bytes of a graph's inputs, and of its outputs.
fn input_and_output_bytes(graph: &Graph) -> (u64, u64) {
    let inputs = graph.inputs().into_iter().map(|(id, _, _)| type_bytes(&graph.node(id).ty)).sum();
    let outputs = graph.outputs.iter().map(|output| type_bytes(&graph.node(output.node).ty)).sum();
    (inputs, outputs)
}

/// Bytes per element: 4 for f32 and i32, 8 for f64, 1 for bool; a tuple is its parts.
#[test]
fn sizes_follow_the_element_type() {
    assert_eq!(tensor_bytes(&f32s(&[4, 8])), 128);
    assert_eq!(tensor_bytes(&TensorType::new(DType::I32, [3])), 12);
    assert_eq!(tensor_bytes(&TensorType::new(DType::F64, [3])), 24);
    assert_eq!(tensor_bytes(&TensorType::new(DType::Bool, [10])), 10);
    assert_eq!(tensor_bytes(&f32s(&[])), 4, "a scalar is one element");
    assert_eq!(tensor_bytes(&f32s(&[5, 0])), 0);
    assert_eq!(type_bytes(&Type::Tuple(vec![f32s(&[2]), TensorType::new(DType::Bool, [3])])), 11);
    assert_eq!(tensor_bytes(&f32s(&[usize::MAX, usize::MAX])), u64::MAX, "the arithmetic saturates");
}

/// `x · w` with an exponential as its epilogue (an output), then the sum of each row (an output).
///
/// The inputs are live from the start: x `[4, 8]` 128 bytes and w `[8, 16]` 512, 640 in all. Step 0 makes the
/// product and its exponential (256 bytes each): 1152 live, the peak; it frees x, w and the product, which leaves
/// the exponential, 256. Step 1 makes the sums (16): 272. Both outputs are moved out whole: no copy.
#[test]
fn a_product_and_a_chain_of_elementwise_ops_peak_as_computed_by_hand() {
    let mut builder = Builder::new("chain");
    let x = builder.input("x", Role::Batch, f32s(&[4, 8]));
    let w = builder.input("w", Role::Param, f32s(&[8, 16]));
    let product = builder.matmul(x, w);
    let exp = builder.exp(product);
    let sum = builder.reduce_sum(exp, vec![1]);
    builder.output("exp", exp);
    builder.output("sum", sum);
    let planned = plan(&builder.finish());
    // The plan the figures above assume.
    assert_eq!(planned.steps.len(), 2, "{planned}");
    assert!(
        matches!(&planned.steps[0], Step::MatMul { epilogue: Some(epilogue), .. } if epilogue.writes == [exp]),
        "{planned}"
    );
    assert_eq!(planned.frees, vec![vec![x, w, product], vec![]], "{planned}");
    assert_eq!(planned.peak_bytes(), 1152);
}

/// A chain of elementwise ops on a broadcast input, read twice as outputs.
///
/// x `[4, 1]` is 16 bytes; one kernel computes `exp(x broadcast to [4, 8]) + 1` (128 bytes): 144 live, then x is
/// freed, 128. Two outputs read the result: the first is copied (128 more), the last moved: 256 at the end, the peak.
#[test]
fn an_output_read_twice_is_copied_once_at_the_end() {
    let mut builder = Builder::new("twice");
    let x = builder.input("x", Role::Batch, f32s(&[4, 1]));
    let wide = builder.expand(x, [4, 8]);
    let exp = builder.exp(wide);
    let result = builder.offset(exp, 1.0);
    builder.output("first", result);
    builder.output("second", result);
    let planned = plan(&builder.finish());
    assert_eq!(planned.steps.len(), 1, "{planned}");
    assert_eq!(planned.peak_bytes(), 256);
}

/// Outputs that need no step: the input itself and a transposed view of it, each copied at the end.
///
/// x `[4, 8]` is 128 bytes, live from the start; the executor copies both outputs (the input is the caller's, the
/// view is no whole buffer): 128 + 128 + 128.
#[test]
fn outputs_of_an_input_and_of_its_view_are_copies() {
    let mut builder = Builder::new("views");
    let x = builder.input("x", Role::Batch, f32s(&[4, 8]));
    let transposed = builder.transpose(x);
    builder.output("x", x);
    builder.output("transposed", transposed);
    let planned = plan(&builder.finish());
    assert!(planned.steps.is_empty(), "{planned}");
    assert_eq!(planned.peak_bytes(), 384);
}

/// An op on the interpreter's kernels (argmax) makes an i32 result, counted in its element type, and holds a copy of
/// an operand read through a view while it runs.
///
/// x `[4, 8]` f32 is 128 bytes; its argmax over rows, `[4]` i32, adds 16: 144, the peak; then x is freed. The argmax
/// of its transpose over columns, `[8]` i32, adds 32 and holds a copy of the transposed x (128) while it runs: 288.
#[test]
fn an_interpreter_op_counts_its_result_in_its_type_and_copies_its_views() {
    let mut builder = Builder::new("argmax");
    let x = builder.input("x", Role::Batch, f32s(&[4, 8]));
    let index = builder.argmax(x, 1);
    builder.output("index", index);
    let planned = plan(&builder.finish());
    assert_eq!(planned.steps.len(), 1, "{planned}");
    assert_eq!(planned.peak_bytes(), 144);

    let mut builder = Builder::new("argmax of a view");
    let x = builder.input("x", Role::Batch, f32s(&[4, 8]));
    let transposed = builder.transpose(x);
    let index = builder.argmax(transposed, 1);
    builder.output("index", index);
    let planned = plan(&builder.finish());
    assert_eq!(planned.steps.len(), 1, "{planned}");
    assert_eq!(planned.peak_bytes(), 288);
}

/// A scan of 5 steps over a carry `h` of `[2, 3]` (S = 24 bytes) and a sequence `xs` of `[5, 2, 3]` (5S = 120):
/// the body computes `tanh(h + x)`, both its new carry and its per-step output.
///
/// The body counts only its carry as an input (S); its kernel makes the new value (S more, 2S), then frees `h` and
/// the slice, which leaves S; its two outputs read one buffer, so the first is copied: 2S at the end, the body's
/// peak. The scan holds, on top of its inputs (6S), its stacked outputs (5S) and the body's peak (2S): 13S = 312
/// bytes, the plan's peak. After the scan its inputs are freed and the `get`s move the parts out of the tuple (6S).
#[test]
fn a_scan_counts_its_body_and_its_stacked_outputs() {
    let mut body = Builder::new("cell");
    let h = body.input("h", Role::Batch, f32s(&[2, 3]));
    let x = body.input("x", Role::Batch, f32s(&[2, 3]));
    let sum = body.add(h, x);
    let next = body.tanh(sum);
    body.output("h", next);
    body.output("y", next);
    let body = body.finish();
    let mut builder = Builder::new("scan");
    let h0 = builder.input("h0", Role::Batch, f32s(&[2, 3]));
    let xs = builder.input("xs", Role::Batch, f32s(&[5, 2, 3]));
    let scan = builder.scan(Scan { steps: 5, carries: 1, sequences: 1, reverse: false, body }, vec![h0, xs]);
    let last = builder.get(scan, 0);
    let stacked = builder.get(scan, 1);
    builder.output("h", last);
    builder.output("ys", stacked);
    let planned = plan(&builder.finish());
    let Step::Scan { body, .. } = &planned.steps[0] else { panic!("the first step is no scan:\n{planned}") };
    assert_eq!(body.steps.len(), 1, "{planned}");
    // On its own the body counts its slice as an input too: 3S.
    assert_eq!(body.peak_bytes(), 72);
    assert_eq!(planned.peak_bytes(), 312);
}

/// The recurrent examples: the peak holds at least what the scan step holds, its body's peak (which counts its own
/// inputs, all of them live in the outer plan while the scan runs) and its stacked outputs.
#[test]
fn a_recurrent_model_peak_holds_its_scans_body() {
    for name in ["heart_rhythm_gru", "heart_rhythm_lstm"] {
        let model = model(name);
        for kind in [GraphKind::TrainStep, GraphKind::Predict] {
            let planned = planned(&model, kind, 8);
            let mut scans = 0;
            for step in &planned.steps {
                let Step::Scan { node, body, .. } = step else { continue };
                let crate::ir::Op::Scan(scan) = &planned.graph.node(*node).op else { unreachable!("a scan step") };
                let Type::Tuple(parts) = &planned.graph.node(*node).ty else { unreachable!("a scan is a tuple") };
                let stacked: u64 = parts[scan.carries..].iter().map(tensor_bytes).sum();
                let held = body.peak_bytes() + stacked;
                assert!(planned.peak_bytes() >= held, "{name}, {kind}: the peak is below the scan's {held} bytes");
                scans += 1;
            }
            assert!(scans > 0, "{name}, {kind}: no scan\n{planned}");
        }
    }
}

/// At its peak a plan holds at least all its inputs (live from the start) and all its outputs (held to the end),
/// for every example's graphs and for random graphs of every op.
#[test]
fn the_peak_holds_the_inputs_and_the_outputs() {
    let mut plans = Vec::new();
    for name in examples() {
        let model = model(&name);
        for kind in [GraphKind::TrainStep, GraphKind::Evaluate, GraphKind::Predict] {
            plans.push((format!("{name}, {kind}"), planned(&model, kind, 5)));
        }
    }
    for seed in 0..200 {
        plans.push((format!("random graph {seed}"), plan(&optimize(random_graph(seed), true))));
    }
    for (what, planned) in plans {
        let (inputs, outputs) = input_and_output_bytes(&planned.graph);
        let peak = planned.peak_bytes();
        assert!(peak >= inputs && peak >= outputs, "{what}: a peak of {peak} for {inputs} in, {outputs} out");
    }
}

/// Every example's train step needs more memory for a larger batch.
#[test]
fn the_peak_of_a_train_step_grows_with_the_batch() {
    for name in examples() {
        let model = model(&name);
        let peaks: Vec<u64> = [1, 4, 32, 256]
            .into_iter()
            .map(|batch| planned(&model, GraphKind::TrainStep, batch).peak_bytes())
            .collect();
        assert!(peaks.windows(2).all(|pair| pair[0] < pair[1]), "{name}: peaks by batch {peaks:?}");
    }
}
