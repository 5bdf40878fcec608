//! Tests of the DSL front end: the value rules, layout, printing back, syntax errors at the mistake, and mutated
//! sources that never panic.

use super::*;
use crate::diagnostics::{line_column, Diagnostic, Location};
use crate::spec::tree::Entry;

const EXAMPLE: &str = r#"experiment "breast-cancer-mlp"
seed 42

data {
  source "data/breast_cancer.csv"
  target diagnosis
  positive "malignant"
  missing numeric=median categorical=mode
  scale standard
  split train=0.7 val=0.1 test=0.2 stratify
}

model {
  dense 64 relu
  dropout 0.1
  dense 64 relu
  dense 2 softmax
}

train {
  optimizer adam lr=0.001
  loss categorical_crossentropy
  epochs 50
  batch_size 32
  early_stopping monitor=val_loss patience=10
}

metrics accuracy, precision, recall, specificity, f1, auc
"#;

fn node(value: Value) -> Node {
    Node::new(value, Span::default())
}

fn num(text: &str) -> Node {
    node(Value::Number { value: text.parse().unwrap_or(f64::NAN), text: text.to_string() })
}

fn text(text: &str) -> Node {
    node(Value::Str(text.to_string()))
}

fn flag(flag: bool) -> Node {
    node(Value::Bool(flag))
}

fn list(items: Vec<Node>) -> Node {
    node(Value::List(items))
}

fn entry(key: &str, value: Node) -> Entry {
    Entry { key: key.to_string(), key_span: Span::default(), value }
}

fn map(entries: Vec<Entry>) -> Node {
    node(Value::Map(entries))
}

fn args(positional: Vec<Node>, keywords: Vec<Entry>) -> Node {
    node(Value::Args { positional, keywords })
}

fn parse_ok(source: &str) -> Node {
    let mut diagnostics = Diagnostics::new();
    let parsed = parse(source, &mut diagnostics);
    assert!(diagnostics.is_empty(), "{source:?}: {diagnostics:?}");
    parsed.unwrap_or_else(|| node(Value::Null))
}

/// The one diagnostic for `source`, with the 1-based line and column it points at.
fn parse_error(source: &str) -> (Diagnostic, (usize, usize)) {
    let mut diagnostics = Diagnostics::new();
    assert_eq!(parse(source, &mut diagnostics), None, "{source:?} should not parse");
    assert_eq!(diagnostics.items.len(), 1, "{source:?}: {diagnostics:?}");
    let diagnostic = diagnostics.items.remove(0);
    let Location::Spec(span) = diagnostic.location else { panic!("{source:?}: no span") };
    assert!(span.end <= source.len() && source.is_char_boundary(span.start) && source.is_char_boundary(span.end));
    assert_eq!(diagnostic.code, "syntax::dsl");
    (diagnostic, line_column(source, span.start))
}

fn field<'a>(node: &'a Node, key: &str) -> &'a Entry {
    let Value::Map(entries) = &node.value else { panic!("not a map: {node:?}") };
    entries.iter().find(|entry| entry.key == key).unwrap_or_else(|| panic!("no `{key}` in {node:?}"))
}

#[test]
fn design_example_parses_to_the_expected_tree() {
    let document = parse_ok(EXAMPLE);
    assert_eq!((document.span.start, document.span.end), (0, EXAMPLE.len()));
    let Value::Map(top) = &document.value else { panic!("not a map") };
    let keys: Vec<&str> = top.iter().map(|entry| entry.key.as_str()).collect();
    assert_eq!(keys, ["experiment", "seed", "data", "model", "train", "metrics"]);

    let experiment = field(&document, "experiment");
    assert_eq!(experiment.value, text("breast-cancer-mlp"));
    assert_eq!(line_column(EXAMPLE, experiment.value.span.start), (1, 12));
    assert_eq!(&EXAMPLE[experiment.value.span.start..experiment.value.span.end], "\"breast-cancer-mlp\"");
    assert_eq!(field(&document, "seed").value, num("42"));

    let data = field(&document, "data");
    assert_eq!(line_column(EXAMPLE, data.key_span.start), (4, 1));
    assert_eq!(line_column(EXAMPLE, data.value.span.start), (4, 6));
    assert_eq!(line_column(EXAMPLE, data.value.span.end), (11, 2));
    assert_eq!(field(&data.value, "source").value, text("data/breast_cancer.csv"));
    assert_eq!(field(&data.value, "target").value, text("diagnosis"));
    let missing = field(&data.value, "missing");
    assert_eq!(missing.value, map(vec![entry("numeric", text("median")), entry("categorical", text("mode"))]));
    assert_eq!(line_column(EXAMPLE, missing.value.span.start), (8, 11));
    assert_eq!(&EXAMPLE[missing.value.span.start..missing.value.span.end], "numeric=median categorical=mode");
    let split = field(&data.value, "split");
    let expected_split = args(
        vec![text("stratify")],
        vec![entry("train", num("0.7")), entry("val", num("0.1")), entry("test", num("0.2"))],
    );
    assert_eq!(split.value, expected_split);
    assert_eq!(line_column(EXAMPLE, split.key_span.start), (10, 3));
    let Value::Args { keywords, .. } = &split.value.value else { panic!("not args") };
    assert_eq!(line_column(EXAMPLE, keywords[1].key_span.start), (10, 19));
    assert_eq!(line_column(EXAMPLE, keywords[1].value.span.start), (10, 23));

    let model = field(&document, "model");
    let dense = |units: &str, activation: &str| entry("dense", list(vec![num(units), text(activation)]));
    let expected_model =
        map(vec![dense("64", "relu"), entry("dropout", num("0.1")), dense("64", "relu"), dense("2", "softmax")]);
    assert_eq!(model.value, expected_model);
    let Value::Map(layers) = &model.value.value else { panic!("not a map") };
    assert_eq!(line_column(EXAMPLE, layers[3].key_span.start), (17, 3));
    assert_eq!(&EXAMPLE[layers[3].value.span.start..layers[3].value.span.end], "2 softmax");

    let train = field(&document, "train");
    assert_eq!(field(&train.value, "optimizer").value, args(vec![text("adam")], vec![entry("lr", num("0.001"))]));
    let early_stopping = map(vec![entry("monitor", text("val_loss")), entry("patience", num("10"))]);
    assert_eq!(field(&train.value, "early_stopping").value, early_stopping);

    let metrics = field(&document, "metrics");
    let names = ["accuracy", "precision", "recall", "specificity", "f1", "auc"];
    assert_eq!(metrics.value, list(names.iter().map(|name| text(name)).collect()));
    assert_eq!(line_column(EXAMPLE, metrics.value.span.start), (28, 9));
    assert_eq!(metrics.value.span.end, EXAMPLE.len() - 1);
}

#[test]
fn statements_follow_the_value_rules() {
    let cases = [
        ("dense 64 relu", list(vec![num("64"), text("relu")])),
        ("dropout 0.1", num("0.1")),
        ("flatten", flag(true)),
        ("stratify=false", flag(false)),
        ("shape [8, 8, 1]", list(vec![num("8"), num("8"), num("1")])),
        ("metrics accuracy, precision", list(vec![text("accuracy"), text("precision")])),
        ("lr 1e-3", num("1e-3")),
        ("x +2", num("+2")),
        ("x -0.5 .5", list(vec![num("-0.5"), num(".5")])),
        ("x \"a \\\"b\\\" \\\\ \\n\\t\"", text("a \"b\" \\ \n\t")),
        ("x my-col v1.2 true_positive", list(vec![text("my-col"), text("v1.2"), text("true_positive")])),
        ("x [] [[1], []]", list(vec![list(vec![]), list(vec![list(vec![num("1")]), list(vec![])])])),
        ("x {}", map(vec![])),
        ("x {\n}", map(vec![])),
        ("x { \"a b\": 1, c = [2], }", map(vec![entry("a b", num("1")), entry("c", list(vec![num("2")]))])),
        ("optimizer adam lr=0.001", args(vec![text("adam")], vec![entry("lr", num("0.001"))])),
        (
            "missing numeric=median columns={insulin=median}",
            map(vec![entry("numeric", text("median")), entry("columns", map(vec![entry("insulin", text("median"))]))]),
        ),
        ("data {\n source \"x.csv\"\n}", map(vec![entry("source", text("x.csv"))])),
        ("types {\n  \"blood pressure\" numeric\n}", map(vec![entry("blood pressure", text("numeric"))])),
        (
            "model {\n dense 64 relu\n flatten\n}",
            map(vec![entry("dense", list(vec![num("64"), text("relu")])), entry("flatten", flag(true))]),
        ),
        ("x a k = 1 {\n  y 2\n}", args(vec![text("a")], vec![entry("k", num("1")), entry("y", num("2"))])),
    ];
    for (source, expected) in cases {
        let document = parse_ok(source);
        let Value::Map(entries) = &document.value else { panic!("not a map") };
        assert_eq!(entries.len(), 1, "{source:?}");
        assert_eq!(entries[0].value, expected, "{source:?}");
    }
}

#[test]
fn layout_is_free_around_statements() {
    let source =
        "\r\n  # a comment\r\n\tseed 42 # the seed\r\n\r\ndata {   # block\r\n\r\n  scale\tstandard\r\n}\r\nx 1";
    let expected = map(vec![
        entry("seed", num("42")),
        entry("data", map(vec![entry("scale", text("standard"))])),
        entry("x", num("1")),
    ]);
    assert_eq!(parse_ok(source), expected);
    assert_eq!(parse_ok(""), map(vec![]));
    assert_eq!(parse_ok("  \n# only a comment"), map(vec![]));
}

fn round_trip(document: &Node) {
    let printed = print(document);
    let reparsed = parse_ok(&printed);
    assert_eq!(&reparsed, document, "printed:\n{printed}");
    assert_eq!(print(&reparsed), printed);
}

#[test]
fn printed_trees_parse_back() {
    round_trip(&parse_ok(EXAMPLE));
    let every_kind = map(vec![
        entry("experiment", text("blood pressure \"study\" \\ 2\n\t\r")),
        entry("flag", flag(true)),
        entry("off", flag(false)),
        entry("word", text("true")),
        entry("number", text("64")),
        entry("empty", text("")),
        entry("numbers", list(vec![num("1e-3"), num("-0.5"), num("+2"), num("7.")])),
        entry("one", list(vec![text("only")])),
        entry("none", list(vec![])),
        entry("shape", args(vec![list(vec![num("8"), num("8"), num("1")])], vec![entry("k", flag(true))])),
        entry("quoted key", map(vec![])),
        entry("inline", list(vec![map(vec![entry("a b", list(vec![]))]), map(vec![])])),
        entry(
            "block",
            map(vec![
                entry("flatten", flag(true)),
                entry("empty", map(vec![])),
                entry("keywords", map(vec![entry("x", flag(true)), entry("y", map(vec![entry("z", num("1"))]))])),
                entry("nested", map(vec![entry("optimizer", args(vec![text("adam")], vec![entry("lr", num("1"))]))])),
                entry("p", args(vec![text("a"), num("2")], vec![entry("\"k\"", text("v w"))])),
                entry("dense", list(vec![num("64"), text("relu")])),
                entry("dense", list(vec![num("64"), text("relu")])),
            ]),
        ),
        entry("empty_block", map(vec![])),
        entry("last", text("é")),
    ]);
    round_trip(&every_kind);
    round_trip(&map(vec![]));
    assert_eq!(
        print(&map(vec![entry("a", num("1")), entry("b", map(vec![])), entry("c", flag(true))])),
        "a 1\n\nb {\n}\n\nc\n"
    );
}

#[test]
fn syntax_errors_point_at_the_mistake() {
    let cases = [
        ("source \"data/x.csv\nseed 1\n", "no closing", (1, 8)),
        ("x \"a\\d\"\n", "unknown escape", (1, 5)),
        ("data {\n  source \"x\"\n", "no closing `}`", (1, 6)),
        ("model {\n  dense 64 =\n}\n", "`=`", (2, 12)),
        ("dense units=\n", "`=` has no value", (1, 12)),
        ("seed 1\n}\n", "closes no block", (2, 1)),
        ("data {\n  scale x }\n", "own", (2, 11)),
        ("@\n", "expected", (1, 1)),
        ("dense 64 @\n", "expected", (1, 10)),
        ("shape [8 8 1]\n", "expected `,` or `]`", (1, 10)),
        ("shape [8, 8\nseed 1\n", "not closed on its line", (1, 7)),
        ("source data/x.csv\n", "expected", (1, 12)),
        ("é\n", "expected", (1, 1)),
        ("data = {\n  x 1\n}\n", "map is not closed", (1, 8)),
        ("model { dense 32 relu }\n", "lines of their own", (1, 7)),
        ("train {\n  loss: mse\n}\n", "unexpected `:`", (2, 7)),
        ("split train=0.8 val= test=0.2\n", "`=` has no value", (1, 20)),
    ];
    for (source, expected, position) in cases {
        let (diagnostic, at) = parse_error(source);
        assert!(diagnostic.message.contains(expected), "{source:?}: {}", diagnostic.message);
        assert_eq!(at, position, "{source:?}: {}", diagnostic.message);
    }
    let deep = format!("x {}{}\n", "[".repeat(100), "]".repeat(100));
    assert!(parse_error(&deep).0.message.contains("nested"));
    let deepest_list = format!("x {}{}\n", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
    round_trip(&parse_ok(&deepest_list));
    let deepest_blocks = format!("{}{}", "x a {\n".repeat(MAX_NESTING), "}\n".repeat(MAX_NESTING));
    round_trip(&parse_ok(&deepest_blocks));
}

#[test]
fn mutated_sources_never_panic() {
    let pieces =
        ["\"", "{", "}", "[", "]", "=", ",", ":", "#", "\\", "\n", "\r", "\t", " ", "é", "→", "\u{0}", "1e", "-"];
    let mut rng = crate::rng::TestRng::new(0x9e37_79b9_7f4a_7c15);
    let (mut parsed, mut failed) = (0, 0);
    for _ in 0..4000 {
        let mut source: Vec<char> = EXAMPLE.chars().collect();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(source.len() + 1);
            match rng.below(4) {
                0 if at < source.len() => {
                    source.remove(at);
                }
                1 => source.splice(at..at, pieces[rng.below(pieces.len())].chars()).for_each(drop),
                2 if at + 1 < source.len() => source.swap(at, at + 1),
                _ => source.insert(at, char::from_u32(rng.below(0x3000) as u32).unwrap_or('x')),
            }
        }
        let source: String = source.into_iter().collect();
        let mut diagnostics = Diagnostics::new();
        match parse(&source, &mut diagnostics) {
            Some(document) => {
                parsed += 1;
                assert!(diagnostics.is_empty());
                round_trip(&document);
            }
            None => {
                failed += 1;
                parse_error(&source);
            }
        }
    }
    assert!(parsed > 100 && failed > 100, "parsed {parsed}, failed {failed}");
}
