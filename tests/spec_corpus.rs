//! Data-driven corpus tests: every example in `specs/` checks clean (its summary is snapshotted), every wrong spec
//! under `tests/errors/` produces at least one error (its rendered diagnostics are snapshotted), and the two forms
//! of every example mean the same thing.

use std::path::{Path, PathBuf};

use galen::diagnostics::render;
use galen::memory::Limit;
use galen::pipeline::{check_file_with, CheckOutcome};
use galen::spec::{convert, Form, SpecFile};

/// The memory limit the corpus is checked against, so that no figure of the machine reaches a snapshot: 16 GiB,
/// the least a machine that trains models has.
const MEMORY_LIMIT: u64 = 16 << 30;

/// Checks a spec file against [`MEMORY_LIMIT`].
fn check_file(path: &Path) -> CheckOutcome {
    check_file_with(path, Ok(Some(Limit::fixed(MEMORY_LIMIT))))
}

/// The path relative to the crate root, so that snapshots do not depend on where the checkout lives.
fn relative(path: &Path) -> PathBuf {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(path).to_path_buf()
}

/// Checks a spec and renders its diagnostics as plain text.
fn check_rendered(path: &Path) -> (CheckOutcome, String) {
    let outcome = check_file(path);
    let text = outcome.file.as_ref().map_or("", |file| file.text.as_str());
    let rendered = render(&outcome.diagnostics.items, &path.display().to_string(), text, true);
    (outcome, rendered)
}

#[test]
fn examples_check_clean() {
    insta::glob!("../specs", "*.{galen,yaml}", |path| {
        let path = relative(path);
        let (outcome, rendered) = check_rendered(&path);
        assert!(!outcome.diagnostics.has_errors(), "{} has errors:\n{rendered}", path.display());
        let lowered = outcome.lowered.as_ref().expect("the example parses");
        let checked = outcome.checked.as_ref().expect("the example checks");
        let data_path = outcome.data_path.as_ref().map_or(String::new(), |p| p.display().to_string());
        let memory = outcome.memory.as_ref().map(|estimate| estimate.lines());
        let summary =
            galen::check::summary(&lowered.spec, checked, &data_path, outcome.split.as_ref(), memory.as_deref());
        insta::assert_snapshot!(format!("{rendered}{summary}"));
    });
}

/// The parsed spec of every example (the YAML twins parse to the same AST, tested below).
#[test]
fn examples_compile_to_an_ast() {
    insta::glob!("../specs", "*.galen", |path| {
        let outcome = check_file(&relative(path));
        let lowered = outcome.lowered.as_ref().expect("the example parses");
        insta::assert_snapshot!(format!("{:#?}", lowered.spec));
    });
}

/// The optimized forward, train-step and predict IR of every example, as `galen compile --emit ir` prints it: a
/// change to lowering, autodiff or a pass shows up here as a diff.
#[test]
fn examples_compile_to_ir() {
    insta::glob!("../specs", "*.galen", |path| {
        let outcome = check_file(&relative(path));
        let (Some(lowered), Some(checked)) = (&outcome.lowered, &outcome.checked) else { panic!("the example checks") };
        let ir = galen::cli::compile_ir(&lowered.spec, checked, None);
        for graph in ir.split("\n\n") {
            let parsed = galen::ir::text::parse(graph).unwrap_or_else(|error| panic!("{error}"));
            assert_eq!(parsed.to_string().trim_end(), graph.trim_end(), "the printed IR parses back");
        }
        insta::assert_snapshot!(ir);
    });
}

#[test]
fn wrong_specs_report_errors() {
    insta::glob!("errors", "**/*.{galen,yaml,yml,txt,json}", |path| {
        let path = relative(path);
        let (outcome, rendered) = check_rendered(&path);
        assert!(outcome.diagnostics.has_errors(), "{} should have errors but got:\n{rendered}", path.display());
        insta::assert_snapshot!(rendered);
    });
}

fn example_pairs() -> Vec<(PathBuf, PathBuf)> {
    let mut pairs = Vec::new();
    for entry in std::fs::read_dir("specs").expect("specs/ exists") {
        let path = entry.expect("a readable entry").path();
        if path.extension().is_some_and(|extension| extension == "galen") {
            let yaml = path.with_extension("yaml");
            assert!(yaml.exists(), "{} has no YAML twin {}", path.display(), yaml.display());
            pairs.push((path, yaml));
        }
    }
    pairs.sort();
    assert!(!pairs.is_empty());
    pairs
}

fn lower(path: &Path) -> galen::spec::ast::Spec {
    let file = SpecFile::read(path).expect("the example is readable");
    let mut diagnostics = galen::diagnostics::Diagnostics::new();
    let lowered = file.parse(&mut diagnostics).expect("the example parses");
    assert!(!diagnostics.has_errors(), "{}: {:?}", path.display(), diagnostics);
    lowered.spec
}

#[test]
fn both_forms_of_every_example_mean_the_same() {
    for (dsl, yaml) in example_pairs() {
        assert_eq!(lower(&dsl), lower(&yaml), "{} and {} differ", dsl.display(), yaml.display());
    }
}

#[test]
fn converting_and_parsing_back_gives_the_same_spec() {
    for (dsl, yaml) in example_pairs() {
        for source in [dsl, yaml] {
            let spec = lower(&source);
            for form in [Form::Dsl, Form::Yaml] {
                let text = convert::to_text(&spec, form);
                let extension = match form {
                    Form::Dsl => "galen",
                    Form::Yaml => "yaml",
                };
                let file = SpecFile { path: source.with_extension(extension), text: text.clone(), form };
                let mut diagnostics = galen::diagnostics::Diagnostics::new();
                let lowered = file.parse(&mut diagnostics);
                assert!(!diagnostics.has_errors(), "{} as {extension}:\n{text}\n{diagnostics:?}", source.display());
                assert_eq!(lowered.map(|l| l.spec), Some(spec.clone()), "{} as {extension}:\n{text}", source.display());
            }
        }
    }
}

/// Gradient clipping on every optimizer, in both forms: `optimizer adam lr=0.001 global_clipnorm=1.5` and
/// `optimizer: {adam: {lr: 0.001, global_clipnorm: 1.5}}` give the same AST, and `convert` writes the key back in
/// either form (and leaves it out when no clipping is set).
#[test]
fn gradient_clipping_reads_the_same_in_both_forms_and_converts_back() {
    use galen::spec::ast::Clipping;
    let parse = |text: String, form: Form| {
        let extension = if form == Form::Dsl { "galen" } else { "yaml" };
        let file = SpecFile { path: PathBuf::from(format!("clipping.{extension}")), text: text.clone(), form };
        let mut diagnostics = galen::diagnostics::Diagnostics::new();
        let lowered = file.parse(&mut diagnostics).unwrap_or_else(|| panic!("{text}"));
        assert!(!diagnostics.has_errors(), "{text}\n{diagnostics:?}");
        lowered.spec
    };
    let dsl = |optimizer: &str| {
        format!(
            "data {{\n  source \"data/heart_rhythm.csv\"\n  target label\n}}\nmodel {{\n  dense 1 sigmoid\n}}\n\
             train {{\n  optimizer {optimizer}\n  loss binary_crossentropy\n  epochs 2\n}}\n"
        )
    };
    let yaml = |optimizer: &str| {
        format!(
            "data: {{source: data/heart_rhythm.csv, target: label}}\nmodel:\n  - dense: {{units: 1, activation: \
             sigmoid}}\ntrain:\n  optimizer: {optimizer}\n  loss: binary_crossentropy\n  epochs: 2\n"
        )
    };
    for optimizer in ["sgd", "adam", "adamw"] {
        for (key, expected) in [
            ("clipnorm", Clipping::Norm(1.5)),
            ("global_clipnorm", Clipping::GlobalNorm(1.5)),
            ("clipvalue", Clipping::Value(1.5)),
        ] {
            let from_dsl = parse(dsl(&format!("{optimizer} lr=0.001 {key}=1.5")), Form::Dsl);
            let from_yaml = parse(yaml(&format!("{{{optimizer}: {{lr: 0.001, {key}: 1.5}}}}")), Form::Yaml);
            assert_eq!(from_dsl, from_yaml, "{optimizer} {key}");
            let clipping = from_dsl.train.optimizer.value.clipping().map(|clipping| clipping.value);
            assert_eq!(clipping, Some(expected), "{optimizer} {key}");
            for form in [Form::Dsl, Form::Yaml] {
                let text = convert::to_text(&from_dsl, form);
                let written = if form == Form::Dsl { format!("{key}=1.5") } else { format!("{key}: 1.5") };
                assert!(text.contains(&written), "{optimizer} {key} as {}:\n{text}", form.name());
                assert_eq!(parse(text, form), from_dsl, "{optimizer} {key} as {}", form.name());
            }
        }
        let unclipped = parse(dsl(&format!("{optimizer} lr=0.001")), Form::Dsl);
        assert_eq!(unclipped.train.optimizer.value.clipping(), None);
        for form in [Form::Dsl, Form::Yaml] {
            let text = convert::to_text(&unclipped, form);
            let written = ["clipnorm", "clipvalue"].iter().any(|key| text.contains(key));
            assert!(!written, "no clipping is the default and is left out:\n{text}");
        }
    }
}

/// Issue 16: `data.risk_correction` in both forms (`risk_correction none` and `risk_correction: none`) gives the same
/// AST, `convert` writes it back in either form, and without it class weights mean `prior`.
#[test]
fn risk_correction_reads_the_same_in_both_forms_and_converts_back() {
    use galen::spec::ast::RiskCorrection;
    let parse = |text: String, form: Form| {
        let extension = if form == Form::Dsl { "galen" } else { "yaml" };
        let file = SpecFile { path: PathBuf::from(format!("risk.{extension}")), text: text.clone(), form };
        let mut diagnostics = galen::diagnostics::Diagnostics::new();
        let lowered = file.parse(&mut diagnostics).unwrap_or_else(|| panic!("{text}"));
        assert!(!diagnostics.has_errors(), "{text}\n{diagnostics:?}");
        lowered.spec
    };
    let dsl = |extra: &str| {
        format!(
            "data {{\n  source \"data/breast_cancer.csv\"\n  target diagnosis\n  class_weight balanced\n{extra}}}\n\
             model {{\n  dense 1 sigmoid\n}}\ntrain {{\n  loss binary_crossentropy\n  epochs 2\n}}\n"
        )
    };
    let yaml = |extra: &str| {
        format!(
            "data:\n  source: data/breast_cancer.csv\n  target: diagnosis\n  class_weight: balanced\n{extra}model:\n  \
             - dense: {{units: 1, activation: sigmoid}}\ntrain:\n  loss: binary_crossentropy\n  epochs: 2\n"
        )
    };
    for correction in [RiskCorrection::Prior, RiskCorrection::None] {
        let name = correction.name();
        let from_dsl = parse(dsl(&format!("  risk_correction {name}\n")), Form::Dsl);
        let from_yaml = parse(yaml(&format!("  risk_correction: {name}\n")), Form::Yaml);
        assert_eq!(from_dsl, from_yaml, "{name}");
        assert_eq!(from_dsl.data.risk_correction.as_ref().map(|written| written.value), Some(correction));
        assert_eq!(from_dsl.data.risk_correction(), Some(correction));
        for form in [Form::Dsl, Form::Yaml] {
            let text = convert::to_text(&from_dsl, form);
            let written =
                if form == Form::Dsl { format!("risk_correction {name}") } else { format!("risk_correction: {name}") };
            assert!(text.contains(&written), "{name} as {}:\n{text}", form.name());
            assert_eq!(parse(text, form), from_dsl, "{name} as {}", form.name());
        }
    }
    let unwritten = parse(dsl(""), Form::Dsl);
    assert_eq!(unwritten.data.risk_correction, None);
    assert_eq!(unwritten.data.risk_correction(), Some(RiskCorrection::Prior), "`prior` by default");
    assert!(!convert::to_text(&unwritten, Form::Yaml).contains("risk_correction"));
}
