//! Movement ops: reshape, permute, expand, pad, slice and concat. They move elements without arithmetic.

use super::check_axis;
use crate::ir::{Builder, NodeId, Op, TensorType, Type};

pub(super) fn reshape(inputs: &[&TensorType], declared: &TensorType) -> Result<Type, String> {
    let [x] = inputs else { unreachable!("arity checked") };
    if x.dtype != declared.dtype || x.elements() != declared.elements() {
        return Err(format!("cannot reshape {x} into {declared}: the dtype and element count must stay"));
    }
    Ok(Type::Tensor(declared.clone()))
}

pub(super) fn permute(inputs: &[&TensorType], perm: &[usize]) -> Result<Type, String> {
    let [x] = inputs else { unreachable!("arity checked") };
    let mut seen = vec![false; x.rank()];
    if perm.len() != x.rank() {
        return Err(format!("the permutation {perm:?} does not have one entry per axis of {x}"));
    }
    for &axis in perm {
        check_axis(axis, x.rank())?;
        if std::mem::replace(&mut seen[axis], true) {
            return Err(format!("the permutation {perm:?} repeats axis {axis}"));
        }
    }
    let shape: Vec<usize> = perm.iter().map(|&axis| x.shape[axis]).collect();
    Ok(Type::Tensor(TensorType::new(x.dtype, shape)))
}

pub(super) fn expand(inputs: &[&TensorType], declared: &TensorType) -> Result<Type, String> {
    let [x] = inputs else { unreachable!("arity checked") };
    let fits = x.dtype == declared.dtype
        && x.rank() == declared.rank()
        && x.shape.iter().zip(&declared.shape).all(|(&from, &to)| from == to || from == 1);
    if !fits {
        return Err(format!("cannot expand {x} to {declared}: only axes of size 1 grow, and the rank stays"));
    }
    Ok(Type::Tensor(declared.clone()))
}

pub(super) fn pad(inputs: &[&TensorType], low: &[usize], high: &[usize], interior: &[usize]) -> Result<Type, String> {
    let [x] = inputs else { unreachable!("arity checked") };
    if low.len() != x.rank() || high.len() != x.rank() || interior.len() != x.rank() {
        return Err(format!("padding needs one low, high and interior size per axis of {x}"));
    }
    let shape: Vec<usize> =
        (0..x.rank()).map(|axis| padded_size(x.shape[axis], low[axis], high[axis], interior[axis])).collect();
    Ok(Type::Tensor(TensorType::new(x.dtype, shape)))
}

/// The size of an axis of `size` elements after padding.
pub(crate) fn padded_size(size: usize, low: usize, high: usize, interior: usize) -> usize {
    low + high + size + size.saturating_sub(1) * interior
}

pub(super) fn slice(inputs: &[&TensorType], start: &[usize], end: &[usize], step: &[usize]) -> Result<Type, String> {
    let [x] = inputs else { unreachable!("arity checked") };
    if start.len() != x.rank() || end.len() != x.rank() || step.len() != x.rank() {
        return Err(format!("a slice needs one start, end and step per axis of {x}"));
    }
    let mut shape = Vec::with_capacity(x.rank());
    for axis in 0..x.rank() {
        if start[axis] > end[axis] || end[axis] > x.shape[axis] || step[axis] == 0 {
            return Err(format!(
                "axis {axis} of {x} cannot be sliced from {} to {} by {}",
                start[axis], end[axis], step[axis]
            ));
        }
        shape.push(sliced_size(start[axis], end[axis], step[axis]));
    }
    Ok(Type::Tensor(TensorType::new(x.dtype, shape)))
}

/// The number of elements a slice of one axis takes.
pub(crate) fn sliced_size(start: usize, end: usize, step: usize) -> usize {
    (end - start).div_ceil(step)
}

pub(super) fn concat(inputs: &[&TensorType], axis: usize) -> Result<Type, String> {
    let first = inputs[0];
    check_axis(axis, first.rank())?;
    let mut shape = first.shape.clone();
    for part in &inputs[1..] {
        let agrees = part.dtype == first.dtype
            && part.rank() == first.rank()
            && (0..first.rank()).all(|other| other == axis || part.shape[other] == first.shape[other]);
        if !agrees {
            return Err(format!("cannot join {first} and {part} along axis {axis}"));
        }
        shape[axis] += part.shape[axis];
    }
    Ok(Type::Tensor(TensorType::new(first.dtype, shape)))
}

/// The gradient rules of the movement ops, with `grad` the cotangent of `node`'s value (see [`super::vjp`]). Each
/// moves the gradient back where the elements came from:
///
/// - reshape: reshaped back; permute: permuted by the inverse permutation.
/// - expand: summed over the expanded axes, then reshaped to the operand's shape.
/// - pad: the operand's elements, a slice from `low` by `interior + 1`.
/// - slice: padded with zeros: `low = start`, `interior = step - 1`, and `high` up to the operand's size.
/// - concat: each part's slice along the axis.
pub(super) fn vjp(
    op: &Op,
    builder: &mut Builder,
    node: NodeId,
    inputs: &[NodeId],
    grad: NodeId,
    needed: &[bool],
) -> Vec<Option<NodeId>> {
    let shape = builder.shape(inputs[0]);
    match op {
        Op::Reshape => vec![Some(builder.reshape(grad, shape))],
        Op::Permute { perm } => {
            let mut inverse = vec![0; perm.len()];
            for (axis, &from) in perm.iter().enumerate() {
                inverse[from] = axis;
            }
            vec![Some(builder.permute(grad, inverse))]
        }
        Op::Expand => {
            let expanded = builder.shape(node);
            let axes: Vec<usize> = (0..shape.len()).filter(|&axis| shape[axis] != expanded[axis]).collect();
            let summed = builder.reduce_sum(grad, axes);
            vec![Some(builder.reshape(summed, shape))]
        }
        Op::Pad { low, high: _, interior, value: _ } => {
            let step: Vec<usize> = interior.iter().map(|&between| between + 1).collect();
            let end: Vec<usize> = (0..shape.len())
                .map(|axis| if shape[axis] == 0 { low[axis] } else { low[axis] + (shape[axis] - 1) * step[axis] + 1 })
                .collect();
            vec![Some(builder.slice(grad, low.clone(), end, step))]
        }
        Op::Slice { start, end, step } => {
            let interior: Vec<usize> = step.iter().map(|&stride| stride - 1).collect();
            let high: Vec<usize> = (0..shape.len())
                .map(|axis| {
                    let taken = sliced_size(start[axis], end[axis], step[axis]);
                    let last = if taken == 0 { start[axis] } else { start[axis] + (taken - 1) * step[axis] + 1 };
                    shape[axis] - last
                })
                .collect();
            vec![Some(builder.pad(grad, start.clone(), high, interior, 0.0))]
        }
        Op::Concat { axis } => {
            let mut offset = 0;
            let mut grads = Vec::with_capacity(inputs.len());
            for (&part, &wanted) in inputs.iter().zip(needed) {
                let size = builder.shape(part)[*axis];
                grads.push(wanted.then(|| builder.slice_axis(grad, *axis, offset, offset + size)));
                offset += size;
            }
            grads
        }
        _ => unreachable!("`{}` is not a movement op", super::name(op)),
    }
}
