//! Reads the generic document tree into the AST: every key, name, type and value range of the spec contract.
//!
//! Both front ends end here, so YAML and DSL share one set of rules and messages. Nothing stops at the first
//! problem: an unknown key, a misspelled name or a wrong value is recorded and reading goes on, with a stand-in
//! value, so that one mistake does not hide the next. A section whose stand-in values could mislead a later stage
//! is marked unsound in [`Lowered`], and the checker leaves it alone.
//!
//! This file holds the reader's tools (keys, numbers, names) and the top level, `train` and `metrics`; the
//! `data` and `model` sections have a file each, and `hints` writes the help lines (synonyms, misplaced keys,
//! examples in the spec's own form).

use super::ast::*;
use super::tree::{Entry, Node, Value};
use super::Form;
use crate::diagnostics::{did_you_mean, quote_list, Diagnostic, Diagnostics, Span};

mod data;
pub(crate) mod hints;
mod model;
pub use hints::{example, layer_example, list_example, name_help, suggestion};
use hints::{layer_positional, DATA_KEYS, TRAIN_KEYS};

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
    /// Whether `train.loss` was read from the spec; when it was not, its stand-in says nothing about the task.
    pub loss_known: bool,
    /// The form the spec was written in, so that later help lines show examples in that form.
    pub form: Form,
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
        Some(node) => reader.whole(node, "`seed`", 0).unwrap_or(Spanned::new(0, node.span)),
        None => Spanned::new(0, Span::point(0)),
    };
    reader.sound = true;
    let data_help = "add a `data` section that names the CSV file (`source`) and the column to predict (`target`)";
    let data_node = params.require_with_help(&mut reader, "data", data_help.to_string());
    let data = reader.data(data_node);
    let data_sound = std::mem::replace(&mut reader.sound, true);
    let output = layer_example(form, "dense", &[("units", "2".into()), ("activation", "softmax".into())]);
    let model_help = match form {
        Form::Dsl => format!("add a `model {{` block with one layer per line and `}}` on its own line, ending with the output layer, such as `{output}`"),
        Form::Yaml => format!("add `model:` with a list of layers, one `- ` item per layer, ending with the output layer, such as `{output}`"),
    };
    let model_node = params.require_with_help(&mut reader, "model", model_help);
    let model = reader.model(model_node, document.span);
    let model_sound = std::mem::replace(&mut reader.sound, true);
    let train_help = "add a `train` section with at least the `loss` and the number of `epochs`";
    let train_node = params.require_with_help(&mut reader, "train", train_help.to_string());
    let train = reader.train(train_node, document.span);
    // A stand-in loss carries the empty span of its section; a loss read from the spec spans its name.
    let loss_known = !train.loss.span.is_empty();
    let train_sound = std::mem::replace(&mut reader.sound, true);
    let metrics = match params.get("metrics") {
        Some(node) => reader.metrics(node),
        None => Spanned::new(Vec::new(), Span::point(document.span.end)),
    };
    let spec = Spec { name, seed, data, model, train, metrics };
    Lowered { spec, data_sound, model_sound, train_sound, loss_known, form }
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
    /// Each key with where it was written (the value's span for a positional value) and its value.
    values: Vec<(&'static str, Span, Node)>,
    /// Keys suggested for unknown keys (`unitz` -> `units`): their absence is already explained.
    suggested: Vec<&'static str>,
    /// Whether any key was unknown.
    had_unknown: bool,
}

impl Params {
    fn get(&self, key: &str) -> Option<&Node> {
        self.values.iter().find(|(name, _, _)| *name == key).map(|(_, _, node)| node)
    }

    /// The value of a required key; a missing one is an error with an example of how to write it.
    fn require(&self, reader: &mut Reader, key: &str, example: &str) -> Option<&Node> {
        let example = reader.example(example);
        self.require_with_help(reader, key, format!("add it, for example `{example}`"))
    }

    /// The value of a required key; a missing one is an error with `help`. When an unknown key was taken for a
    /// misspelling of this one, that error already says what to do and no second one is added.
    fn require_with_help(&self, reader: &mut Reader, key: &str, help: String) -> Option<&Node> {
        let found = self.get(key);
        if found.is_none() {
            reader.sound = false;
            if self.suggested.contains(&key) {
                return None;
            }
            reader.error(
                Diagnostic::error("spec::missing_key", format!("{} has no `{key}`", self.owner))
                    .at(Span::point(self.span.start))
                    .with_label(format!("`{key}` is required here"))
                    .with_help(help),
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
        example(self.form, dsl)
    }

    /// The help line for a layer's missing parameter: the layer written out in full.
    fn missing_help(&self, layer: &str, params: &[(&str, &str)]) -> String {
        format!("add it, for example `{}`", self.layer_example(layer, params))
    }

    /// A layer example in the spec's own form.
    fn layer_example(&self, layer: &str, params: &[(&str, &str)]) -> String {
        let params: Vec<(&str, String)> = params.iter().map(|(key, value)| (*key, value.to_string())).collect();
        layer_example(self.form, layer, &params)
    }

    fn wrong_type(&mut self, node: &Node, what: &str, expected: &str, help: impl Into<String>) {
        self.sound = false;
        self.error(
            Diagnostic::error("spec::wrong_type", format!("{what} must be {expected}, found {}", found(node)))
                .at(node.span)
                .with_label(format!("expected {expected}"))
                .with_help(help),
        );
    }

    /// A number at least 0.
    fn non_negative(&mut self, node: &Node, what: &str, help: &str) -> Option<Spanned<f64>> {
        let value = self.number(node, what)?;
        if value.value < 0.0 {
            self.out_of_range(node.span, what, "must be at least 0", help);
            return None;
        }
        Some(value)
    }

    fn out_of_range(&mut self, span: Span, what: &str, rule: &str, help: &str) {
        self.sound = false;
        self.error(
            Diagnostic::error("value::out_of_range", format!("{what} {rule}"))
                .at(span)
                .with_label(rule.to_string())
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
        let mut params = Params {
            owner: owner.to_string(),
            span: node.span,
            values: Vec::new(),
            suggested: Vec::new(),
            had_unknown: false,
        };
        let (given_positional, keywords): (Vec<&Node>, Vec<&Entry>) = match &node.value {
            Value::Map(entries) => (Vec::new(), entries.iter().collect()),
            Value::Args { positional, keywords } => (positional.iter().collect(), keywords.iter().collect()),
            Value::List(items) if !positional.is_empty() => (items.iter().collect(), Vec::new()),
            Value::Null | Value::Bool(true) => (Vec::new(), Vec::new()),
            Value::Number { .. } | Value::Str(_) if !positional.is_empty() || !flags.is_empty() => {
                (vec![node], Vec::new())
            }
            _ if keys.is_empty() => {
                self.wrong_type(
                    node,
                    owner,
                    "written alone",
                    format!("{owner} takes no parameters: remove what follows its name"),
                );
                return params;
            }
            _ => {
                let expected = if positional.is_empty() {
                    format!("a mapping of {}", quote_list(keys))
                } else {
                    format!("a value for {} or a mapping of {}", quote_list(positional), quote_list(keys))
                };
                let pairs: Vec<String> = keys.iter().take(2).map(|key| format!("{key}=...")).collect();
                let help = format!(
                    "write it as `{}`",
                    self.example(&format!("{} {}", owner.trim_matches('`'), pairs.join(" ")))
                );
                self.wrong_type(node, owner, &expected, help);
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
                        format!(
                            "{owner} takes at most {} value(s) in order ({}); name the others",
                            positional.len(),
                            quote_list(positional)
                        )
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
                    params.had_unknown = true;
                    params.suggested.extend(suggestion(&entry.key, keys));
                    self.error(
                        Diagnostic::error("spec::unknown_key", format!("unknown key `{}` in {owner}", entry.key))
                            .at(entry.key_span)
                            .with_label(format!("not a key of {owner}"))
                            .with_help(name_help(&entry.key, keys, Some(owner))),
                    );
                }
            }
        }
        params
    }

    /// A key written twice in a mapping where each key names one thing (a column, a class).
    fn duplicate(&mut self, entry: &Entry, owner: &str) {
        self.error(
            Diagnostic::error("spec::duplicate_key", format!("`{}` is given twice in {owner}", entry.key))
                .at(entry.key_span)
                .with_label("given again here")
                .with_help("keep only one of them"),
        );
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
        params.values.push((name, span, value));
    }

    fn number(&mut self, node: &Node, what: &str) -> Option<Spanned<f64>> {
        match &node.value {
            Value::Number { value, .. } if value.is_finite() => Some(Spanned::new(*value, node.span)),
            Value::Str(text) => {
                let words: Vec<&str> = text.split_whitespace().collect();
                let help = if text.trim().parse::<f64>().is_ok() {
                    format!("remove the quotes: write {}", text.trim())
                } else if words.len() > 1 && words[0].parse::<f64>().is_ok() {
                    // YAML's `- dense: 16 relu` is one string: the values go in a list or in the map form.
                    format!(
                        "`{text}` is several values in one: write them as a list, `[{}]`, or in the map form with a \
                         key for each (`{{units: 16, activation: relu}}` for a dense layer)",
                        words.join(", ")
                    )
                } else {
                    format!("write it as a number in digits (`{text}` is text)")
                };
                self.wrong_type(node, what, "a number", help);
                None
            }
            _ => {
                self.wrong_type(node, what, "a number", "write a single number");
                None
            }
        }
    }

    /// A whole number at least `min`.
    fn whole(&mut self, node: &Node, what: &str, min: u64) -> Option<Spanned<u64>> {
        let number = self.number(node, what)?;
        if number.value.fract() != 0.0 || number.value > 9.0e15 {
            let help = format!("write a whole number, such as {}", number.value.round().max(min as f64));
            self.wrong_type(node, what, "a whole number", help);
            return None;
        }
        if number.value < min as f64 {
            let help = match min {
                0 => "use a whole number, 0 or more".to_string(),
                1 => "use a positive whole number".to_string(),
                _ => format!("use a whole number of at least {min}"),
            };
            self.out_of_range(node.span, what, &format!("must be at least {min}"), &help);
            return None;
        }
        Some(Spanned::new(number.value as u64, node.span))
    }

    fn count(&mut self, node: &Node, what: &str) -> Option<Spanned<usize>> {
        self.whole(node, what, 1).map(|n| Spanned::new(n.value as usize, n.span))
    }

    fn flag(&mut self, node: &Node, what: &str) -> Option<Spanned<bool>> {
        match &node.value {
            Value::Bool(value) => Some(Spanned::new(*value, node.span)),
            Value::Str(word) => {
                let meant = match word.to_lowercase().as_str() {
                    "yes" | "y" | "on" | "true" => Some("true"),
                    "no" | "n" | "off" | "false" => Some("false"),
                    _ => None,
                };
                let help = match meant {
                    Some(meant) => {
                        format!("write `{meant}`: only `true` and `false` are read as yes/no, `{word}` is read as text")
                    }
                    None => "write `true` or `false`".to_string(),
                };
                self.wrong_type(node, what, "true or false", help);
                None
            }
            _ => {
                self.wrong_type(node, what, "true or false", "write `true` or `false`");
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
                self.wrong_type(node, what, "a name or a quoted text", "write one name, or text in double quotes");
                None
            }
        }
    }

    /// One name of a fixed vocabulary, with "did you mean" for a misspelling or a synonym.
    fn choice<T: Copy>(
        &mut self,
        node: &Node,
        what: &str,
        code: &'static str,
        table: &[(&str, T)],
    ) -> Option<Spanned<T>> {
        let text = self.text(node, what)?;
        if let Some((_, value)) = table.iter().find(|(name, _)| *name == text.value) {
            return Some(Spanned::new(*value, node.span));
        }
        self.sound = false;
        let names: Vec<&str> = table.iter().map(|(name, _)| *name).collect();
        // A name written where a list of layers or metrics is expected may be a key of another section.
        let here = match what {
            "layer" => Some("`model`"),
            "metric" => Some("`metrics`"),
            _ => None,
        };
        self.error(
            Diagnostic::error(code, format!("unknown {what} `{}`", text.value))
                .at(node.span)
                .with_label(format!("not a known {what}"))
                .with_help(name_help(&text.value, &names, here)),
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
            Value::List(items) => {
                let help = format!(
                    "write one size for a square, such as 3, or two as [height, width], such as [3, 3]; found {} sizes",
                    items.len()
                );
                self.wrong_type(node, what, "one size or a list of two (height, width)", help);
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
            // 70 for 70% is the usual slip; say so rather than only state the rule.
            let help = if value.value >= 2.0 && value.value <= 100.0 {
                format!(
                    "write a fraction, not a percentage: {}% is {}",
                    trim_float(value.value),
                    trim_float(value.value / 100.0)
                )
            } else {
                "write a fraction such as 0.2".to_string()
            };
            self.out_of_range(node.span, what, rule, &help);
            return None;
        }
        Some(value)
    }

    fn positive_number(&mut self, node: &Node, what: &str, help: &str) -> Option<Spanned<f64>> {
        let value = self.number(node, what)?;
        if value.value <= 0.0 {
            self.out_of_range(node.span, what, "must be above 0", help);
            return None;
        }
        Some(value)
    }

    /// A parameter with a default: the spec's value if given and valid, else the default at the owner's span.
    fn param<T>(
        &mut self,
        params: &Params,
        key: &str,
        default: T,
        read: impl FnOnce(&mut Self, &Node) -> Option<Spanned<T>>,
    ) -> Spanned<T> {
        match params.get(key) {
            Some(node) => read(self, node).unwrap_or(Spanned::new(default, node.span)),
            None => Spanned::new(default, Span::point(params.span.start)),
        }
    }

    /// A variant written `{name: {params}}` (YAML), `name key=value` (DSL) or just `name`; `example` is a DSL
    /// statement that shows the form.
    fn variant(
        &mut self,
        node: &Node,
        what: &str,
        code: &'static str,
        names: &[&'static str],
        example: &str,
    ) -> Option<(Spanned<&'static str>, Node)> {
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
                let help = format!("write the name with its parameters inside it, as in `{}`", self.example(example));
                self.wrong_type(node, &format!("`{what}`"), &format!("one of {}", quote_list(names)), help);
                return None;
            }
        };
        let table: Vec<(&str, &'static str)> = names.iter().map(|name| (*name, *name)).collect();
        let name = self.choice(&name_node, what, code, &table)?;
        Some((name, params))
    }

    fn train(&mut self, node: Option<&Node>, document: Span) -> Train {
        let empty = Node::new(Value::Map(Vec::new()), Span::point(document.start));
        let node = node.unwrap_or(&empty);
        let params = self.bind(node, "`train`", TRAIN_KEYS, &[], &[]);
        let at = Span::point(node.span.start);
        let optimizer = match params.get("optimizer") {
            Some(n) => self.optimizer(n),
            None => None,
        };
        let optimizer = optimizer.unwrap_or_else(|| Spanned::new(adam_defaults(at), at));
        let loss = params
            .require(self, "loss", "loss categorical_crossentropy")
            .and_then(|n| self.choice(n, "loss", "spec::unknown_loss", Loss::ALL));
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
        let (name, params) =
            self.variant(node, "optimizer", "spec::unknown_optimizer", OPTIMIZER_NAMES, "optimizer adam lr=0.001")?;
        let owner = format!("optimizer `{}`", name.value);
        let lr = |r: &mut Self, n: &Node| {
            r.positive_number(n, "the learning rate `lr`", "use a small positive number such as 0.001")
        };
        let beta = |key: &'static str| move |r: &mut Self, n: &Node| r.fraction(n, key, true);
        // Every optimizer takes its own keys and gradient clipping's.
        let keys = |own: &[&'static str]| -> Vec<&'static str> { own.iter().chain(CLIPPING_KEYS).copied().collect() };
        let optimizer = match name.value {
            "sgd" => {
                let p = self.bind(&params, &owner, &keys(&["lr", "momentum", "nesterov"]), &["lr"], &["nesterov"]);
                Optimizer::Sgd {
                    lr: self.param(&p, "lr", 0.01, lr),
                    momentum: self.param(&p, "momentum", 0.0, beta("`momentum`")),
                    nesterov: self.param(&p, "nesterov", false, |r, n| r.flag(n, "`nesterov`")),
                    clipping: self.clipping(&p),
                }
            }
            "adam" => {
                let p = self.bind(&params, &owner, &keys(&["lr", "beta1", "beta2", "eps"]), &["lr"], &[]);
                Optimizer::Adam {
                    lr: self.param(&p, "lr", 0.001, lr),
                    beta1: self.param(&p, "beta1", 0.9, beta("`beta1`")),
                    beta2: self.param(&p, "beta2", 0.999, beta("`beta2`")),
                    eps: self.param(&p, "eps", 1e-7, |r, n| {
                        r.positive_number(n, "`eps`", "use a small positive number such as 1e-7")
                    }),
                    clipping: self.clipping(&p),
                }
            }
            _ => {
                let adamw_keys = keys(&["lr", "beta1", "beta2", "eps", "weight_decay"]);
                let p = self.bind(&params, &owner, &adamw_keys, &["lr"], &[]);
                Optimizer::AdamW {
                    lr: self.param(&p, "lr", 0.001, lr),
                    beta1: self.param(&p, "beta1", 0.9, beta("`beta1`")),
                    beta2: self.param(&p, "beta2", 0.999, beta("`beta2`")),
                    eps: self.param(&p, "eps", 1e-7, |r, n| {
                        r.positive_number(n, "`eps`", "use a small positive number such as 1e-7")
                    }),
                    weight_decay: self.param(&p, "weight_decay", 0.004, beta("`weight_decay`")),
                    clipping: self.clipping(&p),
                }
            }
        };
        Some(Spanned::new(optimizer, node.span))
    }

    /// An optimizer's gradient clipping: at most one of `clipnorm`, `global_clipnorm` and `clipvalue` (Keras refuses
    /// more than one), above 0. A second one is an error that points at it, and the first one is kept.
    fn clipping(&mut self, params: &Params) -> Option<Spanned<Clipping>> {
        let mut first: Option<&'static str> = None;
        let mut clipping = None;
        for (key, key_span, node) in params.values.iter().filter(|(key, _, _)| CLIPPING_KEYS.contains(key)) {
            if let Some(first) = first {
                self.sound = false;
                self.error(
                    Diagnostic::error(
                        "spec::conflict",
                        format!("`{key}` cannot be combined with `{first}` in {}", params.owner),
                    )
                    .at(key_span.to(node.span))
                    .with_label("a second way to clip the gradients")
                    .with_help(
                        "keep one of them: `clipnorm` limits the norm of each gradient, `global_clipnorm` the norm of \
                         all gradients together, `clipvalue` each gradient element (Keras also takes only one)",
                    ),
                );
                continue;
            }
            first = Some(key);
            let help = match *key {
                "clipnorm" => "the largest L2 norm each gradient may have, a positive number such as 1.0",
                "global_clipnorm" => "the largest L2 norm of all gradients together, a positive number such as 1.0",
                _ => "the largest magnitude of a gradient element, a positive number such as 0.5",
            };
            let limit = self.positive_number(node, &format!("`{key}`"), help);
            clipping = limit.and_then(|limit| Clipping::from_key(key, limit.value).map(|c| Spanned::new(c, node.span)));
        }
        clipping
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
            let help = "the smallest change that counts as an improvement, such as 0.001 (0 counts any change)";
            r.non_negative(n, "`min_delta`", help)
        });
        Some(Spanned::new(EarlyStopping { monitor, patience, restore_best, min_delta }, node.span))
    }

    /// `loss`, `val_loss` or `val_` + a metric that is a single number.
    fn monitor(&mut self, node: &Node) -> Option<Spanned<String>> {
        let text = self.text(node, "`monitor`")?;
        let mut legal: Vec<String> = vec!["val_loss".into(), "loss".into()];
        let single = Metric::ALL.iter().filter(|(_, metric)| metric.is_single_number());
        legal.extend(single.map(|(name, _)| format!("val_{name}")));
        if legal.contains(&text.value) {
            return Some(text);
        }
        self.sound = false;
        let help = if let Some(rest) = text.value.strip_prefix("test_") {
            format!("the test split is never used for a training decision: monitor `val_{rest}` instead")
        } else {
            // `validation_loss` and `valid_auc` are `val_loss` and `val_auc`; compare what follows the prefix.
            let written = text.value.to_lowercase();
            let normalized = ["validation_", "valid_"]
                .iter()
                .find_map(|prefix| written.strip_prefix(prefix))
                .map_or(written.clone(), |rest| format!("val_{rest}"));
            let names: Vec<&str> = legal.iter().map(String::as_str).collect();
            let close = names
                .iter()
                .find(|name| **name == normalized)
                .copied()
                .or_else(|| did_you_mean(&normalized, names.iter().copied()));
            match close {
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
        let (name, params) =
            self.variant(node, "schedule", "spec::unknown_name", SCHEDULE_NAMES, "schedule step every=10 factor=0.5")?;
        let owner = format!("schedule `{}`", name.value);
        let factor = |r: &mut Self, n: &Node| {
            let value = r.number(n, "`factor`")?;
            if value.value <= 0.0 || value.value >= 1.0 {
                r.out_of_range(
                    n.span,
                    "`factor`",
                    "must be above 0 and below 1",
                    "the rate is multiplied by it, for example 0.5",
                );
                return None;
            }
            Some(value)
        };
        let schedule = match name.value {
            "step" => {
                let p = self.bind(&params, &owner, &["every", "factor"], &["every", "factor"], &[]);
                let every = p
                    .require(self, "every", "schedule step every=10 factor=0.5")
                    .and_then(|n| self.count(n, "`every`"));
                Schedule::Step { every: every?, factor: self.param(&p, "factor", 0.1, factor) }
            }
            "cosine" => {
                let p = self.bind(&params, &owner, &["min_lr"], &["min_lr"], &[]);
                let min_lr = self.param(&p, "min_lr", 0.0, |r, n| {
                    r.non_negative(n, "`min_lr`", "the learning rate the decay ends at, such as 0 or 0.00001")
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
            if self.list_in_one_text(item, "metrics") {
                continue;
            }
            let Some(metric) = self.choice(item, "metric", "spec::unknown_metric", Metric::ALL) else { continue };
            if metrics.iter().any(|m| m.value == metric.value) {
                self.error(
                    Diagnostic::warning("spec::duplicate_metric", format!("metric `{}` is listed twice", metric.value))
                        .at(item.span)
                        .with_label("listed again here")
                        .with_help("remove one of them"),
                );
                continue;
            }
            metrics.push(metric);
        }
        Spanned::new(metrics, node.span)
    }
}

impl Reader<'_> {
    /// `metrics: accuracy, auc` in YAML is one text, not a list of two names; says how to write the list.
    fn list_in_one_text(&mut self, item: &Node, key: &str) -> bool {
        let Value::Str(text) = &item.value else { return false };
        let names: Vec<&str> = text.split([',', ' ']).map(str::trim).filter(|name| !name.is_empty()).collect();
        if names.len() < 2 {
            return false;
        }
        self.sound = false;
        self.error(
            Diagnostic::error("spec::wrong_type", format!("`{key}` must be a list of names, found the text `{text}`"))
                .at(item.span)
                .with_label("one text, not a list")
                .with_help(format!("write a list: `{}`", list_example(self.form, key, &names))),
        );
        true
    }
}

/// What a node holds, for "found ..." in a message: the value itself when it is short.
fn found(node: &Node) -> String {
    match &node.value {
        Value::Str(text) if text.chars().count() <= 40 => format!("the text `{text}`"),
        Value::Number { text, .. } => format!("`{text}`"),
        Value::Bool(value) => format!("`{value}`"),
        _ => node.kind_name().to_string(),
    }
}

/// A scalar as written, for examples; anything else is shown as `...`.
fn scalar_text(node: &Node) -> String {
    match &node.value {
        Value::Str(text) => text.clone(),
        Value::Number { text, .. } => text.clone(),
        Value::Bool(value) => value.to_string(),
        _ => "...".to_string(),
    }
}

fn adam_defaults(at: Span) -> Optimizer {
    Optimizer::Adam {
        lr: Spanned::new(0.001, at),
        beta1: Spanned::new(0.9, at),
        beta2: Spanned::new(0.999, at),
        eps: Spanned::new(1e-7, at),
        clipping: None,
    }
}

/// A float for messages: `0.9`, not `0.8999999999999999`.
pub fn trim_float(value: f64) -> String {
    let text = format!("{value:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}
