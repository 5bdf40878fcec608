//! Fallible allocations and byte counts: the buffers whose size a spec decides (the data matrix, the initial
//! weights, a reservation of a run's whole estimate) are asked of the allocator with `try_reserve`, so that a refusal
//! is an error galen reports rather than an abort; and sizes are written as people read them.
//!
//! It sits below everything that allocates or prints a size (`check`, `lowering`, `data`, `memory`), which is why it
//! is not part of [`crate::memory`], the estimate, which needs the checker and the compiler.

use std::fmt;

use crate::diagnostics::Diagnostic;

/// The environment variable that sets the memory limit, for machines whose figure galen cannot read and for tests.
pub const LIMIT_VARIABLE: &str = "GALEN_MEMORY_LIMIT";

/// The allocator refused a buffer: galen ends with exit 1 and says so, rather than aborting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllocationError {
    /// The bytes asked for.
    pub bytes: u64,
    /// What they were for, in words (`the data matrix`).
    pub what: String,
}

impl AllocationError {
    /// The error a user sees.
    pub fn diagnostic(&self) -> Diagnostic {
        Diagnostic::error(
            "memory::allocation_failed",
            format!("the system refused {} of memory for {}", format_bytes(self.bytes), self.what),
        )
        .with_help(format!(
            "free memory (close other programs), or make the model or the batch smaller; `galen check` prints the \
             estimate, and {LIMIT_VARIABLE} sets the limit it is held to"
        ))
    }
}

impl fmt::Display for AllocationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the system refused {} of memory for {}", format_bytes(self.bytes), self.what)
    }
}

/// `len` default values (zeros), or an error when the allocator refuses the buffer (`Vec::try_reserve_exact`).
pub fn try_zeroed<T: Clone + Default>(len: usize, what: &str) -> Result<Vec<T>, AllocationError> {
    let mut values = Vec::new();
    let bytes = (len as u64).saturating_mul(std::mem::size_of::<T>() as u64);
    values.try_reserve_exact(len).map_err(|_| AllocationError { bytes, what: what.to_string() })?;
    values.resize(len, T::default());
    Ok(values)
}

/// Asks the allocator for `bytes` at once and gives them back untouched: a run whose whole estimate the system
/// refuses stops here, before it writes anything, rather than aborting later.
pub fn reserve(bytes: u64, what: &str) -> Result<(), AllocationError> {
    let refused = || AllocationError { bytes, what: what.to_string() };
    let len = usize::try_from(bytes).map_err(|_| refused())?;
    Vec::<u8>::new().try_reserve_exact(len).map_err(|_| refused())
}

/// Bytes as people read them: `512 B`, `1.5 KiB`, `12.0 GiB`.
pub fn format_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    format_bytes_f64(bytes as f64)
}

/// Bytes given as a float (a count that overflows 64 bits), as [`format_bytes`] writes them.
pub fn format_bytes_f64(bytes: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else if value >= 1024.0 {
        format!("{:.1e} {}", value, UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_as_people_read_them() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(1023), "1023 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(12_000_000_000_000), "10.9 TiB");
        assert_eq!(format_bytes(u64::MAX), "16.0 EiB");
        assert_eq!(format_bytes_f64(4e22), "33.9 ZiB");
        assert_eq!(format_bytes_f64(1e40), "8.3e15 YiB");
    }
}
