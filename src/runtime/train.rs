//! Training: seeded initial weights, shuffled mini-batches through the train-step graph, the learning-rate
//! schedule and early stopping between epochs, and evaluation of whole splits through the evaluation graph.
//!
//! Everything random comes from the spec's seed (init, shuffle and dropout streams), so a rerun gives the same
//! weights bit for bit. Graphs have static shapes: one graph is built per batch size met (the full batch and the
//! last, partial one) and kept for the whole run. Metrics are computed over a whole split from its outputs, never
//! averaged over batches.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use ndarray::{Array2, ArrayD, Axis, IxDyn};

use super::schedule::{LearningRate, Stopper, Verdict};
use super::scores::Scores;
use crate::allocation::AllocationError;
use crate::backend::{Backend, Executable};
use crate::check::{Checked, Task};
use crate::compile::{self, GraphKind};
use crate::data::batches::{gather, BatchPlan};
use crate::data::dataset::SplitData;
use crate::data::transform::Targets;
use crate::diagnostics::Diagnostic;
use crate::interpreter::Tensor;
use crate::ir::{Graph, Role};
use crate::lowering::{initial_values, names, Model, TargetEncoding};
use crate::metrics::PriorCorrection;
use crate::rng::{ChaCha20Rng, Purpose, Rng, Streams};
use crate::spec::ast::Spec;

/// Variable values by name.
pub type Weights = BTreeMap<String, ArrayD<f32>>;

/// A model's outputs on every row of a split, in the split's row order, with the loss over the split.
#[derive(Clone, Debug)]
pub struct SplitOutputs {
    /// The mean loss (weighted by the split's loss weights, as training computes it).
    pub loss: f64,
    /// `[rows, width]`: class probabilities (P(positive) for one sigmoid unit; corrected for class weights when the
    /// runner has a risk correction, while the loss is of the model's own outputs) or predicted numbers.
    pub outputs: Array2<f32>,
}

/// How a model did on one split: its loss and every metric that applies.
#[derive(Clone, Debug)]
pub struct SplitScore {
    /// Examples evaluated.
    pub rows: usize,
    /// The mean loss.
    pub loss: f64,
    /// The metrics over the whole split.
    pub scores: Scores,
}

impl SplitScore {
    /// A monitored quantity by its spec name: `loss`, `log_loss`, `auc`, `accuracy`... (without `val_`).
    pub fn value(&self, metric: &str) -> Option<f64> {
        match metric {
            "loss" => Some(self.loss),
            metric => self.scores.value(metric),
        }
    }
}

/// What one epoch did.
#[derive(Clone, Debug)]
pub struct EpochRecord {
    /// The epoch, from 1.
    pub epoch: usize,
    /// The learning rate of the epoch's first step.
    pub learning_rate: f64,
    /// The mean training loss over the epoch's batches, weighted by batch size.
    pub loss: f64,
    /// The validation split's score, when there is one.
    pub val: Option<SplitScore>,
}

impl EpochRecord {
    /// A monitored quantity: `loss` (training) or `val_` + `loss` or a metric.
    pub fn monitored(&self, monitor: &str) -> Option<f64> {
        match monitor.strip_prefix("val_") {
            Some(metric) => self.val.as_ref()?.value(metric),
            None if monitor == "loss" => Some(self.loss),
            None => None,
        }
    }
}

/// Why training ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Every epoch ran.
    Completed,
    /// Early stopping ended training after this epoch.
    EarlyStopped {
        /// The last epoch that ran.
        epoch: usize,
    },
    /// The user interrupted (Ctrl-C) during this epoch, after a whole batch; the epoch is not recorded.
    Interrupted {
        /// The epoch that was cut short.
        epoch: usize,
    },
}

/// The result of training on one split.
#[derive(Clone, Debug)]
pub struct Fit {
    /// The weights training ends with: the best epoch's when early stopping restores them, else the last
    /// completed epoch's.
    pub values: Weights,
    /// One record per completed epoch.
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights are the result.
    pub result_epoch: usize,
    /// The best epoch by early stopping's monitor, when early stopping ran.
    pub best_epoch: Option<usize>,
    /// Why training ended.
    pub ending: Ending,
}

/// What training tells its caller while it runs.
pub enum Event<'a> {
    /// An epoch starts with `batches` batches.
    EpochStart {
        /// The epoch, from 1.
        epoch: usize,
        /// Batches in the epoch.
        batches: usize,
    },
    /// A batch finished.
    Batch {
        /// The batch, from 1.
        batch: usize,
        /// The mean training loss of the epoch so far.
        loss: f64,
    },
    /// An epoch finished; `checkpoint` holds the weights a run stopped now would keep.
    Epoch {
        /// The epoch's record.
        record: &'a EpochRecord,
        /// The weights to keep.
        checkpoint: &'a Weights,
        /// The epoch the checkpoint's weights are from.
        checkpoint_epoch: usize,
    },
}

/// How a run can fail.
#[derive(Debug)]
pub enum Failure {
    /// The loss became infinite or not a number.
    Diverged {
        /// The epoch, from 1.
        epoch: usize,
        /// The batch within the epoch, from 1.
        batch: usize,
        /// The learning rate of that step.
        learning_rate: f64,
    },
    /// The allocator refused a buffer of the model's.
    OutOfMemory(AllocationError),
}

impl Failure {
    /// The error a user sees, pointing at `spec`'s optimizer; `part` names a cross-validation fold (` of fold 2`).
    pub fn diagnostic(&self, spec: &Spec, part: &str) -> Diagnostic {
        match self {
            Failure::Diverged { epoch, batch, learning_rate } => Diagnostic::error(
                "train::diverged",
                format!("the training loss became infinite or not a number at epoch {epoch}, batch {batch}{part}"),
            )
            .at(spec.train.optimizer.span)
            .with_label("this learning rate")
            .with_help(format!(
                "the learning rate {learning_rate} is probably too large for this model and data; try a tenth of \
                 it (lr={}), and check the data for extreme values",
                learning_rate / 10.0
            )),
            Failure::OutOfMemory(error) => error.diagnostic(),
        }
    }
}

/// Graphs of one kind by batch size, compiled ([`crate::compile`]) for the backend on first use.
struct Graphs {
    kind: GraphKind,
    built: BTreeMap<usize, Executable>,
}

impl Graphs {
    fn new(kind: GraphKind) -> Graphs {
        Graphs { kind, built: BTreeMap::new() }
    }

    fn get(&mut self, model: &Model, batch: usize, backend: Backend, warnings: &mut Vec<String>) -> &Executable {
        let kind = self.kind;
        self.built.entry(batch).or_insert_with(|| {
            let (executable, warning) =
                compile::runnable(model, kind, batch, backend, compile::Settings::from_environment());
            warnings.extend(warning);
            executable
        })
    }
}

/// The batch sizes that `rows` rows in batches of `batch_size` make: the full one and the remainder.
fn batch_sizes(rows: usize, batch_size: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    if rows >= batch_size {
        sizes.push(batch_size);
    }
    if !rows.is_multiple_of(batch_size) {
        sizes.push(rows % batch_size);
    }
    sizes
}

/// Runs a model's graphs: training steps, evaluation and prediction, with the graphs of each batch size cached.
pub struct Runner<'m> {
    model: &'m Model,
    encoder: TargetEncoder,
    task: Task,
    batch_size: usize,
    backend: Backend,
    /// Graphs the JIT could not compile, which ran on the interpreter instead.
    pub warnings: Vec<String>,
    /// The correction of the risks for class weights, applied to every output `evaluate` and `predict` give (the
    /// losses stay the model's own).
    risk_correction: Option<PriorCorrection>,
    train_steps: Graphs,
    evaluations: Graphs,
    predictions: Graphs,
}

impl<'m> Runner<'m> {
    /// A runner for `model`, trained and evaluated in batches of `batch_size`.
    pub fn new(model: &'m Model, checked: &Checked, batch_size: usize) -> Runner<'m> {
        Runner {
            model,
            encoder: TargetEncoder::new(model, &checked.task),
            task: checked.task.clone(),
            batch_size: batch_size.max(1),
            backend: Backend::default(),
            warnings: Vec::new(),
            risk_correction: None,
            train_steps: Graphs::new(GraphKind::TrainStep),
            evaluations: Graphs::new(GraphKind::Evaluate),
            predictions: Graphs::new(GraphKind::Predict),
        }
    }

    /// The same runner on another backend.
    pub fn with_backend(mut self, backend: Backend) -> Runner<'m> {
        self.backend = backend;
        self
    }

    /// The same runner with the risks it reports corrected for class weights (`None`: as the model gives them).
    pub fn with_risk_correction(mut self, correction: Option<PriorCorrection>) -> Runner<'m> {
        self.risk_correction = correction;
        self
    }

    /// Corrects the risks from now on for the class weights of the rows about to be trained on (each
    /// cross-validation fold has its own); `None` reports them as the model gives them.
    pub fn set_risk_correction(&mut self, correction: Option<PriorCorrection>) {
        self.risk_correction = correction;
    }

    /// The correction of the risks in force, if any.
    pub fn risk_correction(&self) -> Option<&PriorCorrection> {
        self.risk_correction.as_ref()
    }

    /// Builds, optimizes and compiles now the graphs that training on `train_rows` rows and evaluating `eval_rows`
    /// rows will run (the full batch and the last partial one of each), instead of on first use; for timing the
    /// compiler apart from training.
    pub fn prepare(&mut self, train_rows: usize, eval_rows: usize) {
        let model = self.model;
        for batch in batch_sizes(train_rows, self.batch_size) {
            self.train_steps.get(model, batch, self.backend, &mut self.warnings);
        }
        for batch in batch_sizes(eval_rows, self.batch_size) {
            self.evaluations.get(model, batch, self.backend, &mut self.warnings);
        }
    }

    /// Where the train-step graphs' time went (`galen bench --profile`): every step of every batch size's graph.
    pub fn train_profile(&self) -> Vec<crate::backend::StepTime> {
        self.train_steps.built.values().flat_map(Executable::profile).collect()
    }

    /// The initial weights of a seed; an error when the allocator refuses them.
    pub fn initial_values(&self, seed: u64) -> Result<Weights, AllocationError> {
        initial_values(self.model.variables(), &Streams::new(seed))
    }

    /// Trains for `epochs` epochs on `train`, scoring `val` (when not empty) after every epoch, with the spec's
    /// optimizer, schedule and early stopping. Stops after the current batch once `interrupt` is set.
    #[allow(clippy::too_many_arguments)]
    pub fn fit(
        &mut self,
        spec: &Spec,
        train: &SplitData,
        val: &SplitData,
        epochs: usize,
        seed: u64,
        interrupt: Option<&AtomicBool>,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Fit, Failure> {
        let streams = Streams::new(seed);
        let mut values = self.initial_values(seed).map_err(Failure::OutOfMemory)?;
        let variable_names: std::collections::BTreeSet<String> = values.keys().cloned().collect();
        let mut shuffle = streams.stream(Purpose::Shuffle);
        let mut dropout = streams.stream(Purpose::Dropout);
        let steps_per_epoch = train.len().div_ceil(self.batch_size);
        let initial_rate = spec.train.optimizer.value.learning_rate().value;
        let mut rate = LearningRate::new(
            initial_rate,
            spec.train.schedule.as_ref().map(|schedule| &schedule.value),
            epochs,
            steps_per_epoch,
        );
        let mut stopper = spec.train.early_stopping.as_ref().map(|stopping| Stopper::new(&stopping.value));
        let mut best: Option<(usize, Weights)> = None;
        let mut step = 0usize;
        let mut history = Vec::new();
        let mut ending = Ending::Completed;
        // The weights at the end of the last completed epoch: an interrupted epoch's are half-trained.
        let mut completed = values.clone();
        let interrupted = || interrupt.is_some_and(|flag| flag.load(Ordering::SeqCst));
        'epochs: for epoch in 1..=epochs {
            let plan = BatchPlan::shuffled(train.len(), self.batch_size, &mut shuffle);
            on_event(Event::EpochStart { epoch, batches: plan.len() });
            let epoch_rate = rate.at(epoch, step);
            let mut total = 0.0;
            let mut seen = 0usize;
            for (index, positions) in plan.batches().enumerate() {
                let learning_rate = rate.at(epoch, step);
                let model = self.model;
                let executable = self.train_steps.get(model, positions.len(), self.backend, &mut self.warnings);
                let mut inputs = batch_inputs(train, positions, &self.encoder);
                // The variables move into the step and their new values come back out: no copy per step.
                move_variables(&mut inputs, executable.graph(), &mut values);
                add_noise(&mut inputs, executable.graph(), &mut dropout);
                inputs.insert(names::LEARNING_RATE.to_string(), scalar(learning_rate as f32));
                inputs.insert(names::STEP.to_string(), scalar(step as f32));
                let outputs = executable.run(&inputs);
                let loss = outputs.get(names::LOSS).and_then(|loss| loss.scalar()).unwrap_or(f64::NAN);
                if !loss.is_finite() {
                    return Err(Failure::Diverged { epoch, batch: index + 1, learning_rate });
                }
                total += loss * positions.len() as f64;
                seen += positions.len();
                for (name, value) in outputs {
                    if let Some(variable) = name.strip_prefix(names::NEW) {
                        values.insert(variable.to_string(), into_f32(value));
                    }
                }
                // A variable the step does not update comes back as it went in.
                for (name, tensor) in inputs {
                    if variable_names.contains(&name) && !values.contains_key(&name) {
                        values.insert(name, into_f32(tensor));
                    }
                }
                step += 1;
                on_event(Event::Batch { batch: index + 1, loss: total / seen as f64 });
                if interrupted() {
                    ending = Ending::Interrupted { epoch };
                    break 'epochs;
                }
            }
            let val = (!val.is_empty()).then(|| self.score(val, &values, None));
            let record = EpochRecord { epoch, learning_rate: epoch_rate, loss: total / seen.max(1) as f64, val };
            let mut stop = false;
            // A monitored value that is missing or undefined this epoch (AUROC of a validation split holding one
            // class) counts neither way, as Keras skips a missing monitor.
            if let Some(stopper) = &mut stopper {
                if let Some(value) = record.monitored(stopper.monitor()).filter(|value| value.is_finite()) {
                    match stopper.end_epoch(epoch, value) {
                        Verdict::Improved if stopper.restore_best => best = Some((epoch, values.clone())),
                        Verdict::Improved | Verdict::Continue => {}
                        Verdict::Stop => stop = true,
                    }
                }
            }
            if let Some(monitor) = rate.monitor().map(str::to_string) {
                rate.end_epoch(record.monitored(&monitor).filter(|value| value.is_finite()));
            }
            let (checkpoint_epoch, checkpoint) = match &best {
                Some((epoch, weights)) => (*epoch, weights),
                None => (epoch, &values),
            };
            on_event(Event::Epoch { record: &record, checkpoint, checkpoint_epoch });
            history.push(record);
            completed.clone_from(&values);
            if stop {
                ending = Ending::EarlyStopped { epoch };
                break;
            }
        }
        let best_epoch = stopper.as_ref().and_then(|stopper| stopper.best()).map(|(epoch, _)| epoch);
        let last_epoch = history.last().map_or(0, |record| record.epoch);
        let (result_epoch, values) = match best {
            Some((epoch, weights)) => (epoch, weights),
            // With nothing completed, the initial weights.
            None => (last_epoch, completed),
        };
        Ok(Fit { values, history, result_epoch, best_epoch, ending })
    }

    /// The outputs and loss of `values` on every row of `split`, batch by batch in row order.
    pub fn evaluate(&mut self, split: &SplitData, values: &Weights) -> SplitOutputs {
        let width = self.encoder.width();
        let mut outputs = Array2::<f32>::zeros((split.len(), width));
        let mut loss = 0.0;
        for positions in BatchPlan::in_order(split.len(), self.batch_size).batches() {
            let model = self.model;
            let executable = self.evaluations.get(model, positions.len(), self.backend, &mut self.warnings);
            let mut inputs = batch_inputs(split, positions, &self.encoder);
            add_variables(&mut inputs, executable.graph(), values);
            let result = executable.run(&inputs);
            loss += result.get(names::LOSS).and_then(|loss| loss.scalar()).unwrap_or(f64::NAN) * positions.len() as f64;
            copy_rows(&mut outputs, positions, &result[names::OUTPUT]);
        }
        self.correct_risks(&mut outputs);
        SplitOutputs { loss: loss / split.len().max(1) as f64, outputs }
    }

    /// The model's outputs for `inputs` (`[rows, input shape...]`), batch by batch, through the predict graph.
    pub fn predict(&mut self, inputs: &ArrayD<f32>, values: &Weights) -> Array2<f32> {
        let rows = inputs.shape()[0];
        let mut outputs = Array2::<f32>::zeros((rows, self.encoder.width()));
        for positions in BatchPlan::in_order(rows, self.batch_size).batches() {
            let model = self.model;
            let executable = self.predictions.get(model, positions.len(), self.backend, &mut self.warnings);
            let mut graph_inputs = BTreeMap::from([(names::X.to_string(), Tensor::F32(gather(inputs, positions)))]);
            add_variables(&mut graph_inputs, executable.graph(), values);
            let result = executable.run(&graph_inputs);
            copy_rows(&mut outputs, positions, &result[names::OUTPUT]);
        }
        self.correct_risks(&mut outputs);
        outputs
    }

    /// A classifier's outputs corrected for the class weights, when a correction is set.
    fn correct_risks(&self, outputs: &mut Array2<f32>) {
        let Some(correction) = &self.risk_correction else { return };
        let positive = match self.task {
            Task::Binary { positive, .. } => positive,
            Task::Multiclass { .. } => 0,
            Task::Regression => return,
        };
        correction.correct_outputs(outputs, positive);
    }

    /// The loss and metrics of `values` on `split`; with `bootstrap`, confidence intervals too.
    pub fn score(&mut self, split: &SplitData, values: &Weights, bootstrap: Option<u64>) -> SplitScore {
        let outputs = self.evaluate(split, values);
        self.score_outputs(split, &outputs, bootstrap)
    }

    /// The metrics of outputs already computed for `split`.
    pub fn score_outputs(&self, split: &SplitData, outputs: &SplitOutputs, bootstrap: Option<u64>) -> SplitScore {
        let scores = Scores::of(&self.task, self.encoder.encoding, &outputs.outputs, &split.targets, bootstrap);
        SplitScore { rows: split.len(), loss: outputs.loss, scores }
    }
}

/// Writes a batch's output rows into the rows `positions` of `outputs`.
fn copy_rows(outputs: &mut Array2<f32>, positions: &[usize], batch: &Tensor) {
    let batch = batch.as_f32().expect("the output is f32");
    for (row, &position) in positions.iter().enumerate() {
        let values = batch.index_axis(Axis(0), row);
        outputs.row_mut(position).iter_mut().zip(values.iter()).for_each(|(out, &value)| *out = value);
    }
}

/// Turns a split's targets into the `y` the graphs expect.
struct TargetEncoder {
    encoding: TargetEncoding,
    positive: usize,
}

impl TargetEncoder {
    fn new(model: &Model, task: &Task) -> TargetEncoder {
        let positive = match task {
            Task::Binary { positive, .. } => *positive,
            Task::Multiclass { .. } | Task::Regression => 0,
        };
        TargetEncoder { encoding: model.target_encoding(), positive }
    }

    /// The width of the model's output.
    fn width(&self) -> usize {
        match self.encoding {
            TargetEncoding::OneHot { classes } => classes,
            TargetEncoding::Positive | TargetEncoding::Numbers => 1,
        }
    }

    fn encode(&self, targets: &Targets, positions: &[usize]) -> ArrayD<f32> {
        let rows = positions.len();
        let y = match (targets, self.encoding) {
            (Targets::Classes(classes), TargetEncoding::OneHot { classes: width }) => {
                Array2::from_shape_fn((rows, width), |(row, class)| {
                    f32::from(classes[positions[row]] as usize == class)
                })
            }
            (Targets::Classes(classes), _) => Array2::from_shape_fn((rows, 1), |(row, _)| {
                f32::from(classes[positions[row]] as usize == self.positive)
            }),
            (Targets::Numbers(numbers), _) => Array2::from_shape_fn((rows, 1), |(row, _)| numbers[positions[row]]),
        };
        y.into_dyn()
    }
}

/// `x`, `y` and `weight` for the rows at `positions` of a split.
fn batch_inputs(split: &SplitData, positions: &[usize], encoder: &TargetEncoder) -> BTreeMap<String, Tensor> {
    let weights: Vec<f32> = positions.iter().map(|&position| split.weights[position]).collect();
    BTreeMap::from([
        (names::X.to_string(), Tensor::F32(gather(&split.inputs, positions))),
        (names::Y.to_string(), Tensor::F32(encoder.encode(&split.targets, positions))),
        (
            names::WEIGHT.to_string(),
            Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[positions.len()]), weights).expect("one weight per row")),
        ),
    ])
}

/// Moves the variables a graph reads out of `values` into its inputs.
fn move_variables(inputs: &mut BTreeMap<String, Tensor>, graph: &Graph, values: &mut Weights) {
    for (_, name, role) in graph.inputs() {
        if matches!(role, Role::Param | Role::State) {
            if let Some(value) = values.remove(name) {
                inputs.insert(name.to_string(), Tensor::F32(value));
            }
        }
    }
}

/// The variables a graph reads, copied into its inputs (evaluation and prediction, which keep `values`).
fn add_variables(inputs: &mut BTreeMap<String, Tensor>, graph: &Graph, values: &Weights) {
    for (_, name, role) in graph.inputs() {
        if matches!(role, Role::Param | Role::State) {
            inputs.insert(name.to_string(), Tensor::F32(values[name].clone()));
        }
    }
}

/// Fresh uniform noise for every noise input (dropout masks), drawn in input order from the dropout stream.
fn add_noise(inputs: &mut BTreeMap<String, Tensor>, graph: &Graph, rng: &mut ChaCha20Rng) {
    for (id, name, role) in graph.inputs() {
        if role == Role::Noise {
            let shape = graph.tensor_type(id).shape.clone();
            let noise = ArrayD::from_shape_simple_fn(IxDyn(&shape), || rng.gen::<f32>());
            inputs.insert(name.to_string(), Tensor::F32(noise));
        }
    }
}

fn scalar(value: f32) -> Tensor {
    Tensor::F32(ArrayD::from_elem(IxDyn(&[]), value))
}

fn into_f32(tensor: Tensor) -> ArrayD<f32> {
    match tensor {
        Tensor::F32(values) => values,
        other => panic!("a variable's new value is {:?}, not f32", other.dtype()),
    }
}
