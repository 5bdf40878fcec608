//! The scalar reference evaluator of a fused [`Kernel`]: exact f32 math (std and libm), one position at a time in
//! row-major order, with the semantics of the reference interpreter ([`crate::interpreter`]): `max`, `min`
//! and a max reduction propagate NaN, and a reduction combines sequentially along its axis, starting from 0 (sum) or
//! -inf (max). It is the oracle the JIT's native kernels ([`super::codegen`]) are tested against.

use super::kernel::{Expr, Kernel};
use crate::ir::{Binary, Compare, Reduction, Unary};

/// Runs `kernel` over its whole iteration space: reads `operands` (one slice per [`Kernel::operands`] entry) and
/// writes `outputs` (one per [`Kernel::stores`] entry), the buffers in the order the native function takes them.
///
/// # Panics
///
/// If the buffer counts differ from the kernel's, if a buffer is shorter than an address the kernel touches, or if
/// the kernel is malformed (an expression reading a later one, a truth value used as a number); a kernel that
/// [`super::codegen::compile`] accepts is never malformed.
pub fn run(kernel: &Kernel, operands: &[&[f32]], outputs: &mut [&mut [f32]]) {
    assert_eq!(
        operands.len(),
        kernel.operands.len(),
        "kernel {} reads {} operands",
        kernel.name,
        kernel.operands.len()
    );
    assert_eq!(outputs.len(), kernel.stores.len(), "kernel {} writes {} outputs", kernel.name, kernel.stores.len());
    if kernel.dims.contains(&0) {
        return;
    }
    let mut position = vec![0usize; kernel.dims.len()];
    let mut values = vec![0.0f32; kernel.exprs.len()];
    loop {
        for (index, expr) in kernel.exprs.iter().enumerate() {
            values[index] =
                evaluate(expr, &values, |operand| operands[operand][element(&kernel.operands[operand], &position)]);
        }
        for (store, output) in kernel.stores.iter().zip(outputs.iter_mut()) {
            let slot = &mut output[element(&store.access, &position)];
            let value = values[store.expr];
            *slot = match kernel.reduce {
                None => value,
                Some(reduce) => {
                    let so_far = if position[reduce.axis] == 0 { start_of(reduce.reduction) } else { *slot };
                    combine(reduce.reduction, so_far, value)
                }
            };
        }
        if !advance(&mut position, &kernel.dims) {
            return;
        }
    }
}

/// What a reduction starts from: the result over no values.
pub(crate) fn start_of(reduction: Reduction) -> f32 {
    match reduction {
        Reduction::Sum => 0.0,
        Reduction::Max => f32::NEG_INFINITY,
    }
}

/// One step of a reduction: `so_far` combined with the next `value`.
pub(crate) fn combine(reduction: Reduction, so_far: f32, value: f32) -> f32 {
    match reduction {
        Reduction::Sum => so_far + value,
        Reduction::Max => max(so_far, value),
    }
}

/// `a` if it is NaN or the larger, else `b`: NaN propagates, as in the interpreter.
pub(crate) fn max(a: f32, b: f32) -> f32 {
    if a.is_nan() || a > b {
        a
    } else {
        b
    }
}

/// `a` if it is NaN or the smaller, else `b`.
pub(crate) fn min(a: f32, b: f32) -> f32 {
    if a.is_nan() || a < b {
        a
    } else {
        b
    }
}

/// The exact value of an elementwise function of the IR.
pub(crate) fn unary(unary: Unary, x: f32) -> f32 {
    match unary {
        Unary::Neg => -x,
        Unary::Exp => libm::expf(x),
        Unary::Log => libm::logf(x),
        Unary::Sqrt => x.sqrt(),
        Unary::Recip => 1.0 / x,
        Unary::Tanh => libm::tanhf(x),
        Unary::Erf => libm::erff(x),
    }
}

/// The logistic function in the form fusion recognises it from: `1 / (1 + e^-x)`, each step rounded to f32.
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + libm::expf(-x))
}

/// One expression's value; a truth value is 1.0 or 0.0.
fn evaluate(expr: &Expr, values: &[f32], load: impl Fn(usize) -> f32) -> f32 {
    let truth = |condition: bool| if condition { 1.0 } else { 0.0 };
    match *expr {
        Expr::Load(operand) => load(operand),
        Expr::Const(value) => value,
        Expr::Unary(function, x) => unary(function, values[x]),
        Expr::Sigmoid(x) => sigmoid(values[x]),
        Expr::Binary(binary, a, b) => {
            let (a, b) = (values[a], values[b]);
            match binary {
                Binary::Add => a + b,
                Binary::Sub => a - b,
                Binary::Mul => a * b,
                Binary::Div => a / b,
                Binary::Max => max(a, b),
                Binary::Min => min(a, b),
            }
        }
        Expr::Compare(compare, a, b) => {
            let (a, b) = (values[a], values[b]);
            truth(match compare {
                Compare::Lt => a < b,
                Compare::Le => a <= b,
                Compare::Gt => a > b,
                Compare::Ge => a >= b,
                Compare::Eq => a == b,
                Compare::Ne => a != b,
            })
        }
        Expr::Select(condition, on_true, on_false) => {
            if values[condition] != 0.0 {
                values[on_true]
            } else {
                values[on_false]
            }
        }
        Expr::FromBool(x) => values[x],
    }
}

/// The element an access addresses at `position`.
fn element(access: &super::kernel::Access, position: &[usize]) -> usize {
    let index = position
        .iter()
        .zip(&access.strides)
        .fold(access.offset as isize, |index, (&at, &stride)| index + at as isize * stride);
    usize::try_from(index).unwrap_or_else(|_| panic!("an access reaches element {index}, before its buffer's start"))
}

/// Steps `position` to the next one in row-major order; false after the last.
fn advance(position: &mut [usize], dims: &[usize]) -> bool {
    for axis in (0..dims.len()).rev() {
        position[axis] += 1;
        if position[axis] < dims[axis] {
            return true;
        }
        position[axis] = 0;
    }
    false
}
