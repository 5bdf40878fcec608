//! The data stage: reading data files into a schema (and, later, tensors).

pub mod schema;
