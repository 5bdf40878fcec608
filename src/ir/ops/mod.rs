//! The ops' rules, one file per family: the type rule and, beside it, the gradient rule, so that everything one op
//! means is read in one place.
//!
//! [`infer`] is the single type rule the builder and the verifier share: given an op and its inputs' types it
//! returns the result's type, or says in words why the inputs do not fit. Ops whose result type is an attribute
//! (an input, a constant, a cast, a reshape, an expand) take it from `declared` and check it against the inputs.
//!
//! [`vjp`] is the gradient rule the autodiff pass (`crate::passes::autodiff`) calls for each node, last to first:
//! given the cotangent of the node's value it appends the nodes computing its inputs' cotangents (a
//! vector-Jacobian product), through the same [`Builder`] so that they are well typed too. A rule that
//! differentiates a subgraph (a scan's body) gets the pass's reverse mode as a [`Backprop`] argument, so the IR
//! does not depend on the passes.

mod elementwise;
mod matmul;
mod movement;
mod reduce;
mod scan;

use super::{Builder, NodeId, Op, TensorType, Type};

/// The result type of `op` on inputs of types `inputs`, or why they do not fit. `declared` is the type written on
/// the node; type-carrying ops need it and the others ignore it.
pub fn infer(op: &Op, inputs: &[&Type], declared: Option<&Type>) -> Result<Type, String> {
    match op {
        Op::Input { .. } | Op::Constant { .. } => {
            arity(inputs, 0)?;
            let declared = declared_tensor(declared)?;
            Ok(Type::Tensor(declared.clone()))
        }
        Op::Unary(unary) => elementwise::unary(*unary, &tensors(inputs, 1)?),
        Op::Binary(binary) => elementwise::binary(*binary, &tensors(inputs, 2)?),
        Op::Compare(_) => elementwise::compare(&tensors(inputs, 2)?),
        Op::Select => elementwise::select(&tensors(inputs, 3)?),
        Op::Cast => elementwise::cast(&tensors(inputs, 1)?, declared_tensor(declared)?),
        Op::Reduce { reduction: _, axes } => reduce::reduce(&tensors(inputs, 1)?, axes),
        Op::ArgMax { axis } => reduce::argmax(&tensors(inputs, 1)?, *axis),
        Op::Reshape => movement::reshape(&tensors(inputs, 1)?, declared_tensor(declared)?),
        Op::Permute { perm } => movement::permute(&tensors(inputs, 1)?, perm),
        Op::Expand => movement::expand(&tensors(inputs, 1)?, declared_tensor(declared)?),
        Op::Pad { low, high, interior, value: _ } => movement::pad(&tensors(inputs, 1)?, low, high, interior),
        Op::Slice { start, end, step } => movement::slice(&tensors(inputs, 1)?, start, end, step),
        Op::Concat { axis } => movement::concat(&tensors(inputs, inputs.len().max(1))?, *axis),
        Op::MatMul => matmul::matmul(&tensors(inputs, 2)?),
        Op::Scan(scan) => scan::scan(scan, inputs),
        Op::Get { index } => scan::get(inputs, *index),
    }
}

/// The cotangent of a node's value during reverse mode: one tensor, or one per part of a tuple, where `None` is a
/// part nobody reads (a zero cotangent, never built).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cotangent {
    /// The cotangent of a tensor, of its type.
    Tensor(NodeId),
    /// The cotangents of a tuple's parts.
    Tuple(Vec<Option<NodeId>>),
}

/// Reverse mode over the graph being built, as the autodiff pass runs it: given `(node, cotangent)` seeds and the
/// nodes wanted, appends the gradient nodes and returns each wanted node's cotangent (`None` where none reaches it).
/// The gradient rule of a scan runs it on the scan's body.
pub(crate) type Backprop = fn(&mut Builder, &[(NodeId, NodeId)], &[NodeId]) -> Vec<Option<NodeId>>;

/// The gradient rule: given the cotangent of `node`'s value, appends nodes computing the cotangent of each of its
/// inputs, `None` where no gradient flows or `needed` says it is not wanted. Only floats carry gradients: an int or
/// bool result passes none back, and an int or bool input (a condition, class indices) receives none. `backprop` is
/// the autodiff pass's reverse mode, for the rules that differentiate a subgraph.
pub(crate) fn vjp(
    builder: &mut Builder,
    node: NodeId,
    cotangent: &Cotangent,
    needed: &[bool],
    backprop: Backprop,
) -> Vec<Option<Cotangent>> {
    let super::Node { op, inputs, ty } = builder.graph().node(node).clone();
    let none = vec![None; inputs.len()];
    if matches!(&ty, Type::Tensor(tensor) if !tensor.dtype.is_float()) {
        return none;
    }
    let needed: Vec<bool> = inputs
        .iter()
        .zip(needed)
        .map(|(&input, &wanted)| {
            wanted
                && match &builder.graph().node(input).ty {
                    Type::Tensor(tensor) => tensor.dtype.is_float(),
                    Type::Tuple(parts) => parts.iter().any(|part| part.dtype.is_float()),
                }
        })
        .collect();
    if !needed.contains(&true) {
        return none;
    }
    let tensor = || match cotangent {
        Cotangent::Tensor(grad) => *grad,
        Cotangent::Tuple(_) => panic!("{node} is a tensor but its cotangent is a tuple"),
    };
    let grads = match &op {
        Op::Input { .. } | Op::Constant { .. } => Vec::new(),
        Op::Unary(_) | Op::Binary(_) | Op::Compare(_) | Op::Select | Op::Cast => {
            elementwise::vjp(&op, builder, node, &inputs, tensor(), &needed)
        }
        Op::Reduce { .. } | Op::ArgMax { .. } => reduce::vjp(&op, builder, node, &inputs, tensor(), &needed),
        Op::Reshape | Op::Permute { .. } | Op::Expand | Op::Pad { .. } | Op::Slice { .. } | Op::Concat { .. } => {
            movement::vjp(&op, builder, node, &inputs, tensor(), &needed)
        }
        Op::MatMul => matmul::vjp(builder, &inputs, tensor(), &needed),
        Op::Scan(attributes) => {
            let Cotangent::Tuple(parts) = cotangent else { panic!("{node} is a scan but its cotangent is a tensor") };
            scan::vjp(attributes, builder, node, &inputs, parts, &needed, backprop)
        }
        Op::Get { index } => return vec![Some(scan::get_vjp(builder, inputs[0], *index, tensor()))],
    };
    grads.into_iter().map(|grad| grad.map(Cotangent::Tensor)).collect()
}

/// The op's name in the text IR.
pub fn name(op: &Op) -> &'static str {
    use super::{Binary, Compare, Reduction, Unary};
    match op {
        Op::Input { .. } => "input",
        Op::Constant { .. } => "constant",
        Op::Unary(unary) => match unary {
            Unary::Neg => "neg",
            Unary::Exp => "exp",
            Unary::Log => "log",
            Unary::Sqrt => "sqrt",
            Unary::Recip => "recip",
            Unary::Tanh => "tanh",
            Unary::Erf => "erf",
        },
        Op::Binary(binary) => match binary {
            Binary::Add => "add",
            Binary::Sub => "sub",
            Binary::Mul => "mul",
            Binary::Div => "div",
            Binary::Max => "max",
            Binary::Min => "min",
        },
        Op::Compare(compare) => match compare {
            Compare::Lt => "lt",
            Compare::Le => "le",
            Compare::Gt => "gt",
            Compare::Ge => "ge",
            Compare::Eq => "eq",
            Compare::Ne => "ne",
        },
        Op::Select => "select",
        Op::Cast => "cast",
        Op::Reduce { reduction: Reduction::Sum, .. } => "reduce_sum",
        Op::Reduce { reduction: Reduction::Max, .. } => "reduce_max",
        Op::ArgMax { .. } => "argmax",
        Op::Reshape => "reshape",
        Op::Permute { .. } => "permute",
        Op::Expand => "expand",
        Op::Pad { .. } => "pad",
        Op::Slice { .. } => "slice",
        Op::Concat { .. } => "concat",
        Op::MatMul => "matmul",
        Op::Scan(_) => "scan",
        Op::Get { .. } => "get",
    }
}

/// Says why when the op does not take `expected` inputs.
fn arity(inputs: &[&Type], expected: usize) -> Result<(), String> {
    if inputs.len() == expected {
        Ok(())
    } else {
        Err(format!("takes {expected} input{}, found {}", if expected == 1 { "" } else { "s" }, inputs.len()))
    }
}

/// The inputs as tensors, checking their number.
fn tensors<'a>(inputs: &[&'a Type], expected: usize) -> Result<Vec<&'a TensorType>, String> {
    arity(inputs, expected)?;
    inputs
        .iter()
        .enumerate()
        .map(|(index, ty)| ty.tensor().ok_or_else(|| format!("input {index} is a tuple; read a part with `get`")))
        .collect()
}

/// The declared tensor type of a type-carrying op.
fn declared_tensor(declared: Option<&Type>) -> Result<&TensorType, String> {
    match declared {
        Some(Type::Tensor(tensor)) => Ok(tensor),
        Some(Type::Tuple(_)) => Err("the result must be a tensor, not a tuple".to_string()),
        None => Err("the result type must be written on the node".to_string()),
    }
}

/// Says why when an axis is out of range for a rank.
fn check_axis(axis: usize, rank: usize) -> Result<(), String> {
    if axis < rank {
        Ok(())
    } else {
        Err(format!("axis {axis} is out of range for rank {rank}"))
    }
}
