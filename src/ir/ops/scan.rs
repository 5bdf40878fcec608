//! The loop construct: a scan over time steps with a cell subgraph, and `get`, which takes a part of its result.

use std::collections::BTreeSet;

use super::{Backprop, Cotangent};
use crate::ir::{rebuild, Builder, Graph, NodeId, Op, Output, Role, Scan, TensorType, Type, Unary};

pub(super) fn scan(scan: &Scan, inputs: &[&Type]) -> Result<Type, String> {
    let body_inputs: Vec<&TensorType> = scan
        .body
        .ids()
        .filter(|&id| matches!(scan.body.node(id).op, Op::Input { .. }))
        .map(|id| scan.body.tensor_type(id))
        .collect();
    if body_inputs.len() != inputs.len() {
        return Err(format!("the body takes {} inputs but the scan passes {}", body_inputs.len(), inputs.len()));
    }
    if scan.carries + scan.sequences > inputs.len() {
        return Err(format!(
            "{} carries and {} sequences but only {} inputs",
            scan.carries,
            scan.sequences,
            inputs.len()
        ));
    }
    let outputs = &scan.body.outputs;
    if outputs.len() < scan.carries {
        return Err(format!("the body returns {} values but there are {} carries", outputs.len(), scan.carries));
    }
    let mut parts = Vec::new();
    for (index, (input, body_input)) in inputs.iter().zip(&body_inputs).enumerate() {
        let input = input.tensor().ok_or_else(|| format!("input {index} is a tuple"))?;
        let expected = if (scan.carries..scan.carries + scan.sequences).contains(&index) {
            if input.shape.first() != Some(&scan.steps) {
                return Err(format!("sequence {input} does not have {} steps on its first axis", scan.steps));
            }
            TensorType::new(input.dtype, input.shape[1..].to_vec())
        } else {
            input.clone()
        };
        if &expected != *body_input {
            return Err(format!("input {index} of the scan is {input} but the body reads {body_input}"));
        }
        if index < scan.carries {
            let returned = scan.body.tensor_type(outputs[index].node);
            if returned != input {
                return Err(format!("carry {index} enters as {input} but the body returns {returned}"));
            }
            parts.push(input.clone());
        }
    }
    for output in &outputs[scan.carries..] {
        let per_step = scan.body.tensor_type(output.node);
        let mut shape = vec![scan.steps];
        shape.extend(&per_step.shape);
        parts.push(TensorType::new(per_step.dtype, shape));
    }
    Ok(Type::Tuple(parts))
}

pub(super) fn get(inputs: &[&Type], index: usize) -> Result<Type, String> {
    match inputs {
        [Type::Tuple(parts)] => parts
            .get(index)
            .map(|part| Type::Tensor(part.clone()))
            .ok_or_else(|| format!("part {index} of a tuple of {}", parts.len())),
        [_] => Err("reads a tensor; `get` takes a part of a tuple".to_string()),
        _ => Err(format!("takes 1 input, found {}", inputs.len())),
    }
}

/// The gradient rule of `get`: the tuple's cotangent is `grad` in part `index` and zero (`None`) elsewhere; the
/// autodiff pass adds up the parts that several `get`s of one scan send back.
pub(super) fn get_vjp(builder: &mut Builder, tuple: NodeId, index: usize, grad: NodeId) -> Cotangent {
    let Type::Tuple(parts) = &builder.graph().node(tuple).ty else { panic!("`get` reads {tuple}, not a tuple") };
    let mut cotangents = vec![None; parts.len()];
    cotangents[index] = Some(grad);
    Cotangent::Tuple(cotangents)
}

/// The gradient rule of a scan: the backward of a loop is a loop running the other way whose body is the
/// gradient of the forward body (see [`super::vjp`]; `grads` holds a cotangent per part of the scan's result).
///
/// The backward body needs the carries entering each step, and the values of the forward body that are costly to
/// compute again (see [`residuals`]), so the forward scan is made to return them as extra per-step outputs
/// ([`Builder::add_scan_outputs`]: the same loop, run once). The backward scan then has:
///
/// - carries: the cotangents of the float carries (starting from the final carries' cotangents, zero for a part
///   nobody reads), then an accumulator per wanted invariant (starting from zero);
/// - sequences: the cotangents of the read per-step outputs, the saved carries, the forward sequences, then the
///   saved residuals;
/// - invariants: the forward invariants;
/// - per-step outputs: the gradients of the wanted sequences.
///
/// Its body recomputes the cheap part of the forward body from the saved carries and residuals and runs reverse mode
/// through it (`backprop`, the autodiff pass's own, handed down so that the op rules need not know the pass), seeded
/// with the carry and output cotangents of that step. Its final carries are the gradients of the
/// initial carries and of the invariants; its stacked outputs are the gradients of the sequences.
pub(super) fn vjp(
    scan: &Scan,
    builder: &mut Builder,
    node: NodeId,
    inputs: &[NodeId],
    grads: &[Option<NodeId>],
    needed: &[bool],
    backprop: Backprop,
) -> Vec<Option<NodeId>> {
    let plan = Plan::new(scan, inputs.len(), grads, needed);
    let (carries, sequences) = (scan.carries, scan.sequences);
    let (body, residuals) = backward_body(scan, &plan, backprop);
    let saved = save(builder, node, scan, &residuals);

    let mut backward_inputs = Vec::new();
    for &carry in &plan.float_carries {
        let last = grads[carry].unwrap_or_else(|| builder.constant_like(0.0, inputs[carry]));
        backward_inputs.push(last);
    }
    for &invariant in &plan.wanted_invariants {
        backward_inputs.push(builder.constant_like(0.0, inputs[carries + sequences + invariant]));
    }
    backward_inputs.extend(plan.read_outputs.iter().filter_map(|&output| grads[carries + output]));
    let (saved_carries, saved_residuals) = saved.split_at(carries);
    backward_inputs.extend(saved_carries);
    backward_inputs.extend(&inputs[carries..carries + sequences]);
    backward_inputs.extend(saved_residuals);
    backward_inputs.extend(&inputs[carries + sequences..]);
    let backward_carries = plan.float_carries.len() + plan.wanted_invariants.len();
    let backward = Scan {
        steps: scan.steps,
        carries: backward_carries,
        sequences: plan.read_outputs.len() + carries + sequences + residuals.len(),
        reverse: !scan.reverse,
        body,
    };
    let result = builder.scan(backward, backward_inputs);

    let mut gradients = vec![None; inputs.len()];
    for (position, &carry) in plan.float_carries.iter().enumerate() {
        if needed[carry] {
            gradients[carry] = Some(builder.get(result, position));
        }
    }
    for (position, &invariant) in plan.wanted_invariants.iter().enumerate() {
        gradients[carries + sequences + invariant] = Some(builder.get(result, plan.float_carries.len() + position));
    }
    for (position, &sequence) in plan.wanted_sequences.iter().enumerate() {
        gradients[carries + sequence] = Some(builder.get(result, backward_carries + position));
    }
    gradients
}

/// Which of a scan's values its backward loop carries, reads and returns.
struct Plan {
    /// The carries that are floats, so carry a gradient (by position among the carries).
    float_carries: Vec<usize>,
    /// The sequences whose gradient is wanted (by position among the sequences).
    wanted_sequences: Vec<usize>,
    /// The invariants whose gradient is wanted (by position among the invariants).
    wanted_invariants: Vec<usize>,
    /// The per-step outputs with a cotangent (by position among the per-step outputs).
    read_outputs: Vec<usize>,
}

impl Plan {
    fn new(scan: &Scan, inputs: usize, grads: &[Option<NodeId>], needed: &[bool]) -> Plan {
        let body = &scan.body;
        let (carries, sequences) = (scan.carries, scan.sequences);
        let body_inputs = body.inputs();
        Plan {
            float_carries: (0..carries)
                .filter(|&carry| body.tensor_type(body_inputs[carry].0).dtype.is_float())
                .collect(),
            wanted_sequences: (0..sequences).filter(|&sequence| needed[carries + sequence]).collect(),
            wanted_invariants: (0..inputs - carries - sequences)
                .filter(|&invariant| needed[carries + sequences + invariant])
                .collect(),
            read_outputs: (0..body.outputs.len() - carries)
                .filter(|&output| grads[carries + output].is_some())
                .collect(),
        }
    }
}

/// Makes the forward scan also return the carries entering each step and the `residuals` (forward body nodes), each
/// stacked over the steps; returns them, the carries first. A residual the body already returns per step is read
/// from that output rather than stored twice.
fn save(builder: &mut Builder, node: NodeId, scan: &Scan, residuals: &[NodeId]) -> Vec<NodeId> {
    let body = &scan.body;
    let mut names = FreshNames::new(body.outputs.iter().map(|output| output.name.as_str()));
    let mut outputs: Vec<Output> = body.inputs()[..scan.carries]
        .iter()
        .map(|&(carry, name, _)| Output { name: names.fresh(format!("saved.{name}")), node: carry })
        .collect();
    let per_step =
        |residual: NodeId| (scan.carries..body.outputs.len()).find(|&part| body.outputs[part].node == residual);
    let mut parts: Vec<Option<usize>> = vec![None; scan.carries];
    for &residual in residuals {
        match per_step(residual) {
            Some(part) => parts.push(Some(part)),
            None => {
                parts.push(None);
                outputs.push(Output { name: names.fresh(residual_name(body, residual)), node: residual });
            }
        }
    }
    let mut added = if outputs.is_empty() { 0.. } else { builder.add_scan_outputs(node, outputs).. };
    parts
        .into_iter()
        .map(|part| {
            let part = part.unwrap_or_else(|| added.next().expect("a part was added for each residual not returned"));
            builder.get(node, part)
        })
        .collect()
}

/// What a saved residual is called in the forward body's outputs and the backward body's inputs: `saved.tanh`, made
/// distinct from the names around it by [`FreshNames`] (`saved.tanh.2`...), so the two names may differ in suffix.
fn residual_name(body: &Graph, residual: NodeId) -> String {
    format!("saved.{}", super::name(&body.node(residual).op))
}

/// Whether computing a node again costs more than storing it for every step and reading it back: a transcendental
/// function, a matrix product or a reduction. Arithmetic, comparisons, selects and views are recomputed.
fn costly(op: &Op) -> bool {
    matches!(op, Op::Unary(Unary::Exp | Unary::Log | Unary::Tanh | Unary::Erf) | Op::MatMul | Op::Reduce { .. })
}

/// The backward scan's body (see [`vjp`]), and the forward body's nodes it reads as saved residuals rather than
/// computing them again.
///
/// The body is built recomputing the whole forward step, and reverse mode runs through that copy. Then the forward
/// values the gradient reads are traced back: every costly node reached ([`costly`]) becomes a residual, read from
/// a saved sequence in place of its copy, and what only fed residuals is left dead (dead code elimination drops
/// it). This is what JAX does for `scan` (save the residuals rather than rematerialise the step), limited to the
/// values worth storing: on an LSTM it removes the step's matrix product and its five tanh from the backward loop.
/// The saved values are the forward body's own, so the gradients are the same bits as when they were recomputed.
fn backward_body(scan: &Scan, plan: &Plan, backprop: Backprop) -> (Graph, Vec<NodeId>) {
    let (recomputing, first) = recomputing_backward_body(scan, plan, backprop);
    let residuals = residuals(scan, &recomputing, first);
    if residuals.is_empty() {
        return (recomputing, residuals);
    }
    // The same nodes, with each residual's copy replaced by an input placed after the forward sequences' inputs.
    let body = &scan.body;
    let mut names = FreshNames::new(recomputing.inputs().into_iter().map(|(_, name, _)| name));
    let insert_at = first + scan.carries + scan.sequences;
    let mut residual_inputs = Vec::new();
    let graph = rebuild(&recomputing, |builder, index, _| {
        if index == insert_at {
            residual_inputs = residuals
                .iter()
                .map(|&residual| {
                    let name = names.fresh(residual_name(body, residual));
                    builder.input(name, Role::Batch, body.tensor_type(residual).clone())
                })
                .collect();
        }
        let position = residuals.iter().position(|residual| first + residual.index() == index)?;
        Some(residual_inputs[position])
    });
    (graph, residuals)
}

/// The forward body's nodes that a backward body (whose copy of the forward body starts at node `first`) should
/// read saved, in node order: walking back from the forward values the gradient reads, the costly nodes reached that
/// change from step to step (one that depends on the invariants alone would be stored once per step for one value,
/// so it is computed again, as before). Empty when the forward body does not keep all its inputs before its other
/// nodes (residual inputs are placed by that order).
fn residuals(scan: &Scan, backward: &Graph, first: usize) -> Vec<NodeId> {
    let body = &scan.body;
    let is_input = |node: &crate::ir::Node| matches!(node.op, Op::Input { .. });
    if body.nodes.iter().skip_while(|node| is_input(node)).any(is_input) {
        return Vec::new();
    }
    // Whether each forward value depends on a carry or a sequence (the first inputs, in node order).
    let mut varying = vec![false; body.nodes.len()];
    for (index, node) in body.nodes.iter().enumerate() {
        varying[index] = if is_input(node) {
            index < scan.carries + scan.sequences
        } else {
            node.inputs.iter().any(|input| varying[input.index()])
        };
    }
    let copy = first..first + body.nodes.len();
    // The forward values read by the live part of the gradient (the nodes after the copy) and by the outputs.
    let mut live = vec![false; backward.nodes.len()];
    let mut needed = vec![false; body.nodes.len()];
    for output in &backward.outputs {
        live[output.node.index()] = true;
    }
    for index in (0..backward.nodes.len()).rev() {
        if !live[index] {
            continue;
        }
        if copy.contains(&index) {
            needed[index - first] = true;
        } else {
            for input in &backward.nodes[index].inputs {
                live[input.index()] = true;
            }
        }
    }
    // Back through the forward body: a needed costly node is saved, a needed cheap one needs its inputs.
    let mut residuals = Vec::new();
    for index in (0..body.nodes.len()).rev() {
        let node = &body.nodes[index];
        if !needed[index] || is_input(node) {
            continue;
        }
        if costly(&node.op) && varying[index] {
            residuals.push(NodeId(index as u32));
        } else {
            for input in &node.inputs {
                needed[input.index()] = true;
            }
        }
    }
    residuals.reverse();
    residuals
}

/// The backward body computing the whole forward step again, and where its copy of the forward body starts (forward
/// node `i` is node `first + i`).
fn recomputing_backward_body(scan: &Scan, plan: &Plan, backprop: Backprop) -> (Graph, usize) {
    let body = &scan.body;
    let (carries, sequences) = (scan.carries, scan.sequences);
    let forward_inputs = body.inputs();
    let mut names = FreshNames::new(forward_inputs.iter().map(|&(_, name, _)| name));
    let mut builder = Builder::new(format!("{}.backward", body.name));
    let mut cotangent_input = |builder: &mut Builder, name: &str, role: Role, ty: &TensorType| {
        let name = names.fresh(format!("grad.{name}"));
        (builder.input(name.clone(), role, ty.clone()), name)
    };
    let carry_cotangents: Vec<(NodeId, String)> = plan
        .float_carries
        .iter()
        .map(|&carry| {
            let (id, name, role) = forward_inputs[carry];
            cotangent_input(&mut builder, name, role, body.tensor_type(id))
        })
        .collect();
    let accumulators: Vec<(NodeId, String)> = plan
        .wanted_invariants
        .iter()
        .map(|&invariant| {
            let (id, name, role) = forward_inputs[carries + sequences + invariant];
            cotangent_input(&mut builder, name, role, body.tensor_type(id))
        })
        .collect();
    let output_cotangents: Vec<NodeId> = plan
        .read_outputs
        .iter()
        .map(|&output| {
            let output = &body.outputs[carries + output];
            cotangent_input(&mut builder, &output.name, Role::Batch, body.tensor_type(output.node)).0
        })
        .collect();

    // The forward body again, reading the saved carries, this step's slices and the invariants.
    let first = builder.graph().nodes.len();
    let mut forward_position = 0;
    let mut copied: Vec<NodeId> = Vec::with_capacity(body.nodes.len());
    for node in &body.nodes {
        let id = match &node.op {
            Op::Input { name, role } => {
                forward_position += 1;
                builder.push(Op::Input { name: name.clone(), role: *role }, Vec::new(), Some(node.ty.clone()))
            }
            op => {
                let inputs = node.inputs.iter().map(|input| copied[input.index()]).collect();
                builder.push(op.clone(), inputs, Some(node.ty.clone()))
            }
        };
        copied.push(id);
    }
    debug_assert_eq!(forward_position, forward_inputs.len());
    let copy_of_input = |position: usize| copied[forward_inputs[position].0.index()];
    let copy_of_output = |position: usize| copied[body.outputs[position].node.index()];

    let mut seeds: Vec<(NodeId, NodeId)> = Vec::new();
    for (&carry, (cotangent, _)) in plan.float_carries.iter().zip(&carry_cotangents) {
        seeds.push((copy_of_output(carry), *cotangent));
    }
    for (&output, &cotangent) in plan.read_outputs.iter().zip(&output_cotangents) {
        seeds.push((copy_of_output(carries + output), cotangent));
    }
    let mut wrt: Vec<NodeId> = plan.float_carries.iter().map(|&carry| copy_of_input(carry)).collect();
    wrt.extend(plan.wanted_invariants.iter().map(|&invariant| copy_of_input(carries + sequences + invariant)));
    wrt.extend(plan.wanted_sequences.iter().map(|&sequence| copy_of_input(carries + sequence)));
    let grads = backprop(&mut builder, &seeds, &wrt);
    let (carry_grads, rest) = grads.split_at(carry_cotangents.len());
    let (invariant_grads, sequence_grads) = rest.split_at(accumulators.len());

    for ((&grad, (_, name)), &of) in carry_grads.iter().zip(&carry_cotangents).zip(&wrt) {
        let grad = grad.unwrap_or_else(|| builder.constant_like(0.0, of));
        builder.output(name.clone(), grad);
    }
    for (&grad, &(accumulator, ref name)) in invariant_grads.iter().zip(&accumulators) {
        let total = match grad {
            Some(grad) => builder.add(accumulator, grad),
            None => accumulator,
        };
        builder.output(name.clone(), total);
    }
    for (&grad, &sequence) in sequence_grads.iter().zip(&plan.wanted_sequences) {
        let slice = copy_of_input(carries + sequence);
        let grad = grad.unwrap_or_else(|| builder.constant_like(0.0, slice));
        let name = names.fresh(format!("grad.{}", forward_inputs[carries + sequence].1));
        builder.output(name, grad);
    }
    (builder.finish(), first)
}

/// Names that differ from the given ones and from each other, for the inputs and outputs autodiff adds to a body.
struct FreshNames {
    taken: BTreeSet<String>,
}

impl FreshNames {
    fn new<'a>(taken: impl Iterator<Item = &'a str>) -> FreshNames {
        FreshNames { taken: taken.map(str::to_string).collect() }
    }

    /// `wanted`, or `wanted.2`, `wanted.3`... when it is taken.
    fn fresh(&mut self, wanted: String) -> String {
        let mut name = wanted.clone();
        let mut suffix = 2;
        while self.taken.contains(&name) {
            name = format!("{wanted}.{suffix}");
            suffix += 1;
        }
        self.taken.insert(name.clone());
        name
    }
}
