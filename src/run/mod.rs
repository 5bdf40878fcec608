//! The run directory: everything needed to trust, reproduce and reuse a trained model.
//!
//! ```text
//! runs/breast-cancer-20261129-140512/
//!   breast_cancer.galen      the spec as given, byte for byte
//!   manifest.json            galen version, spec and data paths with SHA-256, seed, threads, CPU code path, times
//!                            (and the risk correction, with class weights)
//!   model.safetensors        the weights (and running statistics), metadata in a fixed order (the task, the
//!                            risk correction that `eval` and `predict` apply)
//!   transform.json           the fitted preprocessing, so that `predict` applies exactly what training saw
//!   splits.csv               where every data row went: file, row (as in test_predictions.csv), split, fold
//!   metrics.json             per epoch and final, per split (no times: reruns give the same bytes)
//!   test_predictions.csv     the test rows' outputs, which `galen predict` reproduces
//!   plots/*.svg              learning curves; ROC, calibration and confusion matrix for classifiers
//! ```
//!
//! Every file is written to a temporary name in the directory and renamed into place, so an interrupted run
//! never leaves a half-written file behind. `train`, `eval` and `predict` (the commands) live beside it.

pub mod bench;
pub mod eval;
pub mod loaded;
pub mod manifest;
pub mod predict;
pub mod predictor;
pub mod report;
pub mod risk;
pub mod train;
pub mod weights;

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::diagnostics::Diagnostic;

/// The manifest's file name, also what marks a folder as a galen run directory.
pub const MANIFEST: &str = "manifest.json";
/// The weights' file name.
pub const MODEL: &str = "model.safetensors";
/// The fitted preprocessing's file name.
pub const TRANSFORM: &str = "transform.json";
/// The metrics' file name.
pub const METRICS: &str = "metrics.json";
/// The test split's predictions.
pub const TEST_PREDICTIONS: &str = "test_predictions.csv";
/// Where every data row went (`report::splits_csv`).
pub const SPLITS: &str = "splits.csv";
/// The folder of plots.
pub const PLOTS: &str = "plots";

/// A run directory being written or read.
///
/// A run that replaces an earlier one (`--force`) is written into a staging folder beside it, and only
/// [`RunDir::commit`] swaps it in: a run that fails or stops before it has a model leaves the earlier run as it was.
#[derive(Clone, Debug)]
pub struct RunDir {
    path: PathBuf,
    replaces: Option<PathBuf>,
}

impl RunDir {
    /// Creates the directory of a new run: `out` when given (refused when it exists, unless `force` and it is an
    /// earlier galen run, whose files are then replaced), else a new folder `runs/EXPERIMENT-YYYYMMDD-HHMMSS`
    /// (with `-2`, `-3`... when that exists).
    pub fn create(out: Option<&Path>, force: bool, experiment: &str, started: &str) -> Result<RunDir, Diagnostic> {
        match out {
            Some(path) => Self::create_at(path, force),
            None => Self::create_unique(Path::new("runs"), experiment, started),
        }
    }

    fn create_at(path: &Path, force: bool) -> Result<RunDir, Diagnostic> {
        if force {
            remove_stale_siblings(path);
        }
        if path.exists() {
            if !force {
                return Err(Diagnostic::error("run::exists", "the output directory exists already")
                    .at_file(path)
                    .with_help("choose a new `--out`, or pass `--force` to replace the earlier run's files"));
            }
            // A galen run is a folder whose `manifest.json` reads as galen's manifest: a file of that name alone
            // (web and extension manifests use it too) never lets `--force` empty someone's folder.
            let is_run = fs::read(path.join(MANIFEST))
                .ok()
                .is_some_and(|bytes| manifest::Manifest::parse(&bytes, &path.join(MANIFEST)).is_ok());
            // Empty, or holding only the temporary file of a first write a crash cut short.
            let is_empty = fs::read_dir(path)
                .map(|entries| entries.flatten().all(|entry| is_temporary(&entry.file_name().to_string_lossy())))
                .unwrap_or(false);
            if !path.is_dir() || !(is_run || is_empty) {
                return Err(Diagnostic::error(
                    "run::not_a_run",
                    "`--force` replaces an earlier galen run, but this is not a run directory",
                )
                .at_file(path)
                .with_help(format!(
                    "galen writes only into an empty folder or an earlier run's (one holding galen's `{MANIFEST}`)"
                )));
            }
            let staging = sibling(path, "new");
            if staging.exists() {
                let _ = fs::remove_dir_all(&staging);
            }
            fs::create_dir(&staging).map_err(|error| io_error(&staging, "cannot create the run directory", &error))?;
            return Ok(RunDir { path: staging, replaces: Some(path.to_path_buf()) });
        }
        fs::create_dir_all(path).map_err(|error| io_error(path, "cannot create the run directory", &error))?;
        Ok(RunDir { path: path.to_path_buf(), replaces: None })
    }

    fn create_unique(parent: &Path, experiment: &str, started: &str) -> Result<RunDir, Diagnostic> {
        fs::create_dir_all(parent).map_err(|error| io_error(parent, "cannot create the runs folder", &error))?;
        let stamp: String = started.chars().filter(|c| c.is_ascii_digit()).take(14).collect();
        let stamp = if stamp.len() == 14 { format!("{}-{}", &stamp[..8], &stamp[8..]) } else { stamp };
        let name: String = experiment
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
            .collect();
        let name = if name.is_empty() { "run".to_string() } else { name };
        for attempt in 1..10_000 {
            let suffix = if attempt == 1 { String::new() } else { format!("-{attempt}") };
            let path = parent.join(format!("{name}-{stamp}{suffix}"));
            match fs::create_dir(&path) {
                Ok(()) => return Ok(RunDir { path, replaces: None }),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(error) => return Err(io_error(&path, "cannot create the run directory", &error)),
            }
        }
        Err(Diagnostic::error("run::exists", "cannot find a free run directory name").at_file(parent))
    }

    /// Opens an existing run directory (one with a manifest).
    pub fn open(path: &Path) -> Result<RunDir, Diagnostic> {
        if !path.join(MANIFEST).is_file() {
            let what = if path.is_dir() { "is not a galen run directory" } else { "does not exist" };
            let mut help = format!(
                "give the folder `galen train` wrote (it holds `{MANIFEST}` and `{MODEL}`); it printed the path"
            );
            // A `--force` run killed between moving the earlier run aside and renaming itself into its place.
            let swapping: Vec<String> = siblings(path)
                .into_iter()
                .filter(|(sibling, _, _)| !path.exists() && sibling.join(MANIFEST).is_file())
                .map(|(sibling, what, _)| {
                    let which = if what == "new" { "the new run" } else { "the earlier run" };
                    format!("{which} is in `{}`", sibling.display())
                })
                .collect();
            if !swapping.is_empty() {
                help = format!(
                    "a `galen train --force` was stopped while putting its run in place: {}; rename one to `{}`",
                    swapping.join(", "),
                    path.display()
                );
            }
            return Err(Diagnostic::error("run::not_a_run", format!("`{}` {what}", path.display()))
                .at_file(path)
                .with_help(help));
        }
        Ok(RunDir { path: path.to_path_buf(), replaces: None })
    }

    /// Where the run lives once finished: the folder it replaces, or the folder written.
    pub fn final_path(&self) -> &Path {
        self.replaces.as_deref().unwrap_or(&self.path)
    }

    /// Puts a finished run in place of the earlier run it replaces (nothing to do for a new folder): the earlier
    /// folder is moved aside, the new one renamed into its place, then the earlier one removed.
    pub fn commit(&self) -> Result<(), Diagnostic> {
        let Some(target) = &self.replaces else { return Ok(()) };
        let old = sibling(target, "old");
        if old.exists() {
            let _ = fs::remove_dir_all(&old);
        }
        fs::rename(target, &old).map_err(|error| io_error(target, "cannot move the earlier run aside", &error))?;
        stop_point("swap", "");
        if let Err(error) = fs::rename(&self.path, target) {
            // Put the earlier run back rather than leave nothing in its place.
            let _ = fs::rename(&old, target);
            return Err(io_error(target, "cannot put the new run in place", &error));
        }
        let _ = fs::remove_dir_all(&old);
        Ok(())
    }

    /// Drops a run that replaces an earlier one but ended without a model: the earlier run stays as it was.
    pub fn discard(&self) {
        if self.replaces.is_some() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }

    /// Whether this run replaces an earlier one.
    pub fn replaces_earlier(&self) -> bool {
        self.replaces.is_some()
    }

    /// The directory being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file of the run.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `bytes` to `name` (a path relative to the run directory) through a temporary file and a rename.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<(), Diagnostic> {
        write_atomic(&self.path.join(name), bytes)
    }

    /// Reads a file of the run.
    pub fn read(&self, name: &str) -> Result<Vec<u8>, Diagnostic> {
        let path = self.file(name);
        fs::read(&path).map_err(|error| {
            io_error(&path, &format!("cannot read `{name}` of the run"), &error)
                .with_help("the run directory is incomplete: train again, or give another run")
        })
    }
}

/// A hidden folder beside `path` for a run being swapped in or out: `.NAME.galen-new-PID`.
fn sibling(path: &Path, what: &str) -> PathBuf {
    let name = path.file_name().map_or_else(|| "run".into(), |name| name.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.galen-{what}-{}", std::process::id()))
}

/// The hidden folders beside `path` of runs being swapped in or out ([`sibling`]'s): path, `new` or `old`, and the
/// process that made them.
fn siblings(path: &Path) -> Vec<(PathBuf, String, u32)> {
    let (Some(name), Some(parent)) = (path.file_name(), path.parent()) else { return Vec::new() };
    let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
    let prefix = format!(".{}.galen-", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(parent) else { return Vec::new() };
    let mut found: Vec<(PathBuf, String, u32)> = entries
        .flatten()
        .filter_map(|entry| {
            let entry_name = entry.file_name().to_string_lossy().into_owned();
            let (what, pid) = entry_name.strip_prefix(&prefix)?.split_once('-')?;
            let pid = pid.parse().ok().filter(|_| what == "new" || what == "old")?;
            Some((path.with_file_name(&entry_name), what.to_string(), pid))
        })
        .collect();
    found.sort();
    found
}

/// Removes what runs into `path` that were killed (no process of theirs is left) left beside it: the staging
/// folder of a `--force` run killed before its swap, and the earlier run it was replacing. Only `--force` does this,
/// which replaces the earlier run anyway.
fn remove_stale_siblings(path: &Path) {
    for (sibling, _, pid) in siblings(path) {
        if !process_alive(pid) {
            let _ = fs::remove_dir_all(&sibling);
        }
    }
}

/// Whether a process runs with this id: `/proc` where there is one, else `kill -0`; when neither can tell, yes (so
/// that nothing of a run still going is removed).
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if Path::new("/proc/self").exists() {
        return Path::new("/proc").join(pid.to_string()).exists();
    }
    // `output` captures what kill says, so nothing reaches this process's streams.
    std::process::Command::new("kill").args(["-0", &pid.to_string()]).output().map_or(true, |out| out.status.success())
}

/// Whether a file name is a temporary file of [`write_atomic`]'s (`.NAME.tmp-PID`), as a crash mid-write leaves.
fn is_temporary(name: &str) -> bool {
    name.starts_with('.')
        && name.rsplit_once(".tmp-").is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// Writes a file atomically: a temporary file beside it, flushed to disk, then renamed over the target.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Diagnostic> {
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|error| io_error(parent, "cannot create the folder", &error))?;
    }
    let name = path.file_name().map_or_else(|| "file".into(), |name| name.to_string_lossy().into_owned());
    let temporary = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let written = (|| {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        stop_point("written", &name);
        fs::rename(&temporary, path)
    })();
    written.map_err(|error| {
        let _ = fs::remove_file(&temporary);
        io_error(path, "cannot write the file", &error)
    })
}

/// The environment variable of the crash tests' hook (`stop_point`).
pub const STOP_AT: &str = "GALEN_TEST_STOP_AT";

/// A test hook, which only `tests/crash.rs` sets: with `GALEN_TEST_STOP_AT=POINT` (or `POINT@N`, the Nth time; the
/// first by default) the process kills itself with SIGKILL when it passes that point, so that the test can check
/// what a crash at that moment leaves behind. The points: `written:FILE` (FILE's temporary file is written and synced, not yet renamed into
/// place: `written:model.safetensors` is mid-checkpoint), `checkpoint` (an epoch's checkpoint is in place), `model`
/// (the final model is in place; the report and the final manifest are not written), `swap` (a `--force` run has
/// moved the earlier run aside and not yet renamed itself into its place). The variable is read once; unset (as in
/// any ordinary run), a point costs a comparison.
pub(crate) fn stop_point(point: &str, file: &str) {
    static TARGET: OnceLock<Option<(String, usize)>> = OnceLock::new();
    static PASSED: AtomicUsize = AtomicUsize::new(0);
    let target = TARGET.get_or_init(|| {
        let value = std::env::var(STOP_AT).ok().filter(|value| !value.is_empty())?;
        Some(match value.rsplit_once('@') {
            Some((name, nth)) if nth.parse::<usize>().is_ok() => (name.to_string(), nth.parse().unwrap_or(1)),
            _ => (value, 1),
        })
    });
    let Some((name, nth)) = target else { return };
    let here = match name.split_once(':') {
        Some((target_point, target_file)) => target_point == point && target_file == file,
        None => name == point && file.is_empty(),
    };
    if here && PASSED.fetch_add(1, Ordering::SeqCst) + 1 == *nth {
        // SIGKILL, as a crash or the OOM killer would end the process: no destructor, no handler, no flush. Without
        // a `kill` command (or should the signal be late), abort: no cleanup either, and the test sees SIGABRT.
        let _ = std::process::Command::new("kill").args(["-9", &std::process::id().to_string()]).status();
        std::thread::sleep(std::time::Duration::from_secs(5));
        std::process::abort();
    }
}

/// The SHA-256 of a file, in lowercase hexadecimal.
pub fn sha256_file(path: &Path) -> Result<String, Diagnostic> {
    let mut file = fs::File::open(path).map_err(|error| io_error(path, "cannot read the file", &error))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer).map_err(|error| io_error(path, "cannot read the file", &error))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex(&hasher.finalize()))
}

/// The SHA-256 of bytes, in lowercase hexadecimal.
pub fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// An error about a file, with the operating system's reason.
pub fn io_error(path: &Path, what: &str, error: &std::io::Error) -> Diagnostic {
    Diagnostic::error("run::io", format!("{what}: {error}")).at_file(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("galen-run-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn sha256_matches_the_standard_vectors() {
        assert_eq!(sha256(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(sha256(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn an_existing_out_is_refused_without_force_and_only_a_run_is_replaced() {
        let dir = temp("force");
        let run = RunDir::create(Some(&dir), false, "x", "").unwrap();
        let manifest = manifest::Manifest {
            galen_version: "0.1.0".into(),
            command: Vec::new(),
            spec: manifest::SpecRecord { path: "a.galen".into(), copy: "a.galen".into(), sha256: String::new() },
            data: Vec::new(),
            seed: 1,
            threads: 1,
            risk_correction: None,
            code_path: manifest::CodePath::detect("interpreter"),
            started: String::new(),
            finished: String::new(),
            status: "completed".into(),
        };
        run.write(MANIFEST, manifest.to_json().unwrap().as_bytes()).unwrap();
        run.write("plots/a.svg", b"<svg/>").unwrap();
        let refused = RunDir::create(Some(&dir), false, "x", "").unwrap_err();
        assert_eq!(refused.code, "run::exists");
        // With --force the new run is written beside the earlier one, which stays whole until the new one is
        // committed (or is kept when the new one is discarded).
        let replacing = RunDir::create(Some(&dir), true, "x", "").unwrap();
        assert_eq!(replacing.final_path(), dir.as_path());
        replacing.write("model.safetensors", b"new").unwrap();
        assert!(dir.join(MANIFEST).exists() && !dir.join("model.safetensors").exists());
        replacing.discard();
        assert!(dir.join(MANIFEST).exists() && dir.join("plots/a.svg").exists());
        let replacing = RunDir::create(Some(&dir), true, "x", "").unwrap();
        replacing.write("model.safetensors", b"new").unwrap();
        replacing.commit().unwrap();
        assert!(!dir.join(MANIFEST).exists() && !dir.join("plots").exists());
        assert_eq!(fs::read(dir.join("model.safetensors")).unwrap(), b"new");
        let siblings: Vec<String> = fs::read_dir(dir.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.contains(".galen-"))
            .collect();
        assert!(siblings.is_empty(), "{siblings:?}");
        // A folder of someone's own files is never emptied, even with a file named like galen's manifest.
        let other = temp("other");
        fs::create_dir_all(&other).unwrap();
        fs::write(other.join("notes.txt"), "mine").unwrap();
        fs::write(other.join(MANIFEST), r#"{"name": "my web app", "version": "1.0"}"#).unwrap();
        assert_eq!(RunDir::create(Some(&other), true, "x", "").unwrap_err().code, "run::not_a_run");
        assert!(other.join("notes.txt").exists());
        let _ = fs::remove_dir_all(&dir);
        let _ = fs::remove_dir_all(&other);
    }

    #[test]
    fn force_replaces_what_a_killed_run_left() {
        // In a folder of its own: the test above checks that nothing is left beside its run in the temporary folder.
        let parent = temp("killed");
        let dir = parent.join("run");
        // Killed mid-way through its first write: only the manifest's temporary file.
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(".manifest.json.tmp-12345"), b"{").unwrap();
        assert_eq!(RunDir::create(Some(&dir), false, "x", "").unwrap_err().code, "run::exists");
        // Beside it, the staging folder of a `--force` run whose process is gone (no process has such an id).
        let stale = dir.with_file_name(format!(".{}.galen-new-999999999", dir.file_name().unwrap().to_string_lossy()));
        fs::create_dir_all(&stale).unwrap();
        let run = RunDir::create(Some(&dir), true, "x", "").unwrap();
        assert!(!stale.exists());
        run.write(MODEL, b"new").unwrap();
        run.commit().unwrap();
        let names: Vec<String> =
            fs::read_dir(&dir).unwrap().map(|entry| entry.unwrap().file_name().to_string_lossy().into()).collect();
        assert_eq!(names, [MODEL]);
        assert!(
            is_temporary(".model.safetensors.tmp-7")
                && !is_temporary(".model.safetensors.tmp-")
                && !is_temporary("a.tmp-1")
        );
        let _ = fs::remove_dir_all(&parent);
    }

    #[test]
    fn default_directories_are_new_and_unique() {
        let parent = temp("unique");
        let first = RunDir::create_unique(&parent, "breast cancer/x", "2026-11-29T14:05:12Z").unwrap();
        let second = RunDir::create_unique(&parent, "breast cancer/x", "2026-11-29T14:05:12Z").unwrap();
        assert_eq!(first.path().file_name().unwrap(), "breast-cancer-x-20261129-140512");
        assert_eq!(second.path().file_name().unwrap(), "breast-cancer-x-20261129-140512-2");
        let _ = fs::remove_dir_all(&parent);
    }

    #[test]
    fn atomic_writes_leave_no_temporary_file() {
        let dir = temp("atomic");
        write_atomic(&dir.join("a.json"), b"one").unwrap();
        write_atomic(&dir.join("a.json"), b"two").unwrap();
        let names: Vec<String> =
            fs::read_dir(&dir).unwrap().map(|entry| entry.unwrap().file_name().to_string_lossy().into()).collect();
        assert_eq!(names, ["a.json"]);
        assert_eq!(fs::read(dir.join("a.json")).unwrap(), b"two");
        let _ = fs::remove_dir_all(&dir);
    }
}
