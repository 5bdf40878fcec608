//! Helpers shared by the unit tests (test code only): the example specs every corpus test runs.

use std::path::PathBuf;

/// Every example spec in `specs/` in its DSL form (each has a YAML twin that means the same), found by listing the
/// folder, in name order, so that a new example is tested without naming it anywhere.
pub(crate) fn example_specs() -> Vec<PathBuf> {
    let mut specs: Vec<PathBuf> = std::fs::read_dir("specs")
        .expect("the specs folder")
        .map(|entry| entry.expect("a folder entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "galen"))
        .collect();
    specs.sort();
    assert!(specs.len() >= 8, "the examples: {specs:?}");
    specs
}
