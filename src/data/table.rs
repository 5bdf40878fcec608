//! A CSV file in memory: a [`Table`] of named columns, stored compactly column by column.
//!
//! Cells are stored trimmed, one text buffer per column plus an end offset per cell, so a table of 1,000,000 rows
//! by 30 columns costs its text plus 4 bytes a cell. A missing cell (empty, whitespace, `NA`, `NaN` or `?`) is
//! stored as the empty string, so "missing" needs no separate bitmap. The readers that fill a table are in
//! `csv_read`.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::data::cells::{is_missing_trimmed, parse_number};

/// A CSV file read into memory: named columns of trimmed text cells, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub(super) path: PathBuf,
    pub(super) columns: Vec<Column>,
    pub(super) rows: usize,
    pub(super) lines: RowLines,
}

/// One column of a [`Table`]: its name and its cells, missing cells stored as empty text.
#[derive(Clone, Debug)]
pub struct Column {
    pub(super) name: String,
    pub(super) text: String,
    pub(super) ends: Vec<u32>,
    pub(super) missing: usize,
    /// Every cell parsed as a number once, on first use (see [`Column::numbers`]); derived from `text`, so it
    /// takes no part in equality.
    numbers: OnceLock<Vec<f64>>,
}

impl PartialEq for Column {
    fn eq(&self, other: &Column) -> bool {
        self.name == other.name && self.text == other.text && self.ends == other.ends && self.missing == other.missing
    }
}

/// The physical line of each row: regular (row `i` on `first + i`) unless blank lines or values spanning several
/// lines break the pattern; then every row's line is stored.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum RowLines {
    Regular { first: u64 },
    Explicit(Vec<u64>),
}

impl Table {
    /// The file the table was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of data rows (the header is not a row).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The columns, in file order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The column names, in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(Column::name)
    }

    /// The column called `name` (exact, after trimming the header).
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|column| column.name == name)
    }

    /// The position of the column called `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|column| column.name == name)
    }

    /// The 1-based physical line of the file where data row `row` (0-based) starts; the header is line 1.
    pub fn line_of_row(&self, row: usize) -> u64 {
        match &self.lines {
            RowLines::Regular { first } => first + row as u64,
            RowLines::Explicit(lines) => lines.get(row).copied().unwrap_or(0),
        }
    }
}

impl Column {
    /// The column's name from the header, trimmed.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of cells (the table's row count).
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether the column has no cell.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Number of missing cells.
    pub fn missing(&self) -> usize {
        self.missing
    }

    /// The trimmed text of the cell in `row`; `None` when it is missing (or `row` is out of range).
    pub fn get(&self, row: usize) -> Option<&str> {
        let end = *self.ends.get(row)? as usize;
        let start = if row == 0 { 0 } else { *self.ends.get(row - 1)? as usize };
        self.text.get(start..end).filter(|cell| !cell.is_empty())
    }

    /// Every cell in row order, `None` for a missing one.
    pub fn iter(&self) -> impl Iterator<Item = Option<&str>> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let cell = self.text.get(start..end as usize).unwrap_or("");
            start = end as usize;
            Some(cell).filter(|cell| !cell.is_empty())
        })
    }

    /// The text of every cell, one after the other, with each cell's range in it in row order (empty for a missing
    /// cell): for readers that look at the bytes around a cell.
    pub(crate) fn cell_ranges(&self) -> (&str, impl Iterator<Item = Range<usize>> + '_) {
        let mut start = 0;
        let ranges = self.ends.iter().map(move |&end| {
            let range = start..end as usize;
            start = end as usize;
            range
        });
        (&self.text, ranges)
    }

    /// Every cell as [`parse_number`] reads it, in row order: NaN for a missing cell and for one that is not a
    /// number (a number is always finite). Parsed once, on the first call, so that inferring the schema, fitting
    /// and applying a transform all share one parse of the text.
    pub fn numbers(&self) -> &[f64] {
        self.numbers.get_or_init(|| self.iter().map(|cell| cell.and_then(parse_number).unwrap_or(f64::NAN)).collect())
    }

    /// [`Column::numbers`] when already parsed.
    pub(crate) fn numbers_if_parsed(&self) -> Option<&[f64]> {
        self.numbers.get().map(Vec::as_slice)
    }

    /// Keeps `numbers`, computed by the caller exactly as [`Column::numbers`] would, for later calls.
    pub(crate) fn keep_numbers(&self, numbers: Vec<f64>) {
        debug_assert_eq!(numbers.len(), self.len());
        let _ = self.numbers.set(numbers);
    }

    pub(super) fn new(name: String) -> Column {
        Column { name, text: String::new(), ends: Vec::new(), missing: 0, numbers: OnceLock::new() }
    }

    /// The pieces of one column, read from consecutive parts of a file, as one column; the column's name when its
    /// text no longer fits 32-bit offsets.
    pub(super) fn join(pieces: Vec<Column>) -> Result<Column, String> {
        let mut pieces = pieces.into_iter();
        let Some(mut joined) = pieces.next() else { return Err(String::new()) };
        let rest: Vec<Column> = pieces.collect();
        joined.text.reserve(rest.iter().map(|piece| piece.text.len()).sum());
        joined.ends.reserve(rest.iter().map(|piece| piece.ends.len()).sum());
        for piece in rest {
            let Ok(base) = u32::try_from(joined.text.len()) else { return Err(joined.name) };
            if u32::try_from(joined.text.len() + piece.text.len()).is_err() {
                return Err(joined.name);
            }
            joined.text.push_str(&piece.text);
            joined.ends.extend(piece.ends.iter().map(|end| end + base));
            joined.missing += piece.missing;
        }
        Ok(joined)
    }

    /// Appends a trimmed cell; false when the column's text no longer fits 32-bit offsets.
    pub(super) fn push(&mut self, cell: &str) -> bool {
        if is_missing_trimmed(cell) {
            self.missing += 1;
        } else {
            self.text.push_str(cell);
        }
        match u32::try_from(self.text.len()) {
            Ok(end) => {
                self.ends.push(end);
                true
            }
            Err(_) => false,
        }
    }
}
