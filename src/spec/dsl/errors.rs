//! Syntax errors as messages a domain expert can act on: a scan of the source finds unbalanced brackets, unclosed
//! strings, too deep nesting and the common slips (`=` or `:` where a value belongs), and what is left is pest's error
//! turned into "expected ..." in words.

use pest::error::{ErrorVariant, InputLocation};

use super::{Rule, MAX_NESTING};
use crate::diagnostics::{Diagnostic, Span};

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
pub(super) fn nesting_error(source: &str) -> Option<Diagnostic> {
    let offset = scan(source, source.len()).too_deep?;
    let message = format!("brackets and blocks are nested more than {MAX_NESTING} deep");
    let help = "a spec needs only a few levels of nesting; check for a runaway `[` or `{`";
    Some(syntax_diagnostic(&message, Span::new(offset, offset + 1), "too deep", help))
}

/// The one diagnostic for a failed parse: a hand-written one for the common mistakes, else pest's expectations.
pub(super) fn syntax_error(source: &str, error: pest::error::Error<Rule>) -> Diagnostic {
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
