//! Appends nodes to a graph, inferring each node's type with the ops' type rules, so that a graph built here is
//! well typed by construction. Lowering, autodiff and the passes all build through it.

use super::ops;
use super::{Binary, Compare, DType, Graph, Node, NodeId, Op, Output, Reduction, Role, Scan, TensorType, Type, Unary};

/// A graph under construction.
#[derive(Clone, Debug)]
pub struct Builder {
    graph: Graph,
}

impl Builder {
    /// Starts an empty graph.
    pub fn new(name: impl Into<String>) -> Builder {
        Builder { graph: Graph::new(name) }
    }

    /// Continues an existing graph: new nodes go after its nodes.
    pub fn extend(graph: Graph) -> Builder {
        Builder { graph }
    }

    /// The graph so far.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The finished graph.
    pub fn finish(self) -> Graph {
        self.graph
    }

    /// Appends a node whose type follows from the op and its inputs (`declared` for type-carrying ops). A type
    /// error here is a bug in the code building the graph, so it panics with the rule's reason.
    pub fn push(&mut self, op: Op, inputs: Vec<NodeId>, declared: Option<Type>) -> NodeId {
        let input_types: Vec<&Type> = inputs.iter().map(|&input| &self.graph.node(input).ty).collect();
        let ty = match ops::infer(&op, &input_types, declared.as_ref()) {
            Ok(ty) => ty,
            Err(reason) => panic!("building `{}` on {inputs:?}: {reason}", ops::name(&op)),
        };
        let id = NodeId(self.graph.nodes.len() as u32);
        self.graph.nodes.push(Node { op, inputs, ty });
        id
    }

    /// Names a result of the graph.
    pub fn output(&mut self, name: impl Into<String>, node: NodeId) {
        self.graph.outputs.push(Output { name: name.into(), node });
    }

    /// The tensor type of a node.
    pub fn ty(&self, id: NodeId) -> &TensorType {
        self.graph.tensor_type(id)
    }

    /// The shape of a node.
    pub fn shape(&self, id: NodeId) -> Vec<usize> {
        self.ty(id).shape.clone()
    }

    /// The dtype of a node.
    pub fn dtype(&self, id: NodeId) -> DType {
        self.ty(id).dtype
    }

    /// A graph input.
    pub fn input(&mut self, name: impl Into<String>, role: Role, ty: TensorType) -> NodeId {
        self.push(Op::Input { name: name.into(), role }, vec![], Some(Type::Tensor(ty)))
    }

    /// A tensor with every element `value`.
    pub fn constant(&mut self, value: f64, dtype: DType, shape: impl Into<Vec<usize>>) -> NodeId {
        self.push(Op::Constant { value }, vec![], Some(Type::Tensor(TensorType::new(dtype, shape))))
    }

    /// A constant of `like`'s type.
    pub fn constant_like(&mut self, value: f64, like: NodeId) -> NodeId {
        let ty = self.ty(like).clone();
        self.constant(value, ty.dtype, ty.shape)
    }

    /// An elementwise function.
    pub fn unary(&mut self, unary: Unary, x: NodeId) -> NodeId {
        self.push(Op::Unary(unary), vec![x], None)
    }

    /// -x.
    pub fn neg(&mut self, x: NodeId) -> NodeId {
        self.unary(Unary::Neg, x)
    }

    /// e^x.
    pub fn exp(&mut self, x: NodeId) -> NodeId {
        self.unary(Unary::Exp, x)
    }

    /// ln x.
    pub fn log(&mut self, x: NodeId) -> NodeId {
        self.unary(Unary::Log, x)
    }

    /// The square root.
    pub fn sqrt(&mut self, x: NodeId) -> NodeId {
        self.unary(Unary::Sqrt, x)
    }

    /// 1 / x.
    pub fn recip(&mut self, x: NodeId) -> NodeId {
        self.unary(Unary::Recip, x)
    }

    /// tanh x.
    pub fn tanh(&mut self, x: NodeId) -> NodeId {
        self.unary(Unary::Tanh, x)
    }

    /// erf x.
    pub fn erf(&mut self, x: NodeId) -> NodeId {
        self.unary(Unary::Erf, x)
    }

    /// An elementwise function of two operands of one type.
    pub fn binary(&mut self, binary: Binary, a: NodeId, b: NodeId) -> NodeId {
        self.push(Op::Binary(binary), vec![a, b], None)
    }

    /// a + b.
    pub fn add(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(Binary::Add, a, b)
    }

    /// a - b.
    pub fn sub(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(Binary::Sub, a, b)
    }

    /// a * b.
    pub fn mul(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(Binary::Mul, a, b)
    }

    /// a / b.
    pub fn div(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(Binary::Div, a, b)
    }

    /// The larger of a and b.
    pub fn max(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(Binary::Max, a, b)
    }

    /// The smaller of a and b.
    pub fn min(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.binary(Binary::Min, a, b)
    }

    /// x * value, with the constant made to x's type.
    pub fn scale(&mut self, x: NodeId, value: f64) -> NodeId {
        let factor = self.constant_like(value, x);
        self.mul(x, factor)
    }

    /// x + value, with the constant made to x's type.
    pub fn offset(&mut self, x: NodeId, value: f64) -> NodeId {
        let term = self.constant_like(value, x);
        self.add(x, term)
    }

    /// An elementwise comparison.
    pub fn compare(&mut self, compare: Compare, a: NodeId, b: NodeId) -> NodeId {
        self.push(Op::Compare(compare), vec![a, b], None)
    }

    /// `condition ? on_true : on_false`.
    pub fn select(&mut self, condition: NodeId, on_true: NodeId, on_false: NodeId) -> NodeId {
        self.push(Op::Select, vec![condition, on_true, on_false], None)
    }

    /// Converts to another dtype.
    pub fn cast(&mut self, x: NodeId, dtype: DType) -> NodeId {
        let shape = self.shape(x);
        self.push(Op::Cast, vec![x], Some(Type::Tensor(TensorType::new(dtype, shape))))
    }

    /// The sum over `axes` (increasing), which disappear.
    pub fn reduce_sum(&mut self, x: NodeId, axes: Vec<usize>) -> NodeId {
        self.push(Op::Reduce { reduction: Reduction::Sum, axes }, vec![x], None)
    }

    /// The largest value over `axes` (increasing), which disappear.
    pub fn reduce_max(&mut self, x: NodeId, axes: Vec<usize>) -> NodeId {
        self.push(Op::Reduce { reduction: Reduction::Max, axes }, vec![x], None)
    }

    /// The mean over `axes` (increasing), which disappear.
    pub fn mean(&mut self, x: NodeId, axes: Vec<usize>) -> NodeId {
        let count: usize = axes.iter().map(|&axis| self.ty(x).shape[axis]).product();
        let sum = self.reduce_sum(x, axes);
        self.scale(sum, 1.0 / count as f64)
    }

    /// The index of the largest value along `axis`.
    pub fn argmax(&mut self, x: NodeId, axis: usize) -> NodeId {
        self.push(Op::ArgMax { axis }, vec![x], None)
    }

    /// The same elements in another shape; a no-op when the shape is already right.
    pub fn reshape(&mut self, x: NodeId, shape: impl Into<Vec<usize>>) -> NodeId {
        let shape = shape.into();
        if self.ty(x).shape == shape {
            return x;
        }
        let dtype = self.dtype(x);
        self.push(Op::Reshape, vec![x], Some(Type::Tensor(TensorType::new(dtype, shape))))
    }

    /// Reorders axes: axis `i` of the result is axis `perm[i]` of `x`.
    pub fn permute(&mut self, x: NodeId, perm: Vec<usize>) -> NodeId {
        self.push(Op::Permute { perm }, vec![x], None)
    }

    /// Swaps the last two axes.
    pub fn transpose(&mut self, x: NodeId) -> NodeId {
        let rank = self.ty(x).rank();
        let mut perm: Vec<usize> = (0..rank).collect();
        perm.swap(rank - 2, rank - 1);
        self.permute(x, perm)
    }

    /// Repeats axes of size 1 up to `shape`; a no-op when the shape is already right.
    pub fn expand(&mut self, x: NodeId, shape: impl Into<Vec<usize>>) -> NodeId {
        let shape = shape.into();
        if self.ty(x).shape == shape {
            return x;
        }
        let dtype = self.dtype(x);
        self.push(Op::Expand, vec![x], Some(Type::Tensor(TensorType::new(dtype, shape))))
    }

    /// Broadcasts `x` to `shape` with its axes aligned to the right, as NumPy does: a bias `[64]` to `[32, 64]`.
    pub fn broadcast(&mut self, x: NodeId, shape: &[usize]) -> NodeId {
        let from = self.shape(x);
        let mut padded = vec![1; shape.len() - from.len()];
        padded.extend(&from);
        let reshaped = self.reshape(x, padded);
        self.expand(reshaped, shape.to_vec())
    }

    /// Puts back reduced `axes` as size 1 and expands them to `shape`: the inverse of a reduction's shape change.
    pub fn unreduce(&mut self, x: NodeId, axes: &[usize], shape: &[usize]) -> NodeId {
        let kept: Vec<usize> =
            shape.iter().enumerate().map(|(axis, &size)| if axes.contains(&axis) { 1 } else { size }).collect();
        let reshaped = self.reshape(x, kept);
        self.expand(reshaped, shape.to_vec())
    }

    /// Pads each axis with `value`.
    pub fn pad(&mut self, x: NodeId, low: Vec<usize>, high: Vec<usize>, interior: Vec<usize>, value: f64) -> NodeId {
        self.push(Op::Pad { low, high, interior, value }, vec![x], None)
    }

    /// Every `step`-th element from `start` to `end` on each axis.
    pub fn slice(&mut self, x: NodeId, start: Vec<usize>, end: Vec<usize>, step: Vec<usize>) -> NodeId {
        self.push(Op::Slice { start, end, step }, vec![x], None)
    }

    /// Elements `start..end` of one axis, every element of the others.
    pub fn slice_axis(&mut self, x: NodeId, axis: usize, start: usize, end: usize) -> NodeId {
        let shape = self.shape(x);
        let mut starts = vec![0; shape.len()];
        let mut ends = shape.clone();
        starts[axis] = start;
        ends[axis] = end;
        self.slice(x, starts, ends, vec![1; shape.len()])
    }

    /// Joins tensors along an axis.
    pub fn concat(&mut self, parts: Vec<NodeId>, axis: usize) -> NodeId {
        if parts.len() == 1 {
            return parts[0];
        }
        self.push(Op::Concat { axis }, parts, None)
    }

    /// The batched matrix product.
    pub fn matmul(&mut self, a: NodeId, b: NodeId) -> NodeId {
        self.push(Op::MatMul, vec![a, b], None)
    }

    /// A scan; read its parts with [`Builder::get`].
    pub fn scan(&mut self, scan: Scan, inputs: Vec<NodeId>) -> NodeId {
        self.push(Op::Scan(Box::new(scan)), inputs, None)
    }

    /// Appends per-step outputs to a scan's body; returns the index of the first new part of its result. The tuple
    /// only gains parts at its end, so every `get` already reading the scan still reads the same part. Autodiff uses
    /// it to save, in the one forward loop, what the backward loop needs, instead of running the loop twice.
    pub fn add_scan_outputs(&mut self, scan: NodeId, outputs: Vec<Output>) -> usize {
        let node = &self.graph.nodes[scan.index()];
        let Op::Scan(attributes) = &node.op else { panic!("{scan} is a `{}`, not a scan", ops::name(&node.op)) };
        let mut attributes = attributes.clone();
        let first = attributes.body.outputs.len();
        attributes.body.outputs.extend(outputs);
        let op = Op::Scan(attributes);
        let input_types: Vec<&Type> = node.inputs.iter().map(|&input| &self.graph.node(input).ty).collect();
        let ty = match ops::infer(&op, &input_types, None) {
            Ok(ty) => ty,
            Err(reason) => panic!("adding outputs to the scan {scan}: {reason}"),
        };
        let node = &mut self.graph.nodes[scan.index()];
        node.op = op;
        node.ty = ty;
        first
    }

    /// Part `index` of a scan's result.
    pub fn get(&mut self, tuple: NodeId, index: usize) -> NodeId {
        self.push(Op::Get { index }, vec![tuple], None)
    }
}
