//! galen turns a declarative model spec, written by a domain expert, into a checked, trained, evaluated model.
//!
//! The pipeline reads top to bottom: [`spec`] turns source text (the `.galen` DSL or YAML) into an AST,
//! [`data`] reads the data files into a schema, [`check`] verifies names, values and shapes against it, and
//! [`data::dataset`] splits the rows, fits the transform on the training rows and makes tensors. [`pipeline`]
//! runs the stages in order for one file; [`cli`] is the command line.
//!
//! ```
//! use std::path::PathBuf;
//! use galen::pipeline::check_spec;
//! use galen::spec::{Form, SpecFile};
//!
//! // Paths inside a spec are relative to the spec file, here `specs/`.
//! let text = r#"
//! experiment "breast-cancer"
//! data {
//!   source "data/breast_cancer.csv"
//!   target diagnosis
//!   split train=0.7 val=0.1 test=0.2 stratify
//! }
//! model {
//!   dense 16 relu
//!   dense 3 softmax
//! }
//! train {
//!   loss categorical_crossentropy
//!   epochs 10
//! }
//! "#;
//! let file = SpecFile { path: PathBuf::from("specs/example.galen"), text: text.to_string(), form: Form::Dsl };
//! let outcome = check_spec(file);
//! // The last layer has 3 units but the target has 2 classes: the checker says so, with a fix.
//! let mistake = &outcome.diagnostics.items[0];
//! assert_eq!(mistake.code, "shape::mismatch");
//! assert!(mistake.message.contains("2 classes but the last layer has 3 units"));
//! assert!(outcome.checked.is_none());
//! ```

// A `Diagnostic` is a few hundred bytes and is returned on error paths only, where its size costs nothing worth
// boxing every error for.
#![allow(clippy::result_large_err)]

pub mod allocation;
pub mod backend;
pub mod check;
pub mod cli;
pub mod compile;
pub mod data;
pub mod diagnostics;
pub mod interpreter;
pub mod ir;
pub mod lowering;
pub mod memory;
pub mod metrics;
pub mod passes;
pub mod pipeline;
pub mod plots;
pub mod rng;
pub mod run;
pub mod runtime;
pub mod spec;
pub mod synth;
#[cfg(test)]
pub(crate) mod testing;
