//! `galen train`: check the spec, prepare the data, train (each cross-validation fold, then the final model),
//! evaluate every split once at the end, and write the run directory.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use indicatif::{ProgressBar, ProgressStyle};

use super::manifest::{data_records, now, CodePath, Manifest, SpecRecord};
use super::report::{self, FoldResult, Report};
use super::{weights, RunDir, MANIFEST, MODEL, SPLITS, TRANSFORM};
use crate::backend::Backend;
use crate::check::Checked;
use crate::data::dataset::{prepare_training, Prepared, SplitData};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::lowering::Model;
use crate::memory::Limit;
use crate::pipeline::check_file_seeded;
use crate::runtime::train::{Ending, EpochRecord, Event, Runner};
use crate::spec::ast::{Schedule, Spec};
use crate::spec::SpecFile;

/// How training reports progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// A progress bar per epoch on standard error, and a line per epoch.
    Bar,
    /// A plain line per epoch on standard error.
    Lines,
    /// Nothing (`--quiet`, tests).
    Silent,
}

impl Progress {
    /// Nothing with `--quiet`; otherwise the bar on a terminal, plain lines when standard error is not one.
    pub fn for_terminal(quiet: bool) -> Progress {
        if quiet {
            Progress::Silent
        } else if std::io::stderr().is_terminal() {
            Progress::Bar
        } else {
            Progress::Lines
        }
    }
}

/// What `galen train` was asked to do.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// The spec file.
    pub spec: PathBuf,
    /// The run directory; a new one under `runs/` when not given.
    pub out: Option<PathBuf>,
    /// Replace an earlier run in `out`.
    pub force: bool,
    /// Worker threads (the run's own rayon pool).
    pub threads: usize,
    /// A seed replacing the spec's.
    pub seed: Option<u64>,
    /// How to show progress.
    pub progress: Progress,
    /// What runs the graphs.
    pub backend: Backend,
    /// The command line, for the manifest.
    pub command: Vec<String>,
}

/// What a training run produced.
#[derive(Debug, Default)]
pub struct TrainOutcome {
    /// The spec file, for rendering diagnostics.
    pub file: Option<SpecFile>,
    /// Every error and warning.
    pub diagnostics: Diagnostics,
    /// The run directory, once created.
    pub run: Option<PathBuf>,
    /// The final report, when training ended (completed, stopped early or interrupted).
    pub report: Option<Report>,
    /// Whether the user interrupted training.
    pub interrupted: bool,
}

/// Trains a spec in its own pool of `options.threads` threads and writes its run directory.
pub fn train(options: &TrainOptions, interrupt: Option<&AtomicBool>) -> TrainOutcome {
    match rayon::ThreadPoolBuilder::new().num_threads(options.threads.max(1)).build() {
        Ok(pool) => pool.install(|| train_in_pool(options, interrupt)),
        Err(error) => {
            let mut outcome = TrainOutcome::default();
            outcome.diagnostics.push(Diagnostic::error("run::threads", format!("cannot start the threads: {error}")));
            outcome
        }
    }
}

fn train_in_pool(options: &TrainOptions, interrupt: Option<&AtomicBool>) -> TrainOutcome {
    let started = now();
    let check = check_file_seeded(&options.spec, Limit::from_environment(), options.seed);
    let mut outcome = TrainOutcome { file: check.file.clone(), diagnostics: check.diagnostics, ..Default::default() };
    let (Some(file), Some(lowered), Some(checked)) = (&check.file, &check.lowered, &check.checked) else {
        return outcome;
    };
    if outcome.diagnostics.has_errors() {
        return outcome;
    }
    // The spec carries `--seed` when given: the check planned the split with it.
    let spec = lowered.spec.clone();
    let diagnostics = &mut outcome.diagnostics;
    let Some(planned) = check.planned else { return outcome };
    let Some((prepared, folds)) = prepare_training(file, &spec, checked, check.loaded, planned, diagnostics) else {
        return outcome;
    };
    if !check_sizes(&spec, &prepared, &folds, diagnostics) {
        return outcome;
    }
    // Before anything is written: the system must be able to give the estimated memory at all (a limit set above
    // what the machine has is caught here, with exit 1, rather than by an abort mid-run).
    if let Some(estimate) = &check.memory {
        if let Err(error) = crate::memory::reserve(estimate.total(), "training (galen check's estimate)") {
            diagnostics.push(error.diagnostic());
            return outcome;
        }
    }
    let data = match data_records(file, &spec) {
        Ok(data) => data,
        Err(error) => {
            diagnostics.push(error);
            return outcome;
        }
    };
    let run = match RunDir::create(options.out.as_deref(), options.force, &spec.name.value, &started) {
        Ok(run) => run,
        Err(error) => {
            diagnostics.push(error);
            return outcome;
        }
    };
    outcome.run = Some(run.final_path().to_path_buf());
    let spec_name = options.spec.file_name().map_or("spec".into(), |name| name.to_string_lossy().into_owned());
    let risk_correction = super::risk::correction(&spec, checked, &prepared.train);
    let mut manifest = Manifest {
        galen_version: env!("CARGO_PKG_VERSION").to_string(),
        command: options.command.clone(),
        spec: SpecRecord {
            path: std::path::absolute(&options.spec).unwrap_or_else(|_| options.spec.clone()),
            copy: spec_name.clone(),
            sha256: super::sha256(file.text.as_bytes()),
        },
        data,
        seed: spec.seed.value,
        threads: options.threads.max(1),
        risk_correction: risk_correction.as_ref().map(crate::metrics::PriorCorrection::to_json),
        code_path: CodePath::detect(options.backend.name()),
        started,
        finished: String::new(),
        status: "running".to_string(),
    };
    // The manifest first: from then on the folder is a galen run, which `--force` may replace, whatever else a crash
    // leaves in it (before, the folder holds at most its temporary file, which `--force` replaces too).
    let written = manifest
        .to_json()
        .and_then(|text| run.write(MANIFEST, text.as_bytes()))
        .and_then(|()| run.write(&spec_name, file.text.as_bytes()))
        .and_then(|()| match &prepared.transform {
            Some(transform) => run.write(TRANSFORM, format!("{}\n", transform.to_json()).as_bytes()),
            None => Ok(()),
        })
        .and_then(|()| run.write(SPLITS, report::splits_csv(&spec, checked.rows, &prepared).as_bytes()));
    if let Err(error) = written {
        diagnostics.push(error);
        return outcome;
    }

    let model = Model::new(&spec, checked);
    let mut runner = Runner::new(&model, checked, spec.train.batch_size.value).with_backend(options.backend);
    let mut progress = Reporter::new(options.progress, spec.train.epochs.value, watched_metrics(&spec));
    let mut fold_results = Vec::new();
    for (index, fold) in folds.iter().enumerate() {
        progress.prefix = format!("fold {}/{}  ", index + 1, folds.len());
        runner.set_risk_correction(super::risk::correction(&spec, checked, &fold.train));
        let fitted = runner.fit(
            &spec,
            &fold.train,
            &fold.val,
            spec.train.epochs.value,
            spec.seed.value,
            interrupt,
            &mut |event| progress.event(&event),
        );
        let fit = match fitted {
            Ok(fit) => fit,
            Err(failure) => {
                let what = format!(" of fold {} (of {})", index + 1, folds.len());
                return failed(outcome, &run, &mut manifest, failure.diagnostic(&spec, &what));
            }
        };
        if let Ending::Interrupted { .. } = fit.ending {
            outcome.interrupted = true;
            return finish(outcome, &run, &mut manifest, "interrupted", None);
        }
        let val = runner.score(&fold.val, &fit.values, Some(spec.seed.value));
        fold_results.push(FoldResult { train_rows: fold.train.len(), fit, val });
    }

    // The final model: on the training split, or after cross-validation on every non-test row, for the folds'
    // mean best epoch when early stopping chose the folds' epochs (nothing is left to monitor).
    let (final_spec, epochs, refit_changes) = refit_settings(&spec, &fold_results);
    progress.prefix = if folds.is_empty() { String::new() } else { "final model  ".to_string() };
    let mut checkpoint_error = None;
    let risk_metadata = super::risk::metadata(risk_correction.as_ref());
    let metadata: Vec<_> = model_metadata(&manifest, &spec, checked).into_iter().chain(risk_metadata).collect();
    runner.set_risk_correction(risk_correction);
    let fitted =
        runner.fit(&final_spec, &prepared.train, &prepared.val, epochs, spec.seed.value, interrupt, &mut |event| {
            progress.event(&event);
            if let Event::Epoch { checkpoint, checkpoint_epoch, .. } = &event {
                let mut metadata = metadata.clone();
                metadata.push(("epoch".to_string(), checkpoint_epoch.to_string()));
                if let Err(error) = run.write(MODEL, &weights::to_bytes(&model_weights(&model, checkpoint), &metadata))
                {
                    checkpoint_error.get_or_insert(error);
                }
                super::stop_point("checkpoint", "");
            }
        });
    progress.done();
    if let Some(error) = checkpoint_error {
        return failed(outcome, &run, &mut manifest, error);
    }
    let fit = match fitted {
        Ok(fit) => fit,
        Err(failure) => return failed(outcome, &run, &mut manifest, failure.diagnostic(&spec, "")),
    };
    let status = match fit.ending {
        Ending::Completed => "completed",
        Ending::EarlyStopped { .. } => "stopped early",
        Ending::Interrupted { .. } => {
            outcome.interrupted = true;
            "interrupted"
        }
    };
    if fit.history.is_empty() {
        // Interrupted before the first epoch ended: there is no trained model to keep.
        outcome.diagnostics.push(
            Diagnostic::warning("train::interrupted", "interrupted before the first epoch ended: no model was saved")
                .at(spec.train.span),
        );
        return finish(outcome, &run, &mut manifest, "interrupted", None);
    }
    let mut metadata = metadata;
    metadata.push(("epoch".to_string(), fit.result_epoch.to_string()));
    if let Err(error) = run.write(MODEL, &weights::to_bytes(&model_weights(&model, &fit.values), &metadata)) {
        return failed(outcome, &run, &mut manifest, error);
    }
    super::stop_point("model", "");
    let mut report = report::Report::build(&spec, checked, &mut runner, &prepared, fit, fold_results, epochs);
    report.refit_changes = refit_changes;
    if let Err(error) = report.write(&run, &spec, checked, &prepared) {
        return failed(outcome, &run, &mut manifest, error);
    }
    for warning in runner.warnings.drain(..) {
        outcome.diagnostics.push(Diagnostic::warning("backend::fallback", warning));
    }
    finish(outcome, &run, &mut manifest, status, Some(report))
}

/// The variables `predict` needs (parameters and running statistics), without the optimizer's state.
pub fn model_weights(model: &Model, values: &crate::runtime::train::Weights) -> crate::runtime::train::Weights {
    model
        .variables()
        .iter()
        .filter(|variable| !crate::lowering::is_optimizer_state(variable))
        .filter_map(|variable| Some((variable.name.clone(), values.get(&variable.name)?.clone())))
        .collect()
}

/// The metadata of `model.safetensors`, in a fixed order, without times.
fn model_metadata(manifest: &Manifest, spec: &Spec, checked: &Checked) -> Vec<(String, String)> {
    let mut metadata = vec![
        ("format".to_string(), "galen".to_string()),
        ("galen_version".to_string(), manifest.galen_version.clone()),
        ("experiment".to_string(), spec.name.value.clone()),
        ("spec_sha256".to_string(), manifest.spec.sha256.clone()),
        ("seed".to_string(), spec.seed.value.to_string()),
    ];
    metadata.extend(super::loaded::describe_model(&checked.task, &checked.input_shape));
    metadata
}

/// The spec and epochs of the final model, and what changed for it: after cross-validation no rows are left to
/// validate on, so settings that watch validation rows are dropped, and when early stopping chose each fold's
/// epochs the final model trains for the folds' mean best epoch.
fn refit_settings(spec: &Spec, folds: &[FoldResult]) -> (Spec, usize, Vec<String>) {
    let epochs = spec.train.epochs.value;
    if folds.is_empty() {
        return (spec.clone(), epochs, Vec::new());
    }
    let mut refit = spec.clone();
    let mut changes = Vec::new();
    let mut epochs_chosen = epochs;
    if spec.train.early_stopping.as_ref().is_some_and(|stopping| stopping.value.monitor.value.starts_with("val_")) {
        refit.train.early_stopping = None;
        let best: Vec<usize> =
            folds.iter().map(|fold| fold.fit.best_epoch.unwrap_or(fold.fit.result_epoch).max(1)).collect();
        epochs_chosen = (best.iter().sum::<usize>() as f64 / best.len() as f64).round().max(1.0) as usize;
        changes.push(format!(
            "early stopping dropped: the final model trains for the folds' mean best epoch, {epochs_chosen}"
        ));
    }
    if let Some(Schedule::Plateau { monitor, .. }) = spec.train.schedule.as_ref().map(|schedule| &schedule.value) {
        if monitor.value.starts_with("val_") {
            refit.train.schedule = None;
            changes.push(format!(
                "the plateau schedule dropped (it watches `{}`): the final model trains at the initial learning rate",
                monitor.value
            ));
        }
    }
    (refit, epochs_chosen, changes)
}

/// Errors for data too small for the settings: an empty training split or fold, a batch larger than the training
/// rows, an empty validation fold.
pub(super) fn check_sizes(spec: &Spec, prepared: &Prepared, folds: &[Prepared], diagnostics: &mut Diagnostics) -> bool {
    let batch = &spec.train.batch_size;
    let mut sound = true;
    let mut trains: Vec<(String, &SplitData)> = vec![("training split".to_string(), &prepared.train)];
    trains.extend(
        folds.iter().enumerate().map(|(index, fold)| (format!("training rows of fold {}", index + 1), &fold.train)),
    );
    for (what, split) in trains {
        if split.is_empty() {
            sound = false;
            diagnostics.push(
                Diagnostic::error("train::empty_split", format!("the {what} has no rows"))
                    .at(spec.data.split.span)
                    .with_help("give training a larger share of the rows, or check that the data has rows"),
            );
        } else if batch.value > split.len() {
            sound = false;
            diagnostics.push(
                Diagnostic::error(
                    "train::batch_too_large",
                    format!("`batch_size` is {} but the {what} has only {} rows", batch.value, split.len()),
                )
                .at(batch.span)
                .with_label("larger than the data")
                .with_help(format!(
                    "use a batch size of at most {}, such as {}",
                    split.len(),
                    split.len().min(32)
                )),
            );
        }
    }
    for (index, fold) in folds.iter().enumerate() {
        if fold.val.is_empty() {
            sound = false;
            diagnostics.push(
                Diagnostic::error("train::empty_split", format!("fold {} has no rows", index + 1))
                    .at(spec.data.split.span)
                    .with_help("use fewer folds"),
            );
        }
    }
    if folds.is_empty() && prepared.val.is_empty() {
        if let Some((what, span)) = spec.train.validation_watchers().first() {
            sound = false;
            diagnostics.push(
                Diagnostic::error(
                    "train::no_validation_rows",
                    format!("{what} watches a validation metric but the validation split came out empty"),
                )
                .at(*span)
                .with_label("needs validation rows")
                .with_help(
                    "give the validation split some rows (a larger fraction, or `val` rows in the split column)",
                ),
            );
        }
    }
    sound
}

/// Ends a run with an error: the manifest says `failed`; files written before stay as they were. A run that was to
/// replace an earlier one is dropped, and the earlier run stays.
fn failed(mut outcome: TrainOutcome, run: &RunDir, manifest: &mut Manifest, error: Diagnostic) -> TrainOutcome {
    outcome.diagnostics.push(error);
    if run.replaces_earlier() {
        run.discard();
        outcome.run = None;
        return outcome;
    }
    manifest.finished = now();
    manifest.status = "failed".to_string();
    // The manifest's own write failing is not worth a second error: the first one says what went wrong.
    let _ = manifest.to_json().and_then(|text| run.write(MANIFEST, text.as_bytes()));
    outcome
}

fn finish(
    mut outcome: TrainOutcome,
    run: &RunDir,
    manifest: &mut Manifest,
    status: &str,
    report: Option<Report>,
) -> TrainOutcome {
    if report.is_none() && run.replaces_earlier() {
        // No model to replace the earlier run with: it stays.
        run.discard();
        outcome.run = None;
        return outcome;
    }
    manifest.finished = now();
    manifest.status = status.to_string();
    if let Err(error) =
        manifest.to_json().and_then(|text| run.write(MANIFEST, text.as_bytes())).and_then(|()| run.commit())
    {
        outcome.diagnostics.push(error);
    }
    outcome.report = report;
    outcome
}

/// Shows training's progress: a bar per epoch on a terminal, a line per epoch always (on standard error).
struct Reporter {
    mode: Progress,
    epochs: usize,
    metrics: Vec<String>,
    prefix: String,
    bar: Option<ProgressBar>,
}

impl Reporter {
    fn new(mode: Progress, epochs: usize, metrics: Vec<String>) -> Reporter {
        Reporter { mode, epochs, metrics, prefix: String::new(), bar: None }
    }

    fn event(&mut self, event: &Event) {
        match event {
            Event::EpochStart { epoch, batches } if self.mode == Progress::Bar => {
                let bar = ProgressBar::new(*batches as u64);
                let style = ProgressStyle::with_template("{prefix}[{bar:30}] {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
                bar.set_style(style);
                bar.set_prefix(format!("{}epoch {epoch}/{} ", self.prefix, self.epochs));
                self.bar = Some(bar);
            }
            Event::Batch { batch, loss } => {
                if let Some(bar) = &self.bar {
                    bar.set_position(*batch as u64);
                    bar.set_message(format!("loss {loss:.4}"));
                }
            }
            Event::Epoch { record, .. } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                if self.mode != Progress::Silent {
                    eprintln!("{}{}", self.prefix, epoch_line(record, self.epochs, &self.metrics));
                }
            }
            Event::EpochStart { .. } => {}
        }
    }

    fn done(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// The metrics an epoch line shows: what early stopping and the plateau schedule watch, then the spec's metrics.
fn watched_metrics(spec: &Spec) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let monitors = spec.train.monitors().into_iter().map(|(_, monitor, _)| monitor.value.clone());
    let listed = spec.metrics.value.iter().map(|metric| format!("val_{}", metric.value));
    for name in monitors.chain(listed) {
        if let Some(metric) = name.strip_prefix("val_").filter(|metric| *metric != "loss") {
            if !names.iter().any(|known| known == metric) {
                names.push(metric.to_string());
            }
        }
    }
    names
}

/// `epoch  3/50  loss 0.1234  val_loss 0.2345  val_accuracy 0.9500  val_auc 0.9900  lr 0.001`.
pub fn epoch_line(record: &EpochRecord, epochs: usize, metrics: &[String]) -> String {
    let width = epochs.to_string().len();
    let mut line = format!("epoch {:>width$}/{epochs}  loss {:.4}", record.epoch, record.loss);
    if let Some(val) = &record.val {
        line.push_str(&format!("  val_loss {:.4}", val.loss));
        let names: Vec<&str> = metrics.iter().map(String::as_str).collect();
        for (name, value) in val.scores.headline(&names) {
            line.push_str(&format!("  val_{name} {value:.4}"));
        }
    }
    line.push_str(&format!("  lr {}", record.learning_rate));
    line
}
