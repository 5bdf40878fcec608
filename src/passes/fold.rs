//! Constant folding: a node whose operands are splat constants becomes a splat constant.
//!
//! Folded: the elementwise ops (every unary op but `erf`, which the standard library lacks; binary ops;
//! comparisons), `cast`, the movement ops that keep a splat a splat (`reshape`, `expand`, `permute`, `slice`;
//! `concat` of equal splats; `pad` with the splat's own value), `reduce_sum` (a splat `c` summed over `n` elements
//! is `c * n`), `reduce_max` (`c`) and `argmax` (0: every element ties). A `select` on a constant condition becomes
//! the operand it chooses, constant or not.
//!
//! Arithmetic runs in the node's dtype, as the interpreter runs it: `f32` in `f32`, NaN-propagating `max` and `min`,
//! wrapping `i32` (an `i32` division by zero is left to run). A folded sum is the exact `c * n` rounded once, which
//! any summation order approximates.
//!
//! Only constants fold. Graph inputs are never constants, so the batch, the parameters and the learning rate and
//! step (`hyper` inputs, which change between steps) stay inputs, and whatever is computed from them stays in the
//! graph.

use super::rewrite::{element, in_bodies, rewrite, splat, Rewrite};
use crate::ir::{Binary, Compare, DType, Graph, NodeId, Op, Reduction, Unary};

/// Folds every node of splat constants into a splat constant, scan bodies included. A folded node is replaced in
/// place; the constants it read stay for `dce`.
pub fn fold(mut graph: Graph) -> Graph {
    fold_in_place(&mut graph);
    graph
}

fn fold_in_place(graph: &mut Graph) {
    in_bodies(graph, fold_in_place);
    rewrite(graph, folded);
}

/// What folding does with one node.
fn folded(graph: &Graph, id: NodeId) -> Rewrite {
    let node = graph.node(id);
    if let (Op::Select, [condition, on_true, on_false]) = (&node.op, node.inputs.as_slice()) {
        return match splat(graph, *condition) {
            Some(value) if element(value, DType::Bool) != 0.0 => Rewrite::Forward(*on_true),
            Some(_) => Rewrite::Forward(*on_false),
            None => Rewrite::Keep,
        };
    }
    let Some(ty) = node.ty.tensor() else {
        return Rewrite::Keep;
    };
    // Ops without operands (inputs, constants) fold nothing.
    let constants: Option<Vec<f64>> = node.inputs.iter().map(|&input| splat(graph, input)).collect();
    let (Some(constants), false) = (constants, node.inputs.is_empty()) else {
        return Rewrite::Keep;
    };
    let operand_dtype = graph.node(node.inputs[0]).ty.tensor().map_or(ty.dtype, |operand| operand.dtype);
    let value = match (&node.op, constants.as_slice()) {
        (Op::Unary(unary), &[x]) => unary_value(*unary, x, ty.dtype),
        (Op::Binary(binary), &[a, b]) => binary_value(*binary, a, b, ty.dtype),
        (Op::Compare(compare), &[a, b]) => {
            Some(compare_value(*compare, element(a, operand_dtype), element(b, operand_dtype)))
        }
        (Op::Cast, &[x]) => Some(element(element(x, operand_dtype), ty.dtype)),
        (Op::Reshape | Op::Expand | Op::Permute { .. } | Op::Slice { .. }, &[x]) => Some(x),
        (Op::Concat { .. }, [first, rest @ ..]) => {
            let bits = |value: f64| element(value, ty.dtype).to_bits();
            rest.iter().all(|&other| bits(other) == bits(*first)).then_some(*first)
        }
        (Op::Pad { value, .. }, &[x]) => {
            (element(x, ty.dtype).to_bits() == element(*value, ty.dtype).to_bits()).then_some(x)
        }
        (Op::Reduce { reduction, axes }, &[x]) => {
            let shape = &graph.tensor_type(node.inputs[0]).shape;
            let count: usize = axes.iter().map(|&axis| shape[axis]).product();
            match reduction {
                Reduction::Sum => Some(sum_value(x, count, ty.dtype)),
                // The maximum of no elements is the dtype's lowest value, which no splat says; leave it to run.
                Reduction::Max => (count > 0).then_some(x),
            }
        }
        (Op::ArgMax { .. }, &[_]) => Some(0.0),
        _ => None,
    };
    match value {
        Some(value) => Rewrite::Replace(Op::Constant { value }, Vec::new()),
        None => Rewrite::Keep,
    }
}

/// A unary op on a float, in its dtype; `None` for `erf`.
fn unary_value(unary: Unary, x: f64, dtype: DType) -> Option<f64> {
    match dtype {
        DType::F32 => {
            let x = x as f32;
            let value = match unary {
                Unary::Neg => -x,
                Unary::Exp => libm::expf(x),
                Unary::Log => libm::logf(x),
                Unary::Sqrt => x.sqrt(),
                Unary::Recip => 1.0 / x,
                Unary::Tanh => libm::tanhf(x),
                Unary::Erf => return None,
            };
            Some(f64::from(value))
        }
        DType::F64 => match unary {
            Unary::Neg => Some(-x),
            Unary::Exp => Some(libm::exp(x)),
            Unary::Log => Some(libm::log(x)),
            Unary::Sqrt => Some(x.sqrt()),
            Unary::Recip => Some(1.0 / x),
            Unary::Tanh => Some(libm::tanh(x)),
            Unary::Erf => None,
        },
        DType::I32 | DType::Bool => None,
    }
}

/// A binary op in its dtype; `None` for an `i32` division by zero.
fn binary_value(binary: Binary, a: f64, b: f64, dtype: DType) -> Option<f64> {
    match dtype {
        DType::F32 => {
            let (a, b) = (a as f32, b as f32);
            let value = match binary {
                Binary::Add => a + b,
                Binary::Sub => a - b,
                Binary::Mul => a * b,
                Binary::Div => a / b,
                Binary::Max => propagating_max(a, b),
                Binary::Min => propagating_min(a, b),
            };
            Some(f64::from(value))
        }
        DType::F64 => Some(match binary {
            Binary::Add => a + b,
            Binary::Sub => a - b,
            Binary::Mul => a * b,
            Binary::Div => a / b,
            Binary::Max => propagating_max(a, b),
            Binary::Min => propagating_min(a, b),
        }),
        DType::I32 => {
            let (a, b) = (a as i32, b as i32);
            let value = match binary {
                Binary::Add => a.wrapping_add(b),
                Binary::Sub => a.wrapping_sub(b),
                Binary::Mul => a.wrapping_mul(b),
                Binary::Div if b == 0 => return None,
                Binary::Div => a.wrapping_div(b),
                Binary::Max => a.max(b),
                Binary::Min => a.min(b),
            };
            Some(f64::from(value))
        }
        DType::Bool => None,
    }
}

/// The larger of two floats, NaN if the first is, else the second when they tie or it is NaN: the interpreter's
/// rule, so that a NaN is never hidden and `max(0.0, -0.0)` gives the same zero.
fn propagating_max<T: PartialOrd>(a: T, b: T) -> T {
    if a.partial_cmp(&a).is_none() || a > b {
        a
    } else {
        b
    }
}

/// The smaller of two floats, by the same rule as [`propagating_max`].
fn propagating_min<T: PartialOrd>(a: T, b: T) -> T {
    if a.partial_cmp(&a).is_none() || a < b {
        a
    } else {
        b
    }
}

/// A comparison of two values of one dtype, held exactly as `f64`; true is 1.
fn compare_value(compare: Compare, a: f64, b: f64) -> f64 {
    let holds = match compare {
        Compare::Lt => a < b,
        Compare::Le => a <= b,
        Compare::Gt => a > b,
        Compare::Ge => a >= b,
        Compare::Eq => a == b,
        Compare::Ne => a != b,
    };
    f64::from(u8::from(holds))
}

/// A splat `x` summed over `count` elements: `x * count` rounded once to the dtype, wrapping for `i32`; 0 for no
/// elements, even when `x` is infinite or NaN.
fn sum_value(x: f64, count: usize, dtype: DType) -> f64 {
    if count == 0 {
        return 0.0;
    }
    match dtype {
        DType::I32 => f64::from((i64::from(x as i32)).wrapping_mul(count as i64) as i32),
        _ => element(element(x, dtype) * count as f64, dtype),
    }
}
