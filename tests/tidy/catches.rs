//! Each rule of the tidy test, broken on purpose in a small source held in memory, is caught.

use super::*;
use crate::scanner::SourceFile;

/// A crate of the given files (path, text), each `lib.rs` module declared in `src/lib.rs` by the caller.
fn sources(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files.iter().map(|(path, text)| (path.to_string(), text.to_string())).collect()
}

#[test]
fn a_module_cycle_is_caught_and_named() {
    let files = sources(&[
        ("src/lib.rs", "//! lib\npub mod ir;\npub mod passes;\npub mod pipeline;\n"),
        ("src/ir/mod.rs", "//! ir\npub mod ops;\npub use ops::infer;\n"),
        ("src/ir/ops.rs", "//! ops\nuse crate::passes::autodiff::backprop;\npub fn infer() {}\n"),
        ("src/passes/mod.rs", "//! passes\npub mod autodiff;\n"),
        ("src/passes/autodiff.rs", "//! autodiff\nuse crate::ir::infer;\npub fn backprop() {}\n"),
        ("src/pipeline.rs", "//! pipeline\npub fn run() { crate::passes::autodiff::backprop(); }\n"),
    ]);
    let graph = ModuleGraph::of(&Crate::load(&files));
    let problems = graph.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("module cycle: ir::ops -> passes::autodiff -> ir::ops"), "{}", problems[0]);
    assert!(problems[0].contains("src/ir/ops.rs:2: `crate::passes::autodiff::backprop`"), "{}", problems[0]);
    // The re-export `ir::infer` is followed to `ir::ops`.
    assert!(graph.edges.contains_key(&("passes::autodiff".into(), "ir::ops".into())));
    assert!(graph.render().contains("  pipeline -> passes::autodiff"), "{}", graph.render());
}

#[test]
fn a_cycle_between_submodules_is_caught_and_test_code_is_not_an_edge() {
    let files = sources(&[
        ("src/lib.rs", "//! lib\npub mod lowering;\n"),
        ("src/lowering/mod.rs", "//! lowering\nmod layers;\nmod recurrent;\n#[cfg(test)]\nmod tests;\n"),
        ("src/lowering/layers.rs", "//! layers\nuse super::recurrent::lstm;\npub fn sigmoid() {}\n"),
        ("src/lowering/recurrent.rs", "//! recurrent\nuse super::layers::sigmoid;\npub fn lstm() {}\n"),
        ("src/lowering/tests.rs", "//! tests\nuse crate::lowering::layers::sigmoid;\n"),
    ]);
    let problems = ModuleGraph::of(&Crate::load(&files)).problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("module cycle: lowering::layers -> lowering::recurrent -> lowering::layers"));

    let files = sources(&[
        ("src/lib.rs", "//! lib\npub mod ir;\npub mod runtime;\n"),
        ("src/ir.rs", "//! ir\n#[cfg(test)]\nmod tests {\n    use crate::runtime::run;\n}\n"),
        ("src/runtime.rs", "//! runtime\nuse crate::ir;\npub fn run() {}\n"),
    ]);
    assert_eq!(ModuleGraph::of(&Crate::load(&files)).problems(), Vec::<String>::new());
}

#[test]
fn cranelift_outside_codegen_is_caught() {
    let files = sources(&[
        ("src/lib.rs", "//! lib\npub mod backend;\n"),
        ("src/backend/mod.rs", "//! backend\npub mod codegen;\npub mod plan;\n"),
        ("src/backend/codegen/mod.rs", "//! codegen\nuse cranelift_codegen::ir;\n"),
        ("src/backend/plan.rs", "//! plan\nfn f() { let _ = cranelift_jit::JITModule::new; }\n"),
    ]);
    let problems = cranelift_outside_codegen(&Crate::load(&files));
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("src/backend/plan.rs:2: `cranelift_jit::JITModule::new`"));
}

#[test]
fn io_in_check_is_caught_but_not_in_tests_comments_or_the_exception() {
    let files = sources(&[
        ("src/lib.rs", "//! lib\npub mod check;\npub mod spec;\n"),
        (
            "src/check/mod.rs",
            "//! check\nuse std::io::Read;\n// std::fs::read is fine in a comment\nfn f(p: &Path) {\n    \
             let _ = \"File\";\n    let _ = std::fs::read_to_string(p);\n    let _ = p.exists();\n    \
             println!(\"x\");\n}\nfn g() -> File { todo() }\n#[cfg(test)]\nmod tests {\n    \
             fn t() { std::fs::read(\"x\"); }\n}\n",
        ),
        (
            "src/spec/mod.rs",
            "//! spec\nimpl SpecFile {\n    pub fn read(path: &Path) { std::fs::read(path); }\n    \
             pub fn stem(&self) { std::env::var(\"HOME\"); }\n}\n",
        ),
    ]);
    let problems =
        io_in_pure_stages(&Crate::load(&files), &["src/check/", "src/spec/"], &[("src/spec/mod.rs", "read")]);
    let mut places: Vec<&str> = problems.iter().map(|problem| problem.split(": ").next().unwrap_or("")).collect();
    places.sort();
    // `std::io::Read`; `std::fs::read_to_string` as a path and as a name; `.exists()`; `println!`; `File`;
    // `std::env` outside the excepted function.
    let expected = ["src/check/mod.rs:10", "src/check/mod.rs:2", "src/check/mod.rs:6", "src/check/mod.rs:6"];
    assert_eq!(places[..4], expected, "{problems:#?}");
    assert_eq!(places[4..], ["src/check/mod.rs:7", "src/check/mod.rs:8", "src/spec/mod.rs:4"], "{problems:#?}");
    let missing = io_in_pure_stages(&Crate::load(&files), &["src/check/"], &[("src/check/mod.rs", "load")]);
    assert!(missing[0].contains("no `fn load`"), "{missing:?}");
}

#[test]
fn panics_outside_tests_are_caught() {
    let files = sources(&[
        ("src/lib.rs", "//! lib\npub mod data;\npub mod spec;\nmod cli;\n"),
        ("src/data/mod.rs", "//! data\nfn f(x: Option<u8>) -> u8 { x.unwrap() + x.expect(\"one\") }\n"),
        (
            "src/spec/mod.rs",
            "//! spec\nfn f(x: Option<u8>) -> u8 {\n    assert!(x.is_some());\n    x.unwrap_or(0)\n}\n\
             fn g() { unreachable!() }\n#[cfg(test)]\nmod tests {\n    fn t() { None::<u8>.unwrap(); panic!(); }\n}\n",
        ),
        ("src/cli.rs", "//! cli\nfn should_panic() {}\nfn main() { let text = \".unwrap()\"; panic!(\"no\") }\n"),
    ]);
    let krate = Crate::load(&files);
    let roots = ["src/data/", "src/spec/", "src/cli.rs"];
    let problems = panics(&krate, &roots);
    let places: Vec<&str> = problems.iter().map(|problem| problem.split(": ").next().unwrap_or("")).collect();
    assert_eq!(
        places,
        ["src/cli.rs:3", "src/data/mod.rs:2", "src/data/mod.rs:2", "src/spec/mod.rs:6"],
        "{problems:#?}"
    );
}

#[test]
fn printing_exit_codes_anyhow_and_seeding_outside_their_homes_are_caught() {
    let files = sources(&[
        ("src/lib.rs", "//! lib\npub mod cli;\npub mod rng;\npub mod synth;\n"),
        ("src/cli.rs", "//! cli\nfn main() -> ExitCode { println!(\"ok\"); ExitCode::SUCCESS }\n"),
        ("src/rng.rs", "//! rng\nuse rand::SeedableRng;\nfn s() { ChaCha20Rng::seed_from_u64(1); }\n"),
        (
            "src/synth.rs",
            "//! synth\nuse std::process::ExitCode;\nfn run() -> ExitCode {\n    \
             let _ = writeln!(std::io::stdout(), \"wrote\");\n    eprintln!(\"x\");\n    \
             let _: anyhow::Result<()> = Ok(());\n    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);\n    \
             let coin: bool = rand::random();\n    std::process::exit(1)\n}\n\
             #[cfg(test)]\nmod tests {\n    fn t() { println!(\"fine\"); rand::thread_rng(); }\n}\n",
        ),
    ]);
    let krate = Crate::load(&files);
    let lines = |problems: Vec<String>| -> Vec<String> {
        problems.iter().map(|problem| problem.split(": ").next().unwrap_or("").to_string()).collect()
    };
    assert_eq!(lines(std_streams(&krate, &["src/cli.rs"])), ["src/synth.rs:5", "src/synth.rs:4"]);
    assert_eq!(lines(exit_codes(&krate, &["src/cli.rs"])), ["src/synth.rs:9", "src/synth.rs:2", "src/synth.rs:3"]);
    assert_eq!(lines(anyhow(&krate)), ["src/synth.rs:6"]);
    assert_eq!(lines(seeds_outside_rng(&krate, "src/rng.rs")), ["src/synth.rs:7", "src/synth.rs:8"]);
}

#[test]
fn a_code_map_that_misses_repeats_or_misorders_a_module_is_caught() {
    let files = sources(&[
        ("src/lib.rs", "//! lib\npub mod check;\npub mod data;\npub mod spec;\n"),
        ("src/spec.rs", "//! spec\n"),
        ("src/data/mod.rs", "//! data\npub mod dataset;\npub mod schema;\n"),
        ("src/data/schema.rs", "//! schema\nuse crate::spec;\n"),
        ("src/data/dataset.rs", "//! dataset\nuse crate::check::Checked;\n"),
        ("src/check.rs", "//! check\nuse crate::data::schema::Schema;\nuse crate::spec;\n"),
    ]);
    let graph = ModuleGraph::of(&Crate::load(&files));
    let good = "# A\n\n## Code map\n\n- `spec` — text\n- `data` — rows\n- `check` — checks\n\n## Next\n- `x`\n";
    assert_eq!(code_map_problems(good, &graph, &[("data", "check")]), Vec::<String>::new());
    let stale = code_map_problems(good, &graph, &[("data", "check"), ("spec", "check")]);
    assert_eq!(stale, ["`spec` no longer uses `check`: remove the pair from CODE_MAP_UPWARD"]);
    // Without the allowance, `data::dataset` using `check` points up the map.
    let upward = code_map_problems(good, &graph, &[]);
    assert!(upward[0].starts_with("ARCHITECTURE.md's code map lists `data` before `check`"), "{upward:?}");
    let bad = "## Code map\n\n- `check` — checks\n- `spec` — text\n- `spec` — again\n- `serve` — soon\n";
    let problems = code_map_problems(bad, &graph, &[("data", "check")]);
    assert_eq!(
        problems,
        [
            "ARCHITECTURE.md's code map does not list `data`",
            "ARCHITECTURE.md's code map lists `spec` 2 times",
            "ARCHITECTURE.md's code map lists `serve`, which is no module of src/lib.rs",
            "ARCHITECTURE.md's code map lists `check` before `spec`, which it uses (src/check.rs:3: `crate::spec`)",
        ]
    );
}

#[test]
fn a_grammar_that_names_a_key_is_caught() {
    let generic = "statement = { name ~ arguments ~ block? }\nboolean = { \"true\" | \"false\" }\nescape = { \"\\\\\" ~ (\"n\" | \"t\") }\n";
    assert_eq!(grammar_words(generic), Vec::<String>::new());
    let keyed = format!("{generic}data = {{ \"data\" ~ \"{{\" ~ statement* ~ \"}}\" }}\nmodel = {{ \"model\" }}\n");
    assert_eq!(grammar_words(&keyed), ["data", "model"]);
}

#[test]
fn a_run_file_written_outside_the_atomic_writer_is_caught() {
    let files = sources(&[
        ("src/lib.rs", "//! lib\npub mod run;\n"),
        (
            "src/run/mod.rs",
            "//! run\npub mod report;\npub fn write_atomic(path: &Path, bytes: &[u8]) {\n    \
             let file = std::fs::File::create(path);\n}\n",
        ),
        (
            "src/run/report.rs",
            "//! report\nuse std::fs;\nfn save() {\n    fs::write(\"metrics.json\", \"{}\");\n    \
             let _ = std::fs::OpenOptions::new();\n    fs::create_dir_all(\"out\");\n}\n\
             #[cfg(test)]\nmod tests {\n    fn t() { std::fs::write(\"x\", \"\"); }\n}\n",
        ),
    ]);
    let krate = Crate::load(&files);
    let problems = file_writes_outside(&krate, "src/run/", ("src/run/mod.rs", "write_atomic"));
    let places: Vec<&str> = problems.iter().map(|problem| problem.split(": ").next().unwrap_or("")).collect();
    assert_eq!(places, ["src/run/report.rs:4", "src/run/report.rs:5"], "{problems:#?}");
    let missing = file_writes_outside(&krate, "src/run/", ("src/run/mod.rs", "save"));
    assert_eq!(missing[0], "src/run/mod.rs: no `fn save`: update RUN_WRITER");
}

#[test]
fn a_file_without_a_doc_line_is_caught() {
    let files =
        sources(&[("src/a.rs", "//! A.\nfn a() {}\n"), ("src/b.rs", "// b\nfn b() {}\n"), ("tests/c.rs", "/// c\n")]);
    assert_eq!(
        missing_headers(&files),
        [
            "src/b.rs:1: a source file starts with a `//!` line saying what it is for",
            "tests/c.rs:1: a source file starts with a `//!` line saying what it is for"
        ]
    );
}

#[test]
fn a_hard_coded_list_of_examples_is_caught() {
    let stems: BTreeSet<String> =
        "breast_cancer diabetes digits_cnn heart_rhythm_lstm".split(' ').map(String::from).collect();
    let files = sources(&[
        (
            "src/lowering/mod.rs",
            "//! l\nconst EXAMPLES: [&str; 3] = [\n    \"specs/breast_cancer.galen\",\n    \"specs/diabetes.galen\",\n    \
             \"specs/digits_cnn.yaml\",\n];\n",
        ),
        ("tests/a.rs", "//! a\nfn t() { for (name, batch) in [(\"diabetes\", 1), (\"digits_cnn\", 2), (\"heart_rhythm_lstm\", 3)] {} }\n"),
        ("tests/b.rs", "//! b\nfn t() { for spec in [\"specs/breast_cancer.galen\", \"specs/digits_cnn.galen\"] {} }\n"),
        ("tests/c.rs", "//! c\nfn t() { let data = [\"breast_cancer.csv\", \"diabetes.csv\", \"digits_cnn.csv\"]; }\n"),
    ]);
    let problems = hard_coded_examples(&files, &stems);
    let places: Vec<&str> = problems.iter().map(|problem| problem.split(": ").next().unwrap_or("")).collect();
    assert_eq!(places, ["src/lowering/mod.rs:2", "tests/a.rs:2"], "{problems:#?}");
}

#[test]
fn the_scanner_reads_use_trees_literals_and_test_items() {
    let text = "//! x\npub use self::a::{self as b, c::D as E, *};\nuse crate::{f::{g, h}, i};\n\
                const S: &str = r#\"crate::not::a::path \"quoted\"\"#;\nconst C: char = '\"';\n\
                fn f<'a>(x: &'a str) { crate::j::k(x); }\n#[cfg(test)]\nfn t() { crate::test::only(); }\n";
    let file = SourceFile::scan("src/x.rs", text, vec!["x".into()], false);
    let paths: Vec<(String, Option<String>, bool)> =
        file.paths.iter().map(|path| (path.to_string(), path.binds.clone(), file.in_test(path.at))).collect();
    let expected = [
        ("self::a", Some("b"), false),
        ("self::a::c::D", Some("E"), false),
        ("self::a::*", None, false),
        ("crate::f::g", Some("g"), false),
        ("crate::f::h", Some("h"), false),
        ("crate::i", Some("i"), false),
        ("crate::j::k", None, false),
        ("crate::test::only", None, true),
    ]
    .map(|(path, export, test)| (path.to_string(), export.map(String::from), test));
    assert_eq!(paths, expected);
}
