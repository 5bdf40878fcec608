//! Every example in `specs/` trains, and its final test metrics (rounded to 4 decimals) are snapshots, so that a
//! change that moves any experiment's result shows in review.

use std::path::Path;

use galen::metrics::rounded;
use galen::run::train::{train, Progress, TrainOptions};
use serde_json::Value;

#[test]
fn examples_train_to_their_snapshot_metrics() {
    let mut specs: Vec<_> = std::fs::read_dir("specs")
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "galen"))
        .collect();
    specs.sort();
    assert!(specs.len() >= 8, "{specs:?}");
    for spec in specs {
        let name = spec.file_stem().unwrap().to_string_lossy().into_owned();
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("example-{name}"));
        let _ = std::fs::remove_dir_all(&out);
        let options = TrainOptions {
            spec: spec.clone(),
            out: Some(out.clone()),
            force: false,
            threads: 2,
            seed: None,
            progress: Progress::Silent,
            command: Vec::new(),
        };
        let outcome = train(&options, None);
        assert!(!outcome.diagnostics.has_errors(), "{name}: {:?}", outcome.diagnostics);
        let metrics: Value = serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
        let mut test =
            metrics["final"]["test"].as_object().unwrap_or_else(|| panic!("{name} has a test split")).clone();
        // The curves, for the plots, are long and covered by the metrics they summarise.
        for curve in galen::run::report::CURVES {
            test.shift_remove(*curve);
        }
        insta::assert_json_snapshot!(format!("test_metrics@{name}"), rounded(&Value::Object(test), 4));
    }
}
