//! Reductions: sum and max over axes, and argmax along one axis.

use super::check_axis;
use crate::ir::{Builder, Compare, DType, NodeId, Op, Reduction, TensorType, Type};

pub(super) fn reduce(inputs: &[&TensorType], axes: &[usize]) -> Result<Type, String> {
    let [x] = inputs else { unreachable!("arity checked") };
    if x.dtype == DType::Bool {
        return Err("cannot reduce bool values; cast them first".to_string());
    }
    for (index, &axis) in axes.iter().enumerate() {
        check_axis(axis, x.rank())?;
        if index > 0 && axes[index - 1] >= axis {
            return Err(format!("axes must increase and be distinct, found {axes:?}"));
        }
    }
    let shape: Vec<usize> =
        x.shape.iter().enumerate().filter(|(axis, _)| !axes.contains(axis)).map(|(_, &size)| size).collect();
    Ok(Type::Tensor(TensorType::new(x.dtype, shape)))
}

pub(super) fn argmax(inputs: &[&TensorType], axis: usize) -> Result<Type, String> {
    let [x] = inputs else { unreachable!("arity checked") };
    check_axis(axis, x.rank())?;
    if x.shape[axis] == 0 {
        return Err(format!("argmax over axis {axis} of size 0"));
    }
    let mut shape = x.shape.clone();
    shape.remove(axis);
    Ok(Type::Tensor(TensorType::new(DType::I32, shape)))
}

/// The gradient rules of the reductions, with `grad` the cotangent of `node`'s value (see [`super::vjp`]).
///
/// - reduce_sum: every element receives the gradient of its sum (`unreduce`: the axes put back and expanded).
/// - reduce_max: the gradient goes to the elements equal to the maximum, split evenly among ties, so a max over
///   equal values shares it as a mean would.
/// - argmax gives i32 and passes none.
pub(super) fn vjp(
    op: &Op,
    builder: &mut Builder,
    node: NodeId,
    inputs: &[NodeId],
    grad: NodeId,
    _needed: &[bool],
) -> Vec<Option<NodeId>> {
    let x = inputs[0];
    let shape = builder.shape(x);
    match op {
        Op::Reduce { reduction: Reduction::Sum, axes } => vec![Some(builder.unreduce(grad, axes, &shape))],
        Op::Reduce { reduction: Reduction::Max, axes } => {
            let maximum = builder.unreduce(node, axes, &shape);
            let is_maximum = builder.compare(Compare::Eq, x, maximum);
            let mask = builder.cast(is_maximum, builder.dtype(x));
            let ties = builder.reduce_sum(mask, axes.clone());
            let share = builder.div(grad, ties);
            let spread = builder.unreduce(share, axes, &shape);
            vec![Some(builder.mul(mask, spread))]
        }
        Op::ArgMax { .. } => vec![None],
        _ => unreachable!("`{}` is not a reduction", super::name(op)),
    }
}
