//! A scalar evaluator of fused kernels, position by position with exact `std` math: the oracle the native code
//! of [`super::codegen`] is tested against.

use super::kernel::{Access, Expr, Kernel};
use crate::ir::{Binary, Compare, Reduction, Unary};

/// Runs `kernel` over the positions whose outermost index is in `start..end`, reading and writing through raw
/// pointers as native code does (operands first, then stores).
///
/// # Safety
/// `buffers` holds one pointer per operand and store, each valid for every element its access reaches.
pub unsafe fn run_raw(kernel: &Kernel, buffers: *const *mut f32, start: usize, end: usize) {
    let pointers = std::slice::from_raw_parts(buffers, kernel.operands.len() + kernel.stores.len());
    let rank = kernel.dims.len();
    let mut index = vec![0usize; rank];
    index[0] = start;
    let position = |access: &Access, index: &[usize]| {
        (access.offset as isize + index.iter().zip(&access.strides).map(|(&i, &s)| i as isize * s).sum::<isize>())
            as usize
    };
    if start >= end {
        return;
    }
    let mut values = vec![0.0f32; kernel.exprs.len()];
    let mut truths = vec![false; kernel.exprs.len()];
    loop {
        for (n, expr) in kernel.exprs.iter().enumerate() {
            match *expr {
                Expr::Load(operand) => {
                    values[n] = *pointers[operand].add(position(&kernel.operands[operand], &index));
                }
                Expr::Const(value) => values[n] = value,
                Expr::Unary(unary, x) => values[n] = unary_value(unary, values[x]),
                Expr::Sigmoid(x) => values[n] = 1.0 / (1.0 + (-values[x]).exp()),
                Expr::Binary(binary, a, b) => values[n] = binary_value(binary, values[a], values[b]),
                Expr::Compare(compare, a, b) => truths[n] = compare_value(compare, values[a], values[b]),
                Expr::Select(condition, a, b) => values[n] = if truths[condition] { values[a] } else { values[b] },
                Expr::FromBool(x) => values[n] = if truths[x] { 1.0 } else { 0.0 },
            }
        }
        for (s, store) in kernel.stores.iter().enumerate() {
            let target = pointers[kernel.operands.len() + s].add(position(&store.access, &index));
            let value = values[store.expr];
            match kernel.reduce {
                Some(reduce) if index[reduce.axis] > 0 => {
                    *target = match reduce.reduction {
                        Reduction::Sum => *target + value,
                        Reduction::Max => max_nan(*target, value),
                    }
                }
                _ => *target = value,
            }
        }
        // The next position in row-major order.
        let mut axis = rank;
        loop {
            if axis == 0 {
                return;
            }
            axis -= 1;
            index[axis] += 1;
            let limit = if axis == 0 { end } else { kernel.dims[axis] };
            if index[axis] < limit {
                break;
            }
            if axis == 0 {
                return;
            }
            index[axis] = 0;
        }
    }
}

/// The larger value, NaN if either is (as the interpreter's `max`).
pub fn max_nan(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else {
        a.max(b)
    }
}

fn min_nan(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else {
        a.min(b)
    }
}

/// An IR unary function, exactly.
pub fn unary_value(unary: Unary, x: f32) -> f32 {
    match unary {
        Unary::Neg => -x,
        Unary::Exp => x.exp(),
        Unary::Log => x.ln(),
        Unary::Sqrt => x.sqrt(),
        Unary::Recip => 1.0 / x,
        Unary::Tanh => x.tanh(),
        Unary::Erf => libm::erff(x),
    }
}

/// An IR binary function.
pub fn binary_value(binary: Binary, a: f32, b: f32) -> f32 {
    match binary {
        Binary::Add => a + b,
        Binary::Sub => a - b,
        Binary::Mul => a * b,
        Binary::Div => a / b,
        Binary::Max => max_nan(a, b),
        Binary::Min => min_nan(a, b),
    }
}

/// An IR comparison.
pub fn compare_value(compare: Compare, a: f32, b: f32) -> bool {
    match compare {
        Compare::Lt => a < b,
        Compare::Le => a <= b,
        Compare::Gt => a > b,
        Compare::Ge => a >= b,
        Compare::Eq => a == b,
        Compare::Ne => a != b,
    }
}
