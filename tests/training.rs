//! The first end-to-end path: specs train on the reference interpreter, reach the peers' accuracy, rerun bit for
//! bit, and a diverging loss is an error that points at the optimizer.

use std::path::Path;

use galen::diagnostics::Diagnostics;
use galen::pipeline::check_file;
use galen::runtime::train::{train, Trained};

fn train_spec(path: &str) -> (Option<Trained>, Diagnostics) {
    let outcome = check_file(Path::new(path));
    assert!(!outcome.diagnostics.has_errors(), "{path}: {:?}", outcome.diagnostics);
    let (Some(file), Some(lowered), Some(checked)) = (&outcome.file, &outcome.lowered, &outcome.checked) else {
        panic!("{path} checks clean")
    };
    let mut diagnostics = Diagnostics::new();
    let trained = train(file, &lowered.spec, checked, &outcome.loaded, &mut diagnostics, &mut |_| {});
    (trained, diagnostics)
}

/// The peers' settings (80/20 stratified, 64-64-2, adam 0.001, batch 32, 50 epochs): Keras reaches 0.965 and
/// PyTorch 0.974 test accuracy; the issue asks for at least 0.95.
#[test]
fn breast_cancer_reaches_the_peers_accuracy_and_reruns_bit_for_bit() {
    let (first, diagnostics) = train_spec("specs/breast_cancer_peers.galen");
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let first = first.expect("training succeeds");
    let test = first.test.as_ref().expect("the spec has a test split");
    assert_eq!(test.rows, 114);
    let accuracy = test.accuracy.expect("a classifier has an accuracy");
    assert!(accuracy >= 0.95, "test accuracy {accuracy}");
    assert_eq!(first.history.len(), 50);
    assert!(first.history[49].loss < first.history[0].loss / 10.0, "the loss falls: {:?}", first.history);

    let (second, _) = train_spec("specs/breast_cancer_peers.galen");
    let second = second.expect("training succeeds");
    assert_eq!(first.values, second.values, "the same seed gives the same weights");
    assert_eq!(first.history, second.history);
}

#[test]
fn a_diverging_loss_is_an_error_at_the_optimizer() {
    let (trained, diagnostics) = train_spec("tests/data/train/diverging.galen");
    assert!(trained.is_none());
    let error = &diagnostics.items[0];
    assert_eq!(error.code, "train::diverged");
    assert!(error.message.contains("epoch 1"), "{}", error.message);
    assert!(error.help.as_deref().is_some_and(|help| help.contains("learning rate 1000")), "{error:?}");
}

fn galen(arguments: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_galen")).args(arguments).output().expect("galen runs")
}

#[test]
fn the_command_line_trains_and_compiles() {
    let trained = galen(&["train", "specs/breast_cancer_peers.galen"]);
    assert!(trained.status.success(), "{}", String::from_utf8_lossy(&trained.stderr));
    let stdout = String::from_utf8_lossy(&trained.stdout);
    assert_eq!(stdout.lines().filter(|line| line.starts_with("epoch ")).count(), 50, "{stdout}");
    let test_line = stdout.lines().last().expect("a last line");
    assert!(test_line.starts_with("test (114 rows)") && test_line.contains("  accuracy 0."), "{test_line}");

    let ir = galen(&["compile", "specs/heart_rhythm_lstm.galen", "--emit", "ir", "--batch", "4"]);
    assert!(ir.status.success());
    let text = String::from_utf8_lossy(&ir.stdout);
    for header in ["graph forward {", "graph train_step {", "graph predict {"] {
        assert!(text.contains(header), "{header} missing");
    }
    assert!(text.contains("reverse=true"), "the train step holds the LSTM's backward scan");

    let ast = galen(&["compile", "specs/breast_cancer_peers.yaml", "--emit", "ast"]);
    assert!(String::from_utf8_lossy(&ast.stdout).contains("name: \"breast-cancer-peers\""));

    let diverging = galen(&["train", "tests/data/train/diverging.galen"]);
    assert_eq!(diverging.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&diverging.stderr).contains("train::diverged"));
    let missing = galen(&["train", "specs/no_such_spec.galen"]);
    assert_eq!(missing.status.code(), Some(1));
}
