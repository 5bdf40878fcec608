//! f32x4 arithmetic on Cranelift's function builder: the operations the kernel bodies and the approximations of
//! [`super::math`] are written in. Every value is a four-lane f32 vector (a truth value is a lane mask, all ones or
//! all zeros, kept as an f32x4 bit pattern), so one sequence of instructions computes a lane the same way in the
//! vectorised loop and in the scalar tail, which runs the same code on lane 0.

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::types::{F32X4, I32X4, I8X16};
use cranelift_codegen::ir::{ConstantData, Endianness, InstBuilder, MemFlagsData, Value};
use cranelift_frontend::FunctionBuilder;

/// The function builder, for vector code.
pub(super) struct Vectors<'a> {
    /// The builder, positioned where the next instruction goes.
    pub builder: FunctionBuilder<'a>,
}

/// The flags of a bitcast between vector shapes (little-endian lane order, as on every host Cranelift supports).
fn bitcast_flags() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

impl Vectors<'_> {
    /// `value` in every lane, from the constant pool.
    pub fn constant(&mut self, value: f32) -> Value {
        self.bits_constant(value.to_bits(), F32X4)
    }

    /// The integer `value` in every lane of an i32x4.
    pub fn int_constant(&mut self, value: i32) -> Value {
        self.bits_constant(value as u32, I32X4)
    }

    fn bits_constant(&mut self, bits: u32, lanes: cranelift_codegen::ir::Type) -> Value {
        let bytes: Vec<u8> = (0..4).flat_map(|_| bits.to_le_bytes()).collect();
        let constant = self.builder.func.dfg.constants.insert(ConstantData::from(bytes));
        self.builder.ins().vconst(lanes, constant)
    }

    /// a + b.
    pub fn add(&mut self, a: Value, b: Value) -> Value {
        self.builder.ins().fadd(a, b)
    }

    /// a - b.
    pub fn sub(&mut self, a: Value, b: Value) -> Value {
        self.builder.ins().fsub(a, b)
    }

    /// a * b.
    pub fn mul(&mut self, a: Value, b: Value) -> Value {
        self.builder.ins().fmul(a, b)
    }

    /// a / b.
    pub fn div(&mut self, a: Value, b: Value) -> Value {
        self.builder.ins().fdiv(a, b)
    }

    /// a * b + c, rounded once on every CPU path: an FMA instruction on v3 and v4, and on the portable path
    /// Cranelift's call of the C library's correctly rounded `fmaf` per lane (the same bits, slower).
    pub fn mul_add(&mut self, a: Value, b: Value, c: Value) -> Value {
        self.builder.ins().fma(a, b, c)
    }

    /// a * b + c for a constant `b`.
    pub fn mul_add_constant(&mut self, a: Value, b: f32, c: Value) -> Value {
        let b = self.constant(b);
        self.mul_add(a, b, c)
    }

    /// `coefficients[0] + x * (coefficients[1] + x * ...)` by Horner's rule.
    pub fn polynomial(&mut self, x: Value, coefficients: &[f32]) -> Value {
        let Some((&highest, lower)) = coefficients.split_last() else { return self.constant(0.0) };
        let mut sum = self.constant(highest);
        for &coefficient in lower.iter().rev() {
            let coefficient = self.constant(coefficient);
            sum = self.mul_add(sum, x, coefficient);
        }
        sum
    }

    /// The lane mask of `a cc b`, as an f32x4 bit pattern.
    pub fn compare(&mut self, cc: FloatCC, a: Value, b: Value) -> Value {
        let mask = self.builder.ins().fcmp(cc, a, b);
        self.builder.ins().bitcast(F32X4, MemFlagsData::new(), mask)
    }

    /// Per lane, `on_true` where `mask` is set, else `on_false`.
    pub fn select(&mut self, mask: Value, on_true: Value, on_false: Value) -> Value {
        self.builder.ins().bitselect(mask, on_true, on_false)
    }

    /// The bitwise and of two bit patterns (a mask and 1.0 gives 1.0 or 0.0).
    pub fn and(&mut self, a: Value, b: Value) -> Value {
        self.builder.ins().band(a, b)
    }

    /// The bitwise or of two bit patterns.
    pub fn or(&mut self, a: Value, b: Value) -> Value {
        self.builder.ins().bor(a, b)
    }

    /// `a > b ? a : b`, one `maxps`: `b` where either is NaN or both are zeros.
    pub fn max_or_second(&mut self, a: Value, b: Value) -> Value {
        // Cranelift lowers exactly this pattern (a bitselect of `b < a` over `a`, `b`) to `maxps a, b`.
        let a_greater = self.compare(FloatCC::LessThan, b, a);
        self.builder.ins().bitselect(a_greater, a, b)
    }

    /// `a < b ? a : b`, one `minps`: `b` where either is NaN or both are zeros.
    pub fn min_or_second(&mut self, a: Value, b: Value) -> Value {
        let a_less = self.compare(FloatCC::LessThan, a, b);
        self.builder.ins().bitselect(a_less, a, b)
    }

    /// The interpreter's max: `a` if it is NaN or the larger, else `b` (so NaN propagates from either side).
    pub fn max(&mut self, a: Value, b: Value, a_may_be_nan: bool) -> Value {
        let larger = self.max_or_second(a, b);
        self.keep_nan(a, larger, a_may_be_nan)
    }

    /// The interpreter's min: `a` if it is NaN or the smaller, else `b`.
    pub fn min(&mut self, a: Value, b: Value, a_may_be_nan: bool) -> Value {
        let smaller = self.min_or_second(a, b);
        self.keep_nan(a, smaller, a_may_be_nan)
    }

    /// `a` where it is NaN, else `otherwise`.
    fn keep_nan(&mut self, a: Value, otherwise: Value, a_may_be_nan: bool) -> Value {
        if !a_may_be_nan {
            return otherwise;
        }
        let a_is_nan = self.compare(FloatCC::Unordered, a, a);
        self.select(a_is_nan, a, otherwise)
    }

    /// The lanes' bits as an i32x4.
    pub fn int_bits(&mut self, x: Value) -> Value {
        self.builder.ins().bitcast(I32X4, MemFlagsData::new(), x)
    }

    /// An i32x4's bits as f32 lanes.
    pub fn float_lanes(&mut self, bits: Value) -> Value {
        self.builder.ins().bitcast(F32X4, MemFlagsData::new(), bits)
    }

    /// The lanes reordered: lane `k` of the result is lane `lanes[k]` of `x`.
    pub fn shuffle(&mut self, x: Value, lanes: [u8; 4]) -> Value {
        let bytes = self.builder.ins().bitcast(I8X16, bitcast_flags(), x);
        let mask: Vec<u8> = lanes.iter().flat_map(|&lane| (0..4).map(move |byte| lane * 4 + byte)).collect();
        let mask = self.builder.func.dfg.immediates.push(ConstantData::from(mask));
        let shuffled = self.builder.ins().shuffle(bytes, bytes, mask);
        self.builder.ins().bitcast(F32X4, bitcast_flags(), shuffled)
    }
}
