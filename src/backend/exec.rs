//! The executor: runs a [`Program`] (a plan with its kernels compiled) on named input tensors.
//!
//! Values live in row-major buffers; views are read through their strides, never copied, except where an op on
//! the interpreter's kernels needs a tensor of its own. A buffer goes back to a pool after the last step that reads
//! it, and the next value of the same size takes it (the memory planner's liveness, applied at run time).
//!
//! Threads: a kernel whose outermost axis may be split runs its rows on the current rayon pool once it is large
//! enough; each position is computed by the same code whatever the split, so the results do not depend on the
//! thread count. GEMM splits only its output tiles among threads, never the sum over `k`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;

use super::codegen::{compile, CodegenError, Compiled};
use super::cpu::CpuPath;
use super::gemm::{matmul, matmul_then, Part};
use super::kernel::Access;
use super::plan::{is_f32_movement, Layout, Operand, Plan, Step};
use crate::interpreter::{kernel as interpret, Tensor};
use crate::ir::{DType, NodeId, Op, TensorType, Type};

/// Kernels with fewer positions than this run on one thread: below it, handing rows to threads costs more than
/// it saves.
const PARALLEL_POSITIONS: usize = 1 << 15;

/// The most free buffers of one size the pool keeps.
const POOLED_PER_SIZE: usize = 32;

/// A graph compiled for the CPU: its plan, the native code of its kernels, and its scans' bodies.
pub struct Program {
    plan: Plan,
    /// The CPU path its kernels were compiled for and its products run on.
    path: CpuPath,
    compiled: Compiled,
    /// The compiled body of each scan step, by step index.
    bodies: BTreeMap<usize, Program>,
    /// Buffers free for the next run, by length.
    pool: Mutex<Pool>,
    /// Time spent in each step and how often it ran, recorded while [`super::profiling`] is on.
    timings: Mutex<Vec<(Duration, u64)>>,
    /// By step: a `get` that is the only step reading its part of a tuple, so it moves the part out, not a copy.
    moves_part: Vec<bool>,
}

/// Where a program's time went: one step's total time over the runs profiled.
#[derive(Clone, Debug, PartialEq)]
pub struct StepTime {
    /// What the step does, for instance `gemm [128, 1000] x [1000, 512]` or `kernel k3 (add, max) [128, 512]`.
    pub label: String,
    /// Seconds over every run.
    pub seconds: f64,
    /// How many times it ran.
    pub calls: u64,
}

impl Program {
    /// Compiles a plan for `path`, which this CPU must support ([`crate::compile`] plans and verifies first).
    pub fn from_plan(plan: Plan, path: CpuPath) -> Result<Program, CodegenError> {
        let compiled = compile(&plan.kernels, path)?;
        let mut bodies = BTreeMap::new();
        for (index, step) in plan.steps.iter().enumerate() {
            if let Step::Scan { body, .. } = step {
                bodies.insert(index, Program::from_plan((**body).clone(), path)?);
            }
        }
        let timings = Mutex::new(vec![(Duration::ZERO, 0); plan.steps.len()]);
        let moves_part = plan.moved_parts();
        Ok(Program { plan, path, compiled, bodies, pool: Mutex::new(Pool::default()), timings, moves_part })
    }

    /// The CPU path the program was compiled for.
    pub fn path(&self) -> CpuPath {
        self.path
    }

    /// The plan (for `galen compile --emit kernels`).
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Runs the program on its inputs, given in the graph's input order, and returns its outputs in order.
    ///
    /// The inputs must have the graph's types (the runtime builds them from the same graph; the interpreter's
    /// `run` is the checked entry).
    pub fn execute(&self, inputs: Vec<Cow<'_, Tensor>>) -> Vec<Tensor> {
        let inputs = inputs
            .into_iter()
            .map(|input| match input {
                Cow::Borrowed(tensor) if is_standard(tensor) => Value::Tensor(Cow::Borrowed(tensor)),
                tensor => Value::Tensor(Cow::Owned(tensor.into_owned().into_standard_layout())),
            })
            .collect();
        self.run_values(inputs)
    }

    /// [`Program::execute`] on inputs already made values: row-major tensors, or borrowed f32 elements (a scan step's
    /// slice of a sequence, read in place).
    fn run_values(&self, inputs: Vec<Value<'_>>) -> Vec<Tensor> {
        let graph = &self.plan.graph;
        let mut values: Vec<Option<Value>> = (0..graph.nodes.len()).map(|_| None).collect();
        for ((id, _, _), input) in graph.inputs().into_iter().zip(inputs) {
            values[id.index()] = Some(input);
        }
        // The buffers freed by earlier runs are reused: a training step allocates nothing once warm.
        let mut pool = std::mem::take(&mut *self.pool.lock().unwrap_or_else(PoisonError::into_inner));
        let mut times: Option<Vec<Duration>> = super::profiling().then(|| Vec::with_capacity(self.plan.steps.len()));
        for (step_index, (step, frees)) in self.plan.steps.iter().zip(&self.plan.frees).enumerate() {
            let started = times.as_ref().map(|_| Instant::now());
            match step {
                Step::Kernel { kernel, reads, writes } => {
                    let stolen = self.reusable_operands(*kernel, reads, writes, frees, &mut values);
                    let outputs = self.run_kernel(*kernel, reads, writes, &values, &mut pool, stolen);
                    for (node, output) in writes.iter().zip(outputs) {
                        values[node.index()] = Some(Value::Tensor(Cow::Owned(Tensor::F32(output))));
                    }
                }
                Step::MatMul { node, a, b, epilogue } => {
                    let shape = &graph.tensor_type(*node).shape;
                    let mut out = pool.take(shape.iter().product());
                    // The epilogue may update in place what nothing later reads, but not what the product reads:
                    // other parts of the product may still be reading it.
                    let reused = match epilogue {
                        Some(epilogue) => {
                            let free: Vec<NodeId> =
                                frees.iter().copied().filter(|&free| free != a.base && free != b.base).collect();
                            self.reusable_operands(
                                epilogue.kernel,
                                &epilogue.reads,
                                &epilogue.writes,
                                &free,
                                &mut values,
                            )
                        }
                        None => Vec::new(),
                    };
                    let (a_slice, b_slice) = (f32_slice(&values, a.base), f32_slice(&values, b.base));
                    match epilogue {
                        None => matmul(self.path, a_slice, &a.layout, b_slice, &b.layout, &mut out, shape),
                        Some(epilogue) => {
                            let product = (*node, out.len());
                            let mut reuse = Reuse { reused, pool: &mut pool };
                            let mut call = self.kernel_call(
                                epilogue.kernel,
                                &epilogue.reads,
                                &epilogue.writes,
                                &values,
                                &mut reuse,
                                Some(product),
                            );
                            let per_row = epilogue.per_row;
                            let run = |part: &Part, out: *const f32| {
                                // SAFETY: `kernel_call` checked every buffer covers the kernel's addresses (the
                                // product's too); the rows of `part` are computed, and parts are disjoint rows.
                                unsafe {
                                    call.run(&self.compiled, Some(out), part.rows.0 * per_row, part.rows.1 * per_row)
                                };
                            };
                            matmul_then(self.path, a_slice, &a.layout, b_slice, &b.layout, &mut out, shape, Some(&run));
                            for (node, output) in epilogue.writes.iter().zip(call.outputs.drain(..)) {
                                values[node.index()] = Some(Value::Tensor(Cow::Owned(Tensor::F32(output))));
                            }
                        }
                    }
                    values[node.index()] = Some(Value::Tensor(Cow::Owned(Tensor::F32(array(shape, out)))));
                }
                Step::Scan { node, inputs, .. } => {
                    let Op::Scan(scan) = &graph.node(*node).op else { unreachable!("a scan step runs a scan") };
                    let Type::Tuple(parts) = &graph.node(*node).ty else { unreachable!("a scan is a tuple") };
                    let arguments: Vec<Cow<Tensor>> = inputs.iter().map(|input| read(&values, input)).collect();
                    let body = &self.bodies[&step_index];
                    values[node.index()] = Some(Value::Tuple(run_scan(scan, body, &arguments, parts, &mut pool)));
                }
                Step::Node { node, inputs } if is_f32_movement(graph, *node) => {
                    let shape = &graph.tensor_type(*node).shape;
                    let mut out = pool.take(shape.iter().product());
                    let sources: Vec<(&[f32], &Layout)> =
                        inputs.iter().map(|input| (f32_slice(&values, input.base), &input.layout)).collect();
                    movement(&graph.node(*node).op, &sources, &mut out, shape);
                    values[node.index()] = Some(Value::Tensor(Cow::Owned(Tensor::F32(array(shape, out)))));
                }
                Step::Node { node, inputs } => {
                    let value = match &graph.node(*node).op {
                        Op::Get { index } => match &mut values[inputs[0].base.index()] {
                            Some(Value::Tuple(parts)) if self.moves_part[step_index] => {
                                std::mem::replace(&mut parts[*index], Tensor::F32(ArrayD::zeros(IxDyn(&[0]))))
                            }
                            Some(Value::Tuple(parts)) => Tensor::clone(&parts[*index]),
                            _ => unreachable!("`get` reads a computed tuple"),
                        },
                        op => {
                            let arguments: Vec<Cow<Tensor>> = inputs.iter().map(|input| read(&values, input)).collect();
                            let arguments: Vec<&Tensor> = arguments.iter().map(|argument| argument.as_ref()).collect();
                            interpret(op, &arguments, graph.tensor_type(*node)).into_standard_layout()
                        }
                    };
                    values[node.index()] = Some(Value::Tensor(Cow::Owned(value)));
                }
            }
            for free in frees {
                if let Some(Value::Tensor(Cow::Owned(Tensor::F32(array)))) = values[free.index()].take() {
                    pool.give(array.into_raw_vec_and_offset().0);
                }
            }
            if let (Some(times), Some(started)) = (times.as_mut(), started) {
                times.push(started.elapsed());
            }
        }
        if let Some(times) = times {
            let mut timings = self.timings.lock().unwrap_or_else(PoisonError::into_inner);
            for ((total, calls), time) in timings.iter_mut().zip(times) {
                *total += time;
                *calls += 1;
            }
        }
        // An output read whole from a buffer nothing later reads is moved out, not copied.
        let mut remaining: BTreeMap<NodeId, usize> = BTreeMap::new();
        for (_, operand) in &self.plan.outputs {
            *remaining.entry(operand.base).or_default() += 1;
        }
        let outputs = self
            .plan
            .outputs
            .iter()
            .map(|(_, operand)| {
                let count = remaining.get_mut(&operand.base).expect("every output is counted");
                *count -= 1;
                let whole = operand.layout.is_contiguous()
                    && graph.node(operand.base).ty.tensor().is_some_and(|ty| ty.shape == operand.layout.shape);
                let owned = matches!(values[operand.base.index()], Some(Value::Tensor(Cow::Owned(_))));
                if *count == 0 && whole && owned {
                    if let Some(Value::Tensor(tensor)) = values[operand.base.index()].take() {
                        return tensor.into_owned();
                    }
                }
                read(&values, operand).into_owned()
            })
            .collect();
        *self.pool.lock().unwrap_or_else(PoisonError::into_inner) = pool;
        outputs
    }

    /// The time of every step over the runs made while profiling was on (scan bodies' steps follow their scan,
    /// labelled `scan body:`), in step order.
    pub fn profile(&self) -> Vec<StepTime> {
        let timings = self.timings.lock().unwrap_or_else(PoisonError::into_inner);
        let mut profile = Vec::new();
        for (index, (step, &(time, calls))) in self.plan.steps.iter().zip(timings.iter()).enumerate() {
            profile.push(StepTime { label: self.plan.step_label(step), seconds: time.as_secs_f64(), calls });
            if let Some(body) = self.bodies.get(&index) {
                profile.extend(
                    body.profile()
                        .into_iter()
                        .map(|step| StepTime { label: format!("scan body: {}", step.label), ..step }),
                );
            }
        }
        profile
    }

    /// Runs the outputs of `inputs` by name, like the interpreter's `run` (names the graph does not take are
    /// ignored). Panics when an input is missing: the runtime builds the map from the graph's own inputs.
    pub fn run(&self, inputs: &BTreeMap<String, Tensor>) -> BTreeMap<String, Tensor> {
        let graph = &self.plan.graph;
        let ordered = graph
            .inputs()
            .into_iter()
            .map(|(_, name, _)| Cow::Borrowed(inputs.get(name).unwrap_or_else(|| panic!("missing input `{name}`"))))
            .collect();
        graph.outputs.iter().map(|output| output.name.clone()).zip(self.execute(ordered)).collect()
    }

    fn run_kernel(
        &self,
        index: usize,
        reads: &[NodeId],
        writes: &[NodeId],
        values: &[Option<Value>],
        pool: &mut Pool,
        reused: Vec<Option<(NodeId, Vec<f32>)>>,
    ) -> Vec<ArrayD<f32>> {
        let mut pool = Reuse { reused, pool };
        let mut call = self.kernel_call(index, reads, writes, values, &mut pool, None);
        let kernel = &self.plan.kernels[index];
        let rows = kernel.dims[0];
        let threads = rayon::current_num_threads();
        if kernel.splittable() && threads > 1 && kernel.positions() >= PARALLEL_POSITIONS && rows > 1 {
            let chunks = (threads * 4).min(rows);
            let per_chunk = rows.div_ceil(chunks);
            let call = &call;
            (0..rows.div_ceil(per_chunk)).into_par_iter().for_each(|chunk| {
                let start = chunk * per_chunk;
                let end = (start + per_chunk).min(rows);
                // SAFETY: `kernel_call` checked every buffer covers the kernel's addresses; chunks write disjoint
                // rows.
                unsafe { call.run(&self.compiled, None, start, end) };
            });
        } else {
            // SAFETY: `kernel_call` checked every buffer covers the kernel's addresses.
            unsafe { call.run(&self.compiled, None, 0, rows) };
        }
        std::mem::take(&mut call.outputs)
    }

    /// The operand buffers a kernel may write its stores into, in place, by store: an operand's own buffer, handed
    /// to the program by value or computed by it, that no later step reads, of the store's size, and read by every
    /// operand slot exactly where the store writes (each position is loaded before it is stored, so the update is
    /// safe). Adam's parameter and moments are updated this way, in the buffers they came in. Taken out of `values`.
    fn reusable_operands(
        &self,
        index: usize,
        reads: &[NodeId],
        writes: &[NodeId],
        frees: &[NodeId],
        values: &mut [Option<Value>],
    ) -> Vec<Option<(NodeId, Vec<f32>)>> {
        let kernel = &self.plan.kernels[index];
        let graph = &self.plan.graph;
        let mut reused: Vec<Option<(NodeId, Vec<f32>)>> = (0..writes.len()).map(|_| None).collect();
        if kernel.reduce.is_some() {
            return reused;
        }
        for (store, (code, &node)) in kernel.stores.iter().zip(writes).enumerate() {
            let len: usize = graph.tensor_type(node).shape.iter().product();
            let candidate = reads.iter().zip(&kernel.operands).find_map(|(&read, access)| {
                let owned_whole = matches!(
                    &values[read.index()],
                    Some(Value::Tensor(Cow::Owned(Tensor::F32(array)))) if array.len() == len && array.is_standard_layout()
                );
                let same_everywhere = reads
                    .iter()
                    .zip(&kernel.operands)
                    .all(|(&other, other_access)| other != read || other_access == &code.access);
                (access == &code.access && frees.contains(&read) && owned_whole && same_everywhere).then_some(read)
            });
            if let Some(read) = candidate {
                if let Some(Value::Tensor(Cow::Owned(Tensor::F32(array)))) = values[read.index()].take() {
                    reused[store] = Some((read, array.into_raw_vec_and_offset().0));
                }
            }
        }
        reused
    }

    /// A kernel's arguments: its operands' buffers, checked large enough for every address the kernel reaches, and
    /// new output buffers from the pool. `product` is `(node, length)` of a matrix product the kernel reads as an
    /// epilogue, whose buffer is only passed when the kernel runs ([`KernelCall::run`]).
    fn kernel_call(
        &self,
        index: usize,
        reads: &[NodeId],
        writes: &[NodeId],
        values: &[Option<Value>],
        pool: &mut Reuse,
        product: Option<(NodeId, usize)>,
    ) -> KernelCall {
        let kernel = &self.plan.kernels[index];
        let graph = &self.plan.graph;
        let reused: Vec<Option<NodeId>> = (0..writes.len()).map(|store| pool.reused_operand(store)).collect();
        let mut outputs: Vec<ArrayD<f32>> = writes
            .iter()
            .enumerate()
            .map(|(store, node)| {
                let shape = &graph.tensor_type(*node).shape;
                array(shape, pool.take(store, shape.iter().product()))
            })
            .collect();
        // The operands are read only, except those whose buffer a store took over: the kernel loads each of their
        // positions before it stores it.
        let mut pointers: Vec<*mut f32> = Vec::with_capacity(reads.len() + writes.len());
        let mut product_operands = Vec::new();
        for ((operand, &node), access) in reads.iter().enumerate().zip(&kernel.operands) {
            let taken_by = reused.iter().position(|&reused| reused == Some(node));
            let (pointer, len) = match (product, taken_by) {
                (Some((product, len)), _) if product == node => {
                    product_operands.push(operand);
                    (std::ptr::null_mut(), len)
                }
                (_, Some(store)) => (outputs[store].as_mut_ptr(), outputs[store].len()),
                _ => {
                    let slice = f32_slice(values, node);
                    (slice.as_ptr() as *mut f32, slice.len())
                }
            };
            assert!(reach(access, &kernel.dims) < len, "kernel {} reads past an operand", kernel.name);
            pointers.push(pointer);
        }
        let mut call = KernelCall { index, pointers, product_operands, outputs };
        for (store, output) in kernel.stores.iter().zip(&mut call.outputs) {
            assert!(reach(&store.access, &kernel.dims) < output.len(), "kernel {} writes past a buffer", kernel.name);
            call.pointers.push(output.as_mut_ptr());
        }
        call
    }
}

/// Where a kernel's output buffers come from: an operand's buffer the kernel may overwrite in place (by store), else
/// the pool.
struct Reuse<'p> {
    reused: Vec<Option<(NodeId, Vec<f32>)>>,
    pool: &'p mut Pool,
}

impl Reuse<'_> {
    /// The operand whose buffer store `store` takes over, if any.
    fn reused_operand(&self, store: usize) -> Option<NodeId> {
        self.reused.get(store).and_then(|entry| entry.as_ref().map(|(node, _)| *node))
    }

    fn take(&mut self, store: usize, len: usize) -> Vec<f32> {
        match self.reused.get_mut(store).and_then(Option::take) {
            Some((_, buffer)) if buffer.len() == len => buffer,
            Some((_, buffer)) => {
                self.pool.give(buffer);
                self.pool.take(len)
            }
            None => self.pool.take(len),
        }
    }
}

/// A kernel with its arguments ready (see [`Program::kernel_call`]).
struct KernelCall {
    index: usize,
    /// The operands, then the outputs; a product's slots are filled in by [`KernelCall::run`].
    pointers: Vec<*mut f32>,
    /// The operand slots that read the product of an epilogue.
    product_operands: Vec<usize>,
    /// The output buffers the stores fill.
    outputs: Vec<ArrayD<f32>>,
}

// SAFETY: the pointers are only dereferenced by kernel code, on disjoint rows of the outputs, while the buffers
// they point into are kept alive by the caller.
unsafe impl Sync for KernelCall {}

impl KernelCall {
    /// Runs positions `start..end` of the kernel's outermost axis, with `product` as the product's buffer.
    ///
    /// # Safety
    /// The buffers must still be alive, `product` must hold the product's elements, and no other thread may run an
    /// overlapping range.
    unsafe fn run(&self, compiled: &Compiled, product: Option<*const f32>, start: usize, end: usize) {
        if self.product_operands.is_empty() {
            compiled.call_raw(self.index, self.pointers.as_ptr(), start, end);
        } else {
            let product = product.expect("an epilogue runs with its product") as *mut f32;
            let mut pointers = self.pointers.clone();
            for &operand in &self.product_operands {
                pointers[operand] = product;
            }
            compiled.call_raw(self.index, pointers.as_ptr(), start, end);
        }
    }
}

/// The largest element index an access reaches over `dims` (strides are never negative).
fn reach(access: &Access, dims: &[usize]) -> usize {
    access.offset + dims.iter().zip(&access.strides).map(|(&size, &stride)| (size - 1) * stride as usize).sum::<usize>()
}

/// A node's value while a program runs.
enum Value<'a> {
    Tensor(Cow<'a, Tensor>),
    /// Row-major f32 elements of the node's shape, borrowed: a scan step's slice of a sequence.
    Slice(&'a [f32]),
    Tuple(Vec<Tensor>),
}

/// Freed buffers by length, reused for later values of the same size.
#[derive(Default)]
struct Pool {
    free: BTreeMap<usize, Vec<Vec<f32>>>,
}

impl Pool {
    fn take(&mut self, len: usize) -> Vec<f32> {
        match self.free.get_mut(&len).and_then(Vec::pop) {
            Some(buffer) => buffer,
            None => vec![0.0; len],
        }
    }

    /// Keeps a buffer for later, up to [`POOLED_PER_SIZE`] of a size: a scan's body is handed its carries as new
    /// buffers every step and gets its stacked outputs' buffers back, so without a bound its pool could only grow.
    fn give(&mut self, buffer: Vec<f32>) {
        let free = self.free.entry(buffer.len()).or_default();
        if free.len() < POOLED_PER_SIZE {
            free.push(buffer);
        }
    }
}

fn is_standard(tensor: &Tensor) -> bool {
    match tensor {
        Tensor::F32(array) => array.is_standard_layout(),
        Tensor::F64(array) => array.is_standard_layout(),
        Tensor::I32(array) => array.is_standard_layout(),
        Tensor::Bool(array) => array.is_standard_layout(),
    }
}

fn array(shape: &[usize], buffer: Vec<f32>) -> ArrayD<f32> {
    ArrayD::from_shape_vec(IxDyn(shape), buffer).expect("a buffer holds its shape's elements")
}

/// The row-major elements of an f32 node's buffer.
fn f32_slice<'v>(values: &'v [Option<Value>], node: NodeId) -> &'v [f32] {
    match &values[node.index()] {
        Some(Value::Tensor(tensor)) => tensor
            .as_f32()
            .and_then(|array| array.as_slice())
            .unwrap_or_else(|| panic!("{node} is read as a row-major f32 buffer")),
        Some(Value::Slice(slice)) => slice,
        _ => panic!("{node} is read before it is computed"),
    }
}

/// A value as a tensor of its own: the buffer itself when read whole, else the view's elements copied (and a
/// borrowed slice's always).
fn read<'v>(values: &'v [Option<Value>], operand: &Operand) -> Cow<'v, Tensor> {
    let tensor = match &values[operand.base.index()] {
        Some(Value::Tensor(tensor)) => tensor.as_ref(),
        Some(Value::Slice(slice)) => return Cow::Owned(Tensor::F32(gather(slice, &operand.layout))),
        _ => panic!("{} is read before it is computed", operand.base),
    };
    if tensor.shape() == operand.layout.shape.as_slice() && operand.layout.is_contiguous() {
        return Cow::Borrowed(tensor);
    }
    let source = tensor.as_f32().and_then(|array| array.as_slice()).expect("views are of f32 buffers");
    Cow::Owned(Tensor::F32(gather(source, &operand.layout)))
}

/// The elements of a strided view, copied in row-major order.
pub fn gather(source: &[f32], layout: &Layout) -> ArrayD<f32> {
    let count: usize = layout.shape.iter().product();
    let mut out = vec![0.0; count];
    copy_strided(source, layout, &mut out, &Layout::contiguous(&layout.shape));
    array(&layout.shape, out)
}

/// A pad or a concat into `out` (row-major, of `shape`), each source read through its layout: a pad fills `out`
/// with its value and copies the source into the window that skips the padding; a concat copies each part into
/// its slab along the axis. The interpreter's kernels would first copy every strided view into a tensor.
fn movement(op: &Op, sources: &[(&[f32], &Layout)], out: &mut [f32], shape: &[usize]) {
    let whole = Layout::contiguous(shape);
    match op {
        Op::Pad { low, interior, value, .. } => {
            out.fill(*value as f32);
            let (source, from) = sources[0];
            let to = Layout {
                offset: low.iter().zip(&whole.strides).map(|(&low, &stride)| low * stride as usize).sum(),
                shape: from.shape.clone(),
                strides: whole
                    .strides
                    .iter()
                    .zip(interior)
                    .map(|(&stride, &gap)| stride * (gap as isize + 1))
                    .collect(),
            };
            copy_strided(source, from, out, &to);
        }
        Op::Concat { axis } => {
            let mut start = 0;
            for &(source, from) in sources {
                let to = Layout {
                    offset: start * whole.strides[*axis] as usize,
                    shape: from.shape.clone(),
                    strides: whole.strides.clone(),
                };
                copy_strided(source, from, out, &to);
                start += from.shape[*axis];
            }
        }
        _ => unreachable!("only pads and concats are copied by the executor"),
    }
}

/// Copies the elements of `source` read through `from` into `target` written through `to` (layouts of one shape).
fn copy_strided(source: &[f32], from: &Layout, target: &mut [f32], to: &Layout) {
    // Axes of size 1 move nothing; the last remaining axis is the inner loop.
    let axes: Vec<usize> = (0..from.shape.len()).filter(|&axis| from.shape[axis] != 1).collect();
    let count: usize = from.shape.iter().product();
    if count == 0 {
        return;
    }
    assert!(from.reach() < source.len() && to.reach() < target.len(), "a copy stays inside its buffers");
    let Some((&inner, outer)) = axes.split_last() else {
        target[to.offset] = source[from.offset];
        return;
    };
    let (length, from_step, to_step) = (from.shape[inner], from.strides[inner], to.strides[inner]);
    let mut index = vec![0usize; outer.len()];
    let (mut from_row, mut to_row) = (from.offset as isize, to.offset as isize);
    loop {
        if from_step == 1 && to_step == 1 {
            let (f, t) = (from_row as usize, to_row as usize);
            target[t..t + length].copy_from_slice(&source[f..f + length]);
        } else {
            for i in 0..length as isize {
                target[(to_row + i * to_step) as usize] = source[(from_row + i * from_step) as usize];
            }
        }
        // The next row: an odometer over the outer axes, moving both offsets by their strides.
        let mut level = outer.len();
        loop {
            if level == 0 {
                return;
            }
            level -= 1;
            let axis = outer[level];
            index[level] += 1;
            from_row += from.strides[axis];
            to_row += to.strides[axis];
            if index[level] < from.shape[axis] {
                break;
            }
            from_row -= from.strides[axis] * from.shape[axis] as isize;
            to_row -= to.strides[axis] * to.shape[axis] as isize;
            index[level] = 0;
        }
    }
}

/// Runs a scan's steps, each running the body's program on the carries, its slice of each sequence (borrowed) and
/// the invariants. The stacked per-step outputs of f32 take their buffers from `pool` (every step writes its slice,
/// so their old contents never show); a part that a `get` moves out goes back to the pool when its last reader is
/// done, so a warm training step allocates (and page-faults) nothing for it.
fn run_scan(
    scan: &crate::ir::Scan,
    body: &Program,
    inputs: &[Cow<Tensor>],
    parts: &[TensorType],
    pool: &mut Pool,
) -> Vec<Tensor> {
    let sequences_end = scan.carries + scan.sequences;
    let mut carries: Vec<Tensor> = inputs[..scan.carries].iter().map(|carry| carry.as_ref().clone()).collect();
    let mut stacked: Vec<Tensor> = parts[scan.carries..]
        .iter()
        .map(|ty| match ty.dtype {
            DType::F32 if scan.steps > 0 => Tensor::F32(array(&ty.shape, pool.take(ty.shape.iter().product()))),
            _ => Tensor::filled(ty, 0.0),
        })
        .collect();
    let steps: Box<dyn Iterator<Item = usize>> =
        if scan.reverse { Box::new((0..scan.steps).rev()) } else { Box::new(0..scan.steps) };
    for step in steps {
        let mut body_inputs: Vec<Value> = Vec::with_capacity(inputs.len());
        body_inputs.extend(carries.drain(..).map(|carry| Value::Tensor(Cow::Owned(carry))));
        body_inputs.extend(inputs[scan.carries..sequences_end].iter().map(|sequence| step_slice(sequence, step)));
        body_inputs
            .extend(inputs[sequences_end..].iter().map(|invariant| Value::Tensor(Cow::Borrowed(invariant.as_ref()))));
        let mut outputs = body.run_values(body_inputs);
        let per_step = outputs.split_off(scan.carries);
        carries = outputs;
        for (stack, output) in stacked.iter_mut().zip(per_step) {
            stack.set_step(step, &output);
            body.recycle(output);
        }
    }
    carries.extend(stacked);
    carries
}

/// Slice `step` of a scan sequence's first axis: its elements borrowed in place when the sequence is f32 in row-major
/// order (the scan's own inputs are), else copied out.
fn step_slice(sequence: &Tensor, step: usize) -> Value<'_> {
    match sequence {
        Tensor::F32(array) if array.is_standard_layout() => {
            let len: usize = array.shape()[1..].iter().product();
            let all = array.as_slice().expect("a standard-layout array is one slice");
            Value::Slice(&all[step * len..(step + 1) * len])
        }
        _ => Value::Tensor(Cow::Owned(sequence.step(step))),
    }
}

impl Program {
    /// Gives an f32 tensor's buffer to this program's pool, for the next run (a scan step's output once stacked).
    fn recycle(&self, tensor: Tensor) {
        if let Tensor::F32(array) = tensor {
            let (buffer, offset) = array.into_raw_vec_and_offset();
            if offset.unwrap_or(0) == 0 {
                self.pool.lock().unwrap_or_else(PoisonError::into_inner).give(buffer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_keeps_a_bounded_number_of_buffers_per_size() {
        let mut pool = Pool::default();
        for _ in 0..POOLED_PER_SIZE + 10 {
            pool.give(vec![0.0; 64]);
        }
        assert_eq!(pool.free[&64].len(), POOLED_PER_SIZE);
        assert_eq!(pool.take(64).len(), 64);
        assert_eq!(pool.free[&64].len(), POOLED_PER_SIZE - 1);
        assert_eq!(pool.take(8).len(), 8, "a size it does not hold is allocated");
    }

    #[test]
    fn strided_copies_match_an_index_by_index_copy() {
        // A [2, 3, 4] buffer read transposed and sliced: shape [4, 2] from offset 1, strides [1, 12].
        let source: Vec<f32> = (0..24).map(|i| i as f32).collect();
        let layout = Layout { offset: 1, shape: vec![4, 2], strides: vec![1, 12] };
        let copied = gather(&source, &layout);
        let expected: Vec<f32> = (0..4).flat_map(|i| (0..2).map(move |j| (1 + i + 12 * j) as f32)).collect();
        assert_eq!(copied.as_slice().unwrap(), expected.as_slice());
        // A pad with interior gaps, and a concat along the last axis.
        let mut out = vec![9.0; 2 * 5];
        let pad = Op::Pad { low: vec![0, 1], high: vec![0, 1], interior: vec![0, 1], value: 0.0 };
        movement(&pad, &[(&source[..4], &Layout::contiguous(&[2, 2]))], &mut out, &[2, 5]);
        assert_eq!(out, vec![0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 2.0, 0.0, 3.0, 0.0]);
        let mut out = vec![0.0; 2 * 3];
        let parts = [(&source[..2], &Layout::contiguous(&[2, 1])), (&source[10..14], &Layout::contiguous(&[2, 2]))];
        movement(&Op::Concat { axis: 1 }, &parts, &mut out, &[2, 3]);
        assert_eq!(out, vec![0.0, 10.0, 11.0, 1.0, 12.0, 13.0]);
    }
}
