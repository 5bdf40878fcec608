//! Crash safety (issue 15): a `galen train` killed with SIGKILL at any moment leaves a run directory that `galen
//! eval` either accepts (exit 0, metrics: the last checkpoint, or the finished model) or finds no model in (a clear
//! error, exit 1) — never a damaged model, a panic or a crash — and that a rerun with `--force` replaces.
//!
//! Two ways to kill: the named stop points of the test hook `GALEN_TEST_STOP_AT` (see `galen::run::STOP_AT`), which
//! make training kill itself at an exact moment (mid-checkpoint, between the model and the manifest, mid-swap of a
//! `--force` run...), and kills from outside after delays drawn from a fixed seed across a whole run.
#![cfg(unix)]

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::Instant;

use rand::{Rng, SeedableRng};
use serde_json::Value;

const LSTM: &str = "specs/heart_rhythm_lstm.galen";

fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("crash-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The LSTM example for 3 epochs (a short run with checkpoints), its data path made absolute, in `dir`.
fn short_lstm(dir: &Path) -> PathBuf {
    let data = fs::canonicalize("specs/data/heart_rhythm.csv").unwrap();
    let text = fs::read_to_string(LSTM)
        .unwrap()
        .replace("\"data/heart_rhythm.csv\"", &format!("\"{}\"", data.display()))
        .replace("epochs 25", "epochs 3");
    assert!(text.contains("epochs 3") && text.contains(data.to_str().unwrap()));
    let spec = dir.join("heart_rhythm_lstm.galen");
    fs::write(&spec, text).unwrap();
    spec
}

fn train(spec: &Path, out: &Path, force: bool, stop_at: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_galen"));
    command.args(["train", spec.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet", "--threads", "1"]);
    if force {
        command.arg("--force");
    }
    match stop_at {
        Some(point) => command.env(galen::run::STOP_AT, point),
        None => command.env_remove(galen::run::STOP_AT),
    };
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether an error output says `phrase`, whatever the wrapping (spaces, line breaks and the `|` gutter ignored).
fn says(stderr: &str, phrase: &str) -> bool {
    let squeeze = |text: &str| text.chars().filter(|c| !c.is_whitespace() && *c != '|').collect::<String>();
    squeeze(stderr).contains(&squeeze(phrase))
}

/// What `galen eval` found in a run directory left by a killed training.
#[derive(Debug, PartialEq)]
enum Found {
    /// Exit 0 with metrics: the model of `epoch`, under a manifest saying `status`.
    Model { epoch: usize, status: String },
    /// Exit 1: no model (the error's first line).
    NoModel(String),
}

/// Runs `galen eval` on what a kill left and checks it is one of the two acceptable outcomes.
fn eval_after_kill(out: &Path) -> Found {
    let output = Command::new(env!("CARGO_BIN_EXE_galen")).args(["eval", out.to_str().unwrap()]).output().unwrap();
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    let context = format!("eval of {}: {:?}\n{stdout}\n{stderr}", out.display(), output.status);
    assert!(!stderr.contains("panicked"), "a panic: {context}");
    // A damaged model, preprocessing or spec copy is what a crash must never leave.
    for damaged in ["run::model", "run::transform", "run::spec", "run::manifest"] {
        assert!(!says(&stderr, damaged), "a damaged file: {context}");
    }
    match output.status.code() {
        Some(0) => {
            assert!(stdout.contains("test (") && stdout.contains("Accuracy"), "no metrics: {context}");
            let manifest: Value = serde_json::from_slice(&fs::read(out.join("manifest.json")).unwrap()).unwrap();
            let status = manifest["status"].as_str().unwrap().to_string();
            let unfinished = !matches!(status.as_str(), "completed" | "stopped early");
            assert_eq!(says(&stderr, "run::unfinished"), unfinished, "{context}");
            let (_, metadata) =
                galen::run::weights::from_bytes(&fs::read(out.join("model.safetensors")).unwrap()).unwrap();
            Found::Model { epoch: metadata["epoch"].parse().unwrap(), status }
        }
        Some(1) => {
            // No model: the folder is missing or holds no manifest, or the run holds no model (yet).
            let clear = says(&stderr, "run::not_a_run")
                || (says(&stderr, "run::io") && says(&stderr, "cannot read") && says(&stderr, "of the run"));
            assert!(clear, "not a clear 'no model' error: {context}");
            let message = stderr.lines().map(str::trim).find(|line| line.starts_with("x ") || line.starts_with('×'));
            Found::NoModel(message.unwrap_or_default().to_string())
        }
        _ => panic!("eval crashed or gave another exit code: {context}"),
    }
}

/// A rerun with `--force` into what a kill left (the short spec: what is checked is the folder, not the model)
/// replaces it with a complete run, and leaves neither temporary files nor staging folders behind.
fn rerun_replaces(spec: &Path, out: &Path) {
    let output = train(spec, out, true, None).output().unwrap();
    assert!(output.status.success(), "rerun into {}: {}", out.display(), text(&output.stderr));
    let found = eval_after_kill(out);
    assert!(matches!(&found, Found::Model { status, .. } if status == "completed"), "rerun: {found:?}");
    let name = out.file_name().unwrap().to_str().unwrap();
    let litter: Vec<String> = fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|entry| entry.starts_with(&format!(".{name}.galen-")))
        .chain(
            fs::read_dir(out)
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|entry| entry.contains(".tmp-")),
        )
        .collect();
    assert!(litter.is_empty(), "leftovers after the rerun into {}: {litter:?}", out.display());
}

fn killed(status: ExitStatus) -> bool {
    status.signal() == Some(9)
}

/// What eval must find after a kill: no model, or a model of that epoch (any epoch for `None`) under a manifest of
/// that status.
type Expected = Option<(Option<usize>, &'static str)>;

/// Each named stop point, on its own run directory: the process must die there (SIGKILL), eval must find exactly
/// what that moment leaves, and a rerun with `--force` must replace it.
#[test]
fn every_stop_point_leaves_a_loadable_model_or_none() {
    let dir = temp_dir("points");
    let spec = short_lstm(&dir);
    let spec_copy = "written:heart_rhythm_lstm.galen";
    // Any epoch of the 3 where early stopping's restoring may choose an earlier epoch than the last.
    let running = |epoch: Option<usize>| Some((epoch, "running"));
    // (point, over an earlier finished run with --force, what eval must find)
    let cases: [(&str, bool, Expected); 13] = [
        ("written:manifest.json", false, None),
        (spec_copy, false, None),
        ("written:transform.json", false, None),
        ("written:model.safetensors", false, None),
        ("written:model.safetensors@2", false, running(Some(1))),
        ("checkpoint", false, running(Some(1))),
        ("checkpoint@3", false, running(None)),
        ("model", false, running(None)),
        ("written:metrics.json", false, running(None)),
        ("written:manifest.json@2", false, running(None)),
        // Replacing an earlier run: until the swap the earlier run stays whole.
        ("checkpoint@2", true, Some((None, "completed"))),
        ("written:manifest.json@2", true, Some((None, "completed"))),
        ("swap", true, None),
    ];
    let started = Instant::now();
    for (index, (point, force, expected)) in cases.into_iter().enumerate() {
        let out = dir.join(format!("run-{index}"));
        if force {
            let earlier = train(&spec, &out, false, None).output().unwrap();
            assert!(earlier.status.success(), "{}", text(&earlier.stderr));
        }
        let output = train(&spec, &out, force, Some(point)).output().unwrap();
        assert!(killed(output.status), "{point}: not killed there: {:?} {}", output.status, text(&output.stderr));
        let found = eval_after_kill(&out);
        eprintln!("stop at {point:<30} {}: {found:?}", if force { "--force" } else { "       " });
        match (expected, &found) {
            (None, Found::NoModel(_)) => {}
            (Some((epoch, status)), Found::Model { epoch: found_epoch, status: found_status }) => {
                let epoch_fits = epoch.map_or((1..=3).contains(found_epoch), |epoch| epoch == *found_epoch);
                assert!(epoch_fits && found_status == status, "{point}: {found:?}");
            }
            (_, found) => panic!("{point}: expected {expected:?}, found {found:?}"),
        }
        rerun_replaces(&spec, &out);
    }
    eprintln!("stop points: {:.1} s", started.elapsed().as_secs_f64());
}

/// The LSTM example killed from outside after 5 delays drawn from a fixed seed across a whole run's duration (as
/// measured here, uninterrupted, first): whatever the moment, eval accepts what is left or finds no model, and a
/// rerun with `--force` replaces it.
#[test]
fn kills_at_seeded_times_leave_a_loadable_model_or_none() {
    let dir = temp_dir("seeded");
    let short = short_lstm(&dir);
    let spec = Path::new(LSTM);
    let baseline = dir.join("baseline");
    let started = Instant::now();
    let output = train(spec, &baseline, false, None).output().unwrap();
    let duration = started.elapsed();
    assert!(output.status.success(), "{}", text(&output.stderr));
    // The full example may stop early (patience 8 of 25 epochs): either way it finished.
    let found = eval_after_kill(&baseline);
    assert!(
        matches!(&found, Found::Model { status, .. } if status == "completed" || status == "stopped early"),
        "baseline: {found:?}"
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(15);
    let mut models = 0;
    for index in 0..5 {
        let fraction: f64 = rng.gen_range(0.0..1.0);
        let delay = duration.mul_f64(fraction);
        let out = dir.join(format!("kill-{index}"));
        let mut child = train(spec, &out, false, None).spawn().unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let found = eval_after_kill(&out);
        eprintln!(
            "kill after {:>5} ms ({:.2} of {} ms): {}, eval: {found:?}",
            delay.as_millis(),
            fraction,
            duration.as_millis(),
            if killed(status) { "killed".to_string() } else { format!("had ended ({status})") }
        );
        models += matches!(found, Found::Model { .. }) as usize;
        rerun_replaces(&short, &out);
    }
    eprintln!("seeded kills: {models} of 5 left a model; {:.1} s", started.elapsed().as_secs_f64());
}
