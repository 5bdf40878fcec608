//! The YAML front end: YAML text to the generic document tree with byte spans, and the tree back to canonical YAML.
//!
//! Parsing looks at the text twice. serde_yaml (libyaml) first decides whether the text is YAML at all, the way
//! every other YAML tool does, and `explain` restates its errors in plain words at the line most likely at fault;
//! yaml-rust2's marked events then build the tree, because they carry the positions that serde_yaml's `Value` lacks.
//! The scalar typing here copies serde_yaml's (YAML 1.2 core schema), so both readings agree on what every value is.
//! This module knows only syntax, with one exception: a layer name repeated under `model` (from `ast::LAYER_NAMES`)
//! is reported as layers written without `- `. Unknown keys and wrong kinds of values are reported by `spec::lower`.

use std::collections::HashMap;
use std::fmt::Write as _;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, Scanner, TScalarStyle, Token, TokenType};

use crate::diagnostics::{line_column, Diagnostic, Diagnostics, Location, Span};
use crate::spec::ast::LAYER_NAMES;
use crate::spec::tree::{Entry, Node, Value};

mod explain;

const SYNTAX: &str = "syntax::yaml";
const FEATURE: &str = "syntax::yaml_feature";
const WRITE_IN_FULL: &str = "write the value out in full";

/// Parses YAML source into the document tree (a Map at the top).
///
/// Returns `None` when any error was added to `diagnostics`: a syntax error, a duplicate key, a second document,
/// a top level that is not a mapping, or a YAML feature the spec language leaves out (anchors, aliases, merge keys,
/// tags; all of these are reported, not only the first). An empty document is an empty map.
pub fn parse(source: &str, diagnostics: &mut Diagnostics) -> Option<Node> {
    let first_new = diagnostics.items.len();
    let document = read(source, diagnostics);
    // The passes find problems in different orders; the user reads them top to bottom.
    diagnostics.items[first_new..].sort_by_key(|diagnostic| match diagnostic.location {
        Location::Spec(span) => span.start,
        _ => 0,
    });
    document
}

fn read(source: &str, diagnostics: &mut Diagnostics) -> Option<Node> {
    let errors_before = diagnostics.error_count();
    let positions = Positions::new(source);
    // libyaml misreads a byte-order mark followed by several lines as several documents, so neither reader sees it.
    let serde_reading = serde_yaml::from_str::<serde_yaml::Value>(positions.body());
    report_yaml_features(&positions, diagnostics);
    let fallback = match &serde_reading {
        // serde_yaml gives no usable place for a duplicate key or a second document; the event pass finds both with
        // exact spans, so its message is kept only as a fallback. Any other error ends here, unless a feature error
        // already explains it better (an unknown alias, `!!int x`).
        Err(error) if error.location().is_some() && !error.to_string().contains("duplicate entry") => {
            if diagnostics.error_count() == errors_before {
                let diagnostic = explain::spec_language(&positions);
                diagnostics.push(diagnostic.unwrap_or_else(|| serde_diagnostic(&positions, error)));
            }
            return None;
        }
        Err(error) => Some(serde_diagnostic(&positions, error)),
        Ok(_) => None,
    };
    let document = build_tree(&positions, fallback, diagnostics);
    if diagnostics.error_count() > errors_before {
        return None;
    }
    // The readers differ on a few corner cases (`{?a: 1}`, a tab after `:`); a spec must mean one thing to all tools.
    let serde_value = serde_reading.ok().filter(|value| !value.is_null());
    if let Some(span) = serde_value.and_then(|value| first_disagreement(&value, &document)) {
        let message = "yaml readers disagree on what this means";
        let help = "write it more plainly: put text in quotes and keep a space after `:`, `-` and `?`";
        diagnostics.push(Diagnostic::error(SYNTAX, message).at(span).with_label("read differently").with_help(help));
        return None;
    }
    Some(document)
}

/// Builds the tree from yaml-rust2's events and checks that its top is a mapping.
fn build_tree(positions: &Positions, fallback: Option<Diagnostic>, diagnostics: &mut Diagnostics) -> Node {
    let mut builder = TreeBuilder { positions, stack: Vec::new(), root: None, documents: 0, found: Vec::new() };
    let loaded = Parser::new_from_str(positions.body()).load(&mut builder, true);
    if let Err(error) = &loaded {
        let offset = positions.offset(error.marker());
        // libyaml accepted the text (or failed without a place), so this is one of the corners where readers differ;
        // one of them is a first line indented more than the next (libyaml reads two documents there).
        let help = "write it more plainly: spaces instead of tabs, and a space after `:` and `-`";
        let plain = Diagnostic::error(SYNTAX, readable(error.info())).at(char_span(positions.source, offset));
        builder.found.push(explain::misaligned_line(positions, offset).unwrap_or_else(|| plain.with_help(help)));
    }
    if !builder.found.iter().any(|found| found.code == SYNTAX) {
        builder.found.extend(fallback);
    }
    diagnostics.extend(builder.found);
    let document = match builder.root {
        None => Node::new(Value::Map(Vec::new()), Span::point(positions.skipped)),
        Some(Node { value: Value::Null, span }) if span.is_empty() => Node::new(Value::Map(Vec::new()), span),
        Some(root) => root,
    };
    if loaded.is_ok() && !matches!(document.value, Value::Map(_)) {
        if let Some(diagnostic) = explain::spec_language(positions) {
            diagnostics.push(diagnostic);
            return document;
        }
        let message = "a spec is a mapping of sections (`name`, `data`, `model`, `train`, `metrics`)";
        let help = "write one `section: value` per line, as in `name: my-model`";
        diagnostics.push(Diagnostic::error(SYNTAX, message).at(document.span).with_help(help));
    }
    document
}

/// The first place where serde_yaml's reading and the tree differ, if any.
fn first_disagreement(value: &serde_yaml::Value, node: &Node) -> Option<Span> {
    use serde_yaml::Value as Yaml;
    let agrees = match (value, &node.value) {
        (Yaml::Null, Value::Null) => true,
        (Yaml::Bool(a), Value::Bool(b)) => a == b,
        (Yaml::Number(a), Value::Number { value, .. }) => {
            a.as_f64().is_some_and(|a| a == *value || (a.is_nan() && value.is_nan()))
        }
        (Yaml::String(a), Value::Str(b)) => a == b,
        (Yaml::Sequence(items), Value::List(nodes)) if items.len() == nodes.len() => {
            return items.iter().zip(nodes).find_map(|(item, node)| first_disagreement(item, node));
        }
        (Yaml::Mapping(map), Value::Map(entries)) if map.len() == entries.len() => {
            return map.iter().zip(entries).find_map(|((key, value), entry)| {
                let key_value = match key {
                    Yaml::String(_) => Value::Str(entry.key.clone()),
                    _ => plain_scalar_value(&entry.key),
                };
                match first_disagreement(key, &Node::new(key_value, entry.key_span)) {
                    Some(span) => Some(span),
                    None => first_disagreement(value, &entry.value),
                }
            });
        }
        _ => false,
    };
    (!agrees).then_some(node.span)
}

/// Prints a document tree as canonical YAML that `parse` reads back to an equal tree (spans aside).
///
/// Top-level entries are `key: value` lines; a mapping value becomes an indented block of `key: flow` lines, a list
/// holding a mapping becomes a block sequence (`- key: flow` for a one-entry mapping), anything else is written in
/// flow style. Block sections are set apart by blank lines. Strings are plain where that reads back as the same
/// string, double-quoted otherwise. `Value::Args` never comes from YAML: it is a bug to print it here, caught by a
/// `debug_assert!`; release builds write its keywords as a mapping and drop the positional values.
pub fn print(document: &Node) -> String {
    let Value::Map(sections) = &document.value else {
        return format!("{}\n", flow(document));
    };
    if sections.is_empty() {
        return "{}\n".to_string();
    }
    let mut out = String::new();
    let mut previous_was_block = false;
    for (index, section) in sections.iter().enumerate() {
        let (text, is_block) = section_text(section);
        if index > 0 && (is_block || previous_was_block) {
            out.push('\n');
        }
        out.push_str(&text);
        previous_was_block = is_block;
    }
    out
}

fn section_text(section: &Entry) -> (String, bool) {
    let key = scalar_text(&section.key);
    match &section.value.value {
        Value::Map(entries) if !entries.is_empty() => {
            let mut text = format!("{key}:\n");
            for entry in entries {
                let _ = writeln!(text, "  {}: {}", scalar_text(&entry.key), flow(&entry.value));
            }
            (text, true)
        }
        Value::List(items) if items.iter().any(|item| matches!(item.value, Value::Map(_))) => {
            let mut text = format!("{key}:\n");
            for item in items {
                match &item.value {
                    Value::Map(entries) if entries.len() == 1 => {
                        let _ = writeln!(text, "  - {}: {}", scalar_text(&entries[0].key), flow(&entries[0].value));
                    }
                    _ => {
                        let _ = writeln!(text, "  - {}", flow(item));
                    }
                }
            }
            (text, true)
        }
        _ => (format!("{key}: {}\n", flow(&section.value)), false),
    }
}

fn flow(node: &Node) -> String {
    match &node.value {
        Value::Null => "null".to_string(),
        Value::Bool(value) => value.to_string(),
        Value::Number { value, text } => number_text(*value, text),
        Value::Str(text) => scalar_text(text),
        Value::List(items) => format!("[{}]", items.iter().map(flow).collect::<Vec<_>>().join(", ")),
        Value::Map(entries) => flow_map(entries),
        Value::Args { keywords, .. } => {
            debug_assert!(false, "`Value::Args` comes only from the DSL and has no YAML form");
            flow_map(keywords)
        }
    }
}

fn flow_map(entries: &[Entry]) -> String {
    let entries: Vec<String> =
        entries.iter().map(|entry| format!("{}: {}", scalar_text(&entry.key), flow(&entry.value))).collect();
    format!("{{{}}}", entries.join(", "))
}

/// The number as written when that reads back as a number, else a canonical spelling of its value.
fn number_text(value: f64, text: &str) -> String {
    if matches!(plain_scalar_value(text), Value::Number { .. }) {
        text.to_string()
    } else if value.is_nan() {
        ".nan".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { ".inf" } else { "-.inf" }.to_string()
    } else {
        format!("{value:?}")
    }
}

/// A string or key as a plain scalar when that is safe, else double-quoted.
fn scalar_text(text: &str) -> String {
    if plain_is_safe(text) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) && (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if needs_escape(c) => out.push_str(&format!("\\U{:08X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `text` written bare reads back as the same string, in YAML 1.2 and in the YAML 1.1 readers users have.
fn plain_is_safe(text: &str) -> bool {
    const READS_AS_OTHER: [&str; 13] =
        ["null", "~", "true", "false", "yes", "no", "on", "off", ".inf", "-.inf", "+.inf", ".nan", "<<"];
    let (Some(first), Some(last)) = (text.chars().next(), text.chars().last()) else {
        return false;
    };
    matches!(plain_scalar_value(text), Value::Str(_))
        && !READS_AS_OTHER.contains(&text.to_lowercase().as_str())
        && !"-?:,[]{}#&*!|>'\"%@`".contains(first)
        && !first.is_whitespace()
        && !last.is_whitespace()
        && !text.starts_with("...")
        && !text.contains(" #")
        && !text.chars().any(|c| ":,[]{}\n\t\r".contains(c) || needs_escape(c))
}

fn needs_escape(character: char) -> bool {
    character.is_control() || matches!(character, '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}')
}

/// The value of a plain (unquoted) scalar as serde_yaml types it: null, true/false, an integer (decimal, `0x`, `0o`,
/// `0b`), a float (`1e-3`, `.inf`, `.nan`), else a string. Quoted scalars are always strings.
fn plain_scalar_value(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ => match yaml_integer(text).or_else(|| yaml_float(text)) {
            Some(value) => Value::Number { value, text: text.to_string() },
            None => Value::Str(text.to_string()),
        },
    }
}

fn yaml_integer(text: &str) -> Option<f64> {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (radix, digits) = [("0x", 16), ("0o", 8), ("0b", 2)]
        .iter()
        .find_map(|(prefix, radix)| unsigned.strip_prefix(prefix).map(|rest| (*radix, rest)))
        .unwrap_or((10, unsigned));
    if digits.starts_with(['+', '-']) || (radix == 10 && leading_zero_digits(text)) {
        return None;
    }
    let magnitude = u128::from_str_radix(digits, radix).ok()? as f64;
    Some(if negative { -magnitude } else { magnitude })
}

fn yaml_float(text: &str) -> Option<f64> {
    let unsigned = match text.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return None,
        Some(rest) => rest,
        None => text,
    };
    match (unsigned, text) {
        (".inf" | ".Inf" | ".INF", _) => Some(f64::INFINITY),
        (_, "-.inf" | "-.Inf" | "-.INF") => Some(f64::NEG_INFINITY),
        (_, ".nan" | ".NaN" | ".NAN") => Some(f64::NAN),
        _ if leading_zero_digits(text) => None,
        _ => unsigned.parse::<f64>().ok().filter(|value| value.is_finite()),
    }
}

/// Digits with a leading zero (`012`) are a string in YAML 1.2, not an octal or decimal number.
fn leading_zero_digits(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    digits.len() > 1 && digits.starts_with('0') && digits[1..].bytes().all(|byte| byte.is_ascii_digit())
}

/// Turns yaml-rust2 markers into byte offsets of the source.
///
/// Markers count characters, not bytes, and their `index` drifts after a block scalar holding non-ASCII text
/// (yaml-rust2 adds byte lengths there), so offsets come from the line and column, which stay exact.
struct Positions<'a> {
    source: &'a str,
    /// Bytes of a leading byte-order mark, which yaml-rust2 does not understand and never sees.
    skipped: usize,
    /// Byte offset of the start of each line, split where yaml-rust2 splits (`\n`, `\r\n`, `\r`).
    line_starts: Vec<usize>,
}

impl<'a> Positions<'a> {
    fn new(source: &'a str) -> Positions<'a> {
        let skipped = if source.starts_with('\u{feff}') { '\u{feff}'.len_utf8() } else { 0 };
        let bytes = source.as_bytes();
        let mut line_starts = vec![skipped];
        for (index, &byte) in bytes.iter().enumerate().skip(skipped) {
            if byte == b'\n' || (byte == b'\r' && bytes.get(index + 1) != Some(&b'\n')) {
                line_starts.push(index + 1);
            }
        }
        Positions { source, skipped, line_starts }
    }

    fn body(&self) -> &'a str {
        &self.source[self.skipped..]
    }

    fn offset(&self, marker: &Marker) -> usize {
        let line = marker.line().saturating_sub(1);
        let Some(&line_start) = self.line_starts.get(line) else {
            return self.source.len();
        };
        let line_end = self.line_starts.get(line + 1).copied().unwrap_or(self.source.len());
        let text = &self.source[line_start..line_end];
        text.char_indices().nth(marker.col()).map_or(line_end, |(index, _)| line_start + index)
    }

    fn char_at(&self, offset: usize) -> Option<char> {
        self.source.get(offset..).and_then(|rest| rest.chars().next())
    }
}

/// Reports every anchor, alias and tag, found as tokens so that each points at its own `&`, `*` or `!`.
fn report_yaml_features(positions: &Positions, diagnostics: &mut Diagnostics) {
    for Token(marker, token) in Scanner::new(positions.body().chars()) {
        let (message, what, help) = match token {
            TokenType::Anchor(_) => ("yaml anchors are not part of the spec language", "anchor", WRITE_IN_FULL),
            TokenType::Alias(_) => ("yaml aliases are not part of the spec language", "alias", WRITE_IN_FULL),
            TokenType::Tag(..) => (
                "yaml tags are not part of the spec language",
                "tag",
                "remove the tag; to make a value text, put it in quotes, as in `\"1.0\"`",
            ),
            _ => continue,
        };
        let start = positions.offset(&marker);
        let rest = &positions.source[start..];
        let length = rest.find(|c: char| c.is_whitespace() || ",[]{}".contains(c)).unwrap_or(rest.len());
        let written = &rest[..length];
        let span = Span::new(start, start + length);
        let label = format!("{what} `{written}`");
        let diagnostic = if what == "tag" && !is_type_tag(written) {
            let message =
                "a spec describes a model and never runs code: yaml tags that name code or objects are not allowed";
            let help = format!("remove `{written}` and write the value itself");
            Diagnostic::error(FEATURE, message).with_help(help)
        } else {
            Diagnostic::error(FEATURE, message).with_help(help)
        };
        diagnostics.push(diagnostic.at(span).with_label(label));
    }
}

/// Whether a tag only names one of YAML's own value types (`!!str`, `!!float`, a bare `!`), as opposed to code or
/// an object of some program (`!!python/object/apply:os.system`, `!ruby/object`, a local `!custom`).
fn is_type_tag(written: &str) -> bool {
    const TYPES: [&str; 9] = ["str", "int", "float", "bool", "null", "seq", "map", "binary", "timestamp"];
    let name = written
        .strip_prefix("!!")
        .or_else(|| written.strip_prefix("!<tag:yaml.org,2002:").and_then(|rest| rest.strip_suffix('>')));
    written == "!" || name.is_some_and(|name| TYPES.contains(&name))
}

/// Builds the tree from yaml-rust2's events; collections under construction wait on a stack.
struct TreeBuilder<'a> {
    positions: &'a Positions<'a>,
    stack: Vec<Frame>,
    root: Option<Node>,
    documents: usize,
    found: Vec<Diagnostic>,
}

enum Frame {
    Map {
        start: usize,
        flow: bool,
        entries: Vec<Entry>,
        /// The key whose value comes next; `None` while the key itself is awaited.
        key: Option<(String, Span)>,
        seen: HashMap<String, Span>,
    },
    List {
        start: usize,
        flow: bool,
        items: Vec<Node>,
    },
}

impl MarkedEventReceiver for TreeBuilder<'_> {
    fn on_event(&mut self, event: Event, marker: Marker) {
        let offset = self.positions.offset(&marker);
        match event {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents == 2 {
                    let end = if self.positions.source[offset..].starts_with("---") { offset + 3 } else { offset };
                    let message = "a spec is one yaml document, but a second one starts here";
                    let help = "remove this `---` and what follows, or merge the two documents into one";
                    let error = Diagnostic::error(SYNTAX, message).at(Span::new(offset, end));
                    self.found.push(error.with_label("second document").with_help(help));
                }
            }
            _ if self.documents > 1 => {}
            Event::Scalar(text, style, _, _) => self.scalar(text, style, offset),
            Event::Alias(_) if self.awaits_key() => self.set_key(String::new(), Span::point(offset)),
            Event::Alias(_) => self.value(Node::new(Value::Null, Span::point(offset))),
            Event::SequenceStart(..) => {
                let flow = self.positions.char_at(offset) == Some('[');
                self.stack.push(Frame::List { start: offset, flow, items: Vec::new() });
            }
            Event::MappingStart(..) => {
                let flow = self.positions.char_at(offset) == Some('{');
                let (entries, seen) = (Vec::new(), HashMap::new());
                self.stack.push(Frame::Map { start: offset, flow, entries, key: None, seen });
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(offset),
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

impl TreeBuilder<'_> {
    fn awaits_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    fn set_key(&mut self, text: String, span: Span) {
        if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
            *key = Some((text, span));
        }
    }

    fn scalar(&mut self, text: String, style: TScalarStyle, offset: usize) {
        // yaml-rust2 reports an omitted value as an empty plain scalar placed at the next token.
        let omitted = text.is_empty() && style == TScalarStyle::Plain;
        let written = Span::new(offset, scalar_end(self.positions.source, offset, style, &text));
        if self.awaits_key() {
            let span = if omitted { Span::point(offset) } else { written };
            if style == TScalarStyle::Plain && text == "<<" {
                let message = "yaml merge keys are not part of the spec language";
                let error = Diagnostic::error(FEATURE, message).at(span).with_label("merge key `<<`");
                self.found.push(error.with_help("write the merged entries out in full"));
            }
            return self.set_key(text, span);
        }
        let span = if omitted { Span::point(self.omitted_value_offset(offset)) } else { written };
        let value = if style == TScalarStyle::Plain { plain_scalar_value(&text) } else { Value::Str(text) };
        self.value(Node::new(value, span));
    }

    /// Where an omitted value would have been written: after its key's `:` or its item's `-`.
    fn omitted_value_offset(&self, marker_offset: usize) -> usize {
        let source = self.positions.source;
        match self.stack.last() {
            Some(Frame::Map { key: Some((_, key_span)), .. }) => match next_significant(source, key_span.end) {
                Some((colon, ':')) => colon + 1,
                _ => key_span.end,
            },
            Some(Frame::List { start, items, .. }) => {
                let after = items.last().map_or(*start, |item| item.span.end);
                match next_significant(source, after) {
                    Some((dash, '-')) => dash + 1,
                    _ => marker_offset,
                }
            }
            _ => marker_offset,
        }
    }

    fn value(&mut self, node: Node) {
        let in_model =
            self.stack.len() == 2 && matches!(&self.stack[0], Frame::Map { key: Some((key, _)), .. } if key == "model");
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::List { items, .. }) => items.push(node),
            Some(Frame::Map { key: key @ None, .. }) => {
                let message = format!("a key must be a name, not {}", node.kind_name());
                let help = "write the key as a single word or a quoted text";
                self.found.push(Diagnostic::error(SYNTAX, message).at(node.span).with_help(help));
                *key = Some((String::new(), node.span));
            }
            Some(Frame::Map { key: key @ Some(_), entries, seen, .. }) => {
                let Some((key, key_span)) = key.take() else {
                    return;
                };
                match seen.get(&key) {
                    Some(_) if in_model && LAYER_NAMES.contains(&key.as_str()) => {
                        let source = self.positions.source;
                        self.found.push(layer_without_dash(source, &key, key_span, entries.first()));
                    }
                    Some(first) => {
                        let (line, column) = line_column(self.positions.source, first.start);
                        let help = format!("the first `{key}` is at line {line}, column {column}; keep one of them");
                        let error = Diagnostic::error(SYNTAX, format!("duplicate key `{key}`")).at(key_span);
                        self.found.push(error.with_label("written again here").with_help(help));
                    }
                    None => {
                        seen.insert(key.clone(), key_span);
                    }
                }
                entries.push(Entry { key, key_span, value: node });
            }
        }
    }

    fn close(&mut self, offset: usize) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        let (start, flow, first, last, value) = match frame {
            Frame::Map { start, flow, entries, .. } => {
                let first = entries.first().map(|entry| entry.key_span.start);
                let last = entries.last().map(|entry| entry.value.span.end.max(entry.key_span.end));
                (start, flow, first, last, Value::Map(entries))
            }
            Frame::List { start, flow, items } => {
                let first = items.first().map(|item| item.span.start);
                (start, flow, first, items.last().map(|item| item.span.end), Value::List(items))
            }
        };
        // A block collection's start marker sits on its first `:`; its end marker on the next token.
        let start = first.map_or(start, |first| first.min(start));
        let closed = flow && matches!(self.positions.char_at(offset), Some('}' | ']'));
        let end = if closed { offset + 1 } else { last.unwrap_or(start) };
        self.value(Node::new(value, Span::new(start, end)));
    }
}

/// A layer name repeated as a key of `model`: the layers were written as a mapping, without the `- ` that makes
/// each one an item of a list. The help shows the user's first layer written as an item.
fn layer_without_dash(source: &str, key: &str, key_span: Span, first: Option<&Entry>) -> Diagnostic {
    let example = first.map(|first| {
        let value = source.get(first.value.span.start..first.value.span.end).unwrap_or("");
        let block = matches!(first.value.value, Value::Map(_) | Value::List(_)) && !value.starts_with(['{', '[']);
        if block || value.is_empty() || value.contains(['\n', '\r']) || value.chars().count() > 60 {
            format!("`- {}:` with its parameters indented under it", first.key)
        } else {
            format!("`- {}: {value}`", first.key)
        }
    });
    let message = format!("`{key}` is written twice in `model`: the layers form a list, and each starts with `- `");
    let help = match example {
        Some(example) => format!("start every layer with `- `, one layer per line, as in {example}"),
        None => "start every layer with `- `, one layer per line".to_string(),
    };
    Diagnostic::error(SYNTAX, message).at(key_span).with_label(format!("a second `{key}` layer")).with_help(help)
}

/// The end of a scalar written at `start` whose value is `text`.
fn scalar_end(source: &str, start: usize, style: TScalarStyle, text: &str) -> usize {
    let rest = source.get(start..).unwrap_or("");
    let mut written = rest.char_indices().peekable();
    match style {
        TScalarStyle::DoubleQuoted | TScalarStyle::SingleQuoted => {
            let quote = if style == TScalarStyle::DoubleQuoted { '"' } else { '\'' };
            written.next();
            while let Some((index, character)) = written.next() {
                let escaped = match quote {
                    '"' => character == '\\',
                    _ => character == '\'' && written.peek().map(|&(_, c)| c) == Some('\''),
                };
                if escaped {
                    written.next();
                } else if character == quote {
                    return start + index + 1;
                }
            }
            source.len()
        }
        _ => {
            // Plain and block scalars fold their lines, so only the non-blank characters match the source.
            let mut end = start;
            for wanted in text.chars().filter(|c| !c.is_whitespace()) {
                match written.find(|(_, c)| !c.is_whitespace()) {
                    Some((index, c)) if c == wanted => end = start + index + c.len_utf8(),
                    _ => return end,
                }
            }
            end
        }
    }
}

/// The next character from `from` that is neither blank nor in a comment.
fn next_significant(source: &str, from: usize) -> Option<(usize, char)> {
    let mut characters = source.get(from..)?.char_indices();
    while let Some((index, character)) = characters.next() {
        if character == '#' {
            characters.find(|&(_, c)| c == '\n');
        } else if !character.is_whitespace() {
            return Some((from + index, character));
        }
    }
    None
}

/// Turns a serde_yaml error into a diagnostic at its place: libyaml's `index` is a byte offset into the text it was
/// given (checked by the tests), and a reader error carries its offset only in the text, as "at position N".
/// `explain` puts libyaml's common messages in plain words; libyaml's own text is kept for the rare others.
fn serde_diagnostic(positions: &Positions, error: &serde_yaml::Error) -> Diagnostic {
    let full = error.to_string();
    let (problem, context) = match full.split_once(", while ") {
        Some((problem, context)) => (problem, Some(strip_place(context))),
        None => (full.as_str(), None),
    };
    let (problem, problem_place) = strip_place(problem);
    let offset = match problem_place {
        Some(Place::Offset(offset)) => Some(offset),
        _ => error.location().map(|location| location.index()),
    };
    let offset = offset.map(|offset| {
        let mut offset = (positions.skipped + offset).min(positions.source.len());
        while !positions.source.is_char_boundary(offset) {
            offset -= 1;
        }
        offset
    });
    if let Some(at) = offset {
        // libyaml leaves out the context's place when it is the start of the text (or the problem's own place).
        let context_at = match context {
            Some((_, Some(Place::LineColumn(line, column)))) => {
                explain::libyaml_offset(positions.source, positions.skipped, line, column)
            }
            Some(_) => Some(positions.skipped),
            None => None,
        };
        let libyaml = explain::LibyamlError { problem, context: context.map(|(context, _)| context), at, context_at };
        if let Some(diagnostic) = explain::explain(positions, &libyaml) {
            return diagnostic;
        }
    }
    let mut message = readable(problem);
    let mut help = None;
    if let Some(number) = problem.split_once("invalid type: integer `").and_then(|(_, rest)| rest.split_once('`')) {
        message = format!("the number `{}` is too large", number.0);
        help = Some("write it with a decimal point, as in `1.0e30`, or in quotes to make it text".to_string());
    } else if let Some((context, context_place)) = context {
        message = format!("{message} while {}", readable(context));
        if let Some(Place::LineColumn(line, column)) = context_place {
            let thing = context.trim_start_matches("parsing ").trim_start_matches("scanning ");
            let thing = thing.strip_prefix("a ").or_else(|| thing.strip_prefix("an ")).unwrap_or(thing);
            help = Some(format!("the {thing} starts at line {line}, column {column}"));
        }
    }
    let diagnostic = Diagnostic::error(SYNTAX, message);
    let diagnostic = match offset {
        Some(offset) => diagnostic.at(char_span(positions.source, offset)),
        None => diagnostic,
    };
    match help {
        Some(help) => diagnostic.with_help(help),
        None => diagnostic,
    }
}

#[derive(Clone, Copy)]
enum Place {
    LineColumn(usize, usize),
    Offset(usize),
}

/// Splits libyaml's " at line L column C" or " at position N" off a message.
fn strip_place(text: &str) -> (&str, Option<Place>) {
    if let Some((head, tail)) = text.rsplit_once(" at line ") {
        if let Some((line, column)) = tail.split_once(" column ") {
            if let (Ok(line), Ok(column)) = (line.parse(), column.parse()) {
                return (head, Some(Place::LineColumn(line, column)));
            }
        }
    }
    if let Some((head, tail)) = text.rsplit_once(" at position ") {
        if let Ok(offset) = tail.parse() {
            return (head, Some(Place::Offset(offset)));
        }
    }
    (text, None)
}

/// A parser's message in house style: lowercase start, `yaml` in lowercase, no final period.
fn readable(text: &str) -> String {
    let text = text.replace("EOF", "end of file").replace("YAML", "yaml");
    let text = text.trim_end_matches('.');
    let mut characters = text.chars();
    match characters.next() {
        Some(first) => first.to_lowercase().chain(characters).collect(),
        None => String::new(),
    }
}

/// The character at `offset` (moved back to a character boundary), or an empty span at a line end.
fn char_span(source: &str, offset: usize) -> Span {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    match source[offset..].chars().next() {
        Some(character) if character != '\n' && character != '\r' => Span::new(offset, offset + character.len_utf8()),
        _ => Span::point(offset),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "name: breast-cancer-mlp
seed: 42
data:
  source: data/breast_cancer.csv
  target: diagnosis
  positive: malignant
  exclude: []
  missing: {numeric: median, categorical: mode}
  scale: standard
  split: {train: 0.7, val: 0.1, test: 0.2, stratify: true}
model:
  - dense: {units: 64, activation: relu}
  - dropout: 0.1
  - dense: {units: 64, activation: relu}
  - dense: {units: 2, activation: softmax}
train:
  optimizer: {adam: {lr: 0.001}}
  loss: categorical_crossentropy
  epochs: 50
  batch_size: 32
  early_stopping: {monitor: val_loss, patience: 10}
metrics: [accuracy, precision, recall, specificity, f1, auc]
";

    /// Parses a source that must be accepted, and checks that serde_yaml reads the same values.
    fn parse_ok(source: &str) -> Node {
        let mut diagnostics = Diagnostics::new();
        let tree = parse(source, &mut diagnostics);
        assert!(diagnostics.is_empty(), "{source:?}: {diagnostics:?}");
        let tree = tree.expect("a tree when nothing was reported");
        let value: serde_yaml::Value = serde_yaml::from_str(source.trim_start_matches('\u{feff}')).expect("valid");
        assert!(value.is_null() || first_disagreement(&value, &tree).is_none(), "{value:?}\n{tree:?}");
        tree
    }

    fn get<'a>(node: &'a Node, key: &str) -> &'a Entry {
        let Value::Map(entries) = &node.value else { panic!("not a map: {node:?}") };
        entries.iter().find(|entry| entry.key == key).expect("key present")
    }

    fn item(node: &Node, index: usize) -> &Node {
        let Value::List(items) = &node.value else { panic!("not a list: {node:?}") };
        &items[index]
    }

    /// Line, column and text of a span.
    fn at(source: &str, span: Span) -> (usize, usize, &str) {
        let (line, column) = line_column(source, span.start);
        (line, column, &source[span.start..span.end])
    }

    fn number(text: &str) -> Value {
        plain_scalar_value(text)
    }

    #[test]
    fn reads_the_design_example_with_spans() {
        let tree = parse_ok(EXAMPLE);
        assert_eq!(get(&tree, "name").value.value, Value::Str("breast-cancer-mlp".into()));
        assert_eq!(get(&tree, "seed").value.value, Value::Number { value: 42.0, text: "42".into() });
        let model = &get(&tree, "model").value;
        let second_dense = &get(item(model, 2), "dense").value;
        let units = get(second_dense, "units");
        assert_eq!(at(EXAMPLE, units.key_span), (14, 13, "units"));
        assert_eq!(at(EXAMPLE, units.value.span), (14, 20, "64"));
        assert_eq!(at(EXAMPLE, second_dense.span), (14, 12, "{units: 64, activation: relu}"));
        assert_eq!(at(EXAMPLE, item(model, 1).span), (13, 5, "dropout: 0.1"));
        assert!(
            at(EXAMPLE, model.span).2.starts_with("- dense: {units: 64") && at(EXAMPLE, model.span).2.ends_with("max}")
        );
        let lr = get(&get(&get(&get(&tree, "train").value, "optimizer").value, "adam").value, "lr");
        assert_eq!((lr.value.value.clone(), at(EXAMPLE, lr.value.span)), (number("0.001"), (17, 26, "0.001")));
        let stratify = &get(&get(&get(&tree, "data").value, "split").value, "stratify").value;
        assert_eq!((stratify.value.clone(), at(EXAMPLE, stratify.span)), (Value::Bool(true), (10, 54, "true")));
        assert_eq!(at(EXAMPLE, get(&tree, "metrics").value.span).1, 10);
        assert_eq!((tree.span.start, tree.span.end), (0, EXAMPLE.len() - 1));
    }

    #[test]
    fn types_scalars_as_serde_yaml_does() {
        let source = "a: 0x1F\nb: 1e-3\nc: .inf\nd: -.INF\nf: 012\ng: +5\nh: 1_000\nj: 1.\nk: inf\nl: True\nm: yes\n\
                      n: NULL\no: 0o17\np: 0b11\nq: -0x1\nr: 1E5\ns: .5\nt: '3'\nu: \"true\"\nv:\nw: ~\n1: x\n\
                      z: |\n  lié\n  eral\ny: \"a\\tb\" # comment\nx: plain\n  folded\n";
        let tree = parse_ok(source);
        assert_eq!(get(&tree, "b").value.value, Value::Number { value: 0.001, text: "1e-3".into() });
        assert_eq!(get(&tree, "f").value.value, Value::Str("012".into()));
        assert_eq!(get(&tree, "1").value.value, Value::Str("x".into()));
        let omitted = get(&tree, "v");
        assert_eq!((omitted.value.value.clone(), at(source, omitted.value.span)), (Value::Null, (20, 3, "")));
        assert_eq!(at(source, get(&tree, "z").value.span), (24, 3, "lié\n  eral"));
        assert_eq!(at(source, get(&tree, "y").value.span), (26, 4, "\"a\\tb\""));
        assert_eq!(at(source, get(&tree, "x").value.span), (27, 4, "plain\n  folded"));
    }

    #[test]
    fn empty_documents_are_empty_maps_and_a_bom_is_skipped() {
        for source in ["", "# only a comment\n", "---\n", "\u{feff}"] {
            assert_eq!(parse_ok(source).value, Value::Map(Vec::new()), "{source:?}");
        }
        let source = "\u{feff}a: [1, é]\nb: x\n";
        assert_eq!(at(source, get(&parse_ok(source), "b").value.span), (2, 4, "x"));
    }

    fn tree_of(entries: Vec<(&str, Value)>) -> Node {
        let entries = entries.into_iter().map(|(key, value)| Entry {
            key: key.to_string(),
            key_span: Span::default(),
            value: Node::new(value, Span::default()),
        });
        Node::new(Value::Map(entries.collect()), Span::default())
    }

    fn assert_round_trip(tree: &Node) {
        let printed = print(tree);
        assert_eq!(&parse_ok(&printed), tree, "{printed}");
    }

    #[test]
    fn printing_reads_back_the_same_tree() {
        let tree = parse_ok(EXAMPLE);
        assert_round_trip(&tree);
        let printed = print(&tree);
        assert!(printed.starts_with("name: breast-cancer-mlp\nseed: 42\n\ndata:\n  source: data/breast_cancer.csv\n"));
        assert!(printed.contains("\n\nmodel:\n  - dense: {units: 64, activation: relu}\n  - dropout: 0.1\n"));
        assert!(printed.ends_with("patience: 10}\n\nmetrics: [accuracy, precision, recall, specificity, f1, auc]\n"));
        let awkward = [
            "yes",
            "1.0",
            "a: b",
            "",
            "héllo wörld ✓",
            "No",
            "~",
            "-x",
            "a #b",
            "x:",
            " lead",
            "0x1F",
            "\t",
            "line\nbreak",
            "quote\"d",
            "back\\slash",
            "it's",
            "<<",
            "[a]",
            "\u{1}\u{85}\u{2028}\u{feff}",
            "...",
            "😀",
        ];
        for text in awkward {
            let str = |text: &str| Value::Str(text.to_string());
            let list = Value::List(vec![Node::new(str(text), Span::default())]);
            let inner = Value::Map(vec![Entry { key: text.into(), key_span: Span::default(), value: parse_ok("{}") }]);
            assert_round_trip(&tree_of(vec![(text, str(text)), ("blood pressure", list), ("k", inner)]));
        }
        let yes = tree_of(vec![("blood pressure", Value::Str("yes".into())), ("x", Value::Str("1.0".into()))]);
        assert_eq!(print(&yes), "blood pressure: \"yes\"\nx: \"1.0\"\n");
        assert_eq!(print(&tree_of(vec![])), "{}\n");
    }

    type Found = (&'static str, String, (usize, usize), Option<String>);

    /// Code, message, line:column and help of each diagnostic of a source that must be refused.
    fn errors(source: &str) -> Vec<Found> {
        let mut diagnostics = Diagnostics::new();
        assert!(parse(source, &mut diagnostics).is_none() && diagnostics.has_errors(), "{source:?}");
        println!("{source:?}\n{}", crate::diagnostics::render(&diagnostics.items, "spec.yaml", source, true));
        let place = |diagnostic: &Diagnostic| match diagnostic.location {
            Location::Spec(span) => line_column(source, span.start),
            _ => (0, 0),
        };
        diagnostics.items.iter().map(|d| (d.code, d.message.clone(), place(d), d.help.clone())).collect()
    }

    fn assert_error(source: &str, code: &str, message: &str, place: (usize, usize)) {
        let found = errors(source);
        let wanted = |(c, m, p, _): &Found| *c == code && m.contains(message) && *p == place;
        assert!(found.iter().any(wanted), "{source:?}: wanted {code} `{message}` at {place:?}, got {found:?}");
    }

    #[test]
    fn syntax_errors_name_their_place() {
        assert_error("data:\n  source: x\n   target: y\n", SYNTAX, "indented more than `source`", (3, 4));
        let unclosed = "é: {a: 1\nb: 2\n";
        assert_error(unclosed, SYNTAX, "the `{` opened at line 1 is never closed", (1, 4));
        assert_eq!(
            errors(unclosed)[0].3.as_deref(),
            Some("close the `{` opened at line 1 with `}`, as in `é: {a: 1}`")
        );
        assert_error("name: a\nseed: 1\nname: b\n", SYNTAX, "duplicate key `name`", (3, 1));
        assert_error("data:\n  target: a\n  target: b\n", SYNTAX, "duplicate key `target`", (3, 3));
        assert_error("- a\n- b\n", SYNTAX, "a spec is a mapping of sections", (1, 1));
        assert_error("name: a\n---\nseed: 1\n", SYNTAX, "a second one starts here", (2, 1));
        assert_error("a: \"é\u{1}\"\n", SYNTAX, "control characters are not allowed", (1, 6));
        assert_error(
            "a: 99999999999999999999999\n",
            SYNTAX,
            "the number `99999999999999999999999` is too large",
            (1, 4),
        );
        assert_error("a: [1, 2\n", SYNTAX, "the `[` opened at line 1 is never closed", (1, 4));
        assert_error("%YAML 1.1\n%YAML 1.1\n---\na: 1\n", SYNTAX, "found duplicate %yaml directive", (2, 1));
        assert_error("{a: 1}: 2\n", SYNTAX, "a key must be a name, not a mapping", (1, 1));
        assert_error("a: {?b: 1}\n", SYNTAX, "yaml readers disagree", (1, 5));
        assert_error("a:\tb\n", SYNTAX, "':' must be followed by a valid yaml whitespace", (1, 4));
    }

    /// Checks the one diagnostic of a refused source: its message, line:column, label and a part of its help.
    fn assert_explained(source: &str, message: &str, place: (usize, usize), help: &str) {
        let mut diagnostics = Diagnostics::new();
        assert!(parse(source, &mut diagnostics).is_none(), "{source:?}");
        let rendered = crate::diagnostics::render(&diagnostics.items, "spec.yaml", source, true);
        let [diagnostic] = diagnostics.items.as_slice() else {
            panic!("{source:?}: one diagnostic wanted:\n{rendered}")
        };
        let Location::Spec(span) = diagnostic.location else { panic!("{source:?}: no place:\n{rendered}") };
        let found = (diagnostic.message.as_str(), line_column(source, span.start));
        assert_eq!(found, (message, place), "{source:?}:\n{rendered}");
        assert!(diagnostic.label.is_some(), "{source:?}: no label:\n{rendered}");
        assert!(diagnostic.help.as_deref().is_some_and(|found| found.contains(help)), "{source:?}:\n{rendered}");
    }

    #[test]
    fn a_missing_colon_points_at_its_own_line() {
        let source = "name: case\ndata:\n  source: x.csv\n  target diagnosis\n  positive: malignant\n";
        let message = "the line `target diagnosis` has no `:` after its key";
        let help = "every key is followed by `: ` and its value, as in `epochs: 50`; here, write `target: diagnosis`";
        assert_explained(source, message, (4, 3), help);
        assert_explained("data:\n  source: x\n  target diagnosis\n", message, (3, 3), "`target: diagnosis`");
        assert_explained(
            "data:\n  target diagnosis\n  # why\n\n  positive: m\n",
            message,
            (2, 3),
            "`target: diagnosis`",
        );
        assert_explained(
            "name case\nseed: 1\n",
            "the line `name case` has no `:` after its key",
            (1, 1),
            "`name: case`",
        );
        assert_explained("name: a\ndata\n  source: x\n", "`data` has no `:` after it", (2, 1), "write `data:`");
        let help = "a key's `:` is followed by a space and the value, as in `epochs: 50`; here, write `name: case`";
        assert_explained("name:case\nseed: 1\n", "`name:case` needs a space after the `:`", (1, 5), help);
        assert_explained("\u{feff}a: é\nb c\nd: 1\n", "the line `b c` has no `:` after its key", (2, 1), "`b: c`");
    }

    #[test]
    fn misaligned_lines_name_the_line_they_should_match() {
        let source = "name: case\ndata:\n    source: x.csv\n  target: diagnosis\nmodel: []\n";
        let message = "`target` is indented 2 spaces, but `source` above it is indented 4";
        let help = "indent with spaces, two per level, and keep keys of one section aligned: `source` (line 3) and \
                    `target` (line 4) are both inside `data` (line 2), so start them in the same column";
        assert_explained(source, message, (4, 3), help);
        let message = "`- dense` is indented 1 space, but `- dropout` above it is indented 2";
        assert_explained("model:\n  - dropout: 0.1\n - dense: 2\n", message, (3, 2), "the items of one list aligned");
        let message = "`target` is indented more than `source` on the line above";
        let help = "keep keys of one section aligned: start `target` in the same column as `source` (line 2)";
        assert_explained("data:\n  source: x\n   target: y\n", message, (3, 4), help);
        let message = "`b` is indented 0 spaces, but `a` above it is indented 2";
        assert_explained("  a: 1\nb: 2\n", message, (2, 1), "start `b` (line 2) in the same column as `a` (line 1)");
        let message = "`activation` is among the items of a list, but has no `- ` before it";
        let help = "indent it 2 spaces more, to line up with `dense` (line 2); to make it an item of its own, write \
                    `- activation: relu`";
        assert_explained("model:\n  - dense: 64\n  activation: relu\n", message, (3, 3), help);
        let help = "a section holds either `key: value` lines or `- ` items, not both";
        assert_explained("data:\n  source: x\n  - y\n", "a list item `- ` among `key: value` lines", (3, 3), help);
    }

    #[test]
    fn tabs_in_the_indentation_are_named() {
        let help = "YAML does not allow tabs for indentation: replace them with spaces";
        let message = "this line is indented with a tab";
        assert_explained("name: case\ndata:\n  source: x\n\ttarget: y\n", message, (4, 1), help);
        assert_explained("data:\n\tsource: x\n", message, (2, 1), help);
        assert_explained("data:\n  source: x\n  \ttarget: y\n", message, (3, 3), help);
        assert_explained(
            "model:\n  -\tdense: 1\n",
            "a tab where YAML expects a space",
            (2, 4),
            "replace it with a space",
        );
    }

    #[test]
    fn unclosed_and_mismatched_brackets_point_at_the_opening_one() {
        let source = "name: case\ndata:\n  split: {train: 0.7, val: 0.1\nmodel: []\n";
        let help = "close the `{` opened at line 3 with `}`, as in `split: {train: 0.7, val: 0.1}`";
        assert_explained(source, "the `{` opened at line 3 is never closed", (3, 10), help);
        let help = "close the `[` opened at line 1 with `]`, as in `metrics: [auc, f1]`";
        assert_explained("metrics: [auc, f1\n", "the `[` opened at line 1 is never closed", (1, 10), help);
        let help = "close the `{` opened at line 1 with `}`";
        assert_explained("é: {a: 1,\n  b: 2\nc: 3\n", "the `{` opened at line 1 is never closed", (1, 4), help);
        let message = "`]` does not match the `{` opened at line 1, column 4";
        assert_explained("a: {b: 1]\n", message, (1, 9), "close the `{` opened at line 1 with `}`");
        let help = "separate the entries with commas, as in `{train: 0.7, val: 0.1}`";
        assert_explained("split: {train: 0.7 val: 0.1}\n", "missing `,` before `val`", (1, 20), help);
        assert_explained("a: [1, , 2]\n", "two commas with nothing between them", (1, 8), "remove the extra `,`");
        assert_explained("a: {b: 1}}\n", "there is no `{` for this `}` to close", (1, 10), "remove this `}`");
    }

    #[test]
    fn other_common_mistakes_are_explained() {
        let help = "end the text with `\"` on the same line, as in `name: \"my model\"`";
        assert_explained("name: \"my model\nseed: 1\n", "the quote opened at line 1 is never closed", (1, 7), help);
        let help = "write a path with `/`, or put it in single quotes, as in `'C:\\data\\x.csv'`";
        let message = "`\\d` is not a valid escape inside double quotes";
        assert_explained("source: \"C:\\data\\x.csv\"\n", message, (1, 12), help);
        let help = "a value that contains `: ` must be in quotes, as in `note: \"see: chart\"`";
        assert_explained("note: see: chart\n", "a second `: ` on one line", (1, 10), help);
        assert_explained("name: @home\n", "a value cannot start with `@`", (1, 7), "as in `\"@home\"`");
        let help = "or write the list in brackets, as in `metrics: [auc]`";
        assert_explained("metrics: - auc\n", "a list cannot start on the line of its key", (1, 10), help);
        let help = "remove what follows it, or put the whole value in quotes";
        assert_explained("a: \"x\" y\n", "text after the end of a value", (1, 8), help);
    }

    #[test]
    fn spec_language_in_a_yaml_file_suggests_the_galen_extension() {
        let message = "this looks like the galen spec language, not YAML";
        let help = "rename the file so that it ends in `.galen`";
        assert_explained("# a spec\nexperiment \"x\"\n\ndata {\n  source \"a.csv\"\n}\n", message, (2, 1), help);
        assert_explained("seed 1\ndata {\n  split train: 0.7\n}\n", message, (2, 1), help);
        parse_ok("experiment: x\ndata: {source: a}\n");
        assert_error("experiment\n", SYNTAX, "a spec is a mapping of sections", (1, 1));
    }

    #[test]
    fn a_repeated_layer_without_dashes_says_layers_are_a_list() {
        let source = "model:\n  dense: {units: 32, activation: relu}\n  dense: {units: 2, activation: softmax}\n";
        let message = "`dense` is written twice in `model`: the layers form a list, and each starts with `- `";
        let help = "start every layer with `- `, one layer per line, as in `- dense: {units: 32, activation: relu}`";
        assert_explained(source, message, (3, 3), help);
        let source = "model:\n  dropout: 0.1\n  dense:\n    units: 3\n  dense: 2\n";
        assert_explained(source, message, (5, 3), "as in `- dropout: 0.1`");
        let source = "model:\n  dense:\n    units: 3\n  dense: 2\n";
        assert_explained(source, message, (4, 3), "as in `- dense:` with its parameters indented under it");
        assert_error("train:\n  dense: 1\n  dense: 2\n", SYNTAX, "duplicate key `dense`", (3, 3));
        assert_error("model:\n  - dense: 1\n    dense: 2\n", SYNTAX, "duplicate key `dense`", (3, 5));
        assert_error("model:\n  units: 1\n  units: 2\n", SYNTAX, "duplicate key `units`", (3, 3));
    }

    #[test]
    fn yaml_features_are_refused_all_at_once() {
        let source = "base: &b {units: 8}\nlayer: *b\nother:\n  <<: {x: 1}\nn: !!str 1\nm: !custom x\n\
                      loss: !!python/object/apply:os.system [ls]\nr: !ruby/object:Kernel x\n";
        let found = errors(source);
        let code = "a spec describes a model and never runs code: yaml tags that name code or objects are not allowed";
        let quote = "remove the tag; to make a value text, put it in quotes, as in `\"1.0\"`";
        let expected = [
            ("yaml anchors are not part of the spec language", (1, 7), "write the value out in full"),
            ("yaml aliases are not part of the spec language", (2, 8), "write the value out in full"),
            ("yaml merge keys are not part of the spec language", (4, 3), "write the merged entries out in full"),
            ("yaml tags are not part of the spec language", (5, 4), quote),
            (code, (6, 4), "remove `!custom` and write the value itself"),
            (code, (7, 7), "remove `!!python/object/apply:os.system` and write the value itself"),
            (code, (8, 4), "remove `!ruby/object:Kernel` and write the value itself"),
        ];
        assert_eq!(found.len(), expected.len(), "{found:?}");
        for ((code, message, place, help), (wanted, wanted_place, wanted_help)) in found.iter().zip(expected) {
            assert_eq!(
                (*code, message.as_str(), *place, help.as_deref()),
                (FEATURE, wanted, wanted_place, Some(wanted_help))
            );
        }
        assert!(is_type_tag("!!float") && is_type_tag("!") && is_type_tag("!<tag:yaml.org,2002:str>"));
        assert!(!is_type_tag("!!python/name:os.system") && !is_type_tag("!float") && !is_type_tag("!e!float"));
        assert_error("a: *unknown\n", FEATURE, "yaml aliases", (1, 4));
    }

    #[test]
    fn mutated_specs_never_panic_and_print_back() {
        const PIECES: [&str; 31] = [
            ":", "-", " ", "\n", "{", "}", "[", "]", "&a", "*a", "!", "#", "'", "\"", "\t", "é", "?", ",", "|", ">",
            "%", "@", "`", "<<", "---", "\r\n", "\\", "1e3", "~", "  ", "\u{feff}",
        ];
        let mut random = crate::rng::TestRng::new(0x9e37_79b9_7f4a_7c15);
        let mut accepted = 0;
        for _ in 0..4000 {
            let mut text: Vec<char> = EXAMPLE.chars().collect();
            for _ in 0..1 + random.below(3) {
                let at = random.below(text.len() + 1);
                let piece = match random.below(4) {
                    0 => PIECES[random.below(PIECES.len())],
                    1 => ["\n", " ", "  "][random.below(3)],
                    _ => "",
                };
                match random.below(5) {
                    0 => text.truncate(at),
                    1 | 2 if at < text.len() => drop(text.remove(at)),
                    _ => drop(text.splice(at..at, piece.chars()).count()),
                }
            }
            let source: String = text.into_iter().collect();
            let mut diagnostics = Diagnostics::new();
            let tree = parse(&source, &mut diagnostics);
            for diagnostic in &diagnostics.items {
                if let Location::Spec(span) = diagnostic.location {
                    assert!(span.end <= source.len() && source.is_char_boundary(span.start), "{source:?}");
                    assert!(source.is_char_boundary(span.end), "{source:?}");
                }
            }
            if let Some(tree) = tree {
                accepted += 1;
                assert!(diagnostics.is_empty(), "{source:?}");
                assert_round_trip(&tree);
            } else {
                assert!(diagnostics.has_errors(), "{source:?}");
            }
        }
        assert!(accepted > 500, "only {accepted} mutations were accepted");
    }

    #[test]
    fn random_lines_never_panic_and_point_inside_the_text() {
        const PIECES: [&str; 40] = [
            "model:",
            "data:",
            "dense:",
            "key",
            "value",
            ": ",
            ":",
            "- ",
            "-",
            "{",
            "}",
            "[",
            "]",
            ", ",
            "\"",
            "'",
            " #",
            "#",
            "é",
            "\\",
            "\\d",
            "@",
            "`",
            "!!python/x ",
            "!!str ",
            "data {",
            "experiment \"x\"",
            "\t",
            " ",
            "  ",
            "\u{85}",
            "\u{2028}",
            "\u{3000}",
            "\r",
            "|",
            ">",
            "&a ",
            "*a",
            "?",
            "%",
        ];
        let mut random = crate::rng::TestRng::new(0x2545_f491_4f6c_dd1d);
        for _ in 0..6000 {
            let mut source = String::new();
            for _ in 0..1 + random.below(6) {
                source.push_str(&" ".repeat(random.below(7)));
                for _ in 0..random.below(6) {
                    source.push_str(PIECES[random.below(PIECES.len())]);
                }
                source.push('\n');
            }
            let mut diagnostics = Diagnostics::new();
            let tree = parse(&source, &mut diagnostics);
            assert_eq!(tree.is_none(), diagnostics.has_errors(), "{source:?}");
            for diagnostic in &diagnostics.items {
                if let Location::Spec(span) = diagnostic.location {
                    assert!(span.end <= source.len(), "{source:?}");
                    assert!(source.is_char_boundary(span.start) && source.is_char_boundary(span.end), "{source:?}");
                }
            }
        }
    }

    #[test]
    fn random_strings_print_and_read_back() {
        let alphabet: Vec<char> = "ab1.-+:#,[]{}'\"\\ \t\n&*!|>%@`?~<éx0eE_\u{7f}\u{85}\u{2028}😀".chars().collect();
        let mut random = crate::rng::TestRng::new(7);
        for _ in 0..3000 {
            let text: String = (0..random.below(7)).map(|_| alphabet[random.below(alphabet.len())]).collect();
            let list = Value::List(vec![Node::new(Value::Str(text.clone()), Span::default())]);
            assert_round_trip(&tree_of(vec![(&text, Value::Str(text.clone())), ("list", list)]));
        }
    }
}
