//! The reference interpreter: runs any graph op by op on ndarray, exactly and deterministically. It is simple on
//! purpose, because it is the oracle that gradients, optimizations and compiled kernels are checked against.
//!
//! [`run`] first type checks the whole graph (scan bodies included) with the ops' own type rules and checks the
//! inputs against it, so that a malformed graph or a wrong input map is an [`InterpretError`], never a panic; the
//! kernels then run on values whose types are known.
//!
//! Semantics the op docs leave to the runtime:
//! - Sums run in a fixed order: sequentially along each reduced axis, the last reduced axis first. A result never
//!   depends on the thread count. A matrix product's element is the chain of fused multiply-adds over `k` in order,
//!   the order of the compiled backend's GEMM (`matmul`).
//! - `max`, `min` and `reduce_max` propagate NaN, and `argmax` ranks NaN above every number (the first NaN wins),
//!   so that a diverging model is seen instead of hidden.
//! - `i32` arithmetic wraps and division by zero gives 0.
//! - A cast from a float to `i32` truncates toward zero (saturating; NaN gives 0), from `bool` gives 0 or 1, and to
//!   `bool` is `!= 0`. A constant's or a pad's `value` converts the same way.

mod elementwise;
mod matmul;
mod movement;
mod reduce;
mod scan;
mod tensor;
#[cfg(test)]
mod tests;

pub use tensor::Tensor;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use crate::ir::{ops, Graph, Node, NodeId, Op, TensorType, Type};

/// Why a graph could not run: a wrong input map, or a graph that breaks the type rules.
#[derive(Clone, Debug, PartialEq)]
pub enum InterpretError {
    /// The graph has an input that the map does not name.
    MissingInput {
        /// The input's name.
        name: String,
        /// The input's type.
        expected: TensorType,
    },
    /// An input's dtype or shape is not the graph's.
    WrongInput {
        /// The input's name.
        name: String,
        /// The input's type in the graph.
        expected: TensorType,
        /// The type of the tensor given.
        found: TensorType,
    },
    /// A node's inputs do not fit its op or its declared type (a graph not built through the builder).
    BadNode {
        /// The node.
        node: NodeId,
        /// The op's text name.
        op: &'static str,
        /// Why, in words.
        reason: String,
    },
    /// A graph output names no node, or a tuple.
    BadOutput {
        /// The output's name.
        name: String,
        /// Why, in words.
        reason: String,
    },
}

impl fmt::Display for InterpretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InterpretError::MissingInput { name, expected } => {
                write!(f, "missing input `{name}`: the graph expects {expected}")
            }
            InterpretError::WrongInput { name, expected, found } => {
                write!(f, "input `{name}` is {found} but the graph expects {expected}")
            }
            InterpretError::BadNode { node, op, reason } => write!(f, "node {node} (`{op}`): {reason}"),
            InterpretError::BadOutput { name, reason } => write!(f, "output `{name}`: {reason}"),
        }
    }
}

impl std::error::Error for InterpretError {}

/// Runs `graph` on `inputs` (a tensor for each graph input, by name) and returns every graph output by name, in
/// row-major layout. Names in `inputs` that the graph does not take are ignored, so that one map can feed several
/// graphs.
pub fn run(graph: &Graph, inputs: &BTreeMap<String, Tensor>) -> Result<BTreeMap<String, Tensor>, InterpretError> {
    check_graph(graph)?;
    let mut values = Vec::new();
    for (id, name, _) in graph.inputs() {
        let expected = graph.tensor_type(id);
        let Some(tensor) = inputs.get(name) else {
            return Err(InterpretError::MissingInput { name: name.to_string(), expected: expected.clone() });
        };
        if tensor.dtype() != expected.dtype || tensor.shape() != expected.shape.as_slice() {
            return Err(InterpretError::WrongInput {
                name: name.to_string(),
                expected: expected.clone(),
                found: tensor.tensor_type(),
            });
        }
        values.push(Cow::Borrowed(tensor));
    }
    let outputs = execute(graph, values);
    Ok(graph.outputs.iter().map(|output| output.name.clone()).zip(outputs).collect())
}

/// Checks that every node reads earlier nodes and that its type follows from its inputs by the ops' type rules
/// (scan bodies first, since a scan's rule reads its body), and that every output is a tensor node. After this the
/// kernels can trust the types.
fn check_graph(graph: &Graph) -> Result<(), InterpretError> {
    for (index, node) in graph.nodes.iter().enumerate() {
        let bad =
            |reason: String| InterpretError::BadNode { node: NodeId(index as u32), op: ops::name(&node.op), reason };
        if let Some(later) = node.inputs.iter().find(|input| input.index() >= index) {
            return Err(bad(format!("it reads {later}, which does not come before it")));
        }
        if let Op::Scan(scan) = &node.op {
            check_graph(&scan.body).map_err(|error| bad(format!("in its body, {error}")))?;
        }
        let input_types: Vec<&Type> = node.inputs.iter().map(|input| &graph.node(*input).ty).collect();
        match ops::infer(&node.op, &input_types, Some(&node.ty)) {
            Ok(ty) if ty == node.ty => {}
            Ok(ty) => return Err(bad(format!("its inputs make it {ty} but it is declared {}", node.ty))),
            Err(reason) => return Err(bad(reason)),
        }
    }
    for output in &graph.outputs {
        let reason = match graph.nodes.get(output.node.index()) {
            None => format!("it reads {}, but the graph has {} nodes", output.node, graph.nodes.len()),
            Some(Node { ty: Type::Tuple(_), .. }) => {
                format!("it reads {}, a tuple; read a part with `get`", output.node)
            }
            Some(_) => continue,
        };
        return Err(InterpretError::BadOutput { name: output.name.clone(), reason });
    }
    Ok(())
}

/// A node's value while the graph runs: inputs are borrowed from the caller, everything else is owned.
enum Value<'a> {
    Tensor(Cow<'a, Tensor>),
    Tuple(Vec<Tensor>),
}

impl Value<'_> {
    fn tensor(&self) -> &Tensor {
        match self {
            Value::Tensor(tensor) => tensor,
            Value::Tuple(_) => panic!("a tuple read as a tensor in a type-checked graph"),
        }
    }
}

/// Runs a type-checked graph on its inputs (in input node order, of the right types) and returns its outputs in
/// order. Each value is dropped after its last reader, so memory follows the live values, not the graph's size.
fn execute(graph: &Graph, inputs: Vec<Cow<'_, Tensor>>) -> Vec<Tensor> {
    let node_count = graph.nodes.len();
    let mut last_reader = vec![None; node_count];
    for (index, node) in graph.nodes.iter().enumerate() {
        for input in &node.inputs {
            last_reader[input.index()] = Some(index);
        }
    }
    let mut remaining_outputs = vec![0usize; node_count];
    for output in &graph.outputs {
        remaining_outputs[output.node.index()] += 1;
    }
    let mut inputs = inputs.into_iter();
    let mut values: Vec<Option<Value>> = (0..node_count).map(|_| None).collect();
    for (index, node) in graph.nodes.iter().enumerate() {
        let value = match &node.op {
            Op::Input { .. } => Value::Tensor(inputs.next().expect("one value per graph input")),
            Op::Get { index: part } => match values[node.inputs[0].index()].as_ref() {
                Some(Value::Tuple(parts)) => Value::Tensor(Cow::Owned(parts[*part].clone())),
                _ => panic!("`get` reads a tuple in a type-checked graph"),
            },
            op => {
                let arguments: Vec<&Tensor> = node
                    .inputs
                    .iter()
                    .map(|input| {
                        values[input.index()].as_ref().expect("an input is computed before its readers").tensor()
                    })
                    .collect();
                match op {
                    Op::Scan(scan) => {
                        let Type::Tuple(parts) = &node.ty else { panic!("a scan's type is a tuple") };
                        Value::Tuple(scan::scan(scan, &arguments, parts))
                    }
                    op => Value::Tensor(Cow::Owned(kernel(op, &arguments, graph.tensor_type(NodeId(index as u32))))),
                }
            }
        };
        debug_assert!(
            match (&value, &node.ty) {
                (Value::Tensor(tensor), Type::Tensor(ty)) => tensor.tensor_type() == *ty,
                (Value::Tuple(parts), Type::Tuple(types)) =>
                    parts.iter().map(Tensor::tensor_type).collect::<Vec<_>>() == *types,
                _ => false,
            },
            "node {index} (`{}`) computed a value of another type than {}",
            ops::name(&node.op),
            node.ty
        );
        values[index] = Some(value);
        for input in &node.inputs {
            if last_reader[input.index()] == Some(index) && remaining_outputs[input.index()] == 0 {
                values[input.index()] = None;
            }
        }
    }
    graph
        .outputs
        .iter()
        .map(|output| {
            let slot = output.node.index();
            remaining_outputs[slot] -= 1;
            let tensor = if remaining_outputs[slot] == 0 {
                match values[slot].take() {
                    Some(Value::Tensor(tensor)) => tensor.into_owned(),
                    _ => panic!("an output is a computed tensor in a type-checked graph"),
                }
            } else {
                values[slot].as_ref().expect("an output is computed").tensor().clone()
            };
            tensor.into_standard_layout()
        })
        .collect()
}

/// The value of a node whose op is a plain function of its input tensors (the compiled backend runs the ops it does
/// not compile through this too).
pub(crate) fn kernel(op: &Op, arguments: &[&Tensor], ty: &TensorType) -> Tensor {
    match op {
        Op::Constant { value } => Tensor::filled(ty, *value),
        Op::Unary(unary) => elementwise::unary(*unary, arguments[0]),
        Op::Binary(binary) => elementwise::binary(*binary, arguments[0], arguments[1]),
        Op::Compare(compare) => elementwise::compare(*compare, arguments[0], arguments[1]),
        Op::Select => elementwise::select(arguments[0], arguments[1], arguments[2]),
        Op::Cast => elementwise::cast(arguments[0], ty.dtype),
        Op::Reduce { reduction, axes } => reduce::reduce(*reduction, axes, arguments[0]),
        Op::ArgMax { axis } => reduce::argmax(*axis, arguments[0]),
        Op::Reshape => movement::reshape(arguments[0], &ty.shape),
        Op::Permute { perm } => movement::permute(arguments[0], perm),
        Op::Expand => movement::expand(arguments[0], &ty.shape),
        Op::Pad { low, high: _, interior, value } => movement::pad(arguments[0], low, interior, *value, &ty.shape),
        Op::Slice { start, end, step } => movement::slice(arguments[0], start, end, step),
        Op::Concat { axis } => movement::concat(arguments, *axis),
        Op::MatMul => matmul::matmul(arguments[0], arguments[1]),
        Op::Input { .. } | Op::Scan(_) | Op::Get { .. } => unreachable!("`execute` runs inputs, scans and gets itself"),
    }
}
