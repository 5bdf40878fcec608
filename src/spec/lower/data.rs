//! Reads the `data` section: the source, the target and the columns, missing values, scaling, the split and the
//! class weights.

use super::*;

impl Reader<'_> {
    pub(super) fn data(&mut self, node: Option<&Node>) -> Data {
        let empty = Node::new(Value::Map(Vec::new()), Span::point(0));
        let node = node.unwrap_or(&empty);
        let params = self.bind(node, "`data`", DATA_KEYS, &[], &[]);
        let source = match params.require(self, "source", "source \"data/file.csv\"") {
            Some(node) => self.source(node),
            None => None,
        };
        let source = source.unwrap_or_else(|| {
            self.sound = false;
            let span = Span::point(node.span.start);
            Spanned::new(
                Source::Csv { path: Spanned::new(String::new(), span), delimiter: Spanned::new(',', span) },
                span,
            )
        });
        let help = format!("add the column to predict, for example `{}`", self.example("target outcome"));
        let target = params.require_with_help(self, "target", help).and_then(|node| self.text(node, "`target`"));
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
        let scale = self
            .param(&params, "scale", Scale::Standard, |r, n| r.choice(n, "scaling", "spec::unknown_name", Scale::ALL));
        let encode = self.param(&params, "encode", Encode::OneHot, |r, n| {
            r.choice(n, "encoding", "spec::unknown_name", Encode::ALL)
        });
        let split = self.split(params.get("split"), node.span);
        let class_weight = params.get("class_weight").and_then(|node| self.class_weight(node));
        let weighted = params.get("class_weight").is_some();
        let risk_correction = params.get("risk_correction").and_then(|node| self.risk_correction(node, weighted));
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
            risk_correction,
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
                            Diagnostic::error(
                                "spec::conflict",
                                format!("`{key}` applies to image folders, not to a csv source"),
                            )
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
                let size = params
                    .require(self, "size", "source images=\"scans\" size=[64, 64]")
                    .and_then(|n| self.pair(n, "image `size`"));
                let size = size.unwrap_or_else(|| {
                    self.sound = false;
                    Spanned::new([1, 1], node.span)
                });
                let color = self
                    .param(&params, "color", Color::Rgb, |r, n| r.choice(n, "color", "spec::unknown_name", Color::ALL));
                let manifest = params.get("manifest").and_then(|n| self.text(n, "`manifest`"));
                Source::Images { dir, size, color, manifest }
            }
            (Some(_), Some(_)) => {
                self.sound = false;
                self.error(
                    Diagnostic::error(
                        "spec::conflict",
                        "a source is either a `csv` file or an `images` folder, not both",
                    )
                    .at(node.span)
                    .with_help("keep one of `csv` and `images`"),
                );
                return None;
            }
            (None, None) => {
                self.sound = false;
                let example = self.example("source csv=\"data/file.csv\" delimiter=\";\"");
                self.error(
                    Diagnostic::error(
                        "spec::missing_key",
                        "`data.source` names neither a `csv` file nor an `images` folder",
                    )
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
                self.out_of_range(
                    node.span,
                    "`delimiter`",
                    "must be one character",
                    "write for example \";\" or \"tab\"",
                );
                return None;
            }
        };
        Some(Spanned::new(delimiter, node.span))
    }

    fn types(&mut self, node: &Node) -> Spanned<Vec<(Spanned<String>, Spanned<ColumnKind>)>> {
        let Value::Map(entries) = &node.value else {
            let help = format!("write `{}`, one column and its kind per entry", self.example("types sex=categorical"));
            self.wrong_type(node, "`types`", "a mapping of column names to kinds", help);
            return Spanned::new(Vec::new(), node.span);
        };
        let mut types: Vec<(Spanned<String>, Spanned<ColumnKind>)> = Vec::new();
        for entry in entries {
            let Some(kind) = self.choice(&entry.value, "column kind", "spec::unknown_name", ColumnKind::ALL) else {
                continue;
            };
            if types.iter().any(|(column, _)| column.value == entry.key) {
                self.duplicate(entry, "`types`");
                continue;
            }
            types.push((Spanned::new(entry.key.clone(), entry.key_span), kind));
        }
        Spanned::new(types, node.span)
    }

    fn shape(&mut self, node: &Node) -> Option<Spanned<Vec<usize>>> {
        let Value::List(items) = &node.value else {
            self.wrong_type(
                node,
                "`shape`",
                "a list of sizes",
                "write for example [8, 8, 1] (height, width, channels) or [180, 1] (steps, features)",
            );
            return None;
        };
        if !(2..=3).contains(&items.len()) {
            self.out_of_range(
                node.span,
                "`shape`",
                "must have two sizes (steps, features) or three (height, width, channels)",
                "write for example [8, 8, 1] or [180, 1]",
            );
            return None;
        }
        let sizes: Option<Vec<usize>> =
            items.iter().map(|item| self.count(item, "a `shape` size").map(|n| n.value)).collect();
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
        // A single strategy applies to both kinds (`missing: drop`, `missing: {constant: 0}`), except that one
        // which needs numbers (mean, median, zero, interpolate) leaves categorical columns to their default, mode.
        let single_constant =
            matches!(&node.value, Value::Map(entries) if entries.len() == 1 && entries[0].key == "constant");
        if matches!(node.value, Value::Str(_)) || single_constant {
            let impute = self.impute(node).unwrap_or(default(Impute::Median));
            let numbers_only =
                matches!(impute.value, Impute::Mean | Impute::Median | Impute::Zero | Impute::Interpolate);
            let categorical = if numbers_only { default(Impute::Mode) } else { impute.clone() };
            return Missing {
                numeric: impute,
                categorical,
                columns: Vec::new(),
                indicator: Spanned::new(false, node.span),
            };
        }
        let params =
            self.bind(node, "`data.missing`", &["numeric", "categorical", "columns", "indicator"], &[], &["indicator"]);
        let numeric = self.param(&params, "numeric", Impute::Median, |r, n| r.impute(n));
        let categorical = self.param(&params, "categorical", Impute::Mode, |r, n| r.impute(n));
        if let Impute::Interpolate = categorical.value {
            self.out_of_range(
                categorical.span,
                "`interpolate`",
                "needs numbers and cannot fill a categorical column",
                "use `mode`, `ffill`, `bfill` or a constant",
            );
        }
        let indicator = self.param(&params, "indicator", false, |r, n| r.flag(n, "`indicator`"));
        let mut columns: Vec<(Spanned<String>, Spanned<Impute>)> = Vec::new();
        if let Some(columns_node) = params.get("columns") {
            match &columns_node.value {
                Value::Map(entries) => {
                    for (index, entry) in entries.iter().enumerate() {
                        if entries[..index].iter().any(|earlier| earlier.key == entry.key) {
                            self.duplicate(entry, "`missing.columns`");
                            continue;
                        }
                        let Some(impute) = self.impute(&entry.value) else { continue };
                        columns.push((Spanned::new(entry.key.clone(), entry.key_span), impute));
                    }
                }
                _ => {
                    let help = format!("write for example `{}`", self.example("columns insulin=median"));
                    self.wrong_type(columns_node, "`missing.columns`", "a mapping of column names to strategies", help)
                }
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
                    reader.wrong_type(
                        value,
                        "`constant`",
                        "a number or a text",
                        "write the value that fills the empty cells, such as 0 or \"unknown\"",
                    );
                    return None;
                }
            };
            Some(Spanned::new(Impute::Constant(scalar), node.span))
        };
        match &node.value {
            Value::Map(entries) if entries.len() == 1 && entries[0].key == "constant" => {
                constant(self, &entries[0].value)
            }
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
                let help = format!("write one strategy such as `median`, or `{}`", self.example("constant=0"));
                self.wrong_type(
                    node,
                    "a missing-value strategy",
                    &format!("one of {} or {{constant: VALUE}}", quote_list(Impute::NAMES)),
                    help,
                );
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
        let params = self.bind(node, "`data.split`", super::hints::SPLIT_KEYS, &[], &["stratify"]);
        let stratify = self.param(&params, "stratify", false, |r, n| r.flag(n, "`stratify`"));
        let group = params.get("group").and_then(|n| self.text(n, "`group`"));
        let fraction =
            |reader: &mut Self, key: &str| params.get(key).and_then(|n| reader.fraction(n, &format!("`{key}`"), false));
        let method: Vec<&str> =
            ["column", "test_file", "k_fold"].into_iter().filter(|key| params.get(key).is_some()).collect();
        let forbid = |reader: &mut Self, method: &str, keys: &[&str]| {
            for key in keys {
                if let Some(extra) = params.get(key) {
                    reader.sound = false;
                    reader.error(
                        Diagnostic::error(
                            "spec::conflict",
                            format!("`{key}` cannot be combined with `{method}` in `data.split`"),
                        )
                        .at(extra.span)
                        .with_label(format!("not used with `{method}`"))
                        .with_help(format!("remove `{key}`")),
                    );
                }
            }
        };
        let split = match method.as_slice() {
            [] => {
                let errors_before = self.diagnostics.error_count();
                let train = fraction(self, "train");
                let val = fraction(self, "val");
                let test = fraction(self, "test");
                // A fraction that could not be read, or one under a misspelled key, would make the sum wrong too.
                let all_read = self.diagnostics.error_count() == errors_before && !params.had_unknown;
                let given = [train.as_ref(), val.as_ref(), test.as_ref()];
                let (train, val, test) = if given.iter().all(Option::is_none) {
                    (Spanned::new(0.8, at), Spanned::new(0.0, at), Spanned::new(0.2, at))
                } else {
                    let zero = Spanned::new(0.0, Span::point(node.span.start));
                    (train.unwrap_or(zero.clone()), val.unwrap_or(zero.clone()), test.unwrap_or(zero))
                };
                let sum = train.value + val.value + test.value;
                if (sum - 1.0).abs() > 1e-6 && all_read {
                    let help = format!(
                        "make train + val + test equal 1, for example `{}`",
                        self.example("split train=0.7 val=0.1 test=0.2")
                    );
                    self.out_of_range(
                        node.span,
                        "the split fractions",
                        &format!("add up to {} instead of 1", trim_float(sum)),
                        &help,
                    );
                } else if all_read && train.value <= 0.0 {
                    self.out_of_range(train.span, "`train`", "must be above 0", "keep some rows for training");
                }
                Split::Fractions { train, val, test, stratify, group }
            }
            ["column"] => {
                forbid(self, "column", &["train", "val", "test", "stratify", "group"]);
                let column = params
                    .get("column")
                    .and_then(|n| self.text(n, "`column`"))
                    .unwrap_or(Spanned::new(String::new(), node.span));
                Split::Column { column }
            }
            ["test_file"] => {
                forbid(self, "test_file", &["train", "test"]);
                let path = params
                    .get("test_file")
                    .and_then(|n| self.text(n, "`test_file`"))
                    .unwrap_or(Spanned::new(String::new(), node.span));
                let val =
                    params.get("val").and_then(|n| self.fraction(n, "`val`", true)).unwrap_or(Spanned::new(0.0, at));
                Split::TestFile { path, val, stratify, group }
            }
            ["k_fold"] => {
                forbid(self, "k_fold", &["train", "val"]);
                let folds = params
                    .get("k_fold")
                    .and_then(|n| self.whole(n, "`k_fold`", 2))
                    .map(|n| Spanned::new(n.value as usize, n.span));
                let folds = folds.unwrap_or(Spanned::new(5, node.span));
                let test =
                    params.get("test").and_then(|n| self.fraction(n, "`test`", true)).unwrap_or(Spanned::new(0.2, at));
                Split::KFold { folds, test, stratify, group }
            }
            _ => {
                self.sound = false;
                self.error(
                    Diagnostic::error(
                        "spec::conflict",
                        format!("`data.split` can use only one of {}", quote_list(&method)),
                    )
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
                let mut weights: Vec<(Spanned<String>, Spanned<f64>)> = Vec::new();
                for entry in entries {
                    if weights.iter().any(|(class, _)| class.value == entry.key) {
                        self.duplicate(entry, "`class_weight`");
                        continue;
                    }
                    let what = format!("the weight of class `{}`", entry.key);
                    let help = "a weight multiplies the class's share of the loss: use 1 for the usual weight and more, such as 2, for a class that matters more";
                    if let Some(weight) = self.positive_number(&entry.value, &what, help) {
                        weights.push((Spanned::new(entry.key.clone(), entry.key_span), weight));
                    }
                }
                Some(Spanned::new(ClassWeight::Explicit(weights), node.span))
            }
            _ => {
                let help = self.example("class_weight balanced");
                self.wrong_type(
                    node,
                    "`class_weight`",
                    "`balanced` or a mapping of class to weight",
                    format!("write `{help}`, or give a weight per class"),
                );
                None
            }
        }
    }

    /// `risk_correction: prior | none`, which only means something with class weights (`weighted`: the key is
    /// written, rightly or not): without them the risks need no correction, and the key is refused as `delimiter`
    /// is for an image folder.
    fn risk_correction(&mut self, node: &Node, weighted: bool) -> Option<Spanned<RiskCorrection>> {
        let correction = self.choice(node, "risk correction", "spec::unknown_name", RiskCorrection::ALL)?;
        if !weighted {
            let example = self.example("class_weight balanced");
            self.error(
                Diagnostic::error(
                    "spec::conflict",
                    "`risk_correction` corrects risks for class weights, but `class_weight` is not set",
                )
                .at(node.span)
                .with_label("no class weights to correct for")
                .with_help(format!("remove `risk_correction`, or weight the classes, for example `{example}`")),
            );
        }
        Some(correction)
    }
}
