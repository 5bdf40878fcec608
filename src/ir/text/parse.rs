//! Text to graph: pest parses the syntax (`grammar/ir.pest`), then each node is checked as it is read: its id is
//! the next one, its operands are earlier nodes, its op takes the values and attributes written, and its written
//! type is the one [`ops::infer`] gives. Any input gives a graph or a [`ParseError`], never a panic.

use std::fmt;

use pest::iterators::Pair;
use pest::Parser;

use super::syntax::{check_nesting, syntax_error};
use crate::diagnostics::unknown_name_help;
use crate::ir::{
    ops, Binary, Compare, DType, Graph, Node, NodeId, Op, Output, Reduction, Role, Scan, TensorType, Type, Unary,
};

/// Why a text is not a graph: where (1-based line and column, counted in characters) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1, in characters.
    pub column: usize,
    /// What is wrong, in plain words.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Reads a graph from its text form; see the [module documentation](super) for the form.
pub fn parse(text: &str) -> Result<Graph, ParseError> {
    check_nesting(text)?;
    let mut file = IrParser::parse(Rule::file, text).map_err(|error| syntax_error(text, error))?;
    let graph_pair = file
        .next()
        .and_then(|file| file.into_inner().find(|pair| pair.as_rule() == Rule::graph))
        .ok_or_else(|| ParseError { line: 1, column: 1, message: "expected a graph".to_string() })?;
    graph_of(graph_pair)
}

mod grammar {
    //! The pest parser generated from `grammar/ir.pest`.
    #[derive(pest_derive::Parser)]
    #[grammar = "../grammar/ir.pest"]
    pub struct IrParser;
}

use grammar::IrParser;
pub(super) use grammar::Rule;

/// The largest whole number the text may hold: an axis size, an attribute. Bounding them keeps every size
/// computation of the type rules far from overflow, whatever the text says.
const MAX_WHOLE: usize = i32::MAX as usize;

/// Every unary op, to find one by its text name.
const UNARIES: [Unary; 7] = [Unary::Neg, Unary::Exp, Unary::Log, Unary::Sqrt, Unary::Recip, Unary::Tanh, Unary::Erf];

/// Every binary op.
const BINARIES: [Binary; 6] = [Binary::Add, Binary::Sub, Binary::Mul, Binary::Div, Binary::Max, Binary::Min];

/// Every comparison.
const COMPARES: [Compare; 6] = [Compare::Lt, Compare::Le, Compare::Gt, Compare::Ge, Compare::Eq, Compare::Ne];

/// The text names of the ops that are not one of a family above.
const OTHER_OPS: [&str; 16] = [
    "input",
    "constant",
    "select",
    "cast",
    "reduce_sum",
    "reduce_max",
    "argmax",
    "reshape",
    "permute",
    "expand",
    "pad",
    "slice",
    "concat",
    "matmul",
    "scan",
    "get",
];

/// An error at the start of a pair.
fn error_at(pair: &Pair<'_, Rule>, message: impl Into<String>) -> ParseError {
    let (line, column) = pair.as_span().start_pos().line_col();
    ParseError { line, column, message: message.into() }
}

/// One graph: its name, its nodes (each checked against those before it) and its outputs.
fn graph_of(pair: Pair<'_, Rule>) -> Result<Graph, ParseError> {
    let mut graph = Graph::new("");
    for part in pair.into_inner() {
        match part.as_rule() {
            Rule::graph_name => graph.name = graph_name(part)?,
            Rule::node => {
                let node = node(part, &graph)?;
                graph.nodes.push(node);
            }
            Rule::output => {
                let output = output(part, &graph)?;
                graph.outputs.push(output);
            }
            _ => {}
        }
    }
    Ok(graph)
}

fn graph_name(pair: Pair<'_, Rule>) -> Result<String, ParseError> {
    match pair.into_inner().next() {
        Some(inner) if inner.as_rule() == Rule::string => unescape(&inner),
        Some(inner) => Ok(inner.as_str().to_string()),
        None => Ok(String::new()),
    }
}

/// `output "name" = %3`: the node must exist and be a tensor.
fn output(pair: Pair<'_, Rule>, graph: &Graph) -> Result<Output, ParseError> {
    let mut name = String::new();
    let mut node = None;
    for part in pair.into_inner() {
        match part.as_rule() {
            Rule::string => name = unescape(&part)?,
            Rule::node_id => node = Some(part),
            _ => {}
        }
    }
    let Some(node_pair) = node else {
        return Err(ParseError { line: 1, column: 1, message: "an output without its node".to_string() });
    };
    let id = node_id(&node_pair)?;
    let Some(read) = graph.nodes.get(id.index()) else {
        let count = graph.nodes.len();
        return Err(error_at(&node_pair, format!("output {name:?} reads {id}, but the graph has {count} nodes")));
    };
    if read.ty.tensor().is_none() {
        let message = format!("output {name:?} reads {id}, a tuple; an output is a tensor, read a part with `get`");
        return Err(error_at(&node_pair, message));
    }
    Ok(Output { name, node: id })
}

/// `%12` as an id.
fn node_id(pair: &Pair<'_, Rule>) -> Result<NodeId, ParseError> {
    let digits = pair.as_str().trim_start_matches('%');
    match digits.parse::<u32>() {
        Ok(index) => Ok(NodeId(index)),
        Err(_) => Err(error_at(pair, format!("the id {} is too large", pair.as_str()))),
    }
}

/// The parts of a node's line, as written.
struct NodeText<'i> {
    id: Pair<'i, Rule>,
    op_name: Pair<'i, Rule>,
    operands: Vec<Pair<'i, Rule>>,
    literals: Vec<Pair<'i, Rule>>,
    attributes: Vec<(Pair<'i, Rule>, Pair<'i, Rule>)>,
    ty: Pair<'i, Rule>,
    body: Option<Pair<'i, Rule>>,
}

/// One node, checked against the nodes before it.
fn node(pair: Pair<'_, Rule>, graph: &Graph) -> Result<Node, ParseError> {
    let text = node_text(pair)?;
    let expected = NodeId(graph.nodes.len() as u32);
    let id = node_id(&text.id)?;
    if id != expected {
        let message = format!("expected {expected}, found {id}: nodes are numbered in order from %0");
        return Err(error_at(&text.id, message));
    }
    let mut inputs = Vec::with_capacity(text.operands.len());
    for operand in &text.operands {
        let input = node_id(operand)?;
        if input >= id {
            let message = format!("{id} reads {input}, which is not defined before it: a node reads earlier nodes");
            return Err(error_at(operand, message));
        }
        inputs.push(input);
    }
    let op_text = text.op_name.as_str();
    let body = match text.body.clone() {
        Some(body) if op_text == "scan" => Some(graph_of(body)?),
        Some(body) => return Err(error_at(&body, format!("`{op_text}` has no body; only a scan does"))),
        None => None,
    };
    let op = Arguments::new(&text).op(body)?;
    let written = node_type(&text.ty)?;
    let input_types: Vec<&Type> = inputs.iter().map(|input| &graph.node(*input).ty).collect();
    let inferred = ops::infer(&op, &input_types, Some(&written))
        .map_err(|reason| error_at(&text.op_name, format!("{id} (`{op_text}`): {reason}")))?;
    if inferred != written {
        let message = format!("{id} is written as {written} but `{op_text}` gives {inferred}");
        return Err(error_at(&text.ty, message));
    }
    check_size(&inferred).map_err(|reason| error_at(&text.op_name, format!("{id} (`{op_text}`): {reason}")))?;
    Ok(Node { op, inputs, ty: written })
}

/// Sorts a node's pairs by what they are.
fn node_text(pair: Pair<'_, Rule>) -> Result<NodeText<'_>, ParseError> {
    let start = pair.clone();
    let (mut id, mut op_name, mut ty, mut body) = (None, None, None, None);
    let (mut operands, mut literals, mut attributes) = (Vec::new(), Vec::new(), Vec::new());
    for part in pair.into_inner() {
        match part.as_rule() {
            Rule::node_id => id = Some(part),
            Rule::op_name => op_name = Some(part),
            Rule::operands => operands.extend(part.into_inner().filter(|inner| inner.as_rule() == Rule::node_id)),
            Rule::literal => literals.extend(part.into_inner()),
            Rule::attribute => {
                let mut inner = part.into_inner();
                let name = inner.next().and_then(|name| name.into_inner().next());
                if let (Some(name), Some(value)) = (name, inner.next()) {
                    attributes.push((name, value));
                }
            }
            Rule::node_type => ty = Some(part),
            Rule::graph => body = Some(part),
            _ => {}
        }
    }
    match (id, op_name, ty) {
        (Some(id), Some(op_name), Some(ty)) => Ok(NodeText { id, op_name, operands, literals, attributes, ty, body }),
        _ => Err(error_at(&start, "a node needs an id, an op and a type")),
    }
}

/// A node's positional values and attributes, taken one by one as its op needs them; what is left over is an
/// error.
struct Arguments<'a, 'i> {
    op_name: &'a Pair<'i, Rule>,
    literals: std::collections::VecDeque<Pair<'i, Rule>>,
    attributes: Vec<(Pair<'i, Rule>, Pair<'i, Rule>)>,
}

impl<'a, 'i> Arguments<'a, 'i> {
    fn new(text: &'a NodeText<'i>) -> Arguments<'a, 'i> {
        Arguments {
            op_name: &text.op_name,
            literals: text.literals.iter().cloned().collect(),
            attributes: text.attributes.clone(),
        }
    }

    fn op_text(&self) -> &'i str {
        self.op_name.as_str()
    }

    /// The op the name, values and attributes make, with nothing left over.
    fn op(mut self, body: Option<Graph>) -> Result<Op, ParseError> {
        let name = self.op_text();
        self.check_duplicates()?;
        if every_op_name().contains(&name) {
            self.check_attribute_names()?;
        }
        let op = if let Some(unary) = UNARIES.into_iter().find(|&unary| ops::name(&Op::Unary(unary)) == name) {
            Op::Unary(unary)
        } else if let Some(binary) = BINARIES.into_iter().find(|&binary| ops::name(&Op::Binary(binary)) == name) {
            Op::Binary(binary)
        } else if let Some(compare) = COMPARES.into_iter().find(|&compare| ops::name(&Op::Compare(compare)) == name) {
            Op::Compare(compare)
        } else {
            match name {
                "input" => {
                    let input_name = self.string_literal("the input's name in quotes")?;
                    let role = self.role_literal()?;
                    Op::Input { name: input_name, role }
                }
                "constant" => Op::Constant { value: self.number_literal()? },
                "select" => Op::Select,
                "cast" => Op::Cast,
                "reduce_sum" => Op::Reduce { reduction: Reduction::Sum, axes: self.list("axes")? },
                "reduce_max" => Op::Reduce { reduction: Reduction::Max, axes: self.list("axes")? },
                "argmax" => Op::ArgMax { axis: self.whole("axis")? },
                "reshape" => Op::Reshape,
                "permute" => Op::Permute { perm: self.list("perm")? },
                "expand" => Op::Expand,
                "pad" => Op::Pad {
                    low: self.list("low")?,
                    high: self.list("high")?,
                    interior: self.list("interior")?,
                    value: self.float("value")?,
                },
                "slice" => Op::Slice { start: self.list("start")?, end: self.list("end")?, step: self.list("step")? },
                "concat" => Op::Concat { axis: self.whole("axis")? },
                "matmul" => Op::MatMul,
                "scan" => {
                    let Some(body) = body else {
                        return Err(error_at(
                            self.op_name,
                            "a scan needs its body: `graph NAME { ... }` after its type",
                        ));
                    };
                    Op::Scan(Box::new(Scan {
                        steps: self.whole("steps")?,
                        carries: self.whole("carries")?,
                        sequences: self.whole("sequences")?,
                        reverse: self.boolean("reverse")?,
                        body,
                    }))
                }
                "get" => Op::Get { index: self.whole("index")? },
                _ => return Err(error_at(self.op_name, unknown_op(name))),
            }
        };
        self.finish()?;
        Ok(op)
    }

    fn check_duplicates(&self) -> Result<(), ParseError> {
        for (index, (name, _)) in self.attributes.iter().enumerate() {
            if self.attributes[..index].iter().any(|(earlier, _)| earlier.as_str() == name.as_str()) {
                return Err(error_at(name, format!("`{}` is written twice", name.as_str())));
            }
        }
        Ok(())
    }

    /// Errors on an attribute the op does not take, before a missing one is looked for: a misspelling is the
    /// likelier mistake.
    fn check_attribute_names(&self) -> Result<(), ParseError> {
        let op = self.op_text();
        let takes = attribute_names(op);
        for (name, _) in &self.attributes {
            if !takes.contains(&name.as_str()) {
                let help = if takes.is_empty() {
                    "it takes none".to_string()
                } else {
                    unknown_name_help(name.as_str(), &takes)
                };
                return Err(error_at(name, format!("`{op}` has no attribute `{}`; {help}", name.as_str())));
            }
        }
        Ok(())
    }

    /// Errors on a value the op does not take. Every attribute was taken or refused by name already.
    fn finish(self) -> Result<(), ParseError> {
        let op = self.op_text();
        if let Some(literal) = self.literals.front() {
            return Err(error_at(literal, format!("`{op}` takes no value `{}` here", literal.as_str())));
        }
        Ok(())
    }

    fn next_literal(&mut self, what: &str) -> Result<Pair<'i, Rule>, ParseError> {
        let op = self.op_text();
        self.literals.pop_front().ok_or_else(|| error_at(self.op_name, format!("`{op}` needs {what}")))
    }

    fn string_literal(&mut self, what: &str) -> Result<String, ParseError> {
        let literal = self.next_literal(what)?;
        if literal.as_rule() != Rule::string {
            return Err(error_at(&literal, format!("expected {what}, found `{}`", literal.as_str())));
        }
        unescape(&literal)
    }

    fn role_literal(&mut self) -> Result<Role, ParseError> {
        let literal = self.next_literal("a role")?;
        Role::from_name(literal.as_str()).ok_or_else(|| {
            let names: Vec<&str> = Role::ALL.iter().map(|role| role.name()).collect();
            let help = unknown_name_help(literal.as_str(), &names);
            error_at(&literal, format!("unknown role `{}`; {help}", literal.as_str()))
        })
    }

    fn number_literal(&mut self) -> Result<f64, ParseError> {
        let literal = self.next_literal("its value")?;
        float_of(&literal)
    }

    /// The value of a required attribute, removed from those left.
    fn attribute(&mut self, name: &str) -> Result<Pair<'i, Rule>, ParseError> {
        let op = self.op_text();
        let position = self.attributes.iter().position(|(written, _)| written.as_str() == name);
        let Some(position) = position else {
            return Err(error_at(self.op_name, format!("`{op}` needs `{name}=...`")));
        };
        let (_, value) = self.attributes.remove(position);
        // An attribute value wraps one list, number or identifier.
        Ok(value.clone().into_inner().next().unwrap_or(value))
    }

    fn list(&mut self, name: &str) -> Result<Vec<usize>, ParseError> {
        let value = self.attribute(name)?;
        if value.as_rule() != Rule::list {
            return Err(error_at(&value, format!("`{name}` is a list like `[0, 1]`, found `{}`", value.as_str())));
        }
        value.into_inner().filter(|item| item.as_rule() == Rule::number).map(|item| whole_of(&item)).collect()
    }

    fn whole(&mut self, name: &str) -> Result<usize, ParseError> {
        let value = self.attribute(name)?;
        whole_of(&value)
    }

    fn float(&mut self, name: &str) -> Result<f64, ParseError> {
        let value = self.attribute(name)?;
        float_of(&value)
    }

    fn boolean(&mut self, name: &str) -> Result<bool, ParseError> {
        let value = self.attribute(name)?;
        match value.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(error_at(&value, format!("`{name}` is `true` or `false`, found `{other}`"))),
        }
    }
}

/// The attribute names an op takes, for "did you mean".
fn attribute_names(op: &str) -> Vec<&'static str> {
    match op {
        "reduce_sum" | "reduce_max" => vec!["axes"],
        "argmax" | "concat" => vec!["axis"],
        "permute" => vec!["perm"],
        "pad" => vec!["low", "high", "interior", "value"],
        "slice" => vec!["start", "end", "step"],
        "scan" => vec!["steps", "carries", "sequences", "reverse"],
        "get" => vec!["index"],
        _ => Vec::new(),
    }
}

/// The text name of every op.
pub(super) fn every_op_name() -> Vec<&'static str> {
    let mut names: Vec<&str> = UNARIES.iter().map(|&unary| ops::name(&Op::Unary(unary))).collect();
    names.extend(BINARIES.iter().map(|&binary| ops::name(&Op::Binary(binary))));
    names.extend(COMPARES.iter().map(|&compare| ops::name(&Op::Compare(compare))));
    names.extend(OTHER_OPS);
    names
}

/// "unknown op" with the closest name or the list of names.
fn unknown_op(name: &str) -> String {
    format!("unknown op `{name}`; {}", unknown_name_help(name, &every_op_name()))
}

/// A whole number no larger than [`MAX_WHOLE`].
fn whole_of(pair: &Pair<'_, Rule>) -> Result<usize, ParseError> {
    let text = pair.as_str();
    if pair.as_rule() != Rule::number || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(error_at(pair, format!("expected a whole number, found `{text}`")));
    }
    match text.parse::<usize>() {
        Ok(value) if value <= MAX_WHOLE => Ok(value),
        _ => Err(error_at(pair, format!("{text} is too large; sizes and attributes are at most {MAX_WHOLE}"))),
    }
}

/// A number as an `f64`: Rust's float syntax, `inf`, `-inf` or `nan`.
fn float_of(pair: &Pair<'_, Rule>) -> Result<f64, ParseError> {
    let text = pair.as_str();
    let value = match text {
        _ if pair.as_rule() != Rule::number => None,
        "inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        "nan" | "-nan" => Some(f64::NAN),
        _ => text.parse::<f64>().ok(),
    };
    value.ok_or_else(|| error_at(pair, format!("expected a number, found `{text}`")))
}

/// A written type; each tensor's sizes must be small enough to compute with.
fn node_type(pair: &Pair<'_, Rule>) -> Result<Type, ParseError> {
    let Some(inner) = pair.clone().into_inner().next() else {
        return Err(error_at(pair, "expected a type"));
    };
    let ty = match inner.as_rule() {
        Rule::tuple_type => Type::Tuple(
            inner
                .into_inner()
                .filter(|part| part.as_rule() == Rule::tensor_type)
                .map(|part| tensor_type(&part))
                .collect::<Result<_, _>>()?,
        ),
        _ => Type::Tensor(tensor_type(&inner)?),
    };
    check_size(&ty).map_err(|reason| error_at(pair, reason))?;
    Ok(ty)
}

fn tensor_type(pair: &Pair<'_, Rule>) -> Result<TensorType, ParseError> {
    let mut dtype = None;
    let mut shape = Vec::new();
    for part in pair.clone().into_inner() {
        match part.as_rule() {
            Rule::dtype => {
                let names: Vec<&str> = DType::ALL.iter().map(|dtype| dtype.name()).collect();
                dtype = Some(DType::from_name(part.as_str()).ok_or_else(|| {
                    let help = unknown_name_help(part.as_str(), &names);
                    error_at(&part, format!("unknown dtype `{}`; {help}", part.as_str()))
                })?);
            }
            Rule::number => shape.push(whole_of(&part)?),
            _ => {}
        }
    }
    dtype.map(|dtype| TensorType::new(dtype, shape)).ok_or_else(|| error_at(pair, "expected a dtype"))
}

/// Says why when a type's sizes are too large to compute with: an axis over [`MAX_WHOLE`], or more elements than a
/// 64-bit count holds.
fn check_size(ty: &Type) -> Result<(), String> {
    let tensors = match ty {
        Type::Tensor(tensor) => std::slice::from_ref(tensor),
        Type::Tuple(parts) => parts.as_slice(),
    };
    for tensor in tensors {
        let too_large = tensor.shape.iter().any(|&size| size > MAX_WHOLE)
            || tensor.shape.iter().try_fold(1u64, |count, &size| count.checked_mul(size as u64)).is_none();
        if too_large {
            return Err(format!("{tensor} is too large; an axis holds at most {MAX_WHOLE} elements"));
        }
    }
    Ok(())
}

/// The text of a quoted string, its escapes resolved.
fn unescape(pair: &Pair<'_, Rule>) -> Result<String, ParseError> {
    let quoted = pair.as_str();
    let inner = quoted.strip_prefix('"').and_then(|text| text.strip_suffix('"')).unwrap_or(quoted);
    let mut text = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            text.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => text.push('\n'),
            Some('r') => text.push('\r'),
            Some('t') => text.push('\t'),
            Some('u') => {
                // The grammar allows `u{` then 1 to 6 hex digits then `}`.
                let hex: String = chars.by_ref().skip(1).take_while(|&c| c != '}').collect();
                let decoded = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                let Some(decoded) = decoded else {
                    return Err(error_at(pair, format!("`\\u{{{hex}}}` is not a character")));
                };
                text.push(decoded);
            }
            Some(other) => text.push(other),
            None => text.push('\\'),
        }
    }
    Ok(text)
}
