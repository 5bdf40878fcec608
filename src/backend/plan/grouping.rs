//! Grouping: each node's class (an input, an inlined constant or comparison, an elementwise op, a reduction, a view,
//! a product, a scan, or something the interpreter runs), each view's base and strides, and the groups of elementwise
//! ops and reductions that run as one kernel, joined only where no path leaves a group and comes back.

use std::collections::{BTreeMap, BTreeSet};

use super::{is_f32, tensor, Layout, Operand};
use crate::ir::{Graph, NodeId, Op};

/// How fusion sees a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class {
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
pub(super) struct Groups {
    pub(super) parent: Vec<usize>,
}

impl Groups {
    pub(super) fn new_group(&mut self) -> usize {
        self.parent.push(self.parent.len());
        self.parent.len() - 1
    }

    pub(super) fn find(&self, mut group: usize) -> usize {
        while self.parent[group] != group {
            group = self.parent[group];
        }
        group
    }
}

pub(super) struct Planner<'g> {
    pub(super) graph: &'g Graph,
    pub(super) class: Vec<Class>,
    pub(super) consumers: Vec<Vec<NodeId>>,
    /// For a view, the node whose buffer it reads and how; `None` when the chain needs a copy.
    pub(super) views: Vec<Option<Operand>>,
    pub(super) group: Vec<Option<usize>>,
    pub(super) groups: Groups,
    /// The members of each group, by its root id.
    pub(super) members: BTreeMap<usize, Vec<NodeId>>,
    /// Reduction groups, which nothing joins.
    pub(super) closed: BTreeSet<usize>,
    pub(super) outputs: BTreeSet<NodeId>,
}

impl<'g> Planner<'g> {
    pub(super) fn new(graph: &'g Graph) -> Planner<'g> {
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
    pub(super) fn effective_inputs(&self, id: NodeId) -> Vec<NodeId> {
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
    pub(super) fn readers(&self, id: NodeId) -> Vec<NodeId> {
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
}
