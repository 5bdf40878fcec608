//! The data stage: data files in, tensors out, in DESIGN.md's order.
//!
//! `csv_table` reads a CSV file once into compact column-wise storage (with byte-level helpers in `csv_bytes`),
//! `schema` infers each column's kind and summary for the checker, and `images` scans and decodes image folders
//! and manifests. After checking, `dataset` drops unusable rows, plans the split (`split`), fits the `transform`
//! (imputation in `impute`, scaling, encoding) on the training rows only and applies it to every split; `batches`
//! cuts the training rows into seeded mini-batches.

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
