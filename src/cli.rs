//! The command line: `galen check`, `galen compile`, `galen train`, `galen convert`, `galen schema` and the
//! `galen synth` data tool.
//!
//! Exit codes: 0 when all is well, 1 when the user's input (spec or data) is wrong, 2 for a usage mistake
//! (clap reports those). Diagnostics go to standard error, results to standard output.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

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
    /// Train a spec's model on its data and report the loss per epoch and the test accuracy.
    Train {
        /// The spec file.
        spec: PathBuf,
    },
    /// Convert a spec between the spec language and YAML.
    Convert {
        /// The spec file to convert.
        spec: PathBuf,
        /// The form to write.
        #[arg(long, value_enum)]
        to: FormArg,
        /// Write to this file instead of standard output (refuses to overwrite the input).
        #[arg(long, short)]
        output: Option<PathBuf>,
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

/// What `galen compile` prints.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EmitArg {
    /// The parsed spec (the AST, defaults filled in).
    Ast,
    /// The IR graphs, optimized: forward (training mode with the loss), train step, predict.
    Ir,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { spec } => check(&spec),
        Command::Compile { spec, emit, batch } => compile(&spec, emit, batch),
        Command::Train { spec } => train(&spec),
        Command::Convert { spec, to, output } => convert(&spec, to, output.as_deref()),
        Command::Synth(args) => crate::synth::run(&args),
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
            print_stdout(&crate::check::summary(&lowered.spec, checked, &data_path, outcome.split.as_ref()));
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
    }
    ExitCode::SUCCESS
}

/// The optimized forward, train-step and predict graphs of a checked spec, as text IR.
pub fn compile_ir(spec: &crate::spec::ast::Spec, checked: &crate::check::Checked, batch: Option<usize>) -> String {
    let model = crate::lowering::Model::new(spec, checked);
    let batch = batch.unwrap_or(spec.train.batch_size.value).max(1);
    [model.forward(batch), model.train_step(batch), model.predict(batch)]
        .into_iter()
        .map(|graph| crate::passes::optimize(graph, true).to_string())
        .collect::<Vec<String>>()
        .join("\n")
}

fn train(path: &Path) -> ExitCode {
    let Some(outcome) = checked(path) else { return ExitCode::from(1) };
    let (Some(file), Some(lowered), Some(checked)) = (&outcome.file, &outcome.lowered, &outcome.checked) else {
        return ExitCode::from(1);
    };
    let spec = &lowered.spec;
    report(&crate::runtime::train::unapplied_settings(spec), Some(file), path);
    let mut diagnostics = Diagnostics::new();
    let mut on_epoch = |record: &crate::runtime::train::EpochRecord| {
        let mut line = format!("epoch {:>3}/{}  loss {:.4}", record.epoch, spec.train.epochs.value, record.loss);
        if let Some(val) = &record.val {
            line.push_str(&format!("  val_loss {:.4}", val.loss));
            if let Some(accuracy) = val.accuracy {
                line.push_str(&format!("  val_accuracy {accuracy:.4}"));
            }
        }
        print_stdout(&format!("{line}\n"));
    };
    let trained = crate::runtime::train::train(file, spec, checked, &outcome.loaded, &mut diagnostics, &mut on_epoch);
    report(&diagnostics, Some(file), path);
    let Some(trained) = trained else { return ExitCode::from(1) };
    if let Some(test) = &trained.test {
        let mut line = format!("test ({} rows)  loss {:.4}", test.rows, test.loss);
        if let Some(accuracy) = test.accuracy {
            line.push_str(&format!("  accuracy {accuracy:.4}"));
        }
        print_stdout(&format!("{line}\n"));
    }
    ExitCode::SUCCESS
}

fn convert(path: &Path, to: FormArg, output: Option<&Path>) -> ExitCode {
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
