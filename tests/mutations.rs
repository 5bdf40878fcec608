//! Feeds a few thousand seeded mutations of two specs (one per form) to both front ends, the lowering, the data
//! schema and the checker, and renders every diagnostic: nothing may panic. The mutations delete, duplicate and
//! swap bytes and lines and insert tokens that the grammars care about, so they reach deep into both parsers.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

use galen::diagnostics::render;
use galen::pipeline::check_spec;
use galen::spec::{Form, SpecFile};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    "=",
    ",",
    "-",
    "- ",
    "\n",
    "  ",
    "\"",
    "'",
    "#",
    "&a ",
    "*a",
    "!!str ",
    "<<: ",
    "0",
    "-1",
    "1e999",
    "0.5",
    "nan",
    "true",
    "é",
    "\u{1F600}",
    "\t",
    "\r\n",
    "dense",
    "flatten",
    "units",
    "softmax",
    "sigmoid",
    "split",
    "k_fold=3",
    "column=sex",
    "shape [2, 2]",
    "conv2d 4 3",
    "lstm 4",
    "target",
    "source",
    "images=\"x\"",
    "test_file=\"nope.csv\"",
    "constant",
    "---\n",
    "null",
    "~",
    "|",
    ">",
    "%",
    "@",
    "`",
    "\\",
    "\u{0}",
];

fn mutate(text: &str, rng: &mut ChaCha8Rng) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let at = rng.gen_range(0..=bytes.len());
        match rng.gen_range(0..6) {
            0 => {
                let end = (at + rng.gen_range(1..12)).min(bytes.len());
                bytes.drain(at..end);
            }
            1 => {
                let token = TOKENS[rng.gen_range(0..TOKENS.len())];
                bytes.splice(at..at, token.bytes());
            }
            2 => {
                if at < bytes.len() {
                    bytes[at] = rng.gen();
                }
            }
            3 => {
                let end = (at + rng.gen_range(1..40)).min(bytes.len());
                let copy: Vec<u8> = bytes[at..end].to_vec();
                let to = rng.gen_range(0..=bytes.len());
                bytes.splice(to..to, copy);
            }
            4 => {
                let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
                if lines.len() > 2 {
                    let a = rng.gen_range(0..lines.len());
                    let b = rng.gen_range(0..lines.len());
                    lines.swap(a, b);
                }
                bytes = lines.join(&b'\n');
            }
            _ => {
                let digits = rng.gen_range(0..1000).to_string();
                bytes.splice(at..at, digits.bytes());
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn mutated_specs_never_panic() {
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let bases = [("tests/fuzz/base.galen", Form::Dsl), ("tests/fuzz/base.yaml", Form::Yaml)];
    let mut with_errors = 0;
    let mut total = 0;
    for (path, form) in bases {
        let original = std::fs::read_to_string(path).expect("the base spec exists");
        for _ in 0..2500 {
            let text = mutate(&original, &mut rng);
            let file = SpecFile { path: PathBuf::from(path), text: text.clone(), form };
            let result = catch_unwind(AssertUnwindSafe(|| {
                let outcome = check_spec(file);
                render(&outcome.diagnostics.items, path, &text, true);
                render(&outcome.diagnostics.items, path, &text, false);
                outcome.diagnostics.has_errors()
            }));
            match result {
                Ok(has_errors) => with_errors += usize::from(has_errors),
                Err(_) => panic!("a mutated {path} made galen panic; the input was:\n{text}"),
            }
            total += 1;
        }
    }
    // The mutations must mostly break the spec, or this test would not be exercising the error paths.
    assert!(with_errors > total / 2, "only {with_errors} of {total} mutants had errors");
}
