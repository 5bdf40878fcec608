//! User-facing errors and warnings as data: a stable code, a message, a place, a label and a help line.
//!
//! Every stage (spec parsing, lowering, data reading, checking) collects [`Diagnostic`] values instead of stopping
//! at the first problem; the command line renders them all at once with miette.

use std::fmt;
use std::path::{Path, PathBuf};

/// A byte range in a source text. Spans never take part in equality: two spec nodes are equal when they mean the
/// same thing, wherever they were written.
#[derive(Clone, Copy, Default)]
pub struct Span {
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end` (byte offsets).
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end: end.max(start) }
    }

    /// The empty span at `offset`, used for values filled in by default.
    pub fn point(offset: usize) -> Span {
        Span { start: offset, end: offset }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the span covers no byte.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

impl PartialEq for Span {
    fn eq(&self, _other: &Span) -> bool {
        true
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// How serious a diagnostic is: errors make a command exit with code 1, warnings are shown and let it go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The input is wrong; the command stops with exit code 1.
    Error,
    /// The input is legal but probably not what the user wants.
    Warning,
}

/// Where a diagnostic points.
#[derive(Clone, Debug, PartialEq)]
pub enum Location {
    /// A byte range of the spec file being checked.
    Spec(Span),
    /// A place in a data file, 1-based; `column` names the column when it is known.
    Data { path: PathBuf, line: u64, column: Option<String> },
    /// A file as a whole (missing, unreadable, empty).
    File(PathBuf),
    /// Nowhere in particular.
    Nowhere,
}

/// One problem found in the user's input.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// Stable identifier such as `spec::unknown_key` or `shape::mismatch`; tests and users can rely on it.
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in the user's terms; starts lowercase, no final period.
    pub message: String,
    /// Where it is.
    pub location: Location,
    /// A short text shown under the offending source.
    pub label: Option<String>,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error with a code and a message and no location yet.
    pub fn error(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            location: Location::Nowhere,
            label: None,
            help: None,
        }
    }

    /// A warning with a code and a message and no location yet.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message) }
    }

    /// Points the diagnostic at a span of the spec.
    pub fn at(mut self, span: Span) -> Diagnostic {
        self.location = Location::Spec(span);
        self
    }

    /// Points the diagnostic at a line (and column name) of a data file.
    pub fn at_data(mut self, path: &Path, line: u64, column: Option<&str>) -> Diagnostic {
        self.location = Location::Data { path: path.to_path_buf(), line, column: column.map(str::to_string) };
        self
    }

    /// Points the diagnostic at a whole file.
    pub fn at_file(mut self, path: &Path) -> Diagnostic {
        self.location = Location::File(path.to_path_buf());
        self
    }

    /// Sets the text shown under the offending source.
    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = Some(label.into());
        self
    }

    /// Sets the help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Whether this is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Diagnostics collected by a stage, in the order found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diagnostics {
    /// The collected diagnostics.
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// An empty collection.
    pub fn new() -> Diagnostics {
        Diagnostics::default()
    }

    /// Adds one diagnostic.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    /// Adds all of another collection.
    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(other);
    }

    /// Whether any error (not warning) was collected.
    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// The closest candidate to a misspelled `word`, when one is close enough to be a plausible typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word_lower = word.to_lowercase();
    let limit = (word.chars().count() / 3).max(1) + usize::from(word.chars().count() > 6);
    candidates
        .into_iter()
        .map(|candidate| {
            let candidate_lower = candidate.to_lowercase();
            let distance = if candidate_lower == word_lower {
                0
            } else if candidate_lower.replace(['_', '-', ' '], "") == word_lower.replace(['_', '-', ' '], "") {
                1
            } else {
                strsim::damerau_levenshtein(&word_lower, &candidate_lower)
            };
            (distance, candidate)
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// A help line for an unknown name: "did you mean `x`?" when one is close, else the list of legal names.
pub fn unknown_name_help(word: &str, candidates: &[&str]) -> String {
    match did_you_mean(word, candidates.iter().copied()) {
        Some(close) => format!("did you mean `{close}`?"),
        None => format!("expected one of: {}", quote_list(candidates)),
    }
}

/// `a`, `b` and `c` as "`a`, `b`, `c`".
pub fn quote_list(names: &[&str]) -> String {
    names.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
}

/// Renders diagnostics for a terminal (colors, unicode) or as plain text (`plain`), with the spec source shown
/// under every diagnostic that points into it.
pub fn render(diagnostics: &[Diagnostic], spec_name: &str, spec_source: &str, plain: bool) -> String {
    use miette::{GraphicalReportHandler, GraphicalTheme};
    let theme = if plain { GraphicalTheme::none() } else { GraphicalTheme::unicode() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(110).with_links(false);
    let mut out = String::new();
    for diagnostic in diagnostics {
        let report = Report::new(diagnostic, spec_name, spec_source);
        if handler.render_report(&mut out, &report).is_err() {
            out.push_str(&diagnostic.message);
        }
        out.push('\n');
    }
    out
}

/// Adapter from a [`Diagnostic`] to miette's trait, carrying the source it points into.
struct Report<'a> {
    diagnostic: &'a Diagnostic,
    message: String,
    source: miette::NamedSource<String>,
}

impl<'a> Report<'a> {
    fn new(diagnostic: &'a Diagnostic, spec_name: &str, spec_source: &str) -> Report<'a> {
        let message = match &diagnostic.location {
            Location::Data { path, line, .. } => format!("{}:{line}: {}", path.display(), diagnostic.message),
            Location::File(path) => format!("{}: {}", path.display(), diagnostic.message),
            Location::Spec(_) | Location::Nowhere => diagnostic.message.clone(),
        };
        let source = miette::NamedSource::new(spec_name, spec_source.to_string());
        Report { diagnostic, message, source }
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diagnostic.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diagnostic.help.as_ref().map(|help| Box::new(help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        match self.diagnostic.location {
            Location::Spec(_) => Some(&self.source),
            _ => None,
        }
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let Location::Spec(span) = self.diagnostic.location else { return None };
        let source_len = self.source.inner().len();
        let start = span.start.min(source_len);
        let len = span.len().min(source_len - start);
        let label = miette::LabeledSpan::new(self.diagnostic.label.clone(), start, len);
        Some(Box::new(std::iter::once(label)))
    }
}

/// 1-based line and column (in characters) of a byte offset, for messages and tests.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..floor_char_boundary(source, offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |text| text.chars().count()) + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["dense", "dropout", "conv2d", "flatten"];
        assert_eq!(did_you_mean("dropot", names), Some("dropout"));
        assert_eq!(did_you_mean("Dense", names), Some("dense"));
        assert_eq!(did_you_mean("convolution", names), None);
        assert_eq!(did_you_mean("max_pool_2d", ["max_pool2d", "avg_pool2d"]), Some("max_pool2d"));
    }

    #[test]
    fn line_column_counts_characters() {
        let source = "a\nbé c\n";
        assert_eq!(line_column(source, 0), (1, 1));
        assert_eq!(line_column(source, 2), (2, 1));
        assert_eq!(line_column(source, 5), (2, 3));
    }
}
