//! `manifest.json`: what produced a run (galen version, command line, spec and data with their SHA-256, seed,
//! threads, the CPU code path) and when (start and end time, how training ended). The only file of a run with
//! times in it: everything else is the same bytes on a rerun.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{io_error, sha256_file};
use crate::diagnostics::Diagnostic;
use crate::pipeline::resolve;
use crate::spec::ast::{Source, Spec, Split};
use crate::spec::SpecFile;

/// The manifest of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The version of galen that trained the model.
    pub galen_version: String,
    /// The command line, as typed.
    pub command: Vec<String>,
    /// The spec file.
    pub spec: SpecRecord,
    /// Every data file the spec reads, resolved, with its SHA-256 (`galen eval` checks them again).
    pub data: Vec<DataRecord>,
    /// The seed used (the spec's, or `--seed`).
    pub seed: u64,
    /// Worker threads.
    pub threads: usize,
    /// With class weights, what they did to the risks and whether the reported ones are corrected
    /// ([`PriorCorrection::to_json`](crate::metrics::PriorCorrection::to_json)); absent without class weights, and
    /// in runs saved before corrections were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_correction: Option<serde_json::Value>,
    /// The code path that ran the model: the backend and the CPU features it could use.
    pub code_path: CodePath,
    /// When training started (UTC, RFC 3339).
    pub started: String,
    /// When the run ended; empty while it runs.
    pub finished: String,
    /// `running`, `completed`, `stopped early`, `interrupted` or `failed`.
    pub status: String,
}

/// The spec of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpecRecord {
    /// Where it was read from, absolute.
    pub path: PathBuf,
    /// Its copy's name in the run directory.
    pub copy: String,
    /// The SHA-256 of its bytes.
    pub sha256: String,
}

/// One data file (or image folder) of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataRecord {
    /// What the spec uses it for: `source`, `test_file`, `manifest` or `images`.
    pub role: String,
    /// The resolved path, absolute.
    pub path: PathBuf,
    /// The SHA-256 of the file; for an image folder, of the sorted list of its files' paths and SHA-256.
    pub sha256: String,
}

/// The backend and CPU a run used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CodePath {
    /// `jit` (fused kernels compiled by Cranelift, products by GEMM) or `interp` (the reference interpreter).
    pub backend: String,
    /// The CPU architecture.
    pub arch: String,
    /// The vector features the CPU has, of those that matter for numeric code.
    pub cpu_features: Vec<String>,
    /// The CPU code path the JIT ran on (`portable`, `v3`, `v4`; every path gives the same bits); absent for the
    /// interpreter, which has one path, and in runs saved before paths existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_path: Option<String>,
}

impl CodePath {
    /// This machine's code path for `backend`.
    pub fn detect(backend: &str) -> CodePath {
        #[cfg(target_arch = "x86_64")]
        let cpu_features: Vec<String> = {
            let features = [
                ("sse4.2", std::arch::is_x86_feature_detected!("sse4.2")),
                ("avx", std::arch::is_x86_feature_detected!("avx")),
                ("avx2", std::arch::is_x86_feature_detected!("avx2")),
                ("fma", std::arch::is_x86_feature_detected!("fma")),
                ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
                ("avx512bw", std::arch::is_x86_feature_detected!("avx512bw")),
                ("avx512dq", std::arch::is_x86_feature_detected!("avx512dq")),
                ("avx512vl", std::arch::is_x86_feature_detected!("avx512vl")),
            ];
            features.iter().filter(|(_, has)| *has).map(|(name, _)| name.to_string()).collect()
        };
        #[cfg(target_arch = "aarch64")]
        let cpu_features = vec!["neon".to_string()];
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        let cpu_features = Vec::new();
        let cpu_path = (backend == crate::backend::Backend::Jit.name())
            .then(|| crate::backend::cpu::selected().map(|path| path.name().to_string()).ok())
            .flatten();
        CodePath { backend: backend.to_string(), arch: std::env::consts::ARCH.to_string(), cpu_features, cpu_path }
    }
}

impl Manifest {
    /// Reads a manifest.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Manifest, Diagnostic> {
        serde_json::from_slice(bytes).map_err(|error| {
            Diagnostic::error("run::manifest", format!("the run's manifest cannot be read: {error}"))
                .at_file(path)
                .with_help("the run directory is damaged; train again")
        })
    }

    /// The manifest as pretty JSON with a final newline. Serde fails only on a map with non-string keys, which a
    /// manifest has none of; the error is still reported rather than assumed away.
    pub fn to_json(&self) -> Result<String, Diagnostic> {
        let mut text = serde_json::to_string_pretty(self).map_err(|error| {
            Diagnostic::error("run::manifest", format!("the run's manifest cannot be written as JSON: {error}"))
        })?;
        text.push('\n');
        Ok(text)
    }
}

/// The current time, UTC, RFC 3339 to the second.
pub fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// The data files a spec reads, resolved against its folder, with their SHA-256.
pub fn data_records(file: &SpecFile, spec: &Spec) -> Result<Vec<DataRecord>, Diagnostic> {
    let mut records = Vec::new();
    let absolute = |path: PathBuf| std::path::absolute(&path).unwrap_or(path);
    match &spec.data.source.value {
        Source::Csv { path, .. } => {
            let path = resolve(file, &path.value);
            records.push(DataRecord { role: "source".into(), sha256: sha256_file(&path)?, path: absolute(path) });
        }
        Source::Images { dir, manifest, .. } => {
            let dir = resolve(file, &dir.value);
            if let Some(manifest) = manifest {
                let path = resolve(file, &manifest.value);
                records.push(DataRecord { role: "manifest".into(), sha256: sha256_file(&path)?, path: absolute(path) });
            }
            records.push(DataRecord { role: "images".into(), sha256: sha256_folder(&dir)?, path: absolute(dir) });
        }
    }
    if let Split::TestFile { path, .. } = &spec.data.split.value {
        let path = resolve(file, &path.value);
        records.push(DataRecord { role: "test_file".into(), sha256: sha256_file(&path)?, path: absolute(path) });
    }
    Ok(records)
}

/// The SHA-256 of an image folder: of the lines `RELATIVE-PATH SHA-256` of every image file under it (PNG or
/// JPEG, what training reads), sorted by path; other files (a README, `.DS_Store`) and symbolic links to folders
/// are not followed.
pub fn sha256_folder(dir: &Path) -> Result<String, Diagnostic> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let entries =
            std::fs::read_dir(&folder).map_err(|error| io_error(&folder, "cannot read the folder", &error))?;
        for entry in entries {
            let entry = entry.map_err(|error| io_error(&folder, "cannot read the folder", &error))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|error| io_error(&path, "cannot read the folder", &error))?;
            if kind.is_dir() {
                pending.push(path);
            } else if crate::data::images::is_image_file(&path) {
                files.push(path);
            }
        }
    }
    let mut lines: Vec<String> = Vec::with_capacity(files.len());
    for path in &files {
        let relative = path.strip_prefix(dir).unwrap_or(path).to_string_lossy().replace('\\', "/");
        lines.push(format!("{relative} {}\n", sha256_file(path)?));
    }
    lines.sort();
    Ok(super::sha256(lines.concat().as_bytes()))
}
