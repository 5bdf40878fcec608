//! From a document tree to DSL text: the canonical form that the reader reads back to an equal tree.

use pest::Parser;

use super::{DslParser, Rule};
use crate::spec::tree::{Entry, Node, Value};

/// The entries a statement prints as a block: a map's at the top level, and a map's or an `Args`'s keywords when
/// one of them has no inline form (an `Args`, which only a nested block produces).
pub(super) fn block_entries(node: &Node, depth: usize) -> Option<&[Entry]> {
    match &node.value {
        Value::Map(entries) if depth == 0 || !entries.iter().all(|entry| fits_inline(&entry.value)) => Some(entries),
        Value::Args { keywords, .. } if !keywords.iter().all(|entry| fits_inline(&entry.value)) => Some(keywords),
        _ => None,
    }
}

/// Whether a value can be written inline (inside a list, a map or after `=`).
fn fits_inline(node: &Node) -> bool {
    match &node.value {
        Value::Args { .. } => false,
        Value::List(items) => items.iter().all(fits_inline),
        Value::Map(entries) => entries.iter().all(|entry| fits_inline(&entry.value)),
        _ => true,
    }
}

/// Prints one statement on its own line (or a block over several), indented two spaces per depth.
pub(super) fn print_statement(out: &mut String, entry: &Entry, depth: usize) {
    let indent = "  ".repeat(depth);
    out.push_str(&indent);
    print_key(out, &entry.key);
    let block = block_entries(&entry.value, depth);
    match &entry.value.value {
        Value::Bool(true) => {}
        Value::Map(_) if block.is_some() => {}
        Value::Map(entries) if entries.is_empty() => out.push_str(" {}"),
        Value::Map(entries) => print_keywords(out, entries),
        // One item alone would read back as that item, none as a bare flag: those keep their brackets.
        Value::List(items) if items.len() >= 2 => {
            for (index, item) in items.iter().enumerate() {
                out.push_str(if index == 0 { " " } else { ", " });
                print_inline(out, item);
            }
        }
        Value::Args { positional, keywords } => {
            for item in positional {
                out.push(' ');
                print_inline(out, item);
            }
            if block.is_none() {
                print_keywords(out, keywords);
            }
        }
        _ => {
            out.push(' ');
            print_inline(out, &entry.value);
        }
    }
    if let Some(entries) = block {
        out.push_str(" {\n");
        for inner in entries {
            print_statement(out, inner, depth + 1);
        }
        out.push_str(&indent);
        out.push('}');
    }
    out.push('\n');
}

/// Prints ` k=v k2=v2`.
fn print_keywords(out: &mut String, entries: &[Entry]) {
    for entry in entries {
        out.push(' ');
        print_key(out, &entry.key);
        out.push('=');
        print_inline(out, &entry.value);
    }
}

/// Prints a value in its one-line form.
fn print_inline(out: &mut String, node: &Node) {
    match &node.value {
        Value::Null => out.push_str("\"\""),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number { value, text } if !is_number_text(text) && value.is_finite() => out.push_str(&value.to_string()),
        Value::Number { text, .. } if !is_number_text(text) => print_quoted(out, text),
        Value::Number { text, .. } => out.push_str(text),
        Value::Str(text) if is_bare_name(text) && text != "true" && text != "false" => out.push_str(text),
        Value::Str(text) => print_quoted(out, text),
        Value::List(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                out.push_str(if index == 0 { "" } else { ", " });
                print_inline(out, item);
            }
            out.push(']');
        }
        Value::Map(entries) => {
            out.push('{');
            for (index, entry) in entries.iter().enumerate() {
                out.push_str(if index == 0 { "" } else { ", " });
                print_key(out, &entry.key);
                out.push('=');
                print_inline(out, &entry.value);
            }
            out.push('}');
        }
        // Never produced by `parse` inside a value; written as its positional values and a map of its keywords.
        Value::Args { positional, keywords } => {
            let mut items = positional.clone();
            items.push(Node::new(Value::Map(keywords.clone()), node.span));
            print_inline(out, &Node::new(Value::List(items), node.span));
        }
    }
}

fn print_key(out: &mut String, key: &str) {
    if is_bare_name(key) {
        out.push_str(key);
    } else {
        print_quoted(out, key);
    }
}

fn print_quoted(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            other => out.push(other),
        }
    }
    out.push('"');
}

/// Whether `text` matches the grammar's `name` rule.
fn is_bare_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Whether `text` is, as a whole, a number the grammar reads.
fn is_number_text(text: &str) -> bool {
    DslParser::parse(Rule::number, text)
        .ok()
        .and_then(|mut pairs| pairs.next())
        .is_some_and(|pair| pair.as_span().end() == text.len())
}
