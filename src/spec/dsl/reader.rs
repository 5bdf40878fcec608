//! From pest's parse tree to the document tree: each statement to a map entry by the rules of the module's table.

use pest::iterators::{Pair, Pairs};

use super::Rule;
use crate::diagnostics::Span;
use crate::spec::tree::{Entry, Node, Value};

/// The entries of a file's or a block's statements.
pub(super) fn statements(pairs: Pairs<'_, Rule>) -> Vec<Entry> {
    pairs.filter(|pair| pair.as_rule() == Rule::statement).map(statement).collect()
}

/// One statement as a map entry, following the table in the module documentation.
fn statement(pair: Pair<'_, Rule>) -> Entry {
    let statement_span = span_of(&pair);
    let mut parts = pair.into_inner();
    // The grammar starts every statement with its key.
    let (key, key_span) = parts.next().map_or_else(|| (String::new(), statement_span), key_of);
    let mut positional = Vec::new();
    let mut keywords = Vec::new();
    let mut block = None;
    let mut arguments_span: Option<Span> = None;
    for part in parts {
        let part_span = span_of(&part);
        match part.as_rule() {
            Rule::value => positional.push(value(part)),
            Rule::keyword => keywords.push(keyword(part)),
            Rule::block => block = Some(statements(part.into_inner())),
            _ => continue,
        }
        arguments_span = Some(arguments_span.map_or(part_span, |span| span.to(part_span)));
    }
    let span = arguments_span.unwrap_or(key_span);
    let has_block = block.is_some();
    keywords.extend(block.unwrap_or_default());
    let value = match (positional.len(), keywords.is_empty()) {
        (0, true) if !has_block => Value::Bool(true),
        (0, _) => Value::Map(keywords),
        (1, true) => return Entry { key, key_span, value: positional.remove(0) },
        (_, true) => Value::List(positional),
        (_, false) => Value::Args { positional, keywords },
    };
    Entry { key, key_span, value: Node::new(value, span) }
}

/// A keyword argument or an inline map entry: key, `=` (or `:`), value.
fn keyword(pair: Pair<'_, Rule>) -> Entry {
    let span = span_of(&pair);
    let mut key = (String::new(), span);
    let mut value_node = Node::new(Value::Null, span);
    for part in pair.into_inner() {
        match part.as_rule() {
            Rule::key => key = key_of(part),
            Rule::value => value_node = value(part),
            _ => {}
        }
    }
    Entry { key: key.0, key_span: key.1, value: value_node }
}

/// The text and span of a key, unquoting a quoted one.
fn key_of(pair: Pair<'_, Rule>) -> (String, Span) {
    let span = span_of(&pair);
    let text = match pair.into_inner().next() {
        Some(inner) if inner.as_rule() == Rule::string => unescape(inner.as_str()),
        Some(inner) => inner.as_str().to_string(),
        None => String::new(),
    };
    (text, span)
}

/// A value node from a `value` pair.
fn value(pair: Pair<'_, Rule>) -> Node {
    let span = span_of(&pair);
    let Some(inner) = pair.into_inner().next() else {
        return Node::new(Value::Null, span);
    };
    let text = inner.as_str();
    let value = match inner.as_rule() {
        Rule::string => Value::Str(unescape(text)),
        Rule::number => Value::Number { value: text.parse().unwrap_or(f64::NAN), text: text.to_string() },
        Rule::boolean => Value::Bool(text == "true"),
        Rule::list => Value::List(inner.into_inner().filter(|part| part.as_rule() == Rule::value).map(value).collect()),
        Rule::map => {
            Value::Map(inner.into_inner().filter(|part| part.as_rule() == Rule::map_entry).map(keyword).collect())
        }
        _ => Value::Str(text.to_string()),
    };
    Node::new(value, span)
}

/// The text of a quoted string, without its quotes and with its escapes resolved.
fn unescape(quoted: &str) -> String {
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
            Some('t') => text.push('\t'),
            Some('r') => text.push('\r'),
            Some(other) => text.push(other),
            None => text.push('\\'),
        }
    }
    text
}

fn span_of(pair: &Pair<'_, Rule>) -> Span {
    Span::new(pair.as_span().start(), pair.as_span().end())
}
