//! The memory a plan needs: [`Plan::peak_bytes`], the most bytes of buffers live at once while it runs, shown to
//! users as the train step's memory plan peak.
//!
//! The figure follows the executor ([`super::exec`]) step by step:
//!
//! - Every graph input's buffer is live from the start (a scan body counts only its carries: the executor hands it
//!   its slice of each f32 sequence and its invariants in place, and the scan's plan counts them).
//! - A step's outputs become live when it runs: a kernel's stores, a product and its epilogue's stores, a scan's
//!   tuple (its final carries and its stacked per-step outputs), an op's result. Views have no buffer of their own
//!   and count nothing; a `get` that moves its part out of a tuple ([`Plan::moved_parts`]) moves bytes, it adds none.
//! - While a step runs, it also holds what the executor makes for it alone: a scan holds its stacked outputs and its
//!   body's own peak (computed the same way), and a scan or an op on the interpreter's kernels holds a copy of each
//!   operand read through a view that is not its whole buffer.
//! - After a step, the buffers it frees are no longer counted. After the last step, each output that the executor
//!   copies rather than moves (a view, a graph input, a buffer another output still reads) counts once more.
//!
//! Sizes are the elements times 4 bytes (f32, i32), 8 (f64) or 1 (bool); all arithmetic saturates at `u64::MAX`.
//! Not counted: the executor's pool of freed buffers kept for later values, which can hold more than the live
//! bytes (a freed buffer stays in the pool until a value of its size takes it); a store written in place over an
//! operand's buffer, counted as a new buffer (an upper bound, by the size of adam's updated parameters at one step);
//! the interpreter's temporaries inside one op; a non-f32 sequence's slice, which the executor copies each step; the
//! code, the stack and the caller's own tensors.

use super::plan::{Operand, Plan, Step};
use crate::ir::{DType, Op, TensorType, Type};

impl Plan {
    /// The most bytes of buffers live at once while the plan runs, its scans' bodies included (see
    /// [`crate::backend::memory`] for exactly what is counted). Never panics, on any plan.
    pub fn peak_bytes(&self) -> u64 {
        peak_bytes(self, &|_| true)
    }
}

/// The peak of a plan whose graph inputs count when `counted(position)` holds (position in input order).
fn peak_bytes(plan: &Plan, counted: &dyn Fn(usize) -> bool) -> u64 {
    let graph = &plan.graph;
    let node_bytes = |id: crate::ir::NodeId| graph.nodes.get(id.index()).map_or(0, |node| type_bytes(&node.ty));
    // The bytes counted for each node's buffer now, so that a free takes back exactly what was counted.
    let mut held = vec![0u64; graph.nodes.len()];
    let mut live = 0u64;
    for (position, (id, _, _)) in graph.inputs().into_iter().enumerate() {
        if counted(position) {
            held[id.index()] = node_bytes(id);
            live = live.saturating_add(held[id.index()]);
        }
    }
    let mut peak = live;
    let moved = plan.moved_parts();
    for (index, step) in plan.steps.iter().enumerate() {
        let mut transient = 0u64;
        let mut made = Vec::new();
        match step {
            Step::Kernel { writes, .. } => made.extend(writes.iter().copied()),
            Step::MatMul { node, epilogue, .. } => {
                made.push(*node);
                made.extend(epilogue.iter().flat_map(|epilogue| epilogue.writes.iter().copied()));
            }
            Step::Scan { node, body, inputs } => {
                let carries = match graph.nodes.get(node.index()).map(|node| &node.op) {
                    Some(Op::Scan(scan)) => scan.carries,
                    _ => 0,
                };
                let stacked = match graph.nodes.get(node.index()).map(|node| &node.ty) {
                    Some(Type::Tuple(parts)) => {
                        parts.iter().skip(carries).map(tensor_bytes).fold(0, u64::saturating_add)
                    }
                    _ => 0,
                };
                let body_peak = peak_bytes(body, &|position| position < carries);
                transient = stacked.saturating_add(body_peak).saturating_add(view_copies(plan, inputs));
                made.push(*node);
            }
            Step::Node { node, inputs } => {
                let op = graph.nodes.get(node.index()).map(|node| &node.op);
                match (op, inputs.first()) {
                    (Some(Op::Get { index: part }), Some(tuple)) if moved.get(index).copied().unwrap_or(false) => {
                        // The part leaves the tuple: its bytes move from the tuple's count to the `get`'s.
                        let bytes = match graph.nodes.get(tuple.base.index()).map(|node| &node.ty) {
                            Some(Type::Tuple(parts)) => parts.get(*part).map_or(0, tensor_bytes),
                            _ => 0,
                        };
                        if let (Some(from), Some(to)) = (held.get(tuple.base.index()), held.get(node.index())) {
                            let bytes = bytes.min(*from);
                            let (from, to) = (*from - bytes, to.saturating_add(bytes));
                            held[tuple.base.index()] = from;
                            held[node.index()] = to;
                        }
                    }
                    (Some(Op::Get { .. }), _) => made.push(*node),
                    // A pad or a concat copies through its operands' strides; other ops copy views first.
                    (Some(Op::Pad { .. } | Op::Concat { .. }), _) => made.push(*node),
                    _ => {
                        transient = view_copies(plan, inputs);
                        made.push(*node);
                    }
                }
            }
        }
        let before = live;
        for id in made {
            if let Some(slot) = held.get_mut(id.index()) {
                let bytes = node_bytes(id);
                *slot = slot.saturating_add(bytes);
                live = live.saturating_add(bytes);
            }
        }
        // A scan's transient bytes stand for its tuple while it runs; anything else's come on top of its outputs.
        let during = match step {
            Step::Scan { .. } => before.saturating_add(transient).max(live),
            _ => live.saturating_add(transient),
        };
        peak = peak.max(during);
        for freed in plan.frees.get(index).map(Vec::as_slice).unwrap_or(&[]) {
            if let Some(slot) = held.get_mut(freed.index()) {
                live = live.saturating_sub(*slot);
                *slot = 0;
            }
        }
    }
    peak.max(live.saturating_add(output_copies(plan)))
}

/// The bytes of the outputs the executor copies at the end of a run rather than moving them out: all but the last
/// output reading a buffer whole, and every output read through a view or from a graph input.
fn output_copies(plan: &Plan) -> u64 {
    let graph = &plan.graph;
    let mut copies = 0u64;
    for (position, (_, operand)) in plan.outputs.iter().enumerate() {
        let later = plan.outputs[position + 1..].iter().any(|(_, other)| other.base == operand.base);
        let base = graph.nodes.get(operand.base.index());
        let whole = base
            .and_then(|node| node.ty.tensor())
            .is_some_and(|ty| ty.shape == operand.layout.shape && operand.layout.is_contiguous());
        let input = base.is_some_and(|node| matches!(node.op, Op::Input { .. }));
        if later || !whole || input {
            copies = copies.saturating_add(operand_bytes(plan, operand));
        }
    }
    copies
}

/// The bytes of the operands the executor copies into tensors of their own: those read through a view other than
/// their whole buffer.
fn view_copies(plan: &Plan, operands: &[Operand]) -> u64 {
    operands
        .iter()
        .filter(|operand| {
            plan.graph
                .nodes
                .get(operand.base.index())
                .and_then(|node| node.ty.tensor())
                .is_some_and(|ty| !(ty.shape == operand.layout.shape && operand.layout.is_contiguous()))
        })
        .map(|operand| operand_bytes(plan, operand))
        .fold(0, u64::saturating_add)
}

/// The bytes of an operand's elements, in its base's element type.
fn operand_bytes(plan: &Plan, operand: &Operand) -> u64 {
    match plan.graph.nodes.get(operand.base.index()).and_then(|node| node.ty.tensor()) {
        Some(ty) => elements_bytes(&operand.layout.shape, ty.dtype),
        None => 0,
    }
}

/// The bytes of a value of a type (a tuple's parts added).
pub fn type_bytes(ty: &Type) -> u64 {
    match ty {
        Type::Tensor(tensor) => tensor_bytes(tensor),
        Type::Tuple(parts) => parts.iter().map(tensor_bytes).fold(0, u64::saturating_add),
    }
}

/// The bytes of a tensor of a type.
pub fn tensor_bytes(ty: &TensorType) -> u64 {
    elements_bytes(&ty.shape, ty.dtype)
}

fn elements_bytes(shape: &[usize], dtype: DType) -> u64 {
    let size: u64 = match dtype {
        DType::F32 | DType::I32 => 4,
        DType::F64 => 8,
        DType::Bool => 1,
    };
    shape.iter().fold(size, |bytes, &axis| bytes.saturating_mul(u64::try_from(axis).unwrap_or(u64::MAX)))
}

#[cfg(test)]
mod tests;
