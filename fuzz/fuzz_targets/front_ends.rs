//! Fuzzes both front ends, the lowering and the checker: any input must give diagnostics, never a panic.
//!
//! Run by hand (not in CI), from `fuzz/`:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run front_ends corpus seeds -- -max_total_time=300`.
//! `corpus/` (ignored by git) collects what libFuzzer finds; `seeds/` holds the examples, each file a form byte
//! (`D` for the DSL, `Y` for YAML: the byte's parity picks the form) followed by a spec. Data paths resolve
//! against `specs/`, so `source "data/..."` reaches the real example data.

#![no_main]

use std::path::PathBuf;

use galen::pipeline::check_spec;
use galen::spec::{Form, SpecFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Some((first, rest)) = bytes.split_first() else { return };
    let form = if first % 2 == 0 { Form::Dsl } else { Form::Yaml };
    let text = String::from_utf8_lossy(rest).into_owned();
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../specs/fuzzed.spec"));
    let outcome = check_spec(SpecFile { path, text: text.clone(), form });
    galen::diagnostics::render(&outcome.diagnostics.items, "fuzzed", &text, true);
});
