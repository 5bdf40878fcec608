//! What a newcomer trips on (issue 17): `convert` says how many comments it dropped and does not overwrite a file
//! unasked, YAML's `- dense: 16 relu` gets the fix that works, and `calibration` is a metric a spec may ask for.

use std::fs;
use std::path::PathBuf;

mod common;

use common::{galen, says, text};

fn dir(name: &str) -> PathBuf {
    common::fresh_dir("newcomer", name)
}

#[test]
fn convert_says_how_many_comments_it_drops_and_overwrites_only_with_force() {
    let dir = dir("convert");
    let spec = "specs/heart_rhythm_lstm.galen";
    let comments = fs::read_to_string(spec).unwrap().lines().filter(|line| line.trim_start().starts_with('#')).count();
    assert!(comments > 0);
    let converted = galen(&["convert", spec, "--to", "yaml"]);
    assert!(converted.status.success(), "{}", text(&converted.stderr));
    assert!(says(&converted.stderr, "convert::comments_dropped"), "{}", text(&converted.stderr));
    assert!(says(&converted.stderr, &format!("{comments} comment(s) of the spec are not in the converted text")));
    // A spec without comments converts silently.
    let yaml = dir.join("lstm.yaml");
    fs::write(&yaml, text(&converted.stdout)).unwrap();
    let back = galen(&["convert", yaml.to_str().unwrap(), "--to", "galen"]);
    assert!(back.status.success() && back.stderr.is_empty(), "{}", text(&back.stderr));
    // `-o` refuses an existing file unless `--force`, and leaves it as it was.
    let target = dir.join("out.yaml");
    fs::write(&target, "keep me\n").unwrap();
    let refused = galen(&["convert", spec, "--to", "yaml", "-o", target.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(says(&refused.stderr, "cli::exists") && says(&refused.stderr, "--force"), "{}", text(&refused.stderr));
    assert_eq!(fs::read_to_string(&target).unwrap(), "keep me\n");
    let forced = galen(&["convert", spec, "--to", "yaml", "-o", target.to_str().unwrap(), "--force"]);
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    assert_eq!(fs::read_to_string(&target).unwrap(), text(&converted.stdout));
}

#[test]
fn yaml_shorthand_with_two_values_suggests_a_list_or_the_map_form() {
    let dir = dir("shorthand");
    let data = fs::canonicalize("specs/data/breast_cancer.csv").unwrap();
    let spec = dir.join("shorthand.yaml");
    let body = "model:\n  - dense: 16 relu\n  - dense: {units: 2, activation: softmax}\ntrain:\n  loss: \
                categorical_crossentropy\n  epochs: 1\n";
    fs::write(&spec, format!("name: x\ndata:\n  source: \"{}\"\n  target: diagnosis\n{body}", data.display())).unwrap();
    let checked = galen(&["check", spec.to_str().unwrap()]);
    assert_eq!(checked.status.code(), Some(1));
    assert!(says(&checked.stderr, "write them as a list, `[16, relu]`"), "{}", text(&checked.stderr));
    assert!(says(&checked.stderr, "`{units: 16, activation: relu}`"), "{}", text(&checked.stderr));
    assert!(!says(&checked.stderr, "number in digits"), "{}", text(&checked.stderr));
    // The list form it suggests is accepted.
    fs::write(&spec, fs::read_to_string(&spec).unwrap().replace("dense: 16 relu", "dense: [16, relu]")).unwrap();
    let fixed = galen(&["check", spec.to_str().unwrap()]);
    assert!(fixed.status.success(), "{}", text(&fixed.stderr));
}

#[test]
fn calibration_is_a_metric_a_spec_may_ask_for_but_not_monitor() {
    let dir = dir("calibration");
    let spec = fs::read_to_string("specs/breast_cancer.galen").unwrap();
    let data = fs::canonicalize("specs/data/breast_cancer.csv").unwrap();
    let spec = spec
        .replace("\"data/breast_cancer.csv\"", &format!("\"{}\"", data.display()))
        .replace("metrics accuracy,", "metrics calibration, accuracy,")
        .replace("epochs 50", "epochs 2");
    assert!(spec.contains("metrics calibration,"));
    let path = dir.join("calibrated.galen");
    fs::write(&path, &spec).unwrap();
    let out = dir.join("run");
    let trained = galen(&["train", path.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(trained.status.success(), "{}", text(&trained.stderr));
    let stdout = text(&trained.stdout);
    let headline = stdout.lines().find(|line| line.starts_with("headline")).unwrap_or_default();
    assert!(headline.contains("calibration_intercept") && headline.contains("calibration_slope"), "{stdout}");
    // One number is needed to monitor: `val_calibration` is not one.
    let monitored = spec.replace("monitor=val_loss", "monitor=val_calibration");
    fs::write(&path, monitored).unwrap();
    let refused = galen(&["check", path.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(says(&refused.stderr, "val_calibration"), "{}", text(&refused.stderr));
}

/// The plots say what they show: each title names the split and its n and the positive class; the ROC legend
/// names the positive class rather than a bare label (before: the experiment's name alone, and `1 (AUC 0.843)`).
#[test]
fn plots_name_their_split_its_size_and_the_positive_class() {
    let out = dir("plots").join("run");
    let trained = galen(&["train", "tests/data/flags/flchain.yaml", "--out", out.to_str().unwrap(), "-q"]);
    assert!(trained.status.success(), "{}", text(&trained.stderr));
    let metrics: serde_json::Value = serde_json::from_slice(&fs::read(out.join("metrics.json")).unwrap()).unwrap();
    let splits = &metrics["final"];
    let (train, val, test) = (&splits["train"]["rows"], &splits["val"]["rows"], &splits["test"]["rows"]);
    let svg = |name: &str| fs::read_to_string(out.join("plots").join(name)).unwrap();
    let heading = format!("flchain-flags: test split, n = {test}, positive class 1");
    for plot in ["roc.svg", "calibration.svg", "confusion_matrix.svg"] {
        assert!(svg(plot).contains(&heading), "{plot} lacks `{heading}`");
    }
    assert!(svg("roc.svg").contains("positive class 1 (AUC "));
    let curves = format!("flchain-flags: learning curves (training n = {train}, validation n = {val})");
    assert!(svg("learning_curves.svg").contains(&curves), "learning curves lack `{curves}`");
}
