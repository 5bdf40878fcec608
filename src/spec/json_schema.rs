//! The JSON Schema (draft 2020-12) of a spec's YAML form, printed by `galen schema` for editors.
//!
//! Editors such as VS Code's YAML extension use it to complete keys and names and to underline
//! mistakes while the expert types. It mirrors `spec::lower`, the authority on the language: every
//! name comes from the AST's tables and every default and range is the one `lower` applies. It
//! covers the forms a YAML author writes; a few that `lower` accepts only because the DSL needs them
//! (`split: stratify`, `optimizer: [adam, 0.001]`, `model` as a mapping) are left out, so that an
//! editor steers toward the usual form. What a schema cannot say (fractions adding up to 1, a `val`
//! split for early stopping, the last layer against the target) is left to `galen check`.
//!
//! Positional lists bound their length with `maxItems`, not `items: false`: an editor that knows
//! only draft-07 ignores `prefixItems` but would read `items: false` as "no items at all".

use serde_json::{json, Map, Value};

use super::ast::{
    Activation, Color, ColumnKind, Encode, Impute, Loss, Metric, Padding, RiskCorrection, Scalar, Scale, CLIPPING_KEYS,
    LAYER_NAMES, OPTIMIZER_NAMES, SCHEDULE_NAMES,
};

/// The schema's `$id`.
pub const SCHEMA_ID: &str = "https://galen.dev/schema/spec.json";

/// The largest whole number `lower` accepts: above it an f64 no longer holds every whole number.
const LARGEST_WHOLE: u64 = 9_000_000_000_000_000;

/// The JSON Schema of the YAML form of a spec, with a `$defs` entry per layer, optimizer and
/// schedule.
pub fn json_schema() -> Value {
    let layer_help = "One layer: a name alone (`flatten`), a name and its first parameter (`dense: 64`), its \
        parameters in order (`conv2d: [16, 3, relu]`) or by name (`dense: {units: 64, activation: relu}`).";
    let mut defs = Map::new();
    defs.insert("layer".into(), choice("layer", LAYER_NAMES, layer, layer_help));
    add_variant_defs(&mut defs, "layer", LAYER_NAMES, layer);
    add_variant_defs(&mut defs, "optimizer", OPTIMIZER_NAMES, optimizer);
    add_variant_defs(&mut defs, "schedule", SCHEDULE_NAMES, schedule);
    let seed = "The seed of every random choice (split, initial weights, shuffling, dropout): the same spec, data \
        and seed give the same model and the same numbers.";
    let properties = json!({
        "name": text("The experiment's name, used in reports. By default, the spec file's name."),
        "seed": with_default(whole(0, seed), json!(0)),
        "data": data_schema(),
        "model": {
            "type": "array",
            "description": "The layers of the network, from the input to the output. The input shape comes from the \
                data; the last layer must match the target (for example `dense: {units: 2, activation: softmax}` for \
                two classes).",
            "minItems": 1,
            "items": {"$ref": "#/$defs/layer"},
        },
        "train": train_schema(),
        "metrics": metrics_schema(),
    });
    let description = "A galen model spec: the data, the network, how to train it, what to report.";
    let body = object(description, properties, &["data", "model", "train"]);
    let mut schema = Map::new();
    schema.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
    schema.insert("$id".into(), json!(SCHEMA_ID));
    schema.insert("title".into(), json!("galen spec"));
    if let Value::Object(body) = body {
        schema.extend(body);
    }
    schema.insert("$defs".into(), Value::Object(defs));
    Value::Object(schema)
}

/// A named choice with parameters (a layer, an optimizer, a schedule), as `lower::bind` reads it.
#[derive(Default)]
struct Variant {
    description: &'static str,
    /// Every parameter by name, in order, with its schema.
    params: Value,
    required: &'static [&'static str],
    /// The parameters a value given without a key fills, in order.
    positional: &'static [&'static str],
    /// The parameters that a bare word of the same name sets to true.
    flags: &'static [&'static str],
    /// Parameters of which at most one may be given.
    exclusive: &'static [&'static str],
}

fn layer(name: &str) -> Option<Variant> {
    let activation = || {
        let help = "The function applied to the output: `softmax` for a classifier's last layer (one unit per \
            class), `sigmoid` for one unit with binary_crossentropy, `linear` for a regression output, `relu` inside \
            the network.";
        with_default(enum_of(Activation::NAMES, help), json!(Activation::Linear.name()))
    };
    let pool = |description| Variant {
        description,
        params: json!({
            "size": with_default(pair("The window: one number for a square, or [height, width]."),
                json!([2, 2])),
            "stride": pair("How far the window moves each step. By default, the window's size."),
        }),
        positional: &["size", "stride"],
        ..Variant::default()
    };
    let recurrent = |description| Variant {
        description,
        params: json!({
            "units": count("The number of units (neurons)."),
            "return_sequences": with_default(flag("Give the output at every time step (to stack another recurrent \
                layer) instead of only the last one."), json!(false)),
        }),
        required: &["units"],
        positional: &["units"],
        flags: &["return_sequences"],
        ..Variant::default()
    };
    let no_params = |description| Variant { description, params: json!({}), ..Variant::default() };
    Some(match name {
        "dense" => Variant {
            description: "A fully connected layer: every input feeds every unit. Its input must be flat.",
            params: json!({"units": count("The number of units (neurons)."),
                "activation": activation()}),
            required: &["units"],
            positional: &["units", "activation"],
            ..Variant::default()
        },
        "conv2d" => Variant {
            description: "A 2-D convolution over an image or grid ([height, width, channels]).",
            params: json!({
                "filters": count("The number of filters (output channels)."),
                "kernel": pair("The window each filter looks at: one number for a square, or [height, width]."),
                "stride": with_default(pair("How far the window moves each step."), json!([1, 1])),
                "padding": with_default(enum_of(Padding::NAMES, "`valid`: no padding, the output shrinks; `same`: \
                    zero padding keeps the size at stride 1."),
                    json!(Padding::Valid.name())),
                "activation": activation(),
            }),
            required: &["filters", "kernel"],
            positional: &["filters", "kernel", "activation"],
            ..Variant::default()
        },
        "max_pool2d" => pool("Keeps the largest value of each window, shrinking the image."),
        "avg_pool2d" => pool("Keeps the average of each window, shrinking the image."),
        "global_avg_pool2d" => no_params("Averages each channel over the whole image: a flat output, one per channel."),
        "flatten" => no_params("Turns each image or sequence into one flat list, as `dense` needs."),
        "dropout" => Variant {
            description: "Sets a random fraction of values to zero during training, against overfitting. It has no \
                effect on predictions.",
            params: json!({"rate": fraction("The fraction dropped, at least 0 and below 1, for example 0.2.", true)}),
            required: &["rate"],
            positional: &["rate"],
            ..Variant::default()
        },
        "batch_norm" => Variant {
            description: "Normalises each feature over the batch, keeping running statistics for predictions.",
            params: json!({
                "momentum": with_default(fraction("How slowly the running statistics follow the batches (at least 0, \
                    below 1).", true), json!(0.99)),
                "epsilon": with_default(positive("A small number added to the variance, to avoid dividing by \
                    zero."), json!(0.001)),
            }),
            ..Variant::default()
        },
        "lstm" => recurrent("A long short-term memory layer over a sequence ([steps, features])."),
        "gru" => recurrent("A gated recurrent unit layer over a sequence ([steps, features])."),
        "activation" => Variant {
            description: "An activation function on its own.",
            params: json!({"name": enum_of(Activation::NAMES, "The function applied.")}),
            required: &["name"],
            positional: &["name"],
            ..Variant::default()
        },
        _ => return None,
    })
}

fn optimizer(name: &str) -> Option<Variant> {
    let lr = |default: f64| {
        let help = "The learning rate: the size of each step (above 0). Too large, and training diverges.";
        with_default(positive(help), json!(default))
    };
    let kept = |what: &str, default: f64| {
        let help = format!("How much of the {what} is kept each step (at least 0, below 1).");
        with_default(fraction(&help, true), json!(default))
    };
    let adam = json!({
        "lr": lr(0.001),
        "beta1": kept("average gradient", 0.9),
        "beta2": kept("average squared gradient", 0.999),
        "eps": with_default(positive("A small number that keeps each step finite."), json!(1e-7)),
    });
    let (description, mut params) = match name {
        "sgd" => (
            "Stochastic gradient descent, optionally with momentum.",
            json!({
                "lr": lr(0.01),
                "momentum": kept("previous step", 0.0),
                "nesterov": with_default(flag("Use Nesterov momentum."), json!(false)),
            }),
        ),
        "adam" => ("Adam, a good default.", adam),
        "adamw" => {
            let decay = "How much the weights shrink each step (at least 0, below 1).";
            let mut params = adam;
            if let Value::Object(params) = &mut params {
                params.insert("weight_decay".into(), with_default(fraction(decay, true), json!(0.004)));
            }
            ("Adam with weight decay, which keeps the weights small.", params)
        }
        _ => return None,
    };
    if let Value::Object(params) = &mut params {
        params.extend(clipping());
    }
    let flags: &[&str] = if name == "sgd" { &["nesterov"] } else { &[] };
    Some(Variant { description, params, positional: &["lr"], flags, exclusive: CLIPPING_KEYS, ..Variant::default() })
}

/// Gradient clipping, which every optimizer takes (Keras' `clipnorm`, `global_clipnorm` and `clipvalue`).
fn clipping() -> Map<String, Value> {
    let help = |what: &str| format!("{what} (above 0). Only one of clipnorm, global_clipnorm and clipvalue.");
    let keys = [
        ("clipnorm", help("Clip each gradient to this L2 norm before the update")),
        ("global_clipnorm", help("Clip all gradients together to this L2 norm before the update")),
        ("clipvalue", help("Clip each gradient element to this magnitude before the update")),
    ];
    keys.into_iter().map(|(key, help)| (key.to_string(), positive(&help))).collect()
}

fn schedule(name: &str) -> Option<Variant> {
    let factor = json!({
        "type": "number",
        "description": "The learning rate is multiplied by it (above 0, below 1), for example 0.5.",
        "exclusiveMinimum": 0,
        "exclusiveMaximum": 1,
        "default": 0.1,
    });
    Some(match name {
        "step" => Variant {
            description: "Lowers the learning rate by `factor` every `every` epochs.",
            params: json!({"every": count("The number of epochs between two reductions."),
                "factor": factor}),
            required: &["every"],
            positional: &["every", "factor"],
            ..Variant::default()
        },
        "cosine" => Variant {
            description: "Lowers the learning rate along a cosine curve, to `min_lr` at the end.",
            params: json!({"min_lr": with_default(non_negative("The learning rate at the last epoch."), json!(0.0))}),
            positional: &["min_lr"],
            ..Variant::default()
        },
        "plateau" => Variant {
            description: "Lowers the learning rate by `factor` when `monitor` has not improved for `patience` \
                epochs.",
            params: json!({
                "patience": with_default(count("Epochs without improvement before lowering the rate."), json!(5)),
                "factor": factor,
                "monitor": with_default(monitor(), json!("val_loss")),
            }),
            ..Variant::default()
        },
        _ => return None,
    })
}

/// Reads one variant by name.
type Define = fn(&str) -> Option<Variant>;

/// Adds `$defs/{prefix}_{name}` for every name: an object whose only key is the name.
fn add_variant_defs(defs: &mut Map<String, Value>, prefix: &str, names: &[&str], define: Define) {
    for name in names {
        let (description, parameters) = match define(name) {
            Some(variant) => (variant.description.to_string(), variant_parameters(&variant)),
            None => (format!("The {prefix} `{name}`."), json!({})),
        };
        let properties = Value::Object(Map::from_iter([(name.to_string(), parameters)]));
        defs.insert(format!("{prefix}_{name}"), object(&description, properties, &[name]));
    }
}

/// A name alone (for a variant that requires nothing) or one of the `$defs` objects.
fn choice(prefix: &str, names: &[&str], define: Define, description: &str) -> Value {
    let requires_nothing = |name: &&str| define(name).is_some_and(|v| v.required.is_empty());
    let bare: Vec<&str> = names.iter().copied().filter(requires_nothing).collect();
    let mut forms = vec![enum_of(&bare, &format!("A {prefix} with its default parameters."))];
    forms.extend(names.iter().map(|name| json!({"$ref": format!("#/$defs/{prefix}_{name}")})));
    json!({"description": description, "anyOf": forms})
}

/// What may follow a variant's name: nothing, its first parameter, its parameters in order or by
/// name, as `lower::bind` reads them.
fn variant_parameters(variant: &Variant) -> Value {
    let schema_of = |key: &str| variant.params.get(key).cloned().unwrap_or(json!({}));
    let required = variant.required;
    let mut forms = Vec::new();
    if required.is_empty() {
        let help = "Every parameter at its default.";
        forms.push(json!({"type": "null", "description": help}));
        forms.push(json!({"const": true, "description": help}));
        for flag in variant.flags {
            forms.push(json!({"const": flag, "description": format!("Sets `{flag}` to true.")}));
        }
    }
    if let Some(first) = variant.positional.first() {
        if required.iter().all(|key| key == first) {
            let help = format!("`{first}` alone, every other parameter at its default.");
            let scalar = json!({"type": ["number", "string"]});
            forms.push(json!({"description": help, "allOf": [schema_of(first), scalar]}));
        }
        let order: Vec<&str> = variant.positional.iter().chain(variant.flags).copied().collect();
        let mut items: Vec<Value> = variant.positional.iter().map(|key| schema_of(key)).collect();
        items.extend(variant.flags.iter().map(|flag| json!({"const": flag})));
        let last_required = variant.positional.iter().rposition(|key| required.contains(key));
        forms.push(json!({
            "type": "array",
            "description": format!("The parameters in order: {}.", order.join(", ")),
            "prefixItems": items,
            "minItems": last_required.map_or(0, |last| last + 1),
            "maxItems": order.len(),
        }));
    }
    let mut by_name = object("The parameters by name.", variant.params.clone(), required);
    if let (Value::Object(map), false) = (&mut by_name, variant.exclusive.is_empty()) {
        // Each of the exclusive keys, when given, forbids the others.
        let dependent = variant.exclusive.iter().map(|key| {
            let others = variant.exclusive.iter().filter(|other| *other != key);
            let forbidden: Map<String, Value> = others.map(|other| (other.to_string(), json!(false))).collect();
            (key.to_string(), json!({"properties": forbidden}))
        });
        map.insert("dependentSchemas".into(), Value::Object(dependent.collect()));
    }
    forms.push(by_name);
    json!({"description": variant.description, "anyOf": forms})
}

fn data_schema() -> Value {
    let kinds = "How galen treats the column: numeric, categorical, binary, id or date (an id or a date is never a \
        predictor).";
    let scale = "How numeric columns are scaled, using the training rows: none, standard (mean 0, standard deviation \
        1), minmax (to 0..1) or robust (median and interquartile range).";
    let encode = "How categorical columns become numbers: onehot (one 0/1 column per category) or ordinal (the \
        category's position).";
    let risk_correction = "With `class_weight`, how the reported risks are corrected: prior (the default: back to \
        the prevalence of the training rows, Saerens et al. 2002, so that they estimate risk again) or none (the \
        weighted model's probabilities, which overstate the classes weighted up).";
    let properties = json!({
        "source": source_schema(),
        "target": text("The column to predict, for example `diagnosis`."),
        "positive": text("The positive class of a two-class target (for example `malignant` or 1): sensitivity, PPV \
            and the reported risk refer to it. By default, the last class in sort order."),
        "features": names("The predictor columns. By default, every column except the target, the split and group \
            columns, and those in `exclude`."),
        "exclude": with_default(names("Columns that are not predictors, such as identifiers (this removes columns, \
            not rows)."), json!([])),
        "types": {
            "type": "object",
            "description": "Declares the kind of some columns, overriding what galen infers.",
            "additionalProperties": enum_of(ColumnKind::NAMES, kinds),
            "default": {},
        },
        "shape": {
            "type": "array",
            "description": "Reshapes each row's features: [height, width, channels] for a grid, or [steps, features] \
                for a sequence.",
            "items": count("A size."),
            "minItems": 2,
            "maxItems": 3,
        },
        "missing": missing_schema(),
        "scale": with_default(enum_of(Scale::NAMES, scale), json!(Scale::Standard.name())),
        "encode": with_default(enum_of(Encode::NAMES, encode), json!(Encode::OneHot.name())),
        "split": split_schema(),
        "class_weight": {
            "description": "Weights the loss per class, for rare outcomes: `balanced` (inversely to each class's \
                frequency in the training rows) or a weight per class.",
            "anyOf": [
                {"const": "balanced"},
                {
                    "type": "object",
                    "description": "A weight per class label.",
                    "additionalProperties": positive("The weight of this class (above 0)."),
                },
            ],
        },
        "risk_correction": with_default(
            enum_of(RiskCorrection::NAMES, risk_correction),
            json!(RiskCorrection::Prior.name())
        ),
    });
    let description = "Where the data come from and how they are prepared. Every statistic is learned from the \
        training rows only.";
    let mut schema = object(description, properties, &["source", "target"]);
    if let Value::Object(map) = &mut schema {
        // Without class weights there is nothing to correct, and `lower` refuses the key.
        map.insert("dependentRequired".into(), json!({"risk_correction": ["class_weight"]}));
    }
    schema
}

fn source_schema() -> Value {
    let csv = json!({
        "csv": string("The path of the CSV file, relative to the spec file."),
        "delimiter": {
            "description": "The character between fields: one character, or `tab`.",
            "default": ",",
            "anyOf": [
                {"enum": ["tab", "\\t"]},
                {"type": "string", "minLength": 1, "maxLength": 1, "pattern": "^[\\x00-\\x7F]$"},
            ],
        },
    });
    let color = enum_of(Color::NAMES, "grayscale (one channel) or rgb (three channels).");
    let images = json!({
        "images": string("The folder, relative to the spec file."),
        "size": pair("Every image is resized to this: one number for a square, or [height, width]."),
        "color": with_default(color, json!(Color::Rgb.name())),
        "manifest": string("A CSV file listing the images: a `file` column, the target column and optionally a \
            patient column for a group split."),
    });
    let images_help = "A folder of PNG or JPEG images: one sub-folder per class, or a manifest.";
    json!({
        "description": "The data file or image folder.",
        "oneOf": [
            string("The path of a CSV file with a header row, relative to the spec file."),
            object("A CSV file with a header row.", csv, &["csv"]),
            object(images_help, images, &["images", "size"]),
        ],
    })
}

fn missing_schema() -> Value {
    let categorical = strategy(&[Impute::Interpolate.name()], "How missing categories are filled.");
    let by_kind = json!({
        "numeric": with_default(strategy(&[], "How missing numbers are filled."),
            json!(Impute::Median.name())),
        "categorical": with_default(categorical, json!(Impute::Mode.name())),
        "columns": {
            "type": "object",
            "description": "A strategy per column, overriding the one for its kind, for example `{insulin: median}`.",
            "additionalProperties": strategy(&[], "How this column's missing cells are filled."),
            "default": {},
        },
        "indicator": with_default(flag("Add a 0/1 column per column with missing cells, saying where a value was \
            filled in."), json!(false)),
    });
    json!({
        "description": "How missing cells (empty, NA, NaN or ?) are filled, using the training rows. Rows with a \
            missing target are always dropped.",
        "anyOf": [
            enum_of(&bare_strategies(&[]), "One strategy for every column."),
            object("Strategies per kind of column and per column.", by_kind, &[]),
            {"type": "null", "description": "Empty: every default."},
        ],
    })
}

/// The strategies that take no value, less `excluded`.
fn bare_strategies(excluded: &[&str]) -> Vec<&'static str> {
    let takes_no_value = |name: &&str| Impute::from_name(name).is_some() && !excluded.contains(name);
    Impute::NAMES.iter().copied().filter(takes_no_value).collect()
}

fn strategy(excluded: &[&str], description: &str) -> Value {
    let help = "Drop the row; the training rows' mean, median, most frequent value (mode) or zero; the previous \
        (ffill) or next (bfill) value or an interpolation, in file order; or `{constant: VALUE}`.";
    let value = json!({"type": ["number", "string"], "description": "The value filled in."});
    let constant = Impute::Constant(Scalar::Text(String::new())).name();
    let properties = Value::Object(Map::from_iter([(constant.to_string(), value)]));
    json!({
        "description": format!("{description} {help}"),
        "anyOf": [
            enum_of(&bare_strategies(excluded), help),
            object("A fixed value.", properties, &[constant]),
        ],
    })
}

fn split_schema() -> Value {
    let forbid = |keys: &[&str], range: Option<(&str, Value)>| {
        let mut properties: Map<String, Value> = keys.iter().map(|key| (key.to_string(), json!(false))).collect();
        properties.extend(range.map(|(key, range)| (key.to_string(), range)));
        json!({"properties": properties})
    };
    let below_one = || json!({"exclusiveMaximum": 1});
    let properties = json!({
        "train": {
            "type": "number",
            "description": "The fraction of rows for training (above 0, up to 1). If no fraction is given, 0.8; if \
                some are, 0.",
            "exclusiveMinimum": 0,
            "maximum": 1,
            "default": 0.8,
        },
        "val": with_default(fraction("The fraction of rows for validation (early stopping, the plateau schedule); \
            below 1 with `test_file`.", false), json!(0.0)),
        "test": with_default(fraction("The fraction of rows kept for the final test; below 1 with `k_fold`. If no \
            fraction is given, 0.2; if some are, 0.", false), json!(0.2)),
        "stratify": with_default(flag("Keep the class proportions in every split."), json!(false)),
        "group": text("A column such as a patient id: all rows of one group stay in one split, so no patient is in \
            both training and test."),
        "column": text("A column holding train, val or test for each row, instead of a random split."),
        "test_file": string("A second CSV file that is the test set; `val` may then take a fraction of the first \
            file."),
        "k_fold": whole(2, "Cross-validation with this many folds (at least 2) on the rows not kept for `test`."),
    });
    let description = "How rows are divided into training, validation and test: random fractions adding up to 1, a \
        column, a test file, or k-fold cross-validation.";
    // Empty (YAML null) is the default split.
    let mut schema = with(object(description, properties, &[]), "type", json!(["object", "null"]));
    if let Value::Object(map) = &mut schema {
        let column = ["train", "val", "test", "stratify", "group", "test_file", "k_fold"];
        let dependent = json!({
            "column": forbid(&column, None),
            "test_file": forbid(&["train", "test", "column", "k_fold"], Some(("val", below_one()))),
            "k_fold": forbid(&["train", "val", "column", "test_file"], Some(("test", below_one()))),
        });
        map.insert("dependentSchemas".into(), dependent);
    }
    schema
}

fn train_schema() -> Value {
    let optimizer_help = "How the weights are updated: `adam` (the default), `{adam: {lr: 0.001}}`, `{sgd: {lr: \
        0.01, momentum: 0.9}}`, ...";
    let schedule_help = "How the learning rate changes during training. By default, it does not.";
    let loss = "What training minimises: categorical_crossentropy (softmax, one unit per class) or \
        binary_crossentropy (one sigmoid unit) for classes; mse, mae or huber for a number.";
    let early_stopping = json!({
        "monitor": with_default(monitor(), json!("val_loss")),
        "patience": with_default(count("Epochs without improvement before stopping."), json!(10)),
        "restore_best": with_default(flag("Keep the weights of the best epoch rather than the last."), json!(true)),
        "min_delta": with_default(non_negative("The smallest change that counts as an improvement."), json!(0.0)),
    });
    let properties = json!({
        "optimizer": with_default(choice("optimizer", OPTIMIZER_NAMES, optimizer, optimizer_help),
            json!("adam")),
        "loss": enum_of(Loss::NAMES, loss),
        "epochs": count("The number of passes over the training rows."),
        "batch_size": with_default(count("The number of rows per training step."), json!(32)),
        "early_stopping": {
            "description": "Stop when a validation quantity stops improving (needs a `val` split): settings, `true` \
                (or empty) for the defaults, or `false`.",
            "anyOf": [
                {"type": ["boolean", "null"]},
                object("When to stop.", early_stopping, &[]),
            ],
        },
        "schedule": choice("schedule", SCHEDULE_NAMES, schedule, schedule_help),
    });
    object("How the model is trained.", properties, &["loss", "epochs"])
}

/// `val_loss`, `loss`, or `val_` and a metric that is a single number.
fn monitor() -> Value {
    let mut names = vec!["val_loss".to_string(), "loss".to_string()];
    let single = Metric::ALL.iter().filter(|(_, metric)| metric.is_single_number());
    names.extend(single.map(|(name, _)| format!("val_{name}")));
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let help = "The quantity watched: `val_loss`, or `val_` and a metric such as `val_auc` (`loss` is the training \
        loss). The test split is never used for this.";
    enum_of(&names, help)
}

fn metrics_schema() -> Value {
    let of_kind = |regression: bool| {
        let kind = Metric::ALL.iter().filter(|(_, metric)| metric.is_regression() == regression);
        kind.map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
    };
    let help = format!("For classes: {}. For a number: {}.", of_kind(false), of_kind(true));
    let metric = enum_of(Metric::NAMES, &help);
    json!({
        "description": "What to report on each split, computed over the whole split. By default, the usual ones for \
            the task.",
        "default": [],
        "anyOf": [metric.clone(), {"type": "array", "items": metric}],
    })
}

/// An object that accepts only `properties`.
fn object(description: &str, properties: Value, required: &[&str]) -> Value {
    let schema = json!({
        "type": "object",
        "description": description,
        "properties": properties,
        "additionalProperties": false,
    });
    match required {
        [] => schema,
        _ => with(schema, "required", json!(required)),
    }
}

fn with(mut schema: Value, key: &str, value: Value) -> Value {
    if let Value::Object(map) = &mut schema {
        map.insert(key.to_string(), value);
    }
    schema
}

fn with_default(schema: Value, default: Value) -> Value {
    with(schema, "default", default)
}

fn enum_of(names: &[&str], description: &str) -> Value {
    json!({"type": "string", "enum": names, "description": description})
}

fn string(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

/// A column or class name: YAML reads `1` as a number, and `lower` takes it as its text.
fn text(description: &str) -> Value {
    json!({"type": ["string", "number"], "description": description})
}

/// One column name or a list of them.
fn names(description: &str) -> Value {
    let list = json!({"type": "array", "items": text("A column.")});
    json!({"description": description, "anyOf": [text("A column."), list]})
}

fn whole(min: u64, description: &str) -> Value {
    json!({"type": "integer", "description": description, "minimum": min, "maximum": LARGEST_WHOLE})
}

fn count(description: &str) -> Value {
    whole(1, description)
}

/// One size for both directions, or `[height, width]`.
fn pair(description: &str) -> Value {
    let sizes = json!({"type": "array", "items": count("A size."), "minItems": 2, "maxItems": 2});
    json!({"description": description, "anyOf": [count("A size."), sizes]})
}

/// A fraction in [0, 1], or in [0, 1) when `upper_open`.
fn fraction(description: &str, upper_open: bool) -> Value {
    let upper = if upper_open { "exclusiveMaximum" } else { "maximum" };
    with(json!({"type": "number", "description": description, "minimum": 0}), upper, json!(1))
}

fn positive(description: &str) -> Value {
    json!({"type": "number", "description": description, "exclusiveMinimum": 0})
}

fn non_negative(description: &str) -> Value {
    json!({"type": "number", "description": description, "minimum": 0})
}

fn flag(description: &str) -> Value {
    json!({"type": "boolean", "description": description})
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn set(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|key| key.to_string()).collect()
    }

    fn keys_at(schema: &Value, pointer: &str) -> BTreeSet<String> {
        let found = schema.pointer(pointer).and_then(Value::as_object).into_iter().flatten();
        found.map(|(key, _)| key.clone()).collect()
    }

    /// The by-name form of a layer, optimizer or schedule: the last of its forms.
    fn by_name<'s>(schema: &'s Value, prefix: &str, name: &str) -> &'s Value {
        let forms = &schema["$defs"][format!("{prefix}_{name}")]["properties"][name]["anyOf"];
        forms.as_array().and_then(|forms| forms.last()).unwrap_or(&Value::Null)
    }

    /// Calls `visit` on every object in the schema, depth first.
    fn walk(value: &Value, visit: &mut dyn FnMut(&Map<String, Value>)) {
        match value {
            Value::Object(map) => {
                visit(map);
                map.values().for_each(|child| walk(child, visit));
            }
            Value::Array(items) => items.iter().for_each(|child| walk(child, visit)),
            _ => {}
        }
    }

    /// Every string the schema offers as a value (`enum`, `const`) or as a key (`properties`).
    fn offered(schema: &Value) -> BTreeSet<String> {
        let mut offered = BTreeSet::new();
        walk(schema, &mut |map| {
            let values = map.get("enum").and_then(Value::as_array).into_iter().flatten();
            let values = values.chain(map.get("const")).filter_map(Value::as_str);
            offered.extend(values.map(String::from));
            let keys = map.get("properties").and_then(Value::as_object).into_iter().flatten();
            offered.extend(keys.map(|(key, _)| key.clone()));
        });
        offered
    }

    #[test]
    fn schema_is_json_with_a_head() {
        let schema = json_schema();
        let text = serde_json::to_string_pretty(&schema).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), schema);
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert_eq!(schema["$id"], SCHEMA_ID);
        assert!(schema["title"].is_string() && schema["description"].is_string());
        assert_eq!(schema["required"], json!(["data", "model", "train"]));
    }

    #[test]
    fn every_name_table_appears() {
        let offered = offered(&json_schema());
        let tables: [&[&str]; 13] = [
            Activation::NAMES,
            Loss::NAMES,
            Metric::NAMES,
            Scale::NAMES,
            Encode::NAMES,
            Padding::NAMES,
            Color::NAMES,
            ColumnKind::NAMES,
            Impute::NAMES,
            RiskCorrection::NAMES,
            LAYER_NAMES,
            OPTIMIZER_NAMES,
            SCHEDULE_NAMES,
        ];
        for name in tables.iter().flat_map(|table| table.iter()) {
            assert!(offered.contains(*name), "`{name}` is missing from the schema");
        }
        for metric in Metric::NAMES.iter().filter(|name| !["confusion_matrix", "calibration"].contains(name)) {
            assert!(offered.contains(&format!("val_{metric}")), "`val_{metric}` is missing");
        }
        assert!(!offered.contains("val_confusion_matrix") && !offered.contains("val_calibration"));
    }

    #[test]
    fn every_key_lower_accepts_is_a_property() {
        // The section key lists are the ones `spec::lower` binds with; the smaller ones are copied by hand.
        use crate::spec::lower::hints::{DATA_KEYS, SPLIT_KEYS, TRAIN_KEYS};
        let schema = json_schema();
        let expected: [(&str, &[&str]); 6] = [
            ("", &["name", "seed", "data", "model", "train", "metrics"]),
            ("/properties/data", DATA_KEYS),
            ("/properties/train", TRAIN_KEYS),
            ("/properties/data/properties/split", SPLIT_KEYS),
            ("/properties/data/properties/missing/anyOf/1", &["numeric", "categorical", "columns", "indicator"]),
            (
                "/properties/train/properties/early_stopping/anyOf/1",
                &["monitor", "patience", "restore_best", "min_delta"],
            ),
        ];
        for (pointer, keys) in expected {
            assert_eq!(keys_at(&schema, &format!("{pointer}/properties")), set(keys), "{pointer}");
        }
        let source = "/properties/data/properties/source/oneOf";
        let mut keys = keys_at(&schema, &format!("{source}/1/properties"));
        keys.extend(keys_at(&schema, &format!("{source}/2/properties")));
        assert_eq!(keys, set(&["csv", "delimiter", "images", "size", "color", "manifest"]));
    }

    #[test]
    fn every_layer_optimizer_and_schedule_has_the_keys_lower_accepts() {
        let schema = json_schema();
        let expected: [(&str, &str, &[&str]); 17] = [
            ("layer", "dense", &["units", "activation"]),
            ("layer", "conv2d", &["filters", "kernel", "stride", "padding", "activation"]),
            ("layer", "max_pool2d", &["size", "stride"]),
            ("layer", "avg_pool2d", &["size", "stride"]),
            ("layer", "global_avg_pool2d", &[]),
            ("layer", "flatten", &[]),
            ("layer", "dropout", &["rate"]),
            ("layer", "batch_norm", &["momentum", "epsilon"]),
            ("layer", "lstm", &["units", "return_sequences"]),
            ("layer", "gru", &["units", "return_sequences"]),
            ("layer", "activation", &["name"]),
            ("optimizer", "sgd", &["lr", "momentum", "nesterov", "clipnorm", "global_clipnorm", "clipvalue"]),
            ("optimizer", "adam", &["lr", "beta1", "beta2", "eps", "clipnorm", "global_clipnorm", "clipvalue"]),
            (
                "optimizer",
                "adamw",
                &["lr", "beta1", "beta2", "eps", "weight_decay", "clipnorm", "global_clipnorm", "clipvalue"],
            ),
            ("schedule", "step", &["every", "factor"]),
            ("schedule", "cosine", &["min_lr"]),
            ("schedule", "plateau", &["patience", "factor", "monitor"]),
        ];
        let tables = LAYER_NAMES.len() + OPTIMIZER_NAMES.len() + SCHEDULE_NAMES.len();
        assert_eq!(expected.len(), tables, "a new name: describe it in the schema and here");
        for (prefix, name, keys) in expected {
            let found = keys_at(by_name(&schema, prefix, name), "/properties");
            assert_eq!(found, set(keys), "the keys of {prefix} `{name}`");
        }
        assert!(LAYER_NAMES.iter().all(|name| layer(name).is_some()));
        assert!(OPTIMIZER_NAMES.iter().all(|name| optimizer(name).is_some()));
        assert!(SCHEDULE_NAMES.iter().all(|name| schedule(name).is_some()));
    }

    #[test]
    fn every_optimizer_takes_one_positive_clipping_limit() {
        let schema = json_schema();
        for name in OPTIMIZER_NAMES {
            let by_name = by_name(&schema, "optimizer", name);
            for key in CLIPPING_KEYS {
                assert_eq!(by_name["properties"][key]["exclusiveMinimum"], json!(0), "`{key}` of `{name}`");
                let others = keys_at(by_name, &format!("/dependentSchemas/{key}/properties"));
                let expected: Vec<&str> = CLIPPING_KEYS.iter().copied().filter(|other| other != key).collect();
                assert_eq!(others, set(&expected), "`{key}` of `{name}` forbids the other two");
                for other in expected {
                    assert_eq!(by_name["dependentSchemas"][key]["properties"][other], json!(false));
                }
            }
        }
    }

    #[test]
    fn a_name_alone_is_offered_only_where_nothing_is_required() {
        let schema = json_schema();
        let layers = ["max_pool2d", "avg_pool2d", "global_avg_pool2d", "flatten", "batch_norm"];
        assert_eq!(schema["$defs"]["layer"]["anyOf"][0]["enum"], json!(layers));
        let train = &schema["properties"]["train"]["properties"];
        assert_eq!(train["optimizer"]["anyOf"][0]["enum"], json!(OPTIMIZER_NAMES));
        assert_eq!(train["schedule"]["anyOf"][0]["enum"], json!(["cosine", "plateau"]));
        let missing = &schema["properties"]["data"]["properties"]["missing"];
        assert!(!missing["anyOf"][0]["enum"].as_array().unwrap().contains(&json!("constant")));
    }

    #[test]
    fn defaults_match_lower() {
        let schema = json_schema();
        let data = "/properties/data/properties";
        let train = "/properties/train/properties";
        let expected = [
            ("/properties/seed".to_string(), json!(0)),
            (format!("{data}/scale"), json!("standard")),
            (format!("{data}/encode"), json!("onehot")),
            (format!("{data}/missing/anyOf/1/properties/numeric"), json!("median")),
            (format!("{data}/missing/anyOf/1/properties/categorical"), json!("mode")),
            (format!("{data}/split/properties/test"), json!(0.2)),
            (format!("{train}/optimizer"), json!("adam")),
            (format!("{train}/batch_size"), json!(32)),
            (format!("{train}/early_stopping/anyOf/1/properties/patience"), json!(10)),
            (format!("{train}/early_stopping/anyOf/1/properties/restore_best"), json!(true)),
        ];
        for (pointer, default) in expected {
            let found = schema.pointer(&pointer).map(|at| &at["default"]);
            assert_eq!(found, Some(&default), "the default at {pointer}");
        }
        let expected = [
            ("layer", "conv2d", "padding", json!("valid")),
            ("layer", "batch_norm", "momentum", json!(0.99)),
            ("optimizer", "sgd", "lr", json!(0.01)),
            ("optimizer", "adamw", "weight_decay", json!(0.004)),
            ("schedule", "plateau", "patience", json!(5)),
        ];
        for (prefix, name, key, default) in expected {
            let found = &by_name(&schema, prefix, name)["properties"][key]["default"];
            assert_eq!(found, &default, "the default of {prefix} `{name}` `{key}`");
        }
    }

    #[test]
    fn every_object_forbids_unknown_keys_and_is_described() {
        let mut objects = 0;
        walk(&json_schema(), &mut |map| {
            let types = map.get("type").map(|t| t.as_array().cloned().unwrap_or(vec![t.clone()]));
            if types.is_some_and(|types| types.contains(&json!("object"))) {
                objects += 1;
                assert!(map.contains_key("additionalProperties"), "{map:?}");
                assert!(map.get("description").is_some_and(Value::is_string), "{map:?}");
            }
            if let (Some(names), Some(default)) = (map.get("enum"), map.get("default")) {
                assert!(names.as_array().unwrap().contains(default), "{default} is no choice");
            }
        });
        assert!(objects > 30, "only {objects} objects");
    }

    #[test]
    fn every_reference_resolves() {
        let schema = json_schema();
        let mut references = Vec::new();
        walk(&schema, &mut |map| {
            references.extend(map.get("$ref").and_then(Value::as_str).map(String::from));
        });
        assert_eq!(
            references.len(),
            1 + LAYER_NAMES.len() + OPTIMIZER_NAMES.len() + SCHEDULE_NAMES.len(),
            "{references:?}"
        );
        for reference in references {
            let found = reference.strip_prefix('#').and_then(|pointer| schema.pointer(pointer));
            assert!(found.is_some(), "{reference} does not resolve");
        }
    }

    #[test]
    fn serialising_is_deterministic() {
        assert_eq!(json_schema().to_string(), json_schema().to_string());
        let pretty = |schema: Value| serde_json::to_string_pretty(&schema).unwrap();
        assert_eq!(pretty(json_schema()), pretty(json_schema()));
    }
}
