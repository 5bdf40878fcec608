//! Reads the `model` section: the list of layers (a YAML list, or a DSL block with one layer per line) and each
//! layer's parameters.

use super::*;

impl Reader<'_> {
    pub(super) fn model(&mut self, node: Option<&Node>, document: Span) -> Spanned<Vec<Spanned<Layer>>> {
        let Some(node) = node else {
            return Spanned::new(Vec::new(), Span::point(document.start));
        };
        let mut layers = Vec::new();
        let items: Vec<(Node, Node)> = match &node.value {
            Value::List(items) => items.iter().filter_map(|item| self.layer_item(item)).collect(),
            // The DSL's `model { ... }` block is a map of layers; in YAML the layers are a list, in order.
            Value::Map(entries) if self.form == Form::Yaml && !entries.is_empty() => {
                self.sound = false;
                let first = &entries[0];
                self.error(
                    Diagnostic::error(
                        "spec::layer_form",
                        "in a YAML spec `model` is a list of layers, but here it is a mapping",
                    )
                    .at(first.key_span)
                    .with_label("a layer without `- ` before it")
                    .with_help(format!(
                        "start each layer with `- `, as in `- {}: {}`",
                        first.key,
                        scalar_text(&first.value)
                    )),
                );
                return Spanned::new(Vec::new(), node.span);
            }
            Value::Map(entries) => {
                entries.iter().map(|e| (Node::new(Value::Str(e.key.clone()), e.key_span), e.value.clone())).collect()
            }
            _ => {
                let help = format!(
                    "write one layer per item, such as `{}`",
                    self.layer_example("dense", &[("units", "2"), ("activation", "softmax")])
                );
                self.wrong_type(node, "`model`", "a list of layers", help);
                return Spanned::new(Vec::new(), node.span);
            }
        };
        // Only a model written without any layer is empty; layers that could not be read have their own errors.
        let written = match &node.value {
            Value::List(items) => items.len(),
            Value::Map(entries) => entries.len(),
            _ => 0,
        };
        if written == 0 {
            self.sound = false;
            let output = self.layer_example("dense", &[("units", "2"), ("activation", "softmax")]);
            self.error(
                Diagnostic::error("spec::empty_model", "the model has no layers")
                    .at(node.span)
                    .with_label("no layer here")
                    .with_help(format!("add at least an output layer, for example `{output}`")),
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
            Value::Str(text) if text.split_whitespace().count() > 1 => {
                self.layer_in_dsl_form(item, text);
                None
            }
            Value::Str(_) => Some((item.clone(), Node::new(Value::Null, item.span))),
            Value::Map(entries) if entries.len() == 1 => {
                let entry = &entries[0];
                Some((Node::new(Value::Str(entry.key.clone()), entry.key_span), entry.value.clone()))
            }
            Value::Map(entries) if !entries.is_empty() => {
                self.parameters_beside_layer(entries);
                None
            }
            _ => {
                let help = format!(
                    "write one layer per item, such as `{}` or `- flatten`",
                    self.layer_example("dense", &[("units", "64"), ("activation", "relu")])
                );
                self.wrong_type(item, "a layer", "a layer name, or `name: {parameters}`", help);
                None
            }
        }
    }

    /// `- dense 64 relu`: a layer written the DSL way inside a YAML list.
    fn layer_in_dsl_form(&mut self, item: &Node, text: &str) {
        self.sound = false;
        let words: Vec<&str> = text.split_whitespace().collect();
        let positional = layer_positional(words[0]);
        let help = if LAYER_NAMES.contains(&words[0]) && words.len() - 1 <= positional.len() {
            let params: Vec<(&str, &str)> = positional.iter().copied().zip(words[1..].iter().copied()).collect();
            format!("in a YAML spec a layer is `name: parameters`: write `{}`", self.layer_example(words[0], &params))
        } else {
            format!(
                "in a YAML spec a layer is `name: parameters`, as in `{}`",
                self.layer_example("dense", &[("units", "64"), ("activation", "relu")])
            )
        };
        self.error(
            Diagnostic::error(
                "spec::layer_form",
                format!("the layer `{text}` is written the way of the .galen language"),
            )
            .at(item.span)
            .with_label("a layer name with its parameters after a space")
            .with_help(help),
        );
    }

    /// `- dense: 64` with `activation: relu` on the next line: the second key is a sibling of the layer, not one
    /// of its parameters.
    fn parameters_beside_layer(&mut self, entries: &[Entry]) {
        self.sound = false;
        let first = &entries[0];
        let extra = &entries[1];
        let mut params: Vec<(String, String)> = match &first.value.value {
            Value::Map(inner) => inner.iter().map(|entry| (entry.key.clone(), scalar_text(&entry.value))).collect(),
            Value::Null => Vec::new(),
            _ => layer_positional(&first.key)
                .first()
                .map(|key| (key.to_string(), scalar_text(&first.value)))
                .into_iter()
                .collect(),
        };
        params.extend(entries[1..].iter().map(|entry| (entry.key.clone(), scalar_text(&entry.value))));
        let params: Vec<(&str, String)> = params.iter().map(|(key, value)| (key.as_str(), value.clone())).collect();
        let fixed = layer_example(self.form, &first.key, &params);
        self.error(
            Diagnostic::error(
                "spec::layer_form",
                format!("`{}` is written beside the layer `{}` instead of inside it", extra.key, first.key),
            )
            .at(extra.key_span)
            .with_label("a layer item holds one layer name")
            .with_help(format!("put the parameters inside the layer's braces: `{fixed}`")),
        );
    }

    fn layer(&mut self, name: &Node, params: &Node) -> Option<Spanned<Layer>> {
        let table: Vec<(&str, &'static str)> = LAYER_NAMES.iter().map(|name| (*name, *name)).collect();
        let layer_name = self.choice(name, "layer", "spec::unknown_layer", &table)?;
        let span = name.span.to(params.span);
        let owner = format!("layer `{}`", layer_name.value);
        let activation =
            |r: &mut Self, n: &Node| r.choice(n, "activation", "spec::unknown_activation", Activation::ALL);
        let layer = match layer_name.value {
            "dense" => {
                let p = self.bind(params, &owner, &["units", "activation"], layer_positional("dense"), &[]);
                let help = self.missing_help("dense", &[("units", "64"), ("activation", "relu")]);
                let units = p.require_with_help(self, "units", help).and_then(|n| self.count(n, "`units`"));
                let activation = self.param(&p, "activation", Activation::Linear, activation);
                Layer::Dense { units: units?, activation }
            }
            "conv2d" => {
                const KEYS: &[&str] = &["filters", "kernel", "stride", "padding", "activation"];
                let p = self.bind(params, &owner, KEYS, layer_positional("conv2d"), &[]);
                let help = self.missing_help("conv2d", &[("filters", "16"), ("kernel", "3"), ("activation", "relu")]);
                let filters =
                    p.require_with_help(self, "filters", help.clone()).and_then(|n| self.count(n, "`filters`"));
                let kernel = p.require_with_help(self, "kernel", help).and_then(|n| self.pair(n, "`kernel`"));
                let stride = self.param(&p, "stride", [1, 1], |r, n| r.pair(n, "`stride`"));
                let padding = self.param(&p, "padding", Padding::Valid, |r, n| {
                    r.choice(n, "padding", "spec::unknown_name", Padding::ALL)
                });
                let activation = self.param(&p, "activation", Activation::Linear, activation);
                Layer::Conv2d { filters: filters?, kernel: kernel?, stride, padding, activation }
            }
            "max_pool2d" | "avg_pool2d" => {
                let p = self.bind(params, &owner, &["size", "stride"], layer_positional("max_pool2d"), &[]);
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
                let p = self.bind(params, &owner, &["rate"], layer_positional("dropout"), &[]);
                let help = self.missing_help("dropout", &[("rate", "0.2")]);
                let rate =
                    p.require_with_help(self, "rate", help).and_then(|n| self.fraction(n, "the dropout `rate`", true));
                Layer::Dropout { rate: rate? }
            }
            "batch_norm" => {
                let p = self.bind(params, &owner, &["momentum", "epsilon"], &[], &[]);
                let momentum = self.param(&p, "momentum", 0.99, |r, n| r.fraction(n, "`momentum`", true));
                let epsilon = self.param(&p, "epsilon", 0.001, |r, n| {
                    r.positive_number(n, "`epsilon`", "use a small positive number such as 0.001")
                });
                Layer::BatchNorm { momentum, epsilon }
            }
            "lstm" | "gru" => {
                let p = self.bind(
                    params,
                    &owner,
                    &["units", "return_sequences"],
                    layer_positional("lstm"),
                    &["return_sequences"],
                );
                let help = self.missing_help(layer_name.value, &[("units", "32")]);
                let units = p.require_with_help(self, "units", help).and_then(|n| self.count(n, "`units`"));
                let return_sequences =
                    self.param(&p, "return_sequences", false, |r, n| r.flag(n, "`return_sequences`"));
                if layer_name.value == "lstm" {
                    Layer::Lstm { units: units?, return_sequences }
                } else {
                    Layer::Gru { units: units?, return_sequences }
                }
            }
            _ => {
                let p = self.bind(params, &owner, &["name"], layer_positional("activation"), &[]);
                let help = self.missing_help("activation", &[("name", "relu")]);
                let function = p.require_with_help(self, "name", help).and_then(|n| activation(self, n));
                Layer::Activation { function: function? }
            }
        };
        Some(Spanned::new(layer, span))
    }
}
