//! Fuzzes the IR's text form, the verifier and the passes: any text must parse or give a `ParseError`, never a
//! panic; a parsed graph prints as text that parses back to the same text; and a graph that verifies goes through
//! `optimize` with the verifier on after every pass.
//!
//! Run by hand (not in CI), from `fuzz/`:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run ir_text corpus/ir_text ../tests/ir -- -max_total_time=300`.
//! `corpus/` (ignored by git) collects what libFuzzer finds; the IR file tests are the seeds.

#![no_main]

use galen::ir::text::parse;
use galen::ir::verify::{verify, Stage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    let Ok(graph) = parse(&text) else { return };
    let printed = graph.to_string();
    let reparsed = parse(&printed).unwrap_or_else(|error| panic!("a printed graph does not parse: {error}\n{printed}"));
    assert_eq!(reparsed.to_string(), printed, "printing is not stable");
    if verify(&graph, Stage::Step).is_ok() {
        galen::passes::optimize(graph, true);
    }
});
