//! A fused kernel: the unit the JIT compiles. Fusion ([`super::fusion`]) turns chains of elementwise ops, with at
//! most one reduction at their end, into one [`Kernel`]; [`super::codegen`] turns each into a native function.
//!
//! A kernel runs a loop nest over its iteration space [`Kernel::dims`] (row-major, the last axis innermost and
//! vectorized four lanes at a time with a scalar tail). It reads f32 operands and writes f32 outputs; each buffer is
//! addressed by element strides per loop axis, fixed when the kernel is built and baked into the code: a stride of
//! 0 broadcasts along that axis (a bias row, a per-row scalar, a scalar). The body is a list of expressions in
//! SSA order; an expression reads only earlier ones.
//!
//! A reduction kernel combines its one stored expression over the axis [`Reduce::axis`], which its output's strides
//! skip (stride 0 there). Its order of combination is fixed by the code, never by the thread count: a caller only
//! ever splits the outermost axis among threads, and never when that axis is the reduced one.

use std::fmt;

use crate::ir::ops::name;
use crate::ir::{Binary, Compare, Op, Reduction, Unary};

/// One scalar expression of a kernel body; operands are indexes of earlier expressions.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// The element of operand `n` at the current position.
    Load(usize),
    /// A constant.
    Const(f32),
    /// An elementwise function of the IR.
    Unary(Unary, usize),
    /// `1 / (1 + e^-x)`, recognised by fusion from its IR form.
    Sigmoid(usize),
    /// An elementwise arithmetic op of the IR.
    Binary(Binary, usize, usize),
    /// A comparison; its value is a truth value, read only by [`Expr::Select`] and [`Expr::FromBool`].
    Compare(Compare, usize, usize),
    /// `condition ? on_true : on_false`, the condition a [`Expr::Compare`].
    Select(usize, usize, usize),
    /// A truth value as 1.0 or 0.0 (a cast from bool).
    FromBool(usize),
}

impl Expr {
    /// The expressions it reads.
    pub fn reads(&self) -> Vec<usize> {
        match *self {
            Expr::Load(_) | Expr::Const(_) => Vec::new(),
            Expr::Unary(_, x) | Expr::Sigmoid(x) | Expr::FromBool(x) => vec![x],
            Expr::Binary(_, a, b) | Expr::Compare(_, a, b) => vec![a, b],
            Expr::Select(condition, a, b) => vec![condition, a, b],
        }
    }

    /// Whether its value is a truth value rather than a number.
    pub fn is_bool(&self) -> bool {
        matches!(self, Expr::Compare(..))
    }
}

/// How a kernel addresses one buffer: an element offset and a stride per axis of the iteration space.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Access {
    /// The element the position (0, 0, ...) reads or writes.
    pub offset: usize,
    /// Elements to step per axis of [`Kernel::dims`]; 0 repeats the same element along that axis.
    pub strides: Vec<isize>,
}

impl Access {
    /// The row-major strides of a contiguous buffer of shape `dims`.
    pub fn contiguous(dims: &[usize]) -> Access {
        let mut strides = vec![0isize; dims.len()];
        let mut stride = 1isize;
        for axis in (0..dims.len()).rev() {
            strides[axis] = if dims[axis] == 1 { 0 } else { stride };
            stride *= dims[axis] as isize;
        }
        Access { offset: 0, strides }
    }
}

/// A value a kernel writes: expression `expr` stored through `access`.
#[derive(Clone, Debug, PartialEq)]
pub struct Store {
    /// The expression stored.
    pub expr: usize,
    /// Where each position's value goes (stride 0 on a reduced axis).
    pub access: Access,
}

/// The reduced axis of a reduction kernel and how it combines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reduce {
    /// Sum or max (max propagates NaN).
    pub reduction: Reduction,
    /// The axis of [`Kernel::dims`] combined.
    pub axis: usize,
}

/// A fused kernel.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    /// A name for plans and the Cranelift IR listing: `k3`.
    pub name: String,
    /// The iteration space, row-major; the last axis is innermost and vectorized.
    pub dims: Vec<usize>,
    /// The buffers read, as `Expr::Load(n)` numbers them.
    pub operands: Vec<Access>,
    /// The body, in SSA order.
    pub exprs: Vec<Expr>,
    /// The buffers written, after the operands in the argument list.
    pub stores: Vec<Store>,
    /// For a reduction kernel: the reduced axis; it then has exactly one store.
    pub reduce: Option<Reduce>,
}

impl Kernel {
    /// The number of positions of the iteration space.
    pub fn positions(&self) -> usize {
        self.dims.iter().product()
    }

    /// What it computes in a few words, for profiles: `k3 (add, max) [128, 512]`, `k5 (mul; sum over axis 0) [128, 10]`.
    pub fn summary(&self) -> String {
        let mut ops: Vec<String> = Vec::new();
        for expr in &self.exprs {
            let op = match expr {
                Expr::Load(_) | Expr::Const(_) => continue,
                Expr::Unary(unary, _) => name(&Op::Unary(*unary)).to_string(),
                Expr::Sigmoid(_) => "sigmoid".to_string(),
                Expr::Binary(binary, ..) => name(&Op::Binary(*binary)).to_string(),
                Expr::Compare(compare, ..) => name(&Op::Compare(*compare)).to_string(),
                Expr::Select(..) => "select".to_string(),
                Expr::FromBool(_) => "from_bool".to_string(),
            };
            if !ops.contains(&op) {
                ops.push(op);
            }
        }
        let mut text = format!("{} ({}", self.name, ops.join(", "));
        if let Some(reduce) = self.reduce {
            let reduction = match reduce.reduction {
                Reduction::Sum => "sum",
                Reduction::Max => "max",
            };
            text.push_str(&format!("; {reduction} over axis {}", reduce.axis));
        }
        text.push_str(&format!(") {:?}", self.dims));
        text
    }

    /// Whether the outermost axis may be split among threads: always, unless it is the reduced axis.
    pub fn splittable(&self) -> bool {
        !self.dims.is_empty() && self.reduce.is_none_or(|reduce| reduce.axis != 0)
    }
}

impl fmt::Display for Kernel {
    /// `k3 [128, 512] sum(axis 0): %0 = load 0; %1 = exp %0; store %1 -> 1 [0, 1]`, one line per part.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.name, self.dims)?;
        if let Some(reduce) = self.reduce {
            let name = match reduce.reduction {
                Reduction::Sum => "sum",
                Reduction::Max => "max",
            };
            write!(f, " {name} over axis {}", reduce.axis)?;
        }
        writeln!(f)?;
        for (index, access) in self.operands.iter().enumerate() {
            writeln!(f, "    in{index} {}", access_text(access))?;
        }
        for (index, expr) in self.exprs.iter().enumerate() {
            let text = match expr {
                Expr::Load(operand) => format!("in{operand}"),
                Expr::Const(value) => format!("{value:?}"),
                Expr::Unary(unary, x) => format!("{} %{x}", name(&Op::Unary(*unary))),
                Expr::Sigmoid(x) => format!("sigmoid %{x}"),
                Expr::Binary(binary, a, b) => format!("{} %{a}, %{b}", name(&Op::Binary(*binary))),
                Expr::Compare(compare, a, b) => format!("{} %{a}, %{b}", name(&Op::Compare(*compare))),
                Expr::Select(condition, a, b) => format!("select %{condition}, %{a}, %{b}"),
                Expr::FromBool(x) => format!("from_bool %{x}"),
            };
            writeln!(f, "    %{index} = {text}")?;
        }
        for (index, store) in self.stores.iter().enumerate() {
            writeln!(f, "    out{index} {} = %{}", access_text(&store.access), store.expr)?;
        }
        Ok(())
    }
}

fn access_text(access: &Access) -> String {
    if access.offset == 0 {
        format!("strides {:?}", access.strides)
    } else {
        format!("offset {} strides {:?}", access.offset, access.strides)
    }
}
