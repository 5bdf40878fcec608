//! Elementwise kernels: unary functions, binary arithmetic, comparisons, select and cast.

use ndarray::{ArrayD, Zip};

use super::tensor::{with_element, with_float, with_number, Element, Float, Number, Tensor};
use crate::ir::{Binary, Compare, DType, Unary};

pub(super) fn unary(unary: Unary, x: &Tensor) -> Tensor {
    with_float!(x.dtype(), T => T::wrap(float_unary::<T>(unary, T::unwrap(x))))
}

fn float_unary<T: Float>(unary: Unary, x: &ArrayD<T>) -> ArrayD<T> {
    match unary {
        Unary::Neg => x.mapv(|value| -value),
        Unary::Exp => x.mapv(T::exp),
        Unary::Log => x.mapv(T::ln),
        Unary::Sqrt => x.mapv(T::sqrt),
        Unary::Recip => x.mapv(|value| T::from_f64(1.0) / value),
        Unary::Tanh => x.mapv(T::tanh),
        Unary::Erf => x.mapv(T::erf),
    }
}

pub(super) fn binary(binary: Binary, a: &Tensor, b: &Tensor) -> Tensor {
    with_number!(a.dtype(), T => T::wrap(number_binary::<T>(binary, T::unwrap(a), T::unwrap(b))))
}

fn number_binary<T: Number>(binary: Binary, a: &ArrayD<T>, b: &ArrayD<T>) -> ArrayD<T> {
    // The match is outside the loop so that each arm compiles to its own tight loop.
    let zip = Zip::from(a).and(b);
    match binary {
        Binary::Add => zip.map_collect(|&a, &b| T::add(a, b)),
        Binary::Sub => zip.map_collect(|&a, &b| T::sub(a, b)),
        Binary::Mul => zip.map_collect(|&a, &b| T::mul(a, b)),
        Binary::Div => zip.map_collect(|&a, &b| T::div(a, b)),
        Binary::Max => zip.map_collect(|&a, &b| T::max(a, b)),
        Binary::Min => zip.map_collect(|&a, &b| T::min(a, b)),
    }
}

pub(super) fn compare(compare: Compare, a: &Tensor, b: &Tensor) -> Tensor {
    Tensor::Bool(with_element!(a.dtype(), T => element_compare::<T>(compare, T::unwrap(a), T::unwrap(b))))
}

fn element_compare<T: Element>(compare: Compare, a: &ArrayD<T>, b: &ArrayD<T>) -> ArrayD<bool> {
    let zip = Zip::from(a).and(b);
    match compare {
        Compare::Lt => zip.map_collect(|a, b| a < b),
        Compare::Le => zip.map_collect(|a, b| a <= b),
        Compare::Gt => zip.map_collect(|a, b| a > b),
        Compare::Ge => zip.map_collect(|a, b| a >= b),
        Compare::Eq => zip.map_collect(|a, b| a == b),
        Compare::Ne => zip.map_collect(|a, b| a != b),
    }
}

pub(super) fn select(condition: &Tensor, on_true: &Tensor, on_false: &Tensor) -> Tensor {
    let condition = bool::unwrap(condition);
    with_element!(on_true.dtype(), T => T::wrap(
        Zip::from(condition)
            .and(T::unwrap(on_true))
            .and(T::unwrap(on_false))
            .map_collect(|&condition, &on_true, &on_false| if condition { on_true } else { on_false })
    ))
}

pub(super) fn cast(x: &Tensor, dtype: DType) -> Tensor {
    with_element!(x.dtype(), S => with_element!(dtype, D => D::wrap(S::unwrap(x).mapv(|value| D::from_f64(value.to_f64())))))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_close, assert_exact, bools, eval, floats, ints, FLOATS};
    use crate::ir::{Binary, Compare, DType, Unary};

    const NAN: f64 = f64::NAN;

    #[test]
    fn unary_functions_match_hand_computed_values() {
        let cases: [(Unary, [f64; 4]); 6] = [
            (Unary::Neg, [-0.0, -0.5, -1.0, -4.0]),
            (Unary::Exp, [1.0, 1.6487212707001282, std::f64::consts::E, 54.598150033144236]),
            (Unary::Sqrt, [0.0, std::f64::consts::FRAC_1_SQRT_2, 1.0, 2.0]),
            (Unary::Recip, [f64::INFINITY, 2.0, 1.0, 0.25]),
            (Unary::Tanh, [0.0, 0.46211715726000974, 0.7615941559557649, 0.999329299739067]),
            (Unary::Erf, [0.0, 0.5204998778130465, 0.8427007929497149, 0.9999999845827421]),
        ];
        for dtype in FLOATS {
            let x = floats(dtype, &[2, 2], &[0.0, 0.5, 1.0, 4.0]);
            for (unary, expected) in cases {
                let y = eval(std::slice::from_ref(&x), |builder, inputs| builder.unary(unary, inputs[0]));
                assert_close(&y, dtype, &[2, 2], &expected);
            }
            let x = floats(dtype, &[4], &[0.0, 1.0, 4.0, -1.0]);
            let y = eval(&[x], |builder, inputs| builder.log(inputs[0]));
            assert_close(&y, dtype, &[4], &[f64::NEG_INFINITY, 0.0, 1.3862943611198906, NAN]);
        }
    }

    #[test]
    fn erf_is_odd() {
        for dtype in FLOATS {
            let x = floats(dtype, &[2], &[-0.5, -1.0]);
            let y = eval(&[x], |builder, inputs| builder.erf(inputs[0]));
            assert_close(&y, dtype, &[2], &[-0.5204998778130465, -0.8427007929497149]);
        }
    }

    #[test]
    fn float_arithmetic_and_max_min_propagate_nan() {
        let a = [1.0, -2.0, 3.0, NAN, 2.0];
        let b = [4.0, 5.0, -6.0, 1.0, NAN];
        let cases: [(Binary, [f64; 5]); 6] = [
            (Binary::Add, [5.0, 3.0, -3.0, NAN, NAN]),
            (Binary::Sub, [-3.0, -7.0, 9.0, NAN, NAN]),
            (Binary::Mul, [4.0, -10.0, -18.0, NAN, NAN]),
            (Binary::Div, [0.25, -0.4, -0.5, NAN, NAN]),
            (Binary::Max, [4.0, 5.0, 3.0, NAN, NAN]),
            (Binary::Min, [1.0, -2.0, -6.0, NAN, NAN]),
        ];
        for dtype in FLOATS {
            let (a, b) = (floats(dtype, &[5], &a), floats(dtype, &[5], &b));
            for (binary, expected) in cases {
                let y = eval(&[a.clone(), b.clone()], |builder, inputs| builder.binary(binary, inputs[0], inputs[1]));
                assert_close(&y, dtype, &[5], &expected);
            }
        }
    }

    #[test]
    fn integer_arithmetic_wraps_and_division_by_zero_gives_zero() {
        let a = ints(&[4], &[7, -7, 5, i32::MAX]);
        let b = ints(&[4], &[2, 2, 0, 1]);
        let cases: [(Binary, [i32; 4]); 6] = [
            (Binary::Add, [9, -5, 5, i32::MIN]),
            (Binary::Sub, [5, -9, 5, i32::MAX - 1]),
            (Binary::Mul, [14, -14, 0, i32::MAX]),
            (Binary::Div, [3, -3, 0, i32::MAX]),
            (Binary::Max, [7, 2, 5, i32::MAX]),
            (Binary::Min, [2, -7, 0, 1]),
        ];
        for (binary, expected) in cases {
            let y = eval(&[a.clone(), b.clone()], |builder, inputs| builder.binary(binary, inputs[0], inputs[1]));
            assert_eq!(y, ints(&[4], &expected), "{binary:?}");
        }
    }

    #[test]
    fn comparisons_follow_ieee_for_nan() {
        let cases: [(Compare, [bool; 3]); 6] = [
            (Compare::Lt, [true, false, false]),
            (Compare::Le, [true, true, false]),
            (Compare::Gt, [false, false, false]),
            (Compare::Ge, [false, true, false]),
            (Compare::Eq, [false, true, false]),
            (Compare::Ne, [true, false, true]),
        ];
        for dtype in FLOATS {
            let a = floats(dtype, &[3], &[1.0, 2.0, NAN]);
            let b = floats(dtype, &[3], &[2.0, 2.0, 1.0]);
            for (compare, expected) in cases {
                let y = eval(&[a.clone(), b.clone()], |builder, inputs| builder.compare(compare, inputs[0], inputs[1]));
                assert_eq!(y, bools(&[3], &expected), "{compare:?} on {dtype}");
            }
        }
    }

    #[test]
    fn integers_and_bools_compare() {
        let y = eval(&[ints(&[3], &[1, 2, 3]), ints(&[3], &[2, 2, 2])], |builder, inputs| {
            builder.compare(Compare::Ge, inputs[0], inputs[1])
        });
        assert_eq!(y, bools(&[3], &[false, true, true]));
        let y = eval(&[bools(&[2], &[true, false]), bools(&[2], &[true, true])], |builder, inputs| {
            builder.compare(Compare::Eq, inputs[0], inputs[1])
        });
        assert_eq!(y, bools(&[2], &[true, false]));
    }

    #[test]
    fn select_picks_by_the_condition_in_every_dtype() {
        let condition = bools(&[2, 2], &[true, false, false, true]);
        for dtype in FLOATS {
            let on_true = floats(dtype, &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
            let on_false = floats(dtype, &[2, 2], &[-1.0, -2.0, -3.0, -4.0]);
            let y = eval(&[condition.clone(), on_true, on_false], |builder, inputs| {
                builder.select(inputs[0], inputs[1], inputs[2])
            });
            assert_exact(&y, dtype, &[2, 2], &[1.0, -2.0, -3.0, 4.0]);
        }
        let y = eval(&[condition.clone(), ints(&[2, 2], &[1, 2, 3, 4]), ints(&[2, 2], &[0; 4])], |builder, inputs| {
            builder.select(inputs[0], inputs[1], inputs[2])
        });
        assert_eq!(y, ints(&[2, 2], &[1, 0, 0, 4]));
        let y = eval(&[condition, bools(&[2, 2], &[true; 4]), bools(&[2, 2], &[false; 4])], |builder, inputs| {
            builder.select(inputs[0], inputs[1], inputs[2])
        });
        assert_eq!(y, bools(&[2, 2], &[true, false, false, true]));
    }

    #[test]
    fn casts_truncate_toward_zero_and_map_truth_to_zero_and_one() {
        for dtype in FLOATS {
            let x = floats(dtype, &[5], &[-1.7, -0.2, 0.0, 2.9, NAN]);
            let y = eval(std::slice::from_ref(&x), |builder, inputs| builder.cast(inputs[0], DType::I32));
            assert_eq!(y, ints(&[5], &[-1, 0, 0, 2, 0]));
            let y = eval(&[x], |builder, inputs| builder.cast(inputs[0], DType::Bool));
            assert_eq!(y, bools(&[5], &[true, true, false, true, true]));
            let y = eval(&[bools(&[2], &[true, false])], |builder, inputs| builder.cast(inputs[0], dtype));
            assert_exact(&y, dtype, &[2], &[1.0, 0.0]);
            let y = eval(&[ints(&[2], &[-3, 16_777_216])], |builder, inputs| builder.cast(inputs[0], dtype));
            assert_exact(&y, dtype, &[2], &[-3.0, 16_777_216.0]);
        }
        let y = eval(&[ints(&[3], &[-2, 0, 5])], |builder, inputs| builder.cast(inputs[0], DType::Bool));
        assert_eq!(y, bools(&[3], &[true, false, true]));
        let y = eval(&[bools(&[2], &[false, true])], |builder, inputs| builder.cast(inputs[0], DType::I32));
        assert_eq!(y, ints(&[2], &[0, 1]));
        let y = eval(&[floats(DType::F64, &[2], &[0.1, 1e40])], |builder, inputs| builder.cast(inputs[0], DType::F32));
        assert_eq!(y.as_f32().unwrap().as_slice(), Some(&[0.1f32, f32::INFINITY][..]));
        let y = eval(&[floats(DType::F32, &[1], &[0.1])], |builder, inputs| builder.cast(inputs[0], DType::F64));
        assert_eq!(y.as_f64().unwrap().as_slice(), Some(&[f64::from(0.1f32)][..]));
    }
}
