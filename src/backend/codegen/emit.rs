//! The body of a kernel's native function: the loop nest of its [`Layout`], the buffers addressed with their strides
//! baked in as constants, and the kernel's expressions evaluated four positions at a time along the innermost axis,
//! with a scalar tail that runs the same instructions on lane 0.
//!
//! Three shapes of nest:
//! - elementwise: outer loops, then along the innermost axis a vector loop and a tail loop;
//! - reduction over the innermost axis: per row, a four-lane accumulator along the axis, a fixed horizontal combine
//!   (lanes 0+2 and 1+3, then the two), then the tail positions one by one;
//! - reduction over an outer axis: per row of the other axes, the innermost axis in chunks of 16, 4 and 1 lanes, each
//!   chunk accumulated in registers down the whole reduced axis in order, so that every output element combines its
//!   values sequentially, exactly as the reference does.
//!
//! Loop-invariant work is hoisted by hand: the buffer pointers are loaded once, a row's pointers are computed once
//! per row, and every expression that depends on no operand stepping along the innermost loops (constants, bias
//! rows along a column, per-row scalars) is evaluated once per row, from a broadcast.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{F32, F32X4, I64};
use cranelift_codegen::ir::{Function, InstBuilder, MemFlagsData, Value};
use cranelift_codegen::isa::TargetIsa;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};

use super::layout::Layout;
use super::vector::Vectors;
use crate::backend::kernel::{Expr, Kernel};
use crate::ir::{Binary, Compare, Reduction, Unary};
use cranelift_codegen::ir::condcodes::FloatCC;

/// Bytes per f32 element.
const ELEMENT_BYTES: i64 = 4;

/// Lanes per vector.
const LANES: i64 = 4;

/// Vectors per chunk of the innermost axis accumulated together down an outer reduced axis: 16 floats, one cache
/// line of each row.
const CHUNK_VECTORS: usize = 4;

/// Writes the body of `kernel`'s function into `function`, whose signature is already
/// `(buffers: i64, start: i64, end: i64)`.
pub(super) fn define(
    function: &mut Function,
    builder_context: &mut FunctionBuilderContext,
    kernel: &Kernel,
    layout: &Layout,
    isa: &dyn TargetIsa,
) {
    let builder = FunctionBuilder::new(function, builder_context);
    let mut emitter = Emitter::new(Vectors { builder }, kernel, layout);
    emitter.function_body();
    emitter.vectors.builder.seal_all_blocks();
    emitter.vectors.builder.finalize(isa.frontend_config());
}

/// How many lanes a step of the innermost axis covers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lanes {
    /// Four positions.
    Vector,
    /// One position, in lane 0 (the scalar tail).
    First,
}

impl Lanes {
    fn count(self) -> i64 {
        match self {
            Lanes::Vector => LANES,
            Lanes::First => 1,
        }
    }
}

/// Per buffer, a pointer to the element the current row (or position) starts at.
type Pointers = Vec<Value>;

struct Emitter<'a, 'k> {
    vectors: Vectors<'a>,
    kernel: &'k Kernel,
    layout: &'k Layout,
    /// The loop axes the innermost region steps along: the innermost axis, and an outer reduced axis.
    region_axes: Vec<usize>,
    /// Per expression, whether a store needs it.
    needed: Vec<bool>,
    /// Per expression, whether its value changes along the region axes (else it is evaluated once per row).
    varies: Vec<bool>,
    /// Loop axis 0's bounds, from the caller's range.
    axis_0_bounds: Option<(Value, Value)>,
}

impl<'a, 'k> Emitter<'a, 'k> {
    fn new(vectors: Vectors<'a>, kernel: &'k Kernel, layout: &'k Layout) -> Self {
        let inner = layout.inner_axis();
        let region_axes = match layout.reduce_axis {
            Some(axis) if axis != inner => vec![axis, inner],
            _ => vec![inner],
        };
        let mut needed = vec![false; kernel.exprs.len()];
        for store in &kernel.stores {
            needed[store.expr] = true;
        }
        for index in (0..kernel.exprs.len()).rev() {
            if needed[index] {
                for read in kernel.exprs[index].reads() {
                    needed[read] = true;
                }
            }
        }
        let mut varies = vec![false; kernel.exprs.len()];
        for (index, expr) in kernel.exprs.iter().enumerate() {
            varies[index] = match *expr {
                Expr::Load(operand) => region_axes.iter().any(|&axis| layout.buffers[operand].strides[axis] != 0),
                _ => expr.reads().into_iter().any(|read| varies[read]),
            };
        }
        Emitter { vectors, kernel, layout, region_axes, needed, varies, axis_0_bounds: None }
    }

    fn builder(&mut self) -> &mut FunctionBuilder<'a> {
        &mut self.vectors.builder
    }

    fn function_body(&mut self) {
        let entry = self.builder().create_block();
        self.builder().append_block_params_for_function_params(entry);
        self.builder().switch_to_block(entry);
        self.builder().seal_block(entry);
        if self.layout.is_empty {
            self.builder().ins().return_(&[]);
            return;
        }
        let [table, start, end] = <[Value; 3]>::try_from(self.builder().block_params(entry))
            .expect("the kernel signature has three parameters");
        let scale = self.layout.split_scale;
        let (low, high) = if scale == 1 {
            (start, end)
        } else {
            (self.builder().ins().imul_imm_s(start, scale), self.builder().ins().imul_imm_s(end, scale))
        };
        self.axis_0_bounds = Some((low, high));
        let work = self.builder().create_block();
        let exit = self.builder().create_block();
        let any = self.builder().ins().icmp(IntCC::SignedLessThan, low, high);
        self.builder().ins().brif(any, work, &[], exit, &[]);
        self.builder().switch_to_block(work);
        self.builder().seal_block(work);
        let table_flags = MemFlagsData::trusted().with_readonly();
        let pointers: Pointers = (0..self.layout.buffers.len())
            .map(|buffer| {
                let base = self.builder().ins().load(I64, table_flags, table, buffer as i32 * 8);
                let offset = self.layout.buffers[buffer].offset * ELEMENT_BYTES;
                if offset == 0 {
                    base
                } else {
                    self.builder().ins().iadd_imm_s(base, offset)
                }
            })
            .collect();
        let outer_axes: Vec<usize> =
            (0..self.layout.dims.len()).filter(|axis| !self.region_axes.contains(axis)).collect();
        self.outer_loops(&outer_axes, pointers);
        self.builder().ins().jump(exit, &[]);
        self.builder().switch_to_block(exit);
        self.builder().seal_block(exit);
        self.builder().ins().return_(&[]);
    }

    /// The loops over the axes outside the region, then the region for each of their positions.
    fn outer_loops(&mut self, axes: &[usize], pointers: Pointers) {
        let Some((&axis, rest)) = axes.split_first() else {
            self.region(pointers);
            return;
        };
        let (low, high) = self.bounds(axis);
        let counter = self.begin_loop(low, high, 1, false);
        let row = self.step_pointers(&pointers, axis, counter.index);
        self.outer_loops(rest, row);
        self.end_loop(counter);
    }

    /// The region for one row: its invariants, then the innermost loops of the kernel's shape.
    fn region(&mut self, pointers: Pointers) {
        let invariants = self.invariants(&pointers);
        let inner = self.layout.inner_axis();
        match self.layout.reduce_axis.zip(self.kernel.reduce) {
            None => self.elementwise_row(&pointers, &invariants),
            Some((axis, reduce)) if axis == inner => self.inner_reduction_row(&pointers, &invariants, reduce.reduction),
            Some((axis, reduce)) => self.outer_reduction_row(&pointers, &invariants, axis, reduce.reduction),
        }
    }

    /// The values of the needed expressions that do not vary along the region, from broadcast loads.
    fn invariants(&mut self, pointers: &Pointers) -> Vec<Option<Value>> {
        let kernel = self.kernel;
        let mut operands = vec![None; kernel.operands.len()];
        for (index, expr) in kernel.exprs.iter().enumerate() {
            if let Expr::Load(operand) = *expr {
                if self.needed[index] && !self.varies[index] && operands[operand].is_none() {
                    let scalar = self.builder().ins().load(F32, element_flags(), pointers[operand], 0);
                    operands[operand] = Some(self.builder().ins().splat(F32X4, scalar));
                }
            }
        }
        self.evaluate(vec![None; self.kernel.exprs.len()], &operands, false)
    }

    /// Evaluates, in order, the needed expressions that vary along the region (`varying`) or those that do not,
    /// into `values`, which holds the others.
    fn evaluate(
        &mut self,
        mut values: Vec<Option<Value>>,
        operands: &[Option<Value>],
        varying: bool,
    ) -> Vec<Option<Value>> {
        let kernel = self.kernel;
        for (index, expr) in kernel.exprs.iter().enumerate() {
            if self.needed[index] && self.varies[index] == varying {
                values[index] = Some(self.expression(expr, &values, operands));
            }
        }
        values
    }

    /// Elementwise: the vector loop, then the tail, storing each position's values.
    fn elementwise_row(&mut self, pointers: &Pointers, invariants: &[Option<Value>]) {
        let inner = self.layout.inner_axis();
        let (low, high) = self.bounds(inner);
        let mut next = low;
        if self.may_run(inner, LANES, None) {
            let vector_loop = self.begin_loop(low, high, LANES, true);
            self.elementwise_step(pointers, invariants, vector_loop.index, Lanes::Vector);
            next = self.end_loop(vector_loop);
        }
        if self.may_run(inner, 1, Some(LANES)) {
            let tail = self.begin_loop(next, high, 1, true);
            self.elementwise_step(pointers, invariants, tail.index, Lanes::First);
            self.end_loop(tail);
        }
    }

    fn elementwise_step(&mut self, pointers: &Pointers, invariants: &[Option<Value>], index: Value, lanes: Lanes) {
        let inner = self.layout.inner_axis();
        let values = self.position_values(pointers, invariants, &[(inner, index)], lanes);
        for (store_index, store) in self.kernel.stores.iter().enumerate() {
            let buffer = self.kernel.operands.len() + store_index;
            let value = values[store.expr].expect("a store's expression is evaluated");
            let address = self.address(pointers[buffer], index, self.layout.buffers[buffer].strides[inner]);
            self.store(value, address, self.layout.buffers[buffer].strides[inner], lanes);
        }
    }

    /// Reduction along the innermost axis: a four-lane accumulator over the vector steps, the fixed horizontal
    /// combine, then the tail positions in order; one value stored per row.
    fn inner_reduction_row(&mut self, pointers: &Pointers, invariants: &[Option<Value>], reduction: Reduction) {
        let inner = self.layout.inner_axis();
        let (low, high) = self.bounds(inner);
        let accumulator = self.builder().declare_var(F32X4);
        let start = self.vectors.constant(crate::backend::reference::start_of(reduction));
        self.builder().def_var(accumulator, start);
        let mut next = low;
        if self.may_run(inner, LANES, None) {
            let vector_loop = self.begin_loop(low, high, LANES, true);
            self.accumulate(pointers, invariants, &[(inner, vector_loop.index)], Lanes::Vector, accumulator, reduction);
            next = self.end_loop(vector_loop);
            let lanes = self.builder().use_var(accumulator);
            let upper = self.vectors.shuffle(lanes, [2, 3, 2, 3]);
            let pairs = self.combine(reduction, lanes, upper);
            let second = self.vectors.shuffle(pairs, [1, 1, 1, 1]);
            let total = self.combine(reduction, pairs, second);
            self.builder().def_var(accumulator, total);
        }
        if self.may_run(inner, 1, Some(LANES)) {
            let tail = self.begin_loop(next, high, 1, true);
            self.accumulate(pointers, invariants, &[(inner, tail.index)], Lanes::First, accumulator, reduction);
            self.end_loop(tail);
        }
        let total = self.builder().use_var(accumulator);
        let output = self.kernel.operands.len();
        self.store(total, pointers[output], 0, Lanes::First);
    }

    /// Reduction along an outer axis: the innermost axis in chunks, each accumulated in registers down the reduced
    /// axis and stored once.
    fn outer_reduction_row(
        &mut self,
        pointers: &Pointers,
        invariants: &[Option<Value>],
        axis: usize,
        reduction: Reduction,
    ) {
        let inner = self.layout.inner_axis();
        let (low, high) = self.bounds(inner);
        let mut next = low;
        let mut wider = None;
        for (vectors, lanes) in [(CHUNK_VECTORS, Lanes::Vector), (1, Lanes::Vector), (1, Lanes::First)] {
            let width = vectors as i64 * lanes.count();
            let runs = self.may_run(inner, width, wider);
            wider = Some(width);
            if !runs {
                continue;
            }
            let chunks = self.begin_loop(next, high, width, true);
            let column = chunks.index;
            let accumulators: Vec<Variable> = (0..vectors).map(|_| self.builder().declare_var(F32X4)).collect();
            let start = self.vectors.constant(crate::backend::reference::start_of(reduction));
            for &accumulator in &accumulators {
                self.builder().def_var(accumulator, start);
            }
            let (reduced_low, reduced_high) = self.bounds(axis);
            let down = self.begin_loop(reduced_low, reduced_high, 1, false);
            for (vector, &accumulator) in accumulators.iter().enumerate() {
                let index = self.builder().ins().iadd_imm_s(column, vector as i64 * LANES);
                let position = [(axis, down.index), (inner, index)];
                self.accumulate(pointers, invariants, &position, lanes, accumulator, reduction);
            }
            self.end_loop(down);
            let output = self.kernel.operands.len();
            let stride = self.layout.buffers[output].strides[inner];
            for (vector, &accumulator) in accumulators.iter().enumerate() {
                let total = self.builder().use_var(accumulator);
                let index = self.builder().ins().iadd_imm_s(column, vector as i64 * LANES);
                let address = self.address(pointers[output], index, stride);
                self.store(total, address, stride, lanes);
            }
            next = self.end_loop(chunks);
        }
    }

    /// Whether a loop stepping `width` positions along `axis`, after one stepping `wider` positions, can run at all:
    /// always along axis 0, whose bounds are the caller's; elsewhere when the extent leaves a step of `width`. A loop
    /// that cannot run is not emitted, which saves compile time (the tail of a row of 64, the vector loop of 3).
    fn may_run(&self, axis: usize, width: i64, wider: Option<i64>) -> bool {
        if axis == 0 {
            return true;
        }
        let extent = self.layout.dims[axis] as i64;
        wider.map_or(extent, |wider| extent % wider) >= width
    }

    /// Combines the stored expression's value at `position` into `accumulator`.
    fn accumulate(
        &mut self,
        pointers: &Pointers,
        invariants: &[Option<Value>],
        position: &[(usize, Value)],
        lanes: Lanes,
        accumulator: Variable,
        reduction: Reduction,
    ) {
        let values = self.position_values(pointers, invariants, position, lanes);
        let value = values[self.kernel.stores[0].expr].expect("the reduced expression is evaluated");
        let so_far = self.builder().use_var(accumulator);
        let combined = self.combine(reduction, so_far, value);
        self.builder().def_var(accumulator, combined);
    }

    fn combine(&mut self, reduction: Reduction, so_far: Value, value: Value) -> Value {
        match reduction {
            Reduction::Sum => self.vectors.add(so_far, value),
            Reduction::Max => self.vectors.max(so_far, value, true),
        }
    }

    /// Every needed expression's value at one position of the region (`position` gives the region axes' indexes),
    /// the invariants reused.
    fn position_values(
        &mut self,
        pointers: &Pointers,
        invariants: &[Option<Value>],
        position: &[(usize, Value)],
        lanes: Lanes,
    ) -> Vec<Option<Value>> {
        let (kernel, layout) = (self.kernel, self.layout);
        let inner = layout.inner_axis();
        let mut operands = vec![None; kernel.operands.len()];
        for (index, expr) in kernel.exprs.iter().enumerate() {
            if let Expr::Load(operand) = *expr {
                if self.needed[index] && self.varies[index] && operands[operand].is_none() {
                    let strides = &layout.buffers[operand].strides;
                    let mut address = pointers[operand];
                    for &(axis, at) in position {
                        address = self.address(address, at, strides[axis]);
                    }
                    operands[operand] = Some(self.load(address, strides[inner], lanes));
                }
            }
        }
        self.evaluate(invariants.to_vec(), &operands, true)
    }

    /// One expression, from the values of earlier ones and of the operands it loads.
    fn expression(&mut self, expr: &Expr, values: &[Option<Value>], operands: &[Option<Value>]) -> Value {
        let value = |read: usize| values[read].expect("an expression reads an earlier, evaluated one");
        let may_be_nan = |read: usize| !matches!(self.kernel.exprs[read], Expr::Const(c) if !c.is_nan());
        let vectors = &mut self.vectors;
        match *expr {
            Expr::Load(operand) => operands[operand].expect("a needed operand is loaded"),
            Expr::Const(constant) => vectors.constant(constant),
            Expr::Unary(unary, x) => {
                let x = value(x);
                match unary {
                    Unary::Neg => vectors.builder.ins().fneg(x),
                    Unary::Exp => vectors.exp(x),
                    Unary::Log => vectors.log(x),
                    Unary::Sqrt => vectors.builder.ins().sqrt(x),
                    Unary::Recip => {
                        let one = vectors.constant(1.0);
                        vectors.div(one, x)
                    }
                    Unary::Tanh => vectors.tanh(x),
                    Unary::Erf => vectors.erf(x),
                }
            }
            Expr::Sigmoid(x) => vectors.sigmoid(value(x)),
            Expr::Binary(binary, a, b) => {
                let (a_may_be_nan, a, b) = (may_be_nan(a), value(a), value(b));
                match binary {
                    Binary::Add => vectors.add(a, b),
                    Binary::Sub => vectors.sub(a, b),
                    Binary::Mul => vectors.mul(a, b),
                    Binary::Div => vectors.div(a, b),
                    Binary::Max => vectors.max(a, b, a_may_be_nan),
                    Binary::Min => vectors.min(a, b, a_may_be_nan),
                }
            }
            Expr::Compare(compare, a, b) => {
                let cc = match compare {
                    Compare::Lt => FloatCC::LessThan,
                    Compare::Le => FloatCC::LessThanOrEqual,
                    Compare::Gt => FloatCC::GreaterThan,
                    Compare::Ge => FloatCC::GreaterThanOrEqual,
                    Compare::Eq => FloatCC::Equal,
                    Compare::Ne => FloatCC::NotEqual,
                };
                vectors.compare(cc, value(a), value(b))
            }
            Expr::Select(condition, on_true, on_false) => {
                vectors.select(value(condition), value(on_true), value(on_false))
            }
            Expr::FromBool(condition) => {
                let one = vectors.constant(1.0);
                vectors.and(value(condition), one)
            }
        }
    }

    /// The f32 lanes at `address`, stepping `stride` elements from lane to lane.
    fn load(&mut self, address: Value, stride: i64, lanes: Lanes) -> Value {
        let flags = element_flags();
        let builder = self.builder();
        match (lanes, stride) {
            (Lanes::Vector, 1) => builder.ins().load(F32X4, flags, address, 0),
            (Lanes::Vector, 0) | (Lanes::First, _) => {
                let scalar = builder.ins().load(F32, flags, address, 0);
                builder.ins().splat(F32X4, scalar)
            }
            (Lanes::Vector, _) => {
                let first = builder.ins().load(F32, flags, address, 0);
                let mut vector = builder.ins().scalar_to_vector(F32X4, first);
                for lane in 1..LANES {
                    let lane_address = builder.ins().iadd_imm_s(address, lane * stride * ELEMENT_BYTES);
                    let scalar = builder.ins().load(F32, flags, lane_address, 0);
                    vector = builder.ins().insertlane(vector, scalar, lane as u8);
                }
                vector
            }
        }
    }

    /// Stores the lanes of `value` at `address`, stepping `stride` elements from lane to lane; with stride 0 the
    /// last lane is what remains, as when the positions are written in order.
    fn store(&mut self, value: Value, address: Value, stride: i64, lanes: Lanes) {
        let flags = element_flags();
        let builder = self.builder();
        match (lanes, stride) {
            (Lanes::Vector, 1) => {
                builder.ins().store(flags, value, address, 0);
            }
            (Lanes::First, _) => {
                let scalar = builder.ins().extractlane(value, 0);
                builder.ins().store(flags, scalar, address, 0);
            }
            (Lanes::Vector, 0) => {
                let scalar = builder.ins().extractlane(value, (LANES - 1) as u8);
                builder.ins().store(flags, scalar, address, 0);
            }
            (Lanes::Vector, _) => {
                for lane in 0..LANES {
                    let scalar = builder.ins().extractlane(value, lane as u8);
                    let lane_address = builder.ins().iadd_imm_s(address, lane * stride * ELEMENT_BYTES);
                    builder.ins().store(flags, scalar, lane_address, 0);
                }
            }
        }
    }

    /// `pointer` advanced by `index` steps of `stride` elements.
    fn address(&mut self, pointer: Value, index: Value, stride: i64) -> Value {
        let offset = match stride {
            0 => return pointer,
            1 => self.builder().ins().ishl_imm_s(index, 2),
            _ => self.builder().ins().imul_imm_s(index, stride * ELEMENT_BYTES),
        };
        self.builder().ins().iadd(pointer, offset)
    }

    /// Every buffer's pointer advanced to `index` along `axis`.
    fn step_pointers(&mut self, pointers: &Pointers, axis: usize, index: Value) -> Pointers {
        (0..pointers.len())
            .map(|buffer| self.address(pointers[buffer], index, self.layout.buffers[buffer].strides[axis]))
            .collect()
    }

    /// The index range of a loop axis: the caller's scaled range for axis 0, else the whole axis.
    fn bounds(&mut self, axis: usize) -> (Value, Value) {
        match (axis, self.axis_0_bounds) {
            (0, Some(bounds)) => bounds,
            _ => {
                let low = self.builder().ins().iconst(I64, 0);
                let extent = self.layout.dims[axis] as i64;
                let high = self.builder().ins().iconst(I64, extent);
                (low, high)
            }
        }
    }

    /// Opens a loop over `index = low, low + step, ...` while `index + step <= high`; `step` is a power of two.
    /// `guarded` checks before the first step (a loop known to run at least once needs no check). The body is
    /// emitted after this call.
    fn begin_loop(&mut self, low: Value, high: Value, step: i64, guarded: bool) -> Counter {
        debug_assert!(step > 0 && step & (step - 1) == 0, "a loop step of {step}");
        let builder = self.builder();
        let variable = builder.declare_var(I64);
        builder.def_var(variable, low);
        // The loop ends at `low + (high - low) rounded down to a multiple of step`, computed once: the test in the
        // loop is then a plain compare (an `index + step <= high` would add in every iteration).
        let end = if step == 1 {
            high
        } else {
            let span = builder.ins().isub(high, low);
            let whole_steps = builder.ins().band_imm_s(span, -step);
            builder.ins().iadd(low, whole_steps)
        };
        let body = builder.create_block();
        let exit = builder.create_block();
        if guarded {
            let runs = builder.ins().icmp(IntCC::SignedLessThan, low, end);
            builder.ins().brif(runs, body, &[], exit, &[]);
        } else {
            builder.ins().jump(body, &[]);
        }
        builder.switch_to_block(body);
        let index = builder.use_var(variable);
        Counter { variable, index, step, end, body, exit }
    }

    /// Closes a loop opened by [`Emitter::begin_loop`]; returns the first index it did not run.
    fn end_loop(&mut self, counter: Counter) -> Value {
        let builder = self.builder();
        let next = builder.ins().iadd_imm_s(counter.index, counter.step);
        builder.def_var(counter.variable, next);
        let again = builder.ins().icmp(IntCC::SignedLessThan, next, counter.end);
        builder.ins().brif(again, counter.body, &[], counter.exit, &[]);
        builder.seal_block(counter.body);
        builder.switch_to_block(counter.exit);
        builder.seal_block(counter.exit);
        builder.use_var(counter.variable)
    }
}

/// An open loop.
struct Counter {
    variable: Variable,
    /// The index in the body.
    index: Value,
    step: i64,
    /// Where the loop stops: the first index past its last step.
    end: Value,
    body: cranelift_codegen::ir::Block,
    exit: cranelift_codegen::ir::Block,
}

/// Element loads and stores: in bounds by the caller's contract, so they never trap; not claimed aligned (vectors
/// start at any element) and not read-only (an output may share memory with an operand).
fn element_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}
