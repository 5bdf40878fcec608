//! The data stage: data files in, tensors out, in DESIGN.md's order.
//!
//! `csv_read` reads a CSV file once into a [`Table`] (`table`, with byte-level helpers in `csv_bytes`): columns
//! of text, or of numbers streamed straight into one f32 matrix; `cells` reads one cell (missing, number, label,
//! date) for everyone; `schema` infers each column's kind and summary for the checker, and `images` scans and
//! decodes image folders and manifests. After checking, `dataset` takes the check's split (`split`), fits the
//! `transform` (imputation in `impute`, scaling, encoding) on the training rows only and applies it to every
//! split, in the table's matrix itself when training; each split's [`Inputs`] are rows of that matrix, and
//! `batches` cuts the training rows into seeded mini-batches.

pub mod apply;
pub mod batches;
pub mod cells;
mod csv_bytes;
pub mod csv_read;
pub mod dataset;
pub mod images;
pub mod impute;
pub mod inputs;
pub mod schema;
pub mod split;
pub mod table;
pub mod transform;

use std::path::{Path, PathBuf};

pub use apply::{RowFlags, FLAG_COLUMNS};
pub use cells::is_missing;
pub use csv_read::{read_csv, read_csv_bytes, read_table, read_table_bytes, CsvOptions, Layout};
pub use images::{read_manifest, scan_image_folder, ImageClass, ImageFolder, Manifest};
pub use inputs::Inputs;
pub use schema::{infer_schema, ColumnInfo, IdReason, NumericSummary, Schema};
pub use table::{Column, Matrix, ModelNumbers, Table};

use crate::spec::SpecFile;

/// The data of a spec as read for checking, kept so that training reads each file once.
#[derive(Debug)]
pub enum LoadedData {
    /// A CSV file and its schema.
    Table(Table, Schema),
    /// A manifest CSV (its schema) listing image files.
    Manifest(Manifest, Schema),
    /// An image folder with a sub-folder per class.
    Folder(ImageFolder),
    /// Nothing could be read (or the spec was too broken to say what to read).
    Unavailable,
}

/// Resolves a path written in a spec against the spec's folder, with `.` and `..` worked out so that messages
/// show the path a user would type (`specs/data/x.csv`, not `specs/../specs/data/x.csv`).
pub fn resolve(file: &SpecFile, written: &str) -> PathBuf {
    let written = Path::new(written);
    let joined = if written.is_absolute() { written.to_path_buf() } else { file.dir().join(written) };
    normalize(&joined)
}

/// Removes `.` and resolves `..` lexically (without touching the file system); a leading `..` is kept.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut parts: Vec<Component> = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if matches!(parts.last(), Some(Component::Normal(_))) => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return PathBuf::from(".");
    }
    parts.iter().collect()
}
