//! The kernel plan's verifier: checks that a [`Plan`] is one the executor ([`super::exec`]) can run as it assumes,
//! so that a mistake in fusion or scheduling is an error naming the step and the node, not a crash or a wrong
//! number later. It checks the plan and, recursively, every scan body's plan, and collects every error.
//!
//! # What it checks
//!
//! - **Structure.** Every step, kernel and node index is in range; a plan has one list of frees per step (the executor
//!   zips them and would skip the steps past the last list); each kernel step passes as many buffers as its kernel has
//!   operands and stores; a kernel has at least one axis and no empty one (the executor splits the first and addresses
//!   the last element of each) and no more positions than an `isize` counts (strides and addresses are `isize`), its
//!   body is in SSA order with truth values only where a select or a cast reads them, a reduction has one store. A
//!   step's node has the op the step runs (a product is a `matmul`, a scan a `scan`, a `get` reads a tuple), and every
//!   operand of a product, a scan, an op step or an output reads its graph input's value: that node's buffer, or the
//!   buffer it is a view of.
//! - **Writes before reads.** The graph's inputs are written before the first step; every buffer a step reads
//!   (kernel operands, both operands of a product and its epilogue's other operands, a scan's inputs, an op's
//!   inputs) was written by an earlier step, and so was every buffer an output reads. An epilogue reads its product,
//!   which its own step writes.
//! - **Frees.** No step and no output reads a buffer after the step that frees it; no buffer is freed twice, before
//!   it is written, or while an output reads it; every buffer a step reads is freed after its last read unless an
//!   output holds it. A buffer no step reads and no output holds is an error too: the planner stores only what is
//!   read, so such a buffer is a dead store that would stay allocated until the run ends.
//! - **Single writes.** No node is written twice, by two steps, twice by one step, or by a step over a graph
//!   input. The executor's in-place stores (a kernel writing its new value into an operand's buffer, adam's update)
//!   need nothing more of the plan: the store writes a node of its own, and the executor takes over only an operand
//!   buffer that this step frees (so no later step reads it) and that the product does not read; the free checks
//!   above cover what it relies on.
//! - **Shapes.** Each step's output has its node's type: a kernel's stores cover their node's elements once, row
//!   major over the iteration space (a reduced axis skipped), in f32; a product's operands have its rank, agreeing
//!   inner sizes, and give its rows, columns and batch axes; every operand's layout has its graph input's shape. Every
//!   access stays inside its buffer: a kernel operand's or store's offset plus its strides over the iteration space,
//!   a view's offset plus its strides over its shape, with no negative stride. An epilogue runs on a two-dimensional
//!   product, has no reduction, covers the product's elements with a whole number of positions per row, and reads
//!   the product row-major (it runs on each part's rows as soon as they are computed). Only f32 buffers are read
//!   through a view (the executor copies other tensors whole).
//!
//! # What it does not check
//!
//! - The graph itself: its types are [`crate::ir::verify`]'s (run before planning). Here the graph is trusted to be
//!   well typed; only its ids are checked, so that no lookup goes out of range, and a scan's body plan must be of the
//!   scan's own body graph.
//! - What a kernel computes: that its body is the members' ops is tested against the interpreter
//!   (`backend::tests`) and the code generator against [`super::reference`].
//! - Whether the steps are the planner's choices (fusion, epilogues, order): any order that writes before it reads
//!   and frees after the last read is accepted, and a free later than needed is not an error.

use std::collections::BTreeSet;
use std::fmt;

use super::kernel::{Access, Expr, Kernel};
use super::plan::{step_writes, Epilogue, Layout, Operand, Plan, Step};
use crate::ir::{DType, NodeId, Op, TensorType, Type};

/// What kind of rule an error breaks (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlanErrorKind {
    /// The plan's parts do not fit together: an index out of range, lists of different lengths, a kernel body out of
    /// order, a step whose node has another op, an operand that reads another value than its graph input.
    Malformed,
    /// A buffer is read before any step writes it.
    ReadBeforeWrite,
    /// A buffer is read after the step that frees it.
    ReadAfterFree,
    /// A buffer is freed twice, before it is written, or while an output reads it.
    BadFree,
    /// A buffer a step reads is never freed and no output holds it.
    NeverFreed,
    /// A step writes a buffer that no step reads and no output holds.
    DeadStore,
    /// A node is written twice, or a graph input is written.
    WrittenTwice,
    /// A shape or layout disagrees with a node's type or with what the step needs.
    Shape,
    /// An access reaches outside its buffer.
    OutOfBounds,
}

/// One broken rule: where it is (the scans around it, the step, the node) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanError {
    /// The rule broken.
    pub kind: PlanErrorKind,
    /// The scans whose bodies hold the step, outermost first: each scan's step index in its plan and its node.
    pub scans: Vec<(usize, NodeId)>,
    /// The step's index in its plan; `None` for the plan's outputs or the plan as a whole.
    pub step: Option<usize>,
    /// The step in a few words (`%7, %8 = kernel k3 (add, max) [5, 3]`), or `outputs`, or `plan`.
    pub label: String,
    /// The node the error is about: the buffer read, written or freed, or the step's node.
    pub node: Option<NodeId>,
    /// What is wrong, in words.
    pub message: String,
}

/// Every broken rule of a plan, in step order (a scan body's errors after its scan's own).
#[derive(Clone, PartialEq, Eq)]
pub struct PlanErrors {
    /// The plan's name (its graph's).
    pub plan: String,
    /// The errors.
    pub errors: Vec<PlanError>,
}

/// Checks a plan and every scan body's plan (see the module documentation); `Err` holds every error found.
pub fn verify_plan(plan: &Plan) -> Result<(), PlanErrors> {
    let mut errors = Vec::new();
    Checker::new(plan, Vec::new(), &mut errors).check();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(PlanErrors { plan: plan.name.clone(), errors })
    }
}

impl fmt::Display for PlanError {
    /// `in the body of scan %28 (step 3): step 5 (%40 = kernel k2 (add) [4, 16]): reads %12 after step 4 freed it`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (step, node) in &self.scans {
            write!(f, "in the body of scan {node} (step {step}): ")?;
        }
        match self.step {
            Some(step) => write!(f, "step {step} ({}): {}", self.label, self.message),
            None => write!(f, "{}: {}", self.label, self.message),
        }
    }
}

impl fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.errors.len();
        let noun = if count == 1 { "error" } else { "errors" };
        write!(f, "the kernel plan `{}` has {count} {noun}:", self.plan)?;
        for error in &self.errors {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PlanErrors {
    /// As `Display`, so that a failed `expect` prints readable errors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for PlanErrors {}

/// Where a buffer's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Writer {
    Input,
    Step(usize),
}

/// What the steps so far did to each node's buffer.
struct Buffers {
    written: Vec<Option<Writer>>,
    freed: Vec<Option<usize>>,
    last_read: Vec<Option<usize>>,
    /// The first step that writes each node, anywhere in the plan (to say so when it is read too early).
    first_writer: Vec<Option<usize>>,
}

struct Checker<'p, 'e> {
    plan: &'p Plan,
    scans: Vec<(usize, NodeId)>,
    errors: &'e mut Vec<PlanError>,
    /// Each step's label, computed once.
    labels: Vec<String>,
    /// Where errors go now: a step's index and label, or `None` and `outputs` / `plan`.
    step: Option<usize>,
    label: String,
}

impl<'p, 'e> Checker<'p, 'e> {
    fn new(plan: &'p Plan, scans: Vec<(usize, NodeId)>, errors: &'e mut Vec<PlanError>) -> Checker<'p, 'e> {
        Checker { plan, scans, errors, labels: Vec::new(), step: None, label: "plan".to_string() }
    }

    fn report(&mut self, kind: PlanErrorKind, node: Option<NodeId>, message: String) {
        self.errors.push(PlanError {
            kind,
            scans: self.scans.clone(),
            step: self.step,
            label: self.label.clone(),
            node,
            message,
        });
    }

    fn at_step(&mut self, index: usize) {
        self.step = Some(index);
        self.label = self.labels.get(index).cloned().unwrap_or_default();
    }

    fn at(&mut self, label: &str) {
        self.step = None;
        self.label = label.to_string();
    }

    /// The type of a node, `None` when the id is not in the graph.
    fn ty(&self, id: NodeId) -> Option<&'p Type> {
        self.plan.graph.nodes.get(id.index()).map(|node| &node.ty)
    }

    fn tensor(&self, id: NodeId) -> Option<&'p TensorType> {
        self.ty(id).and_then(Type::tensor)
    }

    fn op(&self, id: NodeId) -> Option<&'p Op> {
        self.plan.graph.nodes.get(id.index()).map(|node| &node.op)
    }

    fn check(mut self) {
        if !self.graph_ids_in_range() {
            return;
        }
        self.labels = self.plan.steps.iter().map(|step| step_label(self.plan, step)).collect();
        if self.plan.frees.len() != self.plan.steps.len() {
            let message = format!(
                "the plan has {} steps but {} lists of frees; the executor runs only as many steps as there are lists",
                self.plan.steps.len(),
                self.plan.frees.len()
            );
            self.report(PlanErrorKind::Malformed, None, message);
        }
        for (index, step) in self.plan.steps.iter().enumerate() {
            self.at_step(index);
            self.check_step_shapes(index, step);
        }
        self.check_dataflow();
    }

    /// Whether every id the graph holds is one of its nodes; when not, nothing else can be looked up safely.
    fn graph_ids_in_range(&mut self) -> bool {
        let graph = &self.plan.graph;
        let count = graph.nodes.len();
        let mut broken = Vec::new();
        for (index, node) in graph.nodes.iter().enumerate() {
            if let Some(input) = node.inputs.iter().find(|input| input.index() >= count) {
                broken.push(format!("%{index} reads {input}"));
            }
        }
        for output in &graph.outputs {
            if output.node.index() >= count {
                broken.push(format!("output `{}` is {}", output.name, output.node));
            }
        }
        if broken.is_empty() {
            return true;
        }
        let message = format!("the plan's graph has {count} nodes, but {}; nothing else is checked", broken.join(", "));
        self.report(PlanErrorKind::Malformed, None, message);
        false
    }

    /// A node id a step names: whether it is in the graph (reported when not).
    fn known(&mut self, id: NodeId, role: &str) -> bool {
        let count = self.plan.graph.nodes.len();
        if id.index() < count {
            return true;
        }
        self.report(
            PlanErrorKind::Malformed,
            Some(id),
            format!("{role} {id}, which is not in the graph ({count} nodes)"),
        );
        false
    }

    // ---- Reads, writes and frees -------------------------------------------------------------------------------

    fn check_dataflow(&mut self) {
        let plan = self.plan;
        let count = plan.graph.nodes.len();
        let mut buffers = Buffers {
            written: vec![None; count],
            freed: vec![None; count],
            last_read: vec![None; count],
            first_writer: vec![None; count],
        };
        for (id, _, _) in plan.graph.inputs() {
            buffers.written[id.index()] = Some(Writer::Input);
        }
        for (index, step) in plan.steps.iter().enumerate() {
            for written in step_writes(step) {
                if let Some(first) = buffers.first_writer.get_mut(written.index()) {
                    first.get_or_insert(index);
                }
            }
        }
        let held: BTreeSet<NodeId> = plan.outputs.iter().map(|(_, operand)| operand.base).collect();
        for (index, step) in plan.steps.iter().enumerate() {
            self.at_step(index);
            let mut seen = BTreeSet::new();
            for read in reads_before(step) {
                if seen.insert(read) && self.known(read, "reads") {
                    self.read(&mut buffers, read, index, "reads".to_string());
                }
            }
            let mut written_here = BTreeSet::new();
            for written in step_writes(step) {
                if !self.known(written, "writes") {
                    continue;
                }
                if !written_here.insert(written) {
                    self.report(PlanErrorKind::WrittenTwice, Some(written), format!("writes {written} twice"));
                    continue;
                }
                match buffers.written[written.index()] {
                    Some(Writer::Input) => self.report(
                        PlanErrorKind::WrittenTwice,
                        Some(written),
                        format!("writes {written}, which is a graph input"),
                    ),
                    Some(Writer::Step(earlier)) => self.report(
                        PlanErrorKind::WrittenTwice,
                        Some(written),
                        format!("writes {written}, which step {earlier} already writes"),
                    ),
                    None => buffers.written[written.index()] = Some(Writer::Step(index)),
                }
            }
            // An epilogue reads its product after the product is written, in the same step.
            if let Step::MatMul { node, epilogue: Some(epilogue), .. } = step {
                if epilogue.reads.contains(node) && self.known(*node, "reads") {
                    self.read(&mut buffers, *node, index, "the epilogue reads".to_string());
                }
            }
            let frees = plan.frees.get(index).map(Vec::as_slice).unwrap_or(&[]);
            for &freed in frees {
                if !self.known(freed, "frees") {
                    continue;
                }
                if let Some(earlier) = buffers.freed[freed.index()] {
                    let message = format!("frees {freed}, which step {earlier} already freed");
                    self.report(PlanErrorKind::BadFree, Some(freed), message);
                    continue;
                }
                if buffers.written[freed.index()].is_none() {
                    let message = format!("frees {freed}, which no step has written yet");
                    self.report(PlanErrorKind::BadFree, Some(freed), message);
                }
                if held.contains(&freed) {
                    let message = format!("frees {freed}, which an output of the plan reads after the last step");
                    self.report(PlanErrorKind::BadFree, Some(freed), message);
                }
                buffers.freed[freed.index()] = Some(index);
            }
        }
        self.at("outputs");
        let after_last = plan.steps.len();
        for (name, operand) in &plan.outputs {
            if self.known(operand.base, &format!("output `{name}` reads")) {
                self.read(&mut buffers, operand.base, after_last, format!("output `{name}` reads"));
            }
        }
        for id in plan.graph.ids() {
            let index = id.index();
            if held.contains(&id) {
                continue;
            }
            match (buffers.last_read[index], buffers.written[index], buffers.freed[index]) {
                (Some(last), _, None) if last < after_last => {
                    self.at_step(last);
                    let message = format!("{id} is never freed after its last read, by this step");
                    self.report(PlanErrorKind::NeverFreed, Some(id), message);
                }
                (None, Some(Writer::Step(writer)), _) => {
                    self.at_step(writer);
                    let message = format!("writes {id}, which no step reads and no output holds");
                    self.report(PlanErrorKind::DeadStore, Some(id), message);
                }
                _ => {}
            }
        }
    }

    /// Records a read of `id` by step `index` (the plan's length for an output) and reports it when too early or
    /// too late.
    fn read(&mut self, buffers: &mut Buffers, id: NodeId, index: usize, reader: String) {
        let slot = id.index();
        if let Some(freed) = buffers.freed[slot] {
            self.report(PlanErrorKind::ReadAfterFree, Some(id), format!("{reader} {id} after step {freed} freed it"));
        } else if buffers.written[slot].is_none() {
            let message = match buffers.first_writer[slot] {
                Some(writer) => format!("{reader} {id} before any step writes it (step {writer} does)"),
                None => format!("{reader} {id}, which no step writes and which is no graph input"),
            };
            self.report(PlanErrorKind::ReadBeforeWrite, Some(id), message);
        }
        buffers.last_read[slot] = Some(index);
    }

    // ---- Shapes ------------------------------------------------------------------------------------------------

    fn check_step_shapes(&mut self, index: usize, step: &'p Step) {
        match step {
            Step::Kernel { kernel, reads, writes } => match self.plan.kernels.get(*kernel) {
                Some(code) => self.check_kernel_use(code, reads, writes, None),
                None => self.missing_kernel(*kernel),
            },
            Step::MatMul { node, a, b, epilogue } => self.check_matmul(*node, a, b, epilogue.as_ref()),
            Step::Scan { node, body, inputs } => self.check_scan(index, *node, body, inputs),
            Step::Node { node, inputs } => self.check_node(*node, inputs),
        }
    }

    fn missing_kernel(&mut self, kernel: usize) {
        let message = format!("runs kernel {kernel}, but the plan has {} kernels", self.plan.kernels.len());
        self.report(PlanErrorKind::Malformed, None, message);
    }

    /// A kernel run on `reads` storing `writes`; `product` is the product an epilogue reads.
    fn check_kernel_use(&mut self, code: &Kernel, reads: &[NodeId], writes: &[NodeId], product: Option<NodeId>) {
        let addressable = self.check_kernel_body(code);
        if reads.len() != code.operands.len() {
            let message =
                format!("passes {} buffers to {}, which reads {}", reads.len(), code.name, code.operands.len());
            self.report(PlanErrorKind::Malformed, None, message);
        }
        if writes.len() != code.stores.len() {
            let message =
                format!("names {} outputs of {}, which stores {}", writes.len(), code.name, code.stores.len());
            self.report(PlanErrorKind::Malformed, None, message);
        }
        for (slot, (&read, access)) in reads.iter().zip(&code.operands).enumerate() {
            let Some(ty) = self.f32_buffer(read, "reads") else { continue };
            if addressable {
                self.check_access(
                    read,
                    access,
                    &code.dims,
                    ty.elements(),
                    &format!("{}'s operand in{slot}", code.name),
                );
            }
            if addressable && Some(read) == product && *access != Access::contiguous(&code.dims) {
                let message = format!(
                    "the epilogue {} reads the product {read} through {}, not element for element in row-major \
                     order; a part's epilogue would read rows not computed yet",
                    code.name,
                    access_text(access)
                );
                self.report(PlanErrorKind::Shape, Some(read), message);
            }
        }
        let reduced = code.reduce.map(|reduce| reduce.axis);
        for (slot, (&written, store)) in writes.iter().zip(&code.stores).enumerate() {
            let Some(ty) = self.f32_buffer(written, "writes") else { continue };
            if !addressable {
                continue;
            }
            let positions: usize = code.dims.iter().product();
            let computed = match reduced.and_then(|axis| code.dims.get(axis)) {
                Some(&size) => positions / size.max(1),
                None => positions,
            };
            if computed != ty.elements() {
                let message = format!(
                    "{} computes {computed} elements for {written}, whose type {ty} holds {}",
                    code.name,
                    ty.elements()
                );
                self.report(PlanErrorKind::Shape, Some(written), message);
            }
            let row_major = store_access(&code.dims, reduced);
            if store.access != row_major {
                let message = format!(
                    "{} stores {written} through {}, not row-major over its space {:?} ({})",
                    code.name,
                    access_text(&store.access),
                    code.dims,
                    access_text(&row_major)
                );
                self.report(PlanErrorKind::Shape, Some(written), message);
            }
            self.check_access(written, &store.access, &code.dims, ty.elements(), &format!("{}'s out{slot}", code.name));
        }
    }

    /// The tensor type of a buffer a kernel or a product reads or writes, which must be f32; `None` (reported) when
    /// it is not, `None` (silently) when the id is not in the graph (the dataflow check reports it).
    fn f32_buffer(&mut self, id: NodeId, verb: &str) -> Option<&'p TensorType> {
        let ty = self.ty(id)?;
        match ty.tensor() {
            Some(tensor) if tensor.dtype == DType::F32 => Some(tensor),
            _ => {
                self.report(PlanErrorKind::Shape, Some(id), format!("{verb} {id} as an f32 buffer, but it is {ty}"));
                None
            }
        }
    }

    /// A kernel's own consistency; whether its iteration space can be addressed (at least one axis, none empty, and
    /// no more positions than an `isize` counts, so that its positions and row-major strides can be computed).
    fn check_kernel_body(&mut self, code: &Kernel) -> bool {
        let mut problems = Vec::new();
        let addressable = if code.dims.is_empty() || code.dims.contains(&0) {
            problems.push(format!(
                "its space {:?} has no axis or an empty one, which the executor cannot split or address",
                code.dims
            ));
            false
        } else if positions(&code.dims).is_none() {
            problems.push(format!("its space {:?} has more positions than an address can count", code.dims));
            false
        } else {
            true
        };
        for (index, expr) in code.exprs.iter().enumerate() {
            if let Expr::Load(operand) = expr {
                if *operand >= code.operands.len() {
                    problems.push(format!("%{index} loads in{operand}, but it has {} operands", code.operands.len()));
                }
            }
            for (position, &read) in expr.reads().iter().enumerate() {
                let Some(value) = code.exprs.get(read).filter(|_| read < index) else {
                    problems.push(format!("%{index} reads %{read}, which is not an earlier expression"));
                    continue;
                };
                let wants_bool = match expr {
                    Expr::Select(..) => position == 0,
                    Expr::FromBool(_) => true,
                    _ => false,
                };
                if value.is_bool() != wants_bool {
                    let wanted = if wants_bool { "a truth value" } else { "a number" };
                    problems.push(format!("%{index} reads %{read} where it needs {wanted}"));
                }
            }
        }
        for (slot, store) in code.stores.iter().enumerate() {
            match code.exprs.get(store.expr) {
                Some(expr) if !expr.is_bool() => {}
                _ => problems.push(format!("out{slot} stores %{}, which is no number of its body", store.expr)),
            }
        }
        if let Some(reduce) = code.reduce {
            if reduce.axis >= code.dims.len() {
                problems.push(format!("it reduces axis {} of {} axes", reduce.axis, code.dims.len()));
            }
            if code.stores.len() != 1 {
                problems.push(format!("it reduces but has {} stores", code.stores.len()));
            }
        }
        for problem in problems {
            self.report(PlanErrorKind::Malformed, None, format!("kernel {}: {problem}", code.name));
        }
        addressable
    }

    /// An access over a kernel's iteration space stays inside a buffer of `elements` elements.
    fn check_access(&mut self, id: NodeId, access: &Access, dims: &[usize], elements: usize, what: &str) {
        if access.strides.len() != dims.len() {
            let message = format!("{what} has {} strides for a space of {} axes", access.strides.len(), dims.len());
            self.report(PlanErrorKind::Malformed, Some(id), message);
            return;
        }
        self.check_reach(id, access.offset, dims, &access.strides, elements, what);
    }

    /// `offset + Σ (size - 1) · stride` is inside a buffer of `elements` elements (nothing is reached when an axis
    /// is empty); strides are never negative.
    fn check_reach(
        &mut self,
        id: NodeId,
        offset: usize,
        sizes: &[usize],
        strides: &[isize],
        elements: usize,
        what: &str,
    ) {
        if strides.iter().any(|&stride| stride < 0) {
            let message = format!("{what} steps backwards through {id} (strides {strides:?})");
            self.report(PlanErrorKind::OutOfBounds, Some(id), message);
            return;
        }
        if sizes.contains(&0) {
            return;
        }
        let reach = sizes.iter().zip(strides).try_fold(offset, |reach, (&size, &stride)| {
            (size - 1).checked_mul(stride.unsigned_abs()).and_then(|step| reach.checked_add(step))
        });
        match reach {
            Some(reach) if reach < elements => {}
            Some(reach) => {
                let message = format!("{what} reaches element {reach} of {id}, which holds {elements}");
                self.report(PlanErrorKind::OutOfBounds, Some(id), message);
            }
            None => {
                let message = format!("{what} reaches past the largest address in {id}");
                self.report(PlanErrorKind::OutOfBounds, Some(id), message);
            }
        }
    }

    /// An operand read for the graph input `input` of a step (or an output): it reads `input`'s buffer or the one
    /// `input` views, in `input`'s shape, inside the buffer. Returns its layout's shape when it is well formed.
    fn check_operand(&mut self, operand: &Operand, input: NodeId, what: &str) {
        let base = operand.base;
        if self.ty(base).is_none() || self.ty(input).is_none() {
            return;
        }
        if !self.views_of(input).contains(&base) {
            let message = format!("{what} reads {base} for {input}, which is neither {input} nor a view of it");
            self.report(PlanErrorKind::Malformed, Some(base), message);
        }
        let layout = &operand.layout;
        if layout.strides.len() != layout.shape.len() {
            let message =
                format!("{what} has {} strides for a shape of {} axes", layout.strides.len(), layout.shape.len());
            self.report(PlanErrorKind::Malformed, Some(base), message);
            return;
        }
        let Some(base_type) = self.tensor(base) else {
            let message = format!("{what} reads the tuple {base} as a tensor");
            self.report(PlanErrorKind::Shape, Some(base), message);
            return;
        };
        if let Some(expected) = self.tensor(input) {
            if layout.shape != expected.shape {
                let message = format!("{what} is read as {:?}, but {input} is {expected}", layout.shape);
                self.report(PlanErrorKind::Shape, Some(input), message);
            }
        }
        if base_type.dtype != DType::F32 && !is_whole(layout, base_type) {
            let message = format!("{what} reads {base} ({base_type}) through a view; only f32 buffers are viewed");
            self.report(PlanErrorKind::Shape, Some(base), message);
        }
        self.check_reach(base, layout.offset, &layout.shape, &layout.strides, base_type.elements(), what);
    }

    /// `id` and the nodes whose buffers it may be read from: the chain of views (reshape, expand, permute, slice)
    /// from it back to a value with a buffer.
    fn views_of(&self, id: NodeId) -> Vec<NodeId> {
        let mut chain = vec![id];
        let mut current = id;
        while let Some(Op::Reshape | Op::Expand | Op::Permute { .. } | Op::Slice { .. }) = self.op(current) {
            let Some(&next) = self.plan.graph.nodes[current.index()].inputs.first() else { break };
            if next >= current {
                break;
            }
            chain.push(next);
            current = next;
        }
        chain
    }

    fn check_matmul(&mut self, node: NodeId, a: &Operand, b: &Operand, epilogue: Option<&Epilogue>) {
        if !self.known(node, "computes") {
            return;
        }
        let graph_inputs = match self.op(node) {
            Some(Op::MatMul) => self.plan.graph.nodes[node.index()].inputs.clone(),
            _ => Vec::new(),
        };
        let [left, right] = graph_inputs.as_slice() else {
            let message = format!("runs a product for {node}, which is not a matrix product of two operands");
            self.report(PlanErrorKind::Malformed, Some(node), message);
            return;
        };
        self.check_operand(a, *left, "the left operand");
        self.check_operand(b, *right, "the right operand");
        for operand in [a, b] {
            self.f32_buffer(operand.base, "multiplies");
        }
        let Some(ty) = self.f32_buffer(node, "writes") else { return };
        let shape = &ty.shape;
        let rank = shape.len();
        let (a_shape, b_shape) = (&a.layout.shape, &b.layout.shape);
        if rank < 2 || a_shape.len() != rank || b_shape.len() != rank {
            let message =
                format!("multiplies {a_shape:?} by {b_shape:?} into {node} ({ty}): the ranks differ or are below 2");
            self.report(PlanErrorKind::Shape, Some(node), message);
            return;
        }
        if a_shape[rank - 1] != b_shape[rank - 2] {
            let message = format!(
                "the inner sizes disagree: the left operand {a_shape:?} has {} columns, the right operand {b_shape:?} \
                 has {} rows",
                a_shape[rank - 1],
                b_shape[rank - 2]
            );
            self.report(PlanErrorKind::Shape, Some(node), message);
        }
        if a_shape[..rank - 1] != shape[..rank - 1]
            || b_shape[..rank - 2] != shape[..rank - 2]
            || b_shape[rank - 1] != shape[rank - 1]
        {
            let message = format!("{a_shape:?} times {b_shape:?} does not make {node}'s type {ty}");
            self.report(PlanErrorKind::Shape, Some(node), message);
        }
        let Some(epilogue) = epilogue else { return };
        let Some(code) = self.plan.kernels.get(epilogue.kernel) else {
            self.missing_kernel(epilogue.kernel);
            return;
        };
        self.check_kernel_use(code, &epilogue.reads, &epilogue.writes, Some(node));
        let rows = shape[rank - 2];
        let per_row_positions = epilogue.per_row.checked_mul(rows);
        let mut problems = Vec::new();
        if shape[..rank - 2].iter().any(|&size| size != 1) {
            problems.push(format!("the product {ty} is not two-dimensional"));
        }
        if code.reduce.is_some() {
            problems.push("the kernel reduces".to_string());
        }
        // A space too large to count is already an error of the kernel's body.
        match positions(&code.dims) {
            Some(positions) if positions != ty.elements() => {
                problems.push(format!("its {positions} positions are not the product's {} elements", ty.elements()));
            }
            _ => {}
        }
        if code.dims.first().is_none_or(|&outer| per_row_positions != Some(outer)) {
            problems.push(format!(
                "{} per row for {rows} rows is not its outermost axis of {:?}",
                epilogue.per_row, code.dims
            ));
        }
        for problem in problems {
            self.report(PlanErrorKind::Shape, Some(node), format!("the epilogue {}: {problem}", code.name));
        }
    }

    fn check_scan(&mut self, index: usize, node: NodeId, body: &'p Plan, inputs: &[Operand]) {
        if !self.known(node, "computes") {
            return;
        }
        let Some(Op::Scan(scan)) = self.op(node) else {
            self.report(PlanErrorKind::Malformed, Some(node), format!("runs a scan for {node}, which is not a scan"));
            return;
        };
        if !matches!(self.ty(node), Some(Type::Tuple(_))) {
            self.report(PlanErrorKind::Shape, Some(node), format!("the scan {node} is not a tuple"));
        }
        self.check_inputs(node, inputs);
        if body.graph != scan.body {
            let message = format!("the body's plan is of another graph than scan {node}'s body");
            self.report(PlanErrorKind::Malformed, Some(node), message);
            return;
        }
        let mut scans = self.scans.clone();
        scans.push((index, node));
        Checker::new(body, scans, self.errors).check();
    }

    /// A step's operands, one per input of its node, each read for that input.
    fn check_inputs(&mut self, node: NodeId, inputs: &[Operand]) {
        let graph_inputs = &self.plan.graph.nodes[node.index()].inputs;
        if graph_inputs.len() != inputs.len() {
            let message =
                format!("passes {} operands to {node}, which has {} inputs", inputs.len(), graph_inputs.len());
            self.report(PlanErrorKind::Malformed, Some(node), message);
        }
        for (position, (operand, &input)) in inputs.iter().zip(graph_inputs).enumerate() {
            self.check_operand(operand, input, &format!("input {position}"));
        }
    }

    fn check_node(&mut self, node: NodeId, inputs: &[Operand]) {
        if !self.known(node, "computes") {
            return;
        }
        match self.op(node) {
            Some(Op::Scan(_)) => {
                let message = format!("runs the scan {node} as one op, not as a scan with a body");
                self.report(PlanErrorKind::Malformed, Some(node), message);
                return;
            }
            Some(Op::Get { .. }) => {
                let source = self.plan.graph.nodes[node.index()].inputs.first().copied();
                let tuple = source.filter(|&source| matches!(self.ty(source), Some(Type::Tuple(_))));
                match (tuple, inputs) {
                    (Some(tuple), [operand]) if operand.base == tuple => {}
                    _ => {
                        let message = format!("the `get` {node} does not read the tuple its graph node reads");
                        self.report(PlanErrorKind::Malformed, Some(node), message);
                    }
                }
            }
            _ => self.check_inputs(node, inputs),
        }
        if self.tensor(node).is_none() {
            self.report(PlanErrorKind::Shape, Some(node), format!("an op step writes {node}, which is a tuple"));
        }
    }
}

/// The buffers a step reads that an earlier step must have written: every read but an epilogue's read of its own
/// product, which the step writes first.
fn reads_before(step: &Step) -> Vec<NodeId> {
    match step {
        Step::MatMul { node, a, b, epilogue } => {
            let mut reads = vec![a.base, b.base];
            reads.extend(
                epilogue.iter().flat_map(|epilogue| epilogue.reads.iter().copied()).filter(|read| read != node),
            );
            reads
        }
        _ => super::plan::step_reads(step),
    }
}

/// The number of positions of a kernel's space, `None` when an `isize` cannot count them (the executor and the
/// row-major strides of [`Access::contiguous`] compute in `isize`).
fn positions(dims: &[usize]) -> Option<usize> {
    let positions = dims.iter().try_fold(1usize, |product, &size| product.checked_mul(size))?;
    isize::try_from(positions).is_ok().then_some(positions)
}

/// The access through which a kernel stores a value of its space `dims` in row-major order: the reduced axis and
/// axes of size 1 step 0 (as fusion writes them).
fn store_access(dims: &[usize], reduced: Option<usize>) -> Access {
    let mut strides = vec![0isize; dims.len()];
    let mut stride = 1isize;
    for axis in (0..dims.len()).rev() {
        if Some(axis) == reduced || dims[axis] == 1 {
            continue;
        }
        strides[axis] = stride;
        stride = stride.saturating_mul(isize::try_from(dims[axis]).unwrap_or(isize::MAX));
    }
    Access { offset: 0, strides }
}

/// Whether a layout reads a whole buffer of type `ty` as it is.
fn is_whole(layout: &Layout, ty: &TensorType) -> bool {
    layout.shape == ty.shape && layout.is_contiguous()
}

fn access_text(access: &Access) -> String {
    format!("offset {} strides {:?}", access.offset, access.strides)
}

/// A step in a few words for messages, `%7, %8 = kernel k3 (add, max) [5, 3]`; safe on any plan.
fn step_label(plan: &Plan, step: &Step) -> String {
    let nodes = plan.graph.nodes.len();
    let addressable = match step {
        Step::Kernel { kernel, .. } => *kernel < plan.kernels.len(),
        Step::MatMul { epilogue, .. } => epilogue.as_ref().is_none_or(|epilogue| epilogue.kernel < plan.kernels.len()),
        Step::Scan { node, .. } | Step::Node { node, .. } => node.index() < nodes,
    };
    let what = if addressable {
        plan.step_label(step)
    } else {
        match step {
            Step::Kernel { kernel, .. } => format!("kernel {kernel}"),
            Step::MatMul { .. } => "gemm".to_string(),
            Step::Scan { .. } => "scan".to_string(),
            Step::Node { .. } => "op".to_string(),
        }
    };
    match step {
        Step::Scan { .. } => what,
        _ => {
            let writes: Vec<String> = step_writes(step).iter().map(ToString::to_string).collect();
            format!("{} = {what}", writes.join(", "))
        }
    }
}

#[cfg(test)]
mod tests;
