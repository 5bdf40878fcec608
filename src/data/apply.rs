//! Applying a fitted [`Transform`] to rows of a table: each row's cells filled, scaled and encoded by one per-row
//! function, into a new matrix ([`Transform::apply`], for predict-time files and for tests) or over the table's own
//! numbers ([`Transform::apply_in_place`], for training, so that the data are held once).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use ndarray::Array2;
use rayon::prelude::*;

use crate::data::cells::{finite_f32, label_text};
use crate::data::impute::{fill_numbers, filled_codes, not_numbers, sequences, Fill};
use crate::data::table::{Column, Matrix, Table};
use crate::data::transform::{missing_columns, CategoryEncoding, FittedFeature, FittedValues, Transform, MAX_REPORTED};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::memory::AllocationError;

/// The input values of some rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// One row per kept row, [`Transform::width`] values each.
    pub features: Array2<f32>,
    /// The original row indices kept, in the order given (rows with a missing cell under `drop` are left out).
    pub rows: Vec<usize>,
    /// Cells filled.
    pub imputed: usize,
    /// Column name to cells holding a category outside the vocabulary.
    pub unseen: BTreeMap<String, usize>,
}

impl Transform {
    /// Applies the transform to `rows` of a table (the training file or a predict-time CSV), in the order given.
    /// Rows with a missing cell in a column whose strategy is `drop` are left out (see [`Applied::rows`]); indices
    /// beyond the table are ignored. A missing feature column or a cell that is not a number in a numeric column
    /// is an error naming it. The table is left as it is (see [`Transform::apply_in_place`]).
    pub fn apply(&self, table: &Table, rows: &[usize]) -> Result<Applied, Diagnostics> {
        let matrix = table.matrix();
        let sources = self.sources(table)?;
        let kept = kept_rows(&sources, table, matrix, rows);
        // Fills from neighbouring rows are found among the rows transformed, each named by its position.
        let keys: Vec<usize> = (0..kept.len()).collect();
        let sources = with_ordered_fills(sources, matrix, &kept, &keys, self.group_column(table));
        let width = self.width();
        let mut data = crate::memory::try_zeroed(kept.len().saturating_mul(width), "the data matrix")
            .map_err(|error| Diagnostics { items: vec![error.diagnostic()] })?;
        let features = self.features.len();
        let tally = if width == 0 {
            Tally::new(features)
        } else {
            data.par_chunks_mut(width)
                .zip(kept.par_iter())
                .enumerate()
                .fold(
                    || Tally::new(features),
                    |mut tally, (position, (out, &row))| {
                        input_row(&sources, matrix_row(matrix, row), row, position, out, &mut tally);
                        tally
                    },
                )
                .reduce(|| Tally::new(features), Tally::join)
        };
        let (imputed, unseen) = tally.finish(table, &self.features)?;
        let features = Array2::from_shape_vec((kept.len(), width), data).map_err(|error| Diagnostics {
            items: vec![Diagnostic::error("data::internal", format!("cannot shape the inputs: {error}"))],
        })?;
        Ok(Applied { features, rows: kept, imputed, unseen })
    }

    /// Applies the transform to several sets of rows of a table at once, in the table's own numbers: its rows of
    /// numbers become rows of inputs, row `r` of the result holding the inputs of the file's row `r` (zeros for a
    /// row in no set). The sets must not share a row; each is transformed as [`Transform::apply`] would transform
    /// it alone, and its outcome (or its errors) is given in the order of the sets. The table keeps its text
    /// columns; its number columns read as missing afterwards.
    pub fn apply_in_place(&self, table: &mut Table, sets: &[&[usize]]) -> Result<InPlace, Diagnostics> {
        let matrix = table.take_matrix();
        let table = &*table;
        let width = self.width();
        let features = self.features.len();
        let mut sources = self.sources(table)?;
        let kept: Vec<Vec<usize>> = sets.iter().map(|rows| kept_rows(&sources, table, &matrix, rows)).collect();
        let mut owner = vec![u32::MAX; table.rows()];
        for (set, rows) in kept.iter().enumerate() {
            for &row in rows {
                debug_assert_eq!(owner[row], u32::MAX, "row {row} is in two sets");
                owner[row] = set as u32;
            }
        }
        // The fills from neighbouring rows are found first, from the numbers as read, within each set; a row is
        // its own key.
        for rows in &kept {
            sources = with_ordered_fills(sources, &matrix, rows, rows, self.group_column(table));
        }
        let Matrix { mut values, width: read } = matrix;
        let rows = table.rows();
        if width > read {
            let cells = rows.saturating_mul(width);
            values.try_reserve_exact(cells.saturating_sub(values.len())).map_err(|_| {
                let bytes = (cells as u64).saturating_mul(std::mem::size_of::<f32>() as u64);
                let error = AllocationError { bytes, what: "the data matrix".to_string() };
                Diagnostics { items: vec![error.diagnostic()] }
            })?;
            values.resize(cells, 0.0);
        }
        let fresh = || -> Vec<Tally> { kept.iter().map(|_| Tally::new(features)).collect() };
        let mut tallies = fresh();
        if width > 0 {
            // A block of rows at a time: its numbers as read are copied aside, then its inputs written over the
            // matrix. Inputs no wider than the numbers are written from the first block on, wider ones from the
            // last, so that no block's inputs land on numbers not yet read.
            let blocks = rows.div_ceil(BLOCK_ROWS);
            let order: Vec<usize> = if width <= read { (0..blocks).collect() } else { (0..blocks).rev().collect() };
            let mut aside: Vec<f32> = Vec::with_capacity(BLOCK_ROWS * read);
            for block in order {
                let (first, last) = (block * BLOCK_ROWS, ((block + 1) * BLOCK_ROWS).min(rows));
                aside.clear();
                aside.extend_from_slice(&values[first * read..last * read]);
                let found = values[first * width..last * width]
                    .par_chunks_mut(width)
                    .enumerate()
                    .fold(fresh, |mut tallies, (offset, out)| {
                        let row = first + offset;
                        let raw = aside.get(offset * read..(offset + 1) * read).unwrap_or_default();
                        match tallies.get_mut(owner[row] as usize) {
                            Some(tally) => input_row(&sources, raw, row, row, out, tally),
                            None => out.fill(0.0),
                        }
                        tallies
                    })
                    .reduce(fresh, |a, b| a.into_iter().zip(b).map(|(a, b)| a.join(b)).collect());
                tallies = tallies.into_iter().zip(found).map(|(a, b)| a.join(b)).collect();
            }
        }
        values.truncate(rows * width);
        values.shrink_to_fit();
        let sets = tallies
            .into_iter()
            .zip(kept)
            .map(|(tally, rows)| {
                let (imputed, unseen) = tally.finish(table, &self.features)?;
                Ok(AppliedRows { rows, imputed, unseen })
            })
            .collect();
        Ok(InPlace { values, width, sets })
    }

    /// How each feature reads `table`; an error naming the feature columns the table lacks.
    fn sources<'t>(&'t self, table: &'t Table) -> Result<Vec<Source<'t>>, Diagnostics> {
        let columns: Vec<Option<&Column>> = self.features.iter().map(|f| table.column(&f.name)).collect();
        let absent: Vec<&str> =
            self.features.iter().zip(&columns).filter(|(_, c)| c.is_none()).map(|(f, _)| f.name.as_str()).collect();
        if !absent.is_empty() {
            return Err(Diagnostics { items: vec![missing_columns(table, &absent, &[])] });
        }
        let mut offset = 0;
        let sources = self
            .features
            .iter()
            .zip(columns.into_iter().flatten())
            .map(|(feature, column)| {
                let source = Source::new(feature, column, offset);
                offset += feature.width();
                source
            })
            .collect();
        Ok(sources)
    }

    /// The group column that fills from neighbouring rows stay within, when a feature fills so and the table has
    /// the column.
    fn group_column<'t>(&self, table: &'t Table) -> Option<&'t Column> {
        let ordered = self.features.iter().any(FittedFeature::fills_in_order);
        self.group.as_deref().filter(|_| ordered).and_then(|name| table.column(name))
    }
}

impl Applied {
    /// The warning `data::unseen_category` when some cells of `path` held categories the model never saw.
    pub fn unseen_warning(&self, path: &Path) -> Option<Diagnostic> {
        unseen_warning(&self.unseen, path)
    }
}

/// How far beyond the training rows' range a number may lie, as a share of that range, before its row is flagged
/// out of range.
pub const RANGE_MARGIN: f64 = 0.1;

/// What is unusual about one row's cells, as the names of the feature columns concerned, in input order. A clean
/// row has none; a flagged row still gets its prediction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RowFlags {
    /// Columns whose cell was missing and was filled by the saved strategy.
    pub filled: Vec<String>,
    /// Categorical columns whose cell holds a category the training rows did not have.
    pub unseen: Vec<String>,
    /// Numeric columns whose number lies below the training rows' minimum or above their maximum by more than
    /// [`RANGE_MARGIN`] of their range.
    pub out_of_range: Vec<String>,
}

impl RowFlags {
    /// Whether nothing is flagged.
    pub fn is_clean(&self) -> bool {
        self.filled.is_empty() && self.unseen.is_empty() && self.out_of_range.is_empty()
    }

    /// Each flag with its columns, `;`-separated as the output's cells hold them: `filled`, `unseen`,
    /// `out_of_range`.
    pub fn cells(&self) -> [String; 3] {
        [self.filled.join(";"), self.unseen.join(";"), self.out_of_range.join(";")]
    }

    /// The flags in words for a message: `unseen sex; out of range age, creatinine`.
    pub fn describe(&self) -> String {
        let kinds = [("filled", &self.filled), ("unseen", &self.unseen), ("out of range", &self.out_of_range)];
        let parts: Vec<String> = kinds
            .iter()
            .filter(|(_, columns)| !columns.is_empty())
            .map(|(kind, columns)| format!("{kind} {}", columns.join(", ")))
            .collect();
        parts.join("; ")
    }
}

/// The names of the three flag columns of predictions, in the order of [`RowFlags::cells`].
pub const FLAG_COLUMNS: [&str; 3] = ["filled", "unseen", "out_of_range"];

impl Transform {
    /// The flags of `rows` of a table, in the order given: every row, those a `drop` strategy leaves out too (rows
    /// beyond the table are skipped). Needs the same columns as [`Transform::apply`]; a run saved before the
    /// training ranges were recorded gets no out-of-range flags (see [`Transform::has_ranges`]).
    pub fn flag_rows(&self, table: &Table, rows: &[usize]) -> Result<Vec<RowFlags>, Diagnostics> {
        let matrix = table.matrix();
        let sources = self.sources(table)?;
        let flags = rows
            .iter()
            .copied()
            .filter(|&row| row < table.rows())
            .map(|row| {
                let raw = matrix_row(matrix, row);
                let mut flags = RowFlags::default();
                for source in &sources {
                    let feature = source.feature;
                    if source.missing(raw, row) {
                        if !feature.drops_missing() {
                            flags.filled.push(feature.name.clone());
                        }
                        continue;
                    }
                    match &feature.values {
                        FittedValues::Numeric { range: Some([low, high]), .. } => {
                            let Some(number) = source.number(raw, row) else { continue };
                            let (low, high, number) = (f64::from(*low), f64::from(*high), f64::from(number));
                            let margin = RANGE_MARGIN * (high - low);
                            if number < low - margin || number > high + margin {
                                flags.out_of_range.push(feature.name.clone());
                            }
                        }
                        FittedValues::Categorical { labels_numeric, .. } => {
                            let known = source.column.get(row).and_then(|text| source.code(text, *labels_numeric));
                            if known.is_none() {
                                flags.unseen.push(feature.name.clone());
                            }
                        }
                        FittedValues::Numeric { range: None, .. } => {}
                    }
                }
                flags
            })
            .collect();
        Ok(flags)
    }

    /// Whether the transform records its training ranges: runs saved by an earlier galen have none, and so no
    /// out-of-range flags. (A numeric column without a number in the training rows has no range either way.)
    pub fn has_ranges(&self) -> bool {
        let mut numeric = self.features.iter().filter_map(|feature| match &feature.values {
            FittedValues::Numeric { range, .. } => Some(range),
            FittedValues::Categorical { .. } => None,
        });
        let first = numeric.next();
        first.is_none() || first.into_iter().chain(numeric).any(Option::is_some)
    }
}

/// The inputs of the sets of rows given to [`Transform::apply_in_place`].
#[derive(Clone, Debug, PartialEq)]
pub struct InPlace {
    /// The inputs of every row of the table, `width` a row.
    pub values: Vec<f32>,
    /// Input values per row.
    pub width: usize,
    /// Each set's rows kept and counts, or its errors, in the order of the sets.
    pub sets: Vec<Result<AppliedRows, Diagnostics>>,
}

/// The rows of a set transformed in place, and what was found in them (see [`Applied`]).
#[derive(Clone, Debug, PartialEq)]
pub struct AppliedRows {
    /// The original row indices kept, in the order given.
    pub rows: Vec<usize>,
    /// Cells filled.
    pub imputed: usize,
    /// Column name to cells holding a category outside the vocabulary.
    pub unseen: BTreeMap<String, usize>,
}

impl AppliedRows {
    /// The warning `data::unseen_category` when some cells of `path` held categories the model never saw.
    pub fn unseen_warning(&self, path: &Path) -> Option<Diagnostic> {
        unseen_warning(&self.unseen, path)
    }
}

/// Rows transformed in place at once, a block at a time (see [`Transform::apply_in_place`]).
const BLOCK_ROWS: usize = 1024;

/// The row `row` of a table's numbers (empty beyond it, or without number columns).
fn matrix_row(matrix: &Matrix, row: usize) -> &[f32] {
    let width = matrix.width();
    matrix.values().get(row * width..(row + 1) * width).unwrap_or_default()
}

/// How one feature reads its column, and where its inputs go in a row of inputs.
struct Source<'t> {
    feature: &'t FittedFeature,
    column: &'t Column,
    /// Where the column's numbers are in a row of the table's numbers; `None` for a text column.
    slot: Option<usize>,
    /// A text column's cells parsed as numbers (numeric features).
    parsed: &'t [f64],
    /// Category index by label (categorical features).
    lookup: HashMap<&'t str, usize>,
    /// The fills of missing cells taken from neighbouring rows, by the key of the row.
    ordered: Ordered,
    /// The first of the feature's input values in a row of inputs.
    offset: usize,
}

/// The fills of a feature's missing cells that depend on neighbouring rows, by the key of the row (see
/// [`input_row`]).
enum Ordered {
    None,
    Numbers(HashMap<usize, f64>),
    Codes(HashMap<usize, Option<usize>>),
}

impl<'t> Source<'t> {
    fn new(feature: &'t FittedFeature, column: &'t Column, offset: usize) -> Source<'t> {
        let slot = column.number_slot();
        let (parsed, lookup) = match &feature.values {
            FittedValues::Numeric { .. } if slot.is_none() => (column.numbers(), HashMap::new()),
            FittedValues::Numeric { .. } => (&[][..], HashMap::new()),
            FittedValues::Categorical { categories, .. } => {
                debug_assert!(slot.is_none(), "the categorical column `{}` was read as numbers", column.name());
                (&[][..], categories.iter().enumerate().map(|(index, label)| (label.as_str(), index)).collect())
            }
        };
        Source { feature, column, slot, parsed, lookup, ordered: Ordered::None, offset }
    }

    /// The number in `row` as the model reads it (`raw` is the row of the table's numbers); `None` when missing
    /// or not a number.
    fn number(&self, raw: &[f32], row: usize) -> Option<f32> {
        match self.slot {
            Some(at) => raw.get(at).copied().filter(|value| !value.is_nan()),
            None => self.parsed.get(row).filter(|number| !number.is_nan()).map(|&number| finite_f32(number)),
        }
    }

    /// Whether the cell in `row` is missing (a cell holding text that is not a number is not).
    fn missing(&self, raw: &[f32], row: usize) -> bool {
        match self.slot {
            Some(at) => raw.get(at).is_none_or(|value| value.is_nan()),
            None => self.column.get(row).is_none(),
        }
    }

    /// The category index of a cell's text: `None` outside the vocabulary.
    fn code(&self, text: &str, labels_numeric: bool) -> Option<usize> {
        if labels_numeric {
            self.lookup.get(label_text(text, true).as_str()).copied()
        } else {
            // Cells are trimmed already, so a text label needs no copy.
            self.lookup.get(text).copied()
        }
    }
}

/// The rows of `rows` that the transform keeps: within the table, without a missing cell in a column whose
/// strategy is `drop` (`matrix` holds the table's numbers).
fn kept_rows(sources: &[Source], table: &Table, matrix: &Matrix, rows: &[usize]) -> Vec<usize> {
    let dropping: Vec<&Source> = sources.iter().filter(|source| source.feature.drops_missing()).collect();
    rows.iter()
        .copied()
        .filter(|&row| row < table.rows())
        .filter(|&row| dropping.iter().all(|source| !source.missing(matrix_row(matrix, row), row)))
        .collect()
}

/// The sources with the fills taken from neighbouring rows among `rows` (kept rows, each named by its key in
/// `keys`), in file order within the `group` column, added to those found before; `matrix` holds the table's
/// numbers as read.
fn with_ordered_fills<'t>(
    mut sources: Vec<Source<'t>>,
    matrix: &Matrix,
    rows: &[usize],
    keys: &[usize],
    group: Option<&Column>,
) -> Vec<Source<'t>> {
    if !sources.iter().any(|source| source.feature.fills_in_order()) {
        return sources;
    }
    let sequences = sequences(rows, group);
    for source in sources.iter_mut().filter(|source| source.feature.fills_in_order()) {
        match &source.feature.values {
            FittedValues::Numeric { fill, .. } => {
                let numbers: Vec<Option<f64>> =
                    rows.iter().map(|&row| source.number(matrix_row(matrix, row), row).map(f64::from)).collect();
                let gaps: Vec<usize> = (0..rows.len()).filter(|&position| numbers[position].is_none()).collect();
                let filled = fill_numbers(numbers, fill, &sequences);
                let found = gaps.into_iter().map(|position| (keys[position], filled[position]));
                match &mut source.ordered {
                    Ordered::Numbers(known) => known.extend(found),
                    ordered => *ordered = Ordered::Numbers(found.collect()),
                }
            }
            FittedValues::Categorical { fill, labels_numeric, categories, .. } => {
                let cells: Vec<Option<&str>> = rows.iter().map(|&row| source.column.get(row)).collect();
                let (filled, _) = filled_codes(&cells, *labels_numeric, categories, fill, &sequences);
                let gaps = (0..rows.len()).filter(|&position| cells[position].is_none());
                let found = gaps.map(|position| (keys[position], filled[position]));
                match &mut source.ordered {
                    Ordered::Codes(known) => known.extend(found),
                    ordered => *ordered = Ordered::Codes(found.collect()),
                }
            }
        }
    }
    sources
}

/// What transforming some rows found: cells filled, cells per feature holding a category outside the vocabulary,
/// and cells of numeric features that are not numbers (feature, key, row, text).
struct Tally {
    imputed: usize,
    unseen: Vec<usize>,
    bad: Vec<(usize, usize, usize, String)>,
}

impl Tally {
    fn new(features: usize) -> Tally {
        Tally { imputed: 0, unseen: vec![0; features], bad: Vec::new() }
    }

    fn join(mut self, other: Tally) -> Tally {
        self.imputed += other.imputed;
        self.unseen.iter_mut().zip(other.unseen).for_each(|(count, more)| *count += more);
        self.bad.extend(other.bad);
        self
    }

    /// The counts, or the errors for cells that are not numbers: the first ones by feature, then by row.
    fn finish(
        mut self,
        table: &Table,
        features: &[FittedFeature],
    ) -> Result<(usize, BTreeMap<String, usize>), Diagnostics> {
        if !self.bad.is_empty() {
            self.bad.sort_by_key(|&(feature, key, _, _)| (feature, key));
            let bad: Vec<(usize, String, String)> = self
                .bad
                .into_iter()
                .map(|(feature, _, row, text)| (row, features[feature].name.clone(), text))
                .collect();
            return Err(not_numbers(table, &bad, MAX_REPORTED));
        }
        let unseen = features
            .iter()
            .zip(self.unseen)
            .filter(|(_, count)| *count > 0)
            .map(|(feature, count)| (feature.name.clone(), count))
            .collect();
        Ok((self.imputed, unseen))
    }
}

/// Writes the inputs of the file's row `row` into `out`: every feature filled, scaled and encoded. `raw` is the
/// row of the table's numbers as read, and `key` names the row among those transformed (for the fills taken from
/// neighbouring rows).
fn input_row(sources: &[Source], raw: &[f32], row: usize, key: usize, out: &mut [f32], tally: &mut Tally) {
    for (index, source) in sources.iter().enumerate() {
        let feature = source.feature;
        let width = feature.width();
        let Some(values) = out.get_mut(source.offset..source.offset + width) else { continue };
        let missing = source.missing(raw, row);
        match &feature.values {
            FittedValues::Numeric { fill, offset, scale, .. } => {
                let number = source.number(raw, row);
                if number.is_none() && !missing {
                    let text = source.column.get(row).unwrap_or_default().to_string();
                    tally.bad.push((index, key, row, text));
                }
                let value = match (number, fill) {
                    (Some(number), _) => f64::from(number),
                    (None, Fill::Drop) => 0.0,
                    (None, Fill::Value(value)) => f64::from(*value),
                    (
                        None,
                        Fill::Forward { fallback } | Fill::Backward { fallback } | Fill::Interpolate { fallback },
                    ) => match &source.ordered {
                        Ordered::Numbers(filled) => filled.get(&key).copied().unwrap_or(f64::from(*fallback)),
                        _ => f64::from(*fallback),
                    },
                };
                values[0] = finite_f32((value - f64::from(*offset)) / f64::from(*scale));
            }
            FittedValues::Categorical { fill, labels_numeric, encoding, .. } => {
                let code = match source.column.get(row) {
                    Some(text) => {
                        let code = source.code(text, *labels_numeric);
                        tally.unseen[index] += usize::from(code.is_none());
                        code
                    }
                    None => match (fill, &source.ordered) {
                        (Fill::Drop, _) => None,
                        (Fill::Forward { .. } | Fill::Backward { .. }, Ordered::Codes(filled)) => {
                            filled.get(&key).copied().flatten()
                        }
                        (
                            Fill::Value(label)
                            | Fill::Interpolate { fallback: label }
                            | Fill::Forward { fallback: label }
                            | Fill::Backward { fallback: label },
                            _,
                        ) => source.lookup.get(label.as_str()).copied(),
                    },
                };
                encode(values, code, *encoding);
            }
        }
        if feature.indicator {
            values[width - 1] = f32::from(u8::from(missing));
        }
        if missing && !feature.drops_missing() {
            tally.imputed += 1;
        }
    }
}

/// Writes a category index as input values: the first of `values`, or one per category for one-hot (all zero
/// outside the vocabulary).
fn encode(values: &mut [f32], code: Option<usize>, encoding: CategoryEncoding) {
    match encoding {
        CategoryEncoding::OneHot => {
            let categories = values.len();
            values.fill(0.0);
            if let Some(slot) = code.filter(|&index| index < categories).and_then(|index| values.get_mut(index)) {
                *slot = 1.0;
            }
        }
        CategoryEncoding::Ordinal => values[0] = code.map_or(-1.0, |index| index as f32),
        CategoryEncoding::Binary => {
            values[0] = match code {
                Some(index @ (0 | 1)) => index as f32,
                _ => 0.5,
            }
        }
    }
}

/// The warning `data::unseen_category` when some cells of `path` held categories the model never saw.
fn unseen_warning(unseen: &BTreeMap<String, usize>, path: &Path) -> Option<Diagnostic> {
    let total: usize = unseen.values().sum();
    if total == 0 {
        return None;
    }
    let columns: Vec<String> = unseen.iter().map(|(name, count)| format!("`{name}` ({count})")).collect();
    Some(
        Diagnostic::warning(
            "data::unseen_category",
            format!("{total} value(s) are categories not seen in training: {}", columns.join(", ")),
        )
        .at_file(path)
        .with_help("they count as no known category; check their spelling against the training file"),
    )
}
