//! Tests of the text form: random graphs round-trip, awkward values round-trip exactly, every kind of mistake is
//! an error at the right line and column, and no input makes the parser panic.

use std::collections::BTreeSet;

use super::{parse, print_with_notes, Line, ParseError, Place};
use crate::ir::random::{op_names, random_graph};
use crate::ir::{Builder, DType, NodeId, Op, Role, TensorType};

/// How many random graphs the round-trip tests print and parse.
const GRAPHS: u64 = 300;

fn parse_ok(text: &str) -> crate::ir::Graph {
    parse(text).unwrap_or_else(|error| panic!("{error}\nin:\n{text}"))
}

fn parse_error(text: &str) -> ParseError {
    match parse(text) {
        Ok(graph) => panic!("expected an error, parsed:\n{graph}"),
        Err(error) => error,
    }
}

/// Checks an error's message and position.
fn assert_error(text: &str, message: &str, line: usize, column: usize) {
    let error = parse_error(text);
    assert!(error.message.contains(message), "{text}\nexpected {message:?} in: {error}");
    assert_eq!((error.line, error.column), (line, column), "{text}\n{error}");
}

#[test]
fn random_graphs_round_trip() {
    let mut covered = BTreeSet::new();
    for seed in 0..GRAPHS {
        let graph = random_graph(seed);
        op_names(&graph, &mut covered);
        let text = graph.to_string();
        let parsed = parse_ok(&text);
        assert_eq!(parsed, graph, "seed {seed}:\n{text}");
        assert_eq!(parsed.to_string(), text, "seed {seed}");
    }
    // Every op of the IR appears in some graph, so the round trip covers every op's syntax.
    let mut every_op = super::parse::every_op_name();
    every_op.retain(|name| !covered.contains(name));
    assert!(every_op.is_empty(), "no random graph has {every_op:?}");
}

#[test]
fn awkward_numbers_round_trip_exactly() {
    let values = [
        0.0,
        -0.0,
        0.1,
        1e-7,
        1e16,
        1e300,
        f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        -2.5,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    for value in values {
        let mut builder = Builder::new("numbers");
        let x = builder.input("x", Role::Batch, TensorType::new(DType::F64, [2]));
        let constant = builder.constant(value, DType::F64, [2]);
        let padded = builder.pad(x, vec![1], vec![0], vec![0], value);
        builder.output("c", constant);
        builder.output("p", padded);
        let graph = builder.finish();
        let parsed = parse_ok(&graph.to_string());
        for (node, expected) in [(1, value), (2, value)] {
            let written = match &parsed.nodes[node].op {
                Op::Constant { value } | Op::Pad { value, .. } => *value,
                other => panic!("unexpected {other:?}"),
            };
            assert_eq!(written.to_bits(), expected.to_bits(), "{value:?} printed as {graph}");
        }
    }
    let nan = parse_ok("graph g {\n  %0 = constant nan : f32[]\n  %1 = constant -nan : f32[]\n}\n");
    assert!(nan.nodes.iter().all(|node| matches!(node.op, Op::Constant { value } if value.is_nan())));
    assert_eq!(nan.to_string(), "graph g {\n  %0 = constant nan : f32[]\n  %1 = constant nan : f32[]\n}\n");
}

#[test]
fn whole_values_of_integer_types_print_without_a_fraction() {
    let text = "graph g {\n  %0 = constant 3 : i32[]\n  %1 = constant -0 : i32[]\n  %2 = constant 1 : bool[2]\n  \
                %3 = constant 0.5 : i32[]\n  %4 = constant 3.0 : f32[]\n  %5 = pad %2 low=[1] high=[0] interior=[0] \
                value=0 : bool[3]\n}\n";
    let graph = parse_ok(text);
    assert_eq!(graph.to_string(), text);
    assert!(matches!(graph.nodes[1].op, Op::Constant { value } if value.to_bits() == (-0.0f64).to_bits()));
}

#[test]
fn names_are_quoted_with_escapes() {
    let mut builder = Builder::new("has space");
    let x = builder.input("a \"b\" \\ \n \t \r \u{7} é", Role::Param, TensorType::new(DType::F32, []));
    builder.output("", x);
    let graph = builder.finish();
    let text = graph.to_string();
    assert_eq!(
        text,
        "graph \"has space\" {\n  %0 = input \"a \\\"b\\\" \\\\ \\n \\t \\r \\u{7} é\" param : f32[]\n  output \"\" = %0\n}\n"
    );
    assert_eq!(parse_ok(&text), graph);
    let escaped = parse_ok("graph \"\\u{41}\\u{10FFFF}\" {\n}\n");
    assert_eq!(escaped.name, "A\u{10FFFF}");
    assert_error("graph \"\\u{D800}\" {\n}\n", "not a character", 1, 7);
}

#[test]
fn comments_and_layout_are_free() {
    let text = "; pass: cse\ngraph g { ; the header\n%0 = input \"x\" batch : f32[2]   %1 = neg %0 : f32[2]\n\
                output \"y\" = %1 } ; the end\n";
    let graph = parse_ok(text);
    assert_eq!(graph.nodes.len(), 2);
    assert_eq!(
        graph.to_string(),
        "graph g {\n  %0 = input \"x\" batch : f32[2]\n  %1 = neg %0 : f32[2]\n  output \"y\" = %1\n}\n"
    );
}

#[test]
fn notes_go_under_their_lines() {
    let text = "graph g {\n  %0 = input \"x\" batch : f32[3]\n  %1 = scan %0 steps=3 carries=0 sequences=1 \
                reverse=false : (f32[3]) graph cell {\n    %0 = input \"x\" batch : f32[]\n    %1 = neg %0 : f32[]\n    \
                output \"y\" = %1\n  }\n  %2 = get %1 index=0 : f32[3]\n  output \"y\" = %2\n}\n";
    let graph = parse_ok(text);
    let notes = vec![
        (Line { scope: vec![NodeId(1)], place: Place::Node(NodeId(1)) }, "in the body".to_string()),
        (Line::top(Place::Node(NodeId(1))), "on the scan".to_string()),
        (Line::top(Place::Output(0)), "on the output".to_string()),
        (Line { scope: vec![NodeId(1)], place: Place::Header }, "on the body".to_string()),
        (Line::top(Place::Node(NodeId(9))), "nowhere".to_string()),
        (Line::top(Place::Node(NodeId(0))), "two\rlines".to_string()),
    ];
    let printed = print_with_notes(&graph, &notes);
    let expected = "graph g {\n  ; nowhere\n  %0 = input \"x\" batch : f32[3]\n  ; two\n  ; lines\n  %1 = scan %0 steps=3 carries=0 \
                    sequences=1 reverse=false : (f32[3]) graph cell {\n    ; on the body\n    %0 = input \"x\" batch : \
                    f32[]\n    %1 = neg %0 : f32[]\n    ; in the body\n    output \"y\" = %1\n  }\n  ; on the scan\n  \
                    %2 = get %1 index=0 : f32[3]\n  output \"y\" = %2\n  ; on the output\n}\n";
    assert_eq!(printed, expected);
    // Notes are comments, so a printed graph with notes parses back to the same graph.
    assert_eq!(parse_ok(&printed), graph);
}

#[test]
fn mistakes_are_errors_at_their_position() {
    let input = "graph g {\n  %0 = input \"x\" batch : f32[2, 3]\n";
    let cases: Vec<(String, &str, usize, usize)> = vec![
        (format!("{input}  %1 = matmull %0, %0 : f32[2, 3]\n}}"), "unknown op `matmull`; did you mean `matmul`?", 3, 8),
        (format!("{input}  %1 = frobnicate %0 : f32[2, 3]\n}}"), "unknown op `frobnicate`; expected one of", 3, 8),
        (format!("{input}  %2 = neg %0 : f32[2, 3]\n}}"), "expected %1, found %2", 3, 3),
        (format!("{input}  %1 = neg %1 : f32[2, 3]\n}}"), "%1 reads %1, which is not defined before it", 3, 12),
        (format!("{input}  %1 = add %0, %5 : f32[2, 3]\n}}"), "%1 reads %5, which is not defined before it", 3, 16),
        (format!("{input}  %1 = reduce_sum %0 axes=[1] : f32[3]\n}}"), "%1 is written as f32[3] but `reduce_sum` gives f32[2]", 3, 33),
        (format!("{input}  %1 = matmul %0, %0 : f32[2, 2]\n}}"), "%1 (`matmul`): inner sizes differ", 3, 8),
        (format!("{input}  %1 = add %0 : f32[2, 3]\n}}"), "%1 (`add`): takes 2 inputs, found 1", 3, 8),
        (format!("{input}  %1 = neg %0 : f16[2, 3]\n}}"), "unknown dtype `f16`", 3, 17),
        (format!("{input}  %1 = reduce_sum %0 axis=[1] : f32[3]\n}}"), "`reduce_sum` has no attribute `axis`; did you mean `axes`?", 3, 22),
        (format!("{input}  %1 = neg %0 axis=1 : f32[2, 3]\n}}"), "`neg` has no attribute `axis`; it takes none", 3, 15),
        (format!("{input}  %1 = reduce_sum %0 : f32[]\n}}"), "`reduce_sum` needs `axes=...`", 3, 8),
        (format!("{input}  %1 = argmax %0 axis=1 axis=0 : i32[2]\n}}"), "`axis` is written twice", 3, 25),
        (format!("{input}  %1 = argmax %0 axis=1.5 : i32[2]\n}}"), "expected a whole number, found `1.5`", 3, 23),
        (format!("{input}  %1 = argmax %0 axis=-1 : i32[2]\n}}"), "expected a whole number, found `-1`", 3, 23),
        (format!("{input}  %1 = permute %0 perm=1 : f32[3, 2]\n}}"), "`perm` is a list like `[0, 1]`, found `1`", 3, 24),
        (format!("{input}  %1 = neg %0 \"x\" : f32[2, 3]\n}}"), "`neg` takes no value `\"x\"` here", 3, 15),
        (format!("{input}  %1 = input batch : f32[]\n}}"), "expected the input's name in quotes, found `batch`", 3, 14),
        (format!("{input}  %1 = input \"y\" hyperparameter : f32[]\n}}"), "unknown role `hyperparameter`", 3, 18),
        (format!("{input}  %1 = constant : f32[]\n}}"), "`constant` needs its value", 3, 8),
        (format!("{input}  output \"y\" = %4\n}}"), "output \"y\" reads %4, but the graph has 1 nodes", 3, 16),
        (format!("{input}  %1 = neg %0 : f32[2, 3] graph b {{\n  }}\n}}"), "`neg` has no body; only a scan does", 3, 27),
        (format!("{input}  %1 = scan %0 steps=2 carries=0 sequences=1 reverse=false : ()\n}}"), "a scan needs its body", 3, 8),
        (format!("{input}  %1 = scan %0 steps=2 carries=0 sequences=1 reverse=no : () graph b {{\n    %0 = input \"x\" batch : f32[3]\n  }}\n}}"), "`reverse` is `true` or `false`, found `no`", 3, 54),
        (format!("{input}  %1 = reshape %0 : f32[4294967296]\n}}"), "4294967296 is too large", 3, 25),
        (format!("{input}  %1 = reshape %0 : f32[2147483647, 2147483647, 2147483647]\n}}"), "is too large; an axis holds", 3, 21),
        (format!("{input}  %99999999999 = neg %0 : f32[2, 3]\n}}"), "the id %99999999999 is too large", 3, 3),
        (format!("{input}  %1 = neg %0 f32[2, 3]\n}}"), "an attribute (`name=value`), `:` or `,`, found `f32[2,`", 3, 15),
        (format!("{input}  %1 = neg %0 : f32[2, 3\n}}"), "expected `,` or `]`, found `}`", 4, 1),
        (format!("{input}  output \"y\" = %0\n  %1 = neg %0 : f32[2, 3]\n}}"), "expected an output (`output \"name\" = %0`) or `}`", 4, 3),
        (input.to_string(), "found the end of the text", 3, 1),
        ("graph g {\n  %0 = input \"x\\q\" batch : f32[]\n}".to_string(), "`\\q` is not an escape", 2, 16),
        ("grph g {\n}".to_string(), "expected `graph`, found `grph`", 1, 1),
        ("graph g {\n}\ngraph h {\n}\n".to_string(), "expected the end of the text", 3, 1),
    ];
    let mut wrong = Vec::new();
    for (text, message, line, column) in cases {
        match parse(&text) {
            Err(error) if error.message.contains(message) && (error.line, error.column) == (line, column) => {}
            other => wrong.push(format!("{text}\nexpected {line}:{column}: {message}\ngot {other:?}\n")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_tuple_is_read_through_get() {
    let scan = "graph g {\n  %0 = input \"x\" batch : f32[3]\n  %1 = scan %0 steps=3 carries=0 sequences=1 \
                reverse=false : (f32[3]) graph cell {\n    %0 = input \"x\" batch : f32[]\n    output \"y\" = %0\n  }\n";
    assert_error(&format!("{scan}  output \"y\" = %1\n}}"), "reads %1, a tuple", 7, 16);
    assert_error(&format!("{scan}  %2 = neg %1 : f32[3]\n}}"), "input 0 is a tuple", 7, 8);
    assert_error(&format!("{scan}  %2 = get %1 index=1 : f32[3]\n}}"), "part 1 of a tuple of 1", 7, 8);
    // A body's output must be a tensor too: the scan's type rule reads each output's tensor type.
    let nested = "graph g {\n  %0 = input \"x\" batch : f32[3]\n  %1 = scan %0 steps=3 carries=0 sequences=1 \
                  reverse=false : (f32[3]) graph cell {\n    %0 = input \"x\" batch : f32[]\n    %1 = scan steps=1 \
                  carries=0 sequences=0 reverse=false : () graph inner {\n    }\n    output \"y\" = %1\n  }\n}\n";
    assert_error(nested, "reads %1, a tuple", 7, 18);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let depth = 40;
    let mut text = String::new();
    for _ in 0..depth {
        text.push_str("graph g {\n%0 = scan steps=1 carries=0 sequences=0 reverse=false : () ");
    }
    text.push_str("graph g {\n}\n");
    text.push_str(&"}\n".repeat(depth));
    assert_error(&text, "nested more than 32 deep", 33, 68);
    let braces_in_strings = format!("graph \"{}\" {{ ; {}\n}}\n", "{".repeat(100), "{".repeat(100));
    assert_eq!(parse_ok(&braces_in_strings).name, "{".repeat(100));
}

#[test]
fn mutated_texts_never_panic() {
    let pieces = [
        "%",
        "%0",
        "%9",
        "=",
        ",",
        ":",
        "[",
        "]",
        "(",
        ")",
        "{",
        "}",
        "\"",
        "\\",
        "\n",
        " ",
        "f32",
        "nan",
        "-",
        "9999999999",
        "graph",
        "scan",
        "é",
        "\u{0}",
    ];
    let mut rng = crate::rng::TestRng::new(7);
    let (mut parsed, mut failed) = (0, 0);
    for seed in 0..200 {
        let mut text: Vec<char> = random_graph(seed).to_string().chars().collect();
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(text.len() + 1);
            match rng.below(3) {
                0 if at < text.len() => {
                    text.remove(at);
                }
                _ => {
                    let piece = pieces[rng.below(pieces.len())];
                    for (offset, c) in piece.chars().enumerate() {
                        text.insert(at + offset, c);
                    }
                }
            }
        }
        let text: String = text.into_iter().collect();
        match parse(&text) {
            Ok(graph) => {
                parsed += 1;
                // Compared as text: a mutation may have written a NaN, which equals nothing.
                assert_eq!(parse_ok(&graph.to_string()).to_string(), graph.to_string());
            }
            Err(error) => {
                failed += 1;
                assert!(error.line >= 1 && error.column >= 1 && !error.message.is_empty(), "{error:?}");
            }
        }
    }
    assert!(parsed > 0 && failed > 0, "parsed {parsed}, failed {failed}");
}
