//! Inline f32x4 approximations of exp, ln, tanh, the logistic function and erf, emitted as Cranelift instructions
//! (no calls): range reduction, a polynomial evaluated with fused multiply-add, reconstruction, then fix-ups for
//! the special values, all branch-free so that every lane takes the same path.
//!
//! The polynomial coefficients are our own fits: `tools/fit_math_coefficients.py` minimises the relative error of
//! each formula below on its interval (Lawson's iteration to the minimax fit) and prints these tables. The measured
//! errors against std / libm are asserted by the tests of [`super::tests`]; the bounds stated on each function are
//! those measurements, on this backend's host (with FMA).

// The coefficients are written with the 9 significant digits that pin an f32 (as tools/fit_math_coefficients.py
// prints them); clippy counts the digits past what the f32 holds exactly.
#![allow(clippy::excessive_precision)]

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::types::F32X4;
use cranelift_codegen::ir::{InstBuilder, Value};

use super::vector::Vectors;

/// e^r = 1 + r + r² P(r) for |r| <= ln(2)/2, P's coefficients from the constant term up.
const EXP_COEFFICIENTS: [f32; 5] = [0.49999994, 0.16666521, 0.041668389, 0.0083687101, 0.0013814613];

/// ln(1 + f) = f - f²/2 + f³ P(f) for 1 + f in [√½, √2).
const LOG_COEFFICIENTS: [f32; 7] =
    [0.3333391, -0.25001338, 0.19963063, -0.16577585, 0.14914767, -0.14267488, 0.087004349];

/// tanh x = x + x³ P(x²) for |x| < [`TANH_SMALL`].
const TANH_COEFFICIENTS: [f32; 5] = [-0.33333281, 0.13331442, -0.053739719, 0.020639105, -0.005705005];

/// Below this |x|, tanh uses its odd polynomial; above, `1 - 2 / (e^2|x| + 1)`, which has no cancellation there.
const TANH_SMALL: f32 = 0.625;

/// erf x = x + x P(x²) for |x| < [`ERF_SMALL`].
const ERF_SMALL_COEFFICIENTS: [f32; 6] =
    [0.12837915, -0.37612495, 0.11281817, -0.026766621, 0.0049931863, -0.00059908791];

/// erf x = 1 - e^-R(x) for [`ERF_SMALL`] <= x <= 4, R(x) ≈ -ln erfc(x) a polynomial in x.
const ERF_LARGE_COEFFICIENTS: [f32; 8] =
    [-0.0001844189, 1.1295654, 0.63323683, 0.10841085, -0.025210688, 0.0042084293, -0.00044276222, 2.1865540e-5];

/// Where erf switches from the polynomial to the exponential form.
const ERF_SMALL: f32 = 0.921875;

/// From 4 on, erfc x < 2^-25 and erf x rounds to 1 in f32; the argument is clamped there.
const ERF_SATURATION: f32 = 4.0;

/// ln 2 split so that `n * LN2_HIGH` is exact for every exponent `n` in reach (9 significant bits), and the rest.
const LN2_HIGH: f32 = 0.693359375;
const LN2_LOW: f32 = -2.121944400546905827679e-4;

/// 1.5 * 2^23: adding it to a float of magnitude below 2^22 rounds it to an integer held in the low mantissa bits.
const ROUNDING_MAGIC: f32 = 12582912.0;

/// e^x rounds to 0 below this (e^-104 < 2^-150) and overflows to inf above [`EXP_HIGHEST`] (e^89 > f32::MAX); the
/// argument is clamped to the pair so that the scale 2^n stays in reach of two normal factors.
const EXP_LOWEST: f32 = -104.0;
const EXP_HIGHEST: f32 = 89.0;

impl Vectors<'_> {
    /// e^x. Measured: within 0.98 ulp of the exact value over the normal range; inf above 88.73, subnormals then 0 below -87.34
    /// (correctly scaled, a single rounding), NaN for NaN.
    pub fn exp(&mut self, x: Value) -> Value {
        let lowest = self.constant(EXP_LOWEST);
        let x = self.max_or_second(lowest, x);
        let highest = self.constant(EXP_HIGHEST);
        let x = self.min_or_second(highest, x);
        // n = round(x / ln 2); r = x - n ln 2 in [-ln(2)/2, ln(2)/2], the first step exact.
        let magic = self.constant(ROUNDING_MAGIC);
        let shifted = self.mul_add_constant(x, std::f32::consts::LOG2_E, magic);
        let n = self.sub(shifted, magic);
        let r = self.mul_add_constant(n, -LN2_HIGH, x);
        let r = self.mul_add_constant(n, -LN2_LOW, r);
        let p = self.polynomial(r, &EXP_COEFFICIENTS);
        let r_squared = self.mul(r, r);
        let y = self.mul_add(p, r_squared, r);
        let one = self.constant(1.0);
        let y = self.add(y, one);
        // 2^n as 2^(n >> 1) * 2^(n - (n >> 1)): n reaches -150 (subnormal results) and 129 (overflow), each half
        // stays a normal float, and the last multiply rounds once.
        let shifted_bits = self.int_bits(shifted);
        let magic_bits = self.int_constant(ROUNDING_MAGIC.to_bits() as i32);
        let n = self.builder.ins().isub(shifted_bits, magic_bits);
        let half = self.builder.ins().sshr_imm_s(n, 1);
        let rest = self.builder.ins().isub(n, half);
        let half_scale = self.power_of_two(half);
        let rest_scale = self.power_of_two(rest);
        let y = self.mul(y, half_scale);
        self.mul(y, rest_scale)
    }

    /// 2^n for integer lanes `n` in the normal exponent range.
    fn power_of_two(&mut self, n: Value) -> Value {
        let bias = self.int_constant(127);
        let biased = self.builder.ins().iadd(n, bias);
        let bits = self.builder.ins().ishl_imm_s(biased, 23);
        self.float_lanes(bits)
    }

    /// ln x. Measured: within 1.15 ulp of the exact value; subnormal inputs are scaled first; -inf at ±0, NaN below 0 and for
    /// NaN, inf at inf.
    pub fn log(&mut self, x: Value) -> Value {
        // A subnormal x is scaled by 2^23 and its exponent corrected.
        let min_positive = self.constant(f32::MIN_POSITIVE);
        let subnormal = self.compare(FloatCC::LessThan, x, min_positive);
        let scale = self.constant(8388608.0);
        let scaled = self.mul(x, scale);
        let normal = self.select(subnormal, scaled, x);
        let minus_23 = self.constant(-23.0);
        let exponent_fix = self.and(subnormal, minus_23);
        // x = 2^e * m with m in [1, 2), then m halved (e incremented) from √2 on, so that f = m - 1 (exact) lies in
        // [√½ - 1, √2 - 1).
        let bits = self.int_bits(normal);
        let biased_exponent = self.builder.ins().ushr_imm_s(bits, 23);
        let bias = self.int_constant(127);
        let exponent = self.builder.ins().isub(biased_exponent, bias);
        let exponent = self.builder.ins().fcvt_from_sint(F32X4, exponent);
        let exponent = self.add(exponent, exponent_fix);
        let fraction_mask = self.int_constant(0x007F_FFFF);
        let one_bits = self.int_constant(1.0f32.to_bits() as i32);
        let fraction = self.builder.ins().band(bits, fraction_mask);
        let mantissa_bits = self.builder.ins().bor(fraction, one_bits);
        let mantissa = self.float_lanes(mantissa_bits);
        let sqrt_2 = self.constant(std::f32::consts::SQRT_2);
        let large = self.compare(FloatCC::GreaterThanOrEqual, mantissa, sqrt_2);
        let half = self.constant(0.5);
        let halved = self.mul(mantissa, half);
        let mantissa = self.select(large, halved, mantissa);
        let one = self.constant(1.0);
        let increment = self.and(large, one);
        let exponent = self.add(exponent, increment);
        let f = self.sub(mantissa, one);
        // ln x = e ln 2 + f - f²/2 + f³ P(f), the small terms summed first.
        let f_squared = self.mul(f, f);
        let f_cubed = self.mul(f_squared, f);
        let p = self.polynomial(f, &LOG_COEFFICIENTS);
        let minus_half = self.constant(-0.5);
        let half_square = self.mul(f_squared, minus_half);
        let y = self.mul_add(f_cubed, p, half_square);
        let y = self.mul_add_constant(exponent, LN2_LOW, y);
        let y = self.add(f, y);
        let y = self.mul_add_constant(exponent, LN2_HIGH, y);
        // Special values.
        let infinity = self.constant(f32::INFINITY);
        let is_infinite = self.compare(FloatCC::Equal, x, infinity);
        let y = self.select(is_infinite, infinity, y);
        let zero = self.constant(0.0);
        let is_zero = self.compare(FloatCC::Equal, x, zero);
        let minus_infinity = self.constant(f32::NEG_INFINITY);
        let y = self.select(is_zero, minus_infinity, y);
        let negative_or_nan = self.compare(FloatCC::UnorderedOrLessThan, x, zero);
        let nan = self.constant(f32::NAN);
        self.select(negative_or_nan, nan, y)
    }

    /// tanh x. Measured: within 1.26 ulp of the exact value; ±1 at ±inf (from |x| ≈ 9 on), NaN for NaN, the sign of zero kept.
    pub fn tanh(&mut self, x: Value) -> Value {
        // Both forms on |x|, x's sign put back at the end.
        let magnitude = self.builder.ins().fabs(x);
        let square = self.mul(x, x);
        let p = self.polynomial(square, &TANH_COEFFICIENTS);
        let cube = self.mul(square, magnitude);
        let near_zero = self.mul_add(cube, p, magnitude);
        // 1 - 2 / (e^2|x| + 1): e^2|x| = inf gives exactly 1.
        let twice = self.add(magnitude, magnitude);
        let exponential = self.exp(twice);
        let one = self.constant(1.0);
        let denominator = self.add(exponential, one);
        let two = self.constant(2.0);
        let quotient = self.div(two, denominator);
        let far = self.sub(one, quotient);
        let small = self.constant(TANH_SMALL);
        let is_small = self.compare(FloatCC::LessThan, magnitude, small);
        let result = self.select(is_small, near_zero, far);
        self.with_sign_of(result, x)
    }

    /// The logistic function `1 / (1 + e^-x)`. Measured: within 2.23 ulp of the exact value where it is a normal float; 1 at
    /// inf, 0 at -inf, NaN for NaN.
    pub fn sigmoid(&mut self, x: Value) -> Value {
        let negated = self.builder.ins().fneg(x);
        let exponential = self.exp(negated);
        let one = self.constant(1.0);
        let denominator = self.add(one, exponential);
        self.div(one, denominator)
    }

    /// erf x. Measured: within 1.16 ulp of the exact value; ±1 from |x| = 4 on, NaN for NaN, the sign of zero kept.
    pub fn erf(&mut self, x: Value) -> Value {
        // Both forms on |x|, x's sign put back at the end.
        let magnitude = self.builder.ins().fabs(x);
        let square = self.mul(x, x);
        let p = self.polynomial(square, &ERF_SMALL_COEFFICIENTS);
        let near_zero = self.mul_add(magnitude, p, magnitude);
        let saturation = self.constant(ERF_SATURATION);
        let clamped = self.min_or_second(saturation, magnitude);
        let exponent = self.polynomial(clamped, &ERF_LARGE_COEFFICIENTS);
        let negated = self.builder.ins().fneg(exponent);
        let complement = self.exp(negated);
        let one = self.constant(1.0);
        let far = self.sub(one, complement);
        let small = self.constant(ERF_SMALL);
        let is_small = self.compare(FloatCC::LessThan, magnitude, small);
        let result = self.select(is_small, near_zero, far);
        self.with_sign_of(result, x)
    }

    /// `magnitude` (not negative, or NaN) with the sign bit of `sign`.
    fn with_sign_of(&mut self, magnitude: Value, sign: Value) -> Value {
        let sign_mask = self.constant(-0.0);
        let sign_bit = self.and(sign, sign_mask);
        self.or(magnitude, sign_bit)
    }
}
