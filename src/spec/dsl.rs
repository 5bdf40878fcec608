//! The `.galen` DSL front end: source text to the generic document tree, and a document tree back to DSL text.
//!
//! This module knows only syntax (the grammar is `grammar/galen.pest`); which keys exist and what they mean is
//! `spec::lower`'s business. The file is a [`Value::Map`] of its top-level statements, spanning the whole file.
//!
//! # From a statement to a tree entry
//!
//! A statement `key ARGS [BLOCK]` becomes the map entry `key` (keys may repeat). Let P be its positional
//! arguments and K its keyword arguments (`name=value`) followed by the statements of its block, each of which
//! becomes an entry by this same rule. The entry's value is:
//!
//! | statement                       | P, K and block         | value                          |
//! |---------------------------------|------------------------|--------------------------------|
//! | `flatten`                       | none                   | `Bool(true)`, the key's span   |
//! | `data {` ... `}`                | a block, no arguments  | `Map(K)`, even when empty      |
//! | `dropout 0.1`, `shape [8, 8]`   | one P, no K            | that value                     |
//! | `dense 64 relu`, `metrics a, b` | several P, no K        | `List(P)`                      |
//! | `missing numeric=median`        | no P, some K           | `Map(K)`                       |
//! | `optimizer adam lr=0.001`       | both                   | `Args { positional, keywords }`|
//!
//! `key = value` is also a statement and means `key value`. A composite value spans its arguments (and block).
//! Numbers keep their text as written; quoted and bare text are both [`Value::Str`]; bare `true` and `false` are
//! [`Value::Bool`].
//!
//! [`print`] writes the canonical form that [`parse`] reads back to an equal tree, which `galen convert` relies on.

use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::{Pair, Pairs};
use pest::Parser;

use crate::diagnostics::{Diagnostic, Diagnostics, Span};
use crate::spec::tree::{Entry, Node, Value};

/// Parses DSL source into the document tree: the file is a Map of its top-level statements.
///
/// On a syntax error, pushes one `syntax::dsl` diagnostic and returns `None`.
pub fn parse(source: &str, diagnostics: &mut Diagnostics) -> Option<Node> {
    if let Some(diagnostic) = nesting_error(source) {
        diagnostics.push(diagnostic);
        return None;
    }
    match DslParser::parse(Rule::file, source) {
        Ok(mut pairs) => {
            let entries = pairs.next().map(|file| statements(file.into_inner())).unwrap_or_default();
            Some(Node::new(Value::Map(entries), Span::new(0, source.len())))
        }
        Err(error) => {
            diagnostics.push(syntax_error(source, error));
            None
        }
    }
}

/// Prints a document tree as DSL text that `parse` reads back to an equal tree (spans aside).
///
/// Every tree that [`parse`] produces round-trips. Shapes it never produces are printed as their nearest form: an
/// `Args` with no keywords as its positional values, `Null` as `""`, a number whose text is not a DSL number as
/// its value. A document that is not a map prints as nothing.
pub fn print(document: &Node) -> String {
    let Value::Map(entries) = &document.value else {
        return String::new();
    };
    let mut out = String::new();
    let mut previous_was_block = false;
    for (index, entry) in entries.iter().enumerate() {
        let is_block = block_entries(&entry.value, 0).is_some();
        if index > 0 && (is_block || previous_was_block) {
            out.push('\n');
        }
        print_statement(&mut out, entry, 0);
        previous_was_block = is_block;
    }
    out
}

mod grammar {
    //! The pest parser generated from `grammar/galen.pest`.
    #[derive(pest_derive::Parser)]
    #[grammar = "../grammar/galen.pest"]
    pub struct DslParser;
}

use grammar::{DslParser, Rule};

/// How deep brackets and blocks may nest. Real specs nest two or three levels; the limit keeps the recursive
/// parser and tree walk far from the end of the stack on hostile input.
const MAX_NESTING: usize = 32;

/// The entries of a file's or a block's statements.
fn statements(pairs: Pairs<'_, Rule>) -> Vec<Entry> {
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

/// The entries a statement prints as a block: a map's at the top level, and a map's or an `Args`'s keywords when
/// one of them has no inline form (an `Args`, which only a nested block produces).
fn block_entries(node: &Node, depth: usize) -> Option<&[Entry]> {
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
fn print_statement(out: &mut String, entry: &Entry, depth: usize) {
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

/// What a light scan of the source, outside comments and strings, finds before an offset.
#[derive(Default)]
struct Scan {
    /// Offsets of the `[` and `{` still open, innermost last.
    open: Vec<usize>,
    /// The first string that is not closed on its line or holds an unknown escape: its start and the problem.
    broken_string: Option<(usize, Span, &'static str)>,
    /// The first bracket that nests deeper than [`MAX_NESTING`].
    too_deep: Option<usize>,
}

/// Scans brackets and strings the way the grammar reads them, up to `until` (a string starting there included).
fn scan(source: &str, until: usize) -> Scan {
    let bytes = source.as_bytes();
    let mut result = Scan::default();
    let mut index = 0;
    while index < bytes.len() && (index < until || (index == until && bytes[index] == b'"')) {
        match bytes[index] {
            b'#' => {
                while index < bytes.len() && !matches!(bytes[index], b'\n' | b'\r') {
                    index += 1;
                }
                continue;
            }
            b'"' => match string_end(bytes, index) {
                Ok(end) => index = end,
                Err((problem_span, problem)) => {
                    result.broken_string = Some((index, problem_span, problem));
                    return result;
                }
            },
            b'[' | b'{' => {
                result.open.push(index);
                if result.open.len() > MAX_NESTING && result.too_deep.is_none() {
                    result.too_deep = Some(index);
                }
                index += 1;
            }
            b']' | b'}' => {
                result.open.pop();
                index += 1;
            }
            _ => index += 1,
        }
    }
    result
}

/// The offset just past the string starting at `start`, or the span and description of what breaks it.
fn string_end(bytes: &[u8], start: usize) -> Result<usize, (Span, &'static str)> {
    let mut index = start + 1;
    while index < bytes.len() {
        match bytes[index] {
            b'"' => return Ok(index + 1),
            b'\\' if matches!(bytes.get(index + 1), Some(b'"' | b'\\' | b'n' | b't' | b'r')) => index += 2,
            b'\\' if matches!(bytes.get(index + 1), None | Some(b'\n' | b'\r')) => break,
            b'\\' => {
                let escape_len = std::str::from_utf8(&bytes[index + 1..])
                    .ok()
                    .and_then(|rest| rest.chars().next())
                    .map_or(1, char::len_utf8);
                return Err((Span::new(index, index + 1 + escape_len), "unknown escape in quoted text"));
            }
            b'\n' | b'\r' => break,
            _ => index += 1,
        }
    }
    Err((Span::new(start, index), "quoted text has no closing `\"`"))
}

/// The error for brackets nested too deep, found before parsing so that nothing recurses that far.
fn nesting_error(source: &str) -> Option<Diagnostic> {
    let offset = scan(source, source.len()).too_deep?;
    let message = format!("brackets and blocks are nested more than {MAX_NESTING} deep");
    let help = "a spec needs only a few levels of nesting; check for a runaway `[` or `{`";
    Some(syntax_diagnostic(&message, Span::new(offset, offset + 1), "too deep", help))
}

/// The one diagnostic for a failed parse: a hand-written one for the common mistakes, else pest's expectations.
fn syntax_error(source: &str, error: pest::error::Error<Rule>) -> Diagnostic {
    let offset = match error.location {
        InputLocation::Pos(offset) => offset,
        InputLocation::Span((start, _)) => start,
    }
    .min(source.len());
    hand_written_error(source, offset).unwrap_or_else(|| expectation_error(source, offset, error))
}

/// A hand-written diagnostic for a common mistake at `offset`, where pest's list of expectations would not help.
fn hand_written_error(source: &str, offset: usize) -> Option<Diagnostic> {
    let scan = scan(source, offset);
    if let Some((start, span, problem)) = scan.broken_string {
        let label = if span.start == start { "this text is never closed" } else { "not a known escape" };
        let help = "text in quotes ends with `\"` on the same line; inside it write `\\\"` for a quote, `\\\\` for a \
                    backslash, `\\n` for a line break and `\\t` for a tab";
        return Some(syntax_diagnostic(problem, span, label, help));
    }
    equals_error(source, offset)
        .or_else(|| colon_error(source, offset))
        .or_else(|| bracket_error(source, offset, scan.open.last().copied()))
}

fn syntax_diagnostic(message: &str, span: Span, label: &str, help: &str) -> Diagnostic {
    Diagnostic::error("syntax::dsl", message).at(span).with_label(label).with_help(help)
}

/// `units=` with no value; `val= test=0.2`, where the space made `test` the value of `val` and left the next `=`
/// without a name; `=` with no name before it.
fn equals_error(source: &str, offset: usize) -> Option<Diagnostic> {
    let before = source[..offset].trim_end_matches([' ', '\t']);
    let next_is_equals = source[offset..].starts_with('=');
    let before_word = before.trim_end_matches(|c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    let word_took_the_value = next_is_equals
        && before_word.len() < before.len()
        && before_word.ends_with([' ', '\t'])
        && before_word.trim_end_matches([' ', '\t']).ends_with('=');
    let empty_equals = if before.ends_with('=') {
        Some(before.len() - 1)
    } else if word_took_the_value {
        Some(before_word.trim_end_matches([' ', '\t']).len() - 1)
    } else {
        None
    };
    if let Some(at) = empty_equals {
        let help = "write the value right after `=`, as in `rate=0.1`";
        return Some(syntax_diagnostic(
            "`=` has no value after it",
            Span::new(at, at + 1),
            "a value should follow",
            help,
        ));
    }
    next_is_equals.then(|| {
        let help = "`=` goes between a name and its value, as in `lr=0.001`";
        syntax_diagnostic("`=` has no name before it", Span::new(offset, offset + 1), "unexpected `=`", help)
    })
}

/// `loss: mse`, written the YAML way.
fn colon_error(source: &str, offset: usize) -> Option<Diagnostic> {
    if !source[offset..].starts_with(':') {
        return None;
    }
    let line_start = source[..offset].rfind(['\n', '\r']).map_or(0, |index| index + 1);
    let line_end = source[offset..].find(['\n', '\r']).map_or(source.len(), |index| offset + index);
    let name = source[line_start..offset].trim();
    let value = source[offset + 1..line_end].split('#').next().unwrap_or("").trim();
    if name.is_empty() {
        return None;
    }
    let help = format!(
        "write `{name} {value}`: a name and its value are separated by a space or `=`; `:` only separates them \
         inside braces, as in `{{numeric: median}}`"
    );
    Some(syntax_diagnostic("unexpected `:`", Span::new(offset, offset + 1), "write a space instead", &help))
}

/// Mistakes with braces and brackets: a block written on one line, a stray or misplaced `}`, a list or map left
/// open at the end of its line, a block left open at the end of the file.
fn bracket_error(source: &str, offset: usize, innermost: Option<usize>) -> Option<Diagnostic> {
    let here = Span::new(offset, offset + 1);
    let rest = &source[offset..];
    match innermost {
        Some(open)
            if source[open..].starts_with('{')
                && !is_value_position(source, open)
                && !source[open..offset].contains(['\n', '\r', '=', ':'])
                && !ends_line(source, open + 1) =>
        {
            let help = "write `{` at the end of the line, each statement on a line of its own, and `}` on a last \
                        line; a map on one line needs `=`, as in `{units=32}`";
            Some(syntax_diagnostic(
                "a block's statements go on lines of their own",
                Span::new(open, open + 1),
                "start a new line after this `{`",
                help,
            ))
        }
        None if rest.starts_with('}') => Some(syntax_diagnostic(
            "`}` closes no block",
            here,
            "no `{` before this",
            "remove it, or add the line with `{` it closes",
        )),
        Some(open) if rest.starts_with('}') && opens_block(source, open) => Some(syntax_diagnostic(
            "`}` must be on a line of its own",
            here,
            "put this on the next line",
            "end the line before `}`",
        )),
        Some(open) if ends_line(source, offset) && !opens_block(source, open) => {
            let (what, close) = if source[open..].starts_with('[') { ("list", ']') } else { ("map", '}') };
            let message = format!("this {what} is not closed on its line");
            let help = format!("end the {what} with `{close}` on the line where it starts");
            Some(syntax_diagnostic(&message, Span::new(open, open + 1), "opened here", &help))
        }
        Some(open) if rest.split(['\n', '\r']).all(is_trivia) => Some(syntax_diagnostic(
            "the block opened here has no closing `}`",
            Span::new(open, open + 1),
            "never closed",
            "add a line with `}` where the block ends",
        )),
        _ => None,
    }
}

/// Whether the `{` at `offset` opens a block: it ends its line and does not stand where a value goes.
fn opens_block(source: &str, offset: usize) -> bool {
    !is_value_position(source, offset) && ends_line(source, offset + 1)
}

/// Whether `offset` follows `=`, `:`, `,` or an opening bracket, where only a value can start.
fn is_value_position(source: &str, offset: usize) -> bool {
    source[..offset].trim_end_matches([' ', '\t']).ends_with(['=', ':', ',', '[', '{'])
}

/// Whether only spaces, tabs and a comment follow `offset` on its line.
fn ends_line(source: &str, offset: usize) -> bool {
    source.get(offset..).is_some_and(|rest| is_trivia(rest.split(['\n', '\r']).next().unwrap_or("")))
}

/// Whether a piece of one line holds only spaces, tabs and a comment.
fn is_trivia(line: &str) -> bool {
    let code = line.split('#').next().unwrap_or("");
    code.trim_matches([' ', '\t']).is_empty()
}

/// pest's "expected ..." message with the rules named in words.
fn expectation_error(source: &str, offset: usize, mut error: pest::error::Error<Rule>) -> Diagnostic {
    if let ErrorVariant::ParsingError { positives, .. } = &mut error.variant {
        simplify_expected(positives);
    }
    let expected = error.renamed_rules(describe_rule).variant.message().into_owned();
    let found_char = source[offset..].chars().next();
    let found = match found_char {
        None => "end of the file".to_string(),
        Some('\n' | '\r') => "end of the line".to_string(),
        Some(c) => format!("`{}`", c.escape_debug()),
    };
    let span = Span::new(offset, offset + found_char.map_or(0, char::len_utf8));
    let help = "a statement is a name then its values on one line, as in `dense 64 relu`; text with spaces or \
                symbols goes in double quotes";
    Diagnostic::error("syntax::dsl", format!("unexpected {found}: {expected}"))
        .at(span)
        .with_label(format!("unexpected {found}"))
        .with_help(help)
}

/// Drops expectations that another one already covers, so the message lists real alternatives only.
fn simplify_expected(positives: &mut Vec<Rule>) {
    let value_parts = [
        Rule::key,
        Rule::keyword,
        Rule::string,
        Rule::number,
        Rule::boolean,
        Rule::name,
        Rule::list,
        Rule::map,
        Rule::open_brace,
        Rule::open_list,
        Rule::comma,
    ];
    if positives.contains(&Rule::value) {
        positives.retain(|rule| !value_parts.contains(rule));
    }
    if positives.contains(&Rule::newline) {
        positives.retain(|rule| *rule != Rule::EOI);
    }
    let mut seen = Vec::new();
    positives.retain(|rule| {
        let new = !seen.contains(rule);
        seen.push(*rule);
        new
    });
}

fn describe_rule(rule: &Rule) -> String {
    let words = match rule {
        Rule::EOI => "the end of the file",
        Rule::file | Rule::statement => "a statement",
        Rule::block => "a block",
        Rule::keyword | Rule::map_entry => "`name=value`",
        Rule::key | Rule::name => "a name",
        Rule::value => "a value (a number, a name, \"text\", [a list] or {a map})",
        Rule::string => "\"text\"",
        Rule::number => "a number",
        Rule::boolean => "true or false",
        Rule::list => "[a list]",
        Rule::map => "{a map}",
        Rule::newline => "a newline",
        Rule::comma => "`,`",
        Rule::equals => "`=`",
        Rule::map_equals => "`=` or `:`",
        Rule::open_list => "`[`",
        Rule::close_list => "`]`",
        Rule::open_brace => "`{`",
        Rule::close_brace => "`}`",
        // Silent rules never appear in an error.
        Rule::WHITESPACE | Rule::COMMENT | Rule::argument | Rule::name_char => "a statement",
    };
    words.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::{line_column, Location};

    const EXAMPLE: &str = r#"experiment "breast-cancer-mlp"
seed 42

data {
  source "data/breast_cancer.csv"
  target diagnosis
  positive "malignant"
  missing numeric=median categorical=mode
  scale standard
  split train=0.7 val=0.1 test=0.2 stratify
}

model {
  dense 64 relu
  dropout 0.1
  dense 64 relu
  dense 2 softmax
}

train {
  optimizer adam lr=0.001
  loss categorical_crossentropy
  epochs 50
  batch_size 32
  early_stopping monitor=val_loss patience=10
}

metrics accuracy, precision, recall, specificity, f1, auc
"#;

    fn node(value: Value) -> Node {
        Node::new(value, Span::default())
    }

    fn num(text: &str) -> Node {
        node(Value::Number { value: text.parse().unwrap_or(f64::NAN), text: text.to_string() })
    }

    fn text(text: &str) -> Node {
        node(Value::Str(text.to_string()))
    }

    fn flag(flag: bool) -> Node {
        node(Value::Bool(flag))
    }

    fn list(items: Vec<Node>) -> Node {
        node(Value::List(items))
    }

    fn entry(key: &str, value: Node) -> Entry {
        Entry { key: key.to_string(), key_span: Span::default(), value }
    }

    fn map(entries: Vec<Entry>) -> Node {
        node(Value::Map(entries))
    }

    fn args(positional: Vec<Node>, keywords: Vec<Entry>) -> Node {
        node(Value::Args { positional, keywords })
    }

    fn parse_ok(source: &str) -> Node {
        let mut diagnostics = Diagnostics::new();
        let parsed = parse(source, &mut diagnostics);
        assert!(diagnostics.is_empty(), "{source:?}: {diagnostics:?}");
        parsed.unwrap_or_else(|| node(Value::Null))
    }

    /// The one diagnostic for `source`, with the 1-based line and column it points at.
    fn parse_error(source: &str) -> (Diagnostic, (usize, usize)) {
        let mut diagnostics = Diagnostics::new();
        assert_eq!(parse(source, &mut diagnostics), None, "{source:?} should not parse");
        assert_eq!(diagnostics.items.len(), 1, "{source:?}: {diagnostics:?}");
        let diagnostic = diagnostics.items.remove(0);
        let Location::Spec(span) = diagnostic.location else { panic!("{source:?}: no span") };
        assert!(span.end <= source.len() && source.is_char_boundary(span.start) && source.is_char_boundary(span.end));
        assert_eq!(diagnostic.code, "syntax::dsl");
        (diagnostic, line_column(source, span.start))
    }

    fn field<'a>(node: &'a Node, key: &str) -> &'a Entry {
        let Value::Map(entries) = &node.value else { panic!("not a map: {node:?}") };
        entries.iter().find(|entry| entry.key == key).unwrap_or_else(|| panic!("no `{key}` in {node:?}"))
    }

    #[test]
    fn design_example_parses_to_the_expected_tree() {
        let document = parse_ok(EXAMPLE);
        assert_eq!((document.span.start, document.span.end), (0, EXAMPLE.len()));
        let Value::Map(top) = &document.value else { panic!("not a map") };
        let keys: Vec<&str> = top.iter().map(|entry| entry.key.as_str()).collect();
        assert_eq!(keys, ["experiment", "seed", "data", "model", "train", "metrics"]);

        let experiment = field(&document, "experiment");
        assert_eq!(experiment.value, text("breast-cancer-mlp"));
        assert_eq!(line_column(EXAMPLE, experiment.value.span.start), (1, 12));
        assert_eq!(&EXAMPLE[experiment.value.span.start..experiment.value.span.end], "\"breast-cancer-mlp\"");
        assert_eq!(field(&document, "seed").value, num("42"));

        let data = field(&document, "data");
        assert_eq!(line_column(EXAMPLE, data.key_span.start), (4, 1));
        assert_eq!(line_column(EXAMPLE, data.value.span.start), (4, 6));
        assert_eq!(line_column(EXAMPLE, data.value.span.end), (11, 2));
        assert_eq!(field(&data.value, "source").value, text("data/breast_cancer.csv"));
        assert_eq!(field(&data.value, "target").value, text("diagnosis"));
        let missing = field(&data.value, "missing");
        assert_eq!(missing.value, map(vec![entry("numeric", text("median")), entry("categorical", text("mode"))]));
        assert_eq!(line_column(EXAMPLE, missing.value.span.start), (8, 11));
        assert_eq!(&EXAMPLE[missing.value.span.start..missing.value.span.end], "numeric=median categorical=mode");
        let split = field(&data.value, "split");
        let expected_split = args(
            vec![text("stratify")],
            vec![entry("train", num("0.7")), entry("val", num("0.1")), entry("test", num("0.2"))],
        );
        assert_eq!(split.value, expected_split);
        assert_eq!(line_column(EXAMPLE, split.key_span.start), (10, 3));
        let Value::Args { keywords, .. } = &split.value.value else { panic!("not args") };
        assert_eq!(line_column(EXAMPLE, keywords[1].key_span.start), (10, 19));
        assert_eq!(line_column(EXAMPLE, keywords[1].value.span.start), (10, 23));

        let model = field(&document, "model");
        let dense = |units: &str, activation: &str| entry("dense", list(vec![num(units), text(activation)]));
        let expected_model =
            map(vec![dense("64", "relu"), entry("dropout", num("0.1")), dense("64", "relu"), dense("2", "softmax")]);
        assert_eq!(model.value, expected_model);
        let Value::Map(layers) = &model.value.value else { panic!("not a map") };
        assert_eq!(line_column(EXAMPLE, layers[3].key_span.start), (17, 3));
        assert_eq!(&EXAMPLE[layers[3].value.span.start..layers[3].value.span.end], "2 softmax");

        let train = field(&document, "train");
        assert_eq!(field(&train.value, "optimizer").value, args(vec![text("adam")], vec![entry("lr", num("0.001"))]));
        let early_stopping = map(vec![entry("monitor", text("val_loss")), entry("patience", num("10"))]);
        assert_eq!(field(&train.value, "early_stopping").value, early_stopping);

        let metrics = field(&document, "metrics");
        let names = ["accuracy", "precision", "recall", "specificity", "f1", "auc"];
        assert_eq!(metrics.value, list(names.iter().map(|name| text(name)).collect()));
        assert_eq!(line_column(EXAMPLE, metrics.value.span.start), (28, 9));
        assert_eq!(metrics.value.span.end, EXAMPLE.len() - 1);
    }

    #[test]
    fn statements_follow_the_value_rules() {
        let cases = [
            ("dense 64 relu", list(vec![num("64"), text("relu")])),
            ("dropout 0.1", num("0.1")),
            ("flatten", flag(true)),
            ("stratify=false", flag(false)),
            ("shape [8, 8, 1]", list(vec![num("8"), num("8"), num("1")])),
            ("metrics accuracy, precision", list(vec![text("accuracy"), text("precision")])),
            ("lr 1e-3", num("1e-3")),
            ("x +2", num("+2")),
            ("x -0.5 .5", list(vec![num("-0.5"), num(".5")])),
            ("x \"a \\\"b\\\" \\\\ \\n\\t\"", text("a \"b\" \\ \n\t")),
            ("x my-col v1.2 true_positive", list(vec![text("my-col"), text("v1.2"), text("true_positive")])),
            ("x [] [[1], []]", list(vec![list(vec![]), list(vec![list(vec![num("1")]), list(vec![])])])),
            ("x {}", map(vec![])),
            ("x {\n}", map(vec![])),
            ("x { \"a b\": 1, c = [2], }", map(vec![entry("a b", num("1")), entry("c", list(vec![num("2")]))])),
            ("optimizer adam lr=0.001", args(vec![text("adam")], vec![entry("lr", num("0.001"))])),
            (
                "missing numeric=median columns={insulin=median}",
                map(vec![
                    entry("numeric", text("median")),
                    entry("columns", map(vec![entry("insulin", text("median"))])),
                ]),
            ),
            ("data {\n source \"x.csv\"\n}", map(vec![entry("source", text("x.csv"))])),
            ("types {\n  \"blood pressure\" numeric\n}", map(vec![entry("blood pressure", text("numeric"))])),
            (
                "model {\n dense 64 relu\n flatten\n}",
                map(vec![entry("dense", list(vec![num("64"), text("relu")])), entry("flatten", flag(true))]),
            ),
            ("x a k = 1 {\n  y 2\n}", args(vec![text("a")], vec![entry("k", num("1")), entry("y", num("2"))])),
        ];
        for (source, expected) in cases {
            let document = parse_ok(source);
            let Value::Map(entries) = &document.value else { panic!("not a map") };
            assert_eq!(entries.len(), 1, "{source:?}");
            assert_eq!(entries[0].value, expected, "{source:?}");
        }
    }

    #[test]
    fn layout_is_free_around_statements() {
        let source =
            "\r\n  # a comment\r\n\tseed 42 # the seed\r\n\r\ndata {   # block\r\n\r\n  scale\tstandard\r\n}\r\nx 1";
        let expected = map(vec![
            entry("seed", num("42")),
            entry("data", map(vec![entry("scale", text("standard"))])),
            entry("x", num("1")),
        ]);
        assert_eq!(parse_ok(source), expected);
        assert_eq!(parse_ok(""), map(vec![]));
        assert_eq!(parse_ok("  \n# only a comment"), map(vec![]));
    }

    fn round_trip(document: &Node) {
        let printed = print(document);
        let reparsed = parse_ok(&printed);
        assert_eq!(&reparsed, document, "printed:\n{printed}");
        assert_eq!(print(&reparsed), printed);
    }

    #[test]
    fn printed_trees_parse_back() {
        round_trip(&parse_ok(EXAMPLE));
        let every_kind = map(vec![
            entry("experiment", text("blood pressure \"study\" \\ 2\n\t\r")),
            entry("flag", flag(true)),
            entry("off", flag(false)),
            entry("word", text("true")),
            entry("number", text("64")),
            entry("empty", text("")),
            entry("numbers", list(vec![num("1e-3"), num("-0.5"), num("+2"), num("7.")])),
            entry("one", list(vec![text("only")])),
            entry("none", list(vec![])),
            entry("shape", args(vec![list(vec![num("8"), num("8"), num("1")])], vec![entry("k", flag(true))])),
            entry("quoted key", map(vec![])),
            entry("inline", list(vec![map(vec![entry("a b", list(vec![]))]), map(vec![])])),
            entry(
                "block",
                map(vec![
                    entry("flatten", flag(true)),
                    entry("empty", map(vec![])),
                    entry("keywords", map(vec![entry("x", flag(true)), entry("y", map(vec![entry("z", num("1"))]))])),
                    entry(
                        "nested",
                        map(vec![entry("optimizer", args(vec![text("adam")], vec![entry("lr", num("1"))]))]),
                    ),
                    entry("p", args(vec![text("a"), num("2")], vec![entry("\"k\"", text("v w"))])),
                    entry("dense", list(vec![num("64"), text("relu")])),
                    entry("dense", list(vec![num("64"), text("relu")])),
                ]),
            ),
            entry("empty_block", map(vec![])),
            entry("last", text("é")),
        ]);
        round_trip(&every_kind);
        round_trip(&map(vec![]));
        assert_eq!(
            print(&map(vec![entry("a", num("1")), entry("b", map(vec![])), entry("c", flag(true))])),
            "a 1\n\nb {\n}\n\nc\n"
        );
    }

    #[test]
    fn syntax_errors_point_at_the_mistake() {
        let cases = [
            ("source \"data/x.csv\nseed 1\n", "no closing", (1, 8)),
            ("x \"a\\d\"\n", "unknown escape", (1, 5)),
            ("data {\n  source \"x\"\n", "no closing `}`", (1, 6)),
            ("model {\n  dense 64 =\n}\n", "`=`", (2, 12)),
            ("dense units=\n", "`=` has no value", (1, 12)),
            ("seed 1\n}\n", "closes no block", (2, 1)),
            ("data {\n  scale x }\n", "own", (2, 11)),
            ("@\n", "expected", (1, 1)),
            ("dense 64 @\n", "expected", (1, 10)),
            ("shape [8 8 1]\n", "expected `,` or `]`", (1, 10)),
            ("shape [8, 8\nseed 1\n", "not closed on its line", (1, 7)),
            ("source data/x.csv\n", "expected", (1, 12)),
            ("é\n", "expected", (1, 1)),
            ("data = {\n  x 1\n}\n", "map is not closed", (1, 8)),
            ("model { dense 32 relu }\n", "lines of their own", (1, 7)),
            ("train {\n  loss: mse\n}\n", "unexpected `:`", (2, 7)),
            ("split train=0.8 val= test=0.2\n", "`=` has no value", (1, 20)),
        ];
        for (source, expected, position) in cases {
            let (diagnostic, at) = parse_error(source);
            assert!(diagnostic.message.contains(expected), "{source:?}: {}", diagnostic.message);
            assert_eq!(at, position, "{source:?}: {}", diagnostic.message);
        }
        let deep = format!("x {}{}\n", "[".repeat(100), "]".repeat(100));
        assert!(parse_error(&deep).0.message.contains("nested"));
        let deepest_list = format!("x {}{}\n", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
        round_trip(&parse_ok(&deepest_list));
        let deepest_blocks = format!("{}{}", "x a {\n".repeat(MAX_NESTING), "}\n".repeat(MAX_NESTING));
        round_trip(&parse_ok(&deepest_blocks));
    }

    #[test]
    fn mutated_sources_never_panic() {
        let pieces =
            ["\"", "{", "}", "[", "]", "=", ",", ":", "#", "\\", "\n", "\r", "\t", " ", "é", "→", "\u{0}", "1e", "-"];
        let mut rng = crate::rng::TestRng::new(0x9e37_79b9_7f4a_7c15);
        let (mut parsed, mut failed) = (0, 0);
        for _ in 0..4000 {
            let mut source: Vec<char> = EXAMPLE.chars().collect();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(source.len() + 1);
                match rng.below(4) {
                    0 if at < source.len() => {
                        source.remove(at);
                    }
                    1 => source.splice(at..at, pieces[rng.below(pieces.len())].chars()).for_each(drop),
                    2 if at + 1 < source.len() => source.swap(at, at + 1),
                    _ => source.insert(at, char::from_u32(rng.below(0x3000) as u32).unwrap_or('x')),
                }
            }
            let source: String = source.into_iter().collect();
            let mut diagnostics = Diagnostics::new();
            match parse(&source, &mut diagnostics) {
                Some(document) => {
                    parsed += 1;
                    assert!(diagnostics.is_empty());
                    round_trip(&document);
                }
                None => {
                    failed += 1;
                    parse_error(&source);
                }
            }
        }
        assert!(parsed > 100 && failed > 100, "parsed {parsed}, failed {failed}");
    }
}
