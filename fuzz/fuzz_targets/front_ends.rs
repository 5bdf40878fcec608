//! Fuzzes both front ends, the lowering, the checker and its memory estimate, and past the checker the compiler:
//! any input must give diagnostics, never a panic, and a spec that checks clean must have a planned memory estimate
//! and compile, at batch 1 with every verifier on, its train step, evaluate and predict graphs to programs the JIT
//! runs (a fallback to the interpreter is a crash too). `tests/mutations.rs` does the same on seeded mutants in CI.
//!
//! Run by hand (not in CI), from `fuzz/`:
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run front_ends corpus seeds -- -max_total_time=300`.
//! `corpus/` (ignored by git) collects what libFuzzer finds; `seeds/` holds the examples, each file a form byte
//! (`D` for the DSL, `Y` for YAML: the byte's parity picks the form) followed by a spec. Data paths resolve
//! against `specs/`, so `source "data/..."` reaches the real example data.

#![no_main]

use std::path::PathBuf;

use galen::backend::{Backend, Executable};
use galen::compile::{self, Compiled, GraphKind, Settings, Until};
use galen::lowering::Model;
use galen::memory::Limit;
use galen::pipeline::check_spec_with;
use galen::spec::{Form, SpecFile};
use libfuzzer_sys::fuzz_target;

/// The memory limit the memory estimate is compared with: fixed, so that a crash reproduces on any machine.
const MEMORY_LIMIT: u64 = 16 << 30;

fuzz_target!(|bytes: &[u8]| {
    let Some((first, rest)) = bytes.split_first() else { return };
    let form = if first % 2 == 0 { Form::Dsl } else { Form::Yaml };
    let text = String::from_utf8_lossy(rest).into_owned();
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../specs/fuzzed.spec"));
    let outcome = check_spec_with(SpecFile { path, text: text.clone(), form }, Ok(Some(Limit::fixed(MEMORY_LIMIT))));
    galen::diagnostics::render(&outcome.diagnostics.items, "fuzzed", &text, true);
    let (Some(lowered), Some(checked)) = (&outcome.lowered, &outcome.checked) else { return };
    match &outcome.memory {
        Some(estimate) if estimate.planned => {}
        other => panic!("a spec that checks clean has no planned memory estimate: {other:?}"),
    }
    let model = Model::new(&lowered.spec, checked);
    for kind in [GraphKind::TrainStep, GraphKind::Evaluate, GraphKind::Predict] {
        match compile::compile(&model, kind, 1, Until::Runnable(Backend::Jit), Settings::verified()) {
            Compiled::Runnable(Executable::Jit(program), None) => {
                program.plan().peak_bytes();
            }
            Compiled::Runnable(_, warning) => {
                panic!("the {kind} graph of a spec that checks clean did not compile for the JIT: {warning:?}")
            }
            _ => unreachable!("compiling until runnable gives an executable"),
        }
    }
});
