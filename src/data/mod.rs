//! The data stage: reading data files once into a [`Table`] and inferring the [`Schema`] the checker reads.
//!
//! `csv_table` reads a CSV file into compact column-wise storage (with byte-level helpers in `csv_bytes`),
//! `schema` infers each column's kind and summary, and `images` scans an image folder or a manifest without
//! decoding any image.

pub mod batches;
mod csv_bytes;
pub mod csv_table;
pub mod dataset;
pub mod images;
pub mod impute;
pub mod schema;
pub mod split;
pub mod transform;

pub use csv_table::{is_missing, read_csv, read_csv_bytes, Column, CsvOptions, Table};
pub use images::{read_manifest, scan_image_folder, ImageClass, ImageFolder, Manifest};
pub use schema::{infer_schema, ColumnInfo, IdReason, NumericSummary, Schema};
