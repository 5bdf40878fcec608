//! Reads the generic document tree into the AST: every key, name, type and value range of the spec contract.
//!
//! Both front ends end here, so YAML and DSL share one set of rules and messages. Nothing stops at the first
//! problem: an unknown key, a misspelled name or a wrong value is recorded and reading goes on, with a stand-in
//! value, so that one mistake does not hide the next. A section whose stand-in values could mislead a later stage
//! is marked unsound in [`Lowered`], and the checker leaves it alone.

use super::ast::*;
use super::tree::{Entry, Node, Value};
use super::Form;
use crate::diagnostics::{did_you_mean, quote_list, unknown_name_help, Diagnostic, Diagnostics, Span};

/// The AST of a spec with the soundness of each section.
#[derive(Clone, Debug)]
pub struct Lowered {
    /// The spec, with stand-in values where the source was wrong.
    pub spec: Spec,
    /// Whether `data` was read without a stand-in value that matters.
    pub data_sound: bool,
    /// Whether every layer was read without a stand-in value.
    pub model_sound: bool,
    /// Whether `train` was read without a stand-in value that matters.
    pub train_sound: bool,
}

/// Reads a document tree into the AST. `default_name` names the experiment when the spec does not.
pub fn lower(document: &Node, form: Form, default_name: &str, diagnostics: &mut Diagnostics) -> Lowered {
    let mut reader = Reader { form, diagnostics, sound: true };
    let name_key = match form {
        Form::Yaml => "name",
        Form::Dsl => "experiment",
    };
    let top_keys: &[&str] = &[name_key, "seed", "data", "model", "train", "metrics"];
    let params = reader.bind(document, "the spec", top_keys, &[], &[]);
    let name = match params.get(name_key) {
        Some(node) => reader.text(node, name_key).unwrap_or_else(|| Spanned::new(default_name.into(), node.span)),
        None => Spanned::new(default_name.to_string(), Span::point(0)),
    };
    let seed = match params.get("seed") {
        Some(node) => reader.whole(node, "seed", 0).unwrap_or(Spanned::new(0, node.span)),
        None => Spanned::new(0, Span::point(0)),
    };
    reader.sound = true;
    let data_node = params.require(&mut reader, "data", "data { source \"file.csv\" ... }");
    let data = reader.data(data_node);
    let data_sound = std::mem::replace(&mut reader.sound, true);
    let model_node = params.require(&mut reader, "model", "model { dense 2 softmax }");
    let model = reader.model(model_node, document.span);
    let model_sound = std::mem::replace(&mut reader.sound, true);
    let train_node = params.require(&mut reader, "train", "train { loss ... }");
    let train = reader.train(train_node, document.span);
    let train_sound = std::mem::replace(&mut reader.sound, true);
    let metrics = match params.get("metrics") {
        Some(node) => reader.metrics(node),
        None => Spanned::new(Vec::new(), Span::point(document.span.end)),
    };
    let spec = Spec { name, seed, data, model, train, metrics };
    Lowered { spec, data_sound, model_sound, train_sound }
}

/// The state of one lowering: where to put diagnostics and whether the current section is still sound.
struct Reader<'d> {
    form: Form,
    diagnostics: &'d mut Diagnostics,
    sound: bool,
}

/// The arguments of one map-like node, checked against the keys its owner accepts.
struct Params {
    owner: String,
    span: Span,
    values: Vec<(&'static str, Node)>,
}

impl Params {
    fn get(&self, key: &str) -> Option<&Node> {
        self.values.iter().find(|(name, _)| *name == key).map(|(_, node)| node)
    }

    /// The value of a required key; a missing one is an error with an example of how to write it.
    fn require(&self, reader: &mut Reader, key: &str, example: &str) -> Option<&Node> {
        let found = self.get(key);
        if found.is_none() {
            reader.sound = false;
            let example = reader.example(example);
            reader.error(
                Diagnostic::error("spec::missing_key", format!("{} has no `{key}`", self.owner))
                    .at(Span::point(self.span.start))
                    .with_label(format!("`{key}` is required here"))
                    .with_help(format!("add it, for example `{example}`")),
            );
        }
        found
    }
}

impl Reader<'_> {
    fn error(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    /// Writes a DSL example (`key value`, `key a=b`) in the spec's own form.
    fn example(&self, dsl: &str) -> String {
        match self.form {
            Form::Dsl => dsl.to_string(),
            Form::Yaml => match dsl.split_once(' ') {
                Some((key, rest)) if rest.starts_with('{') => format!("{key}: ..."),
                Some((key, rest)) if rest.contains('=') => {
                    let mut words = rest.split(' ');
                    let first = words.next().unwrap_or_default();
                    let pairs: Vec<String> = std::iter::once(first)
                        .chain(words)
                        .filter_map(|pair| pair.split_once('='))
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect();
                    if first.contains('=') {
                        format!("{key}: {{{}}}", pairs.join(", "))
                    } else {
                        format!("{key}: {{{first}: {{{}}}}}", pairs.join(", "))
                    }
                }
                Some((key, rest)) => format!("{key}: {rest}"),
                None => format!("{dsl}: ..."),
            },
        }
    }

    fn wrong_type(&mut self, node: &Node, what: &str, expected: &str) {
        self.sound = false;
        self.error(
            Diagnostic::error("spec::wrong_type", format!("{what} must be {expected}, found {}", node.kind_name()))
                .at(node.span)
                .with_label(format!("expected {expected}")),
        );
    }

    fn out_of_range(&mut self, span: Span, what: &str, rule: &str, help: &str) {
        self.sound = false;
        self.error(
            Diagnostic::error("value::out_of_range", format!("{what} {rule}"))
                .at(span)
                .with_label(format!("{what} {rule}"))
                .with_help(help.to_string()),
        );
    }

    /// Checks the keys of a map-like node against `keys`. Positional values (DSL) are bound to `positional` in
    /// order; a positional bare word naming one of `flags` sets that flag. A scalar is one positional value; a
    /// bare `true` (a DSL statement without arguments) or YAML null gives no argument at all.
    fn bind(
        &mut self,
        node: &Node,
        owner: &str,
        keys: &[&'static str],
        positional: &[&'static str],
        flags: &[&'static str],
    ) -> Params {
        let mut params = Params { owner: owner.to_string(), span: node.span, values: Vec::new() };
        let (given_positional, keywords): (Vec<&Node>, Vec<&Entry>) = match &node.value {
            Value::Map(entries) => (Vec::new(), entries.iter().collect()),
            Value::Args { positional, keywords } => (positional.iter().collect(), keywords.iter().collect()),
            Value::List(items) if !positional.is_empty() => (items.iter().collect(), Vec::new()),
            Value::Null | Value::Bool(true) => (Vec::new(), Vec::new()),
            Value::Number { .. } | Value::Str(_) if !positional.is_empty() || !flags.is_empty() => {
                (vec![node], Vec::new())
            }
            _ => {
                let expected = if positional.is_empty() {
                    format!("a mapping of {}", quote_list(keys))
                } else {
                    format!("a value for {} or a mapping of {}", quote_list(positional), quote_list(keys))
                };
                self.wrong_type(node, owner, &expected);
                return params;
            }
        };
        let mut next_positional = positional.iter();
        for value in given_positional {
            if let Value::Str(word) = &value.value {
                if let Some(flag) = flags.iter().find(|flag| **flag == word.as_str()) {
                    self.add_param(&mut params, flag, value.span, Node::new(Value::Bool(true), value.span));
                    continue;
                }
            }
            match next_positional.next() {
                Some(name) => self.add_param(&mut params, name, value.span, value.clone()),
                None => {
                    let help = if positional.is_empty() {
                        format!("write it as `key=value` with one of {}", quote_list(keys))
                    } else {
                        format!("{owner} takes at most {} value(s) in order ({}); name the others", positional.len(), quote_list(positional))
                    };
                    self.error(
                        Diagnostic::error("spec::too_many_values", format!("too many values for {owner}"))
                            .at(value.span)
                            .with_label("this value has no place")
                            .with_help(help),
                    );
                }
            }
        }
        for entry in keywords {
            match keys.iter().find(|key| **key == entry.key.as_str()) {
                Some(key) => self.add_param(&mut params, key, entry.key_span, entry.value.clone()),
                None => {
                    self.error(
                        Diagnostic::error("spec::unknown_key", format!("unknown key `{}` in {owner}", entry.key))
                            .at(entry.key_span)
                            .with_label(format!("not a key of {owner}"))
                            .with_help(unknown_name_help(&entry.key, keys)),
                    );
                }
            }
        }
        params
    }

    fn add_param(&mut self, params: &mut Params, name: &'static str, span: Span, value: Node) {
        if params.get(name).is_some() {
            self.error(
                Diagnostic::error("spec::duplicate_key", format!("`{name}` is given twice in {}", params.owner))
                    .at(span)
                    .with_label("given again here")
                    .with_help("keep only one of them"),
            );
            return;
        }
        params.values.push((name, value));
    }

    fn number(&mut self, node: &Node, what: &str) -> Option<Spanned<f64>> {
        match &node.value {
            Value::Number { value, .. } if value.is_finite() => Some(Spanned::new(*value, node.span)),
            _ => {
                self.wrong_type(node, what, "a number");
                None
            }
        }
    }

    /// A whole number at least `min`.
    fn whole(&mut self, node: &Node, what: &str, min: u64) -> Option<Spanned<u64>> {
        let number = self.number(node, what)?;
        if number.value.fract() != 0.0 || number.value < 0.0 || number.value > 9.0e15 {
            self.wrong_type(node, what, "a whole number");
            return None;
        }
        if (number.value as u64) < min {
            self.out_of_range(node.span, what, &format!("must be at least {min}"), "use a positive whole number");
            return None;
        }
        Some(Spanned::new(number.value as u64, node.span))
    }

    fn count(&mut self, node: &Node, what: &str) -> Option<Spanned<usize>> {
        self.whole(node, what, 1).map(|n| Spanned::new(n.value as usize, n.span))
    }

    fn flag(&mut self, node: &Node, what: &str) -> Option<Spanned<bool>> {
        match node.value {
            Value::Bool(value) => Some(Spanned::new(value, node.span)),
            _ => {
                self.wrong_type(node, what, "true or false");
                None
            }
        }
    }

    /// A name or text; a number is taken as its text (a column or class may be called `1`).
    fn text(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        match &node.value {
            Value::Str(text) => Some(Spanned::new(text.clone(), node.span)),
            Value::Number { text, .. } => Some(Spanned::new(text.clone(), node.span)),
            _ => {
                self.wrong_type(node, what, "a name or a quoted text");
                None
            }
        }
    }

    /// One name of a fixed vocabulary, with "did you mean" for a misspelling.
    fn choice<T: Copy>(&mut self, node: &Node, what: &str, code: &'static str, table: &[(&str, T)]) -> Option<Spanned<T>> {
        let text = self.text(node, what)?;
        if let Some((_, value)) = table.iter().find(|(name, _)| *name == text.value) {
            return Some(Spanned::new(*value, node.span));
        }
        self.sound = false;
        let names: Vec<&str> = table.iter().map(|(name, _)| *name).collect();
        self.error(
            Diagnostic::error(code, format!("unknown {what} `{}`", text.value))
                .at(node.span)
                .with_label(format!("not a known {what}"))
                .with_help(unknown_name_help(&text.value, &names)),
        );
        None
    }

    fn names(&mut self, node: &Node, what: &str) -> Spanned<Vec<Spanned<String>>> {
        let items: Vec<&Node> = match &node.value {
            Value::List(items) => items.iter().collect(),
            _ => vec![node],
        };
        let names = items.into_iter().filter_map(|item| self.text(item, what)).collect();
        Spanned::new(names, node.span)
    }

    /// `3` or `[3, 3]`, as a pair of positive sizes.
    fn pair(&mut self, node: &Node, what: &str) -> Option<Spanned<[usize; 2]>> {
        match &node.value {
            Value::List(items) if items.len() == 2 => {
                let first = self.count(&items[0], what)?;
                let second = self.count(&items[1], what)?;
                Some(Spanned::new([first.value, second.value], node.span))
            }
            Value::List(_) => {
                self.wrong_type(node, what, "one size or a list of two (height, width)");
                None
            }
            _ => self.count(node, what).map(|n| Spanned::new([n.value, n.value], node.span)),
        }
    }

    fn fraction(&mut self, node: &Node, what: &str, upper_open: bool) -> Option<Spanned<f64>> {
        let value = self.number(node, what)?;
        let ok = value.value >= 0.0 && if upper_open { value.value < 1.0 } else { value.value <= 1.0 };
        if !ok {
            let rule = if upper_open { "must be at least 0 and below 1" } else { "must be between 0 and 1" };
            self.out_of_range(node.span, what, rule, "write a fraction such as 0.2");
            return None;
        }
        Some(value)
    }

    fn positive_number(&mut self, node: &Node, what: &str) -> Option<Spanned<f64>> {
        let value = self.number(node, what)?;
        if value.value <= 0.0 {
            self.out_of_range(node.span, what, "must be above 0", "use a small positive number such as 0.001");
            return None;
        }
        Some(value)
    }

    /// A parameter with a default: the spec's value if given and valid, else the default at the owner's span.
    fn param<T>(&mut self, params: &Params, key: &str, default: T, read: impl FnOnce(&mut Self, &Node) -> Option<Spanned<T>>) -> Spanned<T> {
        match params.get(key) {
            Some(node) => read(self, node).unwrap_or(Spanned::new(default, node.span)),
            None => Spanned::new(default, Span::point(params.span.start)),
        }
    }

    /// A variant written `{name: {params}}` (YAML), `name key=value` (DSL) or just `name`.
    fn variant(&mut self, node: &Node, what: &str, code: &'static str, names: &[&'static str]) -> Option<(Spanned<&'static str>, Node)> {
        let (name_node, params) = match &node.value {
            Value::Str(_) => (node.clone(), Node::new(Value::Null, node.span)),
            Value::Map(entries) if entries.len() == 1 => {
                let entry = &entries[0];
                (Node::new(Value::Str(entry.key.clone()), entry.key_span), entry.value.clone())
            }
            Value::Args { positional, keywords } if !positional.is_empty() => {
                let rest: Vec<Node> = positional[1..].to_vec();
                let span = positional[0].span.to(node.span);
                let params = if rest.is_empty() {
                    Node::new(Value::Map(keywords.clone()), span)
                } else {
                    Node::new(Value::Args { positional: rest, keywords: keywords.clone() }, span)
                };
                (positional[0].clone(), params)
            }
            Value::List(items) if !items.is_empty() => {
                let span = node.span;
                (items[0].clone(), Node::new(Value::List(items[1..].to_vec()), span))
            }
            _ => {
                self.wrong_type(node, what, &format!("one of {}", quote_list(names)));
                return None;
            }
        };
        let table: Vec<(&str, &'static str)> = names.iter().map(|name| (*name, *name)).collect();
        let name = self.choice(&name_node, what, code, &table)?;
        Some((name, params))
    }

    fn data(&mut self, node: Option<&Node>) -> Data {
        let empty = Node::new(Value::Map(Vec::new()), Span::point(0));
        let node = node.unwrap_or(&empty);
        const KEYS: &[&str] = &[
            "source", "target", "positive", "features", "exclude", "types", "shape", "missing", "scale", "encode",
            "split", "class_weight",
        ];
        let params = self.bind(node, "`data`", KEYS, &[], &[]);
        let source = match params.require(self, "source", "source \"data/file.csv\"") {
            Some(node) => self.source(node),
            None => None,
        };
        let source = source.unwrap_or_else(|| {
            self.sound = false;
            let span = Span::point(node.span.start);
            Spanned::new(Source::Csv { path: Spanned::new(String::new(), span), delimiter: Spanned::new(',', span) }, span)
        });
        let target = params.require(self, "target", "target outcome").and_then(|node| self.text(node, "`target`"));
        let target = target.unwrap_or_else(|| {
            self.sound = false;
            Spanned::new(String::new(), node.span)
        });
        let positive = params.get("positive").and_then(|node| self.text(node, "`positive`"));
        let features = params.get("features").map(|node| self.names(node, "a feature column"));
        let exclude = match params.get("exclude") {
            Some(node) => self.names(node, "an excluded column"),
            None => Spanned::new(Vec::new(), Span::point(node.span.start)),
        };
        let types = match params.get("types") {
            Some(node) => self.types(node),
            None => Spanned::new(Vec::new(), Span::point(node.span.start)),
        };
        let shape = params.get("shape").and_then(|node| self.shape(node));
        // What follows has legal defaults, so a mistake there cannot mislead the data checks.
        let sound = self.sound;
        let missing = self.missing(params.get("missing"), node.span);
        let scale = self.param(&params, "scale", Scale::Standard, |r, n| r.choice(n, "scaling", "spec::unknown_name", Scale::ALL));
        let encode = self.param(&params, "encode", Encode::OneHot, |r, n| r.choice(n, "encoding", "spec::unknown_name", Encode::ALL));
        let split = self.split(params.get("split"), node.span);
        let class_weight = params.get("class_weight").and_then(|node| self.class_weight(node));
        self.sound = sound;
        Data {
            span: node.span,
            source,
            target,
            positive,
            features,
            exclude,
            types,
            shape,
            missing,
            scale,
            encode,
            split,
            class_weight,
        }
    }

    fn source(&mut self, node: &Node) -> Option<Spanned<Source>> {
        if let Value::Str(_) = node.value {
            let path = self.text(node, "`source`")?;
            let delimiter = Spanned::new(',', node.span);
            return Some(Spanned::new(Source::Csv { path, delimiter }, node.span));
        }
        const KEYS: &[&str] = &["csv", "delimiter", "images", "size", "color", "manifest"];
        let params = self.bind(node, "`data.source`", KEYS, &[], &[]);
        let csv = params.get("csv").and_then(|n| self.text(n, "`csv`"));
        let images = params.get("images").and_then(|n| self.text(n, "`images`"));
        let source = match (csv, images) {
            (Some(path), None) => {
                for key in ["size", "color", "manifest"] {
                    if let Some(extra) = params.get(key) {
                        self.error(
                            Diagnostic::error("spec::conflict", format!("`{key}` applies to image folders, not to a csv source"))
                                .at(extra.span)
                                .with_label("not used with `csv`")
                                .with_help(format!("remove `{key}`, or use `images` for a folder of images")),
                        );
                    }
                }
                let delimiter = self.param(&params, "delimiter", ',', |r, n| r.delimiter(n));
                Source::Csv { path, delimiter }
            }
            (None, Some(dir)) => {
                if let Some(extra) = params.get("delimiter") {
                    self.error(
                        Diagnostic::error("spec::conflict", "`delimiter` applies to csv files, not to image folders")
                            .at(extra.span)
                            .with_label("not used with `images`")
                            .with_help("remove `delimiter`"),
                    );
                }
                let size = params.require(self, "size", "source images=\"scans\" size=[64, 64]").and_then(|n| self.pair(n, "image `size`"));
                let size = size.unwrap_or_else(|| {
                    self.sound = false;
                    Spanned::new([1, 1], node.span)
                });
                let color = self.param(&params, "color", Color::Rgb, |r, n| r.choice(n, "color", "spec::unknown_name", Color::ALL));
                let manifest = params.get("manifest").and_then(|n| self.text(n, "`manifest`"));
                Source::Images { dir, size, color, manifest }
            }
            (Some(_), Some(_)) => {
                self.sound = false;
                self.error(
                    Diagnostic::error("spec::conflict", "a source is either a `csv` file or an `images` folder, not both")
                        .at(node.span)
                        .with_help("keep one of `csv` and `images`"),
                );
                return None;
            }
            (None, None) => {
                self.sound = false;
                let example = self.example("source csv=\"data/file.csv\" delimiter=\";\"");
                self.error(
                    Diagnostic::error("spec::missing_key", "`data.source` names neither a `csv` file nor an `images` folder")
                        .at(node.span)
                        .with_help(format!("write the path alone, or for example `{example}`")),
                );
                return None;
            }
        };
        Some(Spanned::new(source, node.span))
    }

    fn delimiter(&mut self, node: &Node) -> Option<Spanned<char>> {
        let text = self.text(node, "`delimiter`")?;
        let delimiter = match text.value.as_str() {
            "tab" | "\\t" | "\t" => '\t',
            other if other.chars().count() == 1 && other.is_ascii() => other.chars().next().unwrap_or(','),
            _ => {
                self.out_of_range(node.span, "`delimiter`", "must be one character", "write for example \";\" or \"tab\"");
                return None;
            }
        };
        Some(Spanned::new(delimiter, node.span))
    }

    fn types(&mut self, node: &Node) -> Spanned<Vec<(Spanned<String>, Spanned<ColumnKind>)>> {
        let Value::Map(entries) = &node.value else {
            self.wrong_type(node, "`types`", "a mapping of column names to kinds");
            return Spanned::new(Vec::new(), node.span);
        };
        let mut types: Vec<(Spanned<String>, Spanned<ColumnKind>)> = Vec::new();
        for entry in entries {
            let Some(kind) = self.choice(&entry.value, "column kind", "spec::unknown_name", ColumnKind::ALL) else { continue };
            if types.iter().any(|(column, _)| column.value == entry.key) {
                self.error(
                    Diagnostic::error("spec::duplicate_key", format!("column `{}` is given twice in `types`", entry.key))
                        .at(entry.key_span)
                        .with_label("given again here")
                        .with_help("keep only one of them"),
                );
                continue;
            }
            types.push((Spanned::new(entry.key.clone(), entry.key_span), kind));
        }
        Spanned::new(types, node.span)
    }

    fn shape(&mut self, node: &Node) -> Option<Spanned<Vec<usize>>> {
        let Value::List(items) = &node.value else {
            self.wrong_type(node, "`shape`", "a list of sizes such as [8, 8, 1] or [180, 1]");
            return None;
        };
        if !(2..=3).contains(&items.len()) {
            self.out_of_range(node.span, "`shape`", "must have two sizes (steps, features) or three (height, width, channels)", "write for example [8, 8, 1] or [180, 1]");
            return None;
        }
        let sizes: Option<Vec<usize>> = items.iter().map(|item| self.count(item, "a `shape` size").map(|n| n.value)).collect();
        Some(Spanned::new(sizes?, node.span))
    }

    fn missing(&mut self, node: Option<&Node>, section: Span) -> Missing {
        let default = |impute: Impute| Spanned::new(impute, Span::point(section.start));
        let Some(node) = node else {
            return Missing {
                numeric: default(Impute::Median),
                categorical: default(Impute::Mode),
                columns: Vec::new(),
                indicator: Spanned::new(false, Span::point(section.start)),
            };
        };
        // A single strategy applies to both kinds: `missing: drop`.
        if matches!(node.value, Value::Str(_)) {
            let impute = self.impute(node).unwrap_or(default(Impute::Median));
            return Missing {
                numeric: impute.clone(),
                categorical: impute,
                columns: Vec::new(),
                indicator: Spanned::new(false, node.span),
            };
        }
        let params = self.bind(node, "`data.missing`", &["numeric", "categorical", "columns", "indicator"], &[], &["indicator"]);
        let numeric = self.param(&params, "numeric", Impute::Median, |r, n| r.impute(n));
        let categorical = self.param(&params, "categorical", Impute::Mode, |r, n| r.impute(n));
        if let Impute::Interpolate = categorical.value {
            self.out_of_range(categorical.span, "`interpolate`", "needs numbers and cannot fill a categorical column", "use `mode`, `ffill`, `bfill` or a constant");
        }
        let indicator = self.param(&params, "indicator", false, |r, n| r.flag(n, "`indicator`"));
        let mut columns: Vec<(Spanned<String>, Spanned<Impute>)> = Vec::new();
        if let Some(columns_node) = params.get("columns") {
            match &columns_node.value {
                Value::Map(entries) => {
                    for entry in entries {
                        let Some(impute) = self.impute(&entry.value) else { continue };
                        columns.push((Spanned::new(entry.key.clone(), entry.key_span), impute));
                    }
                }
                _ => self.wrong_type(columns_node, "`missing.columns`", "a mapping of column names to strategies"),
            }
        }
        Missing { numeric, categorical, columns, indicator }
    }

    fn impute(&mut self, node: &Node) -> Option<Spanned<Impute>> {
        let constant = |reader: &mut Self, value: &Node| -> Option<Spanned<Impute>> {
            let scalar = match &value.value {
                Value::Number { value, text } => Scalar::Number { value: *value, text: text.clone() },
                Value::Str(text) => Scalar::Text(text.clone()),
                _ => {
                    reader.wrong_type(value, "`constant`", "a number or a text");
                    return None;
                }
            };
            Some(Spanned::new(Impute::Constant(scalar), node.span))
        };
        match &node.value {
            Value::Map(entries) if entries.len() == 1 && entries[0].key == "constant" => constant(self, &entries[0].value),
            Value::Str(name) if name == "constant" => {
                let help = format!("write `{}`", self.example("constant=0"));
                self.out_of_range(node.span, "`constant`", "needs a value", &help);
                None
            }
            Value::Str(_) => {
                let table: Vec<(&str, usize)> = Impute::NAMES.iter().enumerate().map(|(i, n)| (*n, i)).collect();
                let index = self.choice(node, "missing-value strategy", "spec::unknown_name", &table)?;
                let name = Impute::NAMES[index.value];
                Impute::from_name(name).map(|impute| Spanned::new(impute, node.span))
            }
            _ => {
                self.wrong_type(node, "a missing-value strategy", &format!("one of {} or {{constant: VALUE}}", quote_list(Impute::NAMES)));
                None
            }
        }
    }

    fn split(&mut self, node: Option<&Node>, section: Span) -> Spanned<Split> {
        let at = Span::point(section.start);
        let Some(node) = node else {
            let split = Split::Fractions {
                train: Spanned::new(0.8, at),
                val: Spanned::new(0.0, at),
                test: Spanned::new(0.2, at),
                stratify: Spanned::new(false, at),
                group: None,
            };
            return Spanned::new(split, at);
        };
        const KEYS: &[&str] = &["train", "val", "test", "stratify", "group", "column", "test_file", "k_fold"];
        let params = self.bind(node, "`data.split`", KEYS, &[], &["stratify"]);
        let stratify = self.param(&params, "stratify", false, |r, n| r.flag(n, "`stratify`"));
        let group = params.get("group").and_then(|n| self.text(n, "`group`"));
        let fraction = |reader: &mut Self, key: &str| params.get(key).and_then(|n| reader.fraction(n, &format!("`{key}`"), false));
        let method: Vec<&str> = ["column", "test_file", "k_fold"].into_iter().filter(|key| params.get(key).is_some()).collect();
        let forbid = |reader: &mut Self, method: &str, keys: &[&str]| {
            for key in keys {
                if let Some(extra) = params.get(key) {
                    reader.sound = false;
                    reader.error(
                        Diagnostic::error("spec::conflict", format!("`{key}` cannot be combined with `{method}` in `data.split`"))
                            .at(extra.span)
                            .with_label(format!("not used with `{method}`"))
                            .with_help(format!("remove `{key}`")),
                    );
                }
            }
        };
        let split = match method.as_slice() {
            [] => {
                let train = fraction(self, "train");
                let val = fraction(self, "val");
                let test = fraction(self, "test");
                let given = [train.as_ref(), val.as_ref(), test.as_ref()];
                let (train, val, test) = if given.iter().all(Option::is_none) {
                    (Spanned::new(0.8, at), Spanned::new(0.0, at), Spanned::new(0.2, at))
                } else {
                    let zero = Spanned::new(0.0, Span::point(node.span.start));
                    (train.unwrap_or(zero.clone()), val.unwrap_or(zero.clone()), test.unwrap_or(zero))
                };
                let sum = train.value + val.value + test.value;
                if (sum - 1.0).abs() > 1e-6 {
                    self.out_of_range(
                        node.span,
                        "the split fractions",
                        &format!("add up to {} instead of 1", trim_float(sum)),
                        "make train + val + test equal 1, for example train=0.7 val=0.1 test=0.2",
                    );
                } else if train.value <= 0.0 {
                    self.out_of_range(train.span, "`train`", "must be above 0", "keep some rows for training");
                }
                Split::Fractions { train, val, test, stratify, group }
            }
            ["column"] => {
                forbid(self, "column", &["train", "val", "test", "stratify", "group"]);
                let column = params.get("column").and_then(|n| self.text(n, "`column`")).unwrap_or(Spanned::new(String::new(), node.span));
                Split::Column { column }
            }
            ["test_file"] => {
                forbid(self, "test_file", &["train", "test"]);
                let path = params.get("test_file").and_then(|n| self.text(n, "`test_file`")).unwrap_or(Spanned::new(String::new(), node.span));
                let val = params.get("val").and_then(|n| self.fraction(n, "`val`", true)).unwrap_or(Spanned::new(0.0, at));
                Split::TestFile { path, val, stratify, group }
            }
            ["k_fold"] => {
                forbid(self, "k_fold", &["train", "val"]);
                let folds = params.get("k_fold").and_then(|n| self.whole(n, "`k_fold`", 2)).map(|n| Spanned::new(n.value as usize, n.span));
                let folds = folds.unwrap_or(Spanned::new(5, node.span));
                let test = params.get("test").and_then(|n| self.fraction(n, "`test`", true)).unwrap_or(Spanned::new(0.2, at));
                Split::KFold { folds, test, stratify, group }
            }
            _ => {
                self.sound = false;
                self.error(
                    Diagnostic::error("spec::conflict", format!("`data.split` can use only one of {}", quote_list(&method)))
                        .at(node.span)
                        .with_help("choose one way to split the rows"),
                );
                Split::Fractions {
                    train: Spanned::new(0.8, at),
                    val: Spanned::new(0.0, at),
                    test: Spanned::new(0.2, at),
                    stratify,
                    group,
                }
            }
        };
        Spanned::new(split, node.span)
    }

    fn class_weight(&mut self, node: &Node) -> Option<Spanned<ClassWeight>> {
        match &node.value {
            Value::Str(name) if name == "balanced" => Some(Spanned::new(ClassWeight::Balanced, node.span)),
            Value::Map(entries) => {
                let mut weights = Vec::new();
                for entry in entries {
                    if let Some(weight) = self.positive_number(&entry.value, &format!("the weight of class `{}`", entry.key)) {
                        weights.push((Spanned::new(entry.key.clone(), entry.key_span), weight));
                    }
                }
                Some(Spanned::new(ClassWeight::Explicit(weights), node.span))
            }
            _ => {
                let help = self.example("class_weight balanced");
                self.wrong_type(node, "`class_weight`", "`balanced` or a mapping of class to weight");
                if let Some(last) = self.diagnostics.items.last_mut() {
                    last.help = Some(format!("write `{help}`, or give a weight per class"));
                }
                None
            }
        }
    }

    fn model(&mut self, node: Option<&Node>, document: Span) -> Spanned<Vec<Spanned<Layer>>> {
        let Some(node) = node else {
            return Spanned::new(Vec::new(), Span::point(document.start));
        };
        let mut layers = Vec::new();
        let items: Vec<(Node, Node)> = match &node.value {
            Value::List(items) => items.iter().filter_map(|item| self.layer_item(item)).collect(),
            Value::Map(entries) => entries.iter().map(|e| (Node::new(Value::Str(e.key.clone()), e.key_span), e.value.clone())).collect(),
            _ => {
                self.wrong_type(node, "`model`", "a list of layers");
                return Spanned::new(Vec::new(), node.span);
            }
        };
        if items.is_empty() && !self.diagnostics.has_errors() {
            self.sound = false;
            self.error(
                Diagnostic::error("spec::empty_model", "the model has no layers")
                    .at(node.span)
                    .with_help(format!("add at least an output layer, for example `{}`", self.example("dense 2 softmax"))),
            );
        }
        for (name, params) in items {
            if let Some(layer) = self.layer(&name, &params) {
                layers.push(layer);
            }
        }
        Spanned::new(layers, node.span)
    }

    /// One YAML list item: `- flatten` or `- dense: {...}`.
    fn layer_item(&mut self, item: &Node) -> Option<(Node, Node)> {
        match &item.value {
            Value::Str(_) => Some((item.clone(), Node::new(Value::Null, item.span))),
            Value::Map(entries) if entries.len() == 1 => {
                let entry = &entries[0];
                Some((Node::new(Value::Str(entry.key.clone()), entry.key_span), entry.value.clone()))
            }
            Value::Map(entries) if !entries.is_empty() => {
                self.sound = false;
                let first = &entries[0].key;
                let extra = &entries[1];
                self.error(
                    Diagnostic::error("spec::layer_form", format!("`{}` is written beside the layer `{first}` instead of inside it", extra.key))
                        .at(extra.key_span)
                        .with_label("a layer item holds one layer name")
                        .with_help(format!("put the parameters inside the layer, for example `- {first}: {{units: 64, {}: ...}}`", extra.key)),
                );
                None
            }
            _ => {
                self.wrong_type(item, "a layer", "a layer name, or `name: {parameters}`");
                None
            }
        }
    }

    fn layer(&mut self, name: &Node, params: &Node) -> Option<Spanned<Layer>> {
        let table: Vec<(&str, &'static str)> = LAYER_NAMES.iter().map(|name| (*name, *name)).collect();
        let layer_name = self.choice(name, "layer", "spec::unknown_layer", &table)?;
        let span = name.span.to(params.span);
        let owner = format!("layer `{}`", layer_name.value);
        let activation = |r: &mut Self, n: &Node| r.choice(n, "activation", "spec::unknown_activation", Activation::ALL);
        let layer = match layer_name.value {
            "dense" => {
                let p = self.bind(params, &owner, &["units", "activation"], &["units", "activation"], &[]);
                let units = p.require(self, "units", "dense 64 relu").and_then(|n| self.count(n, "`units`"));
                let activation = self.param(&p, "activation", Activation::Linear, activation);
                Layer::Dense { units: units?, activation }
            }
            "conv2d" => {
                const KEYS: &[&str] = &["filters", "kernel", "stride", "padding", "activation"];
                let p = self.bind(params, &owner, KEYS, &["filters", "kernel", "activation"], &[]);
                let filters = p.require(self, "filters", "conv2d 16 3 relu").and_then(|n| self.count(n, "`filters`"));
                let kernel = p.require(self, "kernel", "conv2d 16 3 relu").and_then(|n| self.pair(n, "`kernel`"));
                let stride = self.param(&p, "stride", [1, 1], |r, n| r.pair(n, "`stride`"));
                let padding = self.param(&p, "padding", Padding::Valid, |r, n| r.choice(n, "padding", "spec::unknown_name", Padding::ALL));
                let activation = self.param(&p, "activation", Activation::Linear, activation);
                Layer::Conv2d { filters: filters?, kernel: kernel?, stride, padding, activation }
            }
            "max_pool2d" | "avg_pool2d" => {
                let p = self.bind(params, &owner, &["size", "stride"], &["size", "stride"], &[]);
                let size = self.param(&p, "size", [2, 2], |r, n| r.pair(n, "`size`"));
                let default_stride = size.value;
                let stride = self.param(&p, "stride", default_stride, |r, n| r.pair(n, "`stride`"));
                if layer_name.value == "max_pool2d" {
                    Layer::MaxPool2d { size, stride }
                } else {
                    Layer::AvgPool2d { size, stride }
                }
            }
            "global_avg_pool2d" | "flatten" => {
                self.bind(params, &owner, &[], &[], &[]);
                if layer_name.value == "flatten" {
                    Layer::Flatten
                } else {
                    Layer::GlobalAvgPool2d
                }
            }
            "dropout" => {
                let p = self.bind(params, &owner, &["rate"], &["rate"], &[]);
                let rate = p.require(self, "rate", "dropout 0.2").and_then(|n| self.fraction(n, "the dropout `rate`", true));
                Layer::Dropout { rate: rate? }
            }
            "batch_norm" => {
                let p = self.bind(params, &owner, &["momentum", "epsilon"], &[], &[]);
                let momentum = self.param(&p, "momentum", 0.99, |r, n| r.fraction(n, "`momentum`", true));
                let epsilon = self.param(&p, "epsilon", 0.001, |r, n| r.positive_number(n, "`epsilon`"));
                Layer::BatchNorm { momentum, epsilon }
            }
            "lstm" | "gru" => {
                let p = self.bind(params, &owner, &["units", "return_sequences"], &["units"], &["return_sequences"]);
                let units = p.require(self, "units", "lstm 32").and_then(|n| self.count(n, "`units`"));
                let return_sequences = self.param(&p, "return_sequences", false, |r, n| r.flag(n, "`return_sequences`"));
                if layer_name.value == "lstm" {
                    Layer::Lstm { units: units?, return_sequences }
                } else {
                    Layer::Gru { units: units?, return_sequences }
                }
            }
            _ => {
                let p = self.bind(params, &owner, &["name"], &["name"], &[]);
                let function = p.require(self, "name", "activation relu").and_then(|n| activation(self, n));
                Layer::Activation { function: function? }
            }
        };
        Some(Spanned::new(layer, span))
    }

    fn train(&mut self, node: Option<&Node>, document: Span) -> Train {
        let empty = Node::new(Value::Map(Vec::new()), Span::point(document.start));
        let node = node.unwrap_or(&empty);
        const KEYS: &[&str] = &["optimizer", "loss", "epochs", "batch_size", "early_stopping", "schedule"];
        let params = self.bind(node, "`train`", KEYS, &[], &[]);
        let at = Span::point(node.span.start);
        let optimizer = match params.get("optimizer") {
            Some(n) => self.optimizer(n),
            None => None,
        };
        let optimizer = optimizer.unwrap_or_else(|| Spanned::new(adam_defaults(at), at));
        let loss = params.require(self, "loss", "loss categorical_crossentropy").and_then(|n| self.choice(n, "loss", "spec::unknown_loss", Loss::ALL));
        let loss = loss.unwrap_or_else(|| {
            self.sound = false;
            Spanned::new(Loss::Mse, at)
        });
        let epochs = params.require(self, "epochs", "epochs 50").and_then(|n| self.count(n, "`epochs`"));
        let epochs = epochs.unwrap_or_else(|| {
            self.sound = false;
            Spanned::new(1, at)
        });
        let batch_size = self.param(&params, "batch_size", 32, |r, n| r.count(n, "`batch_size`"));
        let early_stopping = params.get("early_stopping").and_then(|n| self.early_stopping(n));
        let schedule = params.get("schedule").and_then(|n| self.schedule(n));
        Train { span: node.span, optimizer, loss, epochs, batch_size, early_stopping, schedule }
    }

    fn optimizer(&mut self, node: &Node) -> Option<Spanned<Optimizer>> {
        let (name, params) = self.variant(node, "optimizer", "spec::unknown_optimizer", OPTIMIZER_NAMES)?;
        let owner = format!("optimizer `{}`", name.value);
        let lr = |r: &mut Self, n: &Node| r.positive_number(n, "the learning rate `lr`");
        let beta = |key: &'static str| move |r: &mut Self, n: &Node| r.fraction(n, key, true);
        let optimizer = match name.value {
            "sgd" => {
                let p = self.bind(&params, &owner, &["lr", "momentum", "nesterov"], &["lr"], &["nesterov"]);
                Optimizer::Sgd {
                    lr: self.param(&p, "lr", 0.01, lr),
                    momentum: self.param(&p, "momentum", 0.0, beta("`momentum`")),
                    nesterov: self.param(&p, "nesterov", false, |r, n| r.flag(n, "`nesterov`")),
                }
            }
            "adam" => {
                let p = self.bind(&params, &owner, &["lr", "beta1", "beta2", "eps"], &["lr"], &[]);
                Optimizer::Adam {
                    lr: self.param(&p, "lr", 0.001, lr),
                    beta1: self.param(&p, "beta1", 0.9, beta("`beta1`")),
                    beta2: self.param(&p, "beta2", 0.999, beta("`beta2`")),
                    eps: self.param(&p, "eps", 1e-7, |r, n| r.positive_number(n, "`eps`")),
                }
            }
            _ => {
                let p = self.bind(&params, &owner, &["lr", "beta1", "beta2", "eps", "weight_decay"], &["lr"], &[]);
                Optimizer::AdamW {
                    lr: self.param(&p, "lr", 0.001, lr),
                    beta1: self.param(&p, "beta1", 0.9, beta("`beta1`")),
                    beta2: self.param(&p, "beta2", 0.999, beta("`beta2`")),
                    eps: self.param(&p, "eps", 1e-7, |r, n| r.positive_number(n, "`eps`")),
                    weight_decay: self.param(&p, "weight_decay", 0.004, beta("`weight_decay`")),
                }
            }
        };
        Some(Spanned::new(optimizer, node.span))
    }

    fn early_stopping(&mut self, node: &Node) -> Option<Spanned<EarlyStopping>> {
        if let Value::Bool(false) = node.value {
            return None;
        }
        const KEYS: &[&str] = &["monitor", "patience", "restore_best", "min_delta"];
        let p = self.bind(node, "`early_stopping`", KEYS, &[], &["restore_best"]);
        let monitor = self.param(&p, "monitor", "val_loss".to_string(), |r, n| r.monitor(n));
        let patience = self.param(&p, "patience", 10, |r, n| r.count(n, "`patience`"));
        let restore_best = self.param(&p, "restore_best", true, |r, n| r.flag(n, "`restore_best`"));
        let min_delta = self.param(&p, "min_delta", 0.0, |r, n| {
            let value = r.number(n, "`min_delta`")?;
            (value.value >= 0.0).then_some(value)
        });
        Some(Spanned::new(EarlyStopping { monitor, patience, restore_best, min_delta }, node.span))
    }

    /// `loss`, `val_loss` or `val_` + a metric that is a single number.
    fn monitor(&mut self, node: &Node) -> Option<Spanned<String>> {
        let text = self.text(node, "`monitor`")?;
        let mut legal: Vec<String> = vec!["val_loss".into(), "loss".into()];
        legal.extend(Metric::NAMES.iter().filter(|m| **m != "confusion_matrix").map(|m| format!("val_{m}")));
        if legal.contains(&text.value) {
            return Some(text);
        }
        self.sound = false;
        let help = if let Some(rest) = text.value.strip_prefix("test_") {
            format!("the test split is never used for a training decision: monitor `val_{rest}` instead")
        } else {
            let names: Vec<&str> = legal.iter().map(String::as_str).collect();
            match did_you_mean(&text.value, names.iter().copied()) {
                Some(close) => format!("did you mean `{close}`?"),
                None => "monitor `val_loss` or `val_` followed by a metric, such as `val_auc`".to_string(),
            }
        };
        self.error(
            Diagnostic::error("spec::unknown_monitor", format!("cannot monitor `{}`", text.value))
                .at(node.span)
                .with_label("not a validation quantity")
                .with_help(help),
        );
        None
    }

    fn schedule(&mut self, node: &Node) -> Option<Spanned<Schedule>> {
        let (name, params) = self.variant(node, "schedule", "spec::unknown_name", SCHEDULE_NAMES)?;
        let owner = format!("schedule `{}`", name.value);
        let factor = |r: &mut Self, n: &Node| {
            let value = r.number(n, "`factor`")?;
            if value.value <= 0.0 || value.value >= 1.0 {
                r.out_of_range(n.span, "`factor`", "must be above 0 and below 1", "the rate is multiplied by it, for example 0.5");
                return None;
            }
            Some(value)
        };
        let schedule = match name.value {
            "step" => {
                let p = self.bind(&params, &owner, &["every", "factor"], &["every", "factor"], &[]);
                let every = p.require(self, "every", "schedule step every=10 factor=0.5").and_then(|n| self.count(n, "`every`"));
                Schedule::Step { every: every?, factor: self.param(&p, "factor", 0.1, factor) }
            }
            "cosine" => {
                let p = self.bind(&params, &owner, &["min_lr"], &["min_lr"], &[]);
                let min_lr = self.param(&p, "min_lr", 0.0, |r, n| {
                    let value = r.number(n, "`min_lr`")?;
                    (value.value >= 0.0).then_some(value)
                });
                Schedule::Cosine { min_lr }
            }
            _ => {
                let p = self.bind(&params, &owner, &["patience", "factor", "monitor"], &[], &[]);
                Schedule::Plateau {
                    patience: self.param(&p, "patience", 5, |r, n| r.count(n, "`patience`")),
                    factor: self.param(&p, "factor", 0.1, factor),
                    monitor: self.param(&p, "monitor", "val_loss".to_string(), |r, n| r.monitor(n)),
                }
            }
        };
        Some(Spanned::new(schedule, node.span))
    }

    fn metrics(&mut self, node: &Node) -> Spanned<Vec<Spanned<Metric>>> {
        let items: Vec<&Node> = match &node.value {
            Value::List(items) => items.iter().collect(),
            _ => vec![node],
        };
        let mut metrics: Vec<Spanned<Metric>> = Vec::new();
        for item in items {
            let Some(metric) = self.choice(item, "metric", "spec::unknown_metric", Metric::ALL) else { continue };
            if metrics.iter().any(|m| m.value == metric.value) {
                self.error(
                    Diagnostic::warning("spec::duplicate_metric", format!("metric `{}` is listed twice", metric.value))
                        .at(item.span)
                        .with_label("listed again here"),
                );
                continue;
            }
            metrics.push(metric);
        }
        Spanned::new(metrics, node.span)
    }
}

fn adam_defaults(at: Span) -> Optimizer {
    Optimizer::Adam {
        lr: Spanned::new(0.001, at),
        beta1: Spanned::new(0.9, at),
        beta2: Spanned::new(0.999, at),
        eps: Spanned::new(1e-7, at),
    }
}

/// A float for messages: `0.9`, not `0.8999999999999999`.
pub fn trim_float(value: f64) -> String {
    let text = format!("{value:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}
