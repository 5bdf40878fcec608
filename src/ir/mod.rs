//! The IR: a graph of primitive tensor ops with static shapes, the form every model takes between the checker and
//! a backend.
//!
//! A [`Graph`] is a list of [`Node`]s in topological order: a node only reads nodes before it. Each node has one
//! [`Op`], its inputs and its [`Type`]. The op set is small and primitive (elementwise unary and binary ops,
//! compare, select, cast, reductions, movement views) plus two first-class constructs: [`Op::MatMul`], the one
//! contraction (a convolution is im2col, made of slices and a concat, then a matmul), and [`Op::Scan`], a loop over
//! time steps whose cell is a subgraph, for recurrent layers.
//!
//! Broadcasting is never implicit: binary ops take operands of one shape, and [`Op::Expand`] makes the copies. So
//! every op's type rule, gradient rule and kernel stays simple.
//!
//! The text form ([`text`]) prints and parses back exactly; [`verify`] checks shapes, dtypes and which ops are legal
//! at a stage. [`Builder`] appends nodes and infers their types, so a graph built through it is well typed.

pub mod ops;
pub mod precision;
#[cfg(test)]
pub(crate) mod random;
pub mod text;
pub mod verify;

use std::fmt;

/// A node of a graph; its `Display` is the text IR's `%12`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The node's position in [`Graph::nodes`].
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "%{}", self.0)
    }
}

/// The element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// 32-bit float: what models train in.
    F32,
    /// 64-bit float: what gradient checks run in.
    F64,
    /// 32-bit integer: class indices.
    I32,
    /// Truth values: the result of a comparison.
    Bool,
}

impl DType {
    /// Every dtype, in the order of their text names.
    pub const ALL: [DType; 4] = [DType::F32, DType::F64, DType::I32, DType::Bool];

    /// The text IR's name.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
            DType::I32 => "i32",
            DType::Bool => "bool",
        }
    }

    /// The dtype of a text IR name.
    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|dtype| dtype.name() == name)
    }

    /// Whether values of this dtype are floating point (and so differentiable).
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A tensor's element type and shape: `f32[32, 64]`; a scalar has the empty shape `f32[]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorType {
    /// The element type.
    pub dtype: DType,
    /// The size of each axis.
    pub shape: Vec<usize>,
}

impl TensorType {
    /// A tensor type.
    pub fn new(dtype: DType, shape: impl Into<Vec<usize>>) -> TensorType {
        TensorType { dtype, shape: shape.into() }
    }

    /// The number of axes.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The number of elements.
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[", self.dtype)?;
        for (axis, size) in self.shape.iter().enumerate() {
            if axis > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{size}")?;
        }
        f.write_str("]")
    }
}

/// The type of a node's value: one tensor, or a tuple of tensors (only a scan makes one; [`Op::Get`] takes a part).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// One tensor.
    Tensor(TensorType),
    /// Several tensors.
    Tuple(Vec<TensorType>),
}

impl Type {
    /// The tensor type, or `None` for a tuple.
    pub fn tensor(&self) -> Option<&TensorType> {
        match self {
            Type::Tensor(tensor) => Some(tensor),
            Type::Tuple(_) => None,
        }
    }
}

impl From<TensorType> for Type {
    fn from(tensor: TensorType) -> Type {
        Type::Tensor(tensor)
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Tensor(tensor) => write!(f, "{tensor}"),
            Type::Tuple(parts) => {
                f.write_str("(")?;
                for (index, part) in parts.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{part}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// What a graph input holds, so that a runtime knows where each value comes from and where updates go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Part of the batch: features, targets, sample weights.
    Batch,
    /// A trainable parameter.
    Param,
    /// State carried between steps that the optimizer does not train: moments, running statistics.
    State,
    /// A training hyperparameter that changes between steps: the learning rate, the step number. Never folded.
    Hyper,
    /// Uniform random numbers in [0, 1) drawn by the runtime from a seeded stream (dropout masks).
    Noise,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [Role::Batch, Role::Param, Role::State, Role::Hyper, Role::Noise];

    /// The text IR's name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Batch => "batch",
            Role::Param => "param",
            Role::State => "state",
            Role::Hyper => "hyper",
            Role::Noise => "noise",
        }
    }

    /// The role of a text IR name.
    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.name() == name)
    }
}

/// Elementwise functions of one operand, on floats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unary {
    /// -x.
    Neg,
    /// e^x.
    Exp,
    /// The natural logarithm.
    Log,
    /// The square root.
    Sqrt,
    /// 1 / x.
    Recip,
    /// The hyperbolic tangent.
    Tanh,
    /// The error function (exact GELU).
    Erf,
}

/// Elementwise functions of two operands of one type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Binary {
    /// a + b.
    Add,
    /// a - b.
    Sub,
    /// a * b.
    Mul,
    /// a / b.
    Div,
    /// The larger of a and b.
    Max,
    /// The smaller of a and b.
    Min,
}

/// Elementwise comparisons; the result is `bool`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compare {
    /// a < b.
    Lt,
    /// a <= b.
    Le,
    /// a > b.
    Gt,
    /// a >= b.
    Ge,
    /// a == b.
    Eq,
    /// a != b.
    Ne,
}

/// How a reduction combines values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reduction {
    /// The sum.
    Sum,
    /// The largest value.
    Max,
}

/// One operation. Attributes that fix the result's shape (a reshape's target, a constant's shape) live in the
/// node's [`Type`], not here, so that they are written once.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A value supplied by the caller, named, with what it holds. No inputs.
    Input { name: String, role: Role },
    /// A tensor of the node's type with every element `value`. No inputs.
    Constant { value: f64 },
    /// `f(x)` elementwise. Inputs: `x` (float).
    Unary(Unary),
    /// `f(a, b)` elementwise. Inputs: `a`, `b`, of one type (int or float; `bool` not allowed).
    Binary(Binary),
    /// `a ? b` elementwise, giving `bool`. Inputs: `a`, `b` of one type.
    Compare(Compare),
    /// `condition ? on_true : on_false` elementwise. Inputs: `condition` (bool), `on_true`, `on_false` (one type, the
    /// condition's shape).
    Select,
    /// Converts to the node's dtype. Inputs: `x`.
    Cast,
    /// Combines values over `axes` (increasing, distinct), which disappear from the shape. Inputs: `x` (not bool).
    Reduce { reduction: Reduction, axes: Vec<usize> },
    /// The index of the largest value along `axis` (the first on ties), as `i32`; the axis disappears. Inputs: `x`.
    ArgMax { axis: usize },
    /// The same elements in row-major order, in the node's shape. Inputs: `x`.
    Reshape,
    /// Axis `i` of the result is axis `perm[i]` of the input. Inputs: `x`.
    Permute { perm: Vec<usize> },
    /// Repeats axes of size 1 up to the node's shape (same rank). Inputs: `x`.
    Expand,
    /// Pads each axis with `low` elements before, `high` after and `interior` between neighbours, all set to
    /// `value`. Inputs: `x`.
    Pad { low: Vec<usize>, high: Vec<usize>, interior: Vec<usize>, value: f64 },
    /// Every `step`-th element of each axis from `start` up to (not including) `end`. Inputs: `x`.
    Slice { start: Vec<usize>, end: Vec<usize>, step: Vec<usize> },
    /// Joins the inputs along `axis`; the other axes agree. Inputs: one or more tensors of one dtype.
    Concat { axis: usize },
    /// Batched matrix product `[..., m, k] x [..., k, n] -> [..., m, n]`, with equal batch axes. Inputs: `a`, `b`
    /// (float, rank >= 2).
    MatMul,
    /// A loop of `steps` steps running `body` (see [`Scan`]). Inputs: the initial carries, then the sequences
    /// (`[steps, ...]`, one slice per step), then the invariants. The result is a tuple: the final carries, then each
    /// per-step output stacked into `[steps, ...]`.
    Scan(Box<Scan>),
    /// Part `index` of a tuple. Inputs: a scan.
    Get { index: usize },
}

/// The attributes of a scan: a recurrent cell run over time steps without unrolling it into the graph.
///
/// The body's inputs, in node order, are the carries, one slice of each sequence and the invariants; its outputs
/// are the new carries (the carries' types, in order) then the per-step outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct Scan {
    /// The number of steps.
    pub steps: usize,
    /// The number of carries (the first inputs and the first outputs of the body).
    pub carries: usize,
    /// The number of sequences, read one slice per step along their first axis.
    pub sequences: usize,
    /// Whether the steps run from the last slice to the first (a backward pass).
    pub reverse: bool,
    /// The cell.
    pub body: Graph,
}

/// One node: an op, the nodes it reads, and the type of its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The operation.
    pub op: Op,
    /// The nodes it reads, all earlier in the graph.
    pub inputs: Vec<NodeId>,
    /// The type of its value.
    pub ty: Type,
}

/// A named result of a graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    /// The name the caller reads it by (`loss`, `new.dense_1.kernel`).
    pub name: String,
    /// The node holding it.
    pub node: NodeId,
}

/// A graph: nodes in topological order and its named outputs. Its inputs are its [`Op::Input`] nodes, in order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Graph {
    /// What the graph computes (`forward`, `train_step`, `predict`); the text form's header.
    pub name: String,
    /// The nodes, each reading only earlier ones.
    pub nodes: Vec<Node>,
    /// The results.
    pub outputs: Vec<Output>,
}

impl Graph {
    /// An empty graph.
    pub fn new(name: impl Into<String>) -> Graph {
        Graph { name: name.into(), nodes: Vec::new(), outputs: Vec::new() }
    }

    /// The node with an id.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// The tensor type of a node; panics on a tuple, which only [`Op::Get`] reads.
    pub fn tensor_type(&self, id: NodeId) -> &TensorType {
        match &self.node(id).ty {
            Type::Tensor(tensor) => tensor,
            Type::Tuple(_) => panic!("{id} is a tuple, read it through `get`"),
        }
    }

    /// The ids of every node, in order.
    pub fn ids(&self) -> impl Iterator<Item = NodeId> {
        (0..self.nodes.len() as u32).map(NodeId)
    }

    /// The input nodes in order, with their names and roles.
    pub fn inputs(&self) -> Vec<(NodeId, &str, Role)> {
        self.ids()
            .filter_map(|id| match &self.node(id).op {
                Op::Input { name, role } => Some((id, name.as_str(), *role)),
                _ => None,
            })
            .collect()
    }

    /// The input node with a name.
    pub fn input(&self, name: &str) -> Option<NodeId> {
        self.inputs().into_iter().find(|(_, input, _)| *input == name).map(|(id, _, _)| id)
    }

    /// The output node with a name.
    pub fn output(&self, name: &str) -> Option<NodeId> {
        self.outputs.iter().find(|output| output.name == name).map(|output| output.node)
    }

    /// How many nodes read each node (outputs count as readers).
    pub fn use_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.nodes.len()];
        for node in &self.nodes {
            for input in &node.inputs {
                counts[input.index()] += 1;
            }
        }
        for output in &self.outputs {
            counts[output.node.index()] += 1;
        }
        counts
    }
}

/// A graph under construction. It appends nodes, inferring each node's type with the ops' type rules, so that a graph
/// built here is well typed by construction; lowering, autodiff and the passes all build through it.
///
/// It lives beside the graph rather than in a module of its own because it and the op rules use each other: it types
/// every node through [`ops::infer`], and each op's gradient rule, beside its type rule in [`ops`], builds through it.
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

/// A copy of `graph` built node by node through a [`Builder`]: `replace` may build a node's value itself (it gets the
/// builder, the node's index and where the earlier nodes went, and may add nodes before it), else the node is copied
/// onto its inputs' new ids. The outputs follow their nodes.
pub(crate) fn rebuild(
    graph: &Graph,
    mut replace: impl FnMut(&mut Builder, usize, &[NodeId]) -> Option<NodeId>,
) -> Graph {
    let mut builder = Builder::new(graph.name.clone());
    let mut renumbered: Vec<NodeId> = Vec::with_capacity(graph.nodes.len());
    for (index, node) in graph.nodes.iter().enumerate() {
        let id = match replace(&mut builder, index, &renumbered) {
            Some(id) => id,
            None => {
                let inputs = node.inputs.iter().map(|input| renumbered[input.index()]).collect();
                builder.push(node.op.clone(), inputs, Some(node.ty.clone()))
            }
        };
        renumbered.push(id);
    }
    for output in &graph.outputs {
        builder.output(output.name.clone(), renumbered[output.node.index()]);
    }
    builder.finish()
}
