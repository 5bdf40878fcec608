//! Tests of the plan verifier: every example's plans verify clean, and broken plans, made by mutating real ones, are
//! caught with the right kind of error naming the right step and node (and never panic the verifier).
//!
//! Each broken plan goes through [`errors_of`], which also formats the errors and computes the plan's peak bytes, so
//! that every mutation also checks that neither panics on a broken plan.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::backend::cpu;
use crate::backend::exec::Program;
use crate::backend::kernel::Expr;
use crate::backend::plan::{plan, step_reads, step_writes, Layout, Operand, Plan, Step};
use crate::backend::verify::{verify_plan, PlanError, PlanErrorKind};
use crate::compile::{self, GraphKind, Settings};
use crate::interpreter::Tensor;
use crate::ir::random::random_graph;
use crate::ir::{Builder, DType, Graph, NodeId, Role, TensorType};
use crate::lowering::Model;
use crate::passes::optimize;
use crate::pipeline::check_file;
use crate::testing::example_specs;

use PlanErrorKind::*;

/// A node id far past any graph's nodes.
const NOWHERE: NodeId = NodeId(1_000_000);

/// The kinds of error a change of order or of frees can cause (no shape or structure changes).
const DATAFLOW: [PlanErrorKind; 6] = [ReadBeforeWrite, ReadAfterFree, BadFree, NeverFreed, DeadStore, WrittenTwice];

// ---- Helpers ---------------------------------------------------------------------------------------------------

/// An example's model, checked.
fn model(spec: &Path) -> Model {
    let outcome = check_file(spec);
    let (Some(lowered), Some(checked)) = (&outcome.lowered, &outcome.checked) else {
        panic!("{} checks", spec.display())
    };
    Model::new(&lowered.spec, checked)
}

/// The plan of an example's graph of `kind`, planned here (not through the driver, which would panic on a broken
/// plan), so that the verifier's answer is this test's to check.
fn example_plan(name: &str, kind: GraphKind, batch: usize) -> Plan {
    let model = model(Path::new(&format!("specs/{name}.galen")));
    plan(&compile::optimized(&model, kind, batch, Settings::verified()))
}

/// The diabetes regression's train step at a batch of 5: products with epilogues, fused kernels, reductions and
/// adam's updates, small enough to read.
fn dense_plan() -> Plan {
    example_plan("diabetes", GraphKind::TrainStep, 5)
}

/// The errors the verifier finds in a plan (none when it passes). It also formats them and computes the plan's
/// peak, which must not panic on any plan either.
fn errors_of(plan: &Plan) -> Vec<PlanError> {
    let _ = plan.peak_bytes();
    match verify_plan(plan) {
        Ok(()) => Vec::new(),
        Err(errors) => {
            let text = errors.to_string();
            assert!(text.starts_with(&format!("the kernel plan `{}` has", plan.name)), "{text}");
            errors.errors
        }
    }
}

/// Asserts the plan verifies clean.
fn assert_clean(plan: &Plan, what: &str) {
    if let Err(errors) = verify_plan(plan) {
        panic!("{what}: the planner's plan does not verify:\n{errors}\n{plan}");
    }
}

/// The error of `kind` at `step` naming `node` among the plan's errors; panics, listing them all, when there is none.
fn expect_error(errors: &[PlanError], kind: PlanErrorKind, step: Option<usize>, node: Option<NodeId>) -> PlanError {
    let found = errors.iter().find(|error| error.kind == kind && error.step == step && error.node == node);
    match found {
        Some(error) => error.clone(),
        None => panic!("no {kind:?} error at step {step:?} naming {node:?}; the errors are:\n{}", listed(errors)),
    }
}

/// Asserts the plan has exactly one error, of `kind` at `step` naming `node`, and returns it.
fn expect_only(errors: &[PlanError], kind: PlanErrorKind, step: Option<usize>, node: Option<NodeId>) -> PlanError {
    let error = expect_error(errors, kind, step, node);
    assert_eq!(errors.len(), 1, "one error expected, found:\n{}", listed(errors));
    error
}

fn listed(errors: &[PlanError]) -> String {
    errors.iter().map(|error| format!("  {:?}: {error}\n", error.kind)).collect()
}

/// The steps that read a node's buffer, in order.
fn readers(plan: &Plan, node: NodeId) -> Vec<usize> {
    (0..plan.steps.len()).filter(|&index| step_reads(&plan.steps[index]).contains(&node)).collect()
}

/// The step that frees a node's buffer.
fn freed_at(plan: &Plan, node: NodeId) -> Option<usize> {
    plan.frees.iter().position(|frees| frees.contains(&node))
}

/// Removes a step and its list of frees.
fn remove_step(plan: &mut Plan, index: usize) -> (Step, Vec<NodeId>) {
    (plan.steps.remove(index), plan.frees.remove(index))
}

/// Inserts a step with its list of frees.
fn insert_step(plan: &mut Plan, index: usize, (step, frees): (Step, Vec<NodeId>)) {
    plan.steps.insert(index, step);
    plan.frees.insert(index, frees);
}

/// The first kernel step (not an epilogue), with its kernel's index.
fn first_kernel_step(plan: &Plan, wanted: impl Fn(&Plan, usize) -> bool) -> (usize, usize) {
    plan.steps
        .iter()
        .enumerate()
        .find_map(|(index, step)| match step {
            Step::Kernel { kernel, .. } if wanted(plan, index) => Some((index, *kernel)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no kernel step fits in\n{plan}"))
}

/// The first product step.
fn first_product(plan: &Plan) -> usize {
    let found = plan.steps.iter().position(|step| matches!(step, Step::MatMul { .. }));
    found.unwrap_or_else(|| panic!("no product in\n{plan}"))
}

/// The first scan step and its node.
fn first_scan(plan: &Plan) -> (usize, NodeId) {
    let found = plan.steps.iter().enumerate().find_map(|(index, step)| match step {
        Step::Scan { node, .. } => Some((index, *node)),
        _ => None,
    });
    found.unwrap_or_else(|| panic!("no scan in\n{plan}"))
}

/// The body of the scan at `index`.
fn body_mut(plan: &mut Plan, index: usize) -> &mut Plan {
    match &mut plan.steps[index] {
        Step::Scan { body, .. } => body,
        _ => panic!("step {index} is no scan"),
    }
}

// ---- The planner's plans verify clean --------------------------------------------------------------------------

/// Every example's train step, evaluation and prediction, at a batch of 1 and of 5, and one example's train step at
/// a batch large enough for products of several row blocks, verify clean; the recurrent examples' scan bodies are
/// among them.
#[test]
fn every_example_plan_verifies_clean() {
    let mut scans = 0;
    for spec in example_specs() {
        let model = model(&spec);
        let name = spec.file_stem().unwrap_or_default().to_string_lossy().to_string();
        let mut graphs = Vec::new();
        for kind in [GraphKind::TrainStep, GraphKind::Evaluate, GraphKind::Predict] {
            graphs.extend([(kind, 1), (kind, 5)]);
        }
        if name == "breast_cancer_peers" {
            graphs.push((GraphKind::TrainStep, 1100));
        }
        for (kind, batch) in graphs {
            let planned = plan(&compile::optimized(&model, kind, batch, Settings::verified()));
            assert_clean(&planned, &format!("{name}, {kind} of {batch}"));
            scans += planned.steps.iter().filter(|step| matches!(step, Step::Scan { .. })).count();
        }
    }
    assert!(scans >= 4, "the examples' plans hold {scans} scans: the recurrent examples' bodies are not covered");
}

/// The driver's own path (`compile::planned`, which verifies when told to) gives the same verdict.
#[test]
fn the_driver_verifies_the_plan_it_gives() {
    let model = model(Path::new("specs/heart_rhythm_lstm.galen"));
    let planned = compile::planned(&model, GraphKind::TrainStep, 3, Settings::verified());
    assert_clean(&planned, "the LSTM's train step of 3");
    assert!(planned.steps.iter().any(|step| matches!(step, Step::Scan { .. })), "{planned}");
}

// ---- Reads and writes ------------------------------------------------------------------------------------------

/// A kernel step moved after the first step that reads what it writes: that reader reads before the write.
#[test]
fn a_read_before_write_is_caught() {
    let mut broken = dense_plan();
    // The first kernel step with a value read by a later step, and that reader.
    let (index, value, reader) = broken
        .steps
        .iter()
        .enumerate()
        .filter(|(_, step)| matches!(step, Step::Kernel { .. }))
        .find_map(|(index, step)| {
            step_writes(step).into_iter().find_map(|value| {
                let reader = readers(&broken, value).into_iter().find(|&reader| reader > index)?;
                Some((index, value, reader))
            })
        })
        .expect("a kernel whose value a later step reads");
    let moved = remove_step(&mut broken, index);
    // The reader is now at `reader - 1`; the writer goes right after it.
    insert_step(&mut broken, reader, moved);
    let errors = errors_of(&broken);
    let error = expect_error(&errors, ReadBeforeWrite, Some(reader - 1), Some(value));
    assert_eq!(error.message, format!("reads {value} before any step writes it (step {reader} does)"));
    assert!(error.scans.is_empty());
}

/// A product step removed: the first step that read what it wrote now reads a value no step writes.
#[test]
fn a_read_of_a_value_no_step_writes_is_caught() {
    let mut broken = dense_plan();
    let product = first_product(&broken);
    let Step::MatMul { node, epilogue, .. } = &broken.steps[product] else { unreachable!() };
    // The product's epilogue's store when it has one (its product is read only by the epilogue), else the product.
    let value = epilogue.as_ref().map_or(*node, |epilogue| epilogue.writes[0]);
    let reader = readers(&broken, value).into_iter().find(|&reader| reader > product).expect("a reader");
    remove_step(&mut broken, product);
    let errors = errors_of(&broken);
    let error = expect_error(&errors, ReadBeforeWrite, Some(reader - 1), Some(value));
    assert_eq!(error.message, format!("reads {value}, which no step writes and which is no graph input"));
    assert!(errors.iter().all(|error| DATAFLOW.contains(&error.kind)), "{}", listed(&errors));
}

/// An output that reads a value no step writes any more.
#[test]
fn an_output_read_before_any_write_is_caught() {
    let mut broken = example_plan("diabetes", GraphKind::Predict, 5);
    let last = broken.steps.len() - 1;
    let (_, output) = broken.outputs[0].clone();
    assert!(step_writes(&broken.steps[last]).contains(&output.base), "{broken}");
    remove_step(&mut broken, last);
    let errors = errors_of(&broken);
    let error = expect_error(&errors, ReadBeforeWrite, None, Some(output.base));
    assert_eq!(error.label, "outputs");
}

/// A step run twice (a copy inserted before it): the second run writes what the first wrote.
#[test]
fn a_value_written_twice_is_caught() {
    let mut broken = dense_plan();
    let (index, _) = first_kernel_step(&broken, |plan, index| step_writes(&plan.steps[index]).len() == 1);
    let value = step_writes(&broken.steps[index])[0];
    let copy = (broken.steps[index].clone(), Vec::new());
    insert_step(&mut broken, index, copy);
    let errors = errors_of(&broken);
    let error = expect_only(&errors, WrittenTwice, Some(index + 1), Some(value));
    assert_eq!(error.message, format!("writes {value}, which step {index} already writes"));
}

/// A kernel that stores over a graph input, and one that names the same value for two of its stores.
#[test]
fn a_write_over_a_graph_input_or_twice_by_one_step_is_caught() {
    let original = dense_plan();
    let input = original.graph.inputs()[0].0;
    let (index, _) = first_kernel_step(&original, |_, _| true);

    let mut broken = original.clone();
    if let Step::Kernel { writes, .. } = &mut broken.steps[index] {
        writes[0] = input;
    }
    let errors = errors_of(&broken);
    let error = expect_error(&errors, WrittenTwice, Some(index), Some(input));
    assert_eq!(error.message, format!("writes {input}, which is a graph input"));

    let (index, _) = first_kernel_step(&original, |plan, index| step_writes(&plan.steps[index]).len() >= 2);
    let mut broken = original.clone();
    let Step::Kernel { writes, .. } = &mut broken.steps[index] else { unreachable!() };
    writes[1] = writes[0];
    let value = writes[0];
    let errors = errors_of(&broken);
    let error = expect_error(&errors, WrittenTwice, Some(index), Some(value));
    assert_eq!(error.message, format!("writes {value} twice"));
}

/// An output removed: the step that computed it for that output now stores a value nobody reads.
#[test]
fn a_dead_store_is_caught() {
    let mut broken = dense_plan();
    let held: Vec<NodeId> = broken.outputs.iter().map(|(_, operand)| operand.base).collect();
    let position = (0..broken.outputs.len())
        .find(|&position| {
            let base = held[position];
            readers(&broken, base).is_empty()
                && held.iter().filter(|&&other| other == base).count() == 1
                && !broken.graph.inputs().iter().any(|(id, _, _)| *id == base)
        })
        .expect("an output only the output reads");
    let (_, output) = broken.outputs.remove(position);
    let writer = (0..broken.steps.len()).find(|&index| step_writes(&broken.steps[index]).contains(&output.base));
    let errors = errors_of(&broken);
    let error = expect_only(&errors, DeadStore, writer, Some(output.base));
    assert_eq!(error.message, format!("writes {}, which no step reads and no output holds", output.base));
}

// ---- Frees -----------------------------------------------------------------------------------------------------

/// A buffer read by two steps, freed after the first: the second reads it after the free.
#[test]
fn a_read_after_free_is_caught() {
    let mut broken = dense_plan();
    let (value, first, second, last) = broken
        .graph
        .ids()
        .find_map(|id| match (readers(&broken, id).as_slice(), freed_at(&broken, id)) {
            ([first, second, ..], Some(last)) => Some((id, *first, *second, last)),
            _ => None,
        })
        .expect("a buffer two steps read");
    broken.frees[last].retain(|&freed| freed != value);
    broken.frees[first].push(value);
    let errors = errors_of(&broken);
    let error = expect_error(&errors, ReadAfterFree, Some(second), Some(value));
    assert_eq!(error.message, format!("reads {value} after step {first} freed it"));
    // Every later reader reads it after the free too, and nothing else is wrong.
    assert!(errors.iter().all(|error| error.kind == ReadAfterFree && error.node == Some(value)), "{}", listed(&errors));
}

/// A buffer freed again by a later step.
#[test]
fn a_buffer_freed_twice_is_caught() {
    let mut broken = dense_plan();
    let last = broken.steps.len() - 1;
    let (at, value) = (0..last)
        .find_map(|index| broken.frees[index].first().map(|&value| (index, value)))
        .expect("a free before the last step");
    broken.frees[last].push(value);
    let errors = errors_of(&broken);
    let error = expect_only(&errors, BadFree, Some(last), Some(value));
    assert_eq!(error.message, format!("frees {value}, which step {at} already freed"));
}

/// A buffer freed before any step writes it, and one freed while an output still reads it.
#[test]
fn a_free_before_the_write_or_of_an_output_is_caught() {
    let original = dense_plan();
    let (index, _) = first_kernel_step(&original, |_, index| index > 0);
    let value = step_writes(&original.steps[index])[0];

    let mut broken = original.clone();
    broken.frees[0].push(value);
    let errors = errors_of(&broken);
    let error = expect_error(&errors, BadFree, Some(0), Some(value));
    assert_eq!(error.message, format!("frees {value}, which no step has written yet"));

    let mut broken = original.clone();
    let held = broken.outputs[0].1.base;
    let last = broken.steps.len() - 1;
    broken.frees[last].push(held);
    let errors = errors_of(&broken);
    let error = expect_error(&errors, BadFree, Some(last), Some(held));
    assert_eq!(error.message, format!("frees {held}, which an output of the plan reads after the last step"));
    // The output then reads it after the free.
    expect_error(&errors, ReadAfterFree, None, Some(held));
}

/// A free dropped: the buffer stays allocated after its last read.
#[test]
fn a_buffer_never_freed_is_caught() {
    let mut broken = dense_plan();
    let (at, value) = (0..broken.steps.len())
        .find_map(|index| broken.frees[index].first().map(|&value| (index, value)))
        .expect("a free");
    broken.frees[at].retain(|&freed| freed != value);
    let errors = errors_of(&broken);
    let error = expect_only(&errors, NeverFreed, Some(at), Some(value));
    assert_eq!(error.message, format!("{value} is never freed after its last read, by this step"));
}

/// One list of frees too many or too few: the executor zips steps with frees.
#[test]
fn a_frees_list_of_the_wrong_length_is_caught() {
    let original = dense_plan();
    let steps = original.steps.len();

    let mut broken = original.clone();
    broken.frees.push(Vec::new());
    let errors = errors_of(&broken);
    let error = expect_only(&errors, Malformed, None, None);
    assert_eq!(error.label, "plan");
    assert!(error.message.starts_with(&format!("the plan has {steps} steps but {} lists of frees", steps + 1)));

    let mut broken = original.clone();
    let dropped = broken.frees.pop().expect("a list of frees");
    let errors = errors_of(&broken);
    expect_error(&errors, Malformed, None, None);
    for value in dropped {
        expect_error(&errors, NeverFreed, Some(steps - 1), Some(value));
    }
}

// ---- Shapes and bounds -----------------------------------------------------------------------------------------

/// A product's right operand read with one row too many: its layout is not its node's shape and the inner sizes
/// disagree.
#[test]
fn a_product_operand_of_the_wrong_shape_is_caught() {
    let mut broken = dense_plan();
    let index = first_product(&broken);
    let Step::MatMul { node, b, .. } = &mut broken.steps[index] else { unreachable!() };
    let node = *node;
    let mut shape = b.layout.shape.clone();
    shape[0] += 1;
    b.layout = Layout::contiguous(&shape);
    let right = broken.graph.node(node).inputs[1];
    let errors = errors_of(&broken);
    let error = expect_error(&errors, Shape, Some(index), Some(right));
    assert!(error.message.starts_with(&format!("the right operand is read as {shape:?}, but {right} is")), "{error}");
    let error = expect_error(&errors, Shape, Some(index), Some(node));
    assert!(error.message.starts_with("the inner sizes disagree"), "{error}");
    assert!(errors.iter().all(|error| error.step == Some(index)), "{}", listed(&errors));
}

/// A kernel whose space covers half of what it stores.
#[test]
fn a_kernel_that_covers_half_its_output_is_caught() {
    let mut broken = dense_plan();
    let (index, kernel) = first_kernel_step(&broken, |plan, index| match &plan.steps[index] {
        Step::Kernel { kernel, .. } => plan.kernels[*kernel].reduce.is_none() && plan.kernels[*kernel].dims[0] % 2 == 0,
        _ => false,
    });
    broken.kernels[kernel].dims[0] /= 2;
    let value = step_writes(&broken.steps[index])[0];
    let errors = errors_of(&broken);
    let error = expect_error(&errors, Shape, Some(index), Some(value));
    assert!(error.message.contains(&format!("elements for {value}, whose type")), "{error}");
}

/// A kernel operand's offset moved past the buffer's end.
#[test]
fn a_kernel_read_past_its_buffer_is_caught() {
    let mut broken = dense_plan();
    let (index, kernel) = first_kernel_step(&broken, |_, _| true);
    let Step::Kernel { reads, .. } = &broken.steps[index] else { unreachable!() };
    let read = reads[0];
    broken.kernels[kernel].operands[0].offset += broken.graph.tensor_type(read).elements();
    let errors = errors_of(&broken);
    let error = expect_only(&errors, OutOfBounds, Some(index), Some(read));
    assert!(error.message.contains("'s operand in0 reaches element"), "{error}");
}

/// A product's left operand read with twice its row stride, and backwards.
#[test]
fn a_product_operand_past_its_buffer_is_caught() {
    let original = dense_plan();
    let index = first_product(&original);

    let mut broken = original.clone();
    let Step::MatMul { a, .. } = &mut broken.steps[index] else { unreachable!() };
    assert!(a.layout.shape[0] >= 2 && a.layout.strides[0] > 0, "{original}");
    a.layout.strides[0] *= 2;
    let base = a.base;
    let errors = errors_of(&broken);
    let error = expect_only(&errors, OutOfBounds, Some(index), Some(base));
    assert!(error.message.starts_with("the left operand reaches element"), "{error}");

    let mut broken = original.clone();
    let Step::MatMul { a, .. } = &mut broken.steps[index] else { unreachable!() };
    a.layout.strides[1] = -1;
    let errors = errors_of(&broken);
    let error = expect_only(&errors, OutOfBounds, Some(index), Some(base));
    assert!(error.message.starts_with("the left operand steps backwards"), "{error}");
}

// ---- Structure -------------------------------------------------------------------------------------------------

/// Indexes out of range anywhere in a plan are errors, never a panic (of the verifier, its messages or the peak).
#[test]
fn out_of_range_kernels_and_nodes_are_errors_not_panics() {
    let original = dense_plan();
    let (kernel_step, kernel) = first_kernel_step(&original, |_, _| true);
    let product = first_product(&original);
    type Change = Box<dyn Fn(&mut Plan)>;
    let changes: Vec<(&str, Option<usize>, Change)> = vec![
        (
            "a kernel index",
            Some(kernel_step),
            Box::new(move |plan: &mut Plan| {
                if let Step::Kernel { kernel, .. } = &mut plan.steps[kernel_step] {
                    *kernel = 1000;
                }
            }),
        ),
        (
            "an epilogue's kernel index",
            Some(product),
            Box::new(move |plan: &mut Plan| {
                if let Step::MatMul { epilogue: Some(epilogue), .. } = &mut plan.steps[product] {
                    epilogue.kernel = 1000;
                }
            }),
        ),
        (
            "a kernel's read",
            Some(kernel_step),
            Box::new(move |plan: &mut Plan| {
                if let Step::Kernel { reads, .. } = &mut plan.steps[kernel_step] {
                    reads[0] = NOWHERE;
                }
            }),
        ),
        (
            "a kernel's write",
            Some(kernel_step),
            Box::new(move |plan: &mut Plan| {
                if let Step::Kernel { writes, .. } = &mut plan.steps[kernel_step] {
                    writes[0] = NOWHERE;
                }
            }),
        ),
        (
            "a product's node",
            Some(product),
            Box::new(move |plan: &mut Plan| {
                if let Step::MatMul { node, .. } = &mut plan.steps[product] {
                    *node = NOWHERE;
                }
            }),
        ),
        (
            "a product's operand",
            Some(product),
            Box::new(move |plan: &mut Plan| {
                if let Step::MatMul { a, .. } = &mut plan.steps[product] {
                    a.base = NOWHERE;
                }
            }),
        ),
        (
            "an op step's node",
            Some(kernel_step),
            Box::new(move |plan: &mut Plan| {
                let reads = step_reads(&plan.steps[kernel_step]);
                let inputs = reads.iter().map(|&base| Operand { base, layout: Layout::contiguous(&[]) });
                plan.steps[kernel_step] = Step::Node { node: NOWHERE, inputs: inputs.collect() };
            }),
        ),
        ("a free", Some(0), Box::new(|plan: &mut Plan| plan.frees[0].push(NOWHERE))),
        ("an output", None, Box::new(|plan: &mut Plan| plan.outputs[0].1.base = NOWHERE)),
        (
            "a kernel load",
            Some(kernel_step),
            Box::new(move |plan: &mut Plan| plan.kernels[kernel].exprs.push(Expr::Load(99))),
        ),
        (
            "a kernel expression",
            Some(kernel_step),
            Box::new(move |plan: &mut Plan| {
                let last = plan.kernels[kernel].exprs.len();
                plan.kernels[kernel].exprs.push(Expr::Unary(crate::ir::Unary::Exp, last + 5));
            }),
        ),
        (
            "a kernel store",
            Some(kernel_step),
            Box::new(move |plan: &mut Plan| plan.kernels[kernel].stores[0].expr = 999),
        ),
        (
            "a kernel's strides",
            Some(kernel_step),
            Box::new(move |plan: &mut Plan| plan.kernels[kernel].operands[0].strides.push(1)),
        ),
        (
            "a reduced axis",
            Some(kernel_step),
            Box::new(move |plan: &mut Plan| {
                plan.kernels[kernel].reduce =
                    Some(crate::backend::kernel::Reduce { reduction: crate::ir::Reduction::Sum, axis: 7 })
            }),
        ),
        ("no axis", Some(kernel_step), Box::new(move |plan: &mut Plan| plan.kernels[kernel].dims.clear())),
        ("an empty axis", Some(kernel_step), Box::new(move |plan: &mut Plan| plan.kernels[kernel].dims[0] = 0)),
    ];
    for (what, step, change) in changes {
        let mut broken = original.clone();
        change(&mut broken);
        let errors = errors_of(&broken);
        assert!(
            errors.iter().any(|error| error.kind == Malformed && error.step == step),
            "{what} out of range: no Malformed error at step {step:?}:\n{}",
            listed(&errors)
        );
    }
}

/// A kernel whose iteration space has more positions than an address can count (a usize, or an isize for strides),
/// as a kernel step and as an epilogue: an error, not an overflow.
#[test]
fn a_kernel_space_too_large_to_address_is_an_error_not_a_panic() {
    let original = example_plan("diabetes", GraphKind::Predict, 4);
    let (index, kernel) = match &original.steps[0] {
        Step::MatMul { epilogue: Some(epilogue), .. } => (0, epilogue.kernel),
        _ => panic!("the first step is no product with an epilogue:\n{original}"),
    };
    assert_eq!(original.kernels[kernel].dims.len(), 2, "{original}");
    for dims in [[1 << 33, 1 << 33], [1 << 61, 4], [usize::MAX, 2]] {
        let mut broken = original.clone();
        broken.kernels[kernel].dims = dims.to_vec();
        let errors = errors_of(&broken);
        let error = expect_error(&errors, Malformed, Some(index), None);
        assert!(error.message.contains("more positions than"), "{dims:?}: {error}");
        // The same kernel run as a step of its own.
        let Step::MatMul { epilogue: Some(epilogue), .. } = &broken.steps[0] else { unreachable!() };
        let (reads, writes) = (epilogue.reads.clone(), epilogue.writes.clone());
        let mut broken = broken.clone();
        insert_step(&mut broken, 1, (Step::Kernel { kernel, reads, writes }, Vec::new()));
        let errors = errors_of(&broken);
        expect_error(&errors, Malformed, Some(1), None);
    }
}

/// A graph whose own ids are out of range: one error, and nothing else is looked up.
#[test]
fn a_graph_with_ids_out_of_range_is_one_error() {
    let original = dense_plan();
    let mut broken = original.clone();
    let node = broken.graph.nodes.iter().position(|node| !node.inputs.is_empty()).expect("a node with inputs");
    broken.graph.nodes[node].inputs[0] = NOWHERE;
    let errors = errors_of(&broken);
    let error = expect_only(&errors, Malformed, None, None);
    assert!(error.message.contains(&format!("%{node} reads {NOWHERE}")), "{error}");
    assert!(error.message.ends_with("nothing else is checked"), "{error}");

    let mut broken = original;
    broken.graph.outputs[0].node = NOWHERE;
    let errors = errors_of(&broken);
    expect_only(&errors, Malformed, None, None);
}

/// A step whose node has another op than the step runs.
#[test]
fn a_step_for_a_node_of_another_op_is_caught() {
    let mut broken = dense_plan();
    let product = first_product(&broken);
    let (kernel_step, _) = first_kernel_step(&broken, |_, _| true);
    let value = step_writes(&broken.steps[kernel_step])[0];
    let Step::MatMul { node, .. } = &mut broken.steps[product] else { unreachable!() };
    *node = value;
    let errors = errors_of(&broken);
    let error = expect_error(&errors, Malformed, Some(product), Some(value));
    assert!(error.message.contains("which is not a matrix product"), "{error}");
}

// ---- Scans -----------------------------------------------------------------------------------------------------

/// A free dropped in a scan's body: the error names the scan around the step.
#[test]
fn a_broken_scan_body_is_reported_in_its_scan() {
    let mut broken = example_plan("heart_rhythm_gru", GraphKind::Predict, 2);
    let (scan, node) = first_scan(&broken);
    let body = body_mut(&mut broken, scan);
    let (at, value) = (0..body.steps.len())
        .find_map(|index| body.frees[index].first().map(|&value| (index, value)))
        .expect("a free in the body");
    body.frees[at].retain(|&freed| freed != value);
    let errors = errors_of(&broken);
    let error = expect_only(&errors, NeverFreed, Some(at), Some(value));
    assert_eq!(error.scans, vec![(scan, node)]);
    let text = error.to_string();
    let prefix = format!("in the body of scan {node} (step {scan}): step {at} (");
    assert!(text.starts_with(&prefix), "{text}");
    assert!(text.ends_with(&format!("): {value} is never freed after its last read, by this step")), "{text}");
}

/// A scan step whose body plan is of another graph than its scan's body, and a scan whose last input is read in
/// another shape.
#[test]
fn a_scan_with_a_foreign_body_or_a_misshapen_input_is_caught() {
    let original = example_plan("heart_rhythm_lstm", GraphKind::Predict, 2);
    let (scan, node) = first_scan(&original);

    let mut broken = original.clone();
    body_mut(&mut broken, scan).graph.name.push_str(" (another)");
    let errors = errors_of(&broken);
    let error = expect_only(&errors, Malformed, Some(scan), Some(node));
    assert_eq!(error.message, format!("the body's plan is of another graph than scan {node}'s body"));
    assert!(error.scans.is_empty());

    let mut broken = original.clone();
    let Step::Scan { inputs, .. } = &mut broken.steps[scan] else { unreachable!() };
    let position = inputs.len() - 1;
    inputs[position].layout.shape[0] += 1;
    let input = original.graph.node(node).inputs[position];
    let errors = errors_of(&broken);
    let error = expect_error(&errors, Shape, Some(scan), Some(input));
    assert!(error.message.starts_with(&format!("input {position} is read as")), "{error}");
}

// ---- The text of errors ----------------------------------------------------------------------------------------

/// A product and the reduction that reads it, by hand: `x · w`, then the sum of its exponentials over each row.
fn small_graph() -> Graph {
    let mut builder = Builder::new("small");
    let x = builder.input("x", Role::Batch, TensorType::new(DType::F32, [2, 3]));
    let w = builder.input("w", Role::Param, TensorType::new(DType::F32, [3, 4]));
    let product = builder.matmul(x, w);
    let exp = builder.exp(product);
    let sum = builder.reduce_sum(exp, vec![1]);
    builder.output("sum", sum);
    builder.finish()
}

/// The product's free moved from the step that reads it to the step that writes it: the message says which step
/// reads what after which step freed it.
#[test]
fn a_read_after_free_reads_well() {
    let mut broken = plan(&small_graph());
    assert_clean(&broken, "the small graph");
    let product = NodeId(2);
    let last = freed_at(&broken, product).expect("the product is freed");
    broken.frees[last].retain(|&freed| freed != product);
    broken.frees[0].push(product);
    let errors = verify_plan(&broken).expect_err("a read after free");
    insta::assert_snapshot!(errors.to_string(), @r"
    the kernel plan `small` has 1 error:
      step 1 (%4 = kernel k0 (exp; sum over axis 1) [2, 4]): reads %2 after step 0 freed it
    ");
}

// ---- Random graphs, random mutations ---------------------------------------------------------------------------

/// One change to a plan (or to one of its scans' bodies).
#[derive(Clone, Debug)]
enum Mutation {
    /// Remove a step and its frees.
    DropStep(usize),
    /// Swap two steps, each with its frees.
    SwapSteps(usize, usize),
    /// Remove the free of a node from a step's list.
    DropFree(usize, NodeId),
    /// Free a node that one step frees again in another (or the same) step's list.
    DuplicateFree(NodeId, usize),
}

/// The path to every plan in `plan`: the scan steps leading to it, outermost first.
fn plan_paths(plan: &Plan, path: &mut Vec<usize>, paths: &mut Vec<Vec<usize>>) {
    paths.push(path.clone());
    for (index, step) in plan.steps.iter().enumerate() {
        if let Step::Scan { body, .. } = step {
            path.push(index);
            plan_paths(body, path, paths);
            path.pop();
        }
    }
}

/// The plan at a path.
fn plan_ref<'p>(plan: &'p Plan, path: &[usize]) -> &'p Plan {
    path.iter().fold(plan, |current, &index| match &current.steps[index] {
        Step::Scan { body, .. } => body,
        _ => panic!("step {index} is no scan"),
    })
}

/// The plan at a path, and the scans around it as errors name them.
fn plan_at<'p>(plan: &'p mut Plan, path: &[usize]) -> (&'p mut Plan, Vec<(usize, NodeId)>) {
    let mut scans = Vec::new();
    let mut current = plan;
    for &index in path {
        let Step::Scan { node, body, .. } = &mut current.steps[index] else { panic!("step {index} is no scan") };
        scans.push((index, *node));
        current = body;
    }
    (current, scans)
}

/// A random mutation of a plan with at least one step.
fn random_mutation(plan: &Plan, rng: &mut ChaCha8Rng) -> Mutation {
    let steps = plan.steps.len();
    let freed: Vec<(usize, NodeId)> =
        plan.frees.iter().enumerate().flat_map(|(index, frees)| frees.iter().map(move |&node| (index, node))).collect();
    loop {
        match rng.gen_range(0..4) {
            0 => return Mutation::DropStep(rng.gen_range(0..steps)),
            1 if steps >= 2 => {
                let first = rng.gen_range(0..steps - 1);
                // Neighbours half the time: more often independent, so more often a harmless swap.
                let second = if rng.gen_bool(0.5) { first + 1 } else { rng.gen_range(first + 1..steps) };
                return Mutation::SwapSteps(first, second);
            }
            2 if !freed.is_empty() => {
                let (index, node) = freed[rng.gen_range(0..freed.len())];
                return Mutation::DropFree(index, node);
            }
            3 if !freed.is_empty() => {
                let (_, node) = freed[rng.gen_range(0..freed.len())];
                return Mutation::DuplicateFree(node, rng.gen_range(0..steps));
            }
            _ => {}
        }
    }
}

fn apply(plan: &mut Plan, mutation: &Mutation) {
    match *mutation {
        Mutation::DropStep(index) => {
            remove_step(plan, index);
        }
        Mutation::SwapSteps(first, second) => {
            plan.steps.swap(first, second);
            plan.frees.swap(first, second);
        }
        Mutation::DropFree(index, node) => plan.frees[index].retain(|&freed| freed != node),
        Mutation::DuplicateFree(node, index) => plan.frees[index].push(node),
    }
}

/// Seeded inputs of any dtype for a random graph.
fn random_inputs(graph: &Graph, seed: u64) -> BTreeMap<String, Tensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    graph
        .inputs()
        .into_iter()
        .map(|(id, name, _)| {
            let ty = graph.tensor_type(id);
            let shape = IxDyn(&ty.shape);
            let mut float = || 4.0 * rng.gen::<f64>() - 2.0;
            let tensor = match ty.dtype {
                DType::F32 => Tensor::F32(ArrayD::from_shape_simple_fn(shape, || float() as f32)),
                DType::F64 => Tensor::F64(ArrayD::from_shape_simple_fn(shape, float)),
                DType::I32 => Tensor::I32(ArrayD::from_shape_simple_fn(shape, || (float() * 2.0) as i32)),
                DType::Bool => Tensor::Bool(ArrayD::from_shape_simple_fn(shape, || float() > 0.0)),
            };
            (name.to_string(), tensor)
        })
        .collect()
}

/// Each output's bits (NaN as one value).
fn output_bits(outputs: &BTreeMap<String, Tensor>) -> BTreeMap<String, Vec<u64>> {
    let bits = |x: &f64| if x.is_nan() { u64::MAX } else { x.to_bits() };
    outputs.iter().map(|(name, tensor)| (name.clone(), tensor.to_f64().iter().map(bits).collect())).collect()
}

/// For random graphs of every op (scans in scans among them), the planner's plan verifies clean; and random single
/// mutations, anywhere in the plan or its scans' bodies, never panic the verifier and are either caught, with errors
/// of reads, writes and frees in the mutated plan's scan context, or harmless: a swap of two steps the verifier
/// accepts computes the same bits as the plan it came from. A dropped step, a dropped free and a duplicated free are
/// always caught (every step writes a value something reads; every free is a buffer's only one).
#[test]
fn random_plans_verify_clean_and_their_mutations_are_caught_or_harmless() {
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let (mut caught, mut harmless, mut nested) = (0, 0, 0);
    for seed in 0..500 {
        let graph = optimize(random_graph(seed), true);
        let original = plan(&graph);
        assert_clean(&original, &format!("random graph {seed}"));
        let mut paths = Vec::new();
        plan_paths(&original, &mut Vec::new(), &mut paths);
        paths.retain(|path| !plan_ref(&original, path).steps.is_empty());
        if paths.is_empty() {
            continue;
        }
        let inputs = random_inputs(&graph, seed);
        let mut expected = None;
        // Eight mutations, spread over the plan and every scan body in turn.
        for round in 0..8 {
            let path = &paths[round % paths.len()];
            let mut broken = original.clone();
            let (target, scans) = plan_at(&mut broken, path);
            let mutation = random_mutation(target, &mut rng);
            let freed_at = |node: NodeId| target.frees.iter().position(|frees| frees.contains(&node));
            let first_free = match mutation {
                Mutation::DuplicateFree(node, _) => freed_at(node),
                _ => None,
            };
            apply(target, &mutation);
            let what = format!("random graph {seed}, {mutation:?} in the plan at {path:?}");
            let errors = errors_of(&broken);
            for error in &errors {
                assert!(DATAFLOW.contains(&error.kind), "{what}: {error}");
                assert_eq!(error.scans, scans, "{what}: {error}");
            }
            match mutation {
                Mutation::DropStep(_) => {
                    assert!(errors.iter().any(|error| error.kind == ReadBeforeWrite), "{what}: {}", listed(&errors));
                }
                Mutation::DropFree(index, node) => {
                    expect_only(&errors, NeverFreed, Some(index), Some(node));
                }
                Mutation::DuplicateFree(node, index) => {
                    assert!(
                        !errors.is_empty(),
                        "{what}: a second free of {node} (freed at {first_free:?}, again at {index}) passes"
                    );
                    for error in &errors {
                        assert!(
                            matches!(error.kind, BadFree | ReadAfterFree) && error.node == Some(node),
                            "{what}: {error}"
                        );
                    }
                }
                Mutation::SwapSteps(..) => {}
            }
            if !errors.is_empty() {
                caught += 1;
                nested += usize::from(path.len() >= 2);
                continue;
            }
            // Accepted: it must compute what the planner's plan computes.
            let expected = expected.get_or_insert_with(|| {
                let program = Program::from_plan(original.clone(), cpu::best()).expect("the random graph compiles");
                output_bits(&program.run(&inputs))
            });
            let program = Program::from_plan(broken, cpu::best()).expect("the mutated plan compiles");
            assert!(output_bits(&program.run(&inputs)) == *expected, "{what}: accepted, but computes other values");
            harmless += 1;
        }
    }
    assert!(
        caught >= 1000 && harmless >= 50 && nested >= 5,
        "{caught} mutations caught ({nested} in a scan in a scan), {harmless} harmless"
    );
}
