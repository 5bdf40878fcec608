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

pub mod builder;
pub mod ops;
pub mod precision;
#[cfg(test)]
pub(crate) mod random;
pub mod text;
pub mod verify;

pub use builder::Builder;

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
