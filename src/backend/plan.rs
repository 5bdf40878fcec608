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

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt;

use super::kernel::{Access, Expr, Kernel, Reduce, Store};
use crate::ir::{DType, Graph, NodeId, Op, TensorType};

/// A strided window on a buffer: the element at index `i` of `shape` is `offset + Σ i_k · strides[k]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    /// The first element.
    pub offset: usize,
    /// The view's shape.
    pub shape: Vec<usize>,
    /// Elements to step per axis (0 for a broadcast axis).
    pub strides: Vec<isize>,
}

impl Layout {
    /// The row-major layout of a whole buffer.
    pub fn contiguous(shape: &[usize]) -> Layout {
        let mut strides = vec![0isize; shape.len()];
        let mut stride = 1isize;
        for axis in (0..shape.len()).rev() {
            strides[axis] = stride;
            stride *= shape[axis] as isize;
        }
        Layout { offset: 0, shape: shape.to_vec(), strides }
    }

    /// The furthest element it reaches (strides are never negative); meaningful when no axis is empty.
    pub fn reach(&self) -> usize {
        self.offset
            + self
                .shape
                .iter()
                .zip(&self.strides)
                .map(|(&size, &stride)| size.saturating_sub(1) * stride as usize)
                .sum::<usize>()
    }

    /// Whether it reads the whole buffer in row-major order.
    pub fn is_contiguous(&self) -> bool {
        let standard = Layout::contiguous(&self.shape);
        self.offset == 0
            && self
                .shape
                .iter()
                .zip(self.strides.iter().zip(&standard.strides))
                .all(|(&size, (a, b))| size == 1 || a == b)
    }

    /// The layout after `op`, or `None` when the view cannot be expressed with strides (a reshape of a broadcast or
    /// of a transposed window), in which case the base is copied first.
    fn after(&self, op: &Op, ty: &TensorType) -> Option<Layout> {
        match op {
            Op::Reshape => {
                if self.is_contiguous() {
                    Some(Layout { offset: self.offset, ..Layout::contiguous(&ty.shape) })
                } else {
                    // Only axes of size 1 come or go: keep the other axes' strides in order.
                    let kept: Vec<isize> =
                        self.shape.iter().zip(&self.strides).filter(|(&size, _)| size != 1).map(|(_, &s)| s).collect();
                    let sizes: Vec<usize> = self.shape.iter().copied().filter(|&size| size != 1).collect();
                    let new_sizes: Vec<usize> = ty.shape.iter().copied().filter(|&size| size != 1).collect();
                    if sizes != new_sizes {
                        return None;
                    }
                    let mut strides = kept.into_iter();
                    let strides = ty.shape.iter().map(|&size| if size == 1 { 0 } else { strides.next().unwrap_or(0) });
                    Some(Layout { offset: self.offset, shape: ty.shape.clone(), strides: strides.collect() })
                }
            }
            Op::Expand => {
                let strides = self
                    .shape
                    .iter()
                    .zip(&ty.shape)
                    .zip(&self.strides)
                    .map(|((&from, &to), &stride)| if from == 1 && to != 1 { 0 } else { stride })
                    .collect();
                Some(Layout { offset: self.offset, shape: ty.shape.clone(), strides })
            }
            Op::Permute { perm } => Some(Layout {
                offset: self.offset,
                shape: perm.iter().map(|&axis| self.shape[axis]).collect(),
                strides: perm.iter().map(|&axis| self.strides[axis]).collect(),
            }),
            Op::Slice { start, step, .. } => {
                let offset =
                    start.iter().zip(&self.strides).map(|(&start, &stride)| start as isize * stride).sum::<isize>();
                Some(Layout {
                    offset: (self.offset as isize + offset) as usize,
                    shape: ty.shape.clone(),
                    strides: self.strides.iter().zip(step).map(|(&stride, &step)| stride * step as isize).collect(),
                })
            }
            _ => None,
        }
    }
}

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

/// How fusion sees a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// A graph input.
    Input,
    /// A constant, inlined into the kernels that read it.
    Constant,
    /// A comparison read only by kernels: inlined into each.
    Compare,
    /// An f32 elementwise op: a member of a group.
    Elementwise,
    /// An f32 reduction over a contiguous range of axes.
    Reduction,
    /// A view of another node's buffer.
    View,
    /// A matrix product.
    MatMul,
    /// A scan.
    Scan,
    /// Everything else: run by the interpreter's kernels.
    Other,
}

fn tensor(graph: &Graph, id: NodeId) -> Option<&TensorType> {
    graph.node(id).ty.tensor()
}

fn is_f32(graph: &Graph, id: NodeId) -> bool {
    tensor(graph, id).is_some_and(|ty| ty.dtype == DType::F32)
}

/// Whether `axes` are increasing and adjacent.
fn contiguous_axes(axes: &[usize]) -> bool {
    !axes.is_empty() && axes.windows(2).all(|pair| pair[1] == pair[0] + 1)
}

/// The classes of a graph's nodes.
fn classify(graph: &Graph, consumers: &[Vec<NodeId>]) -> Vec<Class> {
    let f32_compare = |id: NodeId| {
        matches!(graph.node(id).op, Op::Compare(_)) && graph.node(id).inputs.iter().all(|&input| is_f32(graph, input))
    };
    // A select or cast to f32 whose condition is an f32 comparison runs in a kernel.
    let reads_compare = |id: NodeId| -> bool {
        let node = graph.node(id);
        is_f32(graph, id)
            && match node.op {
                Op::Select => f32_compare(node.inputs[0]) && is_f32(graph, node.inputs[1]),
                Op::Cast => f32_compare(node.inputs[0]),
                _ => false,
            }
    };
    let output_nodes: BTreeSet<NodeId> = graph.outputs.iter().map(|output| output.node).collect();
    let mut classes: Vec<Class> = graph
        .ids()
        .map(|id| {
            let node = graph.node(id);
            match &node.op {
                Op::Input { .. } => Class::Input,
                Op::Constant { .. } if is_f32(graph, id) => Class::Constant,
                Op::Compare(_)
                    if f32_compare(id)
                        && !output_nodes.contains(&id)
                        && consumers[id.index()].iter().all(|&consumer| reads_compare(consumer)) =>
                {
                    Class::Compare
                }
                Op::Unary(_) | Op::Binary(_) if is_f32(graph, id) => Class::Elementwise,
                Op::Select | Op::Cast if reads_compare(id) => Class::Elementwise,
                Op::Reduce { axes, .. } if is_f32(graph, id) && contiguous_axes(axes) => Class::Reduction,
                Op::Reshape | Op::Expand | Op::Permute { .. } | Op::Slice { .. } if is_f32(graph, id) => Class::View,
                Op::MatMul if is_f32(graph, id) => Class::MatMul,
                Op::Scan(_) => Class::Scan,
                _ => Class::Other,
            }
        })
        .collect();
    // A select or cast whose comparison runs on the interpreter (it is an output, or something else reads it)
    // runs there too.
    for id in graph.ids() {
        let node = graph.node(id);
        if matches!(node.op, Op::Select | Op::Cast)
            && classes[id.index()] == Class::Elementwise
            && classes[node.inputs[0].index()] != Class::Compare
        {
            classes[id.index()] = Class::Other;
        }
    }
    classes
}

/// Union-find over group ids.
struct Groups {
    parent: Vec<usize>,
}

impl Groups {
    fn new_group(&mut self) -> usize {
        self.parent.push(self.parent.len());
        self.parent.len() - 1
    }

    fn find(&self, mut group: usize) -> usize {
        while self.parent[group] != group {
            group = self.parent[group];
        }
        group
    }
}

/// Compiles a graph (already optimized) into a plan.
pub fn plan(graph: &Graph) -> Plan {
    Planner::new(graph).finish()
}

struct Planner<'g> {
    graph: &'g Graph,
    class: Vec<Class>,
    consumers: Vec<Vec<NodeId>>,
    /// For a view, the node whose buffer it reads and how; `None` when the chain needs a copy.
    views: Vec<Option<Operand>>,
    group: Vec<Option<usize>>,
    groups: Groups,
    /// The members of each group, by its root id.
    members: BTreeMap<usize, Vec<NodeId>>,
    /// Reduction groups, which nothing joins.
    closed: BTreeSet<usize>,
    outputs: BTreeSet<NodeId>,
}

impl<'g> Planner<'g> {
    fn new(graph: &'g Graph) -> Planner<'g> {
        let mut consumers = vec![Vec::new(); graph.nodes.len()];
        for id in graph.ids() {
            for &input in &graph.node(id).inputs {
                if !consumers[input.index()].contains(&id) {
                    consumers[input.index()].push(id);
                }
            }
        }
        let class = classify(graph, &consumers);
        let outputs = graph.outputs.iter().map(|output| output.node).collect();
        let mut planner = Planner {
            graph,
            class,
            consumers,
            views: vec![None; graph.nodes.len()],
            group: vec![None; graph.nodes.len()],
            groups: Groups { parent: Vec::new() },
            members: BTreeMap::new(),
            closed: BTreeSet::new(),
            outputs,
        };
        planner.resolve_views();
        planner.fuse();
        planner
    }

    /// Each view's base buffer and strides; a view whose chain cannot be strided becomes a copy.
    fn resolve_views(&mut self) {
        for id in self.graph.ids() {
            if self.class[id.index()] != Class::View {
                continue;
            }
            let node = self.graph.node(id);
            let input = node.inputs[0];
            let source = self.operand(input);
            let ty = tensor(self.graph, id).expect("a view is a tensor");
            match source
                .and_then(|source| Some(Operand { base: source.base, layout: source.layout.after(&node.op, ty)? }))
            {
                Some(view) => self.views[id.index()] = Some(view),
                None => self.class[id.index()] = Class::Other,
            }
        }
    }

    /// How a node's value is read when it has a buffer or is a view of one.
    fn operand(&self, id: NodeId) -> Option<Operand> {
        match self.class[id.index()] {
            Class::View => self.views[id.index()].clone(),
            Class::Compare => None,
            _ => tensor(self.graph, id).map(|ty| Operand { base: id, layout: Layout::contiguous(&ty.shape) }),
        }
    }

    /// The nodes a kernel member reads, looking through inlined comparisons (constants read nothing).
    fn effective_inputs(&self, id: NodeId) -> Vec<NodeId> {
        let mut inputs = Vec::new();
        for &input in &self.graph.node(id).inputs {
            match self.class[input.index()] {
                Class::Compare => inputs.extend(self.graph.node(input).inputs.iter().copied()),
                Class::Constant => {}
                _ => inputs.push(input),
            }
        }
        inputs
    }

    /// The node whose value `id` stands for when read: a view's base, else itself.
    fn source(&self, id: NodeId) -> NodeId {
        match (&self.class[id.index()], &self.views[id.index()]) {
            (Class::View, Some(view)) => view.base,
            _ => id,
        }
    }

    /// Groups elementwise nodes and reductions.
    fn fuse(&mut self) {
        for id in self.graph.ids() {
            match self.class[id.index()] {
                Class::Elementwise => {
                    let inputs = self.effective_inputs(id);
                    let shape = &tensor(self.graph, id).expect("elementwise values are tensors").shape;
                    // The open groups of this shape the node reads; it joins as many as can become one kernel
                    // without a cycle, which merges them (adam's second moment and its square root meet the
                    // first moment in the update's division).
                    let mut candidates: Vec<usize> = Vec::new();
                    for &input in &inputs {
                        let Some(group) = self.group_of(input) else { continue };
                        if self.class[input.index()] == Class::Elementwise
                            && !self.closed.contains(&group)
                            && tensor(self.graph, input).is_some_and(|ty| &ty.shape == shape)
                            && !candidates.contains(&group)
                        {
                            candidates.push(group);
                        }
                    }
                    let mut joined: Vec<usize> = Vec::new();
                    for candidate in candidates {
                        joined.push(candidate);
                        if !self.can_merge(&joined, &inputs) {
                            joined.pop();
                        }
                    }
                    let group = match joined.split_first() {
                        Some((&first, rest)) => {
                            for &other in rest {
                                self.groups.parent[other] = first;
                                let moved = self.members.remove(&other).unwrap_or_default();
                                self.members.entry(first).or_default().extend(moved);
                            }
                            first
                        }
                        None => self.groups.new_group(),
                    };
                    self.group[id.index()] = Some(group);
                    self.members.entry(group).or_default().push(id);
                }
                Class::Reduction => {
                    let group = self.groups.new_group();
                    self.closed.insert(group);
                    let input = self.graph.node(id).inputs[0];
                    if let Some(absorbed) = self.absorbable(input, id) {
                        self.groups.parent[absorbed] = group;
                        let moved = self.members.remove(&absorbed).unwrap_or_default();
                        self.members.entry(group).or_default().extend(moved);
                    }
                    self.group[id.index()] = Some(group);
                    self.members.entry(group).or_default().push(id);
                }
                _ => {}
            }
        }
    }

    /// Whether `groups` and a new node reading `inputs` can run as one kernel: nothing any of them reads from
    /// outside the set (or through a view, which needs a finished buffer) may depend on a group of the set.
    fn can_merge(&self, groups: &[usize], inputs: &[NodeId]) -> bool {
        let inside = |id: NodeId| {
            self.class[id.index()] != Class::View && self.group_of(id).is_some_and(|g| groups.contains(&g))
        };
        let mut reads: Vec<NodeId> = inputs.to_vec();
        if groups.len() > 1 {
            for group in groups {
                for &member in self.members.get(group).map(Vec::as_slice).unwrap_or(&[]) {
                    reads.extend(self.effective_inputs(member));
                }
            }
        }
        reads.sort();
        reads.dedup();
        reads
            .into_iter()
            .filter(|&read| !inside(read))
            .all(|read| groups.iter().all(|&group| !self.depends_on(read, group)))
    }

    /// The group a node belongs to, if any.
    fn group_of(&self, id: NodeId) -> Option<usize> {
        self.group[id.index()].map(|group| self.groups.find(group))
    }

    /// Whether `id`'s value depends on group `group` as the groups stand now: a group runs as one step, so it
    /// depends on everything any of its members reads.
    fn depends_on(&self, id: NodeId, group: usize) -> bool {
        let mut stack = vec![self.source(id)];
        let mut seen_nodes = BTreeSet::new();
        let mut seen_groups = BTreeSet::new();
        while let Some(node) = stack.pop() {
            if !seen_nodes.insert(node) {
                continue;
            }
            match self.group_of(node) {
                Some(found) if found == group => return true,
                Some(found) => {
                    if seen_groups.insert(found) {
                        for &member in self.members.get(&found).map(Vec::as_slice).unwrap_or(&[]) {
                            stack.extend(self.effective_inputs(member).into_iter().map(|input| self.source(input)));
                        }
                    }
                }
                None => stack.extend(self.effective_inputs(node).into_iter().map(|input| self.source(input))),
            }
        }
        false
    }

    /// The group of `input` when the reduction `reduction` can take it in: an open group of the reduction input's
    /// shape whose members are read only inside it (and `input` only by the reduction), none a graph output.
    fn absorbable(&self, input: NodeId, reduction: NodeId) -> Option<usize> {
        if self.class[input.index()] != Class::Elementwise {
            return None;
        }
        let group = self.groups.find(self.group[input.index()]?);
        if self.closed.contains(&group) {
            return None;
        }
        let in_group = |id: NodeId| self.group_of(id) == Some(group);
        self.members
            .get(&group)?
            .iter()
            .all(|&member| {
                !self.outputs.contains(&member)
                    && self.readers(member).iter().all(|&reader| {
                        if member == input {
                            reader == reduction
                        } else {
                            in_group(reader)
                        }
                    })
            })
            .then_some(group)
    }

    /// The nodes that read `id`'s value, looking through inlined comparisons.
    fn readers(&self, id: NodeId) -> Vec<NodeId> {
        let mut readers = Vec::new();
        for &consumer in &self.consumers[id.index()] {
            if self.class[consumer.index()] == Class::Compare {
                readers.extend(self.consumers[consumer.index()].iter().copied());
            } else {
                readers.push(consumer);
            }
        }
        readers
    }

    fn finish(self) -> Plan {
        Builder::new(self).build()
    }
}

/// An item to schedule: a group (one kernel) or one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    Group(usize),
    Node(NodeId),
}

struct Builder<'g> {
    planner: Planner<'g>,
    /// The nodes of each group, in graph order.
    members: BTreeMap<usize, Vec<NodeId>>,
}

impl<'g> Builder<'g> {
    fn new(planner: Planner<'g>) -> Builder<'g> {
        let mut members: BTreeMap<usize, Vec<NodeId>> = BTreeMap::new();
        for id in planner.graph.ids() {
            if let Some(group) = planner.group[id.index()] {
                members.entry(planner.groups.find(group)).or_default().push(id);
            }
        }
        Builder { planner, members }
    }

    /// The item computing a node's value (`None` for values that need no step: inlined constants and
    /// comparisons, inputs and views, which are read through their base).
    fn item_of(&self, id: NodeId) -> Option<Item> {
        let p = &self.planner;
        match p.class[id.index()] {
            Class::Input | Class::Compare => None,
            Class::View => p.views[id.index()].as_ref().and_then(|view| self.item_of(view.base)),
            Class::Elementwise | Class::Reduction => p.group[id.index()].map(|group| Item::Group(p.groups.find(group))),
            Class::Constant => self.needs_buffer(id).then_some(Item::Node(id)),
            Class::MatMul | Class::Scan | Class::Other => Some(Item::Node(id)),
        }
    }

    /// Whether a constant is read by something other than a kernel (so it needs a buffer of its own).
    fn needs_buffer(&self, id: NodeId) -> bool {
        let p = &self.planner;
        p.outputs.contains(&id)
            || p.readers(id)
                .iter()
                .any(|&reader| !matches!(p.class[reader.index()], Class::Elementwise | Class::Reduction))
    }

    /// The nodes an item reads from outside itself.
    fn item_inputs(&self, item: Item) -> Vec<NodeId> {
        let p = &self.planner;
        match item {
            Item::Group(group) => {
                let members = &self.members[&group];
                let mut inputs = Vec::new();
                for &member in members {
                    for input in p.effective_inputs(member) {
                        let inside = p.group[input.index()].is_some_and(|g| p.groups.find(g) == group)
                            && p.class[input.index()] != Class::View;
                        if !inside && !inputs.contains(&input) {
                            inputs.push(input);
                        }
                    }
                }
                inputs
            }
            Item::Node(id) => p.graph.node(id).inputs.clone(),
        }
    }

    fn build(self) -> Plan {
        let graph = self.planner.graph;
        // Items and their dependencies.
        let mut items: BTreeSet<Item> = BTreeSet::new();
        for id in graph.ids() {
            if let Some(item) = self.item_of(id) {
                items.insert(item);
            }
        }
        let first_node = |item: Item| match item {
            Item::Group(group) => self.members[&group][0],
            Item::Node(id) => id,
        };
        let mut waiting: BTreeMap<Item, usize> = BTreeMap::new();
        let mut dependents: BTreeMap<Item, Vec<Item>> = BTreeMap::new();
        for &item in &items {
            let mut needs: BTreeSet<Item> = BTreeSet::new();
            for input in self.item_inputs(item) {
                if let Some(dep) = self.item_of(input).filter(|&dep| dep != item) {
                    needs.insert(dep);
                }
            }
            waiting.insert(item, needs.len());
            for dep in needs {
                dependents.entry(dep).or_default().push(item);
            }
        }
        // Kahn's algorithm, earliest first node first, so the order follows the graph where it can.
        let mut ready: BinaryHeap<Reverse<(NodeId, Item)>> = BinaryHeap::new();
        for (&item, &count) in &waiting {
            if count == 0 {
                ready.push(Reverse((first_node(item), item)));
            }
        }
        let mut order = Vec::new();
        while let Some(Reverse((_, item))) = ready.pop() {
            order.push(item);
            for &dependent in dependents.get(&item).map(Vec::as_slice).unwrap_or(&[]) {
                let count = waiting.get_mut(&dependent).expect("every item waits");
                *count -= 1;
                if *count == 0 {
                    ready.push(Reverse((first_node(dependent), dependent)));
                }
            }
        }
        if order.len() != items.len() {
            let stuck: Vec<String> = waiting
                .iter()
                .filter(|(_, &count)| count > 0)
                .map(|(item, _)| match item {
                    Item::Group(group) => {
                        format!("group {:?} reads {:?}", self.members[group], self.item_inputs(*item))
                    }
                    Item::Node(id) => format!("node {id}"),
                })
                .collect();
            panic!("fusion made a cycle between steps in graph `{}`: {stuck:#?}\n{graph}", graph.name);
        }
        let mut kernels = Vec::new();
        let mut steps = Vec::new();
        for item in order {
            match item {
                Item::Group(group) => self.group_steps(group, &mut kernels, &mut steps),
                Item::Node(id) => steps.push(self.node_step(id)),
            }
        }
        fuse_epilogues(graph, &kernels, &mut steps);
        let outputs: Vec<(String, Operand)> =
            graph.outputs.iter().map(|output| (output.name.clone(), self.read(output.node))).collect();
        let frees = liveness(&steps, &outputs);
        Plan { name: graph.name.clone(), graph: graph.clone(), kernels, steps, frees, outputs }
    }

    /// How a step reads a node: through its view, or its own buffer.
    fn read(&self, id: NodeId) -> Operand {
        let ty = tensor(self.planner.graph, id).expect("read values are tensors");
        match &self.planner.views[id.index()] {
            Some(view) if self.planner.class[id.index()] == Class::View => view.clone(),
            _ => Operand { base: id, layout: Layout::contiguous(&ty.shape) },
        }
    }

    fn node_step(&self, id: NodeId) -> Step {
        let graph = self.planner.graph;
        let node = graph.node(id);
        match &node.op {
            Op::MatMul if self.planner.class[id.index()] == Class::MatMul => {
                Step::MatMul { node: id, a: self.read(node.inputs[0]), b: self.read(node.inputs[1]), epilogue: None }
            }
            Op::Scan(scan) => Step::Scan {
                node: id,
                body: Box::new(plan(&scan.body)),
                inputs: node.inputs.iter().map(|&input| self.read(input)).collect(),
            },
            Op::Get { .. } => {
                Step::Node { node: id, inputs: vec![Operand { base: node.inputs[0], layout: Layout::contiguous(&[]) }] }
            }
            _ => Step::Node {
                node: id,
                inputs: node
                    .inputs
                    .iter()
                    .map(|&input| match tensor(graph, input) {
                        Some(_) => self.read(input),
                        None => Operand { base: input, layout: Layout::contiguous(&[]) },
                    })
                    .collect(),
            },
        }
    }

    /// The steps of a group: one kernel, or for a reduction whose fused reads cannot be laid out on one reduced
    /// axis, a kernel storing the reduction's input and a reduction kernel reading it.
    fn group_steps(&self, group: usize, kernels: &mut Vec<Kernel>, steps: &mut Vec<Step>) {
        let p = &self.planner;
        let members = &self.members[&group];
        let last = *members.last().expect("a group has members");
        let stored: Vec<NodeId> = members
            .iter()
            .copied()
            .filter(|&member| {
                member == last && p.class[member.index()] == Class::Reduction
                    || p.outputs.contains(&member)
                    || p.readers(member).iter().any(|&reader| {
                        p.class[reader.index()] == Class::View
                            || p.group[reader.index()].is_none_or(|g| p.groups.find(g) != group)
                    })
            })
            .collect();
        let name = |kernels: &Vec<Kernel>| format!("k{}", kernels.len());
        if let Some((kernel, reads)) = self.kernel(members, &stored, name(kernels)) {
            steps.push(Step::Kernel { kernel: kernels.len(), reads, writes: stored });
            kernels.push(kernel);
            return;
        }
        // Split: the elementwise chain stores the reduction's input, which the reduction reads whole.
        let input = p.graph.node(last).inputs[0];
        let chain: Vec<NodeId> = members[..members.len() - 1].to_vec();
        if !chain.is_empty() {
            let (kernel, reads) = self.kernel(&chain, &[input], name(kernels)).expect("an elementwise kernel fits");
            steps.push(Step::Kernel { kernel: kernels.len(), reads, writes: vec![input] });
            kernels.push(kernel);
        }
        match self.kernel(&[last], &[last], name(kernels)) {
            Some((kernel, reads)) => {
                steps.push(Step::Kernel { kernel: kernels.len(), reads, writes: vec![last] });
                kernels.push(kernel);
            }
            // The reduction reads a view (a slice, a permute) on which its reduced axes do not merge into one, as
            // batch norm's statistics over a recurrent layer's sequence: the interpreter's reduction runs it, on
            // a copy of the view.
            None => steps.push(Step::Node { node: last, inputs: vec![self.read(input)] }),
        }
    }

    /// The kernel computing `members` (in graph order) and storing `stored`, with the nodes whose buffers it
    /// reads; `None` for a reduction whose reduced axes do not merge into one.
    fn kernel(&self, members: &[NodeId], stored: &[NodeId], name: String) -> Option<(Kernel, Vec<NodeId>)> {
        let p = &self.planner;
        let graph = p.graph;
        let last = *members.last().expect("a kernel has members");
        let reduction = match &graph.node(last).op {
            Op::Reduce { reduction, axes } if p.class[last.index()] == Class::Reduction => {
                Some((*reduction, axes.clone(), graph.node(last).inputs[0]))
            }
            _ => None,
        };
        let space: Vec<usize> = match &reduction {
            Some((_, _, input)) => tensor(graph, *input)?.shape.clone(),
            None => tensor(graph, last)?.shape.clone(),
        };
        let mut body = Body { exprs: Vec::new(), operands: Vec::new(), reads: Vec::new(), memo: BTreeMap::new() };
        let in_kernel: BTreeSet<NodeId> = members.iter().copied().collect();
        for &member in members {
            if Some(member) == reduction.as_ref().map(|_| last) {
                continue;
            }
            self.expr(member, &in_kernel, &mut body);
        }
        let mut stores = Vec::new();
        for &node in stored {
            match &reduction {
                Some((_, axes, input)) if node == last => {
                    let expr = self.expr(*input, &in_kernel, &mut body);
                    let out = Layout::contiguous(&tensor(graph, last)?.shape);
                    let mut strides = Vec::new();
                    let mut kept = out.strides.iter();
                    for axis in 0..space.len() {
                        strides.push(if axes.contains(&axis) { 0 } else { *kept.next().unwrap_or(&0) });
                    }
                    stores.push(Store { expr, access: Access { offset: 0, strides } });
                }
                _ => {
                    let expr = self.expr(node, &in_kernel, &mut body);
                    stores.push(Store {
                        expr,
                        access: Access { offset: 0, strides: Layout::contiguous(&space).strides },
                    });
                }
            }
        }
        let reduced: Vec<bool> =
            (0..space.len()).map(|axis| reduction.as_ref().is_some_and(|(_, axes, _)| axes.contains(&axis))).collect();
        let (dims, operands, stores, reduce_axis) = simplify(&space, &reduced, body.operands, stores)?;
        let reduce = reduction.map(|(reduction, _, _)| Reduce { reduction, axis: reduce_axis.unwrap_or(0) });
        if reduce.is_some() && reduce_axis.is_none() {
            return None;
        }
        let kernel = Kernel { name, dims, operands, exprs: body.exprs, stores, reduce };
        Some((kernel, body.reads))
    }

    /// The expression of a node's value inside a kernel of `members`, adding operands for what it reads.
    fn expr(&self, id: NodeId, members: &BTreeSet<NodeId>, body: &mut Body) -> usize {
        if let Some(&expr) = body.memo.get(&id) {
            return expr;
        }
        let p = &self.planner;
        let node = p.graph.node(id);
        let expr = match (&node.op, p.class[id.index()]) {
            (Op::Constant { value }, Class::Constant) => Expr::Const(*value as f32),
            (Op::Compare(compare), Class::Compare) => {
                let a = self.expr(node.inputs[0], members, body);
                let b = self.expr(node.inputs[1], members, body);
                Expr::Compare(*compare, a, b)
            }
            (op, Class::Elementwise) if members.contains(&id) => {
                let inputs: Vec<usize> = node.inputs.iter().map(|&input| self.expr(input, members, body)).collect();
                match op {
                    Op::Unary(unary) => Expr::Unary(*unary, inputs[0]),
                    Op::Binary(binary) => Expr::Binary(*binary, inputs[0], inputs[1]),
                    Op::Select => Expr::Select(inputs[0], inputs[1], inputs[2]),
                    Op::Cast => Expr::FromBool(inputs[0]),
                    _ => unreachable!("elementwise members are unary, binary, select or cast"),
                }
            }
            _ => {
                let operand = self.read(id);
                let index = match body.operands.iter().position(|known| *known == operand) {
                    Some(index) => index,
                    None => {
                        body.operands.push(operand.clone());
                        body.reads.push(operand.base);
                        body.operands.len() - 1
                    }
                };
                Expr::Load(index)
            }
        };
        body.exprs.push(expr);
        let index = body.exprs.len() - 1;
        body.memo.insert(id, index);
        index
    }
}

/// A kernel body being built.
struct Body {
    exprs: Vec<Expr>,
    operands: Vec<Operand>,
    reads: Vec<NodeId>,
    memo: BTreeMap<NodeId, usize>,
}

/// The simplest iteration space for a kernel: axes of size 1 dropped, and neighbouring axes merged wherever every
/// buffer steps through them as one (and both are reduced, or neither). Gives the dims, the operands' and stores'
/// accesses, and the one reduced axis left (`None` when the reduced axes did not merge into one).
#[allow(clippy::type_complexity)]
fn simplify(
    space: &[usize],
    reduced: &[bool],
    operands: Vec<Operand>,
    stores: Vec<Store>,
) -> Option<(Vec<usize>, Vec<Access>, Vec<Store>, Option<usize>)> {
    let mut strides: Vec<Vec<isize>> = operands.iter().map(|operand| operand.layout.strides.clone()).collect();
    let offsets: Vec<usize> = operands.iter().map(|operand| operand.layout.offset).collect();
    strides.extend(stores.iter().map(|store| store.access.strides.clone()));
    // (size, reduced, strides of every buffer) per axis, outermost first.
    let mut axes: Vec<(usize, bool, Vec<isize>)> = (0..space.len())
        .filter(|&axis| space[axis] != 1)
        .map(|axis| (space[axis], reduced[axis], strides.iter().map(|s| s[axis]).collect()))
        .collect();
    let mut merged = true;
    while merged {
        merged = false;
        for axis in 0..axes.len().saturating_sub(1) {
            let (outer, inner) = (&axes[axis], &axes[axis + 1]);
            if outer.1 == inner.1 && outer.2.iter().zip(&inner.2).all(|(&o, &i)| o == i * inner.0 as isize) {
                let size = outer.0 * inner.0;
                let inner = axes.remove(axis + 1);
                axes[axis] = (size, inner.1, inner.2);
                merged = true;
                break;
            }
        }
    }
    let any_reduced = reduced.iter().zip(space).any(|(&r, &size)| r && size != 1);
    if axes.is_empty() {
        axes.push((1, any_reduced, vec![0; strides.len()]));
    }
    let reduce_axes: Vec<usize> = (0..axes.len()).filter(|&axis| axes[axis].1).collect();
    let reduce_axis = match reduce_axes.as_slice() {
        [] if reduced.iter().any(|&r| r) => {
            // Every reduced axis had size 1: reduce over a new outermost axis of size 1.
            axes.insert(0, (1, true, vec![0; strides.len()]));
            Some(0)
        }
        [] => None,
        [axis] => Some(*axis),
        _ => return None,
    };
    let dims: Vec<usize> = axes.iter().map(|axis| axis.0).collect();
    let access = |index: usize, offset: usize| Access {
        offset,
        strides: axes.iter().map(|axis| if axis.0 == 1 { 0 } else { axis.2[index] }).collect(),
    };
    let operand_accesses = (0..operands.len()).map(|index| access(index, offsets[index])).collect();
    let stores = stores
        .iter()
        .enumerate()
        .map(|(index, store)| Store { expr: store.expr, access: access(operands.len() + index, 0) })
        .collect();
    Some((dims, operand_accesses, stores, reduce_axis))
}

/// Moves into each two-dimensional matrix product the first later kernel that can run as its epilogue: one with no
/// reduction, whose iteration space is the product's elements in row-major order (the product read contiguously,
/// its outermost axis a whole number of positions per row), whose other operands are all ready before the
/// product runs, and which streams at most one other full-size operand (where fusing pays). The kernel then runs on each part of the product while that part is still in cache, instead of
/// as a pass of its own over the whole product.
fn fuse_epilogues(graph: &Graph, kernels: &[Kernel], steps: &mut Vec<Step>) {
    let mut index = 0;
    while index < steps.len() {
        let Step::MatMul { node, epilogue: None, .. } = &steps[index] else {
            index += 1;
            continue;
        };
        let node = *node;
        let shape = &tensor(graph, node).expect("a product is a tensor").shape;
        let rank = shape.len();
        let rows = shape[rank - 2];
        let two_dimensional = shape[..rank - 2].iter().all(|&size| size == 1);
        // Where each buffer is computed, to tell which kernel operands are ready before the product.
        let mut computed_at: BTreeMap<NodeId, usize> = BTreeMap::new();
        for (at, step) in steps.iter().enumerate() {
            for written in step_writes(step) {
                computed_at.insert(written, at);
            }
        }
        let ready_before = |read: &NodeId| computed_at.get(read).is_none_or(|&at| at < index);
        let fits = |step: &Step| -> Option<Epilogue> {
            let Step::Kernel { kernel, reads, writes } = step else { return None };
            let code = &kernels[*kernel];
            let per_row = code.dims.first().copied().unwrap_or(0) / rows.max(1);
            let contiguous = Access::contiguous(&code.dims);
            // Operands other than the product read a new element at every position: streaming more than one of
            // them from memory beside the product's parts costs more than a pass of its own (an optimizer's
            // update reads the parameter and both moments: measured slower as an epilogue on the big MLP).
            let streamed = reads
                .iter()
                .zip(&code.operands)
                .filter(|(&read, access)| {
                    read != node
                        && access.strides.iter().zip(&code.dims).all(|(&stride, &size)| size == 1 || stride != 0)
                })
                .count();
            let ok = reads.contains(&node)
                && code.reduce.is_none()
                && streamed <= 1
                && rows > 0
                && per_row * rows == code.dims[0]
                && code.positions() == shape.iter().product::<usize>()
                && reads.iter().zip(&code.operands).all(|(&read, access)| read != node || access == &contiguous)
                && reads.iter().all(|read| *read == node || ready_before(read));
            ok.then(|| Epilogue { kernel: *kernel, reads: reads.clone(), writes: writes.clone(), per_row })
        };
        let found = if two_dimensional {
            steps.iter().enumerate().skip(index + 1).find_map(|(at, step)| fits(step).map(|epilogue| (at, epilogue)))
        } else {
            None
        };
        if let Some((at, fused)) = found {
            steps.remove(at);
            if let Step::MatMul { epilogue, .. } = &mut steps[index] {
                *epilogue = Some(fused);
            }
        }
        index += 1;
    }
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

/// For each step, the buffers no later step (nor an output) reads.
fn liveness(steps: &[Step], outputs: &[(String, Operand)]) -> Vec<Vec<NodeId>> {
    let mut last_read: BTreeMap<NodeId, usize> = BTreeMap::new();
    for (index, step) in steps.iter().enumerate() {
        for base in step_reads(step) {
            last_read.insert(base, index);
        }
    }
    let kept: BTreeSet<NodeId> = outputs.iter().map(|(_, operand)| operand.base).collect();
    let mut frees = vec![Vec::new(); steps.len()];
    // Inputs are released too: the executor pools the buffers of inputs handed over by value (a training step's
    // variables) and drops its borrow of the others.
    for (base, index) in last_read {
        if !kept.contains(&base) {
            frees[index].push(base);
        }
    }
    frees
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
