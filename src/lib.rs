//! galen turns a declarative model spec, written by a domain expert, into a checked, trained, evaluated model.
//!
//! The pipeline reads top to bottom: [`spec`] turns source text (the `.galen` DSL or YAML) into an AST,
//! [`data`] reads the data files into a schema, and [`check`] verifies names, values and shapes against it.
//! [`pipeline`] runs them in order for one file.

pub mod check;
pub mod cli;
pub mod data;
pub mod diagnostics;
pub mod pipeline;
pub mod rng;
pub mod spec;
pub mod synth;
