//! Lowering: a checked model becomes IR graphs. The forward graph (the layers in training mode and the loss), the
//! train-step graph (forward, its gradients by the autodiff pass, their clipping and the optimizer's update, all IR)
//! and the predict graph (the layers in inference mode, ending in probabilities).
//!
//! Graphs have static shapes, so each is built for one batch size; a runtime builds one per batch size it meets
//! (the full batch and the last, partial one). Every value that changes between steps is a graph input with a
//! [`Role`]: the batch, the parameters, the state (running statistics, optimizer moments), the learning rate and
//! step number (never constants, so no pass folds them), and uniform noise for dropout, drawn by the runtime from
//! the seeded dropout stream.
//!
//! Names follow Keras: the n-th layer of a kind is `dense_n`, its variables `dense_n.kernel`, `dense_n.bias`.

mod activation;
mod clipping;
mod init;
mod layers;
mod loss;
mod optimizer;
mod recurrent;
#[cfg(test)]
mod tests;

pub use init::initial_values;
pub use optimizer::is_state as is_optimizer_state;

use std::collections::BTreeMap;

use crate::check::{Checked, Task};
use crate::ir::{Builder, DType, Graph, NodeId, Role, TensorType};
use crate::spec::ast::{Activation, Layer, Loss, Optimizer, Spec};

/// How a variable's first value is drawn (Keras' defaults per layer).
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// Uniform in ±sqrt(6 / (fan_in + fan_out)).
    GlorotUniform { fan_in: usize, fan_out: usize },
    /// An orthogonal matrix (recurrent kernels).
    Orthogonal,
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
    /// Zeros except ones for the forget gate's block `[units, 2 * units)` (an LSTM's bias).
    UnitForgetBias { units: usize },
}

/// A tensor the model keeps between steps: a parameter, a running statistic or an optimizer moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Variable {
    /// Its name, also the name of its graph input (`dense_1.kernel`, `adam.m.dense_1.kernel`).
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// How its first value is drawn.
    pub init: Init,
    /// `Param` when the optimizer trains it, `State` otherwise.
    pub role: Role,
}

/// Whether the layers run as in training (dropout on, batch statistics) or in inference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Training: dropout drops, batch norm normalises by the batch and updates its running statistics.
    Train,
    /// Inference: dropout is the identity, batch norm uses its running statistics.
    Infer,
}

/// What the graphs expect as the target `y` of a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetEncoding {
    /// One-hot rows `[batch, classes]` (a softmax output).
    OneHot { classes: usize },
    /// One column of 0/1, 1 for the positive class (one sigmoid unit).
    Positive,
    /// The numbers, `[batch, 1]`.
    Numbers,
}

/// Graph input and output names shared by the lowering and the runtime.
pub mod names {
    /// The features of a batch.
    pub const X: &str = "x";
    /// The targets of a batch, encoded as [`super::TargetEncoding`] says.
    pub const Y: &str = "y";
    /// The loss weight of each row of a batch.
    pub const WEIGHT: &str = "weight";
    /// The learning rate.
    pub const LEARNING_RATE: &str = "lr";
    /// The number of optimizer steps taken before this one.
    pub const STEP: &str = "step";
    /// The weighted mean loss of a batch.
    pub const LOSS: &str = "loss";
    /// The model's output: probabilities for a classifier, numbers for a regression.
    pub const OUTPUT: &str = "output";
    /// The prefix of a variable's value after a step: `new.dense_1.kernel`.
    pub const NEW: &str = "new.";
}

/// A checked model, ready to be lowered into graphs of any batch size.
#[derive(Clone, Debug)]
pub struct Model {
    layers: Vec<Layer>,
    input_shape: Vec<usize>,
    loss: Loss,
    optimizer: Optimizer,
    target: TargetEncoding,
    variables: Vec<Variable>,
}

impl Model {
    /// The model of a checked spec.
    pub fn new(spec: &Spec, checked: &Checked) -> Model {
        let layers: Vec<Layer> = spec.model.value.iter().map(|layer| layer.value.clone()).collect();
        let loss = spec.train.loss.value;
        let optimizer = spec.train.optimizer.value.clone();
        let units = checked.layers.last().and_then(|layer| layer.output.last().copied()).unwrap_or(1);
        let target = match (&checked.task, units) {
            (Task::Regression, _) => TargetEncoding::Numbers,
            (_, 1) => TargetEncoding::Positive,
            (_, classes) => TargetEncoding::OneHot { classes },
        };
        // Layer i reads the input for i = 0 and layer i - 1's output after that.
        let mut inputs = vec![checked.input_shape.clone()];
        inputs.extend(checked.layers.iter().map(|layer| layer.output.clone()));
        let mut variables = layers::variables(&layers, &inputs);
        variables.extend(optimizer::state(&optimizer, &variables));
        Model { layers, input_shape: checked.input_shape.clone(), loss, optimizer, target, variables }
    }

    /// Every variable: parameters, running statistics and optimizer moments, in a fixed order.
    pub fn variables(&self) -> &[Variable] {
        &self.variables
    }

    /// How the target of a batch is encoded.
    pub fn target_encoding(&self) -> TargetEncoding {
        self.target
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &Optimizer {
        &self.optimizer
    }

    /// The forward graph in training mode: the layers and the loss. Outputs `loss`, `output` and the new running
    /// statistics (`new.batch_norm_1.moving_mean`...).
    pub fn forward(&self, batch: usize) -> Graph {
        let (builder, _) = self.forward_builder("forward", Mode::Train, false, batch);
        builder.finish()
    }

    /// The evaluation graph: the layers in inference mode and the loss, for validation and test splits. Outputs
    /// `loss` and `output`.
    pub fn evaluate(&self, batch: usize) -> Graph {
        let (builder, _) = self.forward_builder("evaluate", Mode::Infer, false, batch);
        builder.finish()
    }

    /// The forward part of a train step: the layers in training mode and the loss, reading every variable and the
    /// optimizer's state, ready for autodiff ([`crate::compile`] runs the stages: this, the verifier, autodiff, then
    /// [`Model::update`]).
    pub fn train_forward(&self, batch: usize) -> TrainForward {
        let (builder, lowered) = self.forward_builder("train_step", Mode::Train, true, batch);
        let params: Vec<NodeId> = self
            .variables
            .iter()
            .filter(|variable| variable.role == Role::Param)
            .map(|variable| lowered.variables[&variable.name])
            .collect();
        TrainForward { builder, loss: lowered.loss, params, variables: lowered.variables }
    }

    /// The end of a train step: the gradients of [`TrainForward::params`] clipped as the optimizer says, then the
    /// optimizer's update; outputs `new.NAME` for every variable that changes. Inputs added: the learning rate and
    /// the step number.
    pub fn update(&self, forward: TrainForward, grads: &[NodeId]) -> Graph {
        let TrainForward { mut builder, params: param_nodes, variables, .. } = forward;
        let params: Vec<&Variable> = self.variables.iter().filter(|variable| variable.role == Role::Param).collect();
        // Clipped before the update (and before adamw's decay, which reads the parameters), as Keras does; only the
        // trainable parameters have gradients, so batch norm's running statistics take no part.
        let clipping = self.optimizer.clipping().map(|clipping| clipping.value);
        let grads = clipping::clip(&mut builder, clipping, grads);
        let learning_rate = builder.input(names::LEARNING_RATE, Role::Hyper, TensorType::new(DType::F32, []));
        let step = builder.input(names::STEP, Role::Hyper, TensorType::new(DType::F32, []));
        let hyper = optimizer::Hyper { learning_rate, step };
        for ((variable, &param), &grad) in params.iter().zip(&param_nodes).zip(&grads) {
            let updates = optimizer::update(&mut builder, &self.optimizer, hyper, variable, param, grad, &variables);
            for (name, node) in updates {
                builder.output(format!("{}{name}", names::NEW), node);
            }
        }
        builder.finish()
    }

    /// The predict graph: the layers in inference mode. Inputs: `x` and the variables the layers read. Output
    /// `output`: class probabilities (P(positive) for one sigmoid unit), or the predicted numbers.
    pub fn predict(&self, batch: usize) -> Graph {
        let mut builder = Builder::new("predict");
        let x = self.input_x(&mut builder, batch);
        let variables = self.variable_inputs(&mut builder, false);
        let mut lowering =
            layers::Lowering { builder: &mut builder, mode: Mode::Infer, variables: &variables, updates: Vec::new() };
        let activations = lowering.layers(&self.layers, x);
        let output = activations.output(&mut builder);
        builder.output(names::OUTPUT, output);
        builder.finish()
    }

    fn input_x(&self, builder: &mut Builder, batch: usize) -> NodeId {
        let mut shape = vec![batch];
        shape.extend(&self.input_shape);
        builder.input(names::X, Role::Batch, TensorType::new(DType::F32, shape))
    }

    /// Inputs for the model's variables (with the optimizer's state when `optimizer` is true), by name.
    fn variable_inputs(&self, builder: &mut Builder, optimizer: bool) -> BTreeMap<String, NodeId> {
        let model_variables = self.variables.iter().filter(|variable| optimizer || !optimizer::is_state(variable));
        model_variables
            .map(|variable| {
                let ty = TensorType::new(DType::F32, variable.shape.clone());
                (variable.name.clone(), builder.input(variable.name.clone(), variable.role, ty))
            })
            .collect()
    }

    /// The layers in `mode` and the loss; with `optimizer`, the graph also reads the optimizer's state (a train step).
    fn forward_builder(&self, name: &str, mode: Mode, optimizer: bool, batch: usize) -> (Builder, LoweredForward) {
        let mut builder = Builder::new(name);
        let x = self.input_x(&mut builder, batch);
        let y_width = match self.target {
            TargetEncoding::OneHot { classes } => classes,
            TargetEncoding::Positive | TargetEncoding::Numbers => 1,
        };
        let y = builder.input(names::Y, Role::Batch, TensorType::new(DType::F32, [batch, y_width]));
        let weight = builder.input(names::WEIGHT, Role::Batch, TensorType::new(DType::F32, [batch]));
        let variables = self.variable_inputs(&mut builder, optimizer);
        let mut lowering = layers::Lowering { builder: &mut builder, mode, variables: &variables, updates: Vec::new() };
        let activations = lowering.layers(&self.layers, x);
        let updates = std::mem::take(&mut lowering.updates);
        let loss = loss::lower(&mut builder, self.loss, &activations, y, weight);
        let output = activations.output(&mut builder);
        builder.output(names::LOSS, loss);
        builder.output(names::OUTPUT, output);
        for (name, node) in updates {
            builder.output(format!("{}{name}", names::NEW), node);
        }
        (builder, LoweredForward { loss, variables })
    }
}

/// The forward part of a train step, in its builder: what autodiff differentiates and the update reads.
pub struct TrainForward {
    /// The graph so far.
    pub builder: Builder,
    /// The loss, the value differentiated.
    pub loss: NodeId,
    /// The trainable parameters' inputs, in the order of [`Model::variables`].
    pub params: Vec<NodeId>,
    /// Every variable's input, by name.
    variables: BTreeMap<String, NodeId>,
}

/// What the train step needs from the forward part of its graph.
struct LoweredForward {
    loss: NodeId,
    variables: BTreeMap<String, NodeId>,
}

/// The model's last values: the output before its final activation (logits) and the activation, so that the loss
/// can be computed stably from logits.
pub(crate) struct Activations {
    /// The last layer's value before its activation.
    pub logits: NodeId,
    /// The last layer's activation (`linear` when it has none).
    pub activation: Activation,
}

impl Activations {
    /// The model's output: the activation applied to the logits.
    pub fn output(&self, builder: &mut Builder) -> NodeId {
        activation::activate(builder, self.activation, self.logits)
    }
}

#[cfg(test)]
mod graph_tests {
    use super::*;
    use crate::ir::verify::{verify, Stage};
    use crate::pipeline::check_file;
    use crate::testing::example_specs;

    /// Seeded values for every input of a graph: variables and batch in [-1, 1), noise in [0, 1), a step of 3.
    pub(super) fn random_inputs(graph: &Graph) -> BTreeMap<String, crate::interpreter::Tensor> {
        use crate::rng::{Purpose, Rng, Streams};
        let mut rng = Streams::new(5).stream(Purpose::Synth);
        graph
            .inputs()
            .into_iter()
            .map(|(id, name, role)| {
                let shape = graph.tensor_type(id).shape.clone();
                let values = ndarray::ArrayD::from_shape_simple_fn(ndarray::IxDyn(&shape), || match (role, name) {
                    (Role::Noise, _) => rng.gen::<f32>(),
                    (_, names::STEP) => 3.0,
                    (_, names::LEARNING_RATE) => 0.01,
                    _ if name.contains("variance") || name.contains(".v.") => 0.5 + rng.gen::<f32>(),
                    _ => 2.0 * rng.gen::<f32>() - 1.0,
                });
                (name.to_string(), values.into())
            })
            .collect()
    }

    /// Differential test: the pass pipeline changes no output of any example's train step beyond rounding.
    #[test]
    fn optimized_train_steps_compute_what_the_lowered_ones_do() {
        use crate::interpreter::run;
        for path in example_specs() {
            let spec = path.display();
            let outcome = check_file(&path);
            let (Some(lowered), Some(checked)) = (&outcome.lowered, &outcome.checked) else { panic!("{spec} checks") };
            let step = crate::compile::lowered(
                &Model::new(&lowered.spec, checked),
                crate::compile::GraphKind::TrainStep,
                4,
                crate::compile::Settings::verified(),
            );
            let inputs = random_inputs(&step);
            let expected = run(&step, &inputs).expect("the lowered step runs");
            let optimized = crate::passes::optimize(step, true);
            let found = run(&optimized, &inputs).expect("the optimized step runs");
            assert_eq!(expected.keys().collect::<Vec<_>>(), found.keys().collect::<Vec<_>>());
            for (name, value) in &expected {
                let (a, b) = (value.to_f64(), found[name].to_f64());
                let worst = a.iter().zip(b.iter()).map(|(x, y)| (x - y).abs() / x.abs().max(1.0)).fold(0.0, f64::max);
                assert!(worst < 1e-5, "{spec}: output `{name}` differs by {worst}");
            }
        }
    }

    #[test]
    fn the_examples_lower_into_graphs_of_the_right_shapes() {
        for path in example_specs() {
            let spec = path.display();
            let outcome = check_file(&path);
            let (Some(lowered), Some(checked)) = (&outcome.lowered, &outcome.checked) else { panic!("{spec} checks") };
            let model = Model::new(&lowered.spec, checked);
            let step = crate::compile::lowered(
                &model,
                crate::compile::GraphKind::TrainStep,
                5,
                crate::compile::Settings::verified(),
            );
            let predict = model.predict(5);
            for (graph, stage) in [
                (&model.forward(5), Stage::Model),
                (&model.evaluate(5), Stage::Model),
                (&predict, Stage::Model),
                (&step, Stage::Step),
            ] {
                if let Err(errors) = verify(graph, stage) {
                    panic!("{spec}: {errors}");
                }
            }
            assert!(step.output(names::LOSS).is_some());
            let output = predict.output(names::OUTPUT).expect("predict has an output");
            assert_eq!(predict.tensor_type(output).shape[0], 5, "{spec}");
            for variable in model.variables() {
                assert!(
                    step.input(&variable.name).is_some(),
                    "{spec}: {} is an input of the train step",
                    variable.name
                );
            }
        }
    }
}
