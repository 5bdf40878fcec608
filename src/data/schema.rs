//! The data schema: each column's kind, missing count, categories and numeric summary, inferred from a [`Table`]
//! and the kinds declared in `data.types`.
//!
//! Inference rules, applied to the non-missing cells of a column when `data.types` does not declare its kind:
//! - all cells are numbers: `numeric`, or `id` when the column numbers the rows (at least [`ID_MIN_ROWS`] rows, no
//!   missing cell, whole numbers rising by exactly 1 in file order from any start); a numeric column with two
//!   values stays numeric;
//! - all cells but a few are numbers (at least [`STRAY_MIN_NUMBERS`] numbers and at most 1% of the cells, or one
//!   cell, not numbers): `numeric`, and each stray value is an error (`data::stray_value`);
//! - at least 90% of the cells look like dates or times: `date`;
//! - exactly two different values: `binary`;
//! - text different on every row (at least [`ID_MIN_ROWS`] cells, so that a small handwritten file is not judged
//!   an identifier): `id`; continuous measurements are unique too but are numbers, so they stay numeric;
//! - otherwise `categorical`.
//!
//! A declared kind always wins; a column declared `numeric` must hold only numbers (`data::not_numeric`) and one
//! declared `binary` at most two values (`data::not_binary`).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::PathBuf;

use rayon::prelude::*;

use crate::data::cells::{finite_f32, parse_cell, parse_trimmed_number};
// The checker reads cells through these too; they are named here, beside the schema it reads.
pub use crate::data::cells::{canonical_number, label_text, labels_are_numbers, looks_like_date, parse_number};
use crate::data::table::{from_order_key, order_key, Column, Matrix, NumberFacts, Table, MAX_DISTINCT};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::spec::ast::ColumnKind;

/// The fewest cells for which "unique per row" or "numbers the rows" makes a column an identifier.
pub const ID_MIN_ROWS: usize = 20;
/// The fewest numbers in a column before its few text values are called stray values rather than categories.
pub const STRAY_MIN_NUMBERS: usize = 10;
/// At most this many categories are kept per column. Different values are counted to the end, except in a column
/// of numbers that is not declared categorical or binary: there counting stops past this many.
pub const MAX_CATEGORIES: usize = MAX_DISTINCT;

/// What is known about a data file's columns before any model is built; the `check` stage reads only this.
#[derive(Clone, Debug, PartialEq)]
pub struct Schema {
    /// The data file.
    pub path: PathBuf,
    /// Number of data rows.
    pub rows: usize,
    /// One entry per column, in file order.
    pub columns: Vec<ColumnInfo>,
}

/// One column of a [`Schema`].
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnInfo {
    /// The name from the header row.
    pub name: String,
    /// The kind used from now on: the declared one, else the inferred one.
    pub kind: ColumnKind,
    /// The kind inferred from the values, whatever was declared.
    pub inferred: ColumnKind,
    /// Whether `data.types` declared the kind.
    pub declared: bool,
    /// Missing cells (empty, `NA`, `NaN`, `?`).
    pub missing: usize,
    /// Non-missing cells that are numbers.
    pub numbers: usize,
    /// Number of different non-missing values (numbers compared as numbers when every value is a number); only
    /// `MAX_CATEGORIES + 1` when `distinct_capped`.
    pub distinct: usize,
    /// Whether counting stopped past [`MAX_CATEGORIES`] different values, as it does in a column of numbers not
    /// declared categorical or binary (a continuous measurement): then `distinct` only says "more than
    /// `MAX_CATEGORIES`" and no category is kept.
    pub distinct_capped: bool,
    /// The different values, sorted: numerically and in canonical form ("1", "0.5") when every value is a number
    /// (`labels_numeric`), by text otherwise. At most [`MAX_CATEGORIES`].
    pub categories: Vec<String>,
    /// How many cells hold each of `categories`.
    pub category_counts: Vec<usize>,
    /// Whether `categories` stops short of `distinct`.
    pub categories_truncated: bool,
    /// Whether every non-missing value is a number, so that labels are canonical numbers (`1.0` is `1`).
    pub labels_numeric: bool,
    /// Minimum, maximum, mean and standard deviation of the numbers, for a numeric column.
    pub summary: Option<NumericSummary>,
    /// Why the column was inferred to be an identifier.
    pub id_reason: Option<IdReason>,
    /// Whether at least 90% of the values look like dates or times.
    pub looks_like_date: bool,
}

/// Summary statistics of a numeric column over its non-missing cells.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NumericSummary {
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub mean: f64,
    /// Population standard deviation (divided by the count, as standard scaling does).
    pub std: f64,
}

/// Why a column was judged an identifier, so the checker can explain a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdReason {
    /// Text that differs on every row.
    UniqueText,
    /// Whole numbers rising by one from row to row.
    RowNumber,
}

impl IdReason {
    /// The reason in the user's terms, to follow "the column `x` looks like an identifier: ".
    pub fn explanation(self) -> &'static str {
        match self {
            IdReason::UniqueText => "its values are text and differ on every row",
            IdReason::RowNumber => "its values number the rows (whole numbers rising by 1 from row to row)",
        }
    }
}

impl Schema {
    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|column| column.name == name)
    }

    /// The column names, in file order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|column| column.name.as_str())
    }
}

impl ColumnInfo {
    /// Number of non-missing cells.
    pub fn present(&self, rows: usize) -> usize {
        rows.saturating_sub(self.missing)
    }

    /// Whether the column holds at most one different value.
    pub fn is_constant(&self) -> bool {
        self.distinct <= 1
    }

    /// The number of different values for a message: "more than 1000" when counting stopped there.
    pub fn distinct_text(&self) -> String {
        if self.distinct_capped {
            format!("more than {MAX_CATEGORIES}")
        } else {
            self.distinct.to_string()
        }
    }

    /// A value written by the user (`positive: 1`) in the column's label form: canonical number when the labels
    /// are numbers, trimmed text otherwise.
    pub fn label_of(&self, value: &str) -> String {
        label_text(value, self.labels_numeric)
    }

    /// The index in `categories` of a user-written value, compared as [`ColumnInfo::label_of`] does.
    pub fn find_category(&self, value: &str) -> Option<usize> {
        let label = self.label_of(value);
        self.categories.iter().position(|category| *category == label)
    }

    /// Those of `categories` that some of `cells` (non-missing cells of this column, such as the training rows')
    /// hold, in the order of `categories`.
    pub fn categories_among<'a>(&self, cells: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let index: HashMap<&str, usize> =
            self.categories.iter().enumerate().map(|(position, category)| (category.as_str(), position)).collect();
        let mut seen = vec![false; self.categories.len()];
        // Each different cell text is turned into a label once.
        let mut known: HashMap<&str, Option<usize>> = HashMap::new();
        for cell in cells {
            let position = *known.entry(cell).or_insert_with(|| index.get(self.label_of(cell).as_str()).copied());
            if let Some(position) = position {
                seen[position] = true;
            }
        }
        self.categories.iter().zip(seen).filter(|(_, seen)| *seen).map(|(category, _)| category.clone()).collect()
    }
}

/// Infers the schema of `table`; `declared` holds the kinds from `data.types` (names that are not columns are the
/// checker's business and are ignored here). Errors are stray text in numeric columns and declared kinds that the
/// values contradict.
///
/// Columns are independent, so a large table is inferred on several threads; the result and the order of the
/// diagnostics do not depend on the thread count.
pub fn infer_schema(table: &Table, declared: &BTreeMap<String, ColumnKind>) -> (Schema, Diagnostics) {
    let infer = |column: &Column| {
        let mut diagnostics = Diagnostics::new();
        let info = infer_column(table, column, declared.get(column.name()).copied(), &mut diagnostics);
        (info, diagnostics)
    };
    // Text columns are scanned on several threads; the number columns' facts were found as the file was read, and
    // their schemas are made here, on this thread, so that their labels are allocated where the work that follows
    // allocates (and reuses the memory once the schema is dropped).
    let text: Vec<&Column> = table.columns().iter().filter(|column| !column.is_numbers()).collect();
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(text.len());
    let scanned: Vec<(ColumnInfo, Diagnostics)> = if threads <= 1 || table.rows() < PARALLEL_MIN_ROWS {
        text.iter().copied().map(infer).collect()
    } else {
        std::thread::scope(|scope| {
            let workers: Vec<_> = text
                .chunks(text.len().div_ceil(threads))
                .map(|chunk| scope.spawn(move || chunk.iter().copied().map(infer).collect::<Vec<_>>()))
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                .collect()
        })
    };
    let summaries = matrix_summaries(table.matrix());
    let mut scanned = scanned.into_iter();
    let inferred: Vec<(ColumnInfo, Diagnostics)> = table
        .columns()
        .iter()
        .filter_map(|column| match (column.number_facts(), column.number_slot()) {
            (Some(facts), Some(slot)) => {
                let declared = declared.get(column.name()).copied();
                let info = infer_number_column(table, column, facts, summaries[slot], declared);
                Some((info, Diagnostics::new()))
            }
            _ => scanned.next(),
        })
        .collect();
    let mut diagnostics = Diagnostics::new();
    let mut columns = Vec::with_capacity(inferred.len());
    for (info, found) in inferred {
        columns.push(info);
        diagnostics.extend(found);
    }
    (Schema { path: table.path().to_path_buf(), rows: table.rows(), columns }, diagnostics)
}

/// Below this many rows a schema is inferred on one thread; starting threads would cost more than it saves.
const PARALLEL_MIN_ROWS: usize = 20_000;

/// At most this many stray values are reported per column.
const MAX_STRAY_REPORTED: usize = 5;

/// One pass over a column: every cell as a number and where its first non-numbers are.
struct ColumnScan {
    /// Every cell that is a number, in row order; NaN for a missing cell and for one that is not a number.
    per_row: Vec<f64>,
    non_numeric: usize,
    first_non_numeric: Vec<usize>,
    /// Cells that are not numbers but that [`parse_number`] reads anyway, trimming more than cells are trimmed (a
    /// vertical tab): (row, number). They count as text for the schema but are numbers for [`Column::numbers`].
    lenient: Vec<(usize, f64)>,
}

impl ColumnScan {
    /// The numbers in row order, `-0` read as `0`.
    fn numbers(&self) -> impl Iterator<Item = f64> + Clone + '_ {
        self.per_row.iter().filter(|number| !number.is_nan()).map(|number| number + 0.0)
    }

    /// Every cell as [`Column::numbers`] reads it.
    fn into_per_row(mut self) -> Vec<f64> {
        for (row, number) in self.lenient {
            if let Some(slot) = self.per_row.get_mut(row) {
                *slot = number;
            }
        }
        self.per_row
    }
}

fn scan_column(column: &Column) -> ColumnScan {
    let mut scan = ColumnScan {
        per_row: Vec::with_capacity(column.len()),
        non_numeric: 0,
        first_non_numeric: Vec::new(),
        lenient: Vec::new(),
    };
    let (text, cells) = column.cell_ranges();
    for (row, cell) in cells.enumerate() {
        if cell.is_empty() {
            scan.per_row.push(f64::NAN);
            continue;
        }
        match parse_cell(text, cell.clone()) {
            Some(number) => scan.per_row.push(number),
            None => {
                let cell = text.get(cell).unwrap_or_default();
                scan.per_row.push(f64::NAN);
                // `parse_number` trims more than cells are trimmed (a vertical tab), so it may still read a number.
                let trimmed = cell.trim();
                if trimmed.len() != cell.len() {
                    scan.lenient.extend(parse_trimmed_number(trimmed).map(|number| (row, number)));
                }
                scan.non_numeric += 1;
                if scan.first_non_numeric.len() < MAX_STRAY_REPORTED {
                    scan.first_non_numeric.push(row);
                }
            }
        }
    }
    scan
}

fn infer_column(
    table: &Table,
    column: &Column,
    declared: Option<ColumnKind>,
    diagnostics: &mut Diagnostics,
) -> ColumnInfo {
    let scan = scan_column(column);
    let present = column.len() - column.missing();
    let labels_numeric = scan.non_numeric == 0 && present > 0;
    let row_number = labels_numeric && column.missing() == 0 && present >= ID_MIN_ROWS && numbers_rows(scan.numbers());
    let summary = summarize(scan.numbers().map(|number| f64::from(finite_f32(number))));
    let text_counts = if labels_numeric { HashMap::new() } else { count_texts(column) };
    let date_cells: usize = text_counts.iter().filter(|(text, _)| looks_like_date(text)).map(|(_, count)| count).sum();
    let looks_like_date = present > 0 && !labels_numeric && date_cells * 10 >= present * 9;
    let numbers = present - scan.non_numeric;
    // Only the messages about a column declared categorical or binary name its values past `MAX_CATEGORIES`.
    let every_value = matches!(declared, Some(ColumnKind::Categorical | ColumnKind::Binary));
    let Categories { distinct, capped, labels: categories, counts: category_counts } =
        if labels_numeric { numeric_categories(scan.numbers(), every_value) } else { text_categories(text_counts) };
    let stray = !labels_numeric && numbers >= STRAY_MIN_NUMBERS && scan.non_numeric <= (present / 100).max(1);
    let unique_text = !labels_numeric && !looks_like_date && present >= ID_MIN_ROWS && distinct == present;
    let inferred = match () {
        _ if present == 0 => ColumnKind::Numeric,
        _ if row_number => ColumnKind::Id,
        _ if labels_numeric || stray => ColumnKind::Numeric,
        _ if looks_like_date => ColumnKind::Date,
        _ if distinct == 2 => ColumnKind::Binary,
        _ if unique_text => ColumnKind::Id,
        _ => ColumnKind::Categorical,
    };
    let categories = Categories { distinct, capped, labels: categories, counts: category_counts };
    let info = column_info(column, declared, inferred, row_number, numbers, categories, summary, looks_like_date);
    match declared {
        None if stray => report_strays(table, column, &scan, diagnostics),
        Some(ColumnKind::Numeric) if scan.non_numeric > 0 => report_not_numeric(table, column, &scan, diagnostics),
        Some(ColumnKind::Binary) if distinct > 2 => report_not_binary(table, column, &info, diagnostics),
        _ => {}
    }
    if labels_numeric || info.kind == ColumnKind::Numeric {
        // Read as numbers from now on (fitting and applying the transform): keep this parse.
        column.keep_numbers(scan.into_per_row());
    }
    info
}

/// The schema of a column read as numbers, from what the reader found out about its exact values: every cell is
/// a number or missing (a column holding anything else is read as text), so the column is numeric, or an
/// identifier when it numbers the rows.
fn infer_number_column(
    table: &Table,
    column: &Column,
    facts: &NumberFacts,
    summary: Option<NumericSummary>,
    declared: Option<ColumnKind>,
) -> ColumnInfo {
    let present = column.len() - column.missing();
    let row_number = present > 0 && column.missing() == 0 && present >= ID_MIN_ROWS && facts.numbers_rows();
    let every_value = matches!(declared, Some(ColumnKind::Categorical | ColumnKind::Binary));
    let categories = match &facts.distinct {
        Some(counted) => {
            let (labels, counts) =
                counted.iter().map(|&(key, count)| (canonical_number(from_order_key(key)), count)).unzip();
            Categories { distinct: counted.len(), capped: false, labels, counts }
        }
        None if every_value => {
            // The pipeline reads a column declared categorical or binary as text: only a reader asked for it as
            // numbers comes here, and gets the labels of the numbers as f32.
            debug_assert!(false, "`{}`, declared categorical or binary, was read as numbers", column.name());
            let numbers = table.model_numbers(column);
            all_numeric_categories((0..column.len()).filter_map(|row| numbers.get(row)).map(f64::from).collect())
        }
        None => Categories { distinct: MAX_CATEGORIES + 1, capped: true, labels: Vec::new(), counts: Vec::new() },
    };
    debug_assert!(
        !matches!(declared, Some(ColumnKind::Binary)) || categories.distinct <= 2,
        "`{}`, declared binary with more values, was read as numbers",
        column.name()
    );
    let inferred = match () {
        _ if row_number => ColumnKind::Id,
        _ => ColumnKind::Numeric,
    };
    column_info(column, declared, inferred, row_number, present, categories, summary, false)
}

/// A column's schema from what was found in it.
#[allow(clippy::too_many_arguments)]
fn column_info(
    column: &Column,
    declared: Option<ColumnKind>,
    inferred: ColumnKind,
    row_number: bool,
    numbers: usize,
    categories: Categories,
    summary: Option<NumericSummary>,
    looks_like_date: bool,
) -> ColumnInfo {
    let present = column.len() - column.missing();
    let labels_numeric = numbers == present && present > 0;
    let id_reason = match inferred {
        ColumnKind::Id if row_number => Some(IdReason::RowNumber),
        ColumnKind::Id => Some(IdReason::UniqueText),
        _ => None,
    };
    let kind = declared.unwrap_or(inferred);
    let Categories { distinct, capped, labels, counts } = categories;
    ColumnInfo {
        name: column.name().to_string(),
        kind,
        inferred,
        declared: declared.is_some(),
        missing: column.missing(),
        numbers,
        distinct,
        distinct_capped: capped,
        categories_truncated: labels.len() < distinct,
        categories: labels,
        category_counts: counts,
        labels_numeric,
        summary: summary.filter(|_| labels_numeric || kind == ColumnKind::Numeric),
        id_reason,
        looks_like_date,
    }
}

/// The summary of every number column of `matrix` (by its position in a row), as [`summarize`] gives it from
/// the column's numbers in row order. The rows are read a block at a time, every column of the block at once, on
/// several threads each taking some of the columns.
fn matrix_summaries(matrix: &Matrix) -> Vec<Option<NumericSummary>> {
    let width = matrix.width();
    if width == 0 {
        return Vec::new();
    }
    let values = matrix.values();
    let threads = rayon::current_num_threads().clamp(1, width);
    let per_thread = width.div_ceil(threads);
    let groups: Vec<Range<usize>> =
        (0..width).step_by(per_thread).map(|start| start..(start + per_thread).min(width)).collect();
    groups.into_par_iter().flat_map_iter(|columns| summaries_of(values, width, columns)).collect()
}

/// [`matrix_summaries`] of the columns `columns` of rows of `width` values.
fn summaries_of(values: &[f32], width: usize, columns: Range<usize>) -> Vec<Option<NumericSummary>> {
    const BLOCK_ROWS: usize = 512;
    let count = columns.len();
    let (mut counts, mut sums) = (vec![0usize; count], vec![0.0f64; count]);
    let (mut mins, mut maxs) = (vec![f64::INFINITY; count], vec![f64::NEG_INFINITY; count]);
    for block in values.chunks(BLOCK_ROWS * width) {
        for row in block.chunks_exact(width) {
            for (index, &value) in row[columns.clone()].iter().enumerate() {
                if !value.is_nan() {
                    let number = f64::from(value) + 0.0;
                    counts[index] += 1;
                    sums[index] += number;
                    mins[index] = f64::min(mins[index], number);
                    maxs[index] = f64::max(maxs[index], number);
                }
            }
        }
    }
    let means: Vec<f64> = sums.iter().zip(&counts).map(|(sum, &count)| sum / count.max(1) as f64).collect();
    let mut squares = vec![0.0f64; count];
    for row in values.chunks_exact(width) {
        for (index, &value) in row[columns.clone()].iter().enumerate() {
            if !value.is_nan() {
                let deviation = f64::from(value) + 0.0 - means[index];
                squares[index] += deviation * deviation;
            }
        }
    }
    (0..count)
        .map(|index| {
            (counts[index] > 0).then(|| NumericSummary {
                min: mins[index],
                max: maxs[index],
                mean: means[index],
                std: (squares[index] / counts[index] as f64).sqrt(),
            })
        })
        .collect()
}

/// Whether whole numbers rise by exactly one from each row to the next.
fn numbers_rows(mut numbers: impl Iterator<Item = f64>) -> bool {
    let Some(first) = numbers.next() else {
        return false;
    };
    first.fract() == 0.0
        && first.abs() < 9e15
        && numbers.enumerate().all(|(index, number)| number == first + (index + 1) as f64)
}

/// The summary of `numbers` in two passes: count, sum and extremes, then the variance. The sum is taken in order,
/// as `Iterator::sum` does; with no `-0` among the numbers, starting from `0` gives the same result.
fn summarize(numbers: impl Iterator<Item = f64> + Clone) -> Option<NumericSummary> {
    let start = (0usize, 0.0, f64::INFINITY, f64::NEG_INFINITY);
    let (count, sum, min, max) = numbers.clone().fold(start, |(count, sum, min, max), number| {
        (count + 1, sum + number, f64::min(min, number), f64::max(max, number))
    });
    if count == 0 {
        return None;
    }
    let count = count as f64;
    let mean = sum / count;
    let variance = numbers.map(|number| (number - mean) * (number - mean)).sum::<f64>() / count;
    Some(NumericSummary { min, max, mean, std: variance.sqrt() })
}

/// The different values of a column, as [`ColumnInfo`] holds them.
struct Categories {
    distinct: usize,
    /// Whether counting stopped past [`MAX_CATEGORIES`] values (see [`ColumnInfo::distinct_capped`]).
    capped: bool,
    labels: Vec<String>,
    counts: Vec<usize>,
}

/// The categories of a column of numbers. Counting stops past [`MAX_CATEGORIES`] different numbers, keeping none,
/// unless `every_value` is asked for: then all are counted and the first [`MAX_CATEGORIES`] kept.
fn numeric_categories(numbers: impl Iterator<Item = f64> + Clone, every_value: bool) -> Categories {
    let Some(counted) = count_few_numbers(numbers.clone()) else {
        if every_value {
            return all_numeric_categories(numbers.collect());
        }
        return Categories { distinct: MAX_CATEGORIES + 1, capped: true, labels: Vec::new(), counts: Vec::new() };
    };
    let distinct = counted.len();
    let (labels, counts) =
        counted.into_iter().map(|(key, count)| (canonical_number(from_order_key(key)), count)).unzip();
    Categories { distinct, capped: false, labels, counts }
}

/// The different numbers among `numbers` as [`order_key`]s in numeric order, each with its count; `None` as soon
/// as there are more than [`MAX_CATEGORIES`] of them. Most continuous columns stop within a few thousand rows.
fn count_few_numbers(numbers: impl Iterator<Item = f64>) -> Option<Vec<(u64, usize)>> {
    let mut counted: Vec<(u64, usize)> = Vec::new();
    for number in numbers {
        let key = order_key(number);
        match counted.binary_search_by_key(&key, |&(known, _)| known) {
            Ok(at) => counted[at].1 += 1,
            Err(_) if counted.len() == MAX_CATEGORIES => return None,
            Err(at) => counted.insert(at, (key, 1)),
        }
    }
    Some(counted)
}

/// Every different number counted, then the first [`MAX_CATEGORIES`] labels in numeric order with their counts.
fn all_numeric_categories(numbers: Vec<f64>) -> Categories {
    // Sorting integer keys that order like the numbers is much faster than comparing floats.
    let mut keys: Vec<u64> = numbers.into_iter().map(order_key).collect();
    keys.sort_unstable();
    let (mut distinct, mut labels, mut counts) = (0, Vec::new(), Vec::new());
    for (index, &key) in keys.iter().enumerate() {
        if index > 0 && keys[index - 1] == key {
            if let Some(count) = counts.last_mut().filter(|_| distinct <= MAX_CATEGORIES) {
                *count += 1;
            }
            continue;
        }
        distinct += 1;
        if distinct <= MAX_CATEGORIES {
            labels.push(canonical_number(from_order_key(key)));
            counts.push(1);
        }
    }
    Categories { distinct, capped: false, labels, counts }
}

fn count_texts(column: &Column) -> HashMap<&str, usize> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for cell in column.iter().flatten() {
        *counts.entry(cell).or_default() += 1;
    }
    counts
}

/// Every different text counted, then the first [`MAX_CATEGORIES`] labels in text order with their counts.
fn text_categories(counts: HashMap<&str, usize>) -> Categories {
    let distinct = counts.len();
    let mut sorted: Vec<(&str, usize)> = counts.into_iter().collect();
    sorted.sort_unstable();
    sorted.truncate(MAX_CATEGORIES);
    let (labels, counts) = sorted.into_iter().map(|(label, count)| (label.to_string(), count)).unzip();
    Categories { distinct, capped: false, labels, counts }
}

fn report_strays(table: &Table, column: &Column, scan: &ColumnScan, diagnostics: &mut Diagnostics) {
    let name = column.name();
    for &row in &scan.first_non_numeric {
        let value = column.get(row).unwrap_or_default();
        let line = table.line_of_row(row);
        diagnostics.push(
            Diagnostic::error(
                "data::stray_value",
                format!("column `{name}` is numeric except for the value `{value}`"),
            )
            .at_data(table.path(), line, Some(name))
            .with_label(format!("`{value}` is not a number"))
            .with_help(format!(
                "fix the value, leave the cell empty or write NA to mark it missing, or declare the column \
                 `categorical` in data.types (`types {name}=categorical`, in YAML `types: {{{name}: categorical}}`)"
            )),
        );
    }
    if scan.non_numeric > scan.first_non_numeric.len() {
        let more = scan.non_numeric - scan.first_non_numeric.len();
        diagnostics.push(
            Diagnostic::error(
                "data::stray_value",
                format!("column `{name}` has {more} more values that are not numbers"),
            )
            .at_data(table.path(), table.line_of_row(0), Some(name))
            .with_help("fix these values too, or leave the cells empty or write NA to mark them missing"),
        );
    }
}

fn report_not_numeric(table: &Table, column: &Column, scan: &ColumnScan, diagnostics: &mut Diagnostics) {
    let name = column.name();
    let mut cells: Vec<String> = scan
        .first_non_numeric
        .iter()
        .map(|&row| format!("`{}` on line {}", column.get(row).unwrap_or_default(), table.line_of_row(row)))
        .collect();
    if scan.non_numeric > cells.len() {
        cells.push(format!("{} more", scan.non_numeric - cells.len()));
    }
    let first_line = scan.first_non_numeric.first().map_or(0, |&row| table.line_of_row(row));
    diagnostics.push(
        Diagnostic::error(
            "data::not_numeric",
            format!("column `{name}` is declared numeric but has values that are not numbers: {}", cells.join(", ")),
        )
        .at_data(table.path(), first_line, Some(name))
        .with_help(
            "fix these values, leave the cells empty or write NA to mark them missing, or declare the column \
             `categorical` in data.types",
        ),
    );
}

fn report_not_binary(table: &Table, column: &Column, info: &ColumnInfo, diagnostics: &mut Diagnostics) {
    let name = column.name();
    let mut seen: Vec<String> = Vec::new();
    let mut third = None;
    for (row, cell) in column.iter().enumerate() {
        let Some(cell) = cell else { continue };
        let label = info.label_of(cell);
        if !seen.contains(&label) {
            if seen.len() == 2 {
                third = Some((row, label));
                break;
            }
            seen.push(label);
        }
    }
    let shown: Vec<String> = info.categories.iter().take(5).map(|label| format!("`{label}`")).collect();
    let more = if info.distinct > shown.len() { ", ..." } else { "" };
    let (line, third_text) = match third {
        Some((row, label)) => {
            (table.line_of_row(row), format!("; the third value `{label}` first appears on this line"))
        }
        None => (table.line_of_row(0), String::new()),
    };
    diagnostics.push(
        Diagnostic::error(
            "data::not_binary",
            format!(
                "column `{name}` is declared binary but has {} different values: {}{more}{third_text}",
                info.distinct_text(),
                shown.join(", ")
            ),
        )
        .at_data(table.path(), line, Some(name))
        .with_help("a binary column holds exactly two values: fix the others, or declare the column `categorical`"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::csv_read::{read_csv, read_csv_bytes, read_table, read_table_bytes, CsvOptions, Layout};
    use crate::diagnostics::Location;
    use std::path::Path;

    /// The schema of a file read as text; read as numbers (as the pipeline reads it, the declared categories as
    /// text), it must be the same.
    fn infer_file(path: &str, declared: &[(&str, ColumnKind)]) -> (Schema, Diagnostics) {
        let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        let text = read_csv(&full, &CsvOptions::default()).expect("reads");
        let numbers = read_table(&full, &CsvOptions::default(), numbers_layout(declared)).expect("reads");
        same_schema(&text, &numbers, declared)
    }

    fn infer_text(text: &str, declared: &[(&str, ColumnKind)]) -> (Schema, Diagnostics) {
        let (path, options) = (Path::new("t.csv"), CsvOptions::default());
        let numbers = read_table_bytes(path, text.as_bytes(), &options, numbers_layout(declared)).expect("reads");
        let text = read_csv_bytes(path, text.as_bytes(), &options).expect("reads");
        same_schema(&text, &numbers, declared)
    }

    fn numbers_layout(declared: &[(&str, ColumnKind)]) -> Layout {
        let text = declared.iter().filter(|(_, kind)| *kind != ColumnKind::Numeric).map(|(name, _)| name.to_string());
        Layout::Numbers { text: text.collect() }
    }

    fn same_schema(text: &Table, numbers: &Table, declared: &[(&str, ColumnKind)]) -> (Schema, Diagnostics) {
        let declared = declared.iter().map(|(name, kind)| (name.to_string(), *kind)).collect();
        let (schema, diagnostics) = infer_schema(text, &declared);
        assert_eq!(infer_schema(numbers, &declared), (schema.clone(), diagnostics.clone()), "read as numbers");
        (schema, diagnostics)
    }

    fn column<'s>(schema: &'s Schema, name: &str) -> &'s ColumnInfo {
        schema.column(name).expect("column exists")
    }

    fn located(diagnostic: &Diagnostic) -> (&'static str, u64, Option<&str>) {
        match &diagnostic.location {
            Location::Data { line, column, .. } => (diagnostic.code, *line, column.as_deref()),
            _ => (diagnostic.code, 0, None),
        }
    }

    #[test]
    fn breast_cancer_has_30_numeric_columns_and_a_binary_diagnosis() {
        let (schema, diagnostics) = infer_file("specs/data/breast_cancer.csv", &[]);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!((schema.rows, schema.columns.len()), (569, 31));
        let numeric = schema.columns.iter().filter(|c| c.kind == ColumnKind::Numeric).count();
        assert_eq!(numeric, 30);
        assert!(schema.columns.iter().all(|c| c.missing == 0 && !c.declared));
        let diagnosis = column(&schema, "diagnosis");
        assert_eq!(diagnosis.kind, ColumnKind::Binary);
        assert_eq!(diagnosis.categories, ["benign", "malignant"]);
        assert_eq!(diagnosis.category_counts, [357, 212]);
        assert!(!diagnosis.labels_numeric && diagnosis.summary.is_none());
        let radius = column(&schema, "mean_radius").summary.expect("numeric summary");
        assert!(radius.min > 6.0 && radius.max < 30.0 && radius.mean > 13.0 && radius.std > 3.0);
    }

    #[test]
    fn diabetes_sex_with_two_numbers_stays_numeric() {
        let (schema, diagnostics) = infer_file("specs/data/diabetes_progression.csv", &[]);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert!(schema.columns.iter().all(|c| c.kind == ColumnKind::Numeric), "{schema:?}");
        let sex = column(&schema, "sex");
        assert_eq!((sex.distinct, sex.categories.clone()), (2, vec!["1".to_string(), "2".to_string()]));
        let (declared, _) = infer_file("specs/data/diabetes_progression.csv", &[("sex", ColumnKind::Binary)]);
        let sex = column(&declared, "sex");
        assert_eq!((sex.kind, sex.inferred, sex.declared), (ColumnKind::Binary, ColumnKind::Numeric, true));
    }

    #[test]
    fn digits_label_is_numeric_from_0_to_9() {
        let (schema, diagnostics) = infer_file("specs/data/digits.csv", &[]);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!((schema.rows, schema.columns.len()), (1797, 65));
        let label = column(&schema, "label");
        assert_eq!(label.kind, ColumnKind::Numeric);
        let expected: Vec<String> = (0..10).map(|digit| digit.to_string()).collect();
        assert_eq!(label.categories, expected);
        assert!(column(&schema, "p0").is_constant());
    }

    #[test]
    fn counts_missing_cells_and_keeps_facts_of_odd_columns() {
        let (schema, diagnostics) = infer_file("tests/data/csv/all_missing.csv", &[]);
        assert!(diagnostics.is_empty());
        let insulin = column(&schema, "insulin");
        assert_eq!((insulin.missing, insulin.distinct, insulin.summary), (5, 0, None));
        let (schema, _) = infer_file("tests/data/csv/single_class.csv", &[]);
        let outcome = column(&schema, "outcome");
        assert_eq!((outcome.kind, outcome.distinct), (ColumnKind::Categorical, 1));
        assert!(outcome.is_constant());
    }

    #[test]
    fn reports_a_stray_value_in_a_numeric_column() {
        let (schema, diagnostics) = infer_file("tests/data/csv/stray_value.csv", &[]);
        assert_eq!(column(&schema, "glucose").kind, ColumnKind::Numeric);
        assert_eq!(diagnostics.items.len(), 1);
        assert_eq!(located(&diagnostics.items[0]), ("data::stray_value", 11, Some("glucose")));
        assert_eq!(diagnostics.items[0].message, "column `glucose` is numeric except for the value `12,5`");
        assert!(matches!(diagnostics.items[0].location, crate::diagnostics::Location::Data { line: 11, .. }));
        let (schema, quiet) = infer_file("tests/data/csv/stray_value.csv", &[("glucose", ColumnKind::Categorical)]);
        assert!(quiet.is_empty());
        assert_eq!(column(&schema, "glucose").kind, ColumnKind::Categorical);
        let (_, declared) = infer_file("tests/data/csv/stray_value.csv", &[("glucose", ColumnKind::Numeric)]);
        assert_eq!(located(&declared.items[0]), ("data::not_numeric", 11, Some("glucose")));
        assert!(declared.items[0].message.contains("`12,5` on line 11"));
    }

    #[test]
    fn few_numbers_with_text_make_a_categorical_column() {
        let (schema, diagnostics) = infer_text("grade\n1\n2\n3\nhigh\n", &[]);
        assert!(diagnostics.is_empty());
        let grade = column(&schema, "grade");
        assert_eq!((grade.kind, grade.numbers), (ColumnKind::Categorical, 3));
        assert_eq!(grade.categories, ["1", "2", "3", "high"]);
    }

    #[test]
    fn detects_identifiers_but_not_unique_measurements() {
        let (schema, diagnostics) = infer_file("tests/data/csv/unique_text_id.csv", &[]);
        assert!(diagnostics.is_empty());
        let id = column(&schema, "patient_id");
        assert_eq!((id.kind, id.id_reason), (ColumnKind::Id, Some(IdReason::UniqueText)));
        assert_eq!(column(&schema, "weight").kind, ColumnKind::Numeric);
        assert_eq!(column(&schema, "outcome").kind, ColumnKind::Binary);
        let (schema, _) = infer_file("tests/data/csv/row_number.csv", &[]);
        let row = column(&schema, "row");
        assert_eq!((row.kind, row.id_reason), (ColumnKind::Id, Some(IdReason::RowNumber)));
        assert_eq!(column(&schema, "age").kind, ColumnKind::Numeric);
        let (declared, _) = infer_file("tests/data/csv/row_number.csv", &[("row", ColumnKind::Numeric)]);
        assert_eq!(column(&declared, "row").kind, ColumnKind::Numeric);
        let (small, _) = infer_text("name,age\nann,3\nbob,4\ncid,5\n", &[]);
        assert_eq!(column(&small, "name").kind, ColumnKind::Categorical);
        assert_eq!(column(&small, "age").kind, ColumnKind::Numeric);
    }

    #[test]
    fn detects_date_columns() {
        let (schema, diagnostics) = infer_file("tests/data/csv/dates.csv", &[]);
        assert!(diagnostics.is_empty());
        let visit = column(&schema, "visit_date");
        assert_eq!((visit.kind, visit.missing, visit.looks_like_date), (ColumnKind::Date, 1, true));
    }

    #[test]
    fn declared_binary_with_three_values_is_an_error() {
        let text = "smoker,age\nyes,1\nno,2\nyes,3\nformer,4\n";
        let (schema, diagnostics) = infer_text(text, &[("smoker", ColumnKind::Binary), ("nobody", ColumnKind::Id)]);
        assert_eq!(column(&schema, "smoker").kind, ColumnKind::Binary);
        assert_eq!(located(&diagnostics.items[0]), ("data::not_binary", 5, Some("smoker")));
        assert!(diagnostics.items[0].message.contains("3 different values"));
    }

    #[test]
    fn numeric_labels_are_canonical_and_sorted_numerically() {
        let (schema, _) = infer_text("dose\n10\n1.0\n2\n1\n+2.50\n-0\n", &[("dose", ColumnKind::Categorical)]);
        let dose = column(&schema, "dose");
        assert_eq!(dose.categories, ["0", "1", "2", "2.5", "10"]);
        assert_eq!(dose.category_counts, [1, 2, 1, 1, 1]);
        assert_eq!((dose.label_of(" 1.00 "), dose.find_category("2.5e0")), ("1".to_string(), Some(3)));
    }

    #[test]
    fn keeps_at_most_max_categories() {
        let text: String = "x\n".to_string() + &(0..1500).map(|n| format!("{}\n", n * 2)).collect::<String>();
        let (schema, _) = infer_text(&text, &[]);
        let x = column(&schema, "x");
        assert_eq!((x.distinct, x.categories.len(), x.categories_truncated), (MAX_CATEGORIES + 1, 0, true));
        assert_eq!(
            (x.kind, x.distinct_capped, x.distinct_text()),
            (ColumnKind::Numeric, true, "more than 1000".into())
        );
        let (declared, _) = infer_text(&text, &[("x", ColumnKind::Categorical)]);
        let x = column(&declared, "x");
        assert_eq!((x.distinct, x.categories.len(), x.categories_truncated), (1500, MAX_CATEGORIES, true));
        assert_eq!((x.categories[..2].to_vec(), x.distinct_capped), (vec!["0".to_string(), "2".to_string()], false));
        let few: String =
            "x\n".to_string() + &(0..3000).map(|n| format!("{}\n", n % MAX_CATEGORIES)).collect::<String>();
        let (schema, _) = infer_text(&few, &[]);
        let x = column(&schema, "x");
        assert_eq!((x.distinct, x.categories.len(), x.distinct_capped), (MAX_CATEGORIES, MAX_CATEGORIES, false));
        assert!(x.category_counts.iter().all(|&count| count == 3));
    }

    #[test]
    fn reads_quoted_crlf_file() {
        let (schema, diagnostics) = infer_file("tests/data/csv/crlf_bom_quoted.csv", &[]);
        assert!(diagnostics.is_empty());
        assert_eq!(column(&schema, "id").kind, ColumnKind::Numeric);
        assert_eq!(column(&schema, "note, free text").missing, 1);
    }

    #[test]
    fn random_bytes_give_a_table_or_data_errors_never_a_panic() {
        use rand::{Rng, SeedableRng};
        let pieces: [&[u8]; 15] = [
            b"a",
            b"1",
            b"2.5",
            b",",
            b",",
            b"\n",
            b"\r\n",
            b"\"",
            b"NA",
            b"?",
            b" ",
            b"\xff",
            b"\xc3",
            b"2021-03-04",
            b"x1",
        ];
        let declared: BTreeMap<String, ColumnKind> =
            [("a".to_string(), ColumnKind::Binary), ("1".to_string(), ColumnKind::Numeric)].into_iter().collect();
        let mut random = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..3000 {
            let length = random.gen_range(0..40);
            let bytes: Vec<u8> =
                (0..length).flat_map(|_| pieces[random.gen_range(0..pieces.len())].iter().copied()).collect();
            let layout = numbers_layout(&[("a", ColumnKind::Binary), ("1", ColumnKind::Numeric)]);
            let numbers = read_table_bytes(Path::new("random.csv"), &bytes, &CsvOptions::default(), layout);
            match read_csv_bytes(Path::new("random.csv"), &bytes, &CsvOptions::default()) {
                Ok(table) => {
                    assert!(table.columns().iter().all(|column| column.len() == table.rows()), "{bytes:?}");
                    let (schema, diagnostics) = infer_schema(&table, &declared);
                    assert_eq!(schema.columns.len(), table.columns().len());
                    assert!(diagnostics.items.iter().all(|d| d.code.starts_with("data::")));
                    let numbers = numbers.expect("a table as text is a table as numbers");
                    assert_eq!(infer_schema(&numbers, &declared), (schema, diagnostics), "{bytes:?}");
                }
                Err(diagnostics) => {
                    assert!(diagnostics.has_errors(), "{bytes:?}");
                    assert!(diagnostics.items.iter().all(|d| d.code.starts_with("data::")));
                }
            }
        }
    }
}
