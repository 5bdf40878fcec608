//! Kernel building: the groups and the other nodes become steps in a topological order (earliest node first, so the
//! order follows the graph where it can), each group's members one kernel body over the simplest iteration space;
//! then the epilogues are fused and the frees placed.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use super::epilogues::fuse_epilogues;
use super::grouping::{Class, Planner};
use super::liveness::liveness;
use super::{plan, tensor, Layout, Operand, Plan, Step};
use crate::backend::kernel::{Access, Expr, Kernel, Reduce, Store};
use crate::ir::{NodeId, Op};

/// An item to schedule: a group (one kernel) or one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    Group(usize),
    Node(NodeId),
}

pub(super) struct Builder<'g> {
    pub(super) planner: Planner<'g>,
    /// The nodes of each group, in graph order.
    pub(super) members: BTreeMap<usize, Vec<NodeId>>,
}

impl<'g> Builder<'g> {
    pub(super) fn new(planner: Planner<'g>) -> Builder<'g> {
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

    pub(super) fn build(self) -> Plan {
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
