//! IR file tests: each `tests/ir/*.ir` file names a pass in its first line (`; pass: cse`), then holds a graph in
//! the text form. The test parses and verifies the graph, runs the pass, verifies the result and snapshots its
//! text, so a change to a pass shows as a readable diff of graphs.

use std::path::Path;

use galen::ir::text::parse;
use galen::ir::verify::{verify, Stage};
use galen::ir::Graph;
use galen::passes::{cse, dce, fold, optimize, simplify};

/// The pass a file's header names.
fn pass_of(path: &Path, text: &str) -> fn(Graph) -> Graph {
    let header = text.lines().next().unwrap_or("");
    let name = header.strip_prefix("; pass:").map(str::trim);
    match name {
        Some("dce") => dce::dce,
        Some("cse") => cse::cse,
        Some("fold") => fold::fold,
        Some("simplify") => simplify::simplify,
        Some("optimize") => |graph| optimize(graph, true),
        _ => panic!(
            "{}: the first line must be `; pass: NAME` (dce, cse, fold, simplify, optimize), found {header:?}",
            path.display()
        ),
    }
}

#[test]
fn ir_files() {
    insta::glob!("ir", "*.ir", |path| {
        let text = std::fs::read_to_string(path).expect("a readable file");
        let pass = pass_of(path, &text);
        let graph = parse(&text).unwrap_or_else(|error| panic!("{}:{error}", path.display()));
        verify(&graph, Stage::Step)
            .unwrap_or_else(|errors| panic!("{}: the input is broken:\n{errors}", path.display()));
        let result = pass(graph);
        verify(&result, Stage::Step)
            .unwrap_or_else(|errors| panic!("{}: the pass broke the graph:\n{errors}", path.display()));
        insta::assert_snapshot!(result.to_string());
    });
}
