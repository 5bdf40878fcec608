//! Missing cells: the fill each strategy of `data.missing` fits on the training rows and applies to any rows, the
//! statistics behind fills and scaling, and the fills that follow the file's row order.
//!
//! - `mean`, `median` and `mode` are statistics of the training rows' non-missing values; `zero` and
//!   `{constant: V}` are given. A constant that is not a number cannot fill a numeric column, nor a third value a
//!   binary one (`data::constant_kind`).
//! - **`ffill`, `bfill`, `interpolate`** follow the file's row order within the group column of `data.split`,
//!   among the rows being transformed, so that a training row is never filled from a validation or test row.
//!   `interpolate` is linear in the position within the group. A gap with no neighbour to fill from (a group's
//!   first rows for `ffill`, its last for `bfill`, either for `interpolate`) gets the training median (numbers) or
//!   mode (categories). Used with no group column on a file with no date column, they draw the warning
//!   `data::fill_without_order`: nothing says the rows are in order.
//! - `drop` removes the row: [`rows_dropped_by_strategy`] before the split, and `Transform::apply` for any row
//!   given to it.
//! - A strategy that needs numbers on a categorical column (the checker allows it only where the training file has
//!   no missing cell) fills with the training mode if a missing cell turns up later.
//!
//! Everything here is deterministic: statistics are f64 sums in row order and sorts, never hash order, so the
//! fitted transform does not depend on the thread count or the platform's hasher.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::check::Feature;
use crate::data::cells::{finite_f32, label_text, parse_number};
use crate::data::schema::Schema;
use crate::data::table::{Column, Table};
use crate::diagnostics::{quote_list, Diagnostic, Diagnostics, Span};
use crate::spec::ast::{ColumnKind, Impute, Spec};

/// Statistics of the non-missing training values of a numeric column. All are 0 when there is no value.
#[derive(Clone, Debug, PartialEq)]
pub struct NumericStats {
    /// Number of values.
    pub count: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Population standard deviation (divided by the count, as standard scaling does).
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// The 0.25 quantile (linear interpolation between order statistics).
    pub q1: f64,
    /// The median.
    pub median: f64,
    /// The 0.75 quantile.
    pub q3: f64,
    /// The most frequent value; the smallest of them on a tie.
    pub mode: f64,
}

impl NumericStats {
    /// The statistics of `values` (any order). The mode costs a count of every distinct value, so it is found only
    /// `with_mode` (the `mode` strategy); otherwise it is set to the median and must not be used. Likewise the
    /// quartiles are found only `with_quartiles` (robust scaling).
    pub fn of(mut values: Vec<f64>, with_mode: bool, with_quartiles: bool) -> NumericStats {
        if values.is_empty() {
            return NumericStats {
                count: 0,
                mean: 0.0,
                std: 0.0,
                min: 0.0,
                max: 0.0,
                q1: 0.0,
                median: 0.0,
                q3: 0.0,
                mode: 0.0,
            };
        }
        let count = values.len() as f64;
        // Summed in row order before any reordering, so that the mean is the same as any row-order computation.
        let mean = values.iter().sum::<f64>() / count;
        let variance = values.iter().map(|value| (value - mean) * (value - mean)).sum::<f64>() / count;
        let (min, max) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        // Quantiles by selection (linear time) rather than a full sort: the same order statistics.
        // Each is an order statistic, whatever order an earlier selection left the values in.
        let median = select_quantile(&mut values, 0.5);
        let (q1, q3) = if with_quartiles {
            (select_quantile(&mut values, 0.25), select_quantile(&mut values, 0.75))
        } else {
            (median, median)
        };
        let mode = if with_mode { mode_of(&values) } else { median };
        NumericStats { count: values.len(), mean, std: variance.sqrt(), min, max, q1, median, q3, mode }
    }
}

/// The `q` quantile of sorted values, interpolating linearly between the two nearest order statistics (the
/// usual definition, numpy's default); 0 for no value.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else { return 0.0 };
    let position = q.clamp(0.0, 1.0) * last as f64;
    let below = position.floor() as usize;
    let above = (below + 1).min(last);
    let fraction = position - below as f64;
    sorted[below] + (sorted[above] - sorted[below]) * fraction
}

/// The `q` quantile as [`quantile`] defines it, found by selection; reorders `values`.
fn select_quantile(values: &mut [f64], q: f64) -> f64 {
    let Some(last) = values.len().checked_sub(1) else { return 0.0 };
    let position = q.clamp(0.0, 1.0) * last as f64;
    let below = position.floor() as usize;
    let (_, &mut low, upper) = values.select_nth_unstable_by(below, f64::total_cmp);
    let high = if below < last { upper.iter().copied().fold(f64::INFINITY, f64::min) } else { low };
    low + (high - low) * (position - below as f64)
}

/// The most frequent value, the smallest on a tie; 0 for no value. Counted by bit pattern; the tie rule makes the
/// result independent of the map's iteration order.
fn mode_of(values: &[f64]) -> f64 {
    let mut counts: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    for value in values {
        // -0.0 and 0.0 are one value.
        *counts.entry((value + 0.0).to_bits()).or_default() += 1;
    }
    let mut best: Option<(usize, f64)> = None;
    for (bits, count) in counts {
        let value = f64::from_bits(bits);
        best = match best {
            Some((best_count, best_value))
                if best_count > count || (best_count == count && best_value.total_cmp(&value).is_le()) =>
            {
                Some((best_count, best_value))
            }
            _ => Some((count, value)),
        };
    }
    best.map_or(0.0, |(_, value)| value)
}

/// The most frequent index among `codes` (each below `len`), the lowest on a tie; `None` without any code.
pub fn mode_index(codes: impl IntoIterator<Item = usize>, len: usize) -> Option<usize> {
    let mut counts = vec![0usize; len];
    for code in codes {
        if let Some(count) = counts.get_mut(code) {
            *count += 1;
        }
    }
    let (index, &count) = counts.iter().enumerate().rev().max_by_key(|(_, count)| **count)?;
    (count > 0).then_some(index)
}

/// Which neighbour fills a gap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The nearest earlier value (`ffill`).
    Forward,
    /// The nearest later value (`bfill`).
    Backward,
}

/// The rows being transformed cut into sequences, one per value of the group column (one sequence without a
/// group column; rows with an empty group cell form their own). Each sequence holds positions into `rows`, in file
/// order (by row index, then by position for a row given twice).
pub fn sequences(rows: &[usize], group: Option<&Column>) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&position| (rows[position], position));
    let mut groups: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
    for position in order {
        groups.entry(group.and_then(|column| column.get(rows[position]))).or_default().push(position);
    }
    groups.into_values().collect()
}

/// Fills every gap of `values` from its nearest neighbour in `direction` within its sequence; a gap with no such
/// neighbour (at a sequence's start for `Forward`, its end for `Backward`) gets `fallback`.
pub fn fill_along<T: Clone>(
    mut values: Vec<Option<T>>,
    sequences: &[Vec<usize>],
    direction: Direction,
    fallback: &T,
) -> Vec<T> {
    for sequence in sequences {
        let mut last: Option<T> = None;
        let mut visit = |position: usize| match values.get(position).cloned().flatten() {
            Some(value) => last = Some(value),
            None => {
                if let Some(slot) = values.get_mut(position) {
                    *slot = Some(last.clone().unwrap_or_else(|| fallback.clone()));
                }
            }
        };
        match direction {
            Direction::Forward => sequence.iter().copied().for_each(&mut visit),
            Direction::Backward => sequence.iter().rev().copied().for_each(&mut visit),
        }
    }
    values.into_iter().map(|value| value.unwrap_or_else(|| fallback.clone())).collect()
}

/// Fills every gap of `values` by linear interpolation between the nearest values before and after it in its
/// sequence, by position in the sequence; a gap before the first or after the last value gets `fallback`.
pub fn interpolate_along(mut values: Vec<Option<f64>>, sequences: &[Vec<usize>], fallback: f64) -> Vec<f64> {
    for sequence in sequences {
        let known: Vec<(usize, f64)> = sequence
            .iter()
            .enumerate()
            .filter_map(|(step, &position)| values.get(position).copied().flatten().map(|value| (step, value)))
            .collect();
        let mut next_known = 0;
        for (step, &position) in sequence.iter().enumerate() {
            while next_known < known.len() && known[next_known].0 < step {
                next_known += 1;
            }
            if values.get(position).copied().flatten().is_some() {
                continue;
            }
            let before = next_known.checked_sub(1).and_then(|index| known.get(index));
            let filled = match (before, known.get(next_known)) {
                (Some(&(step_a, a)), Some(&(step_b, b))) => {
                    a + (b - a) * (step - step_a) as f64 / (step_b - step_a) as f64
                }
                _ => fallback,
            };
            if let Some(slot) = values.get_mut(position) {
                *slot = Some(filled);
            }
        }
    }
    values.into_iter().map(|value| value.unwrap_or(fallback)).collect()
}

/// How missing cells are filled; `T` is a number or a label.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fill<T> {
    /// The row is left out.
    Drop,
    /// A fitted (`mean`, `median`, `mode`) or given (`zero`, `constant`) value.
    Value(T),
    /// The previous value in file order within the group (`ffill`).
    Forward { fallback: T },
    /// The next value in file order within the group (`bfill`).
    Backward { fallback: T },
    /// Linear interpolation between the neighbouring values within the group.
    Interpolate { fallback: T },
}

impl<T> Fill<T> {
    /// Whether the fill reads neighbouring rows, so that row order matters.
    pub fn follows_order(&self) -> bool {
        matches!(self, Fill::Forward { .. } | Fill::Backward { .. } | Fill::Interpolate { .. })
    }
}

/// The fill of a numeric column: its training statistics for `mean`, `median` and `mode`, and the median for a
/// gap that `ffill`, `bfill` or `interpolate` cannot fill. A constant that is not a number is an error.
pub fn number_fill(spec: &Spec, feature: &Feature, stats: &NumericStats, diagnostics: &mut Diagnostics) -> Fill<f32> {
    let median = finite_f32(stats.median);
    match &feature.impute {
        Impute::Drop => Fill::Drop,
        Impute::Mean => Fill::Value(finite_f32(stats.mean)),
        Impute::Median => Fill::Value(median),
        Impute::Mode => Fill::Value(finite_f32(stats.mode)),
        Impute::Zero => Fill::Value(0.0),
        Impute::Constant(value) => match parse_number(value.text()) {
            Some(number) => Fill::Value(finite_f32(number)),
            // A column with no missing cell is never filled (the checker decides the same way).
            None if feature.missing == 0 => Fill::Value(median),
            None => {
                diagnostics.push(
                    Diagnostic::error(
                        "data::constant_kind",
                        format!("`{}` cannot fill the numeric column `{}`", value.text(), feature.name),
                    )
                    .at(strategy_span(spec, feature))
                    .with_label("not a number")
                    .with_help("fill a numeric column with a number, such as `{constant: 0}`, or with `median`"),
                );
                Fill::Value(0.0)
            }
        },
        Impute::Ffill => Fill::Forward { fallback: median },
        Impute::Bfill => Fill::Backward { fallback: median },
        Impute::Interpolate => Fill::Interpolate { fallback: median },
    }
}

/// The fill of a categorical or binary column, given its training `mode`; `label` turns a constant into the
/// column's label form. `interpolate` and the strategies that need numbers fill with the mode: the checker allows
/// them only where the training file has no missing cell.
pub fn label_fill(impute: &Impute, mode: String, label: impl Fn(&str) -> String) -> Fill<String> {
    match impute {
        Impute::Drop => Fill::Drop,
        Impute::Ffill => Fill::Forward { fallback: mode },
        Impute::Bfill => Fill::Backward { fallback: mode },
        Impute::Constant(value) => Fill::Value(label(value.text())),
        Impute::Mode | Impute::Mean | Impute::Median | Impute::Zero | Impute::Interpolate => Fill::Value(mode),
    }
}

/// `numbers` (one per row being transformed, `None` for a gap: a missing cell or one that is not a number) with
/// every gap filled as `fill` says.
pub fn fill_numbers(numbers: Vec<Option<f64>>, fill: &Fill<f32>, sequences: &[Vec<usize>]) -> Vec<f64> {
    match fill {
        Fill::Drop => numbers.into_iter().map(|number| number.unwrap_or(0.0)).collect(),
        Fill::Value(value) => numbers.into_iter().map(|number| number.unwrap_or(f64::from(*value))).collect(),
        Fill::Forward { fallback } => fill_along(numbers, sequences, Direction::Forward, &f64::from(*fallback)),
        Fill::Backward { fallback } => fill_along(numbers, sequences, Direction::Backward, &f64::from(*fallback)),
        Fill::Interpolate { fallback } => interpolate_along(numbers, sequences, f64::from(*fallback)),
    }
}

/// The category indices of a column's `cells` with their gaps filled, `None` for a label outside `categories`;
/// and the number of such cells that were not gaps (unseen categories). Interpolation has no meaning for labels
/// and fills with its fallback.
pub fn filled_codes(
    cells: &[Option<&str>],
    labels_numeric: bool,
    categories: &[String],
    fill: &Fill<String>,
    sequences: &[Vec<usize>],
) -> (Vec<Option<usize>>, usize) {
    let lookup: HashMap<&str, usize> = categories.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
    let code = |label: &str| lookup.get(label).copied();
    // Cells are trimmed already, so a text label needs no copy.
    let cell_code = |text: &str| if labels_numeric { code(&label_text(text, true)) } else { code(text) };
    let codes: Vec<Option<Option<usize>>> = cells.iter().map(|cell| cell.map(cell_code)).collect();
    let unseen = codes.iter().filter(|code| matches!(code, Some(None))).count();
    let filled = match fill {
        Fill::Drop => codes.into_iter().map(Option::flatten).collect(),
        Fill::Value(label) | Fill::Interpolate { fallback: label } => {
            codes.into_iter().map(|c| c.unwrap_or_else(|| code(label))).collect()
        }
        Fill::Forward { fallback } => fill_along(codes, sequences, Direction::Forward, &code(fallback)),
        Fill::Backward { fallback } => fill_along(codes, sequences, Direction::Backward, &code(fallback)),
    };
    (filled, unseen)
}

/// Where the strategy filling a feature is written: its `missing.columns` entry, else its kind's.
fn strategy_span(spec: &Spec, feature: &Feature) -> Span {
    let missing = &spec.data.missing;
    match missing.columns.iter().find(|(name, _)| name.value == feature.name) {
        Some((_, impute)) => impute.span,
        None if feature.kind == ColumnKind::Numeric => missing.numeric.span,
        None => missing.categorical.span,
    }
}

/// The error for a `{constant: V}` whose value is neither of a binary column's two values.
pub fn constant_outside_binary(spec: &Spec, feature: &Feature, label: &str, categories: &[String]) -> Diagnostic {
    let values: Vec<&str> = categories.iter().map(String::as_str).collect();
    Diagnostic::error(
        "data::constant_kind",
        format!("`{label}` cannot fill the binary column `{}`, whose values are {}", feature.name, quote_list(&values)),
    )
    .at(strategy_span(spec, feature))
    .with_label("a third value")
    .with_help(format!(
        "fill with one of its two values or `mode`, or declare `{}` categorical to give `{label}` its own column",
        feature.name
    ))
}

/// The warning for `ffill`, `bfill` and `interpolate` on rows that nothing puts in order.
pub fn fill_without_order(spec: &Spec, schema: &Schema, features: &[Feature]) -> Option<Diagnostic> {
    let has_date = schema.columns.iter().any(|column| column.kind == ColumnKind::Date || column.looks_like_date);
    if spec.data.split.value.group().is_some() || has_date {
        return None;
    }
    let ordered: Vec<&Feature> = features
        .iter()
        .filter(|feature| feature.missing > 0)
        .filter(|feature| match feature.impute {
            Impute::Ffill | Impute::Bfill => true,
            Impute::Interpolate => feature.kind == ColumnKind::Numeric,
            _ => false,
        })
        .collect();
    let first = ordered.first()?;
    let names: Vec<&str> = ordered.iter().map(|feature| feature.name.as_str()).collect();
    let mut strategies: Vec<&str> = ordered.iter().map(|feature| feature.impute.name()).collect();
    strategies.sort_unstable();
    strategies.dedup();
    Some(
        Diagnostic::warning(
            "data::fill_without_order",
            format!(
                "{} fill {} from neighbouring rows, but nothing says the rows are in order: there is no group column and no date column",
                quote_list(&strategies),
                quote_list(&names)
            ),
        )
        .at(strategy_span(spec, first))
        .with_label("fills from the previous or next row of the file")
        .with_help("sort the file by time within each patient and name the patient column as the split's `group`, or fill with `median` (numbers) or `mode` (categories)"),
    )
}

/// Original rows that a `drop` strategy removes: a missing cell in a feature column whose strategy is `drop`. The
/// caller removes them before splitting.
pub fn rows_dropped_by_strategy(features: &[Feature], table: &Table) -> Vec<usize> {
    let dropping: Vec<&Column> = features
        .iter()
        .filter(|feature| feature.impute == Impute::Drop)
        .filter_map(|feature| table.column(&feature.name))
        .collect();
    (0..table.rows()).filter(|&row| dropping.iter().any(|&column| table.is_missing(column, row))).collect()
}

/// The errors for cells of numeric columns that are not numbers, the first `max` one by one.
pub fn not_numbers(table: &Table, bad: &[(usize, String, String)], max: usize) -> Diagnostics {
    let mut diagnostics = Diagnostics::new();
    for (row, name, text) in bad.iter().take(max) {
        let line = table.line_of_row(*row);
        diagnostics.push(
            Diagnostic::error("data::not_numeric", format!("`{text}` in column `{name}` on line {line} is not a number"))
                .at_data(table.path(), line, Some(name))
                .with_help("the model was trained on numbers here: fix the value, or leave the cell empty (or write NA) to mark it missing"),
        );
    }
    if bad.len() > max {
        diagnostics.push(
            Diagnostic::error("data::not_numeric", format!("and {} more values that are not numbers", bad.len() - max))
                .at_file(table.path())
                .with_help("fix these values too, or leave the cells empty to mark them missing"),
        );
    }
    diagnostics
}

/// The warning for a file that lacks the group column within which rows are filled in order.
pub fn no_group_column(table: &Table, group: &str) -> Option<Diagnostic> {
    table.column(group).is_none().then(|| {
        Diagnostic::warning(
            "data::no_group_column",
            format!("the file has no column `{group}`: missing values are filled along the whole file"),
        )
        .at_file(table.path())
        .with_help(format!("add `{group}` so that values are filled from the same group's rows only"))
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::check::{check, check_with_split, Checked, DataView, Vocabularies};
    use crate::data::transform::{Applied, Transform};
    use crate::data::{infer_schema, read_csv_bytes, CsvOptions};
    use crate::spec::{Form, SpecFile};
    use std::path::{Path, PathBuf};

    /// A spec, its data and what the checker made of them.
    pub(crate) struct Fixture {
        pub spec: Spec,
        pub checked: Checked,
        pub schema: Schema,
        pub table: Table,
    }

    pub(crate) fn table(csv: &str) -> Table {
        read_csv_bytes(Path::new("t.csv"), csv.as_bytes(), &CsvOptions::default()).expect("reads")
    }

    /// A binary classifier of `y` with the `data` lines given (each `  key: value`), checked against `csv`.
    pub(crate) fn fixture(data: &str, csv: &str) -> Fixture {
        fixture_with(data, csv, BINARY_OUTPUT)
    }

    /// The output layer and the train section of a binary classifier.
    const BINARY_OUTPUT: &str = "{units: 1, activation: sigmoid}\ntrain:\n  loss: binary_crossentropy";

    pub(crate) fn regression(data: &str, csv: &str) -> Fixture {
        fixture_with(data, csv, "1\ntrain:\n  loss: mse")
    }

    fn fixture_with(data: &str, csv: &str, output: &str) -> Fixture {
        fixture_trained_on(data, csv, output, None)
    }

    /// A fixture whose categorical columns have the categories of the `train` rows, as the pipeline's split gives
    /// them; all rows' without `train`.
    fn fixture_trained_on(data: &str, csv: &str, output: &str, train: Option<&[usize]>) -> Fixture {
        let text = format!(
            "name: t\ndata:\n  source: t.csv\n  target: y\n{data}model:\n  - dense: {output}\n  \
             optimizer: {{adam: {{lr: 0.01}}}}\n  epochs: 1\n  batch_size: 2\n"
        );
        let mut diagnostics = Diagnostics::new();
        let file = SpecFile { path: PathBuf::from("t.yaml"), text, form: Form::Yaml };
        let lowered = file.parse(&mut diagnostics).expect("parses");
        let table = table(csv);
        let declared = lowered.spec.data.types.value.iter().map(|(c, k)| (c.value.clone(), k.value)).collect();
        let (schema, found) = infer_schema(&table, &declared);
        diagnostics.extend(found);
        let vocabularies = |_: &_, features: &[Feature]| -> Option<Vocabularies> {
            let train = train?;
            let categorical = features.iter().filter(|feature| feature.kind == ColumnKind::Categorical);
            let of = |name: &str| {
                let column = table.column(name).expect("a column");
                let cells = train.iter().filter_map(|&row| column.get(row));
                schema.column(name).expect("in the schema").categories_among(cells)
            };
            Some(categorical.map(|feature| (feature.name.clone(), of(&feature.name))).collect())
        };
        let checked = check_with_split(&lowered, DataView::Table(&schema), vocabularies, &mut diagnostics);
        let checked = checked.unwrap_or_else(|| panic!("the checker refused: {diagnostics:#?}"));
        Fixture { spec: lowered.spec, checked, schema, table }
    }

    /// Fits on `train` rows; returns the transform and the codes of the diagnostics.
    pub(crate) fn fit(fixture: &Fixture, train: &[usize]) -> (Transform, Vec<&'static str>) {
        let mut diagnostics = Diagnostics::new();
        let f = fixture;
        let transform = Transform::fit(&f.spec, &f.checked, &f.schema, &f.table, train, &mut diagnostics);
        (transform, diagnostics.items.iter().map(|d| d.code).collect())
    }

    pub(crate) fn all_rows(table: &Table) -> Vec<usize> {
        (0..table.rows()).collect()
    }

    /// One input column of every row.
    pub(crate) fn input(applied: &Applied, index: usize) -> Vec<f32> {
        applied.features.column(index).to_vec()
    }

    #[test]
    fn statistics_of_a_column() {
        let stats = NumericStats::of(vec![4.0, 1.0, 3.0, 2.0, 2.0], true, true);
        assert_eq!((stats.count, stats.mean, stats.min, stats.max), (5, 2.4, 1.0, 4.0));
        assert_eq!((stats.q1, stats.median, stats.q3, stats.mode), (2.0, 2.0, 3.0, 2.0));
        assert!((stats.std - 1.04f64.sqrt()).abs() < 1e-12);
        let even = NumericStats::of(vec![1.0, 2.0, 3.0, 4.0], true, true);
        assert_eq!((even.q1, even.median, even.q3, even.mode), (1.75, 2.5, 3.25, 1.0));
        assert_eq!(NumericStats::of(Vec::new(), true, true).count, 0);
        let plain = NumericStats::of(vec![4.0, 1.0, 3.0, 2.0, 2.0], false, false);
        assert_eq!((plain.q1, plain.median, plain.q3, plain.mode), (2.0, 2.0, 2.0, 2.0));
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    #[test]
    fn mode_index_prefers_the_lowest_on_a_tie() {
        assert_eq!(mode_index([2, 1, 2, 1, 0], 3), Some(1));
        assert_eq!(mode_index([5, 7], 3), None);
        assert_eq!(mode_index([], 0), None);
    }

    #[test]
    fn fills_follow_file_order_within_sequences() {
        let sequences = vec![vec![2, 0, 4], vec![1, 3]];
        let values = vec![None, Some(1.0), Some(5.0), None, None];
        assert_eq!(fill_along(values.clone(), &sequences, Direction::Forward, &9.0), [5.0, 1.0, 5.0, 1.0, 5.0]);
        assert_eq!(fill_along(values.clone(), &sequences, Direction::Backward, &9.0), [9.0, 1.0, 5.0, 9.0, 9.0]);
        let line = vec![vec![0, 1, 2, 3, 4, 5]];
        let gaps = vec![None, Some(1.0), None, None, Some(4.0), None];
        assert_eq!(interpolate_along(gaps, &line, 7.0), [7.0, 1.0, 2.0, 3.0, 4.0, 7.0]);
    }

    const NUMBERS: &str = "x,y\n1,a\n1,b\nNA,a\n5,b\n6,a\n7,b\n";
    const LABELS: &str = "c,y\nred,a\nred,b\nNA,a\nblue,b\ngreen,a\nred,b\n";

    /// Fits on every row and applies to every row.
    fn fit_apply(data: &str, csv: &str) -> (Applied, Vec<&'static str>) {
        let fixture = fixture(data, csv);
        let (transform, codes) = fit(&fixture, &all_rows(&fixture.table));
        (transform.apply(&fixture.table, &all_rows(&fixture.table)).expect("applies"), codes)
    }

    #[test]
    fn every_numeric_strategy_per_kind_and_per_column() {
        let cases = [
            ("mean", 4.0),
            ("median", 5.0),
            ("mode", 1.0),
            ("zero", 0.0),
            ("{constant: 7}", 7.0),
            ("ffill", 1.0),
            ("bfill", 5.0),
            ("interpolate", 3.0),
        ];
        for (strategy, expected) in cases {
            for missing in [format!("{{numeric: {strategy}}}"), format!("{{columns: {{x: {strategy}}}}}")] {
                let (applied, _) = fit_apply(&format!("  scale: none\n  missing: {missing}\n"), NUMBERS);
                assert_eq!((input(&applied, 0)[2], applied.imputed), (expected, 1), "{missing}");
                assert_eq!(input(&applied, 0)[3], 5.0);
            }
        }
    }

    #[test]
    fn every_categorical_strategy_per_kind_and_per_column() {
        // The vocabulary is blue, green, red; ordinal inputs are the indices.
        let cases =
            [("mode", 2.0), ("{constant: green}", 1.0), ("{constant: unknown}", 3.0), ("ffill", 2.0), ("bfill", 0.0)];
        for (strategy, expected) in cases {
            for missing in [format!("{{categorical: {strategy}}}"), format!("{{columns: {{c: {strategy}}}}}")] {
                let (applied, _) = fit_apply(&format!("  encode: ordinal\n  missing: {missing}\n"), LABELS);
                assert_eq!((input(&applied, 0)[2], applied.imputed), (expected, 1), "{missing}");
                assert!(applied.unseen.is_empty());
            }
        }
    }

    #[test]
    fn a_new_constant_category_gets_its_own_one_hot_column() {
        let mut fixture = fixture("  missing: {categorical: {constant: unknown}}\n", LABELS);
        // The checker counts a constant outside the vocabulary as one more category.
        fixture.checked.features[0].width = 4;
        let (transform, codes) = fit(&fixture, &all_rows(&fixture.table));
        assert!(codes.is_empty(), "{codes:?}");
        assert_eq!(transform.input_names(), ["c=blue", "c=green", "c=red", "c=unknown"]);
        let applied = transform.apply(&fixture.table, &[2, 3]).expect("applies");
        assert_eq!(applied.features, ndarray::arr2(&[[0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0]]));
    }

    /// Issue 16: the check counts a categorical column's inputs from the training rows' categories, as the
    /// transform does, also when those rows hold none of them but a constant fills their gaps.
    #[test]
    fn the_checked_width_is_the_fitted_width_for_the_training_rows_categories() {
        for (train, names) in [
            (vec![0, 1, 2], vec!["c=red", "c=unknown"]),
            (vec![2], vec!["c=unknown"]),
            (vec![3, 4], vec!["c=blue", "c=green", "c=unknown"]),
        ] {
            let data = "  missing: {categorical: {constant: unknown}}\n";
            let fixture = fixture_trained_on(data, LABELS, BINARY_OUTPUT, Some(&train));
            let (transform, codes) = fit(&fixture, &train);
            assert!(codes.is_empty(), "{train:?}: {codes:?}");
            assert_eq!(transform.input_names(), names, "{train:?}");
            assert_eq!(fixture.checked.input_shape, [names.len()], "{train:?}");
        }
    }

    #[test]
    fn a_constant_that_cannot_fill_its_column_is_an_error() {
        // The checker refuses these before anything is fitted, so `galen check` reports them too.
        let text = "name: t\ndata:\n  source: t.csv\n  target: y\n  missing: {numeric: {constant: high}, categorical: {constant: maybe}}\nmodel:\n  - dense: {units: 2, activation: softmax}\ntrain:\n  loss: categorical_crossentropy\n  epochs: 1\n";
        let mut diagnostics = Diagnostics::new();
        let file = SpecFile { path: PathBuf::from("t.yaml"), text: text.to_string(), form: Form::Yaml };
        let lowered = file.parse(&mut diagnostics).expect("parses");
        let table = table("x,s,y\n1,yes,a\nNA,NA,b\n3,no,a\n");
        let (schema, _) = infer_schema(&table, &Default::default());
        assert!(check(&lowered, DataView::Table(&schema), &mut diagnostics).is_none());
        let codes: Vec<&str> = diagnostics.items.iter().map(|d| d.code).collect();
        assert_eq!(codes.iter().filter(|code| **code == "check::constant_kind").count(), 2, "{codes:?}");
    }

    #[test]
    fn drop_leaves_rows_out_before_the_split_and_when_applied() {
        let csv = "x,c,y\n1,red,a\nNA,blue,b\n3,NA,a\n4,green,b\n";
        let fixture = fixture("  missing: {columns: {x: drop}}\n", csv);
        assert_eq!(rows_dropped_by_strategy(&fixture.checked.features, &fixture.table), [1]);
        let (transform, _) = fit(&fixture, &[0, 2, 3]);
        let applied = transform.apply(&fixture.table, &[3, 1, 2, 0]).expect("applies");
        assert_eq!((applied.rows, applied.imputed), (vec![3, 2, 0], 1));
        let fixture = self::fixture("  missing: drop\n", csv);
        assert_eq!(rows_dropped_by_strategy(&fixture.checked.features, &fixture.table), [1, 2]);
    }

    const VISITS: &str = "p,x,y\nA,NA,a\nB,10,b\nA,1,a\nB,NA,b\nA,NA,a\nB,30,b\nA,3,a\nA,NA,b\n";

    #[test]
    fn ordered_fills_stay_within_groups_in_file_order() {
        let split = "  split: {train: 0.5, val: 0.25, test: 0.25, group: p}\n";
        // Rows 0 (A's first), 3 (B, between 10 and 30), 4 (A, between 1 and 3) and 7 (A's last) are missing; the
        // training median is 6.5.
        let cases = [
            ("ffill", [6.5, 10.0, 1.0, 3.0]),
            ("bfill", [1.0, 30.0, 3.0, 6.5]),
            ("interpolate", [6.5, 20.0, 2.0, 6.5]),
        ];
        let shuffled = [7, 3, 0, 5, 1, 6, 2, 4];
        for (strategy, [row0, row3, row4, row7]) in cases {
            let fixture = fixture(&format!("  scale: none\n  missing: {{numeric: {strategy}}}\n{split}"), VISITS);
            let (transform, codes) = fit(&fixture, &all_rows(&fixture.table));
            assert!(codes.is_empty(), "{codes:?}");
            let applied = transform.apply(&fixture.table, &shuffled).expect("applies");
            assert_eq!(applied.rows, shuffled);
            assert_eq!(input(&applied, 0), [row7, row3, row0, 30.0, 10.0, 3.0, 1.0, row4], "{strategy}");
        }
        // Only the rows being transformed are neighbours: without row 6, row 4 has no later value in its group.
        let fixture = fixture(&format!("  scale: none\n  missing: {{numeric: bfill}}\n{split}"), VISITS);
        let applied = fit(&fixture, &[1, 2, 5, 6]).0.apply(&fixture.table, &[0, 2, 4]).expect("applies");
        assert_eq!(input(&applied, 0), [1.0, 1.0, 6.5]);
    }

    #[test]
    fn ordered_fills_on_rows_without_order_draw_a_warning() {
        assert_eq!(fit_apply("  missing: {numeric: ffill}\n", NUMBERS).1, ["data::fill_without_order"]);
        assert_eq!(fit_apply("  missing: {columns: {c: bfill}}\n", LABELS).1, ["data::fill_without_order"]);
        assert!(fit_apply("  missing: {numeric: ffill}\n", "x,y\n1,a\n2,b\n").1.is_empty());
        let dated = "day,x,y\n2021-01-01,1,a\n2021-01-02,NA,b\n2021-01-03,3,a\n";
        assert!(fit_apply("  exclude: [day]\n  missing: {numeric: interpolate}\n", dated).1.is_empty());
    }

    #[test]
    fn indicator_marks_missing_cells_of_columns_that_have_some() {
        let csv = "x,c,z,y\n1,red,1,a\nNA,blue,2,b\n3,,3,a\n5,green,4,b\n";
        let fixture = fixture("  scale: none\n  missing: {indicator: true}\n", csv);
        let (transform, _) = fit(&fixture, &all_rows(&fixture.table));
        let names = ["x", "x (missing)", "c=blue", "c=green", "c=red", "c (missing)", "z"];
        assert_eq!(transform.input_names(), names);
        assert_eq!(transform.width(), fixture.checked.features.iter().map(|f| f.width).sum::<usize>());
        let applied = transform.apply(&fixture.table, &all_rows(&fixture.table)).expect("applies");
        assert_eq!((input(&applied, 1), input(&applied, 5)), (vec![0.0, 1.0, 0.0, 0.0], vec![0.0, 0.0, 1.0, 0.0]));
        assert_eq!((input(&applied, 0)[1], input(&applied, 2)[2], applied.imputed), (3.0, 1.0, 2));
    }

    #[test]
    fn odd_predict_files_give_inputs_or_errors_never_a_panic() {
        use rand::{Rng, SeedableRng};
        let data = "  missing: {indicator: true, numeric: interpolate, categorical: ffill}\n  split: {train: 0.5, val: 0.25, test: 0.25, group: p}\n";
        let fixture = fixture(data, "p,x,c,y\nA,1,red,a\nA,NA,blue,b\nB,3,NA,a\nB,4,green,b\n");
        let (transform, _) = fit(&fixture, &[0, 1, 2]);
        let pieces = ["1", "-2.5", "1e300", "NA", "", "red", "blue", "?", "x", "A", "B"];
        let mut random = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..300 {
            let rows = random.gen_range(1..6);
            let mut csv = String::from("x,c,p\n");
            for _ in 0..rows {
                let cells: Vec<&str> = (0..3).map(|_| pieces[random.gen_range(0..pieces.len())]).collect();
                csv.push_str(&format!("{}\n", cells.join(",")));
            }
            let table = table(&csv);
            let chosen: Vec<usize> = (0..random.gen_range(0..8)).map(|_| random.gen_range(0..rows + 2)).collect();
            match transform.apply(&table, &chosen) {
                Ok(applied) => assert!(applied.features.iter().all(|x| x.is_finite()), "{csv}"),
                Err(found) => assert!(found.items.iter().all(|d| d.code == "data::not_numeric"), "{csv}"),
            }
        }
        let json = transform.to_json();
        for cut in (0..json.len()).step_by(7) {
            let _ = Transform::from_json(&json[..cut]);
        }
    }
}
