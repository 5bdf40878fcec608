//! The fitted preprocessing of DESIGN.md's pipeline (load, split, fit on the training rows, apply to every split):
//! missing-value filling, scaling and encoding, held in one [`Transform`] value that is saved as JSON beside the
//! weights, so that `predict` applies exactly what training saw. Fitting is here; applying is `apply`'s.
//!
//! Choices, each for a reason:
//! - **Every statistic is fitted on the training rows only**: means, medians, modes, quantiles, minimum and
//!   maximum, standard deviations and fill values, and the **vocabulary** of a categorical column: the categories
//!   of the rows the model is fitted on (every non-test row under k-fold, so that every fold has the same inputs),
//!   which the check found once the split was planned and gives in [`Feature::categories`], because they fix the
//!   model's input width. A category seen only outside them is unseen, as at predict time (below). A binary
//!   column keeps both values of the whole file: it is one input either way, and its kind comes from the whole
//!   file. A `{constant: V}` fill whose value is not in the vocabulary is appended to it (its own one-hot column,
//!   the last ordinal index); the checker counts it in the width.
//! - **Numbers** become `(x - offset) / scale`: `standard` uses the mean and the population standard deviation,
//!   `minmax` the minimum and the range, `robust` the median and the interquartile range (linear quantiles),
//!   `none` offset 0 and scale 1. A spread of 0 on the training rows keeps scale 1 (the offset still applies) with
//!   the warning `data::zero_variance`, except for a column constant in the whole file, which the checker already
//!   reported (`data::constant_column`).
//! - **Images in a table** (`data.shape` of height, width and channels over plain numeric pixel columns): the
//!   offset and scale are pooled over every pixel of a channel, not fitted per pixel column, so that the picture
//!   keeps its contrast (per-pixel min-max would stretch a nearly blank border pixel to the centre's range).
//!   Missing pixels are still filled per column.
//! - **Categories**: `onehot` gives one 0/1 column per category, `ordinal` one column holding the category's index
//!   (not scaled). A binary column is one 0/1 column whatever `encode` says: 1 for the second value in sort order.
//!   A value outside the vocabulary ("unseen", typically at predict time) is all zeros in one-hot, -1 in ordinal
//!   and 0.5 (neither value) in a binary column, and is counted in [`Applied::unseen`] (the warning
//!   `data::unseen_category` of [`Applied::unseen_warning`]).
//! - **Missing cells** are filled before scaling, as [`crate::data::impute`] describes; a missing-indicator input
//!   follows every column where the checker found missing cells, when `missing.indicator` is on.
//! - **Predict-time columns** ([`Transform::check_columns`]): every feature column must be there
//!   (`data::missing_column`, an error naming it); a column the training file did not have is a warning
//!   (`data::extra_column`): most often it is an identifier to carry through (`--keep`), and a renamed feature
//!   column shows up as missing anyway. The target and the other columns of the training file (excluded,
//!   identifiers, the group column) may be present or absent.
//! - **Row flags** ([`Transform::flag_rows`]): each row's filled cells, unseen categories, and numbers beyond the
//!   training rows' range (kept in `range`) by more than 10% of it.
//! - Fitted numbers are stored as f32, the precision the model sees, and JSON gives them back bit for bit (checked
//!   for every finite f32 with the serde_json in use); statistics are computed in f64 first.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::check::{Checked, Feature, Task};
pub use crate::data::apply::{Applied, AppliedRows, InPlace};
use crate::data::cells::finite_f32;
use crate::data::cells::{label_text, parse_number};
use crate::data::impute::{
    constant_outside_binary, fill_without_order, label_fill, mode_index, no_group_column, number_fill, NumericStats,
};
pub use crate::data::impute::{rows_dropped_by_strategy, Fill};
use crate::data::schema::Schema;
use crate::data::table::Table;
use crate::diagnostics::{did_you_mean, quote_list, Diagnostic, Diagnostics};
use crate::spec::ast::{ColumnKind, Encode, Impute, Scale, Spec};
use rayon::prelude::*;

/// The version of the JSON layout written by [`Transform::to_json`].
pub const FORMAT_VERSION: u32 = 1;

/// At most this many bad cells are reported one by one; the rest are counted.
pub(super) const MAX_REPORTED: usize = 10;

/// Everything fitted on the training rows that turns a data row into the model's input values and its target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transform {
    /// [`FORMAT_VERSION`] when written.
    pub format: u32,
    /// The predictor columns in input order, each with its fitted parameters.
    pub features: Vec<FittedFeature>,
    /// How the target is encoded.
    pub target: FittedTarget,
    /// The group column that `ffill`, `bfill` and `interpolate` stay within, if any.
    pub group: Option<String>,
    /// Every column of the training file, in file order.
    pub columns: Vec<String>,
}

/// One predictor column's fitted parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FittedFeature {
    /// The column name.
    pub name: String,
    /// The missing-value strategy as the spec names it (`median`, `constant`, `ffill`, ...), for the record.
    pub impute: String,
    /// Whether a 0/1 missing-indicator input follows the column's values.
    pub indicator: bool,
    /// How the column's cells become numbers.
    pub values: FittedValues,
}

/// How a column's cells become input values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FittedValues {
    /// A number, filled then scaled: `(x - offset) / scale`.
    Numeric {
        /// How missing cells are filled, in the column's units.
        fill: Fill<f32>,
        /// Subtracted first.
        offset: f32,
        /// Divided by next; never 0.
        scale: f32,
        /// The smallest and largest number of the training rows, as the model reads them (f32), for the
        /// out-of-range flag of predict-time rows; absent with no number in the training rows, and in runs saved
        /// before galen recorded it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        range: Option<[f32; 2]>,
    },
    /// A label among a fixed vocabulary.
    Categorical {
        /// How missing cells are filled.
        fill: Fill<String>,
        /// Whether labels are canonical numbers (`1.0` is `1`).
        labels_numeric: bool,
        /// The vocabulary, in the schema's order, plus a constant fill value at the end.
        categories: Vec<String>,
        /// How a label becomes input values.
        encoding: CategoryEncoding,
    },
}

/// How a label becomes input values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CategoryEncoding {
    /// One 0/1 column: 1 for the second category.
    Binary,
    /// One 0/1 column per category.
    OneHot,
    /// One column holding the category's index.
    Ordinal,
}

/// How the target is encoded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FittedTarget {
    /// A class index into `classes`.
    Classes {
        /// The target column.
        name: String,
        /// The class labels, sorted as the checker sorted them.
        classes: Vec<String>,
        /// Whether labels are canonical numbers (`1.0` is `1`).
        labels_numeric: bool,
        /// The index of the positive class of a binary target.
        positive: Option<usize>,
    },
    /// A number, not scaled.
    Number {
        /// The target column.
        name: String,
    },
}

/// The encoded target of some rows.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// Class indices.
    Classes(Vec<u32>),
    /// Numbers.
    Numbers(Vec<f32>),
}

impl Transform {
    /// Fits every statistic on `train_rows` (original row indices) of `table`, the file `schema` describes. The
    /// features, their kinds, strategies, widths and vocabularies come from `checked`. Warnings
    /// (`data::zero_variance`, `data::fill_without_order`) and errors (a constant that cannot fill its column, a
    /// width that disagrees with the checker's) go to `diagnostics`; after an error the transform must not be used.
    pub fn fit(
        spec: &Spec,
        checked: &Checked,
        schema: &Schema,
        table: &Table,
        train_rows: &[usize],
        diagnostics: &mut Diagnostics,
    ) -> Transform {
        let train_rows: Vec<usize> = train_rows.iter().copied().filter(|&row| row < table.rows()).collect();
        // Features are fitted independently (in parallel); their diagnostics are merged in feature order, so the
        // result does not depend on the thread count.
        let fitted: Vec<(FittedFeature, Diagnostics, Vec<String>)> = checked
            .features
            .par_iter()
            .map(|feature| {
                let mut local = Diagnostics::new();
                let mut fitter = Fitter {
                    spec,
                    schema,
                    table,
                    train_rows: &train_rows,
                    diagnostics: &mut local,
                    no_spread: Vec::new(),
                };
                let fitted = fitter.feature(feature);
                let no_spread = fitter.no_spread;
                (fitted, local, no_spread)
            })
            .collect();
        let mut features = Vec::with_capacity(fitted.len());
        let mut no_spread = Vec::new();
        for (feature, found, flat) in fitted {
            features.push(feature);
            diagnostics.extend(found);
            no_spread.extend(flat);
        }
        if let Some(channels) = image_channels(checked, &features) {
            pool_image_scaling(spec, table, &train_rows, &mut features, channels);
            // Scaled as a whole, a blank border pixel is no longer a column without spread.
            no_spread.clear();
        }
        if !no_spread.is_empty() {
            diagnostics.push(zero_variance(spec, &no_spread));
        }
        diagnostics.extend(fill_without_order(spec, schema, &checked.features));
        let target = fit_target(&spec.data.target.value, &checked.task);
        let group = spec.data.split.value.group().map(|group| group.value.clone());
        let columns = table.names().map(str::to_string).collect();
        Transform { format: FORMAT_VERSION, features, target, group, columns }
    }

    /// Encodes the target of `rows`: the class index, or the number. A missing target, a label that is not a class
    /// the model was trained on, or a regression target that is not a number is an error naming the line.
    pub fn targets(&self, table: &Table, rows: &[usize]) -> Result<Targets, Diagnostics> {
        let name = self.target_name();
        let Some(column) = table.column(name) else {
            let error = Diagnostic::error("data::missing_column", format!("the file has no target column `{name}`"))
                .at_file(table.path())
                .with_help("evaluating a model needs the outcome of every row; add the target column");
            return Err(Diagnostics { items: vec![error] });
        };
        let mut bad: Vec<(usize, Option<&str>)> = Vec::new();
        let targets = match &self.target {
            FittedTarget::Classes { classes, labels_numeric, .. } => {
                let lookup: HashMap<&str, usize> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
                let mut indices = Vec::with_capacity(rows.len());
                // Each different cell text is turned into a label once.
                let mut known: HashMap<&str, Option<usize>> = HashMap::new();
                for &row in rows {
                    let cell = column.get(row);
                    let index = cell.and_then(|text| {
                        *known
                            .entry(text)
                            .or_insert_with(|| lookup.get(label_text(text, *labels_numeric).as_str()).copied())
                    });
                    match index {
                        Some(index) => indices.push(index as u32),
                        None => bad.push((row, cell)),
                    }
                }
                Targets::Classes(indices)
            }
            FittedTarget::Number { .. } if column.is_numbers() => {
                let read = table.model_numbers(column);
                let mut numbers = Vec::with_capacity(rows.len());
                for &row in rows {
                    match read.get(row) {
                        Some(number) => numbers.push(number),
                        None => bad.push((row, None)),
                    }
                }
                Targets::Numbers(numbers)
            }
            FittedTarget::Number { .. } => {
                let mut numbers = Vec::with_capacity(rows.len());
                for &row in rows {
                    let cell = column.get(row);
                    match cell.and_then(parse_number) {
                        Some(number) => numbers.push(finite_f32(number)),
                        None => bad.push((row, cell)),
                    }
                }
                Targets::Numbers(numbers)
            }
        };
        if bad.is_empty() {
            Ok(targets)
        } else {
            Err(bad_targets(table, name, &self.target, &bad))
        }
    }

    /// Checks a predict-time table's columns: every feature column must be there (`data::missing_column`, an
    /// error), and a column the training file did not have is a warning (`data::extra_column`: it is ignored, as
    /// an identifier to carry through with `--keep` would be); the target and the other columns of the training
    /// file may be absent. Columns in `kept` (copied into the output by the caller) are not extra. A missing group column, when rows are filled in order within it, is a
    /// warning (`data::no_group_column`).
    pub fn check_columns(&self, table: &Table, kept: &[String]) -> Diagnostics {
        let mut diagnostics = Diagnostics::new();
        let absent: Vec<&str> =
            self.features.iter().map(|f| f.name.as_str()).filter(|name| table.column(name).is_none()).collect();
        let extra: Vec<&str> =
            table.names().filter(|name| !self.columns.iter().chain(kept).any(|known| known == name)).collect();
        if !absent.is_empty() {
            diagnostics.push(missing_columns(table, &absent, &extra));
        }
        if !extra.is_empty() {
            let message = match extra.as_slice() {
                [one] => format!("the file has a column `{one}` that the training file did not have; it is ignored"),
                _ => format!("the file has columns the training file did not have, ignored: {}", quote_list(&extra)),
            };
            diagnostics.push(
                Diagnostic::warning("data::extra_column", message).at_data(table.path(), 1, None).with_help(
                    "`--keep COLUMN` copies a column such as an identifier into the output; a misspelt feature \
                     column would be reported missing",
                ),
            );
        }
        let ordered = self.features.iter().any(FittedFeature::fills_in_order);
        diagnostics.extend(self.group.as_deref().filter(|_| ordered).and_then(|group| no_group_column(table, group)));
        diagnostics
    }

    /// One name per input value, in input order: `age`, `sex=F`, `cholesterol (missing)`.
    pub fn input_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.width());
        for feature in &self.features {
            let name = &feature.name;
            match &feature.values {
                FittedValues::Categorical { categories, encoding: CategoryEncoding::OneHot, .. } => {
                    names.extend(categories.iter().map(|category| format!("{name}={category}")));
                    if categories.is_empty() {
                        names.push(format!("{name} (no values)"));
                    }
                }
                FittedValues::Categorical { categories, encoding: CategoryEncoding::Binary, .. } => {
                    names.push(categories.get(1).map_or(name.clone(), |one| format!("{name}={one}")));
                }
                _ => names.push(name.clone()),
            }
            if feature.indicator {
                names.push(format!("{name} (missing)"));
            }
        }
        names
    }

    /// Input values per row.
    pub fn width(&self) -> usize {
        self.features.iter().map(FittedFeature::width).sum()
    }

    /// The target column's name.
    pub fn target_name(&self) -> &str {
        match &self.target {
            FittedTarget::Classes { name, .. } | FittedTarget::Number { name } => name,
        }
    }

    /// The transform as pretty JSON; the same transform always gives the same text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Reads a transform written by [`Transform::to_json`], refusing another format version and parameters that
    /// could not have been fitted (a scale of 0, a binary column with three values).
    pub fn from_json(text: &str) -> Result<Transform, String> {
        let transform: Transform =
            serde_json::from_str(text).map_err(|error| format!("the saved preprocessing is not readable: {error}"))?;
        if transform.format != FORMAT_VERSION {
            return Err(format!(
                "the saved preprocessing has format {} but this galen reads format {FORMAT_VERSION}; train the model again with this version",
                transform.format
            ));
        }
        for feature in &transform.features {
            let sound = match &feature.values {
                FittedValues::Numeric { offset, scale, .. } => offset.is_finite() && scale.is_finite() && *scale != 0.0,
                FittedValues::Categorical { categories, encoding, .. } => {
                    *encoding != CategoryEncoding::Binary || categories.len() <= 2
                }
            };
            if !sound {
                return Err(format!("the saved preprocessing of `{}` is damaged", feature.name));
            }
        }
        Ok(transform)
    }
}

impl FittedFeature {
    /// Input values the column becomes.
    pub fn width(&self) -> usize {
        let values = match &self.values {
            FittedValues::Categorical { categories, encoding: CategoryEncoding::OneHot, .. } => categories.len().max(1),
            _ => 1,
        };
        values + usize::from(self.indicator)
    }

    pub(super) fn drops_missing(&self) -> bool {
        matches!(
            &self.values,
            FittedValues::Numeric { fill: Fill::Drop, .. } | FittedValues::Categorical { fill: Fill::Drop, .. }
        )
    }

    pub(super) fn fills_in_order(&self) -> bool {
        match &self.values {
            FittedValues::Numeric { fill, .. } => fill.follows_order(),
            FittedValues::Categorical { fill, .. } => fill.follows_order(),
        }
    }
}

/// Fits one feature at a time, collecting the columns without spread for one warning.
struct Fitter<'a> {
    spec: &'a Spec,
    schema: &'a Schema,
    table: &'a Table,
    train_rows: &'a [usize],
    diagnostics: &'a mut Diagnostics,
    /// Columns with no spread on the training rows.
    no_spread: Vec<String>,
}

impl Fitter<'_> {
    fn feature(&mut self, feature: &Feature) -> FittedFeature {
        let column = self.table.column(&feature.name);
        if column.is_none() || self.schema.column(&feature.name).is_none() {
            self.diagnostics.push(
                Diagnostic::error("data::missing_column", format!("the data has no column `{}`", feature.name))
                    .at_file(self.table.path())
                    .with_help("the checked spec and the data file do not belong together; check the spec again"),
            );
        }
        let values = match (feature.kind, column) {
            (ColumnKind::Numeric, Some(column)) => {
                // The numbers as the model reads them (f32), summed and sorted as f64.
                let numbers = self.table.model_numbers(column);
                let values = self.train_rows.iter().filter_map(|&row| numbers.get(row)).map(f64::from).collect();
                self.numeric(feature, values)
            }
            (ColumnKind::Numeric, None) => self.numeric(feature, Vec::new()),
            _ => {
                let cells: Vec<&str> =
                    self.train_rows.iter().filter_map(|&row| column.and_then(|c| c.get(row))).collect();
                self.categorical(feature, &cells)
            }
        };
        let indicator = self.spec.data.missing.indicator.value && feature.missing > 0;
        let fitted =
            FittedFeature { name: feature.name.clone(), impute: feature.impute.name().into(), indicator, values };
        if fitted.width() != feature.width {
            self.diagnostics.push(
                Diagnostic::error(
                    "data::width_mismatch",
                    format!(
                        "the checker counted {} input value(s) for `{}` but the fitted preprocessing gives {}",
                        feature.width,
                        feature.name,
                        fitted.width()
                    ),
                )
                .at(self.spec.data.span)
                .with_help("this is a bug in galen; please report it with the spec and the data file's header"),
            );
        }
        fitted
    }

    /// `values`: the numbers of the training rows' cells, in row order (missing cells and text left out).
    fn numeric(&mut self, feature: &Feature, values: Vec<f64>) -> FittedValues {
        let robust = self.spec.data.scale.value == Scale::Robust;
        let present = !values.is_empty();
        let stats = NumericStats::of(values, feature.impute == Impute::Mode, robust);
        let fill = number_fill(self.spec, feature, &stats, self.diagnostics);
        let (offset, spread) = match self.spec.data.scale.value {
            Scale::None => (0.0, 1.0),
            Scale::Standard => (stats.mean, stats.std),
            Scale::MinMax => (stats.min, stats.max - stats.min),
            Scale::Robust => (stats.median, stats.q3 - stats.q1),
        };
        let scale = finite_f32(spread);
        let scale = if scale > 0.0 && scale.is_normal() {
            scale
        } else {
            let constant_in_file = self.schema.column(&feature.name).is_none_or(|column| column.is_constant());
            if !constant_in_file {
                self.no_spread.push(feature.name.clone());
            }
            1.0
        };
        // The values are f32 numbers widened, so their extremes narrow back exactly.
        let range = present.then_some([stats.min as f32, stats.max as f32]);
        FittedValues::Numeric { fill, offset: finite_f32(offset), scale, range }
    }

    fn categorical(&mut self, feature: &Feature, cells: &[&str]) -> FittedValues {
        let info = self.schema.column(&feature.name);
        let labels_numeric = info.is_some_and(|info| info.labels_numeric);
        let mut categories = feature.categories.clone();
        let encoding = match (feature.kind, self.spec.data.encode.value) {
            (ColumnKind::Binary, _) => CategoryEncoding::Binary,
            (ColumnKind::Categorical, Encode::OneHot) => CategoryEncoding::OneHot,
            _ => CategoryEncoding::Ordinal,
        };
        let lookup: HashMap<&str, usize> = categories.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
        let codes = cells.iter().filter_map(|cell| lookup.get(label_text(cell, labels_numeric).as_str()).copied());
        let mode = mode_index(codes, categories.len()).or((!categories.is_empty()).then_some(0));
        let mode = mode.and_then(|index| categories.get(index)).cloned().unwrap_or_default();
        let fill = label_fill(&feature.impute, mode, |text| label_text(text, labels_numeric));
        if let (Impute::Constant(_), Fill::Value(label)) = (&feature.impute, &fill) {
            if !categories.contains(label) {
                if encoding == CategoryEncoding::Binary {
                    // A column with no missing cell is never filled, so an odd constant does no harm there (the
                    // checker decides the same way).
                    if feature.missing > 0 {
                        self.diagnostics.push(constant_outside_binary(self.spec, feature, label, &categories));
                    }
                } else {
                    categories.push(label.clone());
                }
            }
        }
        FittedValues::Categorical { fill, labels_numeric, categories, encoding }
    }
}

/// The channel count when the rows are images (`data.shape` of height, width and channels) of plain numeric
/// columns, one per pixel and channel in row-major order; `None` otherwise.
fn image_channels(checked: &Checked, features: &[FittedFeature]) -> Option<usize> {
    let [height, width, channels] = checked.input_shape[..] else { return None };
    let plain =
        features.iter().all(|feature| matches!(feature.values, FittedValues::Numeric { .. }) && !feature.indicator);
    (plain && channels > 0 && features.len() == height * width * channels).then_some(channels)
}

/// Scales image pixels per channel, with one offset and scale pooled over every pixel of the channel on the
/// training rows, as image models expect: per-pixel statistics would stretch a border pixel that is nearly always
/// blank to the same range as the centre, changing the picture the convolution sees.
fn pool_image_scaling(
    spec: &Spec,
    table: &Table,
    train_rows: &[usize],
    features: &mut [FittedFeature],
    channels: usize,
) {
    let robust = spec.data.scale.value == Scale::Robust;
    for channel in 0..channels {
        let mut values = Vec::new();
        for feature in features.iter().skip(channel).step_by(channels) {
            if let Some(column) = table.column(&feature.name) {
                let numbers = table.model_numbers(column);
                values.extend(train_rows.iter().filter_map(|&row| numbers.get(row)).map(f64::from));
            }
        }
        let stats = NumericStats::of(values, false, robust);
        let (pooled_offset, spread) = match spec.data.scale.value {
            Scale::None => (0.0, 1.0),
            Scale::Standard => (stats.mean, stats.std),
            Scale::MinMax => (stats.min, stats.max - stats.min),
            Scale::Robust => (stats.median, stats.q3 - stats.q1),
        };
        let pooled_scale = finite_f32(spread);
        let pooled_scale = if pooled_scale > 0.0 && pooled_scale.is_normal() { pooled_scale } else { 1.0 };
        for feature in features.iter_mut().skip(channel).step_by(channels) {
            if let FittedValues::Numeric { offset, scale, .. } = &mut feature.values {
                *offset = finite_f32(pooled_offset);
                *scale = pooled_scale;
            }
        }
    }
}

fn fit_target(name: &str, task: &Task) -> FittedTarget {
    let name = name.to_string();
    let classes = task.classes().to_vec();
    let labels_numeric = !classes.is_empty() && classes.iter().all(|class| parse_number(class).is_some());
    match task {
        Task::Regression => FittedTarget::Number { name },
        Task::Binary { positive, .. } => {
            FittedTarget::Classes { name, classes, labels_numeric, positive: Some(*positive) }
        }
        Task::Multiclass { .. } => FittedTarget::Classes { name, classes, labels_numeric, positive: None },
    }
}

fn zero_variance(spec: &Spec, names: &[String]) -> Diagnostic {
    let spread = match spec.data.scale.value {
        Scale::Standard => "a standard deviation",
        Scale::MinMax => "a range",
        Scale::Robust => "an interquartile range",
        Scale::None => "a spread",
    };
    let message = match names {
        [name] => format!("the column `{name}` has {spread} of 0 on the training rows; it is kept with scale 1"),
        _ => {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            format!(
                "{} columns have {spread} of 0 on the training rows: {}; they are kept with scale 1",
                names.len(),
                quote_list(&names)
            )
        }
    };
    Diagnostic::warning("data::zero_variance", message)
        .at(spec.data.scale.span)
        .with_label("scaling divides by the spread of the training rows")
        .with_help("a column that does not vary in training cannot help the model; check the split, or leave it out with `exclude`")
}

/// The error for feature columns a file lacks, suggesting a close name among `extra` columns.
pub(super) fn missing_columns(table: &Table, absent: &[&str], extra: &[&str]) -> Diagnostic {
    let message = match absent {
        [one] => format!("the file has no column `{one}`, which the model was trained on"),
        _ => format!("the file lacks columns the model was trained on: {}", quote_list(absent)),
    };
    let renamed: Vec<String> = absent
        .iter()
        .filter_map(|name| did_you_mean(name, extra.iter().copied()).map(|close| format!("`{close}` for `{name}`")))
        .collect();
    let help = if renamed.is_empty() {
        "add the columns, leaving a cell empty where the value is unknown".to_string()
    } else {
        format!("did you rename them? the file has {}", renamed.join(", "))
    };
    Diagnostic::error("data::missing_column", message).at_data(table.path(), 1, None).with_help(help)
}

fn bad_targets(table: &Table, name: &str, target: &FittedTarget, bad: &[(usize, Option<&str>)]) -> Diagnostics {
    let mut diagnostics = Diagnostics::new();
    for &(row, cell) in bad.iter().take(MAX_REPORTED) {
        let line = table.line_of_row(row);
        let (code, message, help) = match (cell, target) {
            (None, _) => {
                let message = format!("the target `{name}` is missing on line {line}");
                ("data::missing_target", message, "fill in the outcome of this row, or leave the row out".to_string())
            }
            (Some(text), FittedTarget::Classes { classes, .. }) => {
                let names: Vec<&str> = classes.iter().map(String::as_str).collect();
                let help = match did_you_mean(text, names.iter().copied()) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!("the classes are {}", quote_list(&names)),
                };
                (
                    "data::unknown_class",
                    format!("`{text}` on line {line} is not a class the model was trained on"),
                    help,
                )
            }
            (Some(text), FittedTarget::Number { .. }) => {
                let message = format!("the target `{text}` on line {line} is not a number");
                ("data::not_numeric", message, "write the outcome as a number".to_string())
            }
        };
        diagnostics.push(Diagnostic::error(code, message).at_data(table.path(), line, Some(name)).with_help(help));
    }
    if let Some(more) = bad.len().checked_sub(MAX_REPORTED).filter(|&more| more > 0) {
        let message = format!("and {more} more rows whose target cannot be used");
        diagnostics
            .push(Diagnostic::error("data::bad_target", message).at_file(table.path()).with_help("fix these rows too"));
    }
    diagnostics
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::impute::tests::{all_rows, fit, fixture, input, regression, table};

    fn close(found: &[f32], expected: &[f32]) -> bool {
        found.len() == expected.len() && found.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-5)
    }

    const SCALED: &str = "x,y\n1,a\n2,b\n3,a\n4,b\n10,a\n";

    #[test]
    fn scales_with_training_statistics() {
        let cases: [(&str, [f32; 5]); 4] = [
            ("none", [1.0, 2.0, 3.0, 4.0, 10.0]),
            ("standard", [-3.0, -2.0, -1.0, 0.0, 6.0].map(|x| x / 10f32.sqrt())),
            ("minmax", [0.0, 1.0, 2.0, 3.0, 9.0].map(|x| x / 9.0)),
            ("robust", [-1.0, -0.5, 0.0, 0.5, 3.5]),
        ];
        for (scale, expected) in cases {
            let fixture = fixture(&format!("  scale: {scale}\n"), SCALED);
            let (transform, codes) = fit(&fixture, &all_rows(&fixture.table));
            assert!(codes.is_empty(), "{codes:?}");
            let applied = transform.apply(&fixture.table, &all_rows(&fixture.table)).expect("applies");
            assert!(close(&input(&applied, 0), &expected), "{scale}: {:?}", applied.features);
        }
    }

    #[test]
    fn image_pixels_are_scaled_per_channel_over_every_pixel() {
        // A 1x2 image with 2 channels: columns in row-major order (width, then channel).
        let csv = "p0,p1,p2,p3,y\n0,10,0,20,a\n4,30,0,40,b\n8,50,0,60,a\n2,0,5,0,b\n";
        let mut fixture = fixture("  scale: minmax\n", csv);
        // The model reads the four columns as a 1x2 image with 2 channels (a `shape` the test fixture's dense
        // model could not take).
        fixture.checked.input_shape = vec![1, 2, 2];
        let (transform, codes) = fit(&fixture, &[0, 1, 2]);
        // `p2` alone has no spread on the training rows, but its channel has: no warning.
        assert!(codes.is_empty(), "{codes:?}");
        let scales: Vec<(f32, f32)> = transform
            .features
            .iter()
            .map(|feature| match feature.values {
                FittedValues::Numeric { offset, scale, .. } => (offset, scale),
                FittedValues::Categorical { .. } => panic!("numeric"),
            })
            .collect();
        assert_eq!(scales, [(0.0, 8.0), (10.0, 50.0), (0.0, 8.0), (10.0, 50.0)]);
        let applied = transform.apply(&fixture.table, &[1]).expect("applies");
        assert_eq!(applied.features, ndarray::arr2(&[[0.5, 0.4, 0.0, 0.6]]));
    }

    #[test]
    fn zero_spread_on_training_rows_keeps_scale_one_with_a_warning() {
        let csv = "x,k,y\n5,1,a\n5,1,b\n5,1,a\n5,1,b\n9,1,a\n";
        let fixture = fixture("  scale: standard\n", csv);
        let (transform, codes) = fit(&fixture, &[0, 1, 2, 3]);
        // `k` is constant in the whole file, which the checker already reported: no second warning.
        assert_eq!(codes, ["data::zero_variance"]);
        let mut diagnostics = Diagnostics::new();
        let f = &fixture;
        Transform::fit(&f.spec, &f.checked, &f.schema, &f.table, &[0, 1, 2, 3], &mut diagnostics);
        assert!(diagnostics.items[0].message.contains("`x`") && !diagnostics.items[0].message.contains("`k`"));
        let applied = transform.apply(&fixture.table, &[3, 4]).expect("applies");
        assert_eq!(input(&applied, 0), [0.0, 4.0]);
        assert_eq!(input(&applied, 1), [0.0, 0.0]);
    }

    #[test]
    fn encodes_categories_one_hot_ordinal_and_binary() {
        let csv = "c,smoker,y\nred,yes,a\nblue,no,b\ngreen,no,a\nred,yes,b\n";
        let fixture = fixture("", csv);
        let (transform, _) = fit(&fixture, &all_rows(&fixture.table));
        assert_eq!(transform.input_names(), ["c=blue", "c=green", "c=red", "smoker=yes"]);
        let applied = transform.apply(&fixture.table, &[0, 1, 2]).expect("applies");
        let expected = [[0.0, 0.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]];
        assert_eq!(applied.features, ndarray::arr2(&expected));
        let fixture = self::fixture("  encode: ordinal\n", csv);
        let (transform, _) = fit(&fixture, &all_rows(&fixture.table));
        assert_eq!((transform.width(), transform.input_names()), (2, vec!["c".into(), "smoker=yes".into()]));
        let applied = transform.apply(&fixture.table, &[0, 1, 2]).expect("applies");
        assert_eq!(applied.features, ndarray::arr2(&[[2.0, 1.0], [0.0, 0.0], [1.0, 0.0]]));
    }

    #[test]
    fn numbers_declared_categorical_match_in_canonical_form() {
        let fixture = fixture("  types: {grade: categorical}\n", "grade,y\n1,a\n2,b\n3,a\n2,b\n");
        let (transform, _) = fit(&fixture, &all_rows(&fixture.table));
        assert_eq!(transform.input_names(), ["grade=1", "grade=2", "grade=3"]);
        let later = table("grade\n2.0\n+3\n");
        let applied = transform.apply(&later, &[0, 1]).expect("applies");
        assert_eq!(applied.features, ndarray::arr2(&[[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]));
        assert!(applied.unseen.is_empty());
    }

    #[test]
    fn unseen_category_is_all_zero_and_counted() {
        let csv = "c,smoker,y\nred,yes,a\nblue,no,b\ngreen,no,a\nred,yes,b\n";
        let fixture = fixture("", csv);
        let (transform, _) = fit(&fixture, &all_rows(&fixture.table));
        let later = table("c,smoker\npurple,yes\nred,maybe\npurple,no\n");
        let applied = transform.apply(&later, &[0, 1, 2]).expect("applies");
        let expected = [[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.5], [0.0, 0.0, 0.0, 0.0]];
        assert_eq!(applied.features, ndarray::arr2(&expected));
        let unseen: Vec<(&str, usize)> = applied.unseen.iter().map(|(name, n)| (name.as_str(), *n)).collect();
        assert_eq!(unseen, [("c", 2), ("smoker", 1)]);
        let warning = applied.unseen_warning(later.path()).expect("a warning");
        assert_eq!(warning.code, "data::unseen_category");
        assert!(warning.message.starts_with("3 value(s)") && warning.message.contains("`c` (2)"), "{warning:?}");
        let ordinal = self::fixture("  encode: ordinal\n", csv);
        let (transform, _) = fit(&ordinal, &all_rows(&ordinal.table));
        let applied = transform.apply(&later, &[0]).expect("applies");
        assert_eq!(input(&applied, 0), [-1.0]);
    }

    #[test]
    fn fitted_statistics_ignore_every_row_outside_training() {
        let csv = "x,c,y\n1,red,a\n2,blue,b\nNA,red,a\n4,green,b\n5,red,a\n6,blue,b\n";
        let changed = "x,c,y\n1,red,a\n2,blue,b\nNA,red,a\n4,green,b\n500,green,a\nNA,blue,a\n";
        let data = "  scale: robust\n  missing: {indicator: true}\n";
        let (before, after) = (fixture(data, csv), fixture(data, changed));
        let train = [0, 1, 2, 3];
        assert_eq!(fit(&before, &train).0.to_json(), fit(&after, &train).0.to_json());
        assert_ne!(fit(&before, &all_rows(&before.table)).0, fit(&after, &all_rows(&after.table)).0);
    }

    #[test]
    fn json_round_trip_gives_the_same_transform_and_inputs() {
        let csv = "x,c,smoker,y\n1.5,red,yes,a\n2.25,blue,no,b\nNA,red,no,a\n4.75,,yes,b\n0.1,green,no,a\n";
        let fixture = fixture("  scale: standard\n  missing: {indicator: true, numeric: mean}\n", csv);
        let (transform, _) = fit(&fixture, &[0, 1, 2, 3]);
        let json = transform.to_json();
        let read = Transform::from_json(&json).expect("reads back");
        assert_eq!(read, transform);
        assert_eq!(read.to_json(), json);
        let rows = all_rows(&fixture.table);
        let (original, reread) = (transform.apply(&fixture.table, &rows), read.apply(&fixture.table, &rows));
        let (original, reread) = (original.expect("applies"), reread.expect("applies"));
        assert_eq!(original, reread);
        let bits = |applied: &Applied| applied.features.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&original), bits(&reread));
    }

    #[test]
    fn every_f32_written_reads_back_bit_for_bit() {
        use rand::{Rng, SeedableRng};
        let mut random = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for _ in 0..20_000 {
            let value = f32::from_bits(random.gen());
            if value.is_finite() {
                let text = serde_json::to_string(&value).expect("writes");
                let back: f32 = serde_json::from_str(&text).expect("reads");
                assert_eq!(back.to_bits(), value.to_bits(), "{text}");
            }
        }
    }

    #[test]
    fn from_json_refuses_other_formats_and_damage() {
        let fixture = fixture("  scale: none\n", SCALED);
        let (transform, _) = fit(&fixture, &all_rows(&fixture.table));
        assert!(Transform::from_json("{").is_err());
        let newer = transform.to_json().replacen("\"format\": 1", "\"format\": 2", 1);
        assert!(Transform::from_json(&newer).expect_err("format 2").contains("format 2"));
        let damaged = transform.to_json().replacen("\"scale\": 1.0", "\"scale\": 0.0", 1);
        assert!(Transform::from_json(&damaged).expect_err("scale 0").contains("`x`"));
    }

    #[test]
    fn predict_time_columns_are_checked_by_name() {
        let fixture = fixture("  exclude: [note]\n", "x,c,note,y\n1,red,n,a\n2,blue,m,b\n3,red,o,a\n");
        let (transform, _) = fit(&fixture, &all_rows(&fixture.table));
        assert!(transform.check_columns(&table("c,x\nred,1\n"), &[]).is_empty());
        assert!(transform.check_columns(&table("note,y,c,x\nq,a,red,1\n"), &[]).is_empty());
        let found = transform.check_columns(&table("xx,c,site\n1,red,3\n"), &[]);
        let codes: Vec<&str> = found.items.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["data::missing_column", "data::extra_column"]);
        assert!(found.items[0].message.contains("`x`"), "{found:?}");
        assert!(found.items[0].help.as_deref().is_some_and(|help| help.contains("`xx` for `x`")));
        assert!(found.items[1].message.contains("`xx`, `site`"), "{found:?}");
        assert!(found.items[0].is_error() && !found.items[1].is_error(), "an extra column is only a warning");
        // An identifier column the training file lacked is ignored with a warning, never an error.
        let with_id = transform.check_columns(&table("patient_id,c,x\np1,red,1\n"), &[]);
        assert!(!with_id.has_errors(), "{with_id:?}");
        assert_eq!(with_id.items.iter().map(|d| d.code).collect::<Vec<_>>(), ["data::extra_column"]);
        assert!(with_id.items[0].message.contains("`patient_id`"));
        // A column the caller copies into its output is not extra.
        assert!(transform.check_columns(&table("patient_id,c,x\np1,red,1\n"), &["patient_id".into()]).is_empty());
        let error = transform.apply(&table("c\nred\n"), &[0]).expect_err("no `x`");
        assert_eq!(error.items[0].code, "data::missing_column");
    }

    #[test]
    fn bad_cells_are_errors_naming_the_line() {
        let fixture = fixture("  scale: none\n", SCALED);
        let (transform, _) = fit(&fixture, &all_rows(&fixture.table));
        let error = transform.apply(&table("x\n1\nabc\n"), &[0, 1]).expect_err("not a number");
        assert_eq!(error.items[0].code, "data::not_numeric");
        assert!(error.items[0].message.contains("`abc` in column `x` on line 3"), "{error:?}");
        let applied = transform.apply(&fixture.table, &[4, 0, 99]).expect("applies");
        assert_eq!((applied.rows.clone(), input(&applied, 0)), (vec![4, 0], vec![10.0, 1.0]));
    }

    #[test]
    fn targets_are_class_indices_or_numbers() {
        let fixture = fixture("", "x,y\n1,0\n2,1\n3,0\n4,1\n");
        let (transform, _) = fit(&fixture, &all_rows(&fixture.table));
        let later = table("x,y\n1,1.0\n2,0\n3,2\n4,\n");
        assert_eq!(transform.targets(&later, &[0, 1]), Ok(Targets::Classes(vec![1, 0])));
        let error = transform.targets(&later, &[0, 2, 3]).expect_err("unknown class");
        let found: Vec<(&str, bool)> = error.items.iter().map(|d| (d.code, d.message.contains("line"))).collect();
        assert_eq!(found, [("data::unknown_class", true), ("data::missing_target", true)]);
        assert!(error.items[0].message.contains("`2` on line 4"), "{error:?}");
        assert!(transform.targets(&table("x\n1\n"), &[0]).is_err());
        let fixture = regression("", "x,y\n1,10.5\n2,11\n3,12\n4,13\n");
        let (transform, _) = fit(&fixture, &all_rows(&fixture.table));
        assert_eq!(transform.targets(&fixture.table, &[0, 3]), Ok(Targets::Numbers(vec![10.5, 13.0])));
    }
}
