//! The compiled backend: fusion of the IR into kernels, Cranelift code generation for them, GEMM for contractions,
//! and the executor that runs a compiled graph. The reference interpreter ([`crate::runtime::interpreter`]) stays the
//! oracle.

pub mod codegen;
pub mod kernel;
pub mod reference;
