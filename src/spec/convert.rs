//! Writes an AST back as a document tree in either form, for `galen convert`.
//!
//! The tree is canonical: every setting that differs from its default is written, defaults are left out (except
//! a few that readers expect to see, such as the learning rate), and the front ends' printers turn it into text.
//! Parsing the text back gives the same AST.

use super::ast::*;
use super::tree::{Entry, Node, Value};
use super::{dsl, yaml, Form};
use crate::diagnostics::Span;

/// The spec as text in the given form.
pub fn to_text(spec: &Spec, form: Form) -> String {
    let tree = to_tree(spec, form);
    match form {
        Form::Dsl => dsl::print(&tree),
        Form::Yaml => yaml::print(&tree),
    }
}

/// The spec as a canonical document tree in the given form.
pub fn to_tree(spec: &Spec, form: Form) -> Node {
    let name_key = match form {
        Form::Yaml => "name",
        Form::Dsl => "experiment",
    };
    let mut top = vec![entry(name_key, text(&spec.name.value)), entry("seed", number(spec.seed.value as f64))];
    top.push(entry("data", map(data_entries(&spec.data, form))));
    let layers = spec.model.value.iter().map(|layer| layer_node(&layer.value, form));
    let model = match form {
        Form::Dsl => map(layers.map(|(name, params)| entry(name, params)).collect()),
        Form::Yaml => list(layers.map(|(name, params)| yaml_item(name, params)).collect()),
    };
    top.push(entry("model", model));
    top.push(entry("train", map(train_entries(&spec.train, form))));
    if !spec.metrics.value.is_empty() {
        top.push(entry("metrics", list(spec.metrics.value.iter().map(|m| text(m.value.name())).collect())));
    }
    map(top)
}

/// One parameter of a layer or variant: its key, value and whether it holds its default.
struct Param {
    key: &'static str,
    value: Node,
    is_default: bool,
}

fn param(key: &'static str, value: Node, is_default: bool) -> Param {
    Param { key, value, is_default }
}

/// Assembles parameters the way each form writes them. DSL: the leading `positional` parameters as bare values
/// (up to the first one left at its default), the rest as `key=value`. YAML: a mapping of the non-default
/// parameters, or the value alone when only the first positional parameter is set.
fn assemble(params: Vec<Param>, positional: &[&str], form: Form) -> Node {
    let given: Vec<Param> = params.into_iter().filter(|p| !p.is_default).collect();
    match form {
        Form::Dsl => {
            let mut values = Vec::new();
            let mut keywords = Vec::new();
            let mut in_order = true;
            for (index, key) in positional.iter().enumerate() {
                let found = given.iter().find(|p| p.key == *key);
                match found {
                    Some(p) if in_order && values.len() == index => values.push(p.value.clone()),
                    _ => in_order = false,
                }
            }
            for p in &given {
                let is_positional = positional.iter().take(values.len()).any(|key| *key == p.key);
                if !is_positional {
                    keywords.push(entry(p.key, p.value.clone()));
                }
            }
            if values.is_empty() && keywords.is_empty() {
                Node::new(Value::Bool(true), Span::default())
            } else {
                Node::new(Value::Args { positional: values, keywords }, Span::default())
            }
        }
        Form::Yaml => match given.as_slice() {
            [] => Node::new(Value::Null, Span::default()),
            [only] if positional.first() == Some(&only.key) && !matches!(only.value.value, Value::List(_)) => {
                only.value.clone()
            }
            _ => map(given.into_iter().map(|p| entry(p.key, p.value)).collect()),
        },
    }
}

/// A YAML model item: `- flatten`, `- dropout: 0.1` or `- dense: {units: 64}`.
fn yaml_item(name: &str, params: Node) -> Node {
    match params.value {
        Value::Null => text(name),
        _ => map(vec![entry(name, params)]),
    }
}

/// A variant: DSL `name key=value`, YAML `{name: {key: value}}`, or the name alone without parameters.
fn variant(name: &str, params: Vec<Param>, positional: &[&str], form: Form) -> Node {
    let assembled = assemble(params, positional, form);
    match (form, assembled.value) {
        (Form::Dsl, Value::Args { mut positional, keywords }) => {
            positional.insert(0, text(name));
            Node::new(Value::Args { positional, keywords }, Span::default())
        }
        (Form::Yaml, Value::Map(entries)) => map(vec![entry(name, map(entries))]),
        (Form::Yaml, Value::Null) | (Form::Dsl, _) => text(name),
        (Form::Yaml, other) => map(vec![entry(name, Node::new(other, Span::default()))]),
    }
}

fn data_entries(data: &Data, form: Form) -> Vec<Entry> {
    let mut entries = vec![entry("source", source_node(&data.source.value)), entry("target", text(&data.target.value))];
    if let Some(positive) = &data.positive {
        entries.push(entry("positive", text(&positive.value)));
    }
    if let Some(features) = &data.features {
        entries.push(entry("features", names(&features.value)));
    }
    if !data.exclude.value.is_empty() {
        entries.push(entry("exclude", names(&data.exclude.value)));
    }
    if !data.types.value.is_empty() {
        let types = data.types.value.iter().map(|(column, kind)| entry(&column.value, text(kind.value.name())));
        entries.push(entry("types", map(types.collect())));
    }
    if let Some(shape) = &data.shape {
        let sizes = list(shape.value.iter().map(|size| number(*size as f64)).collect());
        let shape = match form {
            // A bracketed list, as DESIGN.md writes shapes: `shape [8, 8, 1]`.
            Form::Dsl => Node::new(Value::Args { positional: vec![sizes], keywords: Vec::new() }, Span::default()),
            Form::Yaml => sizes,
        };
        entries.push(entry("shape", shape));
    }
    entries.push(entry("missing", missing_node(&data.missing)));
    entries.push(entry("scale", text(data.scale.value.name())));
    if data.encode.value != Encode::OneHot {
        entries.push(entry("encode", text(data.encode.value.name())));
    }
    entries.push(entry("split", split_node(&data.split.value, form)));
    if let Some(weights) = &data.class_weight {
        let node = match &weights.value {
            ClassWeight::Balanced => text("balanced"),
            ClassWeight::Explicit(weights) => {
                map(weights.iter().map(|(class, weight)| entry(&class.value, number(weight.value))).collect())
            }
        };
        entries.push(entry("class_weight", node));
    }
    if let Some(correction) = &data.risk_correction {
        entries.push(entry("risk_correction", text(correction.value.name())));
    }
    entries
}

fn source_node(source: &Source) -> Node {
    match source {
        Source::Csv { path, delimiter } if delimiter.value == ',' => text(&path.value),
        Source::Csv { path, delimiter } => {
            let delimiter = if delimiter.value == '\t' { "tab".to_string() } else { delimiter.value.to_string() };
            map(vec![entry("csv", text(&path.value)), entry("delimiter", text(&delimiter))])
        }
        Source::Images { dir, size, color, manifest } => {
            let mut entries = vec![entry("images", text(&dir.value)), entry("size", pair(size.value))];
            entries.push(entry("color", text(color.value.name())));
            if let Some(manifest) = manifest {
                entries.push(entry("manifest", text(&manifest.value)));
            }
            map(entries)
        }
    }
}

fn missing_node(missing: &Missing) -> Node {
    let mut entries = vec![
        entry("numeric", impute_node(&missing.numeric.value)),
        entry("categorical", impute_node(&missing.categorical.value)),
    ];
    if !missing.columns.is_empty() {
        let columns = missing.columns.iter().map(|(column, impute)| entry(&column.value, impute_node(&impute.value)));
        entries.push(entry("columns", map(columns.collect())));
    }
    if missing.indicator.value {
        entries.push(entry("indicator", Node::new(Value::Bool(true), Span::default())));
    }
    map(entries)
}

fn impute_node(impute: &Impute) -> Node {
    match impute {
        Impute::Constant(Scalar::Number { value, text: written }) => map(vec![entry(
            "constant",
            Node::new(Value::Number { value: *value, text: written.clone() }, Span::default()),
        )]),
        Impute::Constant(Scalar::Text(value)) => map(vec![entry("constant", text(value))]),
        other => text(other.name()),
    }
}

fn split_node(split: &Split, form: Form) -> Node {
    let mut entries = Vec::new();
    let (stratify, group) = match split {
        Split::Fractions { train, val, test, stratify, group } => {
            entries.push(entry("train", number(train.value)));
            entries.push(entry("val", number(val.value)));
            entries.push(entry("test", number(test.value)));
            (stratify.value, group)
        }
        Split::Column { column } => {
            entries.push(entry("column", text(&column.value)));
            (false, &None)
        }
        Split::TestFile { path, val, stratify, group } => {
            entries.push(entry("test_file", text(&path.value)));
            if val.value > 0.0 {
                entries.push(entry("val", number(val.value)));
            }
            (stratify.value, group)
        }
        Split::KFold { folds, test, stratify, group } => {
            entries.push(entry("k_fold", number(folds.value as f64)));
            entries.push(entry("test", number(test.value)));
            (stratify.value, group)
        }
    };
    if let Some(group) = group {
        entries.push(entry("group", text(&group.value)));
    }
    match (form, stratify) {
        // DSL writes a true flag bare: `split train=0.8 test=0.2 stratify`.
        (Form::Dsl, true) => {
            Node::new(Value::Args { positional: vec![text("stratify")], keywords: entries }, Span::default())
        }
        (Form::Yaml, true) => {
            entries.push(entry("stratify", Node::new(Value::Bool(true), Span::default())));
            map(entries)
        }
        (_, false) => map(entries),
    }
}

fn layer_node(layer: &Layer, form: Form) -> (&'static str, Node) {
    let activation = |a: &Spanned<Activation>| param("activation", text(a.value.name()), a.value == Activation::Linear);
    let (params, positional): (Vec<Param>, &[&str]) = match layer {
        Layer::Dense { units, activation: act } => {
            (vec![param("units", count(units.value), false), activation(act)], &["units", "activation"])
        }
        Layer::Conv2d { filters, kernel, stride, padding, activation: act } => (
            vec![
                param("filters", count(filters.value), false),
                param("kernel", pair(kernel.value), false),
                param("stride", pair(stride.value), stride.value == [1, 1]),
                param("padding", text(padding.value.name()), padding.value == Padding::Valid),
                activation(act),
            ],
            &["filters", "kernel", "activation"],
        ),
        Layer::MaxPool2d { size, stride } | Layer::AvgPool2d { size, stride } => (
            vec![
                param("size", pair(size.value), size.value == [2, 2]),
                param("stride", pair(stride.value), stride.value == size.value),
            ],
            &["size", "stride"],
        ),
        Layer::GlobalAvgPool2d | Layer::Flatten => (Vec::new(), &[]),
        Layer::Dropout { rate } => (vec![param("rate", number(rate.value), false)], &["rate"]),
        Layer::BatchNorm { momentum, epsilon } => (
            vec![
                param("momentum", number(momentum.value), momentum.value == 0.99),
                param("epsilon", number(epsilon.value), epsilon.value == 0.001),
            ],
            &[],
        ),
        Layer::Lstm { units, return_sequences } | Layer::Gru { units, return_sequences } => (
            vec![
                param("units", count(units.value), false),
                param("return_sequences", Node::new(Value::Bool(true), Span::default()), !return_sequences.value),
            ],
            &["units"],
        ),
        Layer::Activation { function } => (vec![param("name", text(function.value.name()), false)], &["name"]),
    };
    (layer.name(), assemble(params, positional, form))
}

fn train_entries(train: &Train, form: Form) -> Vec<Entry> {
    let mut entries = vec![entry("optimizer", optimizer_node(&train.optimizer.value, form))];
    entries.push(entry("loss", text(train.loss.value.name())));
    entries.push(entry("epochs", count(train.epochs.value)));
    entries.push(entry("batch_size", count(train.batch_size.value)));
    if let Some(stopping) = &train.early_stopping {
        let stopping = &stopping.value;
        let params = vec![
            param("monitor", text(&stopping.monitor.value), false),
            param("patience", count(stopping.patience.value), false),
            param("restore_best", Node::new(Value::Bool(false), Span::default()), stopping.restore_best.value),
            param("min_delta", number(stopping.min_delta.value), stopping.min_delta.value == 0.0),
        ];
        entries.push(entry("early_stopping", keywords(params)));
    }
    if let Some(schedule) = &train.schedule {
        let params = match &schedule.value {
            Schedule::Step { every, factor } => {
                vec![param("every", count(every.value), false), param("factor", number(factor.value), false)]
            }
            Schedule::Cosine { min_lr } => vec![param("min_lr", number(min_lr.value), min_lr.value == 0.0)],
            Schedule::Plateau { patience, factor, monitor } => vec![
                param("patience", count(patience.value), false),
                param("factor", number(factor.value), false),
                param("monitor", text(&monitor.value), monitor.value == "val_loss"),
            ],
        };
        entries.push(entry("schedule", variant(schedule.value.name(), params, &[], form)));
    }
    entries
}

fn optimizer_node(optimizer: &Optimizer, form: Form) -> Node {
    let lr = |lr: &Spanned<f64>| param("lr", number(lr.value), false);
    let value = |key: &'static str, v: &Spanned<f64>, default: f64| param(key, number(v.value), v.value == default);
    let mut params = match optimizer {
        Optimizer::Sgd { lr: rate, momentum, nesterov, .. } => vec![
            lr(rate),
            value("momentum", momentum, 0.0),
            param("nesterov", Node::new(Value::Bool(true), Span::default()), !nesterov.value),
        ],
        Optimizer::Adam { lr: rate, beta1, beta2, eps, .. } => {
            vec![lr(rate), value("beta1", beta1, 0.9), value("beta2", beta2, 0.999), value("eps", eps, 1e-7)]
        }
        Optimizer::AdamW { lr: rate, beta1, beta2, eps, weight_decay, .. } => vec![
            lr(rate),
            value("beta1", beta1, 0.9),
            value("beta2", beta2, 0.999),
            value("eps", eps, 1e-7),
            value("weight_decay", weight_decay, 0.004),
        ],
    };
    // No clipping is the default, so only a set one is written.
    if let Some(clipping) = optimizer.clipping() {
        params.push(param(clipping.value.key(), number(clipping.value.limit()), false));
    }
    variant(optimizer.name(), params, &[], form)
}

/// A mapping of the non-default parameters.
fn keywords(params: Vec<Param>) -> Node {
    map(params.into_iter().filter(|p| !p.is_default).map(|p| entry(p.key, p.value)).collect())
}

fn entry(key: &str, value: Node) -> Entry {
    Entry { key: key.to_string(), key_span: Span::default(), value }
}

fn map(entries: Vec<Entry>) -> Node {
    Node::new(Value::Map(entries), Span::default())
}

fn list(items: Vec<Node>) -> Node {
    Node::new(Value::List(items), Span::default())
}

fn text(value: &str) -> Node {
    Node::new(Value::Str(value.to_string()), Span::default())
}

fn names(values: &[Spanned<String>]) -> Node {
    list(values.iter().map(|value| text(&value.value)).collect())
}

fn number(value: f64) -> Node {
    Node::new(Value::Number { value, text: format_number(value) }, Span::default())
}

fn count(value: usize) -> Node {
    number(value as f64)
}

/// `3` for a square size, `[3, 5]` otherwise.
fn pair(value: [usize; 2]) -> Node {
    if value[0] == value[1] {
        count(value[0])
    } else {
        list(vec![count(value[0]), count(value[1])])
    }
}

/// The shortest text that reads back as the same number: `0.001`, `64`, `1e-7`.
pub fn format_number(value: f64) -> String {
    let plain = format!("{value}");
    let exponent = format!("{value:e}");
    if plain.len() > 8 && exponent.len() < plain.len() {
        exponent
    } else {
        plain
    }
}

/// The comments of a spec's source, which converting cannot keep (the document tree holds none): `#` to the end
/// of the line outside a quoted string, in either form. In YAML a `#` starts a comment only at the start of a line
/// or after a blank, and single-quoted strings count too.
pub fn count_comments(text: &str, form: Form) -> usize {
    let mut comments = 0;
    for line in text.lines() {
        let mut quote: Option<char> = None;
        let mut escaped = false;
        let mut previous = ' ';
        for character in line.chars() {
            match quote {
                Some('"') if escaped => escaped = false,
                Some('"') if character == '\\' => escaped = true,
                Some(open) if character == open => quote = None,
                Some(_) => {}
                None if character == '"' => quote = Some('"'),
                None if character == '\'' && form == Form::Yaml => quote = Some('\''),
                None if character == '#' && (form == Form::Dsl || previous.is_whitespace()) => {
                    comments += 1;
                    break;
                }
                None => {}
            }
            previous = character;
        }
    }
    comments
}

#[cfg(test)]
mod comment_tests {
    use super::*;

    #[test]
    fn comments_are_counted_outside_strings_in_both_forms() {
        let dsl = "# a spec\nexperiment \"a # not a comment\" # one\ndata {\n  source \"x.csv\"\n}\n";
        assert_eq!(count_comments(dsl, Form::Dsl), 2);
        let yaml = "# top\nname: 'it''s # not'\nurl: a#b\ndata:\n  source: \"x # y.csv\"  # trailing\n";
        assert_eq!(count_comments(yaml, Form::Yaml), 2);
        assert_eq!(count_comments("name: x\n", Form::Yaml), 0);
    }
}
