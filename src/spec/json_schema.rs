//! The JSON Schema (draft 2020-12) of a spec's YAML form, printed by `galen schema` for editors.
//!
//! Editors such as VS Code's YAML extension use it to complete keys and names and to underline mistakes while the
//! expert types. It mirrors `spec::lower`, the authority on the language: every name comes from the AST's tables,
//! and every default and range is the one `lower` applies, so the schema is not a second list to keep in step.
//! It covers the forms a YAML author writes; a few that `lower` accepts only because the DSL needs them
//! (`split: stratify`, `optimizer: [adam, 0.001]`, `model` as a mapping) are left out, so that an editor steers
//! toward the usual form. What a schema cannot say (fractions that add up to 1, a `val` split for early stopping,
//! the last layer against the target) is left to `galen check`.
//!
//! Positional lists bound their length with `maxItems` rather than `items: false`: an editor that only knows
//! draft-07 ignores `prefixItems` but would read `items: false` as "no items at all" and reject every list.

use serde_json::{json, Map, Value};

use super::ast::{
    Activation, Color, ColumnKind, Encode, Impute, Loss, Metric, Padding, Scalar, Scale,
    LAYER_NAMES, OPTIMIZER_NAMES, SCHEDULE_NAMES,
};

/// The schema's `$id`.
pub const SCHEMA_ID: &str = "https://galen.dev/schema/spec.json";

/// The largest whole number `lower` accepts: above it an f64 no longer holds every whole number exactly.
const LARGEST_WHOLE: u64 = 9_000_000_000_000_000;

/// The JSON Schema of the YAML form of a spec, with a `$defs` entry per layer, optimizer and schedule.
pub fn json_schema() -> Value {
    let mut defs = Map::new();
    defs.insert(
        "layer".into(),
        choice_schema("layer", LAYER_NAMES, layer_variant, LAYER_HELP),
    );
    add_variant_defs(&mut defs, "layer", LAYER_NAMES, layer_variant);
    add_variant_defs(&mut defs, "optimizer", OPTIMIZER_NAMES, optimizer_variant);
    add_variant_defs(&mut defs, "schedule", SCHEDULE_NAMES, schedule_variant);
    let model = json!({
        "type": "array",
        "description": "The layers of the network, from the input to the output. The input shape comes from \
            the data; the last layer must match the target (for example `dense: {units: 2, activation: softmax}` \
            for two classes).",
        "minItems": 1,
        "items": {"$ref": "#/$defs/layer"},
    });
    let properties = json!({
        "name": text("The experiment's name, used in reports. By default, the spec file's name."),
        "seed": with_default(
            whole(0, "The seed of every random choice (split, initial weights, shuffling, dropout). The same \
                spec, data and seed give the same model and the same numbers."),
            json!(0),
        ),
        "data": data_schema(),
        "model": model,
        "train": train_schema(),
        "metrics": metrics_schema(),
    });
    let mut schema = object(
        "A galen model spec: the data, the network, how to train it and what to report.",
        properties,
        &["data", "model", "train"],
    );
    if let Value::Object(map) = &mut schema {
        let mut head = Map::new();
        head.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        head.insert("$id".into(), json!(SCHEMA_ID));
        head.insert("title".into(), json!("galen spec"));
        head.append(map);
        head.insert("$defs".into(), Value::Object(defs));
        return Value::Object(head);
    }
    schema
}

const LAYER_HELP: &str = "One layer: a name alone (`flatten`), a name with its first parameter (`dense: 64`), \
    its parameters in order (`conv2d: [16, 3, relu]`) or by name (`dense: {units: 64, activation: relu}`).";

/// One key of a layer, optimizer or schedule.
struct Param {
    key: &'static str,
    schema: Value,
    required: bool,
}

/// A named choice with parameters (a layer, an optimizer, a schedule), as `lower::bind` reads it.
struct Variant {
    name: &'static str,
    description: &'static str,
    params: Vec<Param>,
    /// The keys a value given without a key fills, in order.
    positional: &'static [&'static str],
    /// The keys that a bare word of the same name sets to true.
    flags: &'static [&'static str],
}

impl Variant {
    fn required(&self) -> Vec<&'static str> {
        self.params
            .iter()
            .filter(|param| param.required)
            .map(|param| param.key)
            .collect()
    }

    fn schema_of(&self, key: &str) -> Value {
        let found = self.params.iter().find(|param| param.key == key);
        found.map_or(json!({}), |param| param.schema.clone())
    }
}

fn optional(key: &'static str, schema: Value) -> Param {
    Param {
        key,
        schema,
        required: false,
    }
}

fn required(key: &'static str, schema: Value) -> Param {
    Param {
        key,
        schema,
        required: true,
    }
}

fn layer_variant(name: &'static str) -> Option<Variant> {
    let activation = || {
        let help = "The function applied to the output: `softmax` for a classifier's last layer (one unit \
            per class), `sigmoid` for one unit with binary_crossentropy, `linear` for a regression output, \
            `relu` inside the network.";
        with_default(
            enum_of(Activation::NAMES, help),
            json!(Activation::Linear.name()),
        )
    };
    let units = || count("The number of units (neurons).");
    let pool = |description| Variant {
        name,
        description,
        params: vec![
            optional(
                "size",
                with_default(
                    pair("The window: one number for a square, or [height, width]."),
                    json!([2, 2]),
                ),
            ),
            optional(
                "stride",
                pair("How far the window moves each step. By default, the window size."),
            ),
        ],
        positional: &["size", "stride"],
        flags: &[],
    };
    let recurrent = |description| {
        Variant {
        name,
        description,
        params: vec![
            required("units", units()),
            optional(
                "return_sequences",
                with_default(flag("Give the output at every time step (to stack another recurrent layer) instead of only the last."), json!(false)),
            ),
        ],
        positional: &["units"],
        flags: &["return_sequences"],
    }
    };
    let no_params = |description| Variant {
        name,
        description,
        params: vec![],
        positional: &[],
        flags: &[],
    };
    Some(match name {
        "dense" => Variant {
            name,
            description: "A fully connected layer: every input feeds every unit. It needs a flat input.",
            params: vec![required("units", units()), optional("activation", activation())],
            positional: &["units", "activation"],
            flags: &[],
        },
        "conv2d" => Variant {
            name,
            description: "A 2-D convolution over an image or grid ([height, width, channels]).",
            params: vec![
                required("filters", count("The number of filters (output channels).")),
                required("kernel", pair("The window each filter looks at: one number for a square, or [height, width].")),
                optional("stride", with_default(pair("How far the window moves each step."), json!([1, 1]))),
                optional(
                    "padding",
                    with_default(
                        enum_of(Padding::NAMES, "`valid`: no padding, the output shrinks; `same`: zero padding keeps the size at stride 1."),
                        json!(Padding::Valid.name()),
                    ),
                ),
                optional("activation", activation()),
            ],
            positional: &["filters", "kernel", "activation"],
            flags: &[],
        },
        "max_pool2d" => pool("Keeps the largest value of each window, shrinking the image."),
        "avg_pool2d" => pool("Keeps the average of each window, shrinking the image."),
        "global_avg_pool2d" => no_params("Averages each channel over the whole image: one value per channel, a flat output."),
        "flatten" => no_params("Turns each image or sequence into one flat list of values, as `dense` needs."),
        "dropout" => Variant {
            name,
            description: "Sets a random fraction of values to zero during training, against overfitting; no effect on predictions.",
            params: vec![required("rate", fraction("The fraction dropped, at least 0 and below 1, for example 0.2.", true))],
            positional: &["rate"],
            flags: &[],
        },
        "batch_norm" => Variant {
            name,
            description: "Normalises each feature over the batch, keeping running statistics for predictions.",
            params: vec![
                optional("momentum", with_default(fraction("How slowly the running statistics follow the batches (at least 0, below 1).", true), json!(0.99))),
                optional("epsilon", with_default(positive("A small number added to the variance to avoid dividing by zero."), json!(0.001))),
            ],
            positional: &[],
            flags: &[],
        },
        "lstm" => recurrent("A long short-term memory layer over a sequence ([steps, features])."),
        "gru" => recurrent("A gated recurrent unit layer over a sequence ([steps, features])."),
        "activation" => Variant {
            name,
            description: "An activation function on its own.",
            params: vec![required("name", enum_of(Activation::NAMES, "The function applied."))],
            positional: &["name"],
            flags: &[],
        },
        _ => return None,
    })
}

fn optimizer_variant(name: &'static str) -> Option<Variant> {
    let lr = |default: f64| {
        let help =
            "The learning rate: the size of each step (above 0). Too large and training diverges.";
        optional("lr", with_default(positive(help), json!(default)))
    };
    let adam_params = || {
        vec![
            lr(0.001),
            optional("beta1", with_default(fraction("How much of the average gradient is kept each step (at least 0, below 1).", true), json!(0.9))),
            optional("beta2", with_default(fraction("How much of the average squared gradient is kept each step (at least 0, below 1).", true), json!(0.999))),
            optional("eps", with_default(positive("A small number that keeps the step finite."), json!(1e-7))),
        ]
    };
    Some(match name {
        "sgd" => Variant {
            name,
            description: "Stochastic gradient descent, optionally with momentum.",
            params: vec![
                lr(0.01),
                optional(
                    "momentum",
                    with_default(
                        fraction(
                            "How much of the previous step is kept (at least 0, below 1).",
                            true,
                        ),
                        json!(0.0),
                    ),
                ),
                optional(
                    "nesterov",
                    with_default(flag("Use Nesterov momentum."), json!(false)),
                ),
            ],
            positional: &["lr"],
            flags: &["nesterov"],
        },
        "adam" => Variant {
            name,
            description: "Adam, a good default.",
            params: adam_params(),
            positional: &["lr"],
            flags: &[],
        },
        "adamw" => {
            let mut params = adam_params();
            let decay = fraction(
                "How much the weights shrink each step (at least 0, below 1).",
                true,
            );
            params.push(optional("weight_decay", with_default(decay, json!(0.004))));
            Variant {
                name,
                description: "Adam with weight decay, which keeps the weights small.",
                params,
                positional: &["lr"],
                flags: &[],
            }
        }
        _ => return None,
    })
}

fn schedule_variant(name: &'static str) -> Option<Variant> {
    let factor = || {
        let help = "The learning rate is multiplied by it (above 0, below 1), for example 0.5.";
        let schema = json!({"type": "number", "description": help, "exclusiveMinimum": 0, "exclusiveMaximum": 1});
        optional("factor", with_default(schema, json!(0.1)))
    };
    Some(match name {
        "step" => Variant {
            name,
            description: "Lowers the learning rate by `factor` every `every` epochs.",
            params: vec![required("every", count("The number of epochs between two reductions.")), factor()],
            positional: &["every", "factor"],
            flags: &[],
        },
        "cosine" => Variant {
            name,
            description: "Lowers the learning rate smoothly along a cosine curve, down to `min_lr` at the last epoch.",
            params: vec![optional("min_lr", with_default(non_negative("The learning rate at the last epoch."), json!(0.0)))],
            positional: &["min_lr"],
            flags: &[],
        },
        "plateau" => Variant {
            name,
            description: "Lowers the learning rate by `factor` when `monitor` has not improved for `patience` epochs.",
            params: vec![
                optional("patience", with_default(count("Epochs without improvement before lowering the rate."), json!(5))),
                factor(),
                optional("monitor", with_default(monitor_schema(), json!("val_loss"))),
            ],
            positional: &[],
            flags: &[],
        },
        _ => return None,
    })
}

/// Adds `$defs/{prefix}_{name}` for every name: an object with the name as its only key.
fn add_variant_defs(
    defs: &mut Map<String, Value>,
    prefix: &str,
    names: &[&'static str],
    define: fn(&'static str) -> Option<Variant>,
) {
    for name in names {
        let (description, parameters) = match define(name) {
            Some(variant) => (
                variant.description.to_string(),
                variant_parameters(&variant),
            ),
            None => (format!("The {prefix} `{name}`."), json!({})),
        };
        let mut properties = Map::new();
        properties.insert(name.to_string(), parameters);
        defs.insert(
            format!("{prefix}_{name}"),
            object(&description, Value::Object(properties), &[name]),
        );
    }
}

/// A name alone (when nothing is required) or one of the `$defs` objects.
fn choice_schema(
    prefix: &str,
    names: &[&'static str],
    define: fn(&'static str) -> Option<Variant>,
    description: &str,
) -> Value {
    let bare: Vec<&str> = names
        .iter()
        .copied()
        .filter(|name| define(name).is_some_and(|v| v.required().is_empty()))
        .collect();
    let mut forms = vec![enum_of(
        &bare,
        &format!("A {prefix} with every parameter at its default."),
    )];
    forms.extend(
        names
            .iter()
            .map(|name| json!({"$ref": format!("#/$defs/{prefix}_{name}")})),
    );
    json!({"description": description, "anyOf": forms})
}

/// The value under a variant's name: nothing, its first parameter, its parameters in order, or by name.
fn variant_parameters(variant: &Variant) -> Value {
    let required = variant.required();
    let mut forms = Vec::new();
    if required.is_empty() {
        forms.push(json!({"type": "null", "description": "Every parameter at its default."}));
        forms.push(json!({"const": true, "description": "Every parameter at its default."}));
    }
    if let Some(first) = variant.positional.first() {
        if required.iter().all(|key| key == first) {
            let only_scalar = json!({"type": ["number", "string"]});
            let description = format!("`{first}` alone, every other parameter at its default.");
            forms.push(json!({"description": description, "allOf": [variant.schema_of(first), only_scalar]}));
        }
    }
    if required.is_empty() {
        for flag in variant.flags {
            forms.push(json!({"const": flag, "description": format!("Sets `{flag}` to true.")}));
        }
    }
    if !variant.positional.is_empty() {
        let order: Vec<&str> = variant
            .positional
            .iter()
            .chain(variant.flags)
            .copied()
            .collect();
        let mut items: Vec<Value> = variant
            .positional
            .iter()
            .map(|key| variant.schema_of(key))
            .collect();
        items.extend(variant.flags.iter().map(|flag| json!({"const": flag})));
        let needed = variant
            .positional
            .iter()
            .rposition(|key| required.contains(key))
            .map_or(0, |last| last + 1);
        forms.push(json!({
            "type": "array",
            "description": format!("The parameters in order: {}.", order.join(", ")),
            "prefixItems": items,
            "minItems": needed,
            "maxItems": order.len(),
        }));
    }
    let properties: Map<String, Value> = variant
        .params
        .iter()
        .map(|p| (p.key.to_string(), p.schema.clone()))
        .collect();
    forms.push(object(
        "The parameters by name.",
        Value::Object(properties),
        &required,
    ));
    json!({"description": variant.description, "anyOf": forms})
}

fn data_schema() -> Value {
    let kinds = "How galen treats the column: numeric, categorical, binary, id (never a predictor) or date (never a predictor).";
    let properties = json!({
        "source": source_schema(),
        "target": text("The column to predict, for example `diagnosis`."),
        "positive": text("The positive class of a two-class target (for example `malignant` or 1): sensitivity, \
            PPV and the reported risk refer to it. By default, the last class in sort order."),
        "features": names_schema("The predictor columns. By default, every column except the target, the split \
            and group columns, and those in `exclude`."),
        "exclude": with_default(names_schema("Columns that are not predictors, such as identifiers (columns, not rows)."), json!([])),
        "types": {
            "type": "object",
            "description": "Declares the kind of some columns, overriding what galen infers from their values.",
            "additionalProperties": enum_of(ColumnKind::NAMES, kinds),
            "default": {},
        },
        "shape": {
            "type": "array",
            "description": "Reshapes each row's features: [height, width, channels] for an image-like grid, or [steps, features] for a sequence.",
            "items": count("A size."),
            "minItems": 2,
            "maxItems": 3,
        },
        "missing": missing_schema(),
        "scale": with_default(
            enum_of(Scale::NAMES, "How numeric columns are scaled, using the training rows: none, standard (mean 0, \
                standard deviation 1), minmax (to 0..1) or robust (median and interquartile range)."),
            json!(Scale::Standard.name()),
        ),
        "encode": with_default(
            enum_of(Encode::NAMES, "How categorical columns become numbers: onehot (one 0/1 column per category) or ordinal (the category's index)."),
            json!(Encode::OneHot.name()),
        ),
        "split": split_schema(),
        "class_weight": {
            "description": "Weights the loss per class, for rare outcomes: `balanced` (inversely to each class's frequency in the training rows) or a weight per class.",
            "anyOf": [
                {"const": "balanced"},
                {"type": "object", "description": "A weight (above 0) per class label.", "additionalProperties": positive("The weight of this class.")},
            ],
        },
    });
    object("Where the data come from and how they are prepared. Every statistic is learned from the training rows only.", properties, &["source", "target"])
}

fn source_schema() -> Value {
    let delimiter = json!({
        "description": "The character between fields: one character, or `tab`.",
        "default": ",",
        "anyOf": [
            {"enum": ["tab", "\\t"]},
            {"type": "string", "minLength": 1, "maxLength": 1, "pattern": "^[\\x00-\\x7F]$"},
        ],
    });
    let csv = object(
        "A CSV file with a header row.",
        json!({"csv": string("The path of the CSV file, relative to the spec file."), "delimiter": delimiter}),
        &["csv"],
    );
    let color = enum_of(
        Color::NAMES,
        "grayscale (one channel) or rgb (three channels).",
    );
    let images = object(
        "A folder of PNG or JPEG images: one sub-folder per class, or a manifest CSV.",
        json!({
            "images": string("The folder, relative to the spec file."),
            "size": pair("Every image is resized to this: one number for a square, or [height, width]."),
            "color": with_default(color, json!(Color::Rgb.name())),
            "manifest": string("A CSV listing the images: a `file` column, the target column and optionally a patient column for a group split."),
        }),
        &["images", "size"],
    );
    let path = string("The path of a CSV file with a header row, relative to the spec file.");
    json!({"description": "The data file or image folder.", "oneOf": [path, csv, images]})
}

fn missing_schema() -> Value {
    let by_kind = object(
        "Strategies per kind of column and per column.",
        json!({
            "numeric": with_default(strategy(&[], "How missing numbers are filled."), json!(Impute::Median.name())),
            "categorical": with_default(
                strategy(&[Impute::Interpolate.name()], "How missing categories are filled (interpolate needs numbers)."),
                json!(Impute::Mode.name()),
            ),
            "columns": {
                "type": "object",
                "description": "A strategy per column, overriding the one for its kind, for example `{insulin: median}`.",
                "additionalProperties": strategy(&[], "How this column's missing cells are filled."),
                "default": {},
            },
            "indicator": with_default(flag("Add a 0/1 column per column with missing cells, saying where a value was filled in."), json!(false)),
        }),
        &[],
    );
    let names = bare_strategies(&[]);
    json!({
        "description": "How missing cells (empty, NA, NaN or ?) are filled, using the training rows. Rows with a missing target are always dropped.",
        "anyOf": [enum_of(&names, "One strategy for every column."), by_kind],
    })
}

/// The strategies that take no value, less `excluded`.
fn bare_strategies(excluded: &[&str]) -> Vec<&'static str> {
    let takes_no_value = |name: &&str| Impute::from_name(name).is_some();
    Impute::NAMES
        .iter()
        .copied()
        .filter(takes_no_value)
        .filter(|name| !excluded.contains(name))
        .collect()
}

fn strategy(excluded: &[&str], description: &str) -> Value {
    let help = "drop the row, the training rows' mean, median or most frequent value (mode), zero, the previous \
        value (ffill), the next value (bfill), interpolate between neighbours (in file order), or `{constant: VALUE}`.";
    let constant = Impute::Constant(Scalar::Text(String::new())).name();
    let value = json!({"type": ["number", "string"], "description": "The value written into every missing cell."});
    let mut properties = Map::new();
    properties.insert(constant.to_string(), value);
    let constant = object("A fixed value.", Value::Object(properties), &[constant]);
    json!({"description": format!("{description} One of: {help}"), "anyOf": [enum_of(&bare_strategies(excluded), help), constant]})
}

fn split_schema() -> Value {
    let forbid = |keys: &[&str], extra: Value| {
        let mut properties: Map<String, Value> = keys
            .iter()
            .map(|key| (key.to_string(), json!(false)))
            .collect();
        if let Value::Object(extra) = extra {
            properties.extend(extra);
        }
        json!({"properties": properties})
    };
    let below_one = json!({"exclusiveMaximum": 1});
    let properties = json!({
        "train": with_default(
            json!({"type": "number", "description": "The fraction of rows for training (above 0, up to 1). If no fraction is given, 0.8; if some are, 0.", "exclusiveMinimum": 0, "maximum": 1}),
            json!(0.8),
        ),
        "val": with_default(fraction("The fraction of rows for validation (early stopping, the plateau schedule); below 1 with `test_file`.", false), json!(0.0)),
        "test": with_default(fraction("The fraction of rows kept for the final test; below 1 with `k_fold`. If no fraction is given, 0.2; if some are, 0.", false), json!(0.2)),
        "stratify": with_default(flag("Keep the class proportions in every split."), json!(false)),
        "group": text("A column such as a patient id: all rows of one group stay in one split, so no patient is in both training and test."),
        "column": text("A column holding train, val or test for each row, instead of a random split."),
        "test_file": string("A second CSV file that is the test set; `val` may then take a fraction of the first file."),
        "k_fold": whole(2, "Cross-validation with this many folds (at least 2) on the rows not kept for `test`."),
    });
    let mut schema = object(
        "How rows are divided into training, validation and test: random fractions (adding up to 1), a column, a test file, or k-fold cross-validation.",
        properties,
        &[],
    );
    if let Value::Object(map) = &mut schema {
        let dependent = json!({
            "column": forbid(&["train", "val", "test", "stratify", "group", "test_file", "k_fold"], json!({})),
            "test_file": forbid(&["train", "test", "column", "k_fold"], json!({"val": below_one})),
            "k_fold": forbid(&["train", "val", "column", "test_file"], json!({"test": below_one})),
        });
        map.insert("dependentSchemas".into(), dependent);
    }
    schema
}

fn train_schema() -> Value {
    let mut optimizer = choice_schema("optimizer", OPTIMIZER_NAMES, optimizer_variant, "How the weights are updated: `adam` (the default), `{adam: {lr: 0.001}}`, `{sgd: {lr: 0.01, momentum: 0.9}}` ...");
    optimizer = with_default(optimizer, json!("adam"));
    let schedule = choice_schema(
        "schedule",
        SCHEDULE_NAMES,
        schedule_variant,
        "How the learning rate changes during training. By default, it stays the same.",
    );
    let loss = "What training minimises: categorical_crossentropy (softmax, one unit per class) or binary_crossentropy \
        (one sigmoid unit) for classes; mse, mae or huber for a number.";
    let early_stopping = object(
        "When to stop.",
        json!({
            "monitor": with_default(monitor_schema(), json!("val_loss")),
            "patience": with_default(count("Epochs without improvement before stopping."), json!(10)),
            "restore_best": with_default(flag("Keep the weights of the best epoch rather than the last."), json!(true)),
            "min_delta": with_default(non_negative("The smallest change that counts as an improvement."), json!(0.0)),
        }),
        &[],
    );
    let properties = json!({
        "optimizer": optimizer,
        "loss": enum_of(Loss::NAMES, loss),
        "epochs": count("The number of passes over the training rows."),
        "batch_size": with_default(count("The number of rows per training step."), json!(32)),
        "early_stopping": {
            "description": "Stop when a validation quantity stops improving (needs a `val` split): settings, `true` for the defaults, or `false`.",
            "anyOf": [{"type": "boolean"}, early_stopping],
        },
        "schedule": schedule,
    });
    object("How the model is trained.", properties, &["loss", "epochs"])
}

/// `loss`, `val_loss`, or `val_` and a metric that is one number.
fn monitor_schema() -> Value {
    let mut names = vec!["val_loss".to_string(), "loss".to_string()];
    let single_number = Metric::ALL
        .iter()
        .filter(|(_, metric)| *metric != Metric::ConfusionMatrix);
    names.extend(single_number.map(|(name, _)| format!("val_{name}")));
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    enum_of(&names, "The quantity watched: `val_loss`, or `val_` and a metric such as `val_auc` (`loss` is the training loss). The test split is never used.")
}

fn metrics_schema() -> Value {
    let of_kind = |regression: bool| {
        let names = Metric::ALL
            .iter()
            .filter(|(_, metric)| metric.is_regression() == regression);
        names.map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
    };
    let help = format!(
        "A metric. For classes: {}. For a number: {}.",
        of_kind(false),
        of_kind(true)
    );
    let metric = enum_of(Metric::NAMES, &help);
    json!({
        "description": "What to report on each split, computed over the whole split. By default, the usual ones for the task.",
        "default": [],
        "anyOf": [metric.clone(), {"type": "array", "items": metric}],
    })
}

/// An object that accepts only `properties`.
fn object(description: &str, properties: Value, required: &[&str]) -> Value {
    let mut schema = json!({"type": "object", "description": description, "properties": properties, "additionalProperties": false});
    if !required.is_empty() {
        schema = with(schema, "required", json!(required));
    }
    schema
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

/// One name or a list of names.
fn names_schema(description: &str) -> Value {
    json!({"description": description, "anyOf": [text("A column."), {"type": "array", "items": text("A column.")}]})
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

/// A fraction in [0, 1], or [0, 1) when `upper_open`.
fn fraction(description: &str, upper_open: bool) -> Value {
    let upper = if upper_open {
        "exclusiveMaximum"
    } else {
        "maximum"
    };
    with(
        json!({"type": "number", "description": description, "minimum": 0}),
        upper,
        json!(1),
    )
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
        let found = schema.pointer(pointer).and_then(Value::as_object);
        found
            .map(|map| map.keys().cloned().collect())
            .unwrap_or_default()
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
        let mut names = BTreeSet::new();
        walk(schema, &mut |map| {
            let enumerated = map
                .get("enum")
                .and_then(Value::as_array)
                .into_iter()
                .flatten();
            names.extend(
                enumerated
                    .chain(map.get("const"))
                    .filter_map(Value::as_str)
                    .map(String::from),
            );
            let keys = map
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flat_map(|p| p.keys());
            names.extend(keys.cloned());
        });
        names
    }

    #[test]
    fn schema_is_json_with_a_head() {
        let schema = json_schema();
        let text = serde_json::to_string_pretty(&schema).unwrap();
        let read_back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(read_back, schema);
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["$id"], SCHEMA_ID);
        assert!(schema["title"].is_string() && schema["description"].is_string());
        assert_eq!(schema["required"], json!(["data", "model", "train"]));
    }

    #[test]
    fn every_name_table_appears() {
        let offered = offered(&json_schema());
        let tables: [&[&str]; 12] = [
            Activation::NAMES,
            Loss::NAMES,
            Metric::NAMES,
            Scale::NAMES,
            Encode::NAMES,
            Padding::NAMES,
            Color::NAMES,
            ColumnKind::NAMES,
            Impute::NAMES,
            LAYER_NAMES,
            OPTIMIZER_NAMES,
            SCHEDULE_NAMES,
        ];
        for name in tables.iter().flat_map(|table| table.iter()) {
            assert!(
                offered.contains(*name),
                "`{name}` is missing from the schema"
            );
        }
        for metric in Metric::NAMES
            .iter()
            .filter(|name| **name != "confusion_matrix")
        {
            assert!(
                offered.contains(&format!("val_{metric}")),
                "`val_{metric}` cannot be monitored"
            );
        }
        assert!(!offered.contains("val_confusion_matrix"));
    }

    #[test]
    fn every_key_lower_accepts_is_a_property() {
        // Copied from the `KEYS` lists and `bind` calls of `spec::lower`.
        let schema = json_schema();
        let top = ["name", "seed", "data", "model", "train", "metrics"];
        let data = [
            "source",
            "target",
            "positive",
            "features",
            "exclude",
            "types",
            "shape",
            "missing",
            "scale",
            "encode",
            "split",
            "class_weight",
        ];
        let train = [
            "optimizer",
            "loss",
            "epochs",
            "batch_size",
            "early_stopping",
            "schedule",
        ];
        let split = [
            "train",
            "val",
            "test",
            "stratify",
            "group",
            "column",
            "test_file",
            "k_fold",
        ];
        let missing = ["numeric", "categorical", "columns", "indicator"];
        let early_stopping = ["monitor", "patience", "restore_best", "min_delta"];
        assert_eq!(keys_at(&schema, "/properties"), set(&top));
        assert_eq!(keys_at(&schema, "/properties/data/properties"), set(&data));
        assert_eq!(
            keys_at(&schema, "/properties/train/properties"),
            set(&train)
        );
        assert_eq!(
            keys_at(&schema, "/properties/data/properties/split/properties"),
            set(&split)
        );
        assert_eq!(
            keys_at(
                &schema,
                "/properties/data/properties/missing/anyOf/1/properties"
            ),
            set(&missing)
        );
        let stopping = "/properties/train/properties/early_stopping/anyOf/1/properties";
        assert_eq!(keys_at(&schema, stopping), set(&early_stopping));
        let mut source = keys_at(
            &schema,
            "/properties/data/properties/source/oneOf/1/properties",
        );
        source.extend(keys_at(
            &schema,
            "/properties/data/properties/source/oneOf/2/properties",
        ));
        assert_eq!(
            source,
            set(&["csv", "delimiter", "images", "size", "color", "manifest"])
        );
    }

    #[test]
    fn every_layer_optimizer_and_schedule_has_the_keys_lower_accepts() {
        let schema = json_schema();
        let expected: &[(&str, &str, &[&str])] = &[
            ("layer", "dense", &["units", "activation"]),
            (
                "layer",
                "conv2d",
                &["filters", "kernel", "stride", "padding", "activation"],
            ),
            ("layer", "max_pool2d", &["size", "stride"]),
            ("layer", "avg_pool2d", &["size", "stride"]),
            ("layer", "global_avg_pool2d", &[]),
            ("layer", "flatten", &[]),
            ("layer", "dropout", &["rate"]),
            ("layer", "batch_norm", &["momentum", "epsilon"]),
            ("layer", "lstm", &["units", "return_sequences"]),
            ("layer", "gru", &["units", "return_sequences"]),
            ("layer", "activation", &["name"]),
            ("optimizer", "sgd", &["lr", "momentum", "nesterov"]),
            ("optimizer", "adam", &["lr", "beta1", "beta2", "eps"]),
            (
                "optimizer",
                "adamw",
                &["lr", "beta1", "beta2", "eps", "weight_decay"],
            ),
            ("schedule", "step", &["every", "factor"]),
            ("schedule", "cosine", &["min_lr"]),
            ("schedule", "plateau", &["patience", "factor", "monitor"]),
        ];
        let count = LAYER_NAMES.len() + OPTIMIZER_NAMES.len() + SCHEDULE_NAMES.len();
        assert_eq!(
            expected.len(),
            count,
            "a name was added to a table: describe it here and in the schema"
        );
        for (prefix, name, keys) in expected {
            let forms = &schema["$defs"][format!("{prefix}_{name}")]["properties"][name]["anyOf"];
            let by_name = forms.as_array().and_then(|forms| forms.last()).unwrap();
            assert_eq!(
                keys_at(by_name, "/properties"),
                set(keys),
                "the keys of {prefix} `{name}`"
            );
        }
        assert!(LAYER_NAMES.iter().all(|name| layer_variant(name).is_some()));
        assert!(OPTIMIZER_NAMES
            .iter()
            .all(|name| optimizer_variant(name).is_some()));
        assert!(SCHEDULE_NAMES
            .iter()
            .all(|name| schedule_variant(name).is_some()));
    }

    #[test]
    fn a_name_alone_is_offered_only_where_nothing_is_required() {
        let schema = json_schema();
        let layers = [
            "max_pool2d",
            "avg_pool2d",
            "global_avg_pool2d",
            "flatten",
            "batch_norm",
        ];
        assert_eq!(schema["$defs"]["layer"]["anyOf"][0]["enum"], json!(layers));
        let train = &schema["properties"]["train"]["properties"];
        assert_eq!(
            train["optimizer"]["anyOf"][0]["enum"],
            json!(OPTIMIZER_NAMES)
        );
        assert_eq!(
            train["schedule"]["anyOf"][0]["enum"],
            json!(["cosine", "plateau"])
        );
        let bare_strategies =
            &schema["properties"]["data"]["properties"]["missing"]["anyOf"][0]["enum"];
        assert!(!bare_strategies
            .as_array()
            .unwrap()
            .contains(&json!("constant")));
    }

    #[test]
    fn defaults_match_lower() {
        let schema = json_schema();
        let expected = [
            ("/properties/seed", json!(0)),
            ("/properties/data/properties/scale", json!("standard")),
            ("/properties/data/properties/encode", json!("onehot")),
            (
                "/properties/data/properties/missing/anyOf/1/properties/numeric",
                json!("median"),
            ),
            (
                "/properties/data/properties/missing/anyOf/1/properties/categorical",
                json!("mode"),
            ),
            (
                "/properties/data/properties/split/properties/test",
                json!(0.2),
            ),
            ("/properties/train/properties/optimizer", json!("adam")),
            ("/properties/train/properties/batch_size", json!(32)),
            (
                "/properties/train/properties/early_stopping/anyOf/1/properties/patience",
                json!(10),
            ),
            (
                "/properties/train/properties/early_stopping/anyOf/1/properties/restore_best",
                json!(true),
            ),
            (
                "/$defs/layer_conv2d/properties/conv2d/anyOf/3/properties/padding",
                json!("valid"),
            ),
            (
                "/$defs/layer_batch_norm/properties/batch_norm/anyOf/2/properties/momentum",
                json!(0.99),
            ),
            (
                "/$defs/optimizer_sgd/properties/sgd/anyOf/5/properties/lr",
                json!(0.01),
            ),
            (
                "/$defs/schedule_plateau/properties/plateau/anyOf/2/properties/patience",
                json!(5),
            ),
        ];
        for (pointer, default) in expected {
            let found = schema.pointer(pointer).map(|s| &s["default"]);
            assert_eq!(found, Some(&default), "the default at {pointer}");
        }
    }

    #[test]
    fn every_object_forbids_unknown_keys_and_is_described() {
        let mut objects = 0;
        walk(&json_schema(), &mut |map| {
            if map.get("type") == Some(&json!("object")) {
                objects += 1;
                assert!(map.contains_key("additionalProperties"), "{map:?}");
                assert!(
                    map.get("description").is_some_and(Value::is_string),
                    "{map:?}"
                );
            }
            if let (Some(names), Some(default)) = (map.get("enum"), map.get("default")) {
                assert!(
                    names.as_array().unwrap().contains(default),
                    "default {default} is not a choice"
                );
            }
        });
        assert!(objects > 30);
    }

    #[test]
    fn every_reference_resolves() {
        let schema = json_schema();
        let mut references = Vec::new();
        walk(&schema, &mut |map| {
            references.extend(map.get("$ref").and_then(Value::as_str).map(String::from))
        });
        assert!(!references.is_empty());
        for reference in references {
            let pointer = reference.strip_prefix('#').unwrap();
            assert!(
                schema.pointer(pointer).is_some(),
                "{reference} does not resolve"
            );
        }
    }

    #[test]
    fn serialising_is_deterministic() {
        assert_eq!(json_schema().to_string(), json_schema().to_string());
        let pretty = |schema: Value| serde_json::to_string_pretty(&schema).unwrap();
        assert_eq!(pretty(json_schema()), pretty(json_schema()));
    }
}
