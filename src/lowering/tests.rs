//! Gradient checks for every layer, activation and loss: the autodiff pass's gradients of the lowered IR agree
//! with central finite differences in f64 at seeded random points. The optimizers' updates and gradient clipping
//! against Keras' formulas, clipping on finite-difference gradients.

use std::collections::BTreeMap;

use ndarray::{ArrayD, IxDyn};

use super::activation;
use super::layers::{self, Lowering};
use super::{loss, Activations, Mode};
use crate::interpreter::Tensor;
use crate::ir::{Builder, DType, Graph, NodeId, Role, TensorType};
use crate::passes::gradcheck::{self, Tolerance};
use crate::rng::{Purpose, Rng, Streams};
use crate::spec::ast::{Activation, Layer, Loss, Padding, Span, Spanned};

fn spanned<T>(value: T) -> Spanned<T> {
    Spanned::new(value, Span::default())
}

fn random(shape: &[usize], seed: u64, low: f64, high: f64) -> Tensor {
    let mut rng = Streams::new(seed).stream(Purpose::Synth);
    Tensor::F64(ArrayD::from_shape_simple_fn(IxDyn(shape), || low + (high - low) * rng.gen::<f64>()))
}

/// A graph running `layers` on `x: [batch, input...]` in `mode`, ending in `loss = sum(output * probe)` so that
/// every output element's gradient is exercised with a different weight.
fn layer_graph(
    layers: &[Layer],
    input: &[usize],
    batch: usize,
    mode: Mode,
) -> (Graph, BTreeMap<String, Tensor>, Vec<String>) {
    let mut builder = Builder::new("layer_check");
    let mut shape = vec![batch];
    shape.extend(input);
    let x = builder.input("x", Role::Batch, TensorType::new(DType::F32, shape.clone()));
    let mut inputs_shapes = vec![input.to_vec()];
    // Shapes per layer come from the checker's inference, as in `Model::new`.
    let spanned_layers: Vec<Spanned<Layer>> = layers.iter().cloned().map(spanned).collect();
    let summaries = crate::check::shapes::infer(input, &spanned_layers, &mut crate::diagnostics::Diagnostics::new())
        .expect("the test model's shapes fit");
    inputs_shapes.extend(summaries.iter().map(|summary| summary.output.clone()));
    let variables = layers::variables(layers, &inputs_shapes);
    let mut values = BTreeMap::new();
    values.insert("x".to_string(), random(&shape, 1, -1.5, 1.5));
    let mut nodes = BTreeMap::new();
    for (index, variable) in variables.iter().enumerate() {
        let node =
            builder.input(variable.name.clone(), variable.role, TensorType::new(DType::F32, variable.shape.clone()));
        nodes.insert(variable.name.clone(), node);
        let (low, high) = if variable.name.ends_with("variance") { (0.5, 1.5) } else { (-0.8, 0.8) };
        values.insert(variable.name.clone(), random(&variable.shape, 10 + index as u64, low, high));
    }
    let mut lowering = Lowering { builder: &mut builder, mode, variables: &nodes, updates: Vec::new() };
    let activations = lowering.layers(layers, x);
    let output = activations.output(&mut builder);
    let probe_shape = builder.shape(output);
    let probe = builder.input("probe", Role::Batch, TensorType::new(DType::F32, probe_shape.clone()));
    values.insert("probe".to_string(), random(&probe_shape, 99, -1.0, 1.0));
    for (_, name, role) in builder.graph().inputs() {
        if role == Role::Noise {
            let noise_shape = builder.graph().tensor_type(builder.graph().input(name).expect("listed")).shape.clone();
            values.insert(name.to_string(), random(&noise_shape, 7, 0.0, 1.0));
        }
    }
    let weighted = builder.mul(output, probe);
    let axes: Vec<usize> = (0..probe_shape.len()).collect();
    let loss = builder.reduce_sum(weighted, axes);
    builder.output("loss", loss);
    let mut wrt = vec!["x".to_string()];
    wrt.extend(variables.iter().filter(|variable| variable.role == Role::Param).map(|variable| variable.name.clone()));
    (builder.finish(), values, wrt)
}

fn check_layers(layers: &[Layer], input: &[usize], mode: Mode) {
    let (graph, values, wrt) = layer_graph(layers, input, 3, mode);
    let wrt: Vec<&str> = wrt.iter().map(String::as_str).collect();
    if let Err(mismatch) = gradcheck::check(&graph, "loss", &values, &wrt, Tolerance::default()) {
        panic!("{layers:?}: {mismatch}");
    }
}

fn dense(units: usize, activation: Activation) -> Layer {
    Layer::Dense { units: spanned(units), activation: spanned(activation) }
}

#[test]
fn dense_layers_with_every_activation() {
    for &(_, activation) in Activation::ALL {
        check_layers(&[dense(4, activation)], &[5], Mode::Train);
    }
}

#[test]
fn relu_passes_no_gradient_at_zero() {
    // TensorFlow's and PyTorch's convention: a zero input (a zero bias on a blank window) passes no gradient.
    let mut builder = Builder::new("relu");
    let x = builder.input("x", Role::Param, TensorType::new(DType::F32, [4]));
    let y = activation::activate(&mut builder, Activation::Relu, x);
    let loss = builder.reduce_sum(y, vec![0]);
    let grads = crate::passes::autodiff::gradients(&mut builder, loss, &[x]);
    builder.output("y", y);
    builder.output("grad", grads[0]);
    let values = BTreeMap::from([(
        "x".to_string(),
        Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[4]), vec![-1.0, 0.0, 2.0, f32::NAN]).expect("4 values")),
    )]);
    let outputs = crate::interpreter::run(&builder.finish(), &values).expect("the graph runs");
    let y: Vec<f32> = outputs["y"].to_f64().iter().map(|&value| value as f32).collect();
    assert_eq!(y[..3], [0.0, 0.0, 2.0]);
    assert!(y[3].is_nan(), "NaN propagates");
    let grad: Vec<f64> = outputs["grad"].to_f64().iter().copied().collect();
    assert_eq!(grad[..3], [0.0, 0.0, 1.0]);
}

#[test]
fn conv2d_valid_and_same_with_strides() {
    for (padding, stride) in [(Padding::Valid, [1, 1]), (Padding::Same, [2, 2]), (Padding::Same, [1, 2])] {
        let conv = Layer::Conv2d {
            filters: spanned(2),
            kernel: spanned([3, 2]),
            stride: spanned(stride),
            padding: spanned(padding),
            activation: spanned(Activation::Tanh),
        };
        check_layers(&[conv], &[5, 4, 2], Mode::Train);
    }
}

#[test]
fn pooling_and_flatten() {
    let size = spanned([2, 2]);
    let stride = spanned([2, 1]);
    check_layers(
        &[Layer::MaxPool2d { size: size.clone(), stride: stride.clone() }, Layer::Flatten],
        &[4, 5, 2],
        Mode::Train,
    );
    check_layers(&[Layer::AvgPool2d { size, stride }, Layer::Flatten], &[4, 5, 2], Mode::Train);
    check_layers(&[Layer::GlobalAvgPool2d], &[3, 4, 2], Mode::Train);
}

#[test]
fn dropout_in_training_and_inference() {
    let layers = [dense(4, Activation::Relu), Layer::Dropout { rate: spanned(0.3) }, dense(2, Activation::Linear)];
    check_layers(&layers, &[3], Mode::Train);
    check_layers(&layers, &[3], Mode::Infer);
}

#[test]
fn batch_norm_in_training_and_inference() {
    let norm = Layer::BatchNorm { momentum: spanned(0.99), epsilon: spanned(1e-3) };
    check_layers(&[dense(4, Activation::Linear), norm.clone()], &[3], Mode::Train);
    check_layers(std::slice::from_ref(&norm), &[3, 3, 2], Mode::Train);
    check_layers(&[dense(4, Activation::Linear), norm], &[3], Mode::Infer);
}

#[test]
fn recurrent_layers_returning_the_last_step_or_every_step() {
    for return_sequences in [false, true] {
        let lstm = Layer::Lstm { units: spanned(3), return_sequences: spanned(return_sequences) };
        check_layers(&[lstm], &[4, 2], Mode::Train);
        let gru = Layer::Gru { units: spanned(3), return_sequences: spanned(return_sequences) };
        check_layers(&[gru], &[4, 2], Mode::Train);
    }
    let stacked = [
        Layer::Lstm { units: spanned(3), return_sequences: spanned(true) },
        Layer::Gru { units: spanned(2), return_sequences: spanned(false) },
        dense(2, Activation::Softmax),
    ];
    check_layers(&stacked, &[3, 2], Mode::Train);
}

/// Every loss, from logits through each final activation it meets in practice, with sample weights.
#[test]
fn every_loss_with_weights() {
    let cases = [
        (Loss::CategoricalCrossentropy, Activation::Softmax, 3),
        (Loss::CategoricalCrossentropy, Activation::Sigmoid, 3),
        (Loss::BinaryCrossentropy, Activation::Sigmoid, 1),
        (Loss::BinaryCrossentropy, Activation::Softmax, 2),
        (Loss::Mse, Activation::Linear, 1),
        (Loss::Mae, Activation::Linear, 2),
        (Loss::Huber, Activation::Linear, 2),
        (Loss::Huber, Activation::Tanh, 1),
    ];
    for (case, (loss_kind, activation, width)) in cases.into_iter().enumerate() {
        let batch = 4;
        let mut builder = Builder::new("loss_check");
        let logits = builder.input("logits", Role::Batch, TensorType::new(DType::F32, [batch, width]));
        let y = builder.input("y", Role::Batch, TensorType::new(DType::F32, [batch, width]));
        let weight = builder.input("weight", Role::Batch, TensorType::new(DType::F32, [batch]));
        let activations = Activations { logits, activation };
        let loss_node: NodeId = loss::lower(&mut builder, loss_kind, &activations, y, weight);
        builder.output("loss", loss_node);
        let graph = builder.finish();
        let targets = if loss_kind.is_classification() {
            let mut rng = Streams::new(case as u64).stream(Purpose::Synth);
            let classes: Vec<usize> = (0..batch).map(|_| rng.gen_range(0..width)).collect();
            let one_hot = ArrayD::from_shape_fn(IxDyn(&[batch, width]), |index| {
                if width == 1 {
                    f64::from(u8::from(classes[index[0]] == 0))
                } else {
                    f64::from(u8::from(classes[index[0]] == index[1]))
                }
            });
            Tensor::F64(one_hot)
        } else {
            random(&[batch, width], 50 + case as u64, -2.0, 2.0)
        };
        let values = BTreeMap::from([
            ("logits".to_string(), random(&[batch, width], 60 + case as u64, -3.0, 3.0)),
            ("y".to_string(), targets),
            ("weight".to_string(), random(&[batch], 70 + case as u64, 0.5, 2.0)),
        ]);
        if let Err(mismatch) = gradcheck::check(&graph, "loss", &values, &["logits"], Tolerance::default()) {
            panic!("{loss_kind:?} after {activation:?}: {mismatch}");
        }
    }
}

/// One optimizer step on a single variable, against the formulas written out by hand (Keras' conventions).
fn optimizer_step(optimizer: &crate::spec::ast::Optimizer, step: f64) -> BTreeMap<String, Vec<f64>> {
    use super::optimizer::{state, update, Hyper};
    use super::{Init, Variable};
    let variable = Variable { name: "w".to_string(), shape: vec![3], init: Init::Zeros, role: Role::Param };
    let moments = state(optimizer, std::slice::from_ref(&variable));
    let mut builder = Builder::new("optimizer_check");
    let ty = TensorType::new(DType::F32, [3]);
    let param = builder.input("w", Role::Param, ty.clone());
    let grad = builder.input("grad", Role::Batch, ty.clone());
    let mut nodes = BTreeMap::new();
    let mut values = BTreeMap::from([
        ("w".to_string(), Tensor::F64(ArrayD::from_shape_vec(IxDyn(&[3]), vec![0.5, -1.0, 2.0]).expect("3 values"))),
        ("grad".to_string(), Tensor::F64(ArrayD::from_shape_vec(IxDyn(&[3]), vec![0.1, -0.4, 3.0]).expect("3 values"))),
    ]);
    for moment in &moments {
        nodes.insert(moment.name.clone(), builder.input(moment.name.clone(), Role::State, ty.clone()));
        let start = if moment.name.contains(".v.") { vec![0.04, 0.2, 1.0] } else { vec![0.3, -0.2, 0.1] };
        values.insert(moment.name.clone(), Tensor::F64(ArrayD::from_shape_vec(IxDyn(&[3]), start).expect("3 values")));
    }
    let learning_rate = builder.input("lr", Role::Hyper, TensorType::new(DType::F32, []));
    let step_node = builder.input("step", Role::Hyper, TensorType::new(DType::F32, []));
    values.insert("lr".to_string(), Tensor::F64(ArrayD::from_elem(IxDyn(&[]), 0.01)));
    values.insert("step".to_string(), Tensor::F64(ArrayD::from_elem(IxDyn(&[]), step)));
    let hyper = Hyper { learning_rate, step: step_node };
    for (name, node) in update(&mut builder, optimizer, hyper, &variable, param, grad, &nodes) {
        builder.output(name, node);
    }
    let graph = crate::ir::precision::with_float(&builder.finish(), DType::F64);
    let outputs = crate::interpreter::run(&graph, &values).expect("the update runs");
    outputs.into_iter().map(|(name, tensor)| (name, tensor.to_f64().iter().copied().collect())).collect()
}

fn assert_close(found: &[f64], expected: &[f64]) {
    for (found, expected) in found.iter().zip(expected) {
        assert!((found - expected).abs() < 1e-12, "found {found}, expected {expected}");
    }
}

#[test]
fn optimizer_updates_follow_keras() {
    use crate::spec::ast::Optimizer;
    let (w, g, m0, v0, lr) = ([0.5, -1.0, 2.0], [0.1, -0.4, 3.0], [0.3, -0.2, 0.1], [0.04, 0.2, 1.0], 0.01);
    let sgd = |momentum: f64, nesterov: bool| Optimizer::Sgd {
        lr: spanned(lr),
        momentum: spanned(momentum),
        nesterov: spanned(nesterov),
        clipping: None,
    };

    let plain = optimizer_step(&sgd(0.0, false), 0.0);
    assert_close(&plain["w"], &[0.5 - lr * 0.1, -1.0 + lr * 0.4, 2.0 - lr * 3.0]);
    assert_eq!(plain.len(), 1, "plain sgd keeps no state");

    for nesterov in [false, true] {
        let result = optimizer_step(&sgd(0.9, nesterov), 0.0);
        let velocity: Vec<f64> = (0..3).map(|i| 0.9 * m0[i] - lr * g[i]).collect();
        let expected: Vec<f64> =
            (0..3).map(|i| if nesterov { w[i] + 0.9 * velocity[i] - lr * g[i] } else { w[i] + velocity[i] }).collect();
        assert_close(&result["sgd.momentum.w"], &velocity);
        assert_close(&result["w"], &expected);
    }

    let (beta1, beta2, eps, step) = (0.9, 0.999, 1e-7, 4.0);
    let adam = Optimizer::Adam {
        lr: spanned(lr),
        beta1: spanned(beta1),
        beta2: spanned(beta2),
        eps: spanned(eps),
        clipping: None,
    };
    let adamw = Optimizer::AdamW {
        lr: spanned(lr),
        beta1: spanned(beta1),
        beta2: spanned(beta2),
        eps: spanned(eps),
        weight_decay: spanned(0.004),
        clipping: None,
    };
    for (optimizer, decay) in [(adam, 0.0), (adamw, 0.004)] {
        let result = optimizer_step(&optimizer, step);
        let prefix = optimizer.name();
        let t: f64 = step + 1.0;
        let alpha = lr * (1.0 - libm::pow(beta2, t)).sqrt() / (1.0 - libm::pow(beta1, t));
        let m: Vec<f64> = (0..3).map(|i| m0[i] + (g[i] - m0[i]) * (1.0 - beta1)).collect();
        let v: Vec<f64> = (0..3).map(|i| v0[i] + (g[i] * g[i] - v0[i]) * (1.0 - beta2)).collect();
        let expected: Vec<f64> =
            (0..3).map(|i| w[i] - w[i] * decay * lr - alpha * m[i] / (v[i].sqrt() + eps)).collect();
        assert_close(&result[&format!("{prefix}.m.w")], &m);
        assert_close(&result[&format!("{prefix}.v.w")], &v);
        assert_close(&result["w"], &expected);
    }
}

fn sigmoid_f64(x: f64) -> f64 {
    1.0 / (1.0 + libm::exp(-x))
}

/// The recurrent layers' forward values against Keras' formulas written out step by step.
#[test]
fn recurrent_forward_values_follow_keras() {
    let (batch, steps, features, units) = (2, 3, 2, 3);
    for kind in ["lstm", "gru"] {
        let layer = if kind == "lstm" {
            Layer::Lstm { units: spanned(units), return_sequences: spanned(true) }
        } else {
            Layer::Gru { units: spanned(units), return_sequences: spanned(true) }
        };
        let (graph, values, _) = layer_graph(&[layer], &[steps, features], batch, Mode::Infer);
        let mut graph = crate::ir::precision::with_float(&graph, DType::F64);
        let output_node = graph
            .nodes
            .iter()
            .position(|node| matches!(node.op, crate::ir::Op::Input { ref name, .. } if name == "probe"))
            .expect("probe");
        // The layer's output is the node the probe multiplies.
        let product = graph
            .nodes
            .iter()
            .find(|node| node.inputs.contains(&NodeId(output_node as u32)))
            .expect("the probe is read");
        let layer_output = product.inputs[0];
        graph.outputs.push(crate::ir::Output { name: "layer".to_string(), node: layer_output });
        let outputs = crate::interpreter::run(&graph, &values).expect("runs");
        let found = outputs["layer"].to_f64();
        let get = |name: &str| values[name].to_f64();
        let (x, kernel, recurrent, bias) = (
            get("x"),
            get(&format!("{kind}_1.kernel")),
            get(&format!("{kind}_1.recurrent_kernel")),
            get(&format!("{kind}_1.bias")),
        );
        let gates = if kind == "lstm" { 4 } else { 3 };
        for b in 0..batch {
            let mut h = vec![0.0; units];
            let mut c = vec![0.0; units];
            for t in 0..steps {
                let project = |matrix: &ArrayD<f64>, input: &[f64], column: usize| -> f64 {
                    input.iter().enumerate().map(|(row, value)| value * matrix[[row, column]]).sum()
                };
                let xt: Vec<f64> = (0..features).map(|f| x[[b, t, f]]).collect();
                let xw: Vec<f64> = (0..gates * units).map(|j| project(&kernel, &xt, j)).collect();
                let hu: Vec<f64> = (0..gates * units).map(|j| project(&recurrent, &h, j)).collect();
                let mut new_h = vec![0.0; units];
                for u in 0..units {
                    if kind == "lstm" {
                        let z = |gate: usize| xw[gate * units + u] + hu[gate * units + u] + bias[[gate * units + u]];
                        let (i, f, g, o) = (sigmoid_f64(z(0)), sigmoid_f64(z(1)), libm::tanh(z(2)), sigmoid_f64(z(3)));
                        c[u] = f * c[u] + i * g;
                        new_h[u] = o * libm::tanh(c[u]);
                    } else {
                        let input = |gate: usize| xw[gate * units + u] + bias[[0, gate * units + u]];
                        let inner = |gate: usize| hu[gate * units + u] + bias[[1, gate * units + u]];
                        let z = sigmoid_f64(input(0) + inner(0));
                        let r = sigmoid_f64(input(1) + inner(1));
                        let candidate = libm::tanh(input(2) + r * inner(2));
                        new_h[u] = z * h[u] + (1.0 - z) * candidate;
                    }
                }
                h = new_h;
                for u in 0..units {
                    let value = found[[b, t, u]];
                    assert!((value - h[u]).abs() < 1e-12, "{kind} batch {b} step {t} unit {u}: {value} vs {}", h[u]);
                }
            }
        }
    }
}

/// The LSTM example (`specs/heart_rhythm_lstm.galen`) learns its series more slowly and less steadily than the
/// GRU; this rules out its gradient as the cause: at the example's initial weights (Keras' initialisers, the unit
/// forget bias) and on rows of its data, all 60 steps long, the loss gradient agrees with finite differences.
#[test]
fn the_lstm_example_has_the_right_gradient_over_its_sixty_steps() {
    use crate::check::Task;
    use crate::data::transform::Targets;
    let outcome = crate::pipeline::check_file(std::path::Path::new("specs/heart_rhythm_lstm.galen"));
    let (Some(file), Some(lowered), Some(checked)) = (&outcome.file, &outcome.lowered, &outcome.checked) else {
        panic!("the example checks")
    };
    let mut diagnostics = crate::diagnostics::Diagnostics::new();
    let prepared = crate::data::dataset::prepare(file, &lowered.spec, checked, &outcome.loaded, &mut diagnostics)
        .expect("the data prepares");
    let (Targets::Classes(classes), Task::Binary { positive, .. }) = (&prepared.train.targets, &checked.task) else {
        panic!("a binary classifier")
    };
    let rows = [0, 1, 2, 3];
    let model = super::Model::new(&lowered.spec, checked);
    let graph = model.forward(rows.len());
    let initial = super::initial_values(model.variables(), &Streams::new(lowered.spec.seed.value)).expect("allocates");
    let mut values: BTreeMap<String, Tensor> = initial
        .into_iter()
        .filter(|(name, _)| graph.input(name).is_some())
        .map(|(name, value)| (name, Tensor::F32(value)))
        .collect();
    let x = crate::data::batches::gather(&prepared.train.inputs, &rows);
    assert_eq!(x.shape(), [4, 60, 1]);
    let y = ArrayD::from_shape_fn(IxDyn(&[rows.len(), 1]), |at| f64::from(classes[rows[at[0]]] as usize == *positive));
    values.insert("x".to_string(), Tensor::F32(x));
    values.insert("y".to_string(), Tensor::F64(y));
    values.insert("weight".to_string(), Tensor::F64(ArrayD::ones(IxDyn(&[rows.len()]))));
    let params: Vec<&str> = model
        .variables()
        .iter()
        .filter(|variable| variable.role == Role::Param)
        .map(|variable| variable.name.as_str())
        .collect();
    let report = gradcheck::check(&graph, "loss", &values, &params, Tolerance::default())
        .unwrap_or_else(|mismatch| panic!("{mismatch}"));
    // 50 sampled elements of each LSTM variable, all 16 + 1 of the dense layer's.
    assert_eq!(report.compared, 167, "{report}");
}

/// The model of the clipping tests: dense (tanh), batch norm, dense (softmax) over 3 features, trained with
/// `optimizer`. Its four dense variables have gradients of different norms, and batch norm's running statistics,
/// which have none, must take no part in clipping.
fn clipping_model(optimizer: crate::spec::ast::Optimizer) -> super::Model {
    let layers = vec![
        dense(4, Activation::Tanh),
        Layer::BatchNorm { momentum: spanned(0.9), epsilon: spanned(1e-3) },
        dense(2, Activation::Softmax),
    ];
    let input = vec![3];
    let spanned_layers: Vec<Spanned<Layer>> = layers.iter().cloned().map(spanned).collect();
    let summaries = crate::check::shapes::infer(&input, &spanned_layers, &mut crate::diagnostics::Diagnostics::new())
        .expect("the test model's shapes fit");
    let mut inputs = vec![input.clone()];
    inputs.extend(summaries.into_iter().map(|summary| summary.output));
    let mut variables = layers::variables(&layers, &inputs);
    variables.extend(super::optimizer::state(&optimizer, &variables));
    let target = super::TargetEncoding::OneHot { classes: 2 };
    super::Model { layers, input_shape: input, loss: Loss::CategoricalCrossentropy, optimizer, target, variables }
}

/// Seeded values for every input of the clipping model's train step, in f64: a batch of 5 rows with one-hot
/// targets, the variables (running variances and adam's second moments positive), a learning rate of 0.1 and the
/// first step.
fn clipping_inputs(step: &Graph) -> BTreeMap<String, Tensor> {
    let mut values = BTreeMap::new();
    for (index, (id, name, _)) in step.inputs().into_iter().enumerate() {
        let shape = step.tensor_type(id).shape.clone();
        let seed = 200 + index as u64;
        let value = match name {
            super::names::LEARNING_RATE => Tensor::F64(ArrayD::from_elem(IxDyn(&[]), 0.1)),
            super::names::STEP => Tensor::F64(ArrayD::from_elem(IxDyn(&[]), 0.0)),
            super::names::Y => Tensor::F64(ArrayD::from_shape_fn(IxDyn(&shape), |at| f64::from(at[1] == at[0] % 2))),
            super::names::WEIGHT => random(&shape, seed, 0.5, 1.5),
            super::names::X => random(&shape, seed, -2.0, 2.0),
            _ if name.ends_with("variance") || name.contains(".v.") => random(&shape, seed, 0.5, 1.5),
            _ => random(&shape, seed, -1.0, 1.0),
        };
        values.insert(name.to_string(), value);
    }
    values
}

/// The loss gradient of every trainable variable of `model` at `values` by central differences, by name.
fn finite_difference_gradients(model: &super::Model, values: &BTreeMap<String, Tensor>) -> BTreeMap<String, Vec<f64>> {
    let forward = crate::ir::precision::with_float(&model.forward(5), DType::F64);
    let point: BTreeMap<String, Tensor> =
        values.iter().filter(|(name, _)| forward.input(name).is_some()).map(|(n, v)| (n.clone(), v.clone())).collect();
    let trainable = model.variables().iter().filter(|variable| variable.role == Role::Param);
    trainable
        .map(|variable| {
            let count: usize = variable.shape.iter().product();
            let gradient = (0..count)
                .map(|element| gradcheck::central_difference(&forward, "loss", &point, &variable.name, element))
                .collect::<Result<Vec<f64>, String>>()
                .unwrap_or_else(|error| panic!("{error}"));
            (variable.name.clone(), gradient)
        })
        .collect()
}

/// Keras' clipping written out in f64 (`keras/src/optimizers/base_optimizer.py`), the oracle of the IR's.
fn clipped_by_keras(
    clipping: crate::spec::ast::Clipping,
    gradients: &BTreeMap<String, Vec<f64>>,
) -> BTreeMap<String, Vec<f64>> {
    use crate::spec::ast::Clipping;
    let norm = |values: &[f64]| values.iter().map(|g| g * g).sum::<f64>().sqrt();
    let global = gradients.values().map(|g| g.iter().map(|g| g * g).sum::<f64>()).sum::<f64>().sqrt();
    gradients
        .iter()
        .map(|(name, gradient)| {
            let clipped = match clipping {
                Clipping::Norm(c) => {
                    let l2norm = norm(gradient);
                    gradient.iter().map(|g| g * c / l2norm.max(c)).collect()
                }
                Clipping::GlobalNorm(c) => {
                    // Keras' own form, whose `global - global` is NaN for a norm that is not finite.
                    #[allow(clippy::eq_op)]
                    let scale = c * (1.0 / global).min(1.0 / c) + (global - global);
                    gradient.iter().map(|g| g * scale).collect()
                }
                Clipping::Value(v) => gradient.iter().map(|g| g.clamp(-v, v)).collect(),
            };
            (name.clone(), clipped)
        })
        .collect()
}

/// The clipping model's train step with `optimizer`, run in f64 on the interpreter at `values`: the new value of
/// every trainable variable, by name.
fn stepped(optimizer: crate::spec::ast::Optimizer, values: &BTreeMap<String, Tensor>) -> BTreeMap<String, Vec<f64>> {
    let model = clipping_model(optimizer);
    let step = crate::ir::precision::with_float(
        &crate::compile::lowered(&model, crate::compile::GraphKind::TrainStep, 5, crate::compile::Settings::verified()),
        DType::F64,
    );
    if let Err(errors) = crate::ir::verify::verify(&step, crate::ir::verify::Stage::Step) {
        panic!("{errors}");
    }
    let outputs = crate::interpreter::run(&step, values).expect("the train step runs");
    let trainable = model.variables().iter().filter(|variable| variable.role == Role::Param);
    trainable
        .map(|variable| {
            let new = &outputs[&format!("{}{}", super::names::NEW, variable.name)];
            (variable.name.clone(), new.to_f64().iter().copied().collect())
        })
        .collect()
}

fn plain_sgd(clipping: Option<crate::spec::ast::Clipping>) -> crate::spec::ast::Optimizer {
    crate::spec::ast::Optimizer::Sgd {
        lr: spanned(0.1),
        momentum: spanned(0.0),
        nesterov: spanned(false),
        clipping: clipping.map(spanned),
    }
}

/// The largest difference between two sets of tensors with the same names.
fn largest_difference(a: &BTreeMap<String, Vec<f64>>, b: &BTreeMap<String, Vec<f64>>) -> f64 {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    let pairs = a.iter().flat_map(|(name, values)| values.iter().zip(&b[name]));
    pairs.map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// Every clipping mode, with its limit below the gradients (clipping acts) and above them (it does not), and for
/// `clipnorm` between the smallest and the largest tensor norm: plain sgd's step `p - lr clip(g)` on the train step's
/// IR agrees with the same step computed from central-difference gradients clipped by Keras' formulas. So the
/// clipping and the gradients it reads are both checked.
#[test]
fn clipped_sgd_steps_follow_keras_on_finite_difference_gradients() {
    use crate::spec::ast::Clipping;
    let model = clipping_model(plain_sgd(None));
    let values = clipping_inputs(&crate::compile::lowered(
        &model,
        crate::compile::GraphKind::TrainStep,
        5,
        crate::compile::Settings::verified(),
    ));
    let gradients = finite_difference_gradients(&model, &values);
    assert_eq!(gradients.len(), 6, "two dense layers and batch norm's scale and offset");
    let norms: Vec<f64> = gradients.values().map(|g| g.iter().map(|g| g * g).sum::<f64>().sqrt()).collect();
    let (smallest, largest) =
        (norms.iter().copied().fold(f64::INFINITY, f64::min), norms.iter().copied().fold(0.0, f64::max));
    let global = norms.iter().map(|norm| norm * norm).sum::<f64>().sqrt();
    let largest_element = gradients.values().flatten().fold(0.0_f64, |most, g| most.max(g.abs()));
    assert!(smallest > 1e-3 && largest > 2.0 * smallest, "the norms differ enough: {norms:?}");
    let cases = [
        (Clipping::Norm(0.5 * smallest), true),
        (Clipping::Norm(0.5 * (smallest + largest)), true),
        (Clipping::Norm(2.0 * largest), false),
        (Clipping::GlobalNorm(0.5 * global), true),
        (Clipping::GlobalNorm(2.0 * global), false),
        (Clipping::Value(0.5 * largest_element), true),
        (Clipping::Value(2.0 * largest_element), false),
    ];
    let sgd_step = |gradients: &BTreeMap<String, Vec<f64>>| -> BTreeMap<String, Vec<f64>> {
        let step = gradients.iter().map(|(name, gradient)| {
            let Tensor::F64(param) = &values[name] else { panic!("f64 values") };
            let new = param.iter().zip(gradient).map(|(p, g)| p - 0.1 * g).collect();
            (name.clone(), new)
        });
        step.collect()
    };
    let unclipped = sgd_step(&gradients);
    assert!(largest_difference(&stepped(plain_sgd(None), &values), &unclipped) < 1e-8, "the step without clipping");
    for (clipping, acts) in cases {
        let expected = sgd_step(&clipped_by_keras(clipping, &gradients));
        let change = largest_difference(&expected, &unclipped);
        assert_eq!(change > 1e-4, acts, "{clipping:?} changes the step by {change}");
        let found = stepped(plain_sgd(Some(clipping)), &values);
        let error = largest_difference(&found, &expected);
        assert!(error < 1e-8, "{clipping:?}: the train step is off by {error}");
    }
}

/// Clipping comes before adamw's update and its decay, which reads the parameters, not the gradients: the step's
/// new parameters are `p - p wd lr - alpha m / (sqrt(v) + eps)` with the moments of the clipped gradients.
#[test]
fn adamw_decays_the_parameters_and_averages_the_clipped_gradients() {
    use crate::spec::ast::{Clipping, Optimizer};
    let (beta1, beta2, eps, decay) = (0.9, 0.999, 1e-7, 0.004);
    let adamw = |clipping: Option<Clipping>| Optimizer::AdamW {
        lr: spanned(0.1),
        beta1: spanned(beta1),
        beta2: spanned(beta2),
        eps: spanned(eps),
        weight_decay: spanned(decay),
        clipping: clipping.map(spanned),
    };
    let model = clipping_model(adamw(None));
    let values = clipping_inputs(&crate::compile::lowered(
        &model,
        crate::compile::GraphKind::TrainStep,
        5,
        crate::compile::Settings::verified(),
    ));
    let gradients = finite_difference_gradients(&model, &values);
    let global = gradients.values().flatten().map(|g| g * g).sum::<f64>().sqrt();
    let clipping = Clipping::GlobalNorm(0.25 * global);
    let clipped = clipped_by_keras(clipping, &gradients);
    let alpha = 0.1 * (1.0 - beta2).sqrt() / (1.0 - beta1);
    let expected: BTreeMap<String, Vec<f64>> = clipped
        .iter()
        .map(|(name, gradient)| {
            let moment = |kind: &str| -> Vec<f64> {
                let Tensor::F64(values) = &values[&format!("adamw.{kind}.{name}")] else { panic!("f64 values") };
                values.iter().copied().collect()
            };
            let (m0, v0) = (moment("m"), moment("v"));
            let Tensor::F64(param) = &values[name] else { panic!("f64 values") };
            let new = (param.iter().zip(gradient).zip(m0.iter().zip(&v0)))
                .map(|((p, g), (m0, v0))| {
                    let m = m0 + (g - m0) * (1.0 - beta1);
                    let v = v0 + (g * g - v0) * (1.0 - beta2);
                    p - p * decay * 0.1 - alpha * m / (v.sqrt() + eps)
                })
                .collect();
            (name.clone(), new)
        })
        .collect();
    let error = largest_difference(&stepped(adamw(Some(clipping)), &values), &expected);
    assert!(error < 1e-8, "the clipped adamw step is off by {error}");
}

/// Keras' edge cases, on gradients given as inputs: a zero gradient stays zero under `clipnorm` (no 0/0) and under
/// `global_clipnorm` (a scale of 1); an infinite gradient makes every gradient NaN under `global_clipnorm`, so the
/// step's parameters turn NaN and the next loss is reported as diverging.
#[test]
fn clipping_edge_cases_follow_keras() {
    use crate::spec::ast::Clipping;
    let run_clip = |clipping: Clipping, gradients: [[f64; 3]; 2]| -> Vec<Vec<f64>> {
        let mut builder = Builder::new("clip");
        let mut values = BTreeMap::new();
        let mut nodes = Vec::new();
        for (index, gradient) in gradients.iter().enumerate() {
            let name = format!("g{index}");
            nodes.push(builder.input(name.clone(), Role::Batch, TensorType::new(DType::F32, [3])));
            let value = ArrayD::from_shape_vec(IxDyn(&[3]), gradient.to_vec()).expect("3 values");
            values.insert(name, Tensor::F64(value));
        }
        for (index, clipped) in super::clipping::clip(&mut builder, Some(clipping), &nodes).into_iter().enumerate() {
            builder.output(format!("clipped{index}"), clipped);
        }
        let graph = crate::ir::precision::with_float(&builder.finish(), DType::F64);
        let outputs = crate::interpreter::run(&graph, &values).expect("the clipping runs");
        (0..2).map(|index| outputs[&format!("clipped{index}")].to_f64().iter().copied().collect()).collect()
    };
    let zero = [0.0; 3];
    let some = [3.0, -4.0, 0.0];
    assert_eq!(run_clip(Clipping::Norm(1.0), [zero, some]), [vec![0.0; 3], vec![0.6, -0.8, 0.0]]);
    assert_eq!(run_clip(Clipping::GlobalNorm(1.0), [zero, zero]), [vec![0.0; 3], vec![0.0; 3]]);
    assert_eq!(run_clip(Clipping::GlobalNorm(10.0), [zero, some]), [vec![0.0; 3], some.to_vec()]);
    assert_eq!(run_clip(Clipping::GlobalNorm(2.5), [zero, some]), [vec![0.0; 3], vec![1.5, -2.0, 0.0]]);
    let infinite = run_clip(Clipping::GlobalNorm(1.0), [[f64::INFINITY, 0.0, 1.0], some]);
    assert!(infinite.iter().flatten().all(|value| value.is_nan()), "{infinite:?}");
    assert_eq!(run_clip(Clipping::Value(3.5), [some, zero]), [vec![3.0, -3.5, 0.0], vec![0.0; 3]]);
    assert_eq!(run_clip(Clipping::Value(2.5), [some, zero]), [vec![2.5, -2.5, 0.0], vec![0.0; 3]]);
}

/// Every clipping mode compiles on the JIT (no fallback to the interpreter) and its optimized train step gives what
/// the interpreter gives, within the backend tests' tolerance (`1e-4 max(|interpreter|, 1)`).
#[test]
fn clipped_train_steps_run_on_the_jit_as_on_the_interpreter() {
    use crate::spec::ast::{Clipping, Optimizer};
    let adam = |clipping: Clipping| Optimizer::Adam {
        lr: spanned(0.1),
        beta1: spanned(0.9),
        beta2: spanned(0.999),
        eps: spanned(1e-7),
        clipping: Some(spanned(clipping)),
    };
    // Limits below the gradients' (tensor norms 0.05 to 0.9, global norm 1.5, elements up to 0.7), so that every
    // clipping acts.
    let optimizers = [
        plain_sgd(Some(Clipping::Norm(0.02))),
        plain_sgd(Some(Clipping::GlobalNorm(0.5))),
        plain_sgd(Some(Clipping::Value(0.1))),
        adam(Clipping::GlobalNorm(0.5)),
    ];
    for optimizer in optimizers {
        let step = crate::compile::optimized(
            &clipping_model(optimizer.clone()),
            crate::compile::GraphKind::TrainStep,
            5,
            crate::compile::Settings::verified(),
        );
        let values: BTreeMap<String, Tensor> = clipping_inputs(&step)
            .into_iter()
            .map(|(name, value)| (name, Tensor::F32(value.to_f64().mapv(|value| value as f32))))
            .collect();
        let (jit, fallback) = crate::backend::tests::jit(step.clone());
        assert_eq!(fallback, None, "{optimizer:?}");
        let expected = crate::interpreter::run(&step, &values).expect("the step runs");
        let found = jit.run(&values);
        assert_eq!(expected.keys().collect::<Vec<_>>(), found.keys().collect::<Vec<_>>());
        for (name, value) in &expected {
            let pairs = value.to_f64().into_iter().zip(found[name].to_f64());
            let worst = pairs.map(|(a, b)| (a - b).abs() / a.abs().max(1.0)).fold(0.0, f64::max);
            assert!(worst <= 1e-4, "{optimizer:?}: `{name}` differs by {worst}");
        }
    }
}
