//! Helpers the integration tests that run the `galen` binary share: running it, reading its output, and finding a
//! phrase in an error report whatever its line wrapping.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `galen` binary with `arguments`.
pub fn galen(arguments: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_galen")).args(arguments).output().expect("galen runs")
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether a command's error output says `phrase`. Errors are wrapped to the report width, and where a line breaks
/// depends on the length of the paths in it, so spaces, line breaks and the `|` gutter are ignored.
pub fn says(stderr: &[u8], phrase: &str) -> bool {
    let squeeze = |text: &str| text.chars().filter(|c| !c.is_whitespace() && *c != '|').collect::<String>();
    squeeze(&text(stderr)).contains(&squeeze(phrase))
}

/// An empty scratch folder `PREFIX-NAME` under the test target's temporary folder.
pub fn fresh_dir(prefix: &str, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{prefix}-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}
