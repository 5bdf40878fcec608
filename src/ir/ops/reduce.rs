//! Reductions: sum and max over axes, and argmax along one axis.

use super::check_axis;
use crate::ir::{DType, TensorType, Type};

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
