//! Elementwise ops: unary functions, binary arithmetic, comparisons, select and cast.

use crate::ir::{DType, TensorType, Type, Unary};

pub(super) fn unary(_unary: Unary, inputs: &[&TensorType]) -> Result<Type, String> {
    let [x] = inputs else { unreachable!("arity checked") };
    if !x.dtype.is_float() {
        return Err(format!("needs a float operand, found {}", x.dtype));
    }
    Ok(Type::Tensor((*x).clone()))
}

pub(super) fn binary(_binary: crate::ir::Binary, inputs: &[&TensorType]) -> Result<Type, String> {
    let [a, b] = inputs else { unreachable!("arity checked") };
    same_type(a, b)?;
    if a.dtype == DType::Bool {
        return Err("arithmetic on bool operands; cast them first".to_string());
    }
    Ok(Type::Tensor((*a).clone()))
}

pub(super) fn compare(inputs: &[&TensorType]) -> Result<Type, String> {
    let [a, b] = inputs else { unreachable!("arity checked") };
    same_type(a, b)?;
    Ok(Type::Tensor(TensorType::new(DType::Bool, a.shape.clone())))
}

pub(super) fn select(inputs: &[&TensorType]) -> Result<Type, String> {
    let [condition, on_true, on_false] = inputs else { unreachable!("arity checked") };
    if condition.dtype != DType::Bool {
        return Err(format!("the condition must be bool, found {}", condition.dtype));
    }
    same_type(on_true, on_false)?;
    if condition.shape != on_true.shape {
        return Err(format!("the condition is {condition} but the values are {on_true}"));
    }
    Ok(Type::Tensor((*on_true).clone()))
}

pub(super) fn cast(inputs: &[&TensorType], declared: &TensorType) -> Result<Type, String> {
    let [x] = inputs else { unreachable!("arity checked") };
    if x.shape != declared.shape {
        return Err(format!("a cast keeps the shape, but {x} becomes {declared}"));
    }
    Ok(Type::Tensor(declared.clone()))
}

/// Says why when two operands differ; broadcasting is explicit (`expand`), never implied.
fn same_type(a: &TensorType, b: &TensorType) -> Result<(), String> {
    if a == b {
        Ok(())
    } else {
        Err(format!("operands differ: {a} and {b} (broadcast explicitly with `expand`)"))
    }
}
