//! The architecture's invariants as a test that reads the source tree: the module graph has no cycle and
//! ARCHITECTURE.md's code map lists every module once in an order the code keeps, only `backend::codegen` uses
//! Cranelift, `spec`, `check`, `metrics` and `plots` do no I/O, `spec`, `data`, `check`, `run`, `cli`, `metrics` and
//! `plots` do not panic outside test code, only the command line prints and decides exit codes, only `rng` seeds a
//! random generator, run files are written atomically, the DSL grammar names no key, every file starts with a `//!`
//! line, and tests that run every example find them by listing `specs/`.
//!
//! `cargo test --test tidy -- --nocapture` prints the module graph. The scanner (`tidy/scanner.rs`) is small on
//! purpose: it blanks comments and literals, follows `mod` declarations from `src/lib.rs`, leaves out
//! `#[cfg(test)]` items and test modules, and reads `use` trees and `crate::`, `super::` and `self::` paths (imports
//! and re-exports followed). `tidy/catches.rs` feeds each rule a small broken source and shows that it is caught.

// The parts of this test, in `tests/tidy/` (a folder of its own, so cargo does not take them for test targets).
#[path = "tidy/catches.rs"]
mod catches;
#[path = "tidy/graph.rs"]
mod graph;
#[path = "tidy/scanner.rs"]
mod scanner;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;

use graph::ModuleGraph;
use scanner::{blank, line_of, matching, read_tree, under, Crate, StartsWithStr};

/// Top-level modules whose submodules are nodes of the module graph of their own; the others are one node each.
pub(crate) const EXPANDED: &[&str] = &["backend", "data", "ir", "lowering", "passes"];

/// The parts of the tree that never panic outside test code: no `.unwrap()`, `.expect(`, `panic!`,
/// `unreachable!`, `todo!` or `unimplemented!` (indexing and `assert!` stay allowed).
const NO_PANIC: &[&str] =
    &["src/spec/", "src/data/", "src/check/", "src/run/", "src/cli.rs", "src/metrics/", "src/plots/"];

/// The parts of the tree that do no I/O outside test code.
const NO_IO: &[&str] = &["src/spec/", "src/check/", "src/metrics/", "src/plots/"];

/// The one function of [`NO_IO`] that reads a file, as ARCHITECTURE.md says: `SpecFile::read`.
const IO_EXCEPTIONS: &[(&str, &str)] = &[("src/spec/mod.rs", "read")];

/// The only folder whose code may name a `cranelift_*` crate.
const CRANELIFT_HOME: &str = "src/backend/codegen/";

/// The files that may write to standard output or standard error: the command line, and the progress reporter of
/// `run::train` (the bar and the epoch lines on stderr).
const STD_STREAMS: &[&str] = &["src/cli.rs", "src/run/train.rs"];

/// The files that may decide the process's exit code.
const EXIT_CODES: &[&str] = &["src/cli.rs"];

/// The one file that seeds random generators: everything else draws from `rng::Streams`.
const RNG_HOME: &str = "src/rng.rs";

/// The edges that point up ARCHITECTURE.md's code map, as pairs of top-level modules: `data` is one module but two
/// stages (it reads the files before `check` and prepares the rows after it).
const CODE_MAP_UPWARD: &[(&str, &str)] = &[("data", "check")];

/// The one function that writes a file of a run directory: a temporary file, synced, then renamed.
const RUN_WRITER: (&str, &str) = ("src/run/mod.rs", "write_atomic");

/// A list literal naming this many examples or more is a hard-coded corpus; a test that runs every example lists
/// `specs/` instead, and one that picks an example for a reason names one or two.
const EXAMPLE_LIST_LIMIT: usize = 3;

// ---------------------------------------------------------------------------------------------------------------
// The checks on this tree.

#[test]
fn the_module_graph_has_no_cycle() {
    let krate = Crate::load(&read_tree(&["src"]));
    let graph = ModuleGraph::of(&krate);
    println!("{}", graph.render());
    let problems = graph.problems();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn only_codegen_uses_cranelift() {
    let krate = Crate::load(&read_tree(&["src"]));
    let problems = cranelift_outside_codegen(&krate);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn spec_check_metrics_and_plots_do_no_io() {
    let krate = Crate::load(&read_tree(&["src"]));
    let problems = io_in_pure_stages(&krate, NO_IO, IO_EXCEPTIONS);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_stages_that_report_errors_do_not_panic() {
    let krate = Crate::load(&read_tree(&["src"]));
    let problems = panics(&krate, NO_PANIC);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn only_the_command_line_prints_and_decides_exit_codes() {
    let krate = Crate::load(&read_tree(&["src"]));
    let mut problems = std_streams(&krate, STD_STREAMS);
    problems.extend(exit_codes(&krate, EXIT_CODES));
    problems.extend(anyhow(&krate));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn only_rng_seeds_a_generator() {
    let krate = Crate::load(&read_tree(&["src"]));
    let problems = seeds_outside_rng(&krate, RNG_HOME);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_code_map_lists_every_module_once_in_layer_order() {
    let krate = Crate::load(&read_tree(&["src"]));
    let text = std::fs::read_to_string("ARCHITECTURE.md").expect("ARCHITECTURE.md reads");
    let problems = code_map_problems(&text, &ModuleGraph::of(&krate), CODE_MAP_UPWARD);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_grammar_names_no_key() {
    let grammar = std::fs::read_to_string("grammar/galen.pest").expect("the DSL grammar reads");
    let words = grammar_words(&grammar);
    assert!(words.is_empty(), "grammar/galen.pest names {words:?}: keys belong to spec::ast and spec::lower");
}

#[test]
fn run_files_are_written_atomically() {
    let krate = Crate::load(&read_tree(&["src"]));
    let problems = file_writes_outside(&krate, "src/run/", RUN_WRITER);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_file_starts_with_a_doc_line() {
    let files = read_tree(&["src", "tests", "benches", "fuzz"]);
    let problems = missing_headers(&files);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn tests_of_every_example_list_specs() {
    let stems = example_stems(Path::new("specs"));
    assert!(stems.len() >= EXAMPLE_LIST_LIMIT, "specs/ holds the examples: {stems:?}");
    let problems = hard_coded_examples(&read_tree(&["src", "tests", "benches"]), &stems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_source_file_is_a_module() {
    let files = read_tree(&["src"]);
    let krate = Crate::load(&files);
    let reached: BTreeSet<&str> = krate.files.iter().map(|file| file.path.as_str()).collect();
    let orphans: Vec<&String> =
        files.keys().filter(|path| !reached.contains(path.as_str()) && path.as_str() != "src/main.rs").collect();
    assert!(orphans.is_empty(), "no `mod` declaration reaches {orphans:?}");
}

// ---------------------------------------------------------------------------------------------------------------
// The rules, as functions over sources held in memory.

/// Every `cranelift_*` path outside [`CRANELIFT_HOME`], test code included.
fn cranelift_outside_codegen(krate: &Crate) -> Vec<String> {
    let mut problems = Vec::new();
    for file in &krate.files {
        if file.path.starts_with(CRANELIFT_HOME) {
            continue;
        }
        for path in &file.paths {
            if path.segments.first().is_some_and(|first| first.starts_with("cranelift")) {
                problems.push(format!("{}: `{}`: only {CRANELIFT_HOME} uses Cranelift", file.place(path.at), path));
            }
        }
    }
    problems
}

/// The paths, names, macros and methods that touch files, streams, the environment or other processes.
const IO_PATHS: &[&[&str]] = &[&["std", "fs"], &["std", "io"], &["std", "env"], &["std", "net"], &["std", "process"]];
const IO_NAMES: &[&str] = &["File", "OpenOptions", "read_to_string", "read_dir", "stdin", "stdout", "stderr"];
const IO_MACROS: &[&str] = &["print!", "println!", "eprint!", "eprintln!", "dbg!"];
const IO_METHODS: &[&str] = &[".exists()", ".is_file()", ".is_dir()", ".metadata()", ".canonicalize()"];

/// Every use of I/O outside test code in the files under `roots`, except in the named functions.
fn io_in_pure_stages(krate: &Crate, roots: &[&str], exceptions: &[(&str, &str)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, function) in exceptions {
        let found = krate.file(path).and_then(|file| file.function(function));
        if found.is_none() {
            problems.push(format!("{path}: no `fn {function}`, the I/O exception: update IO_EXCEPTIONS"));
        }
    }
    for file in krate.files.iter().filter(|file| !file.test && under(&file.path, roots)) {
        let exempt: Vec<Range<usize>> = exceptions
            .iter()
            .filter(|(path, _)| *path == file.path)
            .filter_map(|(_, function)| file.function(function))
            .collect();
        let counts = |at: usize| !file.in_test(at) && !exempt.iter().any(|range| range.contains(&at));
        for path in &file.paths {
            if counts(path.at) && IO_PATHS.iter().any(|io| path.segments.starts_with_str(io)) {
                problems.push(format!("{}: `{path}`: this stage does no I/O", file.place(path.at)));
            }
        }
        for token in &file.tokens {
            if counts(token.at) && IO_NAMES.contains(&token.text.as_str()) {
                problems.push(format!("{}: `{}`: this stage does no I/O", file.place(token.at), token.text));
            }
        }
        for pattern in IO_MACROS.iter().chain(IO_METHODS) {
            for at in file.find(pattern) {
                if counts(at) {
                    problems.push(format!("{}: `{pattern}`: this stage does no I/O", file.place(at)));
                }
            }
        }
    }
    problems
}

/// What panics: a method that unwraps, or a macro that stops the program.
const PANICS: &[&str] = &[".unwrap()", ".expect(", "panic!", "unreachable!", "todo!", "unimplemented!"];

/// Every panic outside test code in the files under `roots`, in file order.
fn panics(krate: &Crate, roots: &[&str]) -> Vec<String> {
    let mut found: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for file in krate.files.iter().filter(|file| !file.test && under(&file.path, roots)) {
        for pattern in PANICS {
            for at in file.find(pattern) {
                if !file.in_test(at) {
                    found.entry(&file.path).or_default().push(format!("{}: `{pattern}`", file.place(at)));
                }
            }
        }
    }
    found
        .into_values()
        .flatten()
        .map(|place| format!("{place}: this stage does not panic (return an error, or use `if let`)"))
        .collect()
}

/// Every write to standard output or standard error outside test code and outside `allowed` files.
fn std_streams(krate: &Crate, allowed: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    for file in krate.files.iter().filter(|file| !file.test && !allowed.contains(&file.path.as_str())) {
        for at in IO_MACROS.iter().flat_map(|pattern| file.find(pattern)) {
            if !file.in_test(at) {
                problems
                    .push(format!("{}: printing: only the command line writes to stdout and stderr", file.place(at)));
            }
        }
        for token in file.tokens.iter().filter(|token| matches!(token.text.as_str(), "stdout" | "stderr")) {
            if !file.in_test(token.at) {
                problems.push(format!(
                    "{}: `{}`: only the command line writes to stdout and stderr",
                    file.place(token.at),
                    token.text
                ));
            }
        }
    }
    problems
}

/// Every `ExitCode` or `process::exit` outside test code and outside `allowed` files.
fn exit_codes(krate: &Crate, allowed: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    for file in krate.files.iter().filter(|file| !file.test && !allowed.contains(&file.path.as_str())) {
        let exits = file.paths.iter().filter(|path| path.segments.windows(2).any(|pair| pair == ["process", "exit"]));
        let places = exits
            .map(|path| path.at)
            .chain(file.tokens.iter().filter(|token| token.text == "ExitCode").map(|token| token.at));
        for at in places {
            if !file.in_test(at) {
                problems.push(format!("{}: an exit code: only the command line decides exit codes", file.place(at)));
            }
        }
    }
    problems
}

/// Every mention of `anyhow`: errors are data (`Diagnostic`), and the binary's edge is `cli`, which needs none.
fn anyhow(krate: &Crate) -> Vec<String> {
    let mut problems = Vec::new();
    for file in &krate.files {
        for token in file.tokens.iter().filter(|token| token.text == "anyhow") {
            problems.push(format!("{}: `anyhow`: errors are `Diagnostic`s", file.place(token.at)));
        }
    }
    problems
}

/// The names that make a generator from a seed, the clock or the system.
const SEEDING: &[&str] = &[
    "SeedableRng",
    "seed_from_u64",
    "from_seed",
    "from_rng",
    "from_os_rng",
    "from_entropy",
    "thread_rng",
    "ThreadRng",
    "OsRng",
    "StdRng",
    "SmallRng",
];

/// Every generator seeded outside test code and outside `home`, and every `rand::random`.
fn seeds_outside_rng(krate: &Crate, home: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for file in krate.files.iter().filter(|file| !file.test && file.path != home) {
        let seeding = file.tokens.iter().filter(|token| SEEDING.contains(&token.text.as_str()));
        let random = file.paths.iter().filter(|path| path.segments.starts_with_str(&["rand", "random"]));
        let places =
            seeding.map(|token| (token.at, token.text.clone())).chain(random.map(|path| (path.at, path.to_string())));
        for (at, what) in places {
            if !file.in_test(at) {
                problems.push(format!("{}: `{what}`: all randomness comes from `rng::Streams`", file.place(at)));
            }
        }
    }
    problems
}

/// What is wrong with the code map of ARCHITECTURE.md (the `- \`module\`` lines of its "Code map" section): a
/// top-level module missing or listed twice, a listed module that does not exist, a module listed before one it
/// uses (less the `upward` pairs), and an `upward` pair that no longer points up.
fn code_map_problems(architecture: &str, graph: &ModuleGraph, upward: &[(&str, &str)]) -> Vec<String> {
    let text = format!("\n{architecture}");
    let section = text.split("\n## ").find(|section| section.starts_with("Code map")).unwrap_or("");
    let listed: Vec<&str> =
        section.lines().filter_map(|line| line.strip_prefix("- `")).filter_map(|rest| rest.split('`').next()).collect();
    let modules: BTreeSet<&str> = graph.nodes.iter().map(|node| top(node)).collect();
    let mut problems = Vec::new();
    for module in &modules {
        match listed.iter().filter(|name| *name == module).count() {
            0 => problems.push(format!("ARCHITECTURE.md's code map does not list `{module}`")),
            1 => {}
            times => problems.push(format!("ARCHITECTURE.md's code map lists `{module}` {times} times")),
        }
    }
    for name in listed.iter().filter(|name| !modules.contains(*name)) {
        problems.push(format!("ARCHITECTURE.md's code map lists `{name}`, which is no module of src/lib.rs"));
    }
    for &(from, to) in upward {
        if !graph.edges.keys().any(|(user, used)| top(user) == from && top(used) == to) {
            problems.push(format!("`{from}` no longer uses `{to}`: remove the pair from CODE_MAP_UPWARD"));
        }
    }
    let position = |module: &str| listed.iter().position(|name| *name == module);
    for ((from, to), place) in &graph.edges {
        let (from_top, to_top) = (top(from), top(to));
        if from_top == to_top || upward.contains(&(from_top, to_top)) {
            continue;
        }
        if let (Some(user), Some(used)) = (position(from_top), position(to_top)) {
            if used > user {
                problems.push(format!(
                    "ARCHITECTURE.md's code map lists `{from_top}` before `{to_top}`, which it uses ({place})"
                ));
            }
        }
    }
    problems
}

/// The top-level module of a graph node.
fn top(node: &str) -> &str {
    node.split("::").next().unwrap_or(node)
}

/// The words a pest grammar quotes (two letters or more), less `true` and `false`: a generic grammar quotes only
/// punctuation, escapes and those two.
fn grammar_words(grammar: &str) -> Vec<String> {
    grammar
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|literal| literal.len() >= 2 && literal.bytes().all(|byte| byte.is_ascii_alphabetic() || byte == b'_'))
        .filter(|literal| !matches!(*literal, "true" | "false"))
        .map(str::to_string)
        .collect()
}

/// The calls that write a file's bytes.
const FILE_WRITES: &[&[&str]] = &[&["fs", "write"], &["File", "create"], &["File", "options"], &["fs", "copy"]];

/// Every file write outside test code under `root`, except in the named writer function.
fn file_writes_outside(krate: &Crate, root: &str, (writer_file, writer): (&str, &str)) -> Vec<String> {
    let mut problems = Vec::new();
    if krate.file(writer_file).and_then(|file| file.function(writer)).is_none() {
        problems.push(format!("{writer_file}: no `fn {writer}`: update RUN_WRITER"));
    }
    for file in krate.files.iter().filter(|file| !file.test && file.path.starts_with(root)) {
        let exempt = if file.path == writer_file { file.function(writer) } else { None };
        let writes = file
            .paths
            .iter()
            .filter(|path| FILE_WRITES.iter().any(|call| path.segments.windows(2).any(|pair| pair == *call)))
            .map(|path| (path.at, path.to_string()));
        let options =
            file.tokens.iter().filter(|token| token.text == "OpenOptions").map(|token| (token.at, token.text.clone()));
        for (at, what) in writes.chain(options) {
            if !file.in_test(at) && !exempt.as_ref().is_some_and(|range| range.contains(&at)) {
                problems.push(format!("{}: `{what}`: run files are written through `{writer}`", file.place(at)));
            }
        }
    }
    problems
}

/// Every file of `files` whose first line is not a `//!` line.
fn missing_headers(files: &BTreeMap<String, String>) -> Vec<String> {
    files
        .iter()
        .filter(|(_, text)| !text.trim_start_matches('\u{feff}').starts_with("//!"))
        .map(|(path, _)| format!("{path}:1: a source file starts with a `//!` line saying what it is for"))
        .collect()
}

/// The examples' names: the stems of the `.galen` and `.yaml` files in `specs/`.
fn example_stems(dir: &Path) -> BTreeSet<String> {
    let entries = std::fs::read_dir(dir).expect("specs/ exists");
    entries
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "galen" || extension == "yaml"))
        .filter_map(|path| path.file_stem().map(|stem| stem.to_string_lossy().into_owned()))
        .collect()
}

/// Every list literal (`[...]`) in `files` naming [`EXAMPLE_LIST_LIMIT`] examples or more, by stem or as a spec
/// path (`"diabetes"`, `"specs/diabetes.galen"`).
fn hard_coded_examples(files: &BTreeMap<String, String>, stems: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, text) in files {
        let blanked = blank(text);
        let code = blanked.code.as_bytes();
        for (open, _) in blanked.code.match_indices('[') {
            let close = matching(code, open, b'[', b']');
            let named: BTreeSet<&str> = blanked
                .strings
                .iter()
                .filter(|(at, _)| (open..close).contains(at))
                .filter_map(|(_, literal)| example_named(literal, stems))
                .collect();
            if named.len() >= EXAMPLE_LIST_LIMIT {
                let place = format!("{path}:{}", line_of(text, open));
                problems.push(format!(
                    "{place}: a hard-coded list of examples {named:?}: list `specs/` so that a new example is run too"
                ));
            }
        }
    }
    problems
}

/// The example a string literal names, if it is one's stem or spec path.
fn example_named<'a>(literal: &str, stems: &'a BTreeSet<String>) -> Option<&'a str> {
    let name = literal.rsplit('/').next().unwrap_or(literal);
    let stem = [".galen", ".yaml", ".yml"].iter().find_map(|extension| name.strip_suffix(extension));
    let stem = match stem {
        Some(stem) => stem,
        None if !name.contains('.') => name,
        None => return None,
    };
    stems.get(stem).map(String::as_str)
}
