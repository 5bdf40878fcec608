//! The IR's text form: `Display for Graph` prints it and [`parse`] reads it back to an equal graph.
//!
//! ```
//! let text = r#"graph train_step {
//!   %0 = input "x" batch : f32[10, 4]
//!   %1 = input "h0" param : f32[4]
//!   %2 = scan %1, %0 steps=10 carries=1 sequences=1 reverse=false : (f32[4], f32[10, 4]) graph cell {
//!     %0 = input "h" batch : f32[4]
//!     %1 = input "x" batch : f32[4]
//!     %2 = add %0, %1 : f32[4]
//!     %3 = tanh %2 : f32[4]
//!     output "h" = %3
//!     output "y" = %3
//!   }
//!   %3 = get %2 index=1 : f32[10, 4]
//!   %4 = reduce_sum %3 axes=[0, 1] : f32[]
//!   %5 = constant 0.1 : f32[]
//!   %6 = mul %4, %5 : f32[]
//!   output "loss" = %6
//! }
//! "#;
//! let graph = galen::ir::text::parse(text).unwrap();
//! assert_eq!(graph.nodes.len(), 7);
//! assert_eq!(graph.to_string(), text);
//! ```
//!
//! One node per line: its id (`%i` is the node's position, counted from `%0` in each graph, a scan's body
//! included), `=`, the op's name ([`ops::name`]), its operands, its positional values (an input's quoted name and
//! role, a constant's value), its attributes as `name=value`, `:` and its type. A scan's body graph follows its
//! type. Outputs come last. Numbers print as Rust's `{:?}` prints an `f64` (the shortest text that reads back to
//! the same value) or `inf`, `-inf`, `nan`, so every attribute round-trips exactly, NaN payloads and sign aside.
//! Names are quoted with the escapes `\"`, `\\`, `\n`, `\r`, `\t` and `\u{..}` for other control characters; a
//! graph's name is bare when it is an identifier.
//!
//! [`parse`] requires ids in order, so a printed graph parses back to an equal [`Graph`], and it re-infers every
//! node's type with [`ops::infer`], rejecting a written type that disagrees. `;` starts a comment:
//! [`print_with_notes`] puts notes (the verifier's errors) under the lines they are about, and the result still
//! parses.

mod parse;
mod syntax;
#[cfg(test)]
mod tests;

pub use parse::{parse, ParseError};

use std::fmt::{self, Write};

use super::{ops, DType, Graph, Node, NodeId, Op, Type};

/// A line of a graph's text, for a note printed under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The scans whose bodies hold the line, outermost first; empty for the top graph.
    pub scope: Vec<NodeId>,
    /// Which line of that graph.
    pub place: Place,
}

/// A line of one graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The `graph NAME {` line: notes about the graph as a whole.
    Header,
    /// A node's line.
    Node(NodeId),
    /// An output's line, by its position in [`Graph::outputs`].
    Output(usize),
}

impl Line {
    /// A line of the top graph.
    pub fn top(place: Place) -> Line {
        Line { scope: Vec::new(), place }
    }
}

/// Prints a graph with each note as a `; note` comment line under the line it is about. A note whose line does
/// not exist in the graph goes under the top graph's header, so that none is lost.
pub fn print_with_notes(graph: &Graph, notes: &[(Line, String)]) -> String {
    let mut printer = Printer { out: String::new(), notes, scope: Vec::new() };
    let stray: Vec<&str> =
        notes.iter().filter(|(line, _)| !line_exists(graph, line)).map(|(_, note)| note.as_str()).collect();
    printer.graph(graph, 0, &stray);
    printer.out
}

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print_with_notes(self, &[]))
    }
}

/// Writes graphs line by line, with notes.
struct Printer<'a> {
    out: String,
    notes: &'a [(Line, String)],
    /// The scans whose bodies are being printed, outermost first.
    scope: Vec<NodeId>,
}

impl Printer<'_> {
    /// A graph at an indentation depth; `stray` notes go under its header.
    fn graph(&mut self, graph: &Graph, depth: usize, stray: &[&str]) {
        let indent = "  ".repeat(depth);
        let inner = "  ".repeat(depth + 1);
        // Printing into a String cannot fail.
        let _ = writeln!(self.out, "graph {} {{", graph_name(&graph.name));
        self.notes(Place::Header, &inner);
        for note in stray {
            self.note(note, &inner);
        }
        for (index, node) in graph.nodes.iter().enumerate() {
            let id = NodeId(index as u32);
            self.out.push_str(&inner);
            self.out.push_str(&node_line(id, node));
            if let Op::Scan(scan) = &node.op {
                self.out.push(' ');
                self.scope.push(id);
                self.graph(&scan.body, depth + 1, &[]);
                self.scope.pop();
            } else {
                self.out.push('\n');
            }
            self.notes(Place::Node(id), &inner);
        }
        for (index, output) in graph.outputs.iter().enumerate() {
            let _ = writeln!(self.out, "{inner}output {} = {}", quoted(&output.name), output.node);
            self.notes(Place::Output(index), &inner);
        }
        let _ = writeln!(self.out, "{indent}}}");
    }

    /// The notes about one line of the graph being printed.
    fn notes(&mut self, place: Place, indent: &str) {
        for (line, note) in self.notes {
            if line.place == place && line.scope == self.scope {
                self.note(note, indent);
            }
        }
    }

    /// One note, each of its lines a comment, so that the text still parses.
    fn note(&mut self, note: &str, indent: &str) {
        for line in note.split(['\n', '\r']) {
            let _ = writeln!(self.out, "{indent}; {line}");
        }
    }
}

/// A node's line without its body or line break: `%2 = reduce_sum %1 axes=[0] : f32[4]`.
fn node_line(id: NodeId, node: &Node) -> String {
    let mut line = format!("{id} = {}", ops::name(&node.op));
    for (index, input) in node.inputs.iter().enumerate() {
        line.push_str(if index == 0 { " " } else { ", " });
        let _ = write!(line, "{input}");
    }
    for literal in literals(&node.op, &node.ty) {
        line.push(' ');
        line.push_str(&literal);
    }
    for (name, value) in attributes(&node.op, &node.ty) {
        let _ = write!(line, " {name}={value}");
    }
    let _ = write!(line, " : {}", node.ty);
    line
}

/// The positional values of an op, as written.
fn literals(op: &Op, ty: &Type) -> Vec<String> {
    match op {
        Op::Input { name, role } => vec![quoted(name), role.name().to_string()],
        Op::Constant { value } => vec![element_value(*value, ty)],
        _ => Vec::new(),
    }
}

/// The attributes of an op, in the order they are written. The parser reads the same names.
fn attributes(op: &Op, ty: &Type) -> Vec<(&'static str, String)> {
    match op {
        Op::Reduce { reduction: _, axes } => vec![("axes", list(axes))],
        Op::ArgMax { axis } => vec![("axis", axis.to_string())],
        Op::Permute { perm } => vec![("perm", list(perm))],
        Op::Pad { low, high, interior, value } => {
            vec![
                ("low", list(low)),
                ("high", list(high)),
                ("interior", list(interior)),
                ("value", element_value(*value, ty)),
            ]
        }
        Op::Slice { start, end, step } => vec![("start", list(start)), ("end", list(end)), ("step", list(step))],
        Op::Concat { axis } => vec![("axis", axis.to_string())],
        Op::Scan(scan) => vec![
            ("steps", scan.steps.to_string()),
            ("carries", scan.carries.to_string()),
            ("sequences", scan.sequences.to_string()),
            ("reverse", scan.reverse.to_string()),
        ],
        Op::Get { index } => vec![("index", index.to_string())],
        Op::Input { .. }
        | Op::Constant { .. }
        | Op::Unary(_)
        | Op::Binary(_)
        | Op::Compare(_)
        | Op::Select
        | Op::Cast
        | Op::Reshape
        | Op::Expand
        | Op::MatMul => Vec::new(),
    }
}

/// `[0, 2]`.
fn list(values: &[usize]) -> String {
    let items: Vec<String> = values.iter().map(usize::to_string).collect();
    format!("[{}]", items.join(", "))
}

/// An `f64` as text that reads back to the same value: Rust's shortest round-trip form, or `inf`, `-inf`, `nan`.
fn number(value: f64) -> String {
    if value.is_nan() {
        "nan".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{value:?}")
    }
}

/// The value of a constant or a pad on a node of type `ty`: a whole number without `.0` when the elements are
/// `i32` or `bool` (`constant 3 : i32[]`), which reads back to the same `f64`, else [`number`].
fn element_value(value: f64, ty: &Type) -> String {
    let whole_elements = ty.tensor().is_some_and(|tensor| matches!(tensor.dtype, DType::I32 | DType::Bool));
    // Below 2^53 every whole f64 prints without an exponent and reads back exactly; `-0` keeps its sign.
    if whole_elements && value.fract() == 0.0 && value.abs() < 9_007_199_254_740_992.0 {
        format!("{value}")
    } else {
        number(value)
    }
}

/// A graph's name: bare when it is an identifier, else quoted.
fn graph_name(name: &str) -> String {
    let mut chars = name.chars();
    let bare = chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if bare {
        name.to_string()
    } else {
        quoted(name)
    }
}

/// Text in double quotes with the grammar's escapes.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether a note's line is printed: its scope names scans, each in the body of the one before.
fn line_exists(graph: &Graph, line: &Line) -> bool {
    let mut graph = graph;
    for id in &line.scope {
        match graph.nodes.get(id.index()).map(|node| &node.op) {
            Some(Op::Scan(scan)) => graph = &scan.body,
            _ => return false,
        }
    }
    match line.place {
        Place::Header => true,
        Place::Node(id) => id.index() < graph.nodes.len(),
        Place::Output(index) => index < graph.outputs.len(),
    }
}
