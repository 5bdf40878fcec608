//! The compiled backend: fusion of the IR into kernels ([`plan`]), Cranelift code generation for them
//! ([`codegen`], the one module that uses Cranelift), GEMM for contractions ([`gemm`]), and the executor that runs
//! a compiled graph ([`exec`]). [`verify`] checks a plan against what the executor assumes, and [`memory`] says how
//! many bytes a plan needs at its peak. The reference interpreter ([`crate::interpreter`]) stays the oracle
//! and is reachable with `--backend interp`.

pub mod codegen;
pub mod cpu;
pub mod exec;
pub mod gemm;
pub mod kernel;
pub mod memory;
pub mod plan;
pub mod reference;
#[cfg(test)]
pub(crate) mod tests;
pub mod verify;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::interpreter::{run, Tensor};
use crate::ir::Graph;

pub use exec::{Program, StepTime};
pub use verify::{verify_plan, PlanError, PlanErrorKind, PlanErrors};

/// Whether compiled programs record the time of each step (`galen bench --profile`).
static PROFILING: AtomicBool = AtomicBool::new(false);

/// Turns step timing on or off for every compiled program of the process.
pub fn set_profiling(on: bool) {
    PROFILING.store(on, Ordering::Relaxed);
}

fn profiling() -> bool {
    PROFILING.load(Ordering::Relaxed)
}

/// Which backend runs a model's graphs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// Fused kernels compiled to native code by Cranelift, contractions by GEMM (the default).
    #[default]
    Jit,
    /// The reference interpreter: slow, simple, the oracle.
    Interpreter,
}

impl Backend {
    /// The name written in the manifest and accepted by `--backend` (`jit`, `interp`).
    pub fn name(self) -> &'static str {
        match self {
            Backend::Jit => "jit",
            Backend::Interpreter => "interp",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A graph ready to run on a backend.
pub enum Executable {
    /// Run op by op by the interpreter.
    Interpreter(Graph),
    /// Compiled.
    Jit(Box<Program>),
}

impl Executable {
    /// Runs the graph on named inputs (names it does not take are ignored) and returns its outputs by name.
    /// Panics on a missing or mistyped input: the runtime builds the inputs from the graph itself.
    pub fn run(&self, inputs: &BTreeMap<String, Tensor>) -> BTreeMap<String, Tensor> {
        match self {
            Executable::Interpreter(graph) => {
                run(graph, inputs).unwrap_or_else(|error| panic!("the graph `{}` failed: {error}", graph.name))
            }
            Executable::Jit(program) => program.run(inputs),
        }
    }

    /// Where the compiled program's time went (see [`Program::profile`]); nothing on the interpreter.
    pub fn profile(&self) -> Vec<StepTime> {
        match self {
            Executable::Interpreter(_) => Vec::new(),
            Executable::Jit(program) => program.profile(),
        }
    }

    /// The graph.
    pub fn graph(&self) -> &Graph {
        match self {
            Executable::Interpreter(graph) => graph,
            Executable::Jit(program) => &program.plan().graph,
        }
    }
}
