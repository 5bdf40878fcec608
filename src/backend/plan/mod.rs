//! Fusion and scheduling: turns a graph into a [`Plan`], a list of [`Step`]s over node values.
//!
//! - Elementwise f32 ops of one shape that read each other join one group, which becomes one [`Kernel`]; a group
//!   stores every member that something outside it reads, so one kernel can write several results (adam's new
//!   parameter, first and second moments come out of one kernel).
//! - A reduction over a contiguous range of axes takes in the elementwise chain that only it reads (one reduction
//!   per kernel).
//! - Constants and comparisons are inlined into every kernel that reads them; a comparison's truth value never
//!   leaves a kernel.
//! - Reshape, expand, permute and slice are views: strided reads of their base buffer, no copy. A kernel reads a
//!   broadcast through stride 0, and a matrix product reads a transposed operand through its strides. What a view
//!   reads is materialised once, by the kernel that computes it.
//! - Matrix products go to GEMM ([`super::gemm`]); scans run their body, compiled once, step by step; the rest
//!   (pad, concat, argmax, integer and bool ops) runs on the interpreter's own kernels.
//! - A group joins only when it makes no cycle between steps, and the steps are ordered topologically.
//! - Liveness: each buffer is released after the last step that reads it (directly or through a view), so the
//!   executor reuses its memory for later values.
//!
//! The stages are submodules: `views` (strided layouts), `grouping` (classes of nodes and the fused groups),
//! `kernels` (the steps in topological order, each group's kernel), `epilogues` (kernels fused into products) and
//! `liveness` (when each buffer is freed).

mod epilogues;
mod grouping;
mod kernels;
mod liveness;
mod views;

pub use views::Layout;

use std::fmt;

use super::kernel::Kernel;
use crate::ir::{DType, Graph, NodeId, Op, TensorType};

/// A read of a node's value: the buffer of `base` through `layout`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Operand {
    /// The node whose buffer is read.
    pub base: NodeId,
    /// How it is read.
    pub layout: Layout,
}

/// One step of a plan.
#[derive(Clone, Debug)]
pub enum Step {
    /// Runs fused kernel `kernel` of [`Plan::kernels`]: its operands are the buffers of `reads`, its stores fill
    /// the buffers of `writes`.
    Kernel {
        /// The kernel's index.
        kernel: usize,
        /// The buffers read, in the kernel's operand order (each read through the kernel's own strides).
        reads: Vec<NodeId>,
        /// The nodes stored, in the kernel's store order.
        writes: Vec<NodeId>,
    },
    /// `node = a × b` by GEMM, both operands read through their strides, then its epilogue kernel if it has one.
    MatMul {
        /// The product's node.
        node: NodeId,
        /// The left operand.
        a: Operand,
        /// The right operand.
        b: Operand,
        /// A kernel reading the product element for element, run on each part of the product as soon as that
        /// part is computed (bias and activation, or an activation's gradient).
        epilogue: Option<Epilogue>,
    },
    /// A scan: its body runs as a plan of its own, compiled once, for every step.
    Scan {
        /// The scan's node.
        node: NodeId,
        /// The body's plan.
        body: Box<Plan>,
        /// The initial carries, sequences and invariants.
        inputs: Vec<Operand>,
    },
    /// Any other op, on the interpreter's kernel (movement copies, integer and bool ops, argmax, tuple parts).
    Node {
        /// The node.
        node: NodeId,
        /// Its inputs.
        inputs: Vec<Operand>,
    },
}

/// A kernel fused into the end of a matrix product: it reads the product in row-major order over its iteration
/// space, so rows `r0..r1` of the product are positions `r0 · per_row .. r1 · per_row` of its outermost axis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Epilogue {
    /// The kernel's index.
    pub kernel: usize,
    /// The buffers read, in the kernel's operand order (the product among them).
    pub reads: Vec<NodeId>,
    /// The nodes stored.
    pub writes: Vec<NodeId>,
    /// Positions of the kernel's outermost axis per row of the product.
    pub per_row: usize,
}

/// A graph compiled into steps: which kernels to run in which order, and when each buffer is free.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The graph's name.
    pub name: String,
    /// The graph (types, ops and input names).
    pub graph: Graph,
    /// The fused kernels, in the order the steps first run them.
    pub kernels: Vec<Kernel>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The buffers released after each step.
    pub frees: Vec<Vec<NodeId>>,
    /// How each output is read.
    pub outputs: Vec<(String, Operand)>,
}

/// Compiles a graph (already optimized) into a plan.
pub fn plan(graph: &Graph) -> Plan {
    kernels::Builder::new(grouping::Planner::new(graph)).build()
}

/// The buffers a step writes (a product's epilogue's stores after the product).
pub fn step_writes(step: &Step) -> Vec<NodeId> {
    match step {
        Step::Kernel { writes, .. } => writes.clone(),
        Step::MatMul { node, epilogue, .. } => {
            let mut writes = vec![*node];
            writes.extend(epilogue.iter().flat_map(|epilogue| epilogue.writes.iter().copied()));
            writes
        }
        Step::Scan { node, .. } | Step::Node { node, .. } => vec![*node],
    }
}

/// The buffers a step reads.
pub fn step_reads(step: &Step) -> Vec<NodeId> {
    match step {
        Step::Kernel { reads, .. } => reads.clone(),
        Step::MatMul { a, b, epilogue, .. } => {
            let mut reads = vec![a.base, b.base];
            reads.extend(epilogue.iter().flat_map(|epilogue| epilogue.reads.iter().copied()));
            reads
        }
        Step::Scan { inputs, .. } | Step::Node { inputs, .. } => inputs.iter().map(|input| input.base).collect(),
    }
}

/// Whether a node is an f32 pad or concat, which the executor copies itself through its operands' strides.
pub fn is_f32_movement(graph: &Graph, node: NodeId) -> bool {
    matches!(graph.node(node).op, Op::Pad { .. } | Op::Concat { .. })
        && graph.node(node).ty.tensor().is_some_and(|ty| ty.dtype == DType::F32)
        && graph
            .node(node)
            .inputs
            .iter()
            .all(|&input| graph.node(input).ty.tensor().is_some_and(|ty| ty.dtype == DType::F32))
}

/// A node's tensor type (`None` for a tuple).
fn tensor(graph: &Graph, id: NodeId) -> Option<&TensorType> {
    graph.node(id).ty.tensor()
}

/// Whether a node is an f32 tensor.
fn is_f32(graph: &Graph, id: NodeId) -> bool {
    tensor(graph, id).is_some_and(|ty| ty.dtype == DType::F32)
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.base)?;
        if !self.layout.is_contiguous() {
            write!(f, "{{shape {:?} strides {:?}", self.layout.shape, self.layout.strides)?;
            if self.layout.offset != 0 {
                write!(f, " offset {}", self.layout.offset)?;
            }
            f.write_str("}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Plan {
    /// The kernel plan of `galen compile --emit kernels`: every step, each kernel's body, and what is freed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "plan {} {{", self.name)?;
        let list = |ids: &[NodeId]| ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        for (step, frees) in self.steps.iter().zip(&self.frees) {
            match step {
                Step::Kernel { kernel, reads, writes } => {
                    write!(f, "  {} = {}({}) ", list(writes), self.kernels[*kernel].name, list(reads))?;
                    let text = self.kernels[*kernel].to_string();
                    let mut lines = text.lines();
                    writeln!(f, "{}", lines.next().unwrap_or_default())?;
                    for line in lines {
                        writeln!(f, "    {line}")?;
                    }
                }
                Step::MatMul { node, a, b, epilogue } => {
                    writeln!(f, "  {node} = gemm {a}, {b} : {}", self.graph.node(*node).ty)?;
                    if let Some(epilogue) = epilogue {
                        let kernel = &self.kernels[epilogue.kernel];
                        write!(
                            f,
                            "    then {} = {}({}) per part ({} per row) ",
                            list(&epilogue.writes),
                            kernel.name,
                            list(&epilogue.reads),
                            epilogue.per_row
                        )?;
                        let text = kernel.to_string();
                        let mut lines = text.lines();
                        writeln!(f, "{}", lines.next().unwrap_or_default())?;
                        for line in lines {
                            writeln!(f, "      {line}")?;
                        }
                    }
                }
                Step::Scan { node, body, inputs } => {
                    let inputs = inputs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
                    writeln!(f, "  {node} = scan({inputs}) : {}", self.graph.node(*node).ty)?;
                    for line in body.to_string().lines() {
                        writeln!(f, "    {line}")?;
                    }
                }
                Step::Node { node, inputs } => {
                    let inputs = inputs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
                    let op = crate::ir::ops::name(&self.graph.node(*node).op);
                    writeln!(f, "  {node} = {op}({inputs}) : {}", self.graph.node(*node).ty)?;
                }
            }
            if !frees.is_empty() {
                writeln!(f, "    free {}", list(frees))?;
            }
        }
        for (name, operand) in &self.outputs {
            writeln!(f, "  output \"{name}\" = {operand}")?;
        }
        writeln!(f, "}}")
    }
}

impl Plan {
    /// A step in a few words, for profiles: `gemm [128, 1000] x [1000, 512]`, `kernel k3 (add, max) [128, 512]`.
    pub fn step_label(&self, step: &Step) -> String {
        match step {
            Step::Kernel { kernel, .. } => format!("kernel {}", self.kernels[*kernel].summary()),
            Step::MatMul { a, b, epilogue, .. } => {
                let mut label = format!("gemm {:?} x {:?}", a.layout.shape, b.layout.shape);
                if let Some(epilogue) = epilogue {
                    label.push_str(&format!(" then {}", self.kernels[epilogue.kernel].summary()));
                }
                label
            }
            Step::Scan { node, .. } => match &self.graph.node(*node).op {
                Op::Scan(scan) => format!("scan {node} ({} steps)", scan.steps),
                _ => format!("scan {node}"),
            },
            Step::Node { node, .. } => {
                let runs = if is_f32_movement(&self.graph, *node) { "copy" } else { "interpreter" };
                let node = self.graph.node(*node);
                format!("{runs} {} : {}", crate::ir::ops::name(&node.op), node.ty)
            }
        }
    }

    /// By step, whether it is a `get` that no other step of the plan repeats (the same part of the same tuple): only
    /// `get`s read tuples, so such a step may move its part out of the tuple instead of copying it, as the executor
    /// does. Safe on any plan: a step whose node is not in the graph is no `get`.
    pub fn moved_parts(&self) -> Vec<bool> {
        let part = |step: &Step| match step {
            Step::Node { node, inputs } => match self.graph.nodes.get(node.index()).map(|node| &node.op) {
                Some(Op::Get { index }) => inputs.first().map(|input| (input.base, *index)),
                _ => None,
            },
            _ => None,
        };
        let parts: Vec<Option<(NodeId, usize)>> = self.steps.iter().map(part).collect();
        parts.iter().map(|&this| this.is_some() && parts.iter().filter(|&&other| other == this).count() == 1).collect()
    }

    /// Every kernel of the plan and of its scans' bodies, in step order.
    pub fn all_kernels(&self) -> Vec<&Kernel> {
        let mut kernels = Vec::new();
        for step in &self.steps {
            match step {
                Step::Kernel { kernel, .. } => kernels.push(&self.kernels[*kernel]),
                Step::MatMul { epilogue: Some(epilogue), .. } => kernels.push(&self.kernels[epilogue.kernel]),
                Step::Scan { body, .. } => kernels.extend(body.all_kernels()),
                Step::MatMul { epilogue: None, .. } | Step::Node { .. } => {}
            }
        }
        kernels
    }
}
