//! A CSV file in memory: a [`Table`] of named columns, each stored as text or as numbers.
//!
//! A **text column** keeps its cells trimmed, one text buffer per column plus an end offset per cell; a missing
//! cell (empty, whitespace, `NA`, `NaN` or `?`) is the empty string, so "missing" needs no separate bitmap. A
//! **number column** keeps no text: its cells are f32 values (the precision the model sees) in one row-major
//! matrix that the table's number columns share, a missing cell being NaN, with the facts about their exact f64
//! values that the schema needs (the different numbers, whether they number the rows). A table of 25,000 rows by
//! 1,000 numeric features thus costs the f32 matrix the model trains on, and that matrix is handed to the
//! transform, which works in it in place.
//!
//! Which columns are numbers is the reader's choice (`csv_read`): by default every column is text; the pipeline
//! asks for numbers except where it needs a cell's text (declared categories, the target, the group column).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::data::cells::{finite_f32, is_missing_trimmed, parse_number};

/// At most this many different numbers are counted per number column (the schema's `MAX_CATEGORIES`): past it
/// the column is a continuous measurement and its values are not categories.
pub(crate) const MAX_DISTINCT: usize = 1000;

/// A CSV file read into memory: named columns in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub(super) path: PathBuf,
    pub(super) columns: Vec<Column>,
    pub(super) rows: usize,
    pub(super) lines: RowLines,
    pub(super) matrix: Matrix,
}

/// One column of a [`Table`]: its name and its cells.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub(super) name: String,
    pub(super) missing: usize,
    pub(super) cells: Cells,
}

/// How a column's cells are kept.
#[derive(Clone, Debug)]
pub(super) enum Cells {
    /// Trimmed text, one buffer for the column and each cell's end in it; a missing cell is empty.
    Text {
        text: String,
        ends: Vec<u32>,
        /// Every cell parsed as a number once, on first use (see [`Column::numbers`]); derived from `text`, so it
        /// takes no part in equality.
        numbers: OnceLock<Vec<f64>>,
    },
    /// Numbers: the column `at` of the table's matrix, with facts about their exact values.
    Numbers { at: usize, rows: usize, facts: NumberFacts },
}

impl PartialEq for Cells {
    fn eq(&self, other: &Cells) -> bool {
        match (self, other) {
            (Cells::Text { text, ends, .. }, Cells::Text { text: other_text, ends: other_ends, .. }) => {
                text == other_text && ends == other_ends
            }
            (Cells::Numbers { at, rows, facts }, Cells::Numbers { at: other_at, rows: other_rows, facts: other }) => {
                at == other_at && rows == other_rows && facts == other
            }
            _ => false,
        }
    }
}

/// The cells of a table's number columns, row by row: `width` f32 values a row, NaN for a missing cell.
#[derive(Clone, Debug, Default)]
pub struct Matrix {
    pub(super) values: Vec<f32>,
    pub(super) width: usize,
}

impl PartialEq for Matrix {
    /// Bit for bit, so that NaN (a missing cell) equals NaN.
    fn eq(&self, other: &Matrix) -> bool {
        self.width == other.width
            && self.values.len() == other.values.len()
            && self.values.iter().zip(&other.values).all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

impl Matrix {
    /// The values of every row, `width` a row.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Values per row.
    pub fn width(&self) -> usize {
        self.width
    }
}

/// What the schema needs to know about the exact (f64) values of a number column, gathered as the file is read.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct NumberFacts {
    /// The different numbers (`-0` read as `0`) as [`order_key`]s in ascending order, each with its count; `None`
    /// once there are more than [`MAX_DISTINCT`].
    pub(crate) distinct: Option<Vec<(u64, usize)>>,
    /// Whether every row holds a number rising by exactly one from the row before, and from which number.
    pub(crate) rising: Rising,
}

/// Whether the numbers of consecutive rows rise by exactly one.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) enum Rising {
    /// No row yet.
    #[default]
    Empty,
    /// Every row so far holds `first` plus its position.
    From { first: f64, rows: usize },
    /// Some row is missing or does not follow.
    No,
}

impl Rising {
    /// The facts of rows that follow these.
    fn then(self, next: Rising) -> Rising {
        match (self, next) {
            (Rising::Empty, next) => next,
            (this, Rising::Empty) => this,
            (Rising::From { first, rows }, Rising::From { first: next_first, rows: next_rows })
                if next_first == first + rows as f64 =>
            {
                Rising::From { first, rows: rows + next_rows }
            }
            _ => Rising::No,
        }
    }
}

/// What a piece of a file tells of a number column as its cells are read, in file order: whether its numbers
/// rise by one, and the keys of its numbers not yet counted. The different numbers are counted in batches, for the
/// whole file at once (see [`DistinctCounts`]): a piece's keys wait in `pending` (unless they are one of a few
/// numbers it counts itself) and are counted together once many. Reading a row touches every column, so a
/// column's counting must not wander through memory: a hash map per column, probed once per cell, is many times
/// slower; and a count per column in each piece of a wide file would take much memory.
#[derive(Clone, Debug, Default)]
pub(super) struct FactsBuilder {
    /// A few different numbers counted here (at most [`FEW`]).
    few: Vec<(u64, usize)>,
    /// Keys of numbers not counted yet.
    pending: Vec<u64>,
    /// Whether the different numbers are still counted (not past [`MAX_DISTINCT`]).
    counting: bool,
    rising: Rising,
}

/// At most this many different numbers of a column are counted by each piece itself, so that a column of a few
/// values (a yes/no code) is counted with no batch at all.
const FEW: usize = 16;

/// Keys wait until this many are pending, then are counted together.
pub(super) const PENDING: usize = 512;

impl FactsBuilder {
    pub(super) fn new() -> FactsBuilder {
        FactsBuilder { few: Vec::new(), pending: Vec::new(), counting: true, rising: Rising::Empty }
    }

    /// Notes a cell holding `number` (finite); true when the pending keys are to be counted now.
    pub(super) fn number(&mut self, number: f64) -> bool {
        let number = number + 0.0;
        self.rising = match self.rising {
            Rising::Empty => Rising::From { first: number, rows: 1 },
            Rising::From { first, rows } if number == first + rows as f64 => Rising::From { first, rows: rows + 1 },
            _ => Rising::No,
        };
        if !self.counting {
            return false;
        }
        let key = order_key(number);
        if let Some(entry) = self.few.iter_mut().find(|(known, _)| *known == key) {
            entry.1 += 1;
            return false;
        }
        if self.few.len() < FEW {
            self.few.push((key, 1));
            return false;
        }
        if self.pending.capacity() == 0 {
            self.pending.reserve_exact(PENDING);
        }
        self.pending.push(key);
        self.pending.len() == PENDING
    }

    /// What is to be counted: the few numbers counted here (their counts since last handed over) and the pending
    /// keys.
    pub(super) fn uncounted(&mut self) -> (&mut [(u64, usize)], &mut Vec<u64>) {
        (&mut self.few, &mut self.pending)
    }

    /// Stops counting the different numbers: there are more than [`MAX_DISTINCT`].
    pub(super) fn stop_counting(&mut self) {
        self.counting = false;
        self.few = Vec::new();
        self.pending = Vec::new();
    }

    /// Whether the different numbers are no longer counted.
    pub(super) fn capped(&self) -> bool {
        !self.counting
    }

    /// Notes a missing cell.
    pub(super) fn missing(&mut self) {
        self.rising = Rising::No;
    }

    /// The facts, with the different numbers counted for the whole file (`distinct`).
    pub(super) fn finish(self, distinct: Option<Vec<(u64, usize)>>) -> NumberFacts {
        NumberFacts { distinct, rising: self.rising }
    }
}

/// Different numbers as [`order_key`]s in ascending order, each with its count.
pub(crate) type Counted = Vec<(u64, usize)>;

/// The different numbers of each number column of a file, counted as its pieces read them, in any order.
#[derive(Debug)]
pub(super) struct DistinctCounts {
    /// Per column, the numbers' keys in ascending order with their counts; `None` once past [`MAX_DISTINCT`].
    counts: Vec<Mutex<Option<Counted>>>,
    /// Per column, whether counting stopped, so that a piece need not ask under the lock.
    capped: Vec<AtomicBool>,
}

impl DistinctCounts {
    pub(super) fn new(columns: usize) -> DistinctCounts {
        DistinctCounts {
            counts: (0..columns).map(|_| Mutex::new(Some(Vec::new()))).collect(),
            capped: (0..columns).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// Whether column `index` has more than [`MAX_DISTINCT`] different numbers.
    pub(super) fn capped(&self, index: usize) -> bool {
        self.capped.get(index).is_some_and(|capped| capped.load(Ordering::Relaxed))
    }

    /// Counts what `facts` has not counted yet for column `index`; stops its counting once the column has more
    /// than [`MAX_DISTINCT`] different numbers. The counts grow in place, so that counting allocates little.
    pub(super) fn count(&self, index: usize, facts: &mut FactsBuilder) {
        if facts.capped() {
            return;
        }
        let Some(slot) = self.counts.get(index) else { return };
        let (few, pending) = facts.uncounted();
        pending.sort_unstable();
        let mut known = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(counts) = known.as_mut() else {
            drop(known);
            facts.stop_counting();
            return;
        };
        let before = counts.len();
        let mut add = |key: u64, count: usize| match counts[..before].binary_search_by_key(&key, |&(known, _)| known) {
            Ok(at) => counts[at].1 += count,
            Err(_) => counts.push((key, count)),
        };
        for (key, count) in few.iter_mut().filter(|(_, count)| *count > 0) {
            add(*key, std::mem::take(count));
        }
        let mut run = 0;
        for (at, &key) in pending.iter().enumerate() {
            if pending.get(at + 1) != Some(&key) {
                add(key, at + 1 - run);
                run = at + 1;
            }
        }
        pending.clear();
        if counts.len() > MAX_DISTINCT {
            *known = None;
            self.capped[index].store(true, Ordering::Relaxed);
            drop(known);
            facts.stop_counting();
        } else if counts.len() > before {
            // New numbers go in their place; the few new ones come sorted after the sorted rest.
            counts.sort_unstable();
        }
    }

    /// The different numbers of column `index` counted; `None` past [`MAX_DISTINCT`].
    pub(super) fn take(&self, index: usize) -> Option<Vec<(u64, usize)>> {
        let slot = self.counts.get(index)?;
        let mut known = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        known.take()
    }
}

impl NumberFacts {
    /// The facts of a column read in pieces: the pieces' facts in file order, with the different numbers counted
    /// for the whole file (`distinct`).
    pub(super) fn join(
        pieces: impl IntoIterator<Item = NumberFacts>,
        distinct: Option<Vec<(u64, usize)>>,
    ) -> NumberFacts {
        let rising = pieces.into_iter().fold(Rising::Empty, |rising, piece| rising.then(piece.rising));
        NumberFacts { distinct, rising }
    }

    /// Whether the numbers are whole numbers rising by exactly one from each row to the next, every row holding
    /// one, as a row number does.
    pub(crate) fn numbers_rows(&self) -> bool {
        match self.rising {
            Rising::From { first, .. } => first.fract() == 0.0 && first.abs() < 9e15,
            _ => false,
        }
    }
}

/// A key whose unsigned order is the numeric order of finite numbers (negative numbers have their bits flipped).
pub(crate) fn order_key(number: f64) -> u64 {
    let bits = number.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// The number of an [`order_key`].
pub(crate) fn from_order_key(key: u64) -> f64 {
    if key >> 63 == 1 {
        f64::from_bits(key & !(1 << 63))
    } else {
        f64::from_bits(!key)
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

    /// The cells of the number columns, row by row.
    pub fn matrix(&self) -> &Matrix {
        &self.matrix
    }

    /// Takes the cells of the number columns out of the table, for the transform to work in; the number columns
    /// read as missing from then on.
    pub(crate) fn take_matrix(&mut self) -> Matrix {
        std::mem::take(&mut self.matrix)
    }

    /// The numbers of `column` as the model reads them: the nearest f32 of each cell's number; `None` for a missing
    /// cell and for one that is not a number.
    pub fn model_numbers<'t>(&'t self, column: &'t Column) -> ModelNumbers<'t> {
        match &column.cells {
            Cells::Text { .. } => ModelNumbers::Parsed(column.numbers()),
            Cells::Numbers { at, .. } => {
                ModelNumbers::Matrix { values: &self.matrix.values, width: self.matrix.width, at: *at }
            }
        }
    }

    /// Whether the cell of `column` in `row` is missing (`row` beyond the table counts as missing).
    pub fn is_missing(&self, column: &Column, row: usize) -> bool {
        match &column.cells {
            Cells::Text { .. } => column.get(row).is_none(),
            Cells::Numbers { at, .. } => {
                self.matrix.values.get(row * self.matrix.width + at).is_none_or(|value| value.is_nan())
            }
        }
    }
}

/// The numbers of one column as the model reads them (see [`Table::model_numbers`]).
#[derive(Clone, Copy, Debug)]
pub enum ModelNumbers<'t> {
    /// A text column's cells as parsed (NaN for a missing cell or text).
    Parsed(&'t [f64]),
    /// A number column of the table's matrix.
    Matrix { values: &'t [f32], width: usize, at: usize },
}

impl ModelNumbers<'_> {
    /// The number in `row`, as the nearest f32; `None` when missing, not a number or beyond the table.
    pub fn get(&self, row: usize) -> Option<f32> {
        match *self {
            ModelNumbers::Parsed(numbers) => numbers.get(row).filter(|number| !number.is_nan()).map(|&x| finite_f32(x)),
            ModelNumbers::Matrix { values, width, at } => {
                values.get(row * width + at).copied().filter(|value| !value.is_nan())
            }
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
        match &self.cells {
            Cells::Text { ends, .. } => ends.len(),
            Cells::Numbers { rows, .. } => *rows,
        }
    }

    /// Whether the column has no cell.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of missing cells.
    pub fn missing(&self) -> usize {
        self.missing
    }

    /// Whether the column was read as numbers, keeping no text (see [`Table::model_numbers`]).
    pub fn is_numbers(&self) -> bool {
        matches!(self.cells, Cells::Numbers { .. })
    }

    /// The trimmed text of the cell in `row`; `None` when it is missing (or `row` is out of range). A column read
    /// as numbers keeps no text: every cell is `None` (ask the table for its numbers instead).
    pub fn get(&self, row: usize) -> Option<&str> {
        let Cells::Text { text, ends, .. } = &self.cells else {
            debug_assert!(false, "the text of `{}`, read as numbers", self.name);
            return None;
        };
        let end = *ends.get(row)? as usize;
        let start = if row == 0 { 0 } else { *ends.get(row - 1)? as usize };
        text.get(start..end).filter(|cell| !cell.is_empty())
    }

    /// Every cell in row order, `None` for a missing one (and for every cell of a column read as numbers).
    pub fn iter(&self) -> impl Iterator<Item = Option<&str>> + '_ {
        let (text, ends) = match &self.cells {
            Cells::Text { text, ends, .. } => (text.as_str(), ends.as_slice()),
            Cells::Numbers { .. } => ("", &[][..]),
        };
        let mut start = 0;
        ends.iter().map(move |&end| {
            let cell = text.get(start..end as usize).unwrap_or("");
            start = end as usize;
            Some(cell).filter(|cell| !cell.is_empty())
        })
    }

    /// The text of every cell, one after the other, with each cell's range in it in row order (empty for a missing
    /// cell): for readers that look at the bytes around a cell. Empty for a column read as numbers.
    pub(crate) fn cell_ranges(&self) -> (&str, impl Iterator<Item = Range<usize>> + '_) {
        let (text, ends) = match &self.cells {
            Cells::Text { text, ends, .. } => (text.as_str(), ends.as_slice()),
            Cells::Numbers { .. } => ("", &[][..]),
        };
        let mut start = 0;
        let ranges = ends.iter().map(move |&end| {
            let range = start..end as usize;
            start = end as usize;
            range
        });
        (text, ranges)
    }

    /// Every cell of a text column as [`parse_number`] reads it, in row order: NaN for a missing cell and for one
    /// that is not a number (a number is always finite). Parsed once, on the first call, so that inferring the
    /// schema, fitting and applying a transform all share one parse of the text. Empty for a column read as
    /// numbers.
    pub fn numbers(&self) -> &[f64] {
        match &self.cells {
            Cells::Text { numbers, .. } => numbers
                .get_or_init(|| self.iter().map(|cell| cell.and_then(parse_number).unwrap_or(f64::NAN)).collect()),
            Cells::Numbers { .. } => &[],
        }
    }

    /// Keeps `numbers`, computed by the caller exactly as [`Column::numbers`] would, for later calls.
    pub(crate) fn keep_numbers(&self, kept: Vec<f64>) {
        if let Cells::Text { numbers, .. } = &self.cells {
            debug_assert_eq!(kept.len(), self.len());
            let _ = numbers.set(kept);
        }
    }

    /// The facts of a column read as numbers.
    pub(crate) fn number_facts(&self) -> Option<&NumberFacts> {
        match &self.cells {
            Cells::Numbers { facts, .. } => Some(facts),
            Cells::Text { .. } => None,
        }
    }

    /// The position of a column read as numbers in its table's rows of numbers.
    pub(crate) fn number_slot(&self) -> Option<usize> {
        match &self.cells {
            Cells::Numbers { at, .. } => Some(*at),
            Cells::Text { .. } => None,
        }
    }

    /// An empty text column.
    pub(super) fn text(name: String) -> Column {
        Column {
            name,
            missing: 0,
            cells: Cells::Text { text: String::new(), ends: Vec::new(), numbers: OnceLock::new() },
        }
    }

    /// An empty number column, at `at` in its table's rows of numbers.
    pub(super) fn numbers_at(name: String, at: usize) -> Column {
        Column { name, missing: 0, cells: Cells::Numbers { at, rows: 0, facts: NumberFacts::default() } }
    }

    /// Sets what a number column holds once its cells are read: `rows` cells, with `facts`.
    pub(super) fn finish_numbers(&mut self, cells: usize, found: NumberFacts) {
        if let Cells::Numbers { rows, facts, .. } = &mut self.cells {
            *rows = cells;
            *facts = found;
        }
    }

    /// Sets the different numbers of a number column, counted for the whole file.
    pub(super) fn set_distinct(&mut self, counted: Option<Vec<(u64, usize)>>) {
        if let Cells::Numbers { facts, .. } = &mut self.cells {
            facts.distinct = counted;
        }
    }

    /// The pieces of one column, read from consecutive parts of a file, as one column; the column's name when its
    /// text no longer fits 32-bit offsets.
    pub(super) fn join(pieces: Vec<Column>) -> Result<Column, String> {
        let mut pieces = pieces.into_iter();
        let Some(mut joined) = pieces.next() else { return Err(String::new()) };
        let rest: Vec<Column> = pieces.collect();
        joined.missing += rest.iter().map(|piece| piece.missing).sum::<usize>();
        match &mut joined.cells {
            Cells::Text { text, ends, .. } => {
                text.reserve(rest.iter().map(|piece| piece.text_len()).sum());
                ends.reserve(rest.iter().map(Column::len).sum());
                for piece in rest {
                    let Cells::Text { text: piece_text, ends: piece_ends, .. } = piece.cells else { continue };
                    let Ok(base) = u32::try_from(text.len()) else { return Err(joined.name) };
                    if u32::try_from(text.len() + piece_text.len()).is_err() {
                        return Err(joined.name);
                    }
                    text.push_str(&piece_text);
                    ends.extend(piece_ends.iter().map(|end| end + base));
                }
            }
            Cells::Numbers { rows, facts, .. } => {
                // The different numbers were counted for the whole file as it was read (see `set_distinct`).
                let mut all = vec![std::mem::take(facts)];
                for piece in rest {
                    if let Cells::Numbers { rows: piece_rows, facts: piece_facts, .. } = piece.cells {
                        *rows += piece_rows;
                        all.push(piece_facts);
                    }
                }
                *facts = NumberFacts::join(all, None);
            }
        }
        Ok(joined)
    }

    /// The length of a text column's text.
    pub(super) fn text_len(&self) -> usize {
        match &self.cells {
            Cells::Text { text, .. } => text.len(),
            Cells::Numbers { .. } => 0,
        }
    }

    /// Reserves room for `text` more bytes and `cells` more cells of a text column.
    pub(super) fn reserve(&mut self, text_bytes: usize, cells: usize) {
        if let Cells::Text { text, ends, .. } = &mut self.cells {
            text.reserve(text_bytes);
            ends.reserve(cells);
        }
    }

    /// Appends a trimmed cell to a text column; false when the column's text no longer fits 32-bit offsets.
    pub(super) fn push(&mut self, cell: &str) -> bool {
        let Cells::Text { text, ends, .. } = &mut self.cells else { return true };
        if is_missing_trimmed(cell) {
            self.missing += 1;
        } else {
            text.push_str(cell);
        }
        match u32::try_from(text.len()) {
            Ok(end) => {
                ends.push(end);
                true
            }
            Err(_) => false,
        }
    }
}
