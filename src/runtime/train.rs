//! The first training path: seeded initial weights, shuffled mini-batches through the train-step graph on the
//! reference interpreter, then evaluation of the validation and test splits through the evaluation graph.
//!
//! Everything random comes from the spec's seed (init, shuffle and dropout streams), so a rerun gives the same
//! weights bit for bit. Graphs have static shapes: one graph is built per batch size met (the full batch and the
//! last, partial one) and kept for the whole run.

use std::collections::BTreeMap;

use ndarray::{Array2, ArrayD, IxDyn};

use super::interpreter::{run, Tensor};
use crate::check::{Checked, Task};
use crate::data::batches::{gather, BatchPlan};
use crate::data::dataset::{prepare, SplitData};
use crate::data::transform::Targets;
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::ir::{Graph, Role};
use crate::lowering::{initial_values, names, Model, TargetEncoding};
use crate::passes::optimize;
use crate::pipeline::LoadedData;
use crate::rng::{ChaCha20Rng, Purpose, Rng, Streams};
use crate::spec::ast::{Spec, Split};
use crate::spec::SpecFile;

/// The loss and accuracy of a model on one split.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Examples evaluated.
    pub rows: usize,
    /// The mean loss.
    pub loss: f64,
    /// The share of examples whose most probable class is the true one (classifiers only).
    pub accuracy: Option<f64>,
}

/// What one epoch did.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    /// The epoch, from 1.
    pub epoch: usize,
    /// The mean training loss over the epoch's batches, weighted by batch size.
    pub loss: f64,
    /// The validation split's evaluation, when there is one.
    pub val: Option<Evaluation>,
}

/// A trained model: its graphs' source, the variables' final values and what happened.
#[derive(Clone, Debug)]
pub struct Trained {
    /// The lowered model.
    pub model: Model,
    /// Every variable's final value, by name.
    pub values: BTreeMap<String, ArrayD<f32>>,
    /// One record per epoch.
    pub history: Vec<EpochRecord>,
    /// The test split's evaluation, when there is a test split.
    pub test: Option<Evaluation>,
}

/// Trains a checked spec on its loaded data, calling `on_epoch` after every epoch. Returns `None` with errors in
/// `diagnostics` when the data cannot be prepared or the loss diverges.
pub fn train(
    file: &SpecFile,
    spec: &Spec,
    checked: &Checked,
    loaded: &LoadedData,
    diagnostics: &mut Diagnostics,
    on_epoch: &mut dyn FnMut(&EpochRecord),
) -> Option<Trained> {
    let prepared = prepare(file, spec, checked, loaded, diagnostics)?;
    let model = Model::new(spec, checked);
    let streams = Streams::new(spec.seed.value);
    let mut values = initial_values(model.variables(), &streams);
    let mut shuffle = streams.stream(Purpose::Shuffle);
    let mut dropout = streams.stream(Purpose::Dropout);
    let batch_size = spec.train.batch_size.value;
    let learning_rate = spec.train.optimizer.value.learning_rate().value;
    let encoder = TargetEncoder::new(&model, checked);
    let mut train_steps = Graphs::new(|batch| model.train_step(batch));
    let mut evaluations = Graphs::new(|batch| model.evaluate(batch));
    let mut step = 0usize;
    let mut history = Vec::new();
    for epoch in 1..=spec.train.epochs.value {
        let plan = BatchPlan::shuffled(prepared.train.len(), batch_size, &mut shuffle);
        let mut total = 0.0;
        for positions in plan.batches() {
            let graph = train_steps.get(positions.len());
            let mut inputs = batch_inputs(&prepared.train, positions, &encoder);
            add_variables(&mut inputs, graph, &values);
            add_noise(&mut inputs, graph, &mut dropout);
            inputs.insert(names::LEARNING_RATE.to_string(), scalar(learning_rate as f32));
            inputs.insert(names::STEP.to_string(), scalar(step as f32));
            let outputs = run(graph, &inputs).unwrap_or_else(|error| panic!("the train step failed: {error}"));
            let loss = scalar_value(&outputs[names::LOSS]);
            if !loss.is_finite() {
                diagnostics.push(diverged(epoch, step, learning_rate).at(spec.train.optimizer.span));
                return None;
            }
            total += loss * positions.len() as f64;
            for (name, value) in outputs {
                if let Some(variable) = name.strip_prefix(names::NEW) {
                    values.insert(variable.to_string(), into_f32(value));
                }
            }
            step += 1;
        }
        let val = (!prepared.val.is_empty())
            .then(|| evaluate(&mut evaluations, &prepared.val, &values, &encoder, batch_size));
        let record = EpochRecord { epoch, loss: total / prepared.train.len().max(1) as f64, val };
        on_epoch(&record);
        history.push(record);
    }
    let test =
        (!prepared.test.is_empty()).then(|| evaluate(&mut evaluations, &prepared.test, &values, &encoder, batch_size));
    Some(Trained { model, values, history, test })
}

/// Graphs by batch size, built and optimized on first use (verified after every pass in debug builds and tests).
struct Graphs<F: Fn(usize) -> Graph> {
    build: F,
    built: BTreeMap<usize, Graph>,
}

impl<F: Fn(usize) -> Graph> Graphs<F> {
    fn new(build: F) -> Graphs<F> {
        Graphs { build, built: BTreeMap::new() }
    }

    fn get(&mut self, batch: usize) -> &Graph {
        let build = &self.build;
        self.built.entry(batch).or_insert_with(|| optimize(build(batch), cfg!(debug_assertions)))
    }
}

/// The loss and accuracy over a whole split, batch by batch in row order.
fn evaluate<F: Fn(usize) -> Graph>(
    graphs: &mut Graphs<F>,
    split: &SplitData,
    values: &BTreeMap<String, ArrayD<f32>>,
    encoder: &TargetEncoder,
    batch_size: usize,
) -> Evaluation {
    let mut loss = 0.0;
    let mut correct = 0usize;
    for positions in BatchPlan::in_order(split.len(), batch_size).batches() {
        let graph = graphs.get(positions.len());
        let mut inputs = batch_inputs(split, positions, encoder);
        add_variables(&mut inputs, graph, values);
        let outputs = run(graph, &inputs).unwrap_or_else(|error| panic!("the evaluation failed: {error}"));
        loss += scalar_value(&outputs[names::LOSS]) * positions.len() as f64;
        if let Targets::Classes(classes) = &split.targets {
            let output = outputs[names::OUTPUT].as_f32().expect("the output is f32");
            for (row, &position) in positions.iter().enumerate() {
                let predicted = encoder
                    .predicted_class(output.index_axis(ndarray::Axis(0), row).as_slice().expect("rows are contiguous"));
                correct += usize::from(predicted == classes[position] as usize);
            }
        }
    }
    let rows = split.len();
    let accuracy = matches!(split.targets, Targets::Classes(_)).then(|| correct as f64 / rows as f64);
    Evaluation { rows, loss: loss / rows as f64, accuracy }
}

/// Turns a split's targets into the `y` the graphs expect, and outputs back into classes.
struct TargetEncoder {
    encoding: TargetEncoding,
    positive: usize,
}

impl TargetEncoder {
    fn new(model: &Model, checked: &Checked) -> TargetEncoder {
        let positive = match &checked.task {
            Task::Binary { positive, .. } => *positive,
            Task::Multiclass { .. } | Task::Regression => 0,
        };
        TargetEncoder { encoding: model.target_encoding(), positive }
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

    /// The class a row of output predicts: the most probable, or for one sigmoid unit the positive class when
    /// P(positive) >= 0.5.
    fn predicted_class(&self, output: &[f32]) -> usize {
        match self.encoding {
            TargetEncoding::Positive => {
                if output[0] >= 0.5 {
                    self.positive
                } else {
                    1 - self.positive
                }
            }
            _ => output.iter().enumerate().fold(0, |best, (class, &p)| if p > output[best] { class } else { best }),
        }
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

/// The variables a graph reads.
fn add_variables(inputs: &mut BTreeMap<String, Tensor>, graph: &Graph, values: &BTreeMap<String, ArrayD<f32>>) {
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

/// A scalar output (the loss) as `f64`; not a number when it is missing, which reads as a diverged loss.
fn scalar_value(tensor: &Tensor) -> f64 {
    tensor.scalar().unwrap_or(f64::NAN)
}

fn into_f32(tensor: Tensor) -> ArrayD<f32> {
    match tensor {
        Tensor::F32(values) => values,
        other => panic!("a variable's new value is {:?}, not f32", other.dtype()),
    }
}

/// Warnings for the settings this first training path does not apply yet, so that nobody believes they were;
/// `galen train` prints them before it starts.
pub fn unapplied_settings(spec: &Spec) -> Diagnostics {
    let mut diagnostics = Diagnostics::new();
    let mut unapplied = Vec::new();
    if let Some(early_stopping) = &spec.train.early_stopping {
        unapplied.push(("early_stopping", "every epoch runs", early_stopping.span));
    }
    if let Some(schedule) = &spec.train.schedule {
        unapplied.push(("schedule", "the learning rate stays constant", schedule.span));
    }
    if let Split::KFold { .. } = &spec.data.split.value {
        unapplied.push(("k_fold", "one model is trained on every row outside the test split", spec.data.span));
    }
    for (setting, instead, span) in unapplied {
        diagnostics.push(
            Diagnostic::warning("train::not_applied", format!("`{setting}` is not applied by this version of `galen train`: {instead}"))
                .at(span)
                .with_help("the full training runtime (early stopping, schedules, cross-validation, the run directory) is the next step of galen's development"),
        );
    }
    diagnostics
}

fn diverged(epoch: usize, step: usize, learning_rate: f64) -> Diagnostic {
    Diagnostic::error(
        "train::diverged",
        format!("the training loss became infinite or not a number at epoch {epoch} (step {})", step + 1),
    )
    .with_help(format!(
        "the learning rate {learning_rate} is probably too large for this model and data; try a tenth of it, \
         and check the data for extreme values"
    ))
}
