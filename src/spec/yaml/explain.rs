//! Plain-words explanations of libyaml's syntax errors: what is wrong in the user's terms, a label on the place most
//! likely at fault (libyaml often notices a mistake one line late), and a help line that says how to fix it.
//!
//! Each explanation looks only at the text around libyaml's positions and gives up (returns `None`) when the text
//! does not show the mistake it knows; the caller then keeps libyaml's own words.

use super::{char_span, Positions, SYNTAX};
use crate::diagnostics::{line_column, Diagnostic, Span};

const ALIGN: &str = "indent with spaces, two per level, and keep keys of one section aligned";
const ALIGN_ITEMS: &str = "indent with spaces, two per level, and keep the items of one list aligned";
const TAB_HELP: &str = "YAML does not allow tabs for indentation: replace them with spaces, two per level";
/// The DSL's block statements; a line `data {` in a YAML file is the spec language, not YAML.
const DSL_BLOCKS: [&str; 3] = ["data", "model", "train"];

/// A libyaml error taken apart: the problem, what libyaml was reading, and where each happened.
pub(super) struct LibyamlError<'e> {
    /// libyaml's problem text, as "did not find expected key".
    pub problem: &'e str,
    /// What libyaml was reading, as "parsing a block mapping".
    pub context: Option<&'e str>,
    /// Byte offset in the source where libyaml noticed the problem.
    pub at: usize,
    /// Byte offset in the source where the thing libyaml was reading starts, when libyaml names it.
    pub context_at: Option<usize>,
}

/// A plain-words diagnostic for a libyaml error, or `None` when the text does not show a mistake known here.
pub(super) fn explain(positions: &Positions, error: &LibyamlError) -> Option<Diagnostic> {
    let text = Text { positions };
    if let Some(diagnostic) = text.tab(error) {
        return Some(diagnostic);
    }
    let common = |message: &str, label: &str, help: &str| {
        let span = char_span(text.source(), error.at);
        Some(Diagnostic::error(SYNTAX, message).at(span).with_label(label).with_help(help))
    };
    match (error.problem, error.context.unwrap_or("")) {
        ("could not find expected ':'", _) => text.missing_colon(error).or_else(|| {
            common(
                "a key without its `:`",
                "`:` expected",
                "every key is followed by `: ` and its value, as in `epochs: 50`",
            )
        }),
        ("did not find expected key", _) => text.not_a_key(error.at).or_else(|| {
            common(
                "a `key: value` line was expected here",
                "not a key",
                &format!("{ALIGN}; every key is followed by `: ` and its value, as in `epochs: 50`"),
            )
        }),
        ("did not find expected '-' indicator", _) => text
            .not_an_item(error.at)
            .or_else(|| common("a list item starting with `- ` was expected here", "not a list item", ALIGN_ITEMS)),
        ("mapping values are not allowed in this context", _) => text.unexpected_colon(error.at).or_else(|| {
            let help = "a value that contains `: ` must be in quotes, as in `note: \"a: b\"`; otherwise check the \
                        indentation of this line and the line above";
            common("a `:` where YAML does not allow one", "unexpected `:`", help)
        }),
        ("did not find expected ',' or '}'", _) => text.flow_not_closed(error, '{', '}').or_else(|| {
            common(
                "a `,` or `}` was expected here",
                "`,` or `}` expected",
                "separate the entries with commas and close the `{` with `}`, as in `{train: 0.7, val: 0.1}`",
            )
        }),
        ("did not find expected ',' or ']'", _) => text.flow_not_closed(error, '[', ']').or_else(|| {
            common(
                "a `,` or `]` was expected here",
                "`,` or `]` expected",
                "separate the items with commas and close the `[` with `]`, as in `[accuracy, auc]`",
            )
        }),
        ("found unexpected end of stream" | "found unexpected document indicator", "scanning a quoted scalar") => {
            text.unclosed_quote(error)
        }
        ("found unknown escape character", _) => text.unknown_escape(error),
        ("found character that cannot start any token", _) => text.reserved_start(error.at),
        ("block sequence entries are not allowed in this context", _) => text.item_after_key(error.at),
        ("did not find expected node content", "parsing a flow node") => text.empty_flow_item(error.at),
        _ => None,
    }
}

/// A diagnostic for a `.yaml` file written in the spec language, pointing at the first line that shows it: a first
/// statement `experiment "..."`, or a block such as `data {`.
pub(super) fn spec_language(positions: &Positions) -> Option<Diagnostic> {
    let text = Text { positions };
    let mut lines = text.lines().filter(|line| !line.code().trim().is_empty());
    let first = lines.next()?;
    let experiment = first
        .code()
        .trim_start()
        .strip_prefix("experiment")
        .is_some_and(|rest| rest.starts_with([' ', '\t']) && !rest.contains(':') && !rest.trim().is_empty());
    let block = |line: &Line| {
        let code = line.code().trim();
        code.strip_suffix('{').is_some_and(|head| DSL_BLOCKS.contains(&head.trim_end()))
    };
    let evidence = if experiment { Some(first) } else { std::iter::once(first).chain(lines).find(block) }?;
    let message = "this looks like the galen spec language, not YAML";
    let help = "rename the file so that it ends in `.galen`; files ending in `.yaml` or `.yml` are read as YAML";
    let diagnostic = Diagnostic::error(SYNTAX, message).at(evidence.code_span());
    Some(diagnostic.with_label("spec language").with_help(help))
}

/// A diagnostic for the line holding `offset` when its indentation fits neither the lines above it nor their
/// section, for the errors of the second reader, which libyaml's explanations do not see.
pub(super) fn misaligned_line(positions: &Positions, offset: usize) -> Option<Diagnostic> {
    let text = Text { positions };
    let line = text.line_at(offset)?;
    text.misaligned(&line, line.indent())
}

/// The source seen as lines, with the questions the explanations ask of it.
struct Text<'a> {
    positions: &'a Positions<'a>,
}

/// One line of the source, without its line break.
#[derive(Clone, Copy)]
struct Line<'a> {
    /// 0-based index in `Positions::line_starts`.
    index: usize,
    /// Byte offset of the line's first character.
    start: usize,
    text: &'a str,
}

impl<'a> Line<'a> {
    /// Leading spaces (tabs are reported on their own before indentation is ever measured).
    fn indent(&self) -> usize {
        self.text.len() - self.text.trim_start_matches(' ').len()
    }

    /// The line without a trailing comment or trailing blanks; a `#` inside quotes is text, not a comment.
    fn code(&self) -> &'a str {
        let text = self.text;
        let comment = unquoted(text)
            .find(|&(index, character)| character == '#' && (index == 0 || text[..index].ends_with([' ', '\t'])));
        text[..comment.map_or(text.len(), |(index, _)| index)].trim_end()
    }

    /// Byte offset of the first character that is not a space or a tab.
    fn first_non_blank(&self) -> usize {
        self.start + (self.text.len() - self.text.trim_start_matches([' ', '\t']).len())
    }

    /// The span of the line's code, from its first non-blank character.
    fn code_span(&self) -> Span {
        Span::new(self.first_non_blank(), self.start + self.code().len())
    }

    /// The code after any list dashes (`- `), where a key would start.
    fn key_part(&self) -> (usize, &'a str) {
        let mut offset = self.first_non_blank() - self.start;
        loop {
            let rest = &self.code()[offset.min(self.code().len())..];
            match rest.strip_prefix('-') {
                Some(after) if after.starts_with(' ') => offset += 1 + (after.len() - after.trim_start().len()),
                _ => return (self.start + offset, rest),
            }
        }
    }

    /// Whether the line is a list item (`- ...`).
    fn is_item(&self) -> bool {
        let code = self.code().trim_start();
        code == "-" || code.starts_with("- ")
    }

    /// The first word of the key part, without a `:` glued to it: `source` in `  source: x`, `dense` in `- dense: 64`.
    fn key(&self) -> &'a str {
        let (_, rest) = self.key_part();
        let word = rest.split(char::is_whitespace).next().unwrap_or("");
        word.split(':').next().unwrap_or(word)
    }

    /// How the line is named in a message: `` `source` `` or `` `- dense` ``.
    fn name(&self) -> String {
        if self.is_item() {
            format!("`- {}`", self.key())
        } else {
            format!("`{}`", self.key())
        }
    }

    /// Offsets (from the line start) of each `:` outside quotes.
    fn colons(&self) -> Vec<usize> {
        unquoted(self.code()).filter(|&(_, character)| character == ':').map(|(index, _)| index).collect()
    }

    /// Offsets of each `:` outside quotes that ends a key: followed by a blank or the end of the line.
    fn key_colons(&self) -> Vec<usize> {
        let code = self.code();
        self.colons().into_iter().filter(|&colon| code[colon + 1..].chars().next().is_none_or(is_blank)).collect()
    }

    /// Whether the line is `key: value` with the value on the same line (so nothing may be nested under it).
    fn has_inline_value(&self) -> bool {
        let code = self.code();
        self.key_colons().first().is_some_and(|&colon| {
            let value = code[colon + 1..].trim();
            !value.is_empty() && !value.starts_with(['|', '>', '&', '!'])
        })
    }
}

impl<'a> Text<'a> {
    fn source(&self) -> &'a str {
        self.positions.source
    }

    fn line(&self, index: usize) -> Option<Line<'a>> {
        let starts = &self.positions.line_starts;
        let start = *starts.get(index)?;
        let end = starts.get(index + 1).copied().unwrap_or(self.source().len());
        let text = self.source().get(start..end)?.trim_end_matches(['\n', '\r']);
        Some(Line { index, start, text })
    }

    fn lines(&self) -> impl Iterator<Item = Line<'a>> + '_ {
        (0..self.positions.line_starts.len()).filter_map(|index| self.line(index))
    }

    /// The line holding byte `offset` (the last line for an offset at the end).
    fn line_at(&self, offset: usize) -> Option<Line<'a>> {
        let index = self.positions.line_starts.partition_point(|&start| start <= offset).saturating_sub(1);
        self.line(index)
    }

    /// The nearest line above `line` that holds more than blanks and a comment.
    fn significant_above(&self, line: &Line) -> Option<Line<'a>> {
        (0..line.index).rev().filter_map(|index| self.line(index)).find(|above| !above.code().trim().is_empty())
    }

    fn char_at(&self, offset: usize) -> Option<char> {
        self.source().get(offset..).and_then(|rest| rest.chars().next())
    }

    fn place(&self, offset: usize) -> (usize, usize) {
        line_column(self.source(), offset)
    }

    /// A tab in the indentation of the line libyaml stopped at, or a tab exactly where it stopped.
    fn tab(&self, error: &LibyamlError) -> Option<Diagnostic> {
        let line = self.line_at(error.at)?;
        let leading = &line.text[..line.first_non_blank() - line.start];
        let tab_problem = error.problem.contains("tab character");
        if let Some(tab) = leading.find('\t').filter(|_| tab_problem || error.at <= line.first_non_blank()) {
            let tabs = leading[tab..].len() - leading[tab..].trim_start_matches('\t').len();
            let span = Span::new(line.start + tab, line.start + tab + tabs);
            let error = Diagnostic::error(SYNTAX, "this line is indented with a tab").at(span);
            return Some(error.with_label("tab").with_help(TAB_HELP));
        }
        if self.char_at(error.at) == Some('\t') {
            let span = char_span(self.source(), error.at);
            let help = "YAML does not allow a tab here: replace it with a space";
            let error = Diagnostic::error(SYNTAX, "a tab where YAML expects a space").at(span);
            return Some(error.with_label("tab").with_help(help));
        }
        tab_problem.then(|| {
            let span = char_span(self.source(), error.at);
            Diagnostic::error(SYNTAX, "a tab is used for indentation").at(span).with_help(TAB_HELP)
        })
    }

    /// libyaml read the start of the line at `context_at` as a key and found no `:` before the line ended.
    fn missing_colon(&self, error: &LibyamlError) -> Option<Diagnostic> {
        self.line_without_colon(&self.line_at(error.context_at?)?)
    }

    /// A line at a key's place that has no `: `: a key without its `:`, or a `:` without the space after it.
    fn line_without_colon(&self, line: &Line) -> Option<Diagnostic> {
        let (start, rest) = line.key_part();
        if !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_') || !line.key_colons().is_empty() {
            return None;
        }
        let key = line.key();
        let key_span = Span::new(start, start + key.len());
        if line.colons().is_empty() {
            let value = rest[key.len()..].trim();
            let (message, fixed) = if value.is_empty() {
                (format!("`{key}` has no `:` after it"), format!("`{key}:`"))
            } else {
                (format!("the line `{rest}` has no `:` after its key"), format!("`{key}: {value}`"))
            };
            let help = format!("every key is followed by `: ` and its value, as in `epochs: 50`; here, write {fixed}");
            let diagnostic = Diagnostic::error(SYNTAX, message).at(key_span);
            return Some(diagnostic.with_label(format!("`:` missing after `{key}`")).with_help(help));
        }
        let value = rest[key.len()..].strip_prefix(':')?.trim();
        let message = format!("`{key}:{value}` needs a space after the `:`");
        let help = format!(
            "a key's `:` is followed by a space and the value, as in `epochs: 50`; here, write `{key}: {value}`"
        );
        let colon = Span::new(key_span.end, key_span.end + 1);
        Some(Diagnostic::error(SYNTAX, message).at(colon).with_label("space missing after `:`").with_help(help))
    }

    /// libyaml expected the next key of a mapping at `at` and found something else.
    fn not_a_key(&self, at: usize) -> Option<Diagnostic> {
        let line = self.line_at(at)?;
        if at != line.first_non_blank() {
            return self.after_value(at);
        }
        if let Some(diagnostic) = self.misaligned(&line, line.indent()) {
            return Some(diagnostic);
        }
        if let Some(above) = self.significant_above(&line) {
            let found = match above.indent() {
                indent if indent == line.indent() => self.line_without_colon(&above),
                indent if indent < line.indent() => self.over_indented(&line, &above),
                _ => None,
            };
            if found.is_some() {
                return found;
            }
        }
        if !line.is_item() {
            return None;
        }
        let message = "a list item `- ` among `key: value` lines";
        let help = "a section holds either `key: value` lines or `- ` items, not both; a list goes under its own key, \
                    indented, as in `metrics:` followed by `  - auc`";
        let span = char_span(self.source(), at);
        Some(Diagnostic::error(SYNTAX, message).at(span).with_label("list item").with_help(help))
    }

    /// Text where a value should have ended: an extra closing bracket, or words after a quoted or bracketed value.
    fn after_value(&self, at: usize) -> Option<Diagnostic> {
        let span = char_span(self.source(), at);
        let diagnostic = match self.char_at(at)? {
            closer @ ('}' | ']') => {
                let opener = if closer == '}' { '{' } else { '[' };
                let message = format!("there is no `{opener}` for this `{closer}` to close");
                Diagnostic::error(SYNTAX, message)
                    .at(span)
                    .with_label("extra")
                    .with_help(format!("remove this `{closer}`"))
            }
            _ => {
                let help = "a value in quotes or brackets ends the line: remove what follows it, or put the whole \
                            value in quotes";
                let message = "text after the end of a value";
                Diagnostic::error(SYNTAX, message).at(span).with_label("unexpected here").with_help(help)
            }
        };
        Some(diagnostic)
    }

    /// A line whose indentation puts it inside the section above it but not in line with that section's entries:
    /// between the parent's column and its entries' column. `column` is where the line's key or `-` starts.
    fn misaligned(&self, line: &Line, column: usize) -> Option<Diagnostic> {
        if line.key().is_empty() {
            return None;
        }
        let mut sibling: Option<Line> = None;
        let mut parent = None;
        let mut above = self.significant_above(line);
        while let Some(candidate) = above {
            let indent = candidate.indent();
            if indent < column {
                parent = Some(candidate);
                break;
            }
            if indent == column {
                return None;
            }
            if sibling.is_none_or(|sibling| indent < sibling.indent()) {
                sibling = Some(candidate);
            }
            above = self.significant_above(&candidate);
        }
        let sibling = sibling?;
        let (line_number, sibling_number) = (line.index + 1, sibling.index + 1);
        let (name, sibling_name) = (line.name(), sibling.name());
        let message = format!(
            "{name} is indented {}, but {sibling_name} above it is indented {}",
            spaces(column),
            sibling.indent()
        );
        let align = if line.is_item() && sibling.is_item() { ALIGN_ITEMS } else { ALIGN };
        let help = match parent {
            Some(parent) if line.is_item() == sibling.is_item() => format!(
                "{align}: {sibling_name} (line {sibling_number}) and {name} (line {line_number}) are both inside {} \
                 (line {}), so start them in the same column",
                parent.name(),
                parent.index + 1
            ),
            _ => format!(
                "{align}: start {name} (line {line_number}) in the same column as {sibling_name} (line \
                 {sibling_number})"
            ),
        };
        let span = Span::new(line.first_non_blank(), line.key_part().0 + line.key().len());
        Some(
            Diagnostic::error(SYNTAX, message)
                .at(span)
                .with_label(format!("indented {}", spaces(column)))
                .with_help(help),
        )
    }

    /// libyaml expected the next `- ` item of a list at `at` and found a key.
    fn not_an_item(&self, at: usize) -> Option<Diagnostic> {
        let line = self.line_at(at)?;
        if at != line.first_non_blank() {
            return None;
        }
        let column = line.indent();
        let mut above = self.significant_above(&line);
        let item = loop {
            let candidate = above?;
            if candidate.indent() == column && candidate.is_item() {
                break candidate;
            }
            if candidate.indent() <= column {
                return self.misaligned(&line, column);
            }
            above = self.significant_above(&candidate);
        };
        let key = line.key();
        let message = format!("`{key}` is among the items of a list, but has no `- ` before it");
        let as_item = format!("to make it an item of its own, write `- {}`", line.code().trim());
        let help = match item.key_colons().is_empty() {
            true => as_item,
            false => {
                let (item_key_start, _) = item.key_part();
                let more = (item_key_start - item.start).saturating_sub(column);
                let (item_key, item_line) = (item.key(), item.index + 1);
                format!(
                    "to put `{key}` inside the item above, indent it {} more, to line up with `{item_key}` (line \
                         {item_line}); {as_item}",
                    spaces(more)
                )
            }
        };
        let span = Span::new(at, at + key.len());
        Some(Diagnostic::error(SYNTAX, message).at(span).with_label("no `- ` before it").with_help(help))
    }

    /// A `:` at `at` where libyaml was in the middle of a value: a second `: ` on one line, a line indented under
    /// a `key: value` line, or a line above without its `:`.
    fn unexpected_colon(&self, at: usize) -> Option<Diagnostic> {
        let line = self.line_at(at)?;
        let earlier = line.key_colons().into_iter().find(|&colon| line.start + colon < at);
        if let Some(first) = earlier {
            let code = line.code();
            let (key, value) = (code[..first].trim(), code[first + 1..].trim());
            let quoted = in_quotes(value);
            let message = "a second `: ` on one line";
            let help = format!(
                "a value that contains `: ` must be in quotes, as in `{key}: {quoted}`; or put each key on its own line"
            );
            let span = char_span(self.source(), at);
            return Some(Diagnostic::error(SYNTAX, message).at(span).with_label("second `:`").with_help(help));
        }
        let above = self.significant_above(&line)?;
        self.over_indented(&line, &above).or_else(|| self.line_without_colon(&above))
    }

    /// A line indented under a `key: value` line, which can hold nothing more, so YAML reads it as the rest of
    /// that value.
    fn over_indented(&self, line: &Line, above: &Line) -> Option<Diagnostic> {
        if line.indent() <= above.indent() || !above.has_inline_value() || line.key().is_empty() {
            return None;
        }
        let (key, above_key) = (line.key(), above.key());
        let message = format!("`{key}` is indented more than `{above_key}` on the line above");
        let help = format!("{ALIGN}: start `{key}` in the same column as `{above_key}` (line {})", above.index + 1);
        let start = line.first_non_blank();
        let span = Span::new(start, start + key.len());
        let label = format!("indented {}", spaces(line.indent()));
        Some(Diagnostic::error(SYNTAX, message).at(span).with_label(label).with_help(help))
    }

    /// A `{` or `[` (at `context_at`) that libyaml saw neither continued with `,` nor closed before `at`.
    fn flow_not_closed(&self, error: &LibyamlError, open: char, close: char) -> Option<Diagnostic> {
        let opener = error.context_at.unwrap_or(self.positions.skipped);
        if self.char_at(opener) != Some(open) {
            return None;
        }
        let (open_line, open_column) = self.place(opener);
        let found = self.char_at(error.at);
        if let Some(wrong @ ('}' | ']')) = found {
            let message =
                format!("`{wrong}` does not match the `{open}` opened at line {open_line}, column {open_column}");
            let help = format!("close the `{open}` opened at line {open_line} with `{close}`");
            let span = char_span(self.source(), error.at);
            return Some(
                Diagnostic::error(SYNTAX, message).at(span).with_label(format!("`{close}` expected")).with_help(help),
            );
        }
        let (error_line, _) = self.place(error.at);
        let (things, example) = match open {
            '{' => ("entries", "{train: 0.7, val: 0.1}"),
            _ => ("items", "[accuracy, auc]"),
        };
        if error_line == open_line && found == Some(':') {
            let word = self.source().get(opener..error.at)?.trim_end();
            let word_start = word
                .char_indices()
                .rev()
                .find(|&(_, c)| c.is_whitespace() || ",{[".contains(c))
                .map_or(0, |(index, c)| index + c.len_utf8());
            let word = &word[word_start..];
            if word.is_empty() {
                return None;
            }
            let span = Span::new(opener + word_start, opener + word_start + word.len());
            let message = format!("missing `,` before `{word}`");
            let help = format!("separate the {things} with commas, as in `{example}`");
            return Some(
                Diagnostic::error(SYNTAX, message).at(span).with_label("`,` expected before this").with_help(help),
            );
        }
        if error_line <= open_line {
            return None;
        }
        let message = format!("the `{open}` opened at line {open_line} is never closed");
        let mut help = format!("close the `{open}` opened at line {open_line} with `{close}`");
        let open_text = self.line_at(opener)?;
        let next_is_error = self
            .line_at(error.at)
            .and_then(|line| self.significant_above(&line))
            .is_some_and(|line| line.index == open_text.index);
        let code = open_text.code().trim();
        if next_is_error && error.at > open_text.start + open_text.code().len() && code.matches(open).count() == 1 {
            help.push_str(&format!(", as in `{code}{close}`"));
        }
        let span = char_span(self.source(), opener);
        Some(Diagnostic::error(SYNTAX, message).at(span).with_label("opened here").with_help(help))
    }

    /// A quoted text (its quote at `context_at`) whose closing quote never came.
    fn unclosed_quote(&self, error: &LibyamlError) -> Option<Diagnostic> {
        let opener = error.context_at?;
        let quote = self.char_at(opener).filter(|c| *c == '"' || *c == '\'')?;
        let (line, _) = self.place(opener);
        let message = format!("the quote opened at line {line} is never closed");
        let code = self.line_at(opener)?.text.trim();
        let help = format!("end the text with `{quote}` on the same line, as in `{code}{quote}`");
        let span = char_span(self.source(), opener);
        Some(Diagnostic::error(SYNTAX, message).at(span).with_label("opened here").with_help(help))
    }

    /// A backslash in double quotes that starts no known escape, most often a Windows path.
    fn unknown_escape(&self, error: &LibyamlError) -> Option<Diagnostic> {
        let backslash = error.at;
        let escaped = self.source().get(backslash..)?.strip_prefix('\\')?.chars().next()?;
        let span = Span::new(backslash, backslash + 1 + escaped.len_utf8());
        let message = format!("`\\{escaped}` is not a valid escape inside double quotes");
        let quoted = error.context_at.and_then(|start| {
            let line = self.line_at(start)?;
            let rest = line.text.get(start - line.start + 1..)?;
            let inside = &rest[..rest.find('"')?];
            (!inside.contains('\'')).then(|| format!(", as in `'{inside}'`"))
        });
        let help = format!(
            "inside double quotes a backslash starts an escape such as `\\n`; write a path with `/`, or put it in \
             single quotes{}",
            quoted.unwrap_or_default()
        );
        Some(Diagnostic::error(SYNTAX, message).at(span).with_label("unknown escape").with_help(help))
    }

    /// A value that starts with a character YAML reserves (`@`, `` ` ``).
    fn reserved_start(&self, at: usize) -> Option<Diagnostic> {
        let reserved = self.char_at(at).filter(|c| *c == '@' || *c == '`')?;
        let line = self.line_at(at)?;
        let value = line.code().get(at - line.start..)?.trim();
        let quoted = in_quotes(value);
        let (message, help) = match reserved {
            '@' => ("a value cannot start with `@`".to_string(), format!("put the value in quotes, as in `{quoted}`")),
            _ => (
                "a value cannot start with a backquote".to_string(),
                format!("put the value in quotes, as in {quoted}"),
            ),
        };
        let span = char_span(self.source(), at);
        Some(Diagnostic::error(SYNTAX, message).at(span).with_label("reserved in YAML").with_help(help))
    }

    /// A `- ` item written on the line of its key, as in `metrics: - auc`.
    fn item_after_key(&self, at: usize) -> Option<Diagnostic> {
        let line = self.line_at(at)?;
        let offset = at.checked_sub(line.start)?;
        let before = line.text.get(..offset)?.trim_end();
        let key = before.strip_suffix(':')?.trim_start().trim_start_matches("- ");
        let item = line.code().get(offset + 1..)?.trim();
        if key.is_empty() || item.is_empty() {
            return None;
        }
        let message = "a list cannot start on the line of its key";
        let help = format!(
            "put each `- ` item on its own line, indented under `{key}:`, or write the list in brackets, as in \
             `{key}: [{item}]`"
        );
        let span = char_span(self.source(), at);
        Some(Diagnostic::error(SYNTAX, message).at(span).with_label("list item").with_help(help))
    }

    /// Nothing between two commas in brackets, or a `- ` item inside brackets.
    fn empty_flow_item(&self, at: usize) -> Option<Diagnostic> {
        let span = char_span(self.source(), at);
        let (message, label, help) = match self.char_at(at)? {
            ',' => ("two commas with nothing between them", "extra `,`", "remove the extra `,`"),
            '-' => (
                "a `- ` item inside brackets",
                "list item",
                "inside brackets the items are separated by commas, as in `[accuracy, auc]`",
            ),
            _ => return None,
        };
        Some(Diagnostic::error(SYNTAX, message).at(span).with_label(label).with_help(help))
    }
}

/// A value written in quotes: double quotes, or single quotes when the value holds a double quote.
fn in_quotes(value: &str) -> String {
    if value.contains('"') {
        format!("'{}'", value.replace('\'', "''"))
    } else {
        format!("\"{value}\"")
    }
}

fn is_blank(character: char) -> bool {
    character == ' ' || character == '\t'
}

/// "1 space", "4 spaces".
fn spaces(count: usize) -> String {
    if count == 1 {
        "1 space".to_string()
    } else {
        format!("{count} spaces")
    }
}

/// The byte offset in `source` of libyaml's 1-based line and column (in characters), counted from `from`. libyaml
/// breaks lines at `\n`, `\r\n`, `\r`, NEL, LS and PS, so its lines are counted the same way here.
pub(super) fn libyaml_offset(source: &str, from: usize, line: usize, column: usize) -> Option<usize> {
    let body = source.get(from..)?;
    let is_break = |c: char| matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}');
    let mut characters = body.char_indices().peekable();
    let mut line_start = 0;
    for _ in 1..line {
        loop {
            let (_, character) = characters.next()?;
            if is_break(character) {
                if character == '\r' && characters.peek().is_some_and(|&(_, next)| next == '\n') {
                    characters.next();
                }
                line_start = characters.peek().map_or(body.len(), |&(index, _)| index);
                break;
            }
        }
    }
    let line_text = &body[line_start..];
    let line_end = line_text.find(is_break).unwrap_or(line_text.len());
    let within =
        line_text[..line_end].char_indices().nth(column.saturating_sub(1)).map_or(line_end, |(index, _)| index);
    Some(from + line_start + within)
}

/// The characters of one line that are outside quotes, with their offsets. A quote opens a quoted text only where a
/// value can start (after a blank, `:`, `,`, `[`, `{` or at the line start), so the `'` of `it's` is plain text.
fn unquoted(text: &str) -> impl Iterator<Item = (usize, char)> + '_ {
    let mut quote: Option<char> = None;
    let mut previous: Option<char> = None;
    let mut escaped = false;
    text.char_indices().filter(move |&(_, character)| {
        let outside = match quote {
            Some('"') if escaped => {
                escaped = false;
                false
            }
            Some('"') if character == '\\' => {
                escaped = true;
                false
            }
            Some(open) => {
                if character == open {
                    quote = None;
                }
                false
            }
            None if (character == '"' || character == '\'')
                && previous.is_none_or(|p| p.is_whitespace() || ":,[{".contains(p)) =>
            {
                quote = Some(character);
                false
            }
            None => true,
        };
        previous = Some(character);
        outside
    })
}
