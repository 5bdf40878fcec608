//! Each layer of DESIGN.md as IR, with its variables: dense, conv2d (im2col: strided slices, a concat and a
//! matmul), max and average pooling, global average pooling, flatten, dropout, batch norm and the activations.
//! Recurrent layers are in `recurrent`, the activation functions in `activation`.

use std::collections::BTreeMap;

use super::activation::activate;
use super::{recurrent, Activations, Init, Mode, Variable};
use crate::ir::{Builder, Compare, DType, NodeId, Role, TensorType};
use crate::spec::ast::{Activation, Layer, Padding};

/// The name of the n-th layer of a kind, counted from 1 (`dense_2`).
pub fn layer_names(layers: &[Layer]) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    layers
        .iter()
        .map(|layer| {
            let count = counts.entry(layer.name()).or_insert(0);
            *count += 1;
            format!("{}_{count}", layer.name())
        })
        .collect()
}

/// The variables of every layer, in layer order; `inputs[i]` is the shape layer `i` reads (without the batch).
pub fn variables(layers: &[Layer], inputs: &[Vec<usize>]) -> Vec<Variable> {
    let mut variables = Vec::new();
    for ((layer, name), input) in layers.iter().zip(layer_names(layers)).zip(inputs) {
        let mut add = |suffix: &str, shape: Vec<usize>, init: Init, role: Role| {
            variables.push(Variable { name: format!("{name}.{suffix}"), shape, init, role });
        };
        match layer {
            Layer::Dense { units, .. } => {
                let (fan_in, fan_out) = (input[0], units.value);
                add("kernel", vec![fan_in, fan_out], Init::GlorotUniform { fan_in, fan_out }, Role::Param);
                add("bias", vec![fan_out], Init::Zeros, Role::Param);
            }
            Layer::Conv2d { filters, kernel, .. } => {
                let [height, width] = kernel.value;
                let channels = input[2];
                let receptive = height * width;
                let init = Init::GlorotUniform { fan_in: receptive * channels, fan_out: receptive * filters.value };
                add("kernel", vec![height, width, channels, filters.value], init, Role::Param);
                add("bias", vec![filters.value], Init::Zeros, Role::Param);
            }
            Layer::BatchNorm { .. } => {
                let channels = *input.last().expect("batch norm reads a tensor with axes");
                add("gamma", vec![channels], Init::Ones, Role::Param);
                add("beta", vec![channels], Init::Zeros, Role::Param);
                add("moving_mean", vec![channels], Init::Zeros, Role::State);
                add("moving_variance", vec![channels], Init::Ones, Role::State);
            }
            Layer::Lstm { units, .. } => {
                let (features, units) = (input[1], units.value);
                let init = Init::GlorotUniform { fan_in: features, fan_out: 4 * units };
                add("kernel", vec![features, 4 * units], init, Role::Param);
                add("recurrent_kernel", vec![units, 4 * units], Init::Orthogonal, Role::Param);
                add("bias", vec![4 * units], Init::UnitForgetBias { units }, Role::Param);
            }
            Layer::Gru { units, .. } => {
                let (features, units) = (input[1], units.value);
                let init = Init::GlorotUniform { fan_in: features, fan_out: 3 * units };
                add("kernel", vec![features, 3 * units], init, Role::Param);
                add("recurrent_kernel", vec![units, 3 * units], Init::Orthogonal, Role::Param);
                add("bias", vec![2, 3 * units], Init::Zeros, Role::Param);
            }
            Layer::MaxPool2d { .. }
            | Layer::AvgPool2d { .. }
            | Layer::GlobalAvgPool2d
            | Layer::Flatten
            | Layer::Dropout { .. }
            | Layer::Activation { .. } => {}
        }
    }
    variables
}

/// Lowers layers into a graph under construction.
pub(crate) struct Lowering<'a> {
    /// The graph.
    pub builder: &'a mut Builder,
    /// Training or inference.
    pub mode: Mode,
    /// The variables' input nodes by name.
    pub variables: &'a BTreeMap<String, NodeId>,
    /// New values of running statistics, by variable name (training mode only).
    pub updates: Vec<(String, NodeId)>,
}

impl Lowering<'_> {
    /// Runs `x` through every layer. The last activation is left unapplied, so that a loss can read logits.
    pub fn layers(&mut self, layers: &[Layer], x: NodeId) -> Activations {
        let names = layer_names(layers);
        let mut value = x;
        let mut pending = Activation::Linear;
        for (layer, name) in layers.iter().zip(&names) {
            value = activate(self.builder, pending, value);
            let (next, activation) = self.layer(layer, name, value);
            value = next;
            pending = activation;
        }
        Activations { logits: value, activation: pending }
    }

    fn variable(&self, layer: &str, suffix: &str) -> NodeId {
        let name = format!("{layer}.{suffix}");
        *self.variables.get(&name).unwrap_or_else(|| panic!("the model has no variable `{name}`"))
    }

    /// One layer; returns its value before its activation, and the activation.
    fn layer(&mut self, layer: &Layer, name: &str, x: NodeId) -> (NodeId, Activation) {
        let linear = Activation::Linear;
        match layer {
            Layer::Dense { activation, .. } => (self.dense(name, x), activation.value),
            Layer::Conv2d { stride, padding, activation, .. } => {
                (self.conv2d(name, x, stride.value, padding.value), activation.value)
            }
            Layer::MaxPool2d { size, stride } => (self.pool(x, size.value, stride.value, Pooling::Max), linear),
            Layer::AvgPool2d { size, stride } => (self.pool(x, size.value, stride.value, Pooling::Average), linear),
            Layer::GlobalAvgPool2d => (self.builder.mean(x, vec![1, 2]), linear),
            Layer::Flatten => {
                let shape = self.builder.shape(x);
                (self.builder.reshape(x, [shape[0], shape[1..].iter().product()]), linear)
            }
            Layer::Dropout { rate } => (self.dropout(name, x, rate.value), linear),
            Layer::BatchNorm { momentum, epsilon } => (self.batch_norm(name, x, momentum.value, epsilon.value), linear),
            Layer::Lstm { return_sequences, .. } => {
                let weights = [
                    self.variable(name, "kernel"),
                    self.variable(name, "recurrent_kernel"),
                    self.variable(name, "bias"),
                ];
                (recurrent::lstm(self.builder, x, weights, return_sequences.value), linear)
            }
            Layer::Gru { return_sequences, .. } => {
                let weights = [
                    self.variable(name, "kernel"),
                    self.variable(name, "recurrent_kernel"),
                    self.variable(name, "bias"),
                ];
                (recurrent::gru(self.builder, x, weights, return_sequences.value), linear)
            }
            Layer::Activation { function } => (x, function.value),
        }
    }

    /// `x @ kernel + bias`.
    fn dense(&mut self, name: &str, x: NodeId) -> NodeId {
        let (kernel, bias) = (self.variable(name, "kernel"), self.variable(name, "bias"));
        let product = self.builder.matmul(x, kernel);
        add_bias(self.builder, product, bias)
    }

    /// A convolution over `[batch, height, width, channels]` as im2col: one strided slice of the (padded) input
    /// per kernel position, joined along the channels, then one matmul with the kernel seen as
    /// `[height * width * channels, filters]` (the slices' order is the kernel's row-major order).
    fn conv2d(&mut self, name: &str, x: NodeId, stride: [usize; 2], padding: Padding) -> NodeId {
        let (kernel, bias) = (self.variable(name, "kernel"), self.variable(name, "bias"));
        let [height, width, channels, filters] = self.builder.shape(kernel)[..] else {
            unreachable!("conv kernels have rank 4")
        };
        let x = match padding {
            Padding::Valid => x,
            Padding::Same => pad_same(self.builder, x, [height, width], stride),
        };
        let patches = windows(self.builder, x, [height, width], stride);
        let [batch, out_height, out_width, _] = self.builder.shape(patches[0])[..] else {
            unreachable!("images have rank 4")
        };
        let columns = self.builder.concat(patches, 3);
        let rows = batch * out_height * out_width;
        let columns = self.builder.reshape(columns, [rows, height * width * channels]);
        let kernel = self.builder.reshape(kernel, [height * width * channels, filters]);
        let product = self.builder.matmul(columns, kernel);
        let product = self.builder.reshape(product, [batch, out_height, out_width, filters]);
        add_bias(self.builder, product, bias)
    }

    /// Max or average pooling without padding (Keras' default), as the windows' elementwise max or mean.
    fn pool(&mut self, x: NodeId, size: [usize; 2], stride: [usize; 2], pooling: Pooling) -> NodeId {
        let patches = windows(self.builder, x, size, stride);
        let count = patches.len();
        let mut combined = patches[0];
        for &patch in &patches[1..] {
            combined = match pooling {
                Pooling::Max => self.builder.max(combined, patch),
                Pooling::Average => self.builder.add(combined, patch),
            };
        }
        match pooling {
            Pooling::Max => combined,
            Pooling::Average => self.builder.scale(combined, 1.0 / count as f64),
        }
    }

    /// Inverted dropout: in training, keeps each value with probability `1 - rate` (noise >= rate) and scales the
    /// kept ones by `1 / (1 - rate)`, so that inference is the identity.
    fn dropout(&mut self, name: &str, x: NodeId, rate: f64) -> NodeId {
        if self.mode == Mode::Infer || rate == 0.0 {
            return x;
        }
        let ty = self.builder.ty(x).clone();
        let noise = self.builder.input(format!("{name}.noise"), Role::Noise, TensorType::new(DType::F32, ty.shape));
        let threshold = self.builder.constant_like(rate, noise);
        let keep = self.builder.compare(Compare::Ge, noise, threshold);
        let scaled = self.builder.scale(x, 1.0 / (1.0 - rate));
        let zero = self.builder.constant_like(0.0, x);
        self.builder.select(keep, scaled, zero)
    }

    /// Batch normalisation over every axis but the last. Training normalises by the batch's mean and (biased)
    /// variance and moves the running statistics towards them (`moving = moving * momentum + batch * (1 -
    /// momentum)`, as Keras); inference uses the running statistics.
    fn batch_norm(&mut self, name: &str, x: NodeId, momentum: f64, epsilon: f64) -> NodeId {
        let [gamma, beta, moving_mean, moving_variance] =
            ["gamma", "beta", "moving_mean", "moving_variance"].map(|suffix| self.variable(name, suffix));
        let b = &mut *self.builder;
        let shape = b.shape(x);
        let axes: Vec<usize> = (0..shape.len() - 1).collect();
        let (mean, variance) = match self.mode {
            Mode::Infer => (moving_mean, moving_variance),
            Mode::Train => {
                let mean = b.mean(x, axes.clone());
                let spread = b.broadcast(mean, &shape);
                let centred = b.sub(x, spread);
                let squares = b.mul(centred, centred);
                let variance = b.mean(squares, axes);
                for (statistic, batch_value, moving) in
                    [("moving_mean", mean, moving_mean), ("moving_variance", variance, moving_variance)]
                {
                    let kept = b.scale(moving, momentum);
                    let added = b.scale(batch_value, 1.0 - momentum);
                    let updated = b.add(kept, added);
                    self.updates.push((format!("{name}.{statistic}"), updated));
                }
                (mean, variance)
            }
        };
        let b = &mut *self.builder;
        let shifted = b.offset(variance, epsilon);
        let deviation = b.sqrt(shifted);
        let inverse = b.recip(deviation);
        let factor = b.mul(gamma, inverse);
        let shift = b.mul(mean, factor);
        let offset = b.sub(beta, shift);
        let factor = b.broadcast(factor, &shape);
        let offset = b.broadcast(offset, &shape);
        let scaled = b.mul(x, factor);
        b.add(scaled, offset)
    }
}

#[derive(Clone, Copy)]
enum Pooling {
    Max,
    Average,
}

/// `x + bias`, the bias broadcast over every axis but the last.
fn add_bias(builder: &mut Builder, x: NodeId, bias: NodeId) -> NodeId {
    let shape = builder.shape(x);
    let bias = builder.broadcast(bias, &shape);
    builder.add(x, bias)
}

/// Zero padding for `same` convolutions, as TensorFlow places it: the output has `ceil(size / stride)` positions
/// and any odd padding goes after.
fn pad_same(builder: &mut Builder, x: NodeId, kernel: [usize; 2], stride: [usize; 2]) -> NodeId {
    let shape = builder.shape(x);
    let mut low = vec![0; 4];
    let mut high = vec![0; 4];
    for axis in 0..2 {
        let size = shape[axis + 1];
        let out = size.div_ceil(stride[axis]);
        let total = ((out - 1) * stride[axis] + kernel[axis]).saturating_sub(size);
        low[axis + 1] = total / 2;
        high[axis + 1] = total - total / 2;
    }
    builder.pad(x, low, high, vec![0; 4], 0.0)
}

/// The strided slices of `x` (`[batch, height, width, channels]`) under each position of a window, in row-major
/// window order: element `(i, j)` of every output position.
fn windows(builder: &mut Builder, x: NodeId, size: [usize; 2], stride: [usize; 2]) -> Vec<NodeId> {
    let shape = builder.shape(x);
    let out_height = (shape[1] - size[0]) / stride[0] + 1;
    let out_width = (shape[2] - size[1]) / stride[1] + 1;
    let mut patches = Vec::with_capacity(size[0] * size[1]);
    for i in 0..size[0] {
        for j in 0..size[1] {
            let start = vec![0, i, j, 0];
            let end =
                vec![shape[0], i + (out_height - 1) * stride[0] + 1, j + (out_width - 1) * stride[1] + 1, shape[3]];
            patches.push(builder.slice(x, start, end, vec![1, stride[0], stride[1], 1]));
        }
    }
    patches
}
