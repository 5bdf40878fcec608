//! Elementwise ops: unary functions, binary arithmetic, comparisons, select and cast.

use crate::ir::{Binary, Builder, Compare, DType, NodeId, Op, TensorType, Type, Unary};

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

/// The gradient rules of the elementwise ops, with `grad` the cotangent of `node`'s value (see [`super::vjp`]).
///
/// - neg: -g; exp: g·y; log: g / x; sqrt: g / 2y; recip: -g·y²; tanh: g·(1 - y²); erf: g·2/√π·e^(-x²).
/// - add: g, g; sub: g, -g; mul: g·b, g·a; div: g / b, -g·y / b.
/// - max and min: the gradient goes to the selected operand; where the operands tie it is split evenly, half to
///   each, so that the rule is symmetric and its sum is right.
/// - select: the gradient goes to the selected branch, zero to the other; none to the condition.
/// - cast: a float-to-float cast casts the gradient back; casts to or from int or bool pass none (see
///   [`super::vjp`]). Comparisons give bool and pass none.
pub(super) fn vjp(
    op: &Op,
    builder: &mut Builder,
    node: NodeId,
    inputs: &[NodeId],
    grad: NodeId,
    needed: &[bool],
) -> Vec<Option<NodeId>> {
    match op {
        Op::Unary(unary) => vec![Some(unary_vjp(*unary, builder, node, inputs[0], grad))],
        Op::Binary(binary) => binary_vjp(*binary, builder, node, inputs, grad, needed),
        Op::Compare(_) => vec![None, None],
        Op::Select => {
            let zero = builder.constant_like(0.0, grad);
            let on_true = needed[1].then(|| builder.select(inputs[0], grad, zero));
            let on_false = needed[2].then(|| builder.select(inputs[0], zero, grad));
            vec![None, on_true, on_false]
        }
        Op::Cast => vec![Some(builder.cast(grad, builder.dtype(inputs[0])))],
        _ => unreachable!("`{}` is not elementwise", super::name(op)),
    }
}

fn unary_vjp(unary: Unary, builder: &mut Builder, y: NodeId, x: NodeId, grad: NodeId) -> NodeId {
    match unary {
        Unary::Neg => builder.neg(grad),
        Unary::Exp => builder.mul(grad, y),
        Unary::Log => builder.div(grad, x),
        Unary::Sqrt => {
            let twice = builder.scale(y, 2.0);
            builder.div(grad, twice)
        }
        Unary::Recip => {
            let square = builder.mul(y, y);
            let scaled = builder.mul(grad, square);
            builder.neg(scaled)
        }
        Unary::Tanh => {
            let square = builder.mul(y, y);
            let negated = builder.neg(square);
            let slope = builder.offset(negated, 1.0);
            builder.mul(grad, slope)
        }
        Unary::Erf => {
            let square = builder.mul(x, x);
            let negated = builder.neg(square);
            let bell = builder.exp(negated);
            let slope = builder.scale(bell, std::f64::consts::FRAC_2_SQRT_PI);
            builder.mul(grad, slope)
        }
    }
}

fn binary_vjp(
    binary: Binary,
    builder: &mut Builder,
    y: NodeId,
    inputs: &[NodeId],
    grad: NodeId,
    needed: &[bool],
) -> Vec<Option<NodeId>> {
    let (a, b) = (inputs[0], inputs[1]);
    match binary {
        Binary::Add => vec![Some(grad), Some(grad)],
        Binary::Sub => vec![Some(grad), needed[1].then(|| builder.neg(grad))],
        Binary::Mul => vec![needed[0].then(|| builder.mul(grad, b)), needed[1].then(|| builder.mul(grad, a))],
        Binary::Div => {
            let grad_a = needed[0].then(|| builder.div(grad, b));
            let grad_b = needed[1].then(|| {
                let scaled = builder.mul(grad, y);
                let quotient = builder.div(scaled, b);
                builder.neg(quotient)
            });
            vec![grad_a, grad_b]
        }
        Binary::Max | Binary::Min => {
            let (a_wins, b_wins) =
                if binary == Binary::Max { (Compare::Gt, Compare::Lt) } else { (Compare::Lt, Compare::Gt) };
            let grad_a = needed[0].then(|| selected_share(builder, a_wins, a, b, grad));
            let grad_b = needed[1].then(|| selected_share(builder, b_wins, a, b, grad));
            vec![grad_a, grad_b]
        }
    }
}

/// The part of `grad` an operand of max or min receives: all of it where `wins` holds between `a` and `b`, half
/// where they tie, none elsewhere (and none where an operand is NaN, as no comparison holds there).
fn selected_share(builder: &mut Builder, wins: Compare, a: NodeId, b: NodeId, grad: NodeId) -> NodeId {
    let won = builder.compare(wins, a, b);
    let tied = builder.compare(Compare::Eq, a, b);
    let zero = builder.constant_like(0.0, grad);
    let half = builder.scale(grad, 0.5);
    let on_tie = builder.select(tied, half, zero);
    builder.select(won, grad, on_tie)
}
