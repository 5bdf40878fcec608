//! The compilation, in one place: a checked model's graph of one kind and batch size, from lowering to native code,
//! as one list of named stages, each followed by its verifier when verification is on.
//!
//! ```text
//! lower            the layers (and the loss) as IR                     lowering::Model
//! verify           the graph is a sound model graph                    ir::verify, Stage::Model
//! autodiff         the loss's gradients (train step only)              passes::autodiff
//! optimizer update clipping and the optimizer's update (train step)    lowering::Model::update
//! verify           the graph is a sound step graph                     ir::verify, Stage::Step
//! clean-up passes  fold, simplify, join_pads, cse, dce                 passes::optimize (verified after each)
//! plan             fusion into kernels, GEMMs, scans, buffer frees     backend::plan
//! verify the plan  buffers written before read, freed after, shapes    backend::verify
//! codegen          Cranelift, for the selected CPU path                backend::exec::Program
//! ```
//!
//! `train`, `eval`, `predict`, `bench`, `galen compile` and the memory estimate all compile through [`compile`];
//! nothing else assembles these stages. [`Settings::verify`] is the one switch for every verifier: on in debug
//! builds and tests, and when `GALEN_VERIFY=1`; a verifier's failure is a bug of galen and panics with the broken
//! IR or plan.

use std::fmt;

use crate::backend::cpu::{self, CpuPath};
use crate::backend::plan::Plan;
use crate::backend::{Backend, Executable, Program};
use crate::ir::verify::{verify, Stage};
use crate::ir::Graph;
use crate::lowering::Model;
use crate::passes::autodiff::gradients;

/// The environment variable that turns every verifier on in a release build (`GALEN_VERIFY=1`).
pub const VERIFY_VARIABLE: &str = "GALEN_VERIFY";

/// Which graph of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GraphKind {
    /// The layers in training mode and the loss (what autodiff differentiates), for `galen compile --emit ir`.
    Forward,
    /// Forward, gradients, clipping and the optimizer's update: one training step.
    TrainStep,
    /// The layers in inference mode and the loss, for validation and test splits.
    Evaluate,
    /// The layers in inference mode, ending in probabilities or numbers.
    Predict,
}

impl GraphKind {
    /// The graph's name in messages.
    pub fn name(self) -> &'static str {
        match self {
            GraphKind::Forward => "forward",
            GraphKind::TrainStep => "train step",
            GraphKind::Evaluate => "evaluate",
            GraphKind::Predict => "predict",
        }
    }
}

impl fmt::Display for GraphKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How far to compile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// The IR as lowered (with autodiff and the update for a train step), before the clean-up passes.
    Lowered,
    /// The IR after the clean-up passes: what the interpreter runs.
    Optimized,
    /// The kernel plan.
    Planned,
    /// Ready to run on a backend.
    Runnable(Backend),
}

/// The settings every compilation shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Run the verifier after every stage (the IR verifier after each pass, the plan verifier after planning).
    pub verify: bool,
    /// The CPU code path the JIT compiles for (every path gives the same bits).
    pub cpu: CpuPath,
}

impl Settings {
    /// Verification on in debug builds (tests included) and when `GALEN_VERIFY=1`; the CPU path selected for the
    /// process (`--cpu`, `GALEN_CPU`, or the best the CPU has; the command line has already refused a wrong one).
    pub fn from_environment() -> Settings {
        let asked = std::env::var(VERIFY_VARIABLE).is_ok_and(|value| value.trim() == "1");
        Settings { verify: cfg!(debug_assertions) || asked, cpu: cpu::selected().unwrap_or_else(|_| cpu::best()) }
    }

    /// Every verifier on, whatever the build (tests and fuzzing), on the selected CPU path.
    pub fn verified() -> Settings {
        Settings { verify: true, ..Settings::from_environment() }
    }

    /// The same settings on another CPU path, which this CPU must support.
    pub fn on(self, cpu: CpuPath) -> Settings {
        Settings { cpu, ..self }
    }
}

/// What a compilation gives, by how far it went.
pub enum Compiled {
    /// An IR graph ([`Until::Lowered`], [`Until::Optimized`]).
    Graph(Graph),
    /// A kernel plan ([`Until::Planned`]).
    Plan(Box<Plan>),
    /// A runnable graph ([`Until::Runnable`]), with the reason the JIT fell back to the interpreter, if it did.
    Runnable(Executable, Option<String>),
}

/// Compiles `model`'s graph of `kind` for batches of `batch` rows, `until` the stage asked for: the stages in
/// order, each followed by its verifier when `settings.verify` is on.
pub fn compile(model: &Model, kind: GraphKind, batch: usize, until: Until, settings: Settings) -> Compiled {
    // Lower, then verify: the layers (and the loss) as a model graph.
    let graph = match kind {
        GraphKind::Forward => model.forward(batch),
        GraphKind::Evaluate => model.evaluate(batch),
        GraphKind::Predict => model.predict(batch),
        GraphKind::TrainStep => {
            let mut forward = model.train_forward(batch);
            verified(forward.builder.graph(), Stage::Model, "after lowering", settings);
            // Autodiff: the loss's gradient with respect to every trainable parameter.
            let grads = gradients(&mut forward.builder, forward.loss, &forward.params.clone());
            // The optimizer's update: clipping, then the update of every variable.
            model.update(forward, &grads)
        }
    };
    let stage = if kind == GraphKind::TrainStep { Stage::Step } else { Stage::Model };
    verified(&graph, stage, "after lowering", settings);
    if until == Until::Lowered {
        return Compiled::Graph(graph);
    }
    // The clean-up passes, each followed by the verifier.
    let graph = crate::passes::optimize(graph, settings.verify);
    if until == Until::Optimized {
        return Compiled::Graph(graph);
    }
    backend_stages(graph, until, settings)
}

/// The backend's stages of [`compile`], for an optimized graph (also a graph that no model lowered: the random
/// graphs of the tests): the interpreter takes it as it is; for the JIT, plan, verify the plan, codegen.
pub fn backend_stages(graph: Graph, until: Until, settings: Settings) -> Compiled {
    if until == Until::Runnable(Backend::Interpreter) {
        return Compiled::Runnable(Executable::Interpreter(graph), None);
    }
    // Plan, then verify the plan.
    let plan = crate::backend::plan::plan(&graph);
    if settings.verify {
        if let Err(errors) = crate::backend::verify_plan(&plan) {
            panic!("the kernel plan is broken, a bug:\n{errors}");
        }
    }
    if until == Until::Planned {
        return Compiled::Plan(Box::new(plan));
    }
    // Codegen, for the settings' CPU path; a graph Cranelift cannot compile runs on the interpreter instead.
    match Program::from_plan(plan, settings.cpu) {
        Ok(program) => Compiled::Runnable(Executable::Jit(Box::new(program)), None),
        Err(error) => {
            let reason =
                format!("the JIT could not compile the `{}` graph ({error}); it runs on the interpreter", graph.name);
            Compiled::Runnable(Executable::Interpreter(graph), Some(reason))
        }
    }
}

/// The IR of `model`'s graph of `kind`, after the clean-up passes (`Until::Optimized`).
pub fn optimized(model: &Model, kind: GraphKind, batch: usize, settings: Settings) -> Graph {
    match compile(model, kind, batch, Until::Optimized, settings) {
        Compiled::Graph(graph) => graph,
        _ => unreachable!("compiling until the clean-up passes gives a graph"),
    }
}

/// The IR of `model`'s graph of `kind` as lowered, before the clean-up passes (`Until::Lowered`).
pub fn lowered(model: &Model, kind: GraphKind, batch: usize, settings: Settings) -> Graph {
    match compile(model, kind, batch, Until::Lowered, settings) {
        Compiled::Graph(graph) => graph,
        _ => unreachable!("compiling until lowering gives a graph"),
    }
}

/// The kernel plan of `model`'s graph of `kind` (`Until::Planned`).
pub fn planned(model: &Model, kind: GraphKind, batch: usize, settings: Settings) -> Plan {
    match compile(model, kind, batch, Until::Planned, settings) {
        Compiled::Plan(plan) => *plan,
        _ => unreachable!("compiling until the plan gives a plan"),
    }
}

/// `model`'s graph of `kind`, ready to run on `backend`, with the reason the JIT fell back to the interpreter.
pub fn runnable(
    model: &Model,
    kind: GraphKind,
    batch: usize,
    backend: Backend,
    settings: Settings,
) -> (Executable, Option<String>) {
    match compile(model, kind, batch, Until::Runnable(backend), settings) {
        Compiled::Runnable(executable, warning) => (executable, warning),
        _ => unreachable!("compiling until runnable gives an executable"),
    }
}

/// Panics with the verifier's errors when `settings.verify` is on and `graph` breaks the rules of `stage`.
fn verified(graph: &Graph, stage: Stage, when: &str, settings: Settings) {
    if settings.verify {
        if let Err(errors) = verify(graph, stage) {
            panic!("the IR is broken {when}, a bug:\n{errors}");
        }
    }
}
