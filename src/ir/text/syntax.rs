//! Syntax errors in plain words: what pest expected and found, a string's bad escape, and the nesting guard that
//! runs before pest's recursion.

use pest::error::{ErrorVariant, InputLocation, LineColLocation};

use super::parse::{ParseError, Rule};

/// How deep scan bodies may nest. Real graphs nest one or two; the limit keeps the recursive parser far from the
/// end of the stack on hostile input.
const MAX_NESTING: usize = 32;

/// Refuses bodies nested deeper than [`MAX_NESTING`] before pest's recursion sees them. Braces in strings and
/// comments do not count.
pub(super) fn check_nesting(text: &str) -> Result<(), ParseError> {
    let (mut depth, mut line, mut column) = (0usize, 1usize, 0usize);
    let (mut in_string, mut in_comment, mut escaped) = (false, false, false);
    for c in text.chars() {
        column += 1;
        if c == '\n' {
            (line, column, in_comment, in_string) = (line + 1, 0, false, false);
            continue;
        }
        if in_comment {
            continue;
        }
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            ';' => in_comment = true,
            '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    let message = format!("graphs are nested more than {MAX_NESTING} deep");
                    return Err(ParseError { line, column, message });
                }
            }
            '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// A syntax error in plain words: what was expected and what was found.
pub(super) fn syntax_error(text: &str, error: pest::error::Error<Rule>) -> ParseError {
    let (line, column) = match error.line_col {
        LineColLocation::Pos(position) => position,
        LineColLocation::Span(start, _) => start,
    };
    let offset = match error.location {
        InputLocation::Pos(offset) => offset,
        InputLocation::Span((start, _)) => start,
    };
    if let Some(error) = string_error(text, offset) {
        return error;
    }
    let found = found_at(text, offset);
    let message = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let mut expected: Vec<&str> = Vec::new();
            for rule in positives {
                if let Some(words) = describe(*rule) {
                    if !expected.contains(&words) {
                        expected.push(words);
                    }
                }
            }
            match expected.as_slice() {
                [] => format!("unexpected {found}"),
                [only] => format!("expected {only}, found {found}"),
                [init @ .., last] => format!("expected {} or {last}, found {found}", init.join(", ")),
            }
        }
        ErrorVariant::CustomError { message } => message.clone(),
    };
    ParseError { line, column, message }
}

/// A string at `offset` that the grammar refused: one not closed on its line, or with an unknown escape.
fn string_error(text: &str, offset: usize) -> Option<ParseError> {
    let rest = text.get(offset..)?.strip_prefix('"')?;
    let mut chars = rest.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return None,
            '\n' | '\r' => break,
            '\\' => {
                let escape = chars.next().map(|(_, next)| next);
                let known = match escape {
                    Some('"' | '\\' | 'n' | 'r' | 't') => true,
                    Some('u') => {
                        rest[index + 2..].strip_prefix('{').and_then(|inner| inner.split_once('}')).is_some_and(
                            |(hex, _)| (1..=6).contains(&hex.len()) && hex.chars().all(|c| c.is_ascii_hexdigit()),
                        )
                    }
                    _ => false,
                };
                if !known {
                    let written: String = escape.map(|c| format!("\\{c}")).unwrap_or_else(|| "\\".to_string());
                    let message = format!(
                        "`{written}` is not an escape; a string knows `\\\"`, `\\\\`, `\\n`, `\\r`, `\\t` and `\\u{{7f}}`"
                    );
                    return Some(error_at_offset(text, offset + 1 + index, message));
                }
            }
            _ => {}
        }
    }
    Some(error_at_offset(text, offset, "this string is not closed on its line".to_string()))
}

/// An error at a byte offset of the text.
fn error_at_offset(text: &str, offset: usize, message: String) -> ParseError {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |line| line.chars().count()) + 1;
    ParseError { line, column, message }
}

/// The token at an offset, for "found ...".
fn found_at(text: &str, offset: usize) -> String {
    let rest = text.get(offset..).unwrap_or("");
    let token: String = rest.chars().take_while(|c| !c.is_whitespace()).take(24).collect();
    if rest.is_empty() {
        "the end of the text".to_string()
    } else if token.is_empty() {
        "a line break".to_string()
    } else {
        format!("`{token}`")
    }
}

/// A rule in words, for "expected ..."; `None` for rules never worth naming.
fn describe(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::file | Rule::graph | Rule::graph_keyword => "`graph`",
        Rule::graph_name => "the graph's name",
        Rule::node => "a node (`%0 = ...`)",
        Rule::output | Rule::output_keyword => "an output (`output \"name\" = %0`)",
        Rule::node_id | Rule::operands => "a node id (`%0`)",
        Rule::op_name => "an op name",
        Rule::literal => "a value",
        Rule::attribute | Rule::attribute_name => "an attribute (`name=value`)",
        Rule::attribute_value => "an attribute value",
        Rule::list => "a list (`[0, 1]`)",
        Rule::node_type | Rule::tensor_type | Rule::tuple_type | Rule::type_start => "a type (`f32[4]`)",
        Rule::dtype => "a dtype",
        Rule::number => "a number",
        Rule::string | Rule::escape => "a quoted string",
        Rule::identifier | Rule::identifier_char => "a name",
        Rule::equals => "`=`",
        Rule::colon => "`:`",
        Rule::comma => "`,`",
        Rule::open_brace => "`{`",
        Rule::close_brace => "`}`",
        Rule::open_bracket => "`[`",
        Rule::close_bracket => "`]`",
        Rule::open_paren => "`(`",
        Rule::close_paren => "`)`",
        Rule::EOI => "the end of the text",
        Rule::WHITESPACE | Rule::COMMENT => return None,
    })
}
