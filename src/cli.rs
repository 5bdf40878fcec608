//! The command line: `galen check`, `galen compile`, `galen train`, `galen eval`, `galen predict`, `galen convert`,
//! `galen schema`, the `galen synth` data tool and the `galen bench` timer.
//!
//! Exit codes: 0 when all is well, 1 when the user's input (spec or data) is wrong, 2 for a usage mistake
//! (clap reports those). Diagnostics go to standard error, results to standard output.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand, ValueEnum};

use crate::backend::cpu::CpuPath;
use crate::backend::Backend;
use crate::compile::GraphKind;
use crate::diagnostics::{render, Diagnostic, Diagnostics};
use crate::pipeline;
use crate::spec::{convert, Form, SpecFile};

/// galen: from a model spec to a checked, trained, reproducible model.
#[derive(Debug, Parser)]
#[command(name = "galen", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a spec and its data; print the model and data summary or every problem found.
    Check {
        /// The spec file (`.galen`, `.yaml` or `.yml`).
        spec: PathBuf,
    },
    /// Print what a spec compiles to: the parsed spec, or the IR of its forward, train-step and predict graphs.
    Compile {
        /// The spec file.
        spec: PathBuf,
        /// What to print.
        #[arg(long, value_enum, default_value = "ir")]
        emit: EmitArg,
        /// The batch size of the graphs (default: the spec's `batch_size`).
        #[arg(long)]
        batch: Option<usize>,
    },
    /// Train a spec's model, evaluate it, and write a run directory (model, preprocessing, metrics, plots).
    Train {
        /// The spec file.
        spec: PathBuf,
        /// The run directory to write (default: a new folder under `runs/`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace the earlier galen run in `--out` (swapped in once the new run has a model; kept if it fails).
        #[arg(long)]
        force: bool,
        /// Worker threads (default: the machine's cores). Results are the same bits for any count.
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
        threads: Option<u16>,
        /// A seed replacing the spec's (split, initial weights, shuffling, dropout, bootstrap).
        #[arg(long)]
        seed: Option<u64>,
        /// Print only the run directory on standard output, and only errors on standard error (no progress, no
        /// summary, no warnings): for scripts, `RUN=$(galen train SPEC -q)`.
        #[arg(long, short)]
        quiet: bool,
        /// What runs the model: the JIT, or the reference interpreter (slow; the oracle).
        #[arg(long, value_enum, default_value = "jit")]
        backend: BackendArg,
        /// The CPU code path (default: `GALEN_CPU`, else the best this CPU has). Every path gives the same bits.
        #[arg(long, value_enum)]
        cpu: Option<CpuArg>,
    },
    /// Time a spec's training stage by stage (load, compile, each epoch, evaluation) without writing a run directory.
    Bench {
        /// The spec file.
        spec: PathBuf,
        /// Epochs to train (default: the spec's). Early stopping is off, so that every epoch runs.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        epochs: Option<u32>,
        /// Worker threads (default: the machine's cores).
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
        threads: Option<u16>,
        /// A seed replacing the spec's.
        #[arg(long)]
        seed: Option<u64>,
        /// Print one JSON object instead of labelled lines.
        #[arg(long)]
        json: bool,
        /// What runs the model: the JIT, or the reference interpreter (slow; the oracle).
        #[arg(long, value_enum, default_value = "jit")]
        backend: BackendArg,
        /// Time every step of the train step (each kernel, matrix product and interpreter op) and print the
        /// slowest, with their share of the time (JIT only; timing adds a little overhead).
        #[arg(long)]
        profile: bool,
        /// The CPU code path (default: `GALEN_CPU`, else the best this CPU has). Every path gives the same bits.
        #[arg(long, value_enum)]
        cpu: Option<CpuArg>,
    },
    /// Score a trained run again: on its own data (checked unchanged by SHA-256), or on another labelled CSV.
    Eval {
        /// The run directory `galen train` wrote.
        run: PathBuf,
        /// A labelled CSV to evaluate on instead of the run's own test split.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Write the metrics, each split's predictions with their row flags, and the plots to this folder.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Columns of the data to copy into the predictions (identifiers), comma-separated.
        #[arg(long, value_delimiter = ',')]
        keep: Vec<String>,
        /// Refuse to evaluate when a row is flagged (a filled cell, an unseen category, a number out of the
        /// training range): exit 1 naming the rows, and write nothing.
        #[arg(long)]
        strict: bool,
        /// What runs the model: the JIT, or the reference interpreter (slow; the oracle).
        #[arg(long, value_enum, default_value = "jit")]
        backend: BackendArg,
        /// The CPU code path (default: `GALEN_CPU`, else the best this CPU has). Every path gives the same bits.
        #[arg(long, value_enum)]
        cpu: Option<CpuArg>,
    },
    /// Predict new rows with a trained run: P(positive) (or a probability per class) and the predicted class.
    Predict {
        /// The run directory `galen train` wrote.
        run: PathBuf,
        /// The rows to predict (a CSV with the training file's columns; the target may be absent).
        #[arg(long)]
        input: PathBuf,
        /// Write the predictions to this file (default: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Columns of the input to copy into the output (identifiers), comma-separated.
        #[arg(long, value_delimiter = ',')]
        keep: Vec<String>,
        /// Refuse to predict when a row is flagged (a filled cell, an unseen category, a number out of the
        /// training range): exit 1 naming the rows and columns, and write nothing.
        #[arg(long)]
        strict: bool,
        /// What runs the model: the JIT, or the reference interpreter (slow; the oracle).
        #[arg(long, value_enum, default_value = "jit")]
        backend: BackendArg,
        /// The CPU code path (default: `GALEN_CPU`, else the best this CPU has). Every path gives the same bits.
        #[arg(long, value_enum)]
        cpu: Option<CpuArg>,
    },
    /// Convert a spec between the spec language and YAML.
    Convert {
        /// The spec file to convert.
        spec: PathBuf,
        /// The form to write.
        #[arg(long, value_enum)]
        to: FormArg,
        /// Write to this file instead of standard output (refuses to overwrite the input, and an existing file
        /// unless `--force`).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
    },
    /// Print the JSON Schema of the YAML form of a spec, for editors.
    Schema,
    /// Write seeded example data: messy CSV variants, digit images, heart-rate series (a project tool).
    Synth(crate::synth::SynthArgs),
}

/// A spec form on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormArg {
    /// YAML.
    Yaml,
    /// The spec language (`.galen`).
    Galen,
}

/// The backend on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BackendArg {
    /// Fused kernels compiled by Cranelift, products by GEMM.
    Jit,
    /// The reference interpreter.
    Interp,
}

impl From<BackendArg> for Backend {
    fn from(backend: BackendArg) -> Backend {
        match backend {
            BackendArg::Jit => Backend::Jit,
            BackendArg::Interp => Backend::Interpreter,
        }
    }
}

/// A CPU code path on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CpuArg {
    /// No vector extension: runs on any CPU (slow).
    Portable,
    /// x86-64-v3: AVX2 and FMA.
    V3,
    /// x86-64-v4: AVX-512.
    V4,
}

impl From<CpuArg> for CpuPath {
    fn from(cpu: CpuArg) -> CpuPath {
        match cpu {
            CpuArg::Portable => CpuPath::Portable,
            CpuArg::V3 => CpuPath::V3,
            CpuArg::V4 => CpuPath::V4,
        }
    }
}

/// Chooses the CPU code path for the process: `--cpu` when given, else `GALEN_CPU`, else the best the CPU has.
/// A path the CPU lacks, or a `GALEN_CPU` that names none, is reported and gives exit code 1.
fn choose_cpu(cpu: Option<CpuArg>) -> Result<(), ExitCode> {
    let chosen = match cpu {
        Some(cpu) => crate::backend::cpu::force(cpu.into(), "--cpu"),
        None => crate::backend::cpu::selected().map(|_| ()),
    };
    chosen.map_err(|error| {
        let diagnostic = Diagnostic::error("cli::cpu", error.to_string())
            .with_help("leave out `--cpu` and `GALEN_CPU` to use the best path this CPU has");
        report(&Diagnostics { items: vec![diagnostic] }, None, Path::new("galen"));
        ExitCode::from(1)
    })
}

/// [`choose_cpu`] for a command that runs models on `backend`: the interpreter has one path for every CPU, so
/// `GALEN_CPU` does not concern it (an explicit `--cpu` is still checked).
fn choose_cpu_for(backend: BackendArg, cpu: Option<CpuArg>) -> Result<(), ExitCode> {
    match (backend, cpu) {
        (BackendArg::Interp, None) => Ok(()),
        _ => choose_cpu(cpu),
    }
}

/// What `galen compile` prints.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EmitArg {
    /// The parsed spec (the AST, defaults filled in).
    Ast,
    /// The IR graphs, optimized: forward (training mode with the loss), train step, predict.
    Ir,
    /// The kernel plans of the train-step and predict graphs: fused kernels, GEMMs, other steps, buffer frees.
    Kernels,
    /// The Cranelift IR of every fused kernel of the train-step and predict graphs.
    Clif,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { spec } => check(&spec),
        Command::Compile { spec, emit, batch } => {
            // Only the Cranelift IR depends on the CPU path.
            if let (EmitArg::Clif, Err(code)) = (emit, choose_cpu(None)) {
                return code;
            }
            compile(&spec, emit, batch)
        }
        Command::Train { spec, out, force, threads, seed, quiet, backend, cpu } => {
            if let Err(code) = choose_cpu_for(backend, cpu) {
                return code;
            }
            let threads = threads.map_or_else(default_threads, usize::from);
            let options = crate::run::train::TrainOptions {
                spec,
                out,
                force,
                threads,
                seed,
                progress: crate::run::train::Progress::for_terminal(quiet),
                backend: backend.into(),
                command: std::env::args().collect(),
            };
            train(&options, quiet)
        }
        Command::Bench { spec, epochs, threads, seed, json, backend, profile, cpu } => {
            if let Err(code) = choose_cpu_for(backend, cpu) {
                return code;
            }
            let options = crate::run::bench::BenchOptions {
                spec,
                epochs: epochs.map(|epochs| epochs as usize),
                threads: threads.map_or_else(default_threads, usize::from),
                seed,
                backend: backend.into(),
                profile,
            };
            bench(&options, json)
        }
        Command::Eval { run, data, out, keep, strict, backend, cpu } => match choose_cpu_for(backend, cpu) {
            Ok(()) => {
                let options = crate::run::eval::EvalOptions { keep, strict, out };
                eval(&run, data.as_deref(), &options, backend.into())
            }
            Err(code) => code,
        },
        Command::Predict { run, input, output, keep, strict, backend, cpu } => match choose_cpu_for(backend, cpu) {
            Ok(()) => {
                let options = crate::run::predict::PredictOptions { keep, strict };
                predict(&run, &input, output.as_deref(), &options, backend.into())
            }
            Err(code) => code,
        },
        Command::Convert { spec, to, output, force } => convert(&spec, to, output.as_deref(), force),
        Command::Synth(args) => match crate::synth::run(&args) {
            Ok(wrote) => {
                print_stdout(&format!("{wrote}\n"));
                ExitCode::SUCCESS
            }
            Err(diagnostics) => {
                let rendered = render(&diagnostics.items, "", "", plain_output());
                let _ = std::io::stderr().lock().write_all(rendered.as_bytes());
                ExitCode::from(1)
            }
        },
        Command::Schema => {
            let schema = crate::spec::json_schema::json_schema();
            print_stdout(&format!("{}\n", serde_json::to_string_pretty(&schema).unwrap_or_default()));
            ExitCode::SUCCESS
        }
    }
}

/// Writes to standard output, ignoring a closed pipe (`galen schema | head` must not panic).
fn print_stdout(text: &str) {
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

fn plain_output() -> bool {
    !std::io::stderr().is_terminal() || std::env::var_os("NO_COLOR").is_some()
}

/// Prints diagnostics to standard error; returns whether any was an error.
fn report(diagnostics: &Diagnostics, file: Option<&SpecFile>, path: &Path) -> bool {
    if diagnostics.is_empty() {
        return false;
    }
    let name = path.display().to_string();
    let text = file.map_or("", |file| file.text.as_str());
    let rendered = render(&diagnostics.items, &name, text, plain_output());
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(rendered.as_bytes());
    let errors = diagnostics.error_count();
    if errors > 0 {
        let plural = if errors == 1 { "" } else { "s" };
        let _ = writeln!(stderr, "{name}: {errors} error{plural}");
    }
    diagnostics.has_errors()
}

fn check(path: &Path) -> ExitCode {
    let outcome = pipeline::check_file(path);
    let failed = report(&outcome.diagnostics, outcome.file.as_ref(), path);
    match (&outcome.checked, &outcome.lowered) {
        (Some(checked), Some(lowered)) if !failed => {
            let data_path = outcome.data_path.as_ref().map_or(String::new(), |p| p.display().to_string());
            let memory = outcome.memory.as_ref().map(|estimate| estimate.lines());
            let summary =
                crate::check::summary(&lowered.spec, checked, &data_path, outcome.split.as_ref(), memory.as_deref());
            print_stdout(&summary);
            ExitCode::SUCCESS
        }
        _ => ExitCode::from(1),
    }
}

/// Checks a spec for compiling or training; prints its diagnostics and returns what a checked spec gives.
fn checked(path: &Path) -> Option<pipeline::CheckOutcome> {
    let outcome = pipeline::check_file(path);
    let failed = report(&outcome.diagnostics, outcome.file.as_ref(), path);
    (!failed && outcome.checked.is_some() && outcome.lowered.is_some()).then_some(outcome)
}

fn compile(path: &Path, emit: EmitArg, batch: Option<usize>) -> ExitCode {
    let Some(outcome) = checked(path) else { return ExitCode::from(1) };
    let (Some(lowered), Some(checked)) = (&outcome.lowered, &outcome.checked) else { return ExitCode::from(1) };
    match emit {
        EmitArg::Ast => print_stdout(&format!("{:#?}\n", lowered.spec)),
        EmitArg::Ir => print_stdout(&compile_ir(&lowered.spec, checked, batch)),
        EmitArg::Kernels => print_stdout(&compile_kernels(&lowered.spec, checked, batch)),
        EmitArg::Clif => match compile_clif(&lowered.spec, checked, batch) {
            Ok(text) => print_stdout(&text),
            Err(error) => {
                let diagnostic = Diagnostic::error("backend::codegen", error);
                report(&Diagnostics { items: vec![diagnostic] }, None, path);
                return ExitCode::from(1);
            }
        },
    }
    ExitCode::SUCCESS
}

/// The optimized forward, train-step and predict graphs of a checked spec, as text IR.
pub fn compile_ir(spec: &crate::spec::ast::Spec, checked: &crate::check::Checked, batch: Option<usize>) -> String {
    let model = crate::lowering::Model::new(spec, checked);
    let batch = batch.unwrap_or(spec.train.batch_size.value).max(1);
    let settings = crate::compile::Settings::from_environment();
    [GraphKind::Forward, GraphKind::TrainStep, GraphKind::Predict]
        .into_iter()
        .map(|kind| crate::compile::optimized(&model, kind, batch, settings).to_string())
        .collect::<Vec<String>>()
        .join("\n")
}

/// The kernel plans of a checked spec's train-step and predict graphs, for `--emit kernels` and `--emit clif`.
fn backend_plans(
    spec: &crate::spec::ast::Spec,
    checked: &crate::check::Checked,
    batch: Option<usize>,
) -> Vec<crate::backend::plan::Plan> {
    let model = crate::lowering::Model::new(spec, checked);
    let batch = batch.unwrap_or(spec.train.batch_size.value).max(1);
    let settings = crate::compile::Settings::from_environment();
    [GraphKind::TrainStep, GraphKind::Predict]
        .into_iter()
        .map(|kind| crate::compile::planned(&model, kind, batch, settings))
        .collect()
}

/// The kernel plans of a checked spec's train-step and predict graphs.
pub fn compile_kernels(spec: &crate::spec::ast::Spec, checked: &crate::check::Checked, batch: Option<usize>) -> String {
    backend_plans(spec, checked, batch).iter().map(ToString::to_string).collect::<Vec<String>>().join("\n")
}

/// The Cranelift IR of every kernel of a checked spec's train-step and predict graphs (scan bodies included).
fn compile_clif(
    spec: &crate::spec::ast::Spec,
    checked: &crate::check::Checked,
    batch: Option<usize>,
) -> Result<String, String> {
    let mut text = String::new();
    for plan in backend_plans(spec, checked, batch) {
        for kernel in plan.all_kernels() {
            text.push_str(&format!("; {} of plan {}\n", kernel.name, plan.name));
            let path = crate::backend::cpu::selected().map_err(|error| error.to_string())?;
            text.push_str(&crate::backend::codegen::clif(kernel, path).map_err(|error| error.to_string())?);
            text.push('\n');
        }
    }
    Ok(text)
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Set by Ctrl-C: training stops after the current batch and keeps the last checkpoint.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// `galen train`; with `quiet`, only the run directory's path on standard output and only errors on standard error.
fn train(options: &crate::run::train::TrainOptions, quiet: bool) -> ExitCode {
    // A first Ctrl-C asks training to stop after the current batch; a second one ends galen at once. Every file is
    // written atomically, so none is half-written either way; after a second Ctrl-C the manifest still says
    // `running` and a temporary file may remain beside the model.
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: stopping after the current batch (Ctrl-C again to quit at once)");
    });
    let outcome = crate::run::train::train(options, Some(&INTERRUPTED));
    let shown = if quiet {
        Diagnostics { items: outcome.diagnostics.items.iter().filter(|d| d.is_error()).cloned().collect() }
    } else {
        outcome.diagnostics.clone()
    };
    let failed = report(&shown, outcome.file.as_ref(), &options.spec);
    match (&outcome.run, quiet) {
        (Some(run), true) => print_stdout(&format!("{}\n", run.display())),
        (Some(run), false) => print_stdout(&format!("run directory: {}\n", run.display())),
        (None, _) => {}
    }
    if let (Some(summary), false) = (&outcome.report, quiet) {
        print_stdout(&summary.summary());
    }
    if failed {
        ExitCode::from(1)
    } else if outcome.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    }
}

fn bench(options: &crate::run::bench::BenchOptions, json: bool) -> ExitCode {
    let outcome = crate::run::bench::bench(options);
    let failed = report(&outcome.diagnostics, outcome.file.as_ref(), &options.spec);
    match outcome.report {
        Some(timings) if !failed => {
            let text = if json { format!("{}\n", timings.to_json()) } else { timings.summary() };
            print_stdout(&text);
            ExitCode::SUCCESS
        }
        _ => ExitCode::from(1),
    }
}

fn eval(run: &Path, data: Option<&Path>, options: &crate::run::eval::EvalOptions, backend: Backend) -> ExitCode {
    match crate::run::eval::eval(run, data, options, backend) {
        Ok((outcome, warnings)) => {
            report(&warnings, None, run);
            print_stdout(&outcome.summary());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            report(&errors, None, run);
            ExitCode::from(1)
        }
    }
}

fn predict(
    run: &Path,
    input: &Path,
    output: Option<&Path>,
    options: &crate::run::predict::PredictOptions,
    backend: Backend,
) -> ExitCode {
    let (predictions, warnings) = match crate::run::predict::predict(run, input, options, backend) {
        Ok(found) => found,
        Err(errors) => {
            report(&errors, None, run);
            return ExitCode::from(1);
        }
    };
    report(&warnings, None, run);
    match output {
        None => print_stdout(&predictions.csv),
        Some(path) => {
            if same_file(path, input) {
                let diagnostic = Diagnostic::error("cli::overwrite", "the predictions would overwrite the input")
                    .at_file(path)
                    .with_help("choose another output file");
                report(&Diagnostics { items: vec![diagnostic] }, None, run);
                return ExitCode::from(1);
            }
            if let Err(error) = crate::run::write_atomic(path, predictions.csv.as_bytes()) {
                report(&Diagnostics { items: vec![error] }, None, run);
                return ExitCode::from(1);
            }
        }
    }
    let _ = writeln!(std::io::stderr(), "{}", predictions.summary());
    ExitCode::SUCCESS
}

fn convert(path: &Path, to: FormArg, output: Option<&Path>, force: bool) -> ExitCode {
    let mut diagnostics = Diagnostics::new();
    let form = match to {
        FormArg::Yaml => Form::Yaml,
        FormArg::Galen => Form::Dsl,
    };
    let file = match SpecFile::read(path) {
        Ok(file) => file,
        Err(diagnostic) => {
            diagnostics.push(diagnostic);
            report(&diagnostics, None, path);
            return ExitCode::from(1);
        }
    };
    let lowered = file.parse(&mut diagnostics);
    if report(&diagnostics, Some(&file), path) {
        return ExitCode::from(1);
    }
    let Some(lowered) = lowered else { return ExitCode::from(1) };
    let text = convert::to_text(&lowered.spec, form);
    let comments = convert::count_comments(&file.text, file.form);
    if comments > 0 {
        let dropped = Diagnostic::warning(
            "convert::comments_dropped",
            format!("{comments} comment(s) of the spec are not in the converted text: converting keeps no comment"),
        )
        .at_file(path)
        .with_help("copy the comments you need by hand");
        report(&Diagnostics { items: vec![dropped] }, None, path);
    }
    match output {
        None => {
            print_stdout(&text);
            ExitCode::SUCCESS
        }
        Some(target) if same_file(target, path) => {
            let diagnostic = Diagnostic::error("cli::overwrite", "the output would overwrite the spec being converted")
                .at_file(target)
                .with_help("choose another output file");
            report(&Diagnostics { items: vec![diagnostic] }, None, path);
            ExitCode::from(1)
        }
        Some(target) if target.exists() && !force => {
            let diagnostic = Diagnostic::error("cli::exists", "the output file exists")
                .at_file(target)
                .with_help("choose another output file, or add `--force` to replace it");
            report(&Diagnostics { items: vec![diagnostic] }, None, path);
            ExitCode::from(1)
        }
        Some(target) => match std::fs::write(target, text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                let diagnostic = Diagnostic::error("cli::write", format!("cannot write the converted spec: {error}"))
                    .at_file(target);
                report(&Diagnostics { items: vec![diagnostic] }, None, path);
                ExitCode::from(1)
            }
        },
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
