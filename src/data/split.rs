//! Assigning the usable rows to train, validation and test, and to cross-validation folds: seeded and stable.
//!
//! Every random choice draws from `Streams::stream(Purpose::Split)` through `rng::shuffle`, and every count is
//! integer arithmetic, so the same seed gives the same plan on every machine. Without a group column the counts are
//! exact: the rows of each class (all rows as one class when not stratifying) are apportioned among the splits so
//! that every class total and every split total is met and each class's share of a split is its ideal share rounded
//! down or up (largest remainders first, completed by augmenting paths where plain largest remainders would miss a
//! total); then each class's rows are shuffled and cut. With a group column whole groups are dealt, largest first,
//! to the split that most lacks their classes, so counts are approximate but no group (patient) is in two splits.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;

use crate::diagnostics::{did_you_mean, Diagnostic, Diagnostics, Span};
use crate::rng::{self, ChaCha20Rng, Purpose, Streams};
use crate::spec::ast::{Spanned, Split};

/// The rows to split: usable rows only (rows with a missing target were dropped before), in file order.
pub struct SplitRows<'a> {
    /// Original row index (into the Table) of each usable row, ascending.
    pub rows: &'a [usize],
    /// Class index of each usable row (aligned with `rows`), for stratification; None for a regression.
    pub classes: Option<&'a [u32]>,
    /// The class names, indexed by class index (for messages).
    pub class_names: &'a [String],
    /// The group (patient) of each usable row when `split.group` is set, aligned with `rows`; a missing group cell
    /// is an error reported by the caller, so every entry is present.
    pub groups: Option<&'a [String]>,
    /// For a `column:` split, the split column's value of each usable row, aligned with `rows`.
    pub assigned: Option<&'a [String]>,
}

/// Which original rows go where; every list ascending.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitPlan {
    /// Rows the model is fitted on; for k-fold, every row not held out for the test.
    pub train: Vec<usize>,
    /// Rows for validation; empty for k-fold, where each fold has its own.
    pub val: Vec<usize>,
    /// Rows held out for the final test; empty when the test rows come from `test_file`.
    pub test: Vec<usize>,
    /// The cross-validation folds; empty unless the split is `k_fold`.
    pub folds: Vec<Fold>,
}

/// One cross-validation fold.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Fold {
    /// The rows of every other fold.
    pub train: Vec<usize>,
    /// The rows of this fold.
    pub val: Vec<usize>,
}

/// Where one row of the data file went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assigned {
    /// Among the rows the final model is fitted on (every non-test row under k-fold).
    Train,
    /// A validation row.
    Val,
    /// A test row.
    Test,
    /// Left out before the split: a missing target, a `drop` strategy's gap, a missing group.
    Dropped,
}

impl Assigned {
    /// The name `splits.csv` writes: `train`, `val`, `test` or `dropped`.
    pub fn name(self) -> &'static str {
        match self {
            Assigned::Train => "train",
            Assigned::Val => "val",
            Assigned::Test => "test",
            Assigned::Dropped => "dropped",
        }
    }
}

impl SplitPlan {
    /// Where each of the file's first `rows` rows went, in row order, with its cross-validation fold (counted from
    /// 1: the fold that holds the row out) under k-fold. A row in no list was left out before the split.
    pub fn assignment(&self, rows: usize) -> Vec<(Assigned, Option<usize>)> {
        let mut assigned = vec![(Assigned::Dropped, None); rows];
        let lists = [(&self.train, Assigned::Train), (&self.val, Assigned::Val), (&self.test, Assigned::Test)];
        for (list, part) in lists {
            for &row in list.iter() {
                if let Some(entry) = assigned.get_mut(row) {
                    entry.0 = part;
                }
            }
        }
        for (index, fold) in self.folds.iter().enumerate() {
            for &row in &fold.val {
                if let Some(entry) = assigned.get_mut(row) {
                    entry.1 = Some(index + 1);
                }
            }
        }
        assigned
    }
}

/// Plans the split; errors and warnings go to `diagnostics` (pointing at `split.span` or the relevant field's span);
/// None when the split is impossible.
pub fn plan_split(
    split: &Spanned<Split>,
    rows: &SplitRows,
    streams: &Streams,
    diagnostics: &mut Diagnostics,
) -> Option<SplitPlan> {
    let errors_before = diagnostics.error_count();
    let mut planner = Planner::new(split, rows, streams, diagnostics)?;
    let plan = match &split.value {
        Split::Fractions { train, val, test, .. } => planner.fractions(&[("val", val), ("test", test)], train.span),
        Split::TestFile { val, .. } => planner.fractions(&[("val", val)], split.span),
        Split::Column { column } => planner.column(column, rows.assigned.unwrap_or_default()),
        Split::KFold { folds, test, .. } => planner.k_fold(folds, test),
    };
    plan.filter(|_| planner.diagnostics.error_count() == errors_before)
}

/// The rows being split, seen by position (`0..n`, an index into `SplitRows::rows`), with the Split stream and the
/// diagnostics being collected.
struct Planner<'a, 'd> {
    rows: &'a [usize],
    /// The class of each position, renumbered densely in label order.
    classes: Option<Vec<usize>>,
    class_names: Vec<String>,
    /// The stratum of each position (its class when stratifying, else 0) and how many strata there are.
    strata: (Vec<usize>, usize),
    groups: Option<(&'a [String], &'a Spanned<String>)>,
    span: Span,
    rng: ChaCha20Rng,
    diagnostics: &'d mut Diagnostics,
}

/// One part the rows are divided into: its name in messages, its row target and where the spec asks for it.
struct Part {
    name: String,
    target: usize,
    span: Span,
}

impl Part {
    fn new(name: impl Into<String>, target: usize, span: Span) -> Part {
        Part { name: name.into(), target, span }
    }
}

impl<'a, 'd> Planner<'a, 'd> {
    fn new(
        split: &'a Spanned<Split>,
        rows: &SplitRows<'a>,
        streams: &Streams,
        diagnostics: &'d mut Diagnostics,
    ) -> Option<Self> {
        let n = rows.rows.len();
        let (stratify, group) = match &split.value {
            Split::Fractions { stratify, group, .. }
            | Split::TestFile { stratify, group, .. }
            | Split::KFold { stratify, group, .. } => (stratify.value, group.as_ref()),
            Split::Column { .. } => (false, None),
        };
        let groups = group.map(|column| (rows.groups.unwrap_or_default(), column));
        let assigned = matches!(split.value, Split::Column { .. }).then(|| rows.assigned.unwrap_or_default().len());
        let aligned = rows.classes.is_none_or(|classes| classes.len() == n)
            && groups.is_none_or(|(groups, _)| groups.len() == n)
            && assigned.is_none_or(|len| len == n);
        let labels: BTreeSet<u32> = rows.classes.unwrap_or_default().iter().copied().collect();
        let dense: BTreeMap<u32, usize> = labels.iter().enumerate().map(|(index, &label)| (label, index)).collect();
        let class_names = labels
            .iter()
            .map(|&label| rows.class_names.get(label as usize).cloned().unwrap_or_else(|| format!("#{label}")))
            .collect();
        let classes = rows.classes.map(|classes| classes.iter().map(|label| dense[label]).collect());
        let strata = match classes.clone().filter(|_| stratify) {
            Some(classes) => (classes, labels.len()),
            None => (vec![0; n], 1),
        };
        let (span, rng) = (split.span, streams.stream(Purpose::Split));
        let mut planner = Planner { rows: rows.rows, classes, class_names, strata, groups, span, rng, diagnostics };
        if !aligned {
            let message = "internal: the classes, groups or split column values are not one per row";
            planner.error(
                "split::bad_input",
                split.span,
                message,
                "this is a bug in galen: please report it with the spec",
            );
        } else if n == 0 {
            let help = "check that the data file has rows and that their target cells are filled in";
            planner.error("split::no_rows", split.span, "there are no usable rows to split", help);
        }
        (aligned && n > 0).then_some(planner)
    }

    fn error(&mut self, code: &'static str, span: Span, message: impl Into<String>, help: impl Into<String>) {
        self.diagnostics.push(Diagnostic::error(code, message).at(span).with_help(help));
    }

    fn warn(&mut self, code: &'static str, span: Span, message: impl Into<String>, help: impl Into<String>) {
        self.diagnostics.push(Diagnostic::warning(code, message).at(span).with_help(help));
    }

    /// A fraction split (or a test-file split): `[train, val, test]` with train taking what the others leave.
    fn fractions(&mut self, fractions: &[(&str, &Spanned<f64>)], train_span: Span) -> Option<SplitPlan> {
        let parts = self.fraction_parts(fractions, train_span)?;
        let all: Vec<usize> = (0..self.rows.len()).collect();
        let buckets = self.divide(&all, &parts)?;
        self.warn_missing_classes(&parts, &buckets);
        Some(self.plan_of(&buckets))
    }

    /// The train/val/test plan of buckets in that order (absent ones empty).
    fn plan_of(&self, buckets: &[Vec<usize>]) -> SplitPlan {
        let part = |index: usize| buckets.get(index).map_or(Vec::new(), |bucket| self.original(bucket));
        SplitPlan { train: part(0), val: part(1), test: part(2), folds: Vec::new() }
    }

    /// The parts of a fraction split, `[train, named...]`: each named count is `round(fraction * n)` and train takes
    /// the rest. Reports a part that would be empty though its fraction is above zero, and an empty train part.
    fn fraction_parts(&mut self, fractions: &[(&str, &Spanned<f64>)], train_span: Span) -> Option<Vec<Part>> {
        let n = self.rows.len();
        let mut parts = vec![Part::new("train", 0, train_span)];
        let mut sound = true;
        for (name, fraction) in fractions {
            let target = rounded(fraction.value, n);
            if !(0.0..=1.0).contains(&fraction.value) {
                sound = false;
                let message = format!("`{name}` is {}, not a fraction", fraction.value);
                let help = "a fraction lies between 0 and 1, such as 0.2 for a fifth of the rows";
                self.error("split::bad_fraction", fraction.span, message, help);
            } else if target == 0 && fraction.value > 0.0 {
                sound = false;
                let message =
                    format!("the {name} split would be empty: {} of {} rounds to 0 rows", fraction.value, rows(n));
                let help = format!(
                    "raise `{name}` to at least {} (one row of {n}), or set it to 0 to have no {name} rows",
                    one_row_fraction(n)
                );
                self.error("split::empty", fraction.span, message, help);
            }
            parts.push(Part::new(*name, target, fraction.span));
        }
        let taken = parts.iter().map(|part| part.target).fold(0, usize::saturating_add);
        if taken >= n {
            let asked: Vec<String> =
                fractions.iter().map(|(name, fraction)| format!("{name} {}", fraction.value)).collect();
            let message = format!("the train split would be empty: {} take all {}", and_list(&asked), rows(n));
            let help = "lower the other fractions so that some rows remain for training, or add rows";
            self.error("split::empty", train_span, message, help);
        }
        parts[0].target = n.saturating_sub(taken);
        (sound && taken < n).then_some(parts)
    }

    /// Divides `positions` among `parts` (each bucket ascending); with a group column, reports too few groups for
    /// the parts and warns about a part far off its target.
    fn divide(&mut self, positions: &[usize], parts: &[Part]) -> Option<Vec<Vec<usize>>> {
        let targets: Vec<usize> = parts.iter().map(|part| part.target).collect();
        let mut buckets = match self.groups {
            None => self.divide_rows(positions, &targets),
            Some((groups, column)) => {
                let wanted: Vec<String> =
                    parts.iter().filter(|part| part.target > 0).map(|part| part.name.clone()).collect();
                let units = self.unit_count(positions);
                if units < wanted.len() {
                    let (count, list) = (wanted.len(), and_list(&wanted));
                    let message = format!(
                        "only {units} `{}` group(s) for {count} splits ({list}): one would be empty",
                        column.value
                    );
                    let help =
                        "each group stays in one split: use fewer splits (set a fraction to 0), or add more groups";
                    self.error("split::empty", column.span, message, help);
                    return None;
                }
                self.divide_groups(groups, positions, &targets)
            }
        };
        buckets.par_iter_mut().for_each(|bucket| bucket.par_sort_unstable());
        for (part, got) in parts.iter().zip(buckets.iter().map(Vec::len)) {
            if let Some((_, column)) = self.groups.filter(|_| got.abs_diff(part.target) > (part.target / 5).max(2)) {
                let (name, column) = (&part.name, &column.value);
                let message =
                    format!("keeping `{column}` groups whole gives the {name} split {got} rows, not {}", part.target);
                let help = format!("a few `{column}` groups hold many rows: check that the column identifies patients");
                self.warn("split::uneven_groups", part.span, message, help);
            }
        }
        Some(buckets)
    }

    /// Divides positions with exact counts: each stratum's rows are apportioned, shuffled and cut in part order.
    fn divide_rows(&mut self, positions: &[usize], targets: &[usize]) -> Vec<Vec<usize>> {
        let mut strata = vec![Vec::new(); self.strata.1];
        positions.iter().for_each(|&position| strata[self.strata.0[position]].push(position));
        let counts: Vec<usize> = strata.iter().map(Vec::len).collect();
        let mut buckets = vec![Vec::new(); targets.len()];
        for (mut members, row) in strata.into_iter().zip(apportion(&counts, targets)) {
            rng::shuffle(&mut members, &mut self.rng);
            let mut start = 0;
            for (bucket, count) in buckets.iter_mut().zip(row) {
                let end = (start + count).min(members.len());
                bucket.extend_from_slice(&members[start..end]);
                start = end;
            }
            // Never taken when the apportionment meets every stratum total; kept so that no row is ever lost.
            buckets[0].extend_from_slice(&members[start..]);
        }
        buckets
    }

    /// Divides whole groups: shuffled, then largest first, each to the part that most lacks its classes (its rows
    /// when not stratifying); a part with a target that got no group then takes the smallest of the fullest part.
    fn divide_groups(&mut self, groups: &[String], positions: &[usize], targets: &[usize]) -> Vec<Vec<usize>> {
        let mut by_group: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        positions.iter().for_each(|&position| by_group.entry(groups[position].as_str()).or_default().push(position));
        let mut units: Vec<Vec<usize>> = by_group.into_values().collect();
        rng::shuffle(&mut units, &mut self.rng);
        units.sort_by_key(|unit| Reverse(unit.len()));
        let mut owner = self.deal_units(&units, targets);
        fill_empty_parts(&units, &mut owner, targets);
        let mut buckets = vec![Vec::new(); targets.len()];
        units.iter().zip(owner).for_each(|(unit, part)| buckets[part].extend_from_slice(unit));
        buckets
    }

    /// The part of each unit: the part whose per-stratum shortfall, weighted by the unit's stratum mix, is largest
    /// (scaled by n so that it is exact integer arithmetic); ties go to the larger row shortfall, then the first part.
    fn deal_units(&self, units: &[Vec<usize>], targets: &[usize]) -> Vec<usize> {
        let n = units.iter().map(Vec::len).sum::<usize>() as i128;
        let mut totals = vec![0i128; self.strata.1];
        units.iter().flatten().for_each(|&position| totals[self.strata.0[position]] += 1);
        let mut placed = vec![vec![0i128; self.strata.1]; targets.len()];
        let mut sizes = vec![0i128; targets.len()];
        let mut owner = Vec::with_capacity(units.len());
        for unit in units {
            let mut mix: BTreeMap<usize, i128> = BTreeMap::new();
            unit.iter().for_each(|&position| *mix.entry(self.strata.0[position]).or_default() += 1);
            let shortfall = |part: usize, target: i128| -> (i128, i128) {
                let need = mix.iter().map(|(&s, &count)| count * (totals[s] * target - n * placed[part][s])).sum();
                (need, target - sizes[part])
            };
            let part = (0..targets.len())
                .filter(|&part| targets[part] > 0)
                .max_by_key(|&part| (shortfall(part, targets[part] as i128), Reverse(part)))
                .unwrap_or(0);
            mix.iter().for_each(|(&s, &count)| placed[part][s] += count);
            sizes[part] += unit.len() as i128;
            owner.push(part);
        }
        owner
    }

    /// Warns about each class that some non-empty part lacks, naming the class, its row count and the parts.
    fn warn_missing_classes(&mut self, parts: &[Part], buckets: &[Vec<usize>]) {
        let Some(classes) = &self.classes else { return };
        let filled: Vec<(&Part, &Vec<usize>)> =
            parts.iter().zip(buckets).filter(|(_, rows)| !rows.is_empty()).collect();
        for (class, name) in self.class_names.iter().enumerate() {
            let count = |rows: &[usize]| rows.iter().filter(|&&p| classes[p] == class).count();
            let total: usize = filled.iter().map(|(_, rows)| count(rows)).sum();
            let missing: Vec<String> =
                filled.iter().filter(|(_, rows)| count(rows) == 0).map(|(part, _)| part.name.clone()).collect();
            if total == 0 || missing.is_empty() {
                continue;
            }
            let rare = total < filled.len();
            let (count, list, splits) = (rows(total), and_list(&missing), filled.len());
            let (code, message) = match rare {
                true => (
                    "split::rare_class",
                    format!("class `{name}` has only {count}, too few for all {splits} splits: none in {list}"),
                ),
                false => ("split::class_missing", format!("class `{name}` ({count}) has no row in {list}")),
            };
            let help = match (self.groups.is_some(), self.strata.1 > 1, rare) {
                (true, ..) => "its rows belong to few groups, and each group stays in one split",
                (false, false, _) => "stratify the split to spread every class over every split",
                (false, true, true) => {
                    "collect more rows of this class, merge it with a related class, or use fewer splits"
                }
                (false, true, false) => {
                    "its share of those splits rounds to zero rows; a larger fraction would include it"
                }
            };
            self.diagnostics.push(Diagnostic::warning(code, message).at(self.span).with_help(help));
        }
    }

    /// A split given row by row in a column: `train`, `val` or `validation`, `test` (any case, trimmed).
    fn column(&mut self, column: &Spanned<String>, assigned: &[String]) -> Option<SplitPlan> {
        let mut buckets = vec![Vec::new(); 3];
        let mut unknown: BTreeMap<&str, usize> = BTreeMap::new();
        for (position, value) in assigned.iter().enumerate() {
            match value.trim().to_lowercase().as_str() {
                "train" => buckets[0].push(position),
                "val" | "validation" => buckets[1].push(position),
                "test" => buckets[2].push(position),
                _ => *unknown.entry(value.trim()).or_default() += 1,
            }
        }
        let rule = "every row needs `train`, `val` (or `validation`) or `test`";
        if !unknown.is_empty() {
            let describe = |(value, count): (&&str, &usize)| match value.is_empty() {
                true => format!("an empty cell ({})", rows(*count)),
                false => format!("`{value}` ({})", rows(*count)),
            };
            let mut values: Vec<String> = unknown.iter().take(5).map(describe).collect();
            values.extend((unknown.len() > 5).then(|| format!("{} other values", unknown.len() - 5)));
            let message =
                format!("the split column `{}` holds values that name no split: {}", column.value, and_list(&values));
            let close = unknown.keys().find_map(|value| {
                did_you_mean(value, ["train", "val", "validation", "test"]).map(|close| (value, close))
            });
            let help = close
                .map_or(rule.to_string(), |(value, close)| format!("{rule} (did you mean `{close}` for `{value}`?)"));
            self.error("split::unknown_value", column.span, message, help);
        }
        if buckets[0].is_empty() {
            let message = format!("no row of the split column `{}` says `train`", column.value);
            let help = "mark the rows to train on with `train` in this column";
            self.error("split::empty", column.span, message, help);
        } else if buckets[1].is_empty() {
            let message =
                format!("no row of the split column `{}` says `val`: there are no validation rows", column.value);
            let help = "mark some rows `val` if training should watch a validation metric such as `val_loss`";
            self.warn("split::no_validation_rows", column.span, message, help);
        }
        let parts: Vec<Part> =
            ["train", "val", "test"].into_iter().map(|name| Part::new(name, 0, column.span)).collect();
        self.warn_missing_classes(&parts, &buckets);
        Some(self.plan_of(&buckets))
    }

    /// Cross-validation: the test rows are held out as for fractions, then the rest is divided into `k` folds.
    fn k_fold(&mut self, folds: &Spanned<usize>, test: &Spanned<f64>) -> Option<SplitPlan> {
        let holdout = self.fraction_parts(&[("test", test)], self.span)?;
        let all: Vec<usize> = (0..self.rows.len()).collect();
        let mut buckets = self.divide(&all, &holdout)?;
        // `[rest, test]` becomes `rest` and `[test]`, to which the folds are added.
        let rest = buckets.swap_remove(0);
        let (k, units) = (folds.value, self.unit_count(&rest));
        if k < 2 || k > units {
            self.report_fold_count(folds, units);
            return None;
        }
        let mut parts = vec![Part::new("test", buckets[0].len(), test.span)];
        let fold_size = |i: usize| rest.len() / k + usize::from(i < rest.len() % k);
        parts.extend((0..k).map(|i| Part::new(format!("fold {}", i + 1), fold_size(i), folds.span)));
        buckets.extend(self.divide(&rest, &parts[1..])?);
        self.warn_missing_classes(&parts, &buckets);
        let folds = (1..buckets.len())
            .map(|i| {
                let others: Vec<usize> =
                    (1..buckets.len()).filter(|&j| j != i).flat_map(|j| buckets[j].clone()).collect();
                Fold { train: self.original(&others), val: self.original(&buckets[i]) }
            })
            .collect();
        Some(SplitPlan { train: self.original(&rest), val: Vec::new(), test: self.original(&buckets[0]), folds })
    }

    fn report_fold_count(&mut self, folds: &Spanned<usize>, units: usize) {
        let what = self.groups.map_or("rows".to_string(), |(_, column)| format!("`{}` groups", column.value));
        let k = folds.value;
        let message =
            format!("{k} folds need at least {} {what}; the rows outside the test split hold {units}", k.max(2));
        let help = match units {
            0 | 1 => "there are too few rows for cross-validation: split by fractions instead".to_string(),
            _ => format!("use between 2 and {units} folds"),
        };
        self.error("split::too_many_folds", folds.span, message, help);
    }

    /// How many indivisible units (groups, or rows when there is no group column) the positions hold.
    fn unit_count(&self, positions: &[usize]) -> usize {
        match self.groups {
            Some((groups, _)) => positions.iter().map(|&p| groups[p].as_str()).collect::<BTreeSet<_>>().len(),
            None => positions.len(),
        }
    }

    /// The original row indices of positions, ascending.
    fn original(&self, positions: &[usize]) -> Vec<usize> {
        let mut rows: Vec<usize> = positions.iter().map(|&position| self.rows[position]).collect();
        rows.sort_unstable();
        rows
    }
}

/// Rows of each stratum for each part: every cell is its ideal share `count * target / n` rounded down or up, and
/// every stratum total and every part total is met. Cells are raised by largest remainder first; where that would
/// miss a total, augmenting paths move a raise to another part (such a rounding always exists).
fn apportion(counts: &[usize], targets: &[usize]) -> Vec<Vec<usize>> {
    let n = counts.iter().sum::<usize>().max(1) as u128;
    let share = |stratum: usize, part: usize| counts[stratum] as u128 * targets[part] as u128;
    let mut cells: Vec<Vec<usize>> =
        (0..counts.len()).map(|s| (0..targets.len()).map(|p| (share(s, p) / n) as usize).collect()).collect();
    let mut rounding = Rounding {
        remainders: (0..counts.len()).map(|s| (0..targets.len()).map(|p| share(s, p) % n).collect()).collect(),
        raised: vec![vec![false; targets.len()]; counts.len()],
        room: (0..targets.len()).map(|p| targets[p].saturating_sub(cells.iter().map(|row| row[p]).sum())).collect(),
    };
    let mut need: Vec<usize> =
        counts.iter().zip(&cells).map(|(count, row)| count.saturating_sub(row.iter().sum())).collect();
    let mut candidates: Vec<(usize, usize)> =
        (0..counts.len()).flat_map(|s| (0..targets.len()).map(move |p| (s, p))).collect();
    candidates.sort_by_key(|&(s, p)| (Reverse(rounding.remainders[s][p]), s, p));
    for (s, p) in candidates {
        if rounding.remainders[s][p] > 0 && need[s] > 0 && rounding.room[p] > 0 {
            rounding.raised[s][p] = true;
            rounding.room[p] -= 1;
            need[s] -= 1;
        }
    }
    for (stratum, need) in need.iter_mut().enumerate() {
        while *need > 0 && rounding.augment(stratum, &mut vec![false; targets.len()]) {
            *need -= 1;
        }
    }
    for (row, raised) in cells.iter_mut().zip(&rounding.raised) {
        row.iter_mut().zip(raised).filter(|(_, &up)| up).for_each(|(cell, _)| *cell += 1);
    }
    cells
}

/// The state of the apportionment's rounding: which cells are raised by one and how much room each part has left.
struct Rounding {
    remainders: Vec<Vec<u128>>,
    raised: Vec<Vec<bool>>,
    room: Vec<usize>,
}

impl Rounding {
    /// Raises one more cell of `stratum`, moving other strata's raises to other parts when needed.
    fn augment(&mut self, stratum: usize, visited: &mut [bool]) -> bool {
        for part in 0..self.room.len() {
            if self.remainders[stratum][part] == 0 || self.raised[stratum][part] || visited[part] {
                continue;
            }
            visited[part] = true;
            if self.room[part] > 0 {
                self.room[part] -= 1;
            } else if !self.reroute(part, visited) {
                continue;
            }
            self.raised[stratum][part] = true;
            return true;
        }
        false
    }

    /// Moves another stratum's raise in the full `part` to some other part, making room for one raise there.
    fn reroute(&mut self, part: usize, visited: &mut [bool]) -> bool {
        for other in 0..self.raised.len() {
            if self.raised[other][part] && self.augment(other, visited) {
                self.raised[other][part] = false;
                return true;
            }
        }
        false
    }
}

/// Gives each part with a target but no unit the smallest unit (the last dealt among equals) of the part that most
/// exceeds its target among those holding two units or more.
fn fill_empty_parts(units: &[Vec<usize>], owner: &mut [usize], targets: &[usize]) {
    for part in (0..targets.len()).filter(|&part| targets[part] > 0) {
        if owner.contains(&part) {
            continue;
        }
        let held = |p: usize| owner.iter().filter(|&&holder| holder == p).count();
        let size = |p: usize| {
            units.iter().zip(owner.iter()).filter(|(_, &holder)| holder == p).map(|(unit, _)| unit.len()).sum::<usize>()
        };
        let donor = (0..targets.len())
            .filter(|&p| held(p) >= 2)
            .max_by_key(|&p| (size(p) as i128 - targets[p] as i128, Reverse(p)));
        let smallest = donor.and_then(|donor| {
            (0..units.len()).filter(|&u| owner[u] == donor).min_by_key(|&u| (units[u].len(), Reverse(u)))
        });
        if let Some(unit) = smallest {
            owner[unit] = part;
        }
    }
}

/// `round(fraction * n)` within `0..=n` (a negative fraction or one that is not a number gives 0).
fn rounded(fraction: f64, n: usize) -> usize {
    ((fraction * n as f64).round() as usize).min(n)
}

/// A short decimal fraction no smaller than one row of `n`, for help lines ("0.02" for 50 rows).
fn one_row_fraction(n: usize) -> String {
    let places = n.max(1).to_string().len().max(2);
    let scale = libm::pow(10.0, places as f64);
    let text = format!("{:.places$}", (scale / n.max(1) as f64).ceil() / scale);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn rows(count: usize) -> String {
    format!("{count} row{}", if count == 1 { "" } else { "s" })
}

/// "a", "a and b", "a, b and c".
fn and_list(items: &[String]) -> String {
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => items.join(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    fn at<T>(value: T) -> Spanned<T> {
        Spanned::new(value, Span::default())
    }

    fn fractions(val: f64, test: f64, stratify: bool, group: bool) -> Spanned<Split> {
        let (train, stratify, group) = (at(1.0 - val - test), at(stratify), group.then(|| at("patient".to_string())));
        at(Split::Fractions { train, val: at(val), test: at(test), stratify, group })
    }

    fn k_fold(k: usize, test: f64, stratify: bool, group: bool) -> Spanned<Split> {
        let group = group.then(|| at("patient".to_string()));
        at(Split::KFold { folds: at(k), test: at(test), stratify: at(stratify), group })
    }

    /// Usable rows with their classes, groups and split column, owned so that tests can build `SplitRows`.
    #[derive(Default)]
    struct Data {
        rows: Vec<usize>,
        classes: Vec<u32>,
        names: Vec<String>,
        groups: Vec<String>,
        assigned: Vec<String>,
    }

    impl Data {
        fn plan(&self, split: &Spanned<Split>, seed: u64) -> (Option<SplitPlan>, Vec<&'static str>, Diagnostics) {
            let (classes, groups, assigned) =
                (Some(&self.classes[..]), Some(&self.groups[..]), Some(&self.assigned[..]));
            let rows = SplitRows { rows: &self.rows, classes, class_names: &self.names, groups, assigned };
            let mut diagnostics = Diagnostics::new();
            let plan = plan_split(split, &rows, &Streams::new(seed), &mut diagnostics);
            (plan, diagnostics.items.iter().map(|diagnostic| diagnostic.code).collect(), diagnostics)
        }

        /// Rows in groups of 1 to `max_group` rows, of 2 to 4 skewed classes, groups interleaved in file order, with
        /// gaps in the row indices as if rows with a missing target had been dropped.
        fn random(seed: u64, max_group: usize) -> Data {
            let mut rng = Streams::new(seed).stream(Purpose::Synth);
            let class_count = rng.gen_range(2..=4u32);
            let mut members = Vec::new();
            for group in 0..rng.gen_range(1..120) {
                let main = [0, 0, 0, 1, 1, 2, 3][rng.gen_range(0..7)] % class_count;
                for _ in 0..rng.gen_range(1..=max_group) {
                    let class = if rng.gen_range(0..5) == 0 { rng.gen_range(0..class_count) } else { main };
                    members.push((format!("p{group}"), class));
                }
            }
            rng::shuffle(&mut members, &mut rng);
            let mut data = Data { names: (0..class_count).map(|c| format!("c{c}")).collect(), ..Data::default() };
            for (group, class) in members {
                data.rows.push(data.rows.last().unwrap_or(&0) + rng.gen_range(1..3));
                data.groups.push(group);
                data.classes.push(class);
            }
            data
        }

        fn index(&self, row: usize) -> usize {
            self.rows.binary_search(&row).expect("a usable row")
        }

        /// Asserts that the parts hold every usable row exactly once, each part ascending, and no group in two parts.
        fn assert_partition(&self, parts: &[&Vec<usize>], whole_groups: bool) {
            assert!(parts.iter().all(|part| part.windows(2).all(|pair| pair[0] < pair[1])));
            let mut all: Vec<usize> = parts.iter().flat_map(|part| part.iter().copied()).collect();
            all.sort_unstable();
            assert_eq!(all, self.rows);
            let mut home: BTreeMap<&str, usize> = BTreeMap::new();
            for (index, &row) in
                parts.iter().enumerate().flat_map(|(index, part)| part.iter().map(move |row| (index, row)))
            {
                let group = self.groups[self.index(row)].as_str();
                assert!(!whole_groups || *home.entry(group).or_insert(index) == index, "group `{group}` straddles");
            }
        }

        /// The largest distance, in rows, between a class's count in a part and its ideal share of that part.
        fn class_deviation(&self, parts: &[&Vec<usize>]) -> f64 {
            let n: usize = parts.iter().map(|part| part.len()).sum();
            let count =
                |part: &Vec<usize>, class| part.iter().filter(|&&row| self.classes[self.index(row)] == class).count();
            let mut worst: f64 = 0.0;
            for class in 0..self.names.len() as u32 {
                let total: usize = parts.iter().map(|part| count(part, class)).sum();
                for part in parts {
                    let ideal = total as f64 * part.len() as f64 / n as f64;
                    worst = worst.max((count(part, class) as f64 - ideal).abs());
                }
            }
            worst
        }
    }

    fn small() -> Data {
        let classes = vec![0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0];
        let groups = ["a", "b", "a", "c", "d", "e", "b", "f", "g", "d", "h", "c"].map(String::from).to_vec();
        let names = vec!["benign".to_string(), "malignant".to_string()];
        Data { rows: vec![0, 1, 2, 4, 5, 7, 8, 9, 11, 12, 13, 15], classes, names, groups, ..Data::default() }
    }

    #[test]
    fn the_plan_for_a_seed_is_pinned() {
        // Part of the reproducibility contract: a change here changes which rows every existing run trained on.
        let (plan, codes, _) = small().plan(&fractions(0.25, 0.25, true, false), 42);
        let plan = plan.expect("a plan");
        assert!(codes.is_empty());
        assert_eq!((plan.train, plan.val, plan.test), (vec![1, 2, 4, 5, 7, 13], vec![9, 11, 12], vec![0, 8, 15]));
        let plan = small().plan(&fractions(0.25, 0.25, false, true), 42).0.expect("a plan");
        assert_eq!((plan.train, plan.val, plan.test), (vec![1, 5, 7, 8, 11, 12], vec![4, 9, 15], vec![0, 2, 13]));
        let data = Data::random(3, 1);
        let split = fractions(0.2, 0.2, true, false);
        assert_eq!(data.plan(&split, 1).0, data.plan(&split, 1).0);
        assert_ne!(data.plan(&split, 1).0, data.plan(&split, 2).0, "another seed gives another plan");
    }

    #[test]
    fn fractions_are_exact_and_stratified_within_one_row() {
        for seed in 0..200 {
            let data = Data::random(seed, 1);
            let (val, test) = ([0.0, 0.1, 0.15, 0.3][seed as usize % 4], [0.0, 0.2, 0.25][seed as usize % 3]);
            let (plan, codes, _) = data.plan(&fractions(val, test, seed % 2 == 0, false), seed);
            let n = data.rows.len();
            let Some(plan) = plan else {
                let too_small = (val > 0.0 && rounded(val, n) == 0) || (test > 0.0 && rounded(test, n) == 0);
                assert!(too_small || rounded(val, n) + rounded(test, n) >= n, "seed {seed}: {codes:?}");
                assert!(codes.contains(&"split::empty"));
                continue;
            };
            data.assert_partition(&[&plan.train, &plan.val, &plan.test], false);
            assert_eq!((plan.val.len(), plan.test.len()), (rounded(val, n), rounded(test, n)), "seed {seed}");
            if seed % 2 == 0 {
                assert!(data.class_deviation(&[&plan.train, &plan.val, &plan.test]) < 1.0, "seed {seed}");
            }
        }
    }

    #[test]
    fn apportionment_meets_every_total_and_rounds_each_share() {
        for seed in 0..500 {
            let mut rng = Streams::new(seed).stream(Purpose::Synth);
            let counts: Vec<usize> = (0..rng.gen_range(1..6)).map(|_| rng.gen_range(0..20)).collect();
            let mut targets = vec![0; rng.gen_range(1..7)];
            let parts = targets.len();
            (0..counts.iter().sum::<usize>()).for_each(|_| targets[rng.gen_range(0..parts)] += 1);
            let cells = apportion(&counts, &targets);
            let n = counts.iter().sum::<usize>().max(1);
            for (stratum, row) in cells.iter().enumerate() {
                assert_eq!(row.iter().sum::<usize>(), counts[stratum], "seed {seed}");
                let shares =
                    row.iter().zip(&targets).map(|(&cell, &target)| (cell * n).abs_diff(counts[stratum] * target));
                assert!(shares.into_iter().all(|distance| distance < n), "seed {seed}: {cells:?}");
            }
            let totals: Vec<usize> = (0..targets.len()).map(|part| cells.iter().map(|row| row[part]).sum()).collect();
            assert_eq!(totals, targets, "seed {seed}");
        }
    }

    #[test]
    fn groups_never_straddle_and_proportions_stay_close() {
        for seed in 0..200 {
            let data = Data::random(seed, 5);
            let (plan, codes, _) = data.plan(&fractions(0.15, 0.2, seed % 2 == 0, true), seed);
            let Some(plan) = plan else {
                assert!(data.groups.iter().collect::<BTreeSet<_>>().len() < 3 || data.rows.len() < 10, "{seed}");
                assert!(codes.contains(&"split::empty"));
                continue;
            };
            let parts = [&plan.train, &plan.val, &plan.test];
            data.assert_partition(&parts, true);
            let n = data.rows.len();
            if n >= 50 {
                assert!(plan.val.len().abs_diff(rounded(0.15, n)) <= 3, "seed {seed}: val {}", plan.val.len());
                assert!(plan.test.len().abs_diff(rounded(0.2, n)) <= 3, "seed {seed}: test {}", plan.test.len());
                assert!(seed % 2 == 1 || data.class_deviation(&parts) <= 2.0, "seed {seed}");
            }
        }
    }

    #[test]
    fn folds_cover_every_non_test_row_once() {
        for seed in 0..120 {
            let (grouped, stratify, k) = (seed % 3 == 0, seed % 2 == 0, 2 + seed as usize % 5);
            let data = Data::random(seed, if grouped { 4 } else { 1 });
            let (plan, codes, _) = data.plan(&k_fold(k, 0.2, stratify, grouped), seed);
            let Some(plan) = plan else {
                assert!(codes.contains(&"split::too_many_folds") || codes.contains(&"split::empty"), "seed {seed}");
                continue;
            };
            let vals: Vec<&Vec<usize>> = plan.folds.iter().map(|fold| &fold.val).collect();
            data.assert_partition(&[&plan.train, &plan.test], false);
            data.assert_partition(&[&plan.test].into_iter().chain(vals.iter().copied()).collect::<Vec<_>>(), grouped);
            assert!(plan.val.is_empty() && plan.folds.len() == k);
            for fold in &plan.folds {
                let mut both: Vec<usize> = fold.train.iter().chain(&fold.val).copied().collect();
                both.sort_unstable();
                assert_eq!(both, plan.train);
            }
            let sizes: Vec<usize> = vals.iter().map(|val| val.len()).collect();
            assert!(grouped || sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "seed {seed}");
            assert!(grouped || !stratify || data.class_deviation(&vals) < 1.0, "seed {seed}");
        }
    }

    /// `splits.csv`'s column: every row named once, the gaps left by dropped rows as `dropped`, folds under k-fold.
    #[test]
    fn the_assignment_names_every_row_of_the_file() {
        let data = Data::random(4, 1);
        let rows = data.rows.last().unwrap() + 3;
        let count = |assigned: &[(Assigned, Option<usize>)], part| assigned.iter().filter(|a| a.0 == part).count();
        let (plan, _, _) = data.plan(&fractions(0.2, 0.2, true, false), 4);
        let plan = plan.expect("a plan");
        let assigned = plan.assignment(rows);
        assert_eq!(assigned.len(), rows);
        assert_eq!(count(&assigned, Assigned::Train), plan.train.len());
        assert_eq!(count(&assigned, Assigned::Val), plan.val.len());
        assert_eq!(count(&assigned, Assigned::Test), plan.test.len());
        assert_eq!(count(&assigned, Assigned::Dropped), rows - data.rows.len());
        assert!(plan.test.iter().all(|&row| assigned[row] == (Assigned::Test, None)));
        assert!(assigned.iter().all(|(_, fold)| fold.is_none()));
        let (plan, _, _) = data.plan(&k_fold(3, 0.2, true, false), 4);
        let plan = plan.expect("a plan");
        let assigned = plan.assignment(rows);
        assert_eq!(count(&assigned, Assigned::Train), plan.train.len());
        for (index, fold) in plan.folds.iter().enumerate() {
            assert!(fold.val.iter().all(|&row| assigned[row] == (Assigned::Train, Some(index + 1))));
        }
        assert!(plan.test.iter().all(|&row| assigned[row] == (Assigned::Test, None)));
        let folded = assigned.iter().filter(|(_, fold)| fold.is_some()).count();
        assert_eq!(folded, plan.train.len());
    }

    #[test]
    fn impossible_splits_are_errors_not_panics() {
        let (tiny, one_of_ten) = (Data { rows: vec![3], classes: vec![0], ..small() }, 0.4 / 12.0);
        let mut ragged = small();
        ragged.groups.pop();
        let cases = [
            (small(), fractions(one_of_ten, 0.2, false, false), "split::empty"),
            (tiny, fractions(0.5, 0.5, false, false), "split::empty"),
            (Data::default(), fractions(0.1, 0.2, true, false), "split::no_rows"),
            (small(), fractions(f64::NAN, 0.2, true, true), "split::bad_fraction"),
            (small(), k_fold(13, 0.1, false, false), "split::too_many_folds"),
            (small(), k_fold(9, 0.0, true, true), "split::too_many_folds"),
            (small(), k_fold(0, 0.2, true, false), "split::too_many_folds"),
            (Data { groups: vec!["same".into(); 12], ..small() }, fractions(0.2, 0.2, false, true), "split::empty"),
            (ragged, fractions(0.2, 0.2, true, true), "split::bad_input"),
        ];
        for (data, split, code) in cases {
            let (plan, codes, _) = data.plan(&split, 1);
            assert_eq!((plan, codes), (None, vec![code]), "{split:?}");
        }
        let (_, _, diagnostics) = small().plan(&fractions(one_of_ten, 0.2, false, false), 1);
        let message = "the val split would be empty: 0.03333333333333333 of 12 rows rounds to 0 rows";
        assert_eq!(diagnostics.items[0].message, message);
        assert!(diagnostics.items[0]
            .help
            .as_deref()
            .unwrap()
            .starts_with("raise `val` to at least 0.09 (one row of 12)"));
        let odd_label =
            Data { classes: [u32::MAX].into_iter().chain(small().classes[1..].to_vec()).collect(), ..small() };
        assert!(odd_label.plan(&fractions(0.2, 0.2, true, true), 1).0.is_some());
    }

    #[test]
    fn rare_and_missing_classes_are_named() {
        let mut data = Data::random(8, 1);
        data.classes.iter_mut().enumerate().for_each(|(index, class)| *class = u32::from(index < 2));
        data.names = vec!["common".into(), "rare".into()];
        let (plan, codes, diagnostics) = data.plan(&fractions(0.2, 0.2, true, false), 1);
        assert_eq!((plan.is_some(), codes), (true, vec!["split::rare_class"]));
        let message = "class `rare` has only 2 rows, too few for all 3 splits: none in ";
        assert!(diagnostics.items[0].message.starts_with(message), "{}", diagnostics.items[0].message);
        let lopsided = Data {
            groups: small().groups.iter().map(|g| if g < &"g".to_string() { "big" } else { g }.to_string()).collect(),
            ..small()
        };
        let (plan, codes, _) = lopsided.plan(&fractions(0.25, 0.25, true, true), 1);
        assert_eq!(
            (plan.map(|plan| plan.train.len()), codes),
            (Some(10), vec!["split::uneven_groups", "split::class_missing"])
        );
    }

    #[test]
    fn a_test_file_leaves_the_test_split_empty() {
        let split = at(Split::TestFile { path: at("test.csv".into()), val: at(0.25), stratify: at(true), group: None });
        let plan = small().plan(&split, 42).0.expect("a plan");
        assert_eq!((plan.train.len(), plan.val.len(), plan.test.len(), plan.folds.len()), (9, 3, 0, 0));
    }

    #[test]
    fn a_split_column_is_read_and_checked() {
        let mut data = small();
        let values = ["train", " Val ", "TEST", "validation", "tset", "", "train", "train", "tset", "test", "val", "x"];
        data.assigned = values.map(String::from).to_vec();
        let split = at(Split::Column { column: at("fold".to_string()) });
        let (plan, codes, diagnostics) = data.plan(&split, 1);
        assert_eq!((plan, codes), (None, vec!["split::unknown_value"]));
        let message = "holds values that name no split: an empty cell (1 row), `tset` (2 rows) and `x` (1 row)";
        assert!(diagnostics.items[0].message.ends_with(message), "{}", diagnostics.items[0].message);
        assert!(diagnostics.items[0].help.as_deref().unwrap().ends_with("(did you mean `test` for `tset`?)"));
        data.assigned =
            values.map(|value| if value.len() < 2 { "train" } else { value }.replace("tset", "test")).to_vec();
        let plan = data.plan(&split, 1).0.expect("a plan");
        assert_eq!((plan.train, plan.val, plan.test), (vec![0, 7, 8, 9, 15], vec![1, 4, 13], vec![2, 5, 11, 12]));
        data.assigned = vec!["test".into(); 12];
        assert_eq!(data.plan(&split, 1).1, ["split::empty"]);
    }
}
