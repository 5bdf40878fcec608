//! The features: every column the data section names exists, the predictors are chosen (the listed features, or
//! every column but the target, the excluded, split and group columns and declared ids and dates), the leakage
//! guards run on identifier-like and date-like predictors, each predictor gets its missing-value strategy and its
//! width after one-hot encoding and missing indicators (a categorical predictor's categories are those of the rows
//! the model is fitted on, once the split is planned), and the input shape follows (`data.shape`, images).

use super::{shapes, unknown_column, Feature, Vocabularies};
use crate::data::{ColumnInfo, Schema};
use crate::diagnostics::{quote_list, Diagnostic, Diagnostics, Span};
use crate::spec::ast::*;
use crate::spec::lower::example;
use crate::spec::Form;

/// The predictor columns of a CSV source, each with its categories and width from the whole file (none for an
/// image manifest, whose inputs are the images). The caller reads the errors found from `diagnostics`.
pub(super) fn table_features(spec: &Spec, form: Form, schema: &Schema, diagnostics: &mut Diagnostics) -> Vec<Feature> {
    let data = &spec.data;
    let errors_before = diagnostics.error_count();
    if let Source::Images { .. } = data.source.value {
        // An image manifest: the inputs are the images, the table only lists them.
        return Vec::new();
    }
    let mut named: Vec<(&Spanned<String>, &str)> = Vec::new();
    named.extend(data.exclude.value.iter().map(|name| (name, "the excluded column")));
    named.extend(data.types.value.iter().map(|(name, _)| (name, "the column")));
    named.extend(data.missing.columns.iter().map(|(name, _)| (name, "the column")));
    if let Some(features) = &data.features {
        named.extend(features.value.iter().map(|name| (name, "the feature")));
    }
    let split_column = match &data.split.value {
        Split::Column { column } => Some(column),
        _ => None,
    };
    named.extend(split_column.map(|name| (name, "the split column")));
    named.extend(data.split.value.group().map(|name| (name, "the group column")));
    for (name, role) in &named {
        if schema.column(&name.value).is_none() {
            diagnostics.push(unknown_column(name, schema, role));
        }
    }
    let target = &data.target.value;
    let is_excluded = |name: &str| data.exclude.value.iter().any(|excluded| excluded.value == name);
    let chosen: Vec<(&ColumnInfo, Option<Span>)> = match &data.features {
        Some(features) => features
            .value
            .iter()
            .filter_map(|name| schema.column(&name.value).map(|column| (column, Some(name.span))))
            .collect(),
        None => schema
            .columns
            .iter()
            .filter(|column| column.name != *target && !is_excluded(&column.name))
            .filter(|column| split_column.is_none_or(|split| split.value != column.name))
            .filter(|column| data.split.value.group().is_none_or(|group| group.value != column.name))
            .filter(|column| !(column.declared && matches!(column.kind, ColumnKind::Id | ColumnKind::Date)))
            .map(|column| (column, None))
            .collect(),
    };
    let mut features = Vec::new();
    let mut constant: Vec<&str> = Vec::new();
    for (column, listed_at) in chosen {
        if column.name == *target {
            diagnostics.push(
                Diagnostic::error(
                    "check::target_as_feature",
                    format!("the target `{target}` is also listed as a feature"),
                )
                .at(listed_at.unwrap_or(data.target.span))
                .with_label("this would leak the answer into the inputs")
                .with_help(format!("remove `{target}` from `features`")),
            );
            continue;
        }
        if let Some(diagnostic) = leakage_guard(spec, form, column, listed_at) {
            diagnostics.push(diagnostic);
            continue;
        }
        if column.is_constant() && column.kind == ColumnKind::Numeric {
            constant.push(&column.name);
        }
        let impute = impute_for(spec, column, diagnostics);
        if column.kind == ColumnKind::Categorical && column.categories_truncated {
            diagnostics.push(too_many_categories(spec, column, listed_at));
            continue;
        }
        let categories = match column.kind {
            ColumnKind::Categorical | ColumnKind::Binary => column.categories.clone(),
            _ => Vec::new(),
        };
        let (name, kind, missing) = (column.name.clone(), column.kind, column.missing);
        let width = feature_width(spec, column, &categories, &impute);
        features.push(Feature { name, kind, width, missing, impute, categories });
    }
    if !constant.is_empty() {
        diagnostics.push(constant_columns(spec, form, &constant));
    }
    if features.is_empty() && diagnostics.error_count() == errors_before {
        diagnostics.push(
            Diagnostic::error("check::no_features", "no column is left to predict from")
                .at(data.span)
                .with_help("check `features` and `exclude`"),
        );
    }
    features
}

/// The input values a predictor becomes with `categories`: under one-hot encoding one per category and one for a
/// constant fill that is not among them (a category of its own), at least one; else one; plus a missing indicator
/// when asked for and the column has gaps.
fn feature_width(spec: &Spec, column: &ColumnInfo, categories: &[String], impute: &Impute) -> usize {
    let data = &spec.data;
    let extra_category = match impute {
        Impute::Constant(value) => usize::from(!categories.contains(&column.label_of(value.text()))),
        _ => 0,
    };
    // As the transform counts them: a column whose training rows hold no category but are filled with a constant
    // has that one category.
    let values = match (column.kind, data.encode.value) {
        (ColumnKind::Categorical, Encode::OneHot) => (categories.len() + extra_category).max(1),
        _ => 1,
    };
    values + usize::from(data.missing.indicator.value && column.missing > 0)
}

/// The input shape of a CSV source's `features` (the images' for an image manifest). With `vocabularies` (the
/// categories of the rows the model is fitted on), each categorical predictor takes its categories and width from
/// them; without, from the whole file.
pub(super) fn table_inputs(
    spec: &Spec,
    schema: &Schema,
    mut features: Vec<Feature>,
    vocabularies: Option<&Vocabularies>,
    diagnostics: &mut Diagnostics,
) -> Option<(Vec<Feature>, Vec<usize>)> {
    let data = &spec.data;
    if let Source::Images { .. } = data.source.value {
        return image_inputs(spec, diagnostics);
    }
    for feature in features.iter_mut().filter(|feature| feature.kind == ColumnKind::Categorical) {
        let (Some(categories), Some(column)) =
            (vocabularies.and_then(|found| found.get(&feature.name)), schema.column(&feature.name))
        else {
            continue;
        };
        feature.categories = categories.clone();
        feature.width = feature_width(spec, column, categories, &feature.impute);
    }
    let width: usize = features.iter().map(|feature| feature.width).sum();
    let shape = match &data.shape {
        Some(shape) => {
            let Some(product) = shape.value.iter().try_fold(1usize, |product, &size| product.checked_mul(size)) else {
                diagnostics.push(
                    Diagnostic::error(
                        "shape::too_large",
                        format!(
                            "`shape` {} multiplies to more than 2^64 values per row",
                            shapes::format_shape(&shape.value)
                        ),
                    )
                    .at(shape.span)
                    .with_label("far too many values")
                    .with_help(format!("make the sizes multiply to {width}, the number of input values per row")),
                );
                return None;
            };
            if product != width {
                diagnostics.push(
                    Diagnostic::error("shape::mismatch", format!("`shape` {} holds {product} values per row but the data give {width} input values", shapes::format_shape(&shape.value)))
                        .at(shape.span)
                        .with_label(format!("{product} values"))
                        .with_help(format!("make the sizes multiply to {width}, the number of input values per row (one-hot categories and missing indicators count), or exclude the extra columns")),
                );
                return None;
            }
            shape.value.clone()
        }
        None => vec![width],
    };
    Some((features, shape))
}

pub(super) fn image_inputs(spec: &Spec, diagnostics: &mut Diagnostics) -> Option<(Vec<Feature>, Vec<usize>)> {
    let Source::Images { size, color, .. } = &spec.data.source.value else { return None };
    let shape = vec![size.value[0], size.value[1], color.value.channels()];
    if let Some(declared) = &spec.data.shape {
        if declared.value != shape {
            diagnostics.push(
                Diagnostic::error(
                    "shape::mismatch",
                    format!(
                        "`shape` {} does not match the images, which are {}",
                        shapes::format_shape(&declared.value),
                        shapes::format_shape(&shape)
                    ),
                )
                .at(declared.span)
                .with_help("remove `shape`: images take their shape from `size` and `color`"),
            );
            return None;
        }
    }
    Some((Vec::new(), shape))
}

/// One warning for every predictor column that holds a single value (blank pixels at an image's border, a site
/// code in a one-site study), at the data file's name.
fn constant_columns(spec: &Spec, form: Form, names: &[&str]) -> Diagnostic {
    let (message, label) = match names {
        [name] => (format!("the column `{name}` has the same value on every row; it is kept with scale 1 but cannot help the model"), "a constant column"),
        _ => (
            format!("{} columns have the same value on every row: {}; they are kept with scale 1 but cannot help the model", names.len(), quote_list(names)),
            "constant columns",
        ),
    };
    // With a `shape` (or layers that will need one), every column is a fixed position (a pixel, a time step)
    // that must stay in its place.
    let positional_layers = spec.model.value.iter().any(|layer| {
        matches!(
            layer.value,
            Layer::Conv2d { .. }
                | Layer::MaxPool2d { .. }
                | Layer::AvgPool2d { .. }
                | Layer::GlobalAvgPool2d
                | Layer::Lstm { .. }
                | Layer::Gru { .. }
        )
    });
    let help = if spec.data.shape.is_some() || positional_layers {
        "nothing to change: they keep their place in `shape`, as blank pixels at an image's border do".to_string()
    } else {
        format!("to leave them out, write `{}`", exclude_example(form, names))
    };
    Diagnostic::warning("data::constant_column", message)
        .at(spec.data.source.span)
        .with_label(format!("{label} in this file"))
        .with_help(help)
}

/// `exclude a, b` or `exclude: [a, b]`.
fn exclude_example(form: Form, names: &[&str]) -> String {
    crate::spec::lower::list_example(form, "exclude", names)
}

/// The leakage guard of DESIGN.md: identifiers and dates are refused as predictors unless declared. A column that
/// `features` lists is pointed at there; one chosen by default, at the data file's name.
fn leakage_guard(spec: &Spec, form: Form, column: &ColumnInfo, listed_at: Option<Span>) -> Option<Diagnostic> {
    let at = listed_at.unwrap_or(spec.data.source.span);
    let name = column.name.as_str();
    // A text identifier that really is a predictor is a category; a number that happens to rise row by row, a
    // measurement.
    let kind = match (column.id_reason, column.kind) {
        (Some(crate::data::schema::IdReason::UniqueText), _) | (_, ColumnKind::Categorical) => "categorical",
        _ => "numeric",
    };
    let declare = example(form, &format!("types {name}={kind}"));
    match column.kind {
        ColumnKind::Id | ColumnKind::Date if column.declared => Some(
            Diagnostic::error(
                "check::declared_not_predictor",
                format!("the column `{name}` is declared `{}` and cannot be a predictor", column.kind),
            )
            .at(at)
            .with_label(format!("`{name}` is listed as a predictor"))
            .with_help("remove it from `features`, or declare it `numeric` or `categorical` in `types`"),
        ),
        ColumnKind::Id => {
            let why = column.id_reason.map_or("its values identify rows", |reason| reason.explanation());
            Some(
                Diagnostic::error("check::identifier_column", format!("the column `{name}` looks like an identifier, not a measurement, and would leak into the model: {why}"))
                    .at(at)
                    .with_label(format!("`{name}` would be a predictor"))
                    .with_help(format!("leave it out with `{}`; if it really is a predictor, declare its kind, as in `{declare}`", exclude_example(form, &[name]))),
            )
        }
        ColumnKind::Date => Some(
            Diagnostic::error(
                "check::date_column",
                format!("the column `{name}` looks like a date; dates are almost always leaks, not predictors"),
            )
            .at(at)
            .with_label(format!("`{name}` would be a predictor"))
            .with_help(format!(
                "leave it out with `{}`, or if it really is a predictor declare its kind in `types`",
                exclude_example(form, &[name])
            )),
        ),
        // Text with a different value every few rows (a patient id repeated over visits) is no category either.
        ColumnKind::Categorical if !column.declared && looks_like_repeated_identifier(column) => {
            let rows = column.category_counts.iter().sum::<usize>();
            Some(
                Diagnostic::error(
                    "check::identifier_column",
                    format!(
                        "the column `{name}` looks like an identifier and would leak into the model: {} different values in {rows} rows",
                        column.distinct
                    ),
                )
                .at(at)
                .with_label(format!("`{name}` would be a predictor"))
                .with_help(format!(
                    "leave it out with `{}`, or use it to keep each patient's rows together with `split ... group={name}`; if it really is a category, declare it, as in `{declare}`",
                    exclude_example(form, &[name])
                )),
            )
        }
        _ => None,
    }
}

/// At least 20 different values and fewer than four rows per value on average: real categories repeat far more.
fn looks_like_repeated_identifier(column: &ColumnInfo) -> bool {
    let rows: usize = column.category_counts.iter().sum();
    column.distinct >= 20 && column.distinct * 4 > rows
}

/// The strategy that fills a column's missing cells, checked against its kind.
fn impute_for(spec: &Spec, column: &ColumnInfo, diagnostics: &mut Diagnostics) -> Impute {
    let missing = &spec.data.missing;
    let per_column = missing.columns.iter().find(|(name, _)| name.value == column.name);
    let numeric = column.kind == ColumnKind::Numeric;
    let chosen = match per_column {
        Some((_, impute)) => impute,
        None if numeric => &missing.numeric,
        None => &missing.categorical,
    };
    let needs_numbers = matches!(chosen.value, Impute::Mean | Impute::Median | Impute::Interpolate | Impute::Zero);
    if needs_numbers && !numeric && (column.missing > 0 || per_column.is_some()) {
        diagnostics.push(
            Diagnostic::error(
                "check::impute_kind",
                format!("`{}` needs numbers but the column `{}` is {}", chosen.value.name(), column.name, column.kind),
            )
            .at(chosen.span)
            .with_label(format!("cannot fill `{}`", column.name))
            .with_help("use `mode`, `ffill`, `bfill`, `drop` or a constant for a categorical column"),
        );
    }
    let applies = column.missing > 0 || per_column.is_some();
    if let (Impute::Constant(value), true) = (&chosen.value, applies) {
        let problem = match column.kind {
            ColumnKind::Numeric if crate::data::schema::parse_number(value.text()).is_none() => Some(format!(
                "the constant `{}` is not a number but the column `{}` is numeric",
                value.text(),
                column.name
            )),
            ColumnKind::Binary if column.find_category(value.text()).is_none() => Some(format!(
                "the constant `{}` is neither of the two values of the binary column `{}` ({})",
                value.text(),
                column.name,
                crate::diagnostics::quote_list(&column.categories.iter().map(String::as_str).collect::<Vec<_>>())
            )),
            _ => None,
        };
        if let Some(message) = problem {
            diagnostics.push(
                Diagnostic::error("check::constant_kind", message)
                    .at(chosen.span)
                    .with_label(format!("cannot fill `{}`", column.name))
                    .with_help(if column.kind == ColumnKind::Binary {
                format!("fill with one of its two values or `mode`, or declare `{}` categorical in `types` to give the constant a column of its own", column.name)
            } else {
                "use a number, or another strategy (`median`, `mean`, ...)".to_string()
            }),
            );
        }
    }
    chosen.value.clone()
}

/// A categorical predictor with more values than galen keeps a vocabulary for.
fn too_many_categories(spec: &Spec, column: &ColumnInfo, listed_at: Option<Span>) -> Diagnostic {
    Diagnostic::error(
        "check::too_many_categories",
        format!("the column `{}` has {} different values, too many to encode as categories", column.name, column.distinct_text()),
    )
    .at(listed_at.unwrap_or(spec.data.source.span))
    .with_label(format!("`{}` would be a predictor", column.name))
    .with_help(format!(
        "a text column with this many values is usually an identifier or free text: exclude it (`exclude {}`), or declare it `numeric` in `types` if its values are numbers",
        column.name
    ))
}
