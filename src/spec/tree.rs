//! The generic document tree both front ends produce: maps, lists and scalars, each with its source span.
//!
//! The DSL and YAML front ends only know syntax; they turn text into this tree. All knowledge of which keys, layers
//! and names exist lives in `spec::lower`, which reads the tree into the AST, so both forms share one set of rules
//! and one set of messages.

use crate::diagnostics::Span;

/// A value of the document with the span of its source text.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where it was written.
    pub span: Span,
}

/// One `key: value` entry of a map (or one statement of a DSL block).
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The key as written.
    pub key: String,
    /// Where the key was written.
    pub key_span: Span,
    /// The value.
    pub value: Node,
}

/// A document value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// YAML `null`, `~` or an empty value.
    Null,
    /// `true` / `false`; in the DSL also a bare flag.
    Bool(bool),
    /// A number, with its text as written so that `1` and `1.0` can be told apart where that matters (class
    /// labels) and compared as numbers where it does not.
    Number { value: f64, text: String },
    /// A string, quoted or bare.
    Str(String),
    /// A sequence.
    List(Vec<Node>),
    /// A mapping, in source order. Keys may repeat: a DSL `model { ... }` block is a map whose keys are layer names,
    /// and lowering reports repeated keys where they are not allowed.
    Map(Vec<Entry>),
    /// A DSL statement with both positional and keyword arguments, as in `optimizer adam lr=0.001` or
    /// `split train=0.8 test=0.2 stratify`. YAML never produces it.
    Args { positional: Vec<Node>, keywords: Vec<Entry> },
}

impl Node {
    /// A node from a value and a span.
    pub fn new(value: Value, span: Span) -> Node {
        Node { value, span }
    }

    /// A short description of the node's kind for messages: "a number", "a list", ...
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "nothing",
            Value::Bool(_) => "true/false",
            Value::Number { .. } => "a number",
            Value::Str(_) => "a name or text",
            Value::List(_) => "a list",
            Value::Map(_) => "a mapping",
            Value::Args { .. } => "several arguments",
        }
    }
}
