//! `galen eval RUN [--data CSV] [--out DIR] [--keep COLUMNS] [--strict]`: scores a trained model again. Without
//! `--data`, on the data it was trained on, after checking that every data file still has the SHA-256 the run
//! recorded, and with the same split; with `--data`, on every row of another labelled CSV, through the saved
//! preprocessing. Every scored row is flagged as `galen predict` flags it; `--out` writes the metrics, the
//! predictions with their flags and the plots.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::loaded::LoadedRun;
use super::manifest::{sha256_folder, Manifest};
use super::predictor::{
    flagged_rows_text, kept_columns, no_ranges_warning, predictions_csv, strict_error, PredictionRow, Predictor,
    TableRows, FLAGGED_SHARE_WARNING,
};
use super::report::split_plots;
use super::{sha256_file, write_atomic, MANIFEST, METRICS, PLOTS, TRANSFORM};
use crate::backend::Backend;
use crate::check::Task;
use crate::data::dataset::{prepare, SplitData};
use crate::data::transform::Targets;
use crate::data::{read_csv, resolve, CsvOptions, Inputs, LoadedData, RowFlags};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::lowering::Model;
use crate::memory::Limit;
use crate::pipeline::check_spec_seeded;
use crate::runtime::train::{Runner, SplitScore};
use crate::spec::ast::{Source, Split};

/// What `galen eval` is asked for besides the run and the data.
#[derive(Clone, Debug, Default)]
pub struct EvalOptions {
    /// Columns of the data copied into the predictions written with `out` (identifiers), in this order.
    pub keep: Vec<String>,
    /// Any flagged row is an error, and nothing is written.
    pub strict: bool,
    /// A folder for the metrics, each split's predictions with their flags, and the plots.
    pub out: Option<PathBuf>,
}

/// One scored split and what its predictions file holds.
pub struct EvaluatedSplit {
    /// `validation`, `test`, or the `--data` file's name.
    pub name: String,
    /// The split's metrics.
    pub score: SplitScore,
    /// The model's outputs, a row per example.
    pub outputs: ndarray::Array2<f32>,
    /// Each example's number among the data rows of its file, from 1.
    pub lines: Vec<usize>,
    /// Each example's true target as written.
    pub truth: Vec<String>,
    /// Each example's flags (all clean for an image model).
    pub flags: Vec<RowFlags>,
    /// The columns `--keep` copies, each with a cell per example.
    pub kept: Vec<(String, Vec<String>)>,
}

impl EvaluatedSplit {
    /// Examples flagged.
    pub fn flagged(&self) -> usize {
        self.flags.iter().filter(|flags| !flags.is_clean()).count()
    }
}

/// What `galen eval` found.
pub struct EvalOutcome {
    /// The scored splits.
    pub splits: Vec<EvaluatedSplit>,
    /// The folder the results were written to, with `--out`.
    pub written: Option<PathBuf>,
}

impl EvalOutcome {
    /// The text `galen eval` prints: each split's metrics and its flagged rows.
    pub fn summary(&self) -> String {
        let mut text = String::new();
        for split in &self.splits {
            text.push_str(&super::report::split_text(&split.name, &split.score));
            match flagged_rows_text(&split.lines, &split.flags) {
                Some(flagged) => text.push_str(&format!("{flagged}\n")),
                None => text.push_str("no row flagged\n"),
            }
        }
        if let Some(folder) = &self.written {
            text.push_str(&format!("\nwritten to {}\n", folder.display()));
        }
        text
    }

    /// The scores as JSON, keyed by split.
    pub fn to_json(&self) -> Value {
        Value::Object(self.splits.iter().map(|split| (split.name.clone(), split.score.scores.to_json())).collect())
    }
}

/// Scores a run on its own data (checked against the recorded SHA-256) or on `data`; with `options.out`, writes the
/// metrics, the predictions with their flags, and the plots there.
pub fn eval(
    path: &Path,
    data: Option<&Path>,
    options: &EvalOptions,
    backend: Backend,
) -> Result<(EvalOutcome, Diagnostics), Diagnostics> {
    if let Some(out) = &options.out {
        check_out_folder(out, path)?;
    }
    let (predictor, mut warnings) = Predictor::open(path, backend)?;
    let loaded = &predictor.loaded;
    let model = Model::new(&loaded.spec, &loaded.checked);
    let mut runner = Runner::new(&model, &loaded.checked, loaded.spec.train.batch_size.value)
        .with_backend(backend)
        .with_risk_correction(loaded.risk_correction.clone());
    let seed = Some(loaded.spec.seed.value);
    let sources = match data {
        None => own_splits(loaded, &options.keep, &mut warnings)?,
        Some(data) => vec![labelled_split(&predictor, data, &options.keep, &mut warnings)?],
    };
    let mut splits = Vec::new();
    for source in sources {
        if options.strict {
            if let Some(error) = strict_error(&source.path, &source.lines, &source.flags) {
                return Err(Diagnostics { items: vec![error] });
            }
        }
        let flagged = source.flags.iter().filter(|flags| !flags.is_clean()).count();
        let share = flagged as f64 / source.flags.len().max(1) as f64;
        if share > FLAGGED_SHARE_WARNING {
            warnings.push(
                Diagnostic::warning(
                    "eval::flagged_rows",
                    format!(
                        "{flagged} of {} rows ({:.1}%) of {} are flagged: the metrics describe rows unlike the \
                         training rows",
                        source.flags.len(),
                        100.0 * share,
                        source.label
                    ),
                )
                .at_file(&source.path)
                .with_help("see each row's flags in the predictions (`--out DIR`), or refuse them with `--strict`"),
            );
        }
        let outputs = runner.evaluate(&source.split, &loaded.weights);
        let score = runner.score_outputs(&source.split, &outputs, seed);
        let truth = truth_cells(&loaded.checked.task, &source.split.targets);
        splits.push(EvaluatedSplit {
            name: source.name,
            score,
            outputs: outputs.outputs,
            lines: source.lines,
            truth,
            flags: source.flags,
            kept: source.kept,
        });
    }
    let mut outcome = EvalOutcome { splits, written: None };
    if let Some(out) = &options.out {
        write_results(out, &predictor, &outcome, &options.keep, data)?;
        outcome.written = Some(out.clone());
    }
    Ok((outcome, warnings))
}

/// A split to score, with what its predictions file needs.
struct SplitSource {
    name: String,
    /// The split in words for messages: `the test split`, `` `new.csv` ``.
    label: String,
    /// The file its rows come from, for messages.
    path: PathBuf,
    split: SplitData,
    lines: Vec<usize>,
    flags: Vec<RowFlags>,
    kept: Vec<(String, Vec<String>)>,
}

/// The run's validation and test splits, prepared again from its data (which must be unchanged), with each row's
/// flags (the validation and test rows lie outside the training rows, so they may be flagged too).
fn own_splits(
    loaded: &LoadedRun,
    keep: &[String],
    warnings: &mut Diagnostics,
) -> Result<Vec<SplitSource>, Diagnostics> {
    check_data_unchanged(&loaded.manifest)?;
    // The run's seed, which `--seed` may have set: the split, and so the training rows' categories, depend on it.
    let outcome = check_spec_seeded(loaded.file.clone(), Limit::from_environment(), Some(loaded.spec.seed.value));
    let Some(checked) = outcome.checked.as_ref().filter(|_| !outcome.diagnostics.has_errors()) else {
        return Err(outcome.diagnostics);
    };
    let mut diagnostics = Diagnostics::new();
    let Some(prepared) = prepare(&loaded.file, &loaded.spec, checked, &outcome.loaded, &mut diagnostics) else {
        return Err(diagnostics);
    };
    if prepared.transform != loaded.transform {
        return Err(Diagnostics {
            items: vec![Diagnostic::error(
                "eval::preparation_changed",
                "preparing the data again does not give the preprocessing saved with the model",
            )
            .at_file(&loaded.run.file(TRANSFORM))
            .with_help("the data or galen's version changed since training; evaluate with `--data`, or train again")],
        });
    }
    warnings.extend(diagnostics.items.into_iter().filter(|d| !d.is_error()));
    let training_table = match &outcome.loaded {
        LoadedData::Table(table, _) => Some(table),
        _ => None,
    };
    let test_file = match &loaded.spec.data.source.value {
        Source::Csv { .. } => match &loaded.spec.data.split.value {
            Split::TestFile { path, .. } => Some(resolve(&loaded.file, &path.value)),
            _ => None,
        },
        Source::Images { .. } => None,
    };
    let test_table = match &test_file {
        Some(path) => Some(read_csv(path, &CsvOptions::of(&loaded.spec.data.source.value))?),
        None => None,
    };
    if let Some(transform) = &loaded.transform {
        warnings.extend(no_ranges_warning(transform, loaded));
    }
    let mut splits = Vec::new();
    for (name, split) in [("validation", prepared.val), ("test", prepared.test)] {
        if split.is_empty() {
            continue;
        }
        let table = if name == "test" { test_table.as_ref().or(training_table) } else { training_table };
        let flags = match (table, &loaded.transform) {
            (Some(table), Some(transform)) => transform.flag_rows(table, &split.rows)?,
            _ => vec![RowFlags::default(); split.len()],
        };
        let kept = match table {
            Some(table) => kept_columns(table, keep, &split.rows)?,
            None if keep.is_empty() => Vec::new(),
            None => return Err(keep_without_table(&loaded.file.path)),
        };
        let path = table.map_or(loaded.file.path.clone(), |table| table.path().to_path_buf());
        let lines = split.rows.iter().map(|row| row + 1).collect();
        let label = format!("the {name} split");
        splits.push(SplitSource { name: name.to_string(), label, path, split, lines, flags, kept });
    }
    if splits.is_empty() {
        return Err(Diagnostics {
            items: vec![Diagnostic::error("eval::no_split", "the run's split keeps no validation or test rows")
                .at_file(&loaded.file.path)
                .with_help("evaluate on a labelled file with `--data`")],
        });
    }
    Ok(splits)
}

fn keep_without_table(spec: &Path) -> Diagnostics {
    Diagnostics {
        items: vec![Diagnostic::error("eval::keep", "`--keep` copies columns of a CSV; this run's data are images")
            .at_file(spec)
            .with_help("leave out `--keep`, or evaluate on a manifest with `--data`")],
    }
}

/// The folder of `--out`: not the run itself (whose files would be replaced), and not a file.
fn check_out_folder(out: &Path, run: &Path) -> Result<(), Diagnostics> {
    let refuse = |message: &str, help: &str| Diagnostics {
        items: vec![Diagnostic::error("eval::out", message.to_string()).at_file(out).with_help(help.to_string())],
    };
    if out.is_file() {
        return Err(refuse("`--out` names a file; it takes a folder", "name a new or existing folder"));
    }
    let same = std::fs::canonicalize(out).ok().is_some_and(|out| std::fs::canonicalize(run).ok() == Some(out));
    if same || out.join(MANIFEST).is_file() {
        return Err(refuse(
            "`--out` names a run directory, whose metrics and plots evaluating would replace",
            "name another folder, such as `RUN/eval-DATE`",
        ));
    }
    Ok(())
}

/// Writes `metrics.json` (the scores of every split, the run and the data), `SPLIT_predictions.csv` for each split
/// (with the kept columns, the truth and the flags) and `plots/SPLIT_*.svg`.
fn write_results(
    out: &Path,
    predictor: &Predictor,
    outcome: &EvalOutcome,
    keep: &[String],
    data: Option<&Path>,
) -> Result<(), Diagnostics> {
    let one = |diagnostic: Diagnostic| Diagnostics { items: vec![diagnostic] };
    let task = predictor.task();
    let mut metrics = serde_json::Map::new();
    metrics.insert("run".into(), Value::from(predictor.loaded.run.path().display().to_string()));
    let data_name = data.map_or_else(|| "the run's own data".to_string(), |data| data.display().to_string());
    metrics.insert("data".into(), Value::from(data_name));
    metrics.insert("splits".into(), outcome.to_json());
    let flagged: serde_json::Map<String, Value> =
        outcome.splits.iter().map(|split| (split.name.clone(), Value::from(split.flagged()))).collect();
    metrics.insert("flagged_rows".into(), Value::Object(flagged));
    write_atomic(&out.join(METRICS), format!("{:#}\n", Value::Object(metrics)).as_bytes()).map_err(one)?;
    let kept_names: Vec<&str> = keep.iter().map(String::as_str).collect();
    let title = &predictor.loaded.spec.name.value;
    for split in &outcome.splits {
        let stem = if data.is_some() { "data" } else { split.name.as_str() };
        let rows = (0..split.lines.len()).map(|position| PredictionRow {
            line: split.lines[position],
            kept: split.kept.iter().map(|(_, cells)| cells[position].as_str()).collect(),
            truth: Some(split.truth[position].clone()),
            output: Some(split.outputs.row(position).to_vec()),
            flags: Some(&split.flags[position]),
        });
        let csv = predictions_csv(task, &kept_names, true, true, rows)?;
        write_atomic(&out.join(format!("{stem}_predictions.csv")), csv.as_bytes()).map_err(one)?;
        let label = if data.is_some() { format!("`{}`", split.name) } else { format!("{} split", split.name) };
        for (name, svg) in split_plots(title, &label, task, &split.score) {
            let svg =
                svg.map_err(|error| one(Diagnostic::error("run::plot", format!("cannot draw `{name}`: {error}"))))?;
            write_atomic(&out.join(PLOTS).join(format!("{stem}_{name}")), svg.as_bytes()).map_err(one)?;
        }
    }
    Ok(())
}

/// Each example's true target as the data write it: the class name, or the number.
fn truth_cells(task: &Task, targets: &Targets) -> Vec<String> {
    match targets {
        Targets::Classes(classes) => {
            classes.iter().map(|&class| task.classes().get(class as usize).cloned().unwrap_or_default()).collect()
        }
        Targets::Numbers(numbers) => numbers.iter().map(ToString::to_string).collect(),
    }
}

/// Every data file the run recorded must still have its SHA-256.
fn check_data_unchanged(manifest: &Manifest) -> Result<(), Diagnostics> {
    let mut errors = Diagnostics::new();
    for record in &manifest.data {
        let found = if record.role == "images" { sha256_folder(&record.path) } else { sha256_file(&record.path) };
        match found {
            Ok(sha) if sha == record.sha256 => {}
            Ok(sha) => errors.push(
                Diagnostic::error(
                    "eval::data_changed",
                    format!(
                        "the {} changed since training: its SHA-256 is {sha}, the run recorded {}",
                        record.role, record.sha256
                    ),
                )
                .at_file(&record.path)
                .with_help("evaluate on a file of your choice with `--data`, or train again on the new data"),
            ),
            Err(error) => {
                errors.push(error.with_help("the run's data moved or was deleted; give a labelled file with `--data`"))
            }
        }
    }
    if errors.has_errors() {
        Err(errors)
    } else {
        Ok(())
    }
}

/// Every row of a labelled CSV with its target, through the saved preprocessing, with its flags.
fn labelled_split(
    predictor: &Predictor,
    data: &Path,
    keep: &[String],
    warnings: &mut Diagnostics,
) -> Result<SplitSource, Diagnostics> {
    let loaded = &predictor.loaded;
    let (Some(transform), Source::Csv { .. }) = (&loaded.transform, &loaded.spec.data.source.value) else {
        return Err(Diagnostics {
            items: vec![Diagnostic::error("eval::images", "`--data` takes a CSV of features; this model reads images")
                .at_file(data)
                .with_help("evaluate an image model on its own data: run `galen eval RUN` without `--data`")],
        });
    };
    let table = predictor.read_table(data)?;
    let target = transform.target_name();
    let Some(column) = table.column(target) else {
        let problems = transform.check_columns(&table, keep);
        if problems.has_errors() {
            return Err(problems);
        }
        return Err(Diagnostics {
            items: vec![Diagnostic::error("data::missing_column", format!("the file has no target column `{target}`"))
                .at_file(data)
                .with_help("evaluating needs the outcome of every row; to predict without it use `galen predict`")],
        });
    };
    let rows: Vec<usize> = (0..table.rows()).filter(|&row| column.get(row).is_some()).collect();
    if rows.is_empty() && table.rows() > 0 {
        return Err(Diagnostics {
            items: vec![Diagnostic::error(
                "eval::no_targets",
                format!("every row's target `{target}` is empty: there is no outcome to evaluate against"),
            )
            .at_file(data)
            .with_help("fill in the outcomes, or use `galen predict` for rows without one")],
        });
    }
    if rows.len() < table.rows() {
        warnings.push(
            Diagnostic::warning(
                "data::missing_target",
                format!("{} row(s) have no `{target}` and are left out", table.rows() - rows.len()),
            )
            .at_file(data),
        );
    }
    let prepared = predictor.table_rows(&table, &rows, keep, data, warnings)?;
    if prepared.kept.is_empty() {
        return Err(Diagnostics {
            items: vec![Diagnostic::error("eval::no_rows", "the file has no row to evaluate").at_file(data).with_help(
                "every row with a target has a missing cell in a column whose strategy is `drop`, or the file is empty",
            )],
        });
    }
    let targets = transform.targets(&table, &prepared.kept)?;
    // The flags of the rows scored: those a `drop` strategy leaves out get no prediction.
    let flags = flags_of_kept(&prepared);
    let kept = kept_columns(&table, keep, &prepared.kept)?;
    let weights = vec![1.0; prepared.kept.len()];
    let lines = prepared.kept.iter().map(|row| row + 1).collect();
    let name = data.file_name().map_or("data".into(), |name| name.to_string_lossy().into_owned());
    let split = SplitData { rows: prepared.kept, inputs: Inputs::from_array(prepared.inputs), targets, weights };
    let label = format!("`{name}`");
    Ok(SplitSource { name, label, path: data.to_path_buf(), split, lines, flags, kept })
}

/// The flags of the kept rows of prepared rows, in order.
fn flags_of_kept(prepared: &TableRows) -> Vec<RowFlags> {
    let mut kept = prepared.kept.iter().peekable();
    let mut flags = Vec::with_capacity(prepared.kept.len());
    for (row, row_flags) in prepared.rows.iter().zip(&prepared.flags) {
        if kept.peek() == Some(&row) {
            kept.next();
            flags.push(row_flags.clone());
        }
    }
    flags
}
