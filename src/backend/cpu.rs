//! The CPU code paths: which instructions the compiled backend may use (the GEMM's micro-kernels and the ISA flags
//! Cranelift compiles the fused kernels for), how a path is chosen (the best the CPU has, or forced with
//! `GALEN_CPU` or `--cpu`), and what each path promises: the same bits as every other path.
//!
//! Every path computes every sum in the same order and rounds every fused multiply-add once, so a path changes
//! speed only, never a result. The paths exist so that each can be forced and tested against the others.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

/// The environment variable that forces a path (`portable`, `v3` or `v4`).
pub const ENVIRONMENT_VARIABLE: &str = "GALEN_CPU";

/// A code path: the instruction set the compiled backend uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CpuPath {
    /// No vector extension beyond the architecture's baseline: the GEMM uses `f32::mul_add` one element at a time
    /// and fused kernels call the C library's correctly rounded `fmaf` for every fused multiply-add (on x86-64,
    /// whatever the CPU has). For correctness on any CPU; slow on x86-64. The only path on aarch64 for now (NEON
    /// kernels are not written: no aarch64 machine can test them here).
    Portable,
    /// x86-64-v3: AVX2 and FMA (Intel Haswell, AMD Zen and later).
    V3,
    /// x86-64-v4: AVX-512 F, BW, CD, DQ and VL (Intel Skylake-SP, AMD Zen 4 and later).
    V4,
}

/// Every path, from the most portable.
pub const ALL_PATHS: [CpuPath; 3] = [CpuPath::Portable, CpuPath::V3, CpuPath::V4];

/// Why a path cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CpuPathError {
    /// The name is not a path.
    Unknown {
        /// The name given.
        name: String,
        /// Where it came from (`GALEN_CPU` or `--cpu`).
        origin: String,
    },
    /// The CPU lacks instructions the path needs.
    Unsupported {
        /// The path asked for.
        path: CpuPath,
        /// Where it came from (`GALEN_CPU` or `--cpu`).
        origin: String,
    },
}

impl fmt::Display for CpuPathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = ALL_PATHS.iter().map(|path| path.name()).collect();
        match self {
            CpuPathError::Unknown { name, origin } => {
                write!(f, "{origin} names an unknown CPU code path `{name}`; the paths are {}", names.join(", "))
            }
            CpuPathError::Unsupported { path, origin } => {
                let available: Vec<&str> = available().iter().map(|path| path.name()).collect();
                write!(
                    f,
                    "{origin} asks for the {} code path ({}), but this CPU ({}) lacks it; it can run {}",
                    path.name(),
                    path.description(),
                    std::env::consts::ARCH,
                    available.join(", ")
                )
            }
        }
    }
}

impl std::error::Error for CpuPathError {}

impl CpuPath {
    /// The name used by `GALEN_CPU`, `--cpu` and the manifest.
    pub fn name(self) -> &'static str {
        match self {
            CpuPath::Portable => "portable",
            CpuPath::V3 => "v3",
            CpuPath::V4 => "v4",
        }
    }

    /// What the path uses, in words.
    pub fn description(self) -> &'static str {
        match self {
            CpuPath::Portable => "no vector extension, fused multiply-adds by the C library's fmaf",
            CpuPath::V3 => "x86-64-v3: AVX2 and FMA",
            CpuPath::V4 => "x86-64-v4: AVX-512",
        }
    }

    /// The path named `name`.
    pub fn from_name(name: &str) -> Option<CpuPath> {
        ALL_PATHS.into_iter().find(|path| path.name() == name)
    }

    /// Whether this CPU (and its operating system) can run the path.
    pub fn is_supported(self) -> bool {
        match self {
            CpuPath::Portable => true,
            CpuPath::V3 => has_v3(),
            CpuPath::V4 => has_v3() && has_v4(),
        }
    }
}

impl fmt::Display for CpuPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(target_arch = "x86_64")]
fn has_v3() -> bool {
    use std::arch::is_x86_feature_detected as has;
    has!("sse3")
        && has!("ssse3")
        && has!("sse4.1")
        && has!("cmpxchg16b")
        && has!("avx")
        && has!("avx2")
        && has!("fma")
        && has!("bmi1")
        && has!("bmi2")
        && has!("lzcnt")
        && has!("popcnt")
        && has!("sse4.2")
}

#[cfg(target_arch = "x86_64")]
fn has_v4() -> bool {
    use std::arch::is_x86_feature_detected as has;
    has!("avx512f") && has!("avx512bw") && has!("avx512cd") && has!("avx512dq") && has!("avx512vl")
}

#[cfg(not(target_arch = "x86_64"))]
fn has_v3() -> bool {
    false
}

#[cfg(not(target_arch = "x86_64"))]
fn has_v4() -> bool {
    false
}

/// The paths this CPU can run, from the most portable.
pub fn available() -> Vec<CpuPath> {
    ALL_PATHS.into_iter().filter(|path| path.is_supported()).collect()
}

/// The fastest path this CPU can run.
pub fn best() -> CpuPath {
    *available().last().unwrap_or(&CpuPath::Portable)
}

/// The path forced for the whole process (by `--cpu`), as `1 + index` into [`ALL_PATHS`]; 0 when none is.
static FORCED: AtomicU8 = AtomicU8::new(0);

/// Forces `path` for every program compiled from now on in this process (`--cpu`), once checked that the CPU runs
/// it; `origin` names the source in the error.
pub fn force(path: CpuPath, origin: &str) -> Result<(), CpuPathError> {
    if !path.is_supported() {
        return Err(CpuPathError::Unsupported { path, origin: origin.to_string() });
    }
    let index = ALL_PATHS.iter().position(|&candidate| candidate == path).unwrap_or(0);
    FORCED.store(index as u8 + 1, Ordering::Relaxed);
    Ok(())
}

/// The path programs are compiled for: the one forced by [`force`], else the one `GALEN_CPU` names, else the best
/// the CPU has. A `GALEN_CPU` that names no path, or one the CPU lacks, is an error.
pub fn selected() -> Result<CpuPath, CpuPathError> {
    match FORCED.load(Ordering::Relaxed) {
        0 => {}
        index => return Ok(ALL_PATHS[usize::from(index - 1)]),
    }
    let Ok(name) = std::env::var(ENVIRONMENT_VARIABLE) else { return Ok(best()) };
    let origin = ENVIRONMENT_VARIABLE.to_string();
    let name = name.trim();
    if name.is_empty() {
        return Ok(best());
    }
    let path = CpuPath::from_name(name).ok_or_else(|| CpuPathError::Unknown { name: name.to_string(), origin })?;
    if !path.is_supported() {
        return Err(CpuPathError::Unsupported { path, origin: ENVIRONMENT_VARIABLE.to_string() });
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_the_portable_path_runs_everywhere() {
        for path in ALL_PATHS {
            assert_eq!(CpuPath::from_name(path.name()), Some(path));
        }
        assert_eq!(CpuPath::from_name("avx2"), None);
        assert!(CpuPath::Portable.is_supported());
        assert_eq!(available().first(), Some(&CpuPath::Portable));
        assert_eq!(best(), *available().last().expect("portable at least"));
        // v4 needs v3's instructions as well.
        assert!(!CpuPath::V4.is_supported() || CpuPath::V3.is_supported());
    }

    #[test]
    fn errors_name_the_origin_and_what_the_cpu_can_run() {
        let unknown = CpuPathError::Unknown { name: "avx9".to_string(), origin: "GALEN_CPU".to_string() };
        assert_eq!(
            unknown.to_string(),
            "GALEN_CPU names an unknown CPU code path `avx9`; the paths are portable, v3, v4"
        );
        let unsupported = CpuPathError::Unsupported { path: CpuPath::V4, origin: "--cpu".to_string() };
        let text = unsupported.to_string();
        assert!(text.starts_with("--cpu asks for the v4 code path (x86-64-v4: AVX-512), but this CPU"), "{text}");
        assert!(text.ends_with(&available().iter().map(|path| path.name()).collect::<Vec<_>>().join(", ")), "{text}");
    }
}
