//! The values the interpreter computes on: [`Tensor`], an ndarray of one of the IR's dtypes, and the element traits
//! the kernels are generic over, so that each kernel is written once for every dtype it accepts.

use std::fmt;
use std::ops::Neg;

use ndarray::{ArrayD, Axis, IxDyn, LinalgScalar};

use crate::ir::{DType, TensorType};

/// Runs `$body` with `$T` the element type of `$dtype`, for kernels that take every dtype.
macro_rules! with_element {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::ir::DType::F32 => {
                #[allow(unused_imports)]
                use $crate::interpreter::tensor::Element as _;
                type $T = f32;
                $body
            }
            $crate::ir::DType::F64 => {
                #[allow(unused_imports)]
                use $crate::interpreter::tensor::Element as _;
                type $T = f64;
                $body
            }
            $crate::ir::DType::I32 => {
                #[allow(unused_imports)]
                use $crate::interpreter::tensor::Element as _;
                type $T = i32;
                $body
            }
            $crate::ir::DType::Bool => {
                #[allow(unused_imports)]
                use $crate::interpreter::tensor::Element as _;
                type $T = bool;
                $body
            }
        }
    };
}

/// Runs `$body` with `$T` the element type of `$dtype`, for kernels that take numbers (the type rules keep `bool`
/// out).
macro_rules! with_number {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::ir::DType::F32 => {
                #[allow(unused_imports)]
                use $crate::interpreter::tensor::Element as _;
                type $T = f32;
                $body
            }
            $crate::ir::DType::F64 => {
                #[allow(unused_imports)]
                use $crate::interpreter::tensor::Element as _;
                type $T = f64;
                $body
            }
            $crate::ir::DType::I32 => {
                #[allow(unused_imports)]
                use $crate::interpreter::tensor::Element as _;
                type $T = i32;
                $body
            }
            $crate::ir::DType::Bool => panic!("a numeric kernel got bool values, which the type rules reject"),
        }
    };
}

/// Runs `$body` with `$T` the element type of `$dtype`, for kernels that take floats only.
macro_rules! with_float {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            $crate::ir::DType::F32 => {
                #[allow(unused_imports)]
                use $crate::interpreter::tensor::Element as _;
                type $T = f32;
                $body
            }
            $crate::ir::DType::F64 => {
                #[allow(unused_imports)]
                use $crate::interpreter::tensor::Element as _;
                type $T = f64;
                $body
            }
            other => panic!("a float kernel got {other} values, which the type rules reject"),
        }
    };
}

pub(super) use {with_element, with_float, with_number};

/// A tensor value: the elements of one of the IR's dtypes, in an ndarray of any rank.
#[derive(Clone, Debug, PartialEq)]
pub enum Tensor {
    /// 32-bit floats.
    F32(ArrayD<f32>),
    /// 64-bit floats.
    F64(ArrayD<f64>),
    /// 32-bit integers.
    I32(ArrayD<i32>),
    /// Truth values.
    Bool(ArrayD<bool>),
}

impl Tensor {
    /// A tensor of type `ty` with every element `value`, converted as a cast converts it (see
    /// [`crate::interpreter`]): `filled(&f32[2, 3], 0.0)` is zeros.
    pub fn filled(ty: &TensorType, value: f64) -> Tensor {
        with_element!(ty.dtype, T => T::wrap(ArrayD::from_elem(IxDyn(&ty.shape), T::from_f64(value))))
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        match self {
            Tensor::F32(_) => DType::F32,
            Tensor::F64(_) => DType::F64,
            Tensor::I32(_) => DType::I32,
            Tensor::Bool(_) => DType::Bool,
        }
    }

    /// The size of each axis.
    pub fn shape(&self) -> &[usize] {
        match self {
            Tensor::F32(array) => array.shape(),
            Tensor::F64(array) => array.shape(),
            Tensor::I32(array) => array.shape(),
            Tensor::Bool(array) => array.shape(),
        }
    }

    /// The dtype and shape, as the IR writes them.
    pub fn tensor_type(&self) -> TensorType {
        TensorType::new(self.dtype(), self.shape())
    }

    /// The elements if they are `f32`.
    pub fn as_f32(&self) -> Option<&ArrayD<f32>> {
        match self {
            Tensor::F32(array) => Some(array),
            _ => None,
        }
    }

    /// The elements if they are `f64`.
    pub fn as_f64(&self) -> Option<&ArrayD<f64>> {
        match self {
            Tensor::F64(array) => Some(array),
            _ => None,
        }
    }

    /// The elements if they are `i32`.
    pub fn as_i32(&self) -> Option<&ArrayD<i32>> {
        match self {
            Tensor::I32(array) => Some(array),
            _ => None,
        }
    }

    /// The elements if they are `bool`.
    pub fn as_bool(&self) -> Option<&ArrayD<bool>> {
        match self {
            Tensor::Bool(array) => Some(array),
            _ => None,
        }
    }

    /// Every element converted to `f64` (exact for every dtype; `bool` gives 0 or 1), for comparing results across
    /// dtypes and reading losses and metrics.
    pub fn to_f64(&self) -> ArrayD<f64> {
        with_element!(self.dtype(), T => T::unwrap(self).mapv(T::to_f64))
    }

    /// The one element of a rank-0 tensor, as `f64`; `None` for any other rank.
    pub fn scalar(&self) -> Option<f64> {
        if !self.shape().is_empty() {
            return None;
        }
        with_element!(self.dtype(), T => T::unwrap(self).first().map(|&value| value.to_f64()))
    }

    /// Slice `step` of the first axis, as its own tensor: one step's input of a scan sequence.
    pub(crate) fn step(&self, step: usize) -> Tensor {
        with_element!(self.dtype(), T => T::wrap(T::unwrap(self).index_axis(Axis(0), step).to_owned()))
    }

    /// Writes `value` into slice `step` of the first axis: one step's output of a scan (a plain copy of the elements
    /// when both are in row-major order).
    pub(crate) fn set_step(&mut self, step: usize, value: &Tensor) {
        fn set<T: Clone>(stack: &mut ArrayD<T>, step: usize, value: &ArrayD<T>) {
            if let (Some(all), Some(elements)) = (stack.as_slice_mut(), value.as_slice()) {
                all[step * elements.len()..(step + 1) * elements.len()].clone_from_slice(elements);
            } else {
                stack.index_axis_mut(Axis(0), step).assign(value);
            }
        }
        with_element!(self.dtype(), T => set(T::unwrap_mut(self), step, T::unwrap(value)))
    }

    /// The same tensor in row-major layout, so that a caller can read its elements as one slice.
    pub(crate) fn into_standard_layout(self) -> Tensor {
        fn standard<T: Clone>(array: ArrayD<T>) -> ArrayD<T> {
            if array.is_standard_layout() {
                array
            } else {
                array.as_standard_layout().into_owned()
            }
        }
        match self {
            Tensor::F32(array) => Tensor::F32(standard(array)),
            Tensor::F64(array) => Tensor::F64(standard(array)),
            Tensor::I32(array) => Tensor::I32(standard(array)),
            Tensor::Bool(array) => Tensor::Bool(standard(array)),
        }
    }
}

impl From<ArrayD<f32>> for Tensor {
    fn from(array: ArrayD<f32>) -> Tensor {
        Tensor::F32(array)
    }
}

impl From<ArrayD<f64>> for Tensor {
    fn from(array: ArrayD<f64>) -> Tensor {
        Tensor::F64(array)
    }
}

impl From<ArrayD<i32>> for Tensor {
    fn from(array: ArrayD<i32>) -> Tensor {
        Tensor::I32(array)
    }
}

impl From<ArrayD<bool>> for Tensor {
    fn from(array: ArrayD<bool>) -> Tensor {
        Tensor::Bool(array)
    }
}

/// An element type of a tensor: every dtype. Conversions go through `f64`, which holds every value of every dtype
/// exactly, so one generic cast serves all pairs.
pub(super) trait Element: Copy + PartialOrd + fmt::Debug + 'static {
    /// The value nearest `value`: floats round, `i32` truncates toward zero (saturating, NaN gives 0), `bool` is
    /// `value != 0`.
    fn from_f64(value: f64) -> Self;
    /// The value as `f64`, exactly; `bool` gives 0 or 1.
    fn to_f64(self) -> f64;
    /// The tensor holding `array`.
    fn wrap(array: ArrayD<Self>) -> Tensor;
    /// The array of a tensor of this dtype; any other dtype is a bug, since graphs are type checked before running.
    fn unwrap(tensor: &Tensor) -> &ArrayD<Self>;
    /// The array of a tensor of this dtype, to write into.
    fn unwrap_mut(tensor: &mut Tensor) -> &mut ArrayD<Self>;
    /// Whether `self` beats `best` for argmax: strictly larger, with NaN above every number so that a diverging
    /// model's predictions show as such instead of looking like class 0.
    fn beats(self, best: Self) -> bool {
        self > best
    }
}

/// An element type with arithmetic: the floats and `i32`.
pub(super) trait Number: Element {
    /// a + b.
    fn add(a: Self, b: Self) -> Self;
    /// a - b.
    fn sub(a: Self, b: Self) -> Self;
    /// a * b.
    fn mul(a: Self, b: Self) -> Self;
    /// a / b.
    fn div(a: Self, b: Self) -> Self;
    /// The larger of a and b, NaN if either is.
    fn max(a: Self, b: Self) -> Self;
    /// The smaller of a and b, NaN if either is.
    fn min(a: Self, b: Self) -> Self;
    /// The start of a max reduction: what the maximum of no values is.
    fn lowest() -> Self;
}

/// A floating-point element type.
pub(super) trait Float: Number + LinalgScalar + Neg<Output = Self> {
    /// e^x.
    fn exp(x: Self) -> Self;
    /// ln x.
    fn ln(x: Self) -> Self;
    /// The square root.
    fn sqrt(x: Self) -> Self;
    /// The hyperbolic tangent.
    fn tanh(x: Self) -> Self;
    /// The error function.
    fn erf(x: Self) -> Self;
    /// `a × b + c`, rounded once (correctly rounded on every machine, in hardware or in software).
    fn mul_add(a: Self, b: Self, c: Self) -> Self;
}

macro_rules! float_element {
    ($type:ty, $variant:ident, $exp:path, $ln:path, $tanh:path, $erf:path) => {
        impl Element for $type {
            fn from_f64(value: f64) -> Self {
                value as $type
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn wrap(array: ArrayD<Self>) -> Tensor {
                Tensor::$variant(array)
            }
            fn unwrap(tensor: &Tensor) -> &ArrayD<Self> {
                match tensor {
                    Tensor::$variant(array) => array,
                    other => panic!("a kernel expected {} but got {}", stringify!($type), other.dtype()),
                }
            }
            fn unwrap_mut(tensor: &mut Tensor) -> &mut ArrayD<Self> {
                match tensor {
                    Tensor::$variant(array) => array,
                    other => panic!("a kernel expected {} but got {}", stringify!($type), other.dtype()),
                }
            }
            fn beats(self, best: Self) -> bool {
                !best.is_nan() && (self.is_nan() || self > best)
            }
        }

        impl Number for $type {
            fn add(a: Self, b: Self) -> Self {
                a + b
            }
            fn sub(a: Self, b: Self) -> Self {
                a - b
            }
            fn mul(a: Self, b: Self) -> Self {
                a * b
            }
            fn div(a: Self, b: Self) -> Self {
                a / b
            }
            // The std `max`/`min` return the other operand when one is NaN; a diverging loss must stay NaN.
            fn max(a: Self, b: Self) -> Self {
                if a.is_nan() || a > b {
                    a
                } else {
                    b
                }
            }
            fn min(a: Self, b: Self) -> Self {
                if a.is_nan() || a < b {
                    a
                } else {
                    b
                }
            }
            fn lowest() -> Self {
                <$type>::NEG_INFINITY
            }
        }

        // The `libm` crate, not the platform's C library (whose results may differ between machines and between
        // versions picked for the CPU at load time), so that the interpreter gives the same bits everywhere.
        impl Float for $type {
            fn exp(x: Self) -> Self {
                $exp(x)
            }
            fn ln(x: Self) -> Self {
                $ln(x)
            }
            fn sqrt(x: Self) -> Self {
                x.sqrt()
            }
            fn tanh(x: Self) -> Self {
                $tanh(x)
            }
            fn erf(x: Self) -> Self {
                $erf(x)
            }
            #[inline(always)]
            fn mul_add(a: Self, b: Self, c: Self) -> Self {
                a.mul_add(b, c)
            }
        }
    };
}

float_element!(f32, F32, libm::expf, libm::logf, libm::tanhf, libm::erff);
float_element!(f64, F64, libm::exp, libm::log, libm::tanh, libm::erf);

impl Element for i32 {
    fn from_f64(value: f64) -> Self {
        // `as` truncates toward zero, saturates out of range and maps NaN to 0: never a panic.
        value as i32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn wrap(array: ArrayD<Self>) -> Tensor {
        Tensor::I32(array)
    }
    fn unwrap(tensor: &Tensor) -> &ArrayD<Self> {
        match tensor {
            Tensor::I32(array) => array,
            other => panic!("a kernel expected i32 but got {}", other.dtype()),
        }
    }
    fn unwrap_mut(tensor: &mut Tensor) -> &mut ArrayD<Self> {
        match tensor {
            Tensor::I32(array) => array,
            other => panic!("a kernel expected i32 but got {}", other.dtype()),
        }
    }
}

// Integer arithmetic wraps and division by zero gives 0, so that no input value can make the interpreter panic.
impl Number for i32 {
    fn add(a: Self, b: Self) -> Self {
        a.wrapping_add(b)
    }
    fn sub(a: Self, b: Self) -> Self {
        a.wrapping_sub(b)
    }
    fn mul(a: Self, b: Self) -> Self {
        a.wrapping_mul(b)
    }
    fn div(a: Self, b: Self) -> Self {
        if b == 0 {
            0
        } else {
            a.wrapping_div(b)
        }
    }
    fn max(a: Self, b: Self) -> Self {
        Ord::max(a, b)
    }
    fn min(a: Self, b: Self) -> Self {
        Ord::min(a, b)
    }
    fn lowest() -> Self {
        i32::MIN
    }
}

impl Element for bool {
    fn from_f64(value: f64) -> Self {
        value != 0.0
    }
    fn to_f64(self) -> f64 {
        if self {
            1.0
        } else {
            0.0
        }
    }
    fn wrap(array: ArrayD<Self>) -> Tensor {
        Tensor::Bool(array)
    }
    fn unwrap(tensor: &Tensor) -> &ArrayD<Self> {
        match tensor {
            Tensor::Bool(array) => array,
            other => panic!("a kernel expected bool but got {}", other.dtype()),
        }
    }
    fn unwrap_mut(tensor: &mut Tensor) -> &mut ArrayD<Self> {
        match tensor {
            Tensor::Bool(array) => array,
            other => panic!("a kernel expected bool but got {}", other.dtype()),
        }
    }
}
