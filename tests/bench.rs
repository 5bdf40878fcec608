//! `galen bench` end to end: a tiny spec for one epoch prints every figure, `--json` gives one object with the
//! same figures, no run directory is written, and a broken spec is an error (exit 1) as for `galen train`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A folder of its own holding a tiny spec over the breast-cancer data, with a validation split.
fn tiny_spec(name: &str, model: &str) -> (PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("specs/data/breast_cancer.csv");
    let spec = format!(
        "experiment \"tiny\"\nseed 3\n\ndata {{\n  source \"{}\"\n  target diagnosis\n  positive \"malignant\"\n  \
         split train=0.7 val=0.1 test=0.2 stratify\n}}\n\nmodel {{\n{model}\n}}\n\ntrain {{\n  optimizer adam \
         lr=0.001\n  loss categorical_crossentropy\n  epochs 30\n  batch_size 32\n  early_stopping \
         monitor=val_loss patience=2\n}}\n",
        data.display()
    );
    let path = dir.join("tiny.galen");
    fs::write(&path, spec).unwrap();
    (dir, path)
}

fn galen_in(dir: &Path, arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_galen")).current_dir(dir).args(arguments).output().expect("galen runs")
}

#[test]
fn bench_prints_every_figure_and_writes_no_run_directory() {
    let (dir, spec) = tiny_spec("text", "  dense 8 relu\n  dense 2 softmax");
    let output = galen_in(&dir, &["bench", spec.to_str().unwrap(), "--epochs", "1", "--threads", "2"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    for label in
        ["load ", "transform ", "compile ", "epoch 1 ", "steady ", "evaluation ", "train flops ", "peak memory "]
    {
        assert!(stdout.lines().any(|line| line.starts_with(label)), "no `{label}` line in\n{stdout}");
    }
    assert!(stdout.contains("samples/s") && stdout.contains("GFLOP/s"), "{stdout}");
    assert!(stdout.contains("early stopping is off"), "{stdout}");
    assert!(!stdout.lines().any(|line| line.starts_with("epoch 2 ")), "one epoch was asked for:\n{stdout}");
    let written: Vec<String> =
        fs::read_dir(&dir).unwrap().map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(written, ["tiny.galen"]);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn bench_json_is_one_object_with_the_figures() {
    let (dir, spec) = tiny_spec("json", "  dense 8 relu\n  dense 2 softmax");
    let output = galen_in(&dir, &["bench", spec.to_str().unwrap(), "--epochs", "2", "--threads", "1", "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(report["framework"], "galen");
    assert_eq!(report["threads"], 1);
    assert_eq!(report["batch_size"], 32);
    let (train, val, test) = (&report["train_rows"], &report["val_rows"], &report["test_rows"]);
    assert_eq!(train.as_u64().unwrap() + val.as_u64().unwrap() + test.as_u64().unwrap(), 569);
    assert_eq!(report["epochs"].as_array().map(Vec::len), Some(2));
    assert_eq!(report["steady_epochs"], "2..2");
    for key in ["load_ms", "transform_ms", "compile_ms", "evaluation_ms", "steady_samples_per_second"] {
        assert!(report[key].as_f64().is_some_and(|value| value > 0.0), "{key}: {}", report[key]);
    }
    let epoch = &report["epochs"][0];
    assert!(epoch["train_seconds"].as_f64().unwrap() > 0.0 && epoch["validation_seconds"].as_f64().unwrap() > 0.0);
    // 30 inputs -> 8 -> 2 in batches of 32: forward 2*32*(30*8 + 8*2) FLOPs, the kernels' gradients as many again,
    // and the hidden layer's input gradient 2*32*8*2 (none for the data): per sample 2*(240+16)*2 + 32.
    assert_eq!(report["train_flops_per_sample"], 1056.0);
    assert!(report["evaluation_accuracy"].as_f64().is_some_and(|accuracy| (0.0..=1.0).contains(&accuracy)));
    assert!(report["peak_rss_mb"].as_f64().is_some_and(|megabytes| megabytes > 1.0));
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn a_broken_spec_is_an_error_like_train() {
    let (dir, spec) = tiny_spec("broken", "  dense 8 reloo\n  dense 2 softmax");
    let output = galen_in(&dir, &["bench", spec.to_str().unwrap(), "--epochs", "1"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "{}", String::from_utf8_lossy(&output.stdout));
    assert!(String::from_utf8_lossy(&output.stderr).contains("reloo"));
    let _ = fs::remove_dir_all(&dir);
}
