//! The contraction: batched matrix product.

use crate::ir::{TensorType, Type};

pub(super) fn matmul(inputs: &[&TensorType]) -> Result<Type, String> {
    let [a, b] = inputs else { unreachable!("arity checked") };
    if !a.dtype.is_float() || a.dtype != b.dtype {
        return Err(format!("needs two float operands of one dtype, found {a} and {b}"));
    }
    if a.rank() < 2 || a.rank() != b.rank() {
        return Err(format!("needs operands of one rank >= 2, found {a} and {b}"));
    }
    let rank = a.rank();
    if a.shape[..rank - 2] != b.shape[..rank - 2] {
        return Err(format!("batch axes differ: {a} and {b}"));
    }
    if a.shape[rank - 1] != b.shape[rank - 2] {
        return Err(format!(
            "inner sizes differ: {a} has {} columns, {b} has {} rows",
            a.shape[rank - 1],
            b.shape[rank - 2]
        ));
    }
    let mut shape = a.shape.clone();
    shape[rank - 1] = b.shape[rank - 1];
    Ok(Type::Tensor(TensorType::new(a.dtype, shape)))
}
