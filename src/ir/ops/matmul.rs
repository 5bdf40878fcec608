//! The contraction: batched matrix product.

use crate::ir::{Builder, NodeId, TensorType, Type};

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

/// The gradient rule of matmul, with `grad` the cotangent of `a @ b` (see [`super::vjp`]): `grad @ bᵀ` for `a` and
/// `aᵀ @ grad` for `b`, transposing the last two axes, batch by batch.
pub(super) fn vjp(builder: &mut Builder, inputs: &[NodeId], grad: NodeId, needed: &[bool]) -> Vec<Option<NodeId>> {
    let (a, b) = (inputs[0], inputs[1]);
    let grad_a = needed[0].then(|| {
        let b_transposed = builder.transpose(b);
        builder.matmul(grad, b_transposed)
    });
    let grad_b = needed[1].then(|| {
        let a_transposed = builder.transpose(a);
        builder.matmul(a_transposed, grad)
    });
    vec![grad_a, grad_b]
}
