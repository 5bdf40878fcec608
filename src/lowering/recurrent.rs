//! Recurrent layers as scans: the cell is a small subgraph run once per time step, never unrolled. The input
//! projection `x W + b` of every step is one matmul before the loop; the loop carries the state and multiplies by
//! the recurrent kernel. Gate orders and formulas are Keras' (LSTM: input, forget, cell, output; GRU with
//! `reset_after`: update, reset, candidate, with separate input and recurrent biases).

use super::activation::sigmoid;
use crate::ir::{Builder, DType, Graph, NodeId, Role, Scan, TensorType};

/// An LSTM over `x: [batch, steps, features]` with `[kernel, recurrent_kernel, bias]`. Returns the last step's
/// hidden state `[batch, units]`, or every step's `[batch, steps, units]`.
pub fn lstm(builder: &mut Builder, x: NodeId, weights: [NodeId; 3], return_sequences: bool) -> NodeId {
    let [kernel, recurrent_kernel, bias] = weights;
    let units = builder.shape(recurrent_kernel)[0];
    let projected = project_inputs(builder, x, kernel, bias);
    let [steps, batch, _] = builder.shape(projected)[..] else { unreachable!("projections have rank 3") };
    let body = lstm_cell(batch, units);
    let zeros = builder.constant(0.0, DType::F32, [batch, units]);
    let scan = Scan { steps, carries: 2, sequences: 1, reverse: false, body };
    let result = builder.scan(scan, vec![zeros, zeros, projected, recurrent_kernel]);
    finish(builder, result, 2, return_sequences)
}

/// A GRU over `x: [batch, steps, features]` with `[kernel, recurrent_kernel, bias]`, `bias` being `[2, 3 * units]`
/// (input bias, recurrent bias).
pub fn gru(builder: &mut Builder, x: NodeId, weights: [NodeId; 3], return_sequences: bool) -> NodeId {
    let [kernel, recurrent_kernel, bias] = weights;
    let units = builder.shape(recurrent_kernel)[0];
    let input_bias = builder.slice_axis(bias, 0, 0, 1);
    let input_bias = builder.reshape(input_bias, [3 * units]);
    let recurrent_bias = builder.slice_axis(bias, 0, 1, 2);
    let recurrent_bias = builder.reshape(recurrent_bias, [3 * units]);
    let projected = project_inputs(builder, x, kernel, input_bias);
    let [steps, batch, _] = builder.shape(projected)[..] else { unreachable!("projections have rank 3") };
    let recurrent_bias = builder.broadcast(recurrent_bias, &[batch, 3 * units]);
    let body = gru_cell(batch, units);
    let zeros = builder.constant(0.0, DType::F32, [batch, units]);
    let scan = Scan { steps, carries: 1, sequences: 1, reverse: false, body };
    let result = builder.scan(scan, vec![zeros, projected, recurrent_kernel, recurrent_bias]);
    finish(builder, result, 1, return_sequences)
}

/// `x W + b` for every step at once, time-major: `[steps, batch, gates * units]`.
fn project_inputs(builder: &mut Builder, x: NodeId, kernel: NodeId, bias: NodeId) -> NodeId {
    let [batch, steps, features] = builder.shape(x)[..] else { unreachable!("sequences have rank 3") };
    let width = builder.shape(kernel)[1];
    let time_major = builder.permute(x, vec![1, 0, 2]);
    let rows = builder.reshape(time_major, [steps * batch, features]);
    let product = builder.matmul(rows, kernel);
    let bias = builder.broadcast(bias, &[steps * batch, width]);
    let projected = builder.add(product, bias);
    builder.reshape(projected, [steps, batch, width])
}

/// The layer's result from the scan's tuple: the hidden state is carry 0, and the per-step hidden states follow
/// the carries.
fn finish(builder: &mut Builder, result: NodeId, carries: usize, return_sequences: bool) -> NodeId {
    if return_sequences {
        let per_step = builder.get(result, carries);
        builder.permute(per_step, vec![1, 0, 2])
    } else {
        builder.get(result, 0)
    }
}

/// Columns `[gate * units, (gate + 1) * units)` of a `[batch, gates * units]` value.
fn gate(builder: &mut Builder, z: NodeId, gate: usize, units: usize) -> NodeId {
    builder.slice_axis(z, 1, gate * units, (gate + 1) * units)
}

/// One LSTM step: inputs `h, c` (carries), `xw` (this step's projection), `recurrent_kernel`; outputs `h', c'`
/// and `h'` again as the step's output.
fn lstm_cell(batch: usize, units: usize) -> Graph {
    let mut b = Builder::new("lstm_cell");
    let state = TensorType::new(DType::F32, [batch, units]);
    let h = b.input("h", Role::Batch, state.clone());
    let c = b.input("c", Role::Batch, state);
    let xw = b.input("xw", Role::Batch, TensorType::new(DType::F32, [batch, 4 * units]));
    let recurrent_kernel = b.input("recurrent_kernel", Role::Param, TensorType::new(DType::F32, [units, 4 * units]));
    let recurrent = b.matmul(h, recurrent_kernel);
    let z = b.add(xw, recurrent);
    let input_gate = gate(&mut b, z, 0, units);
    let input_gate = sigmoid(&mut b, input_gate);
    let forget_gate = gate(&mut b, z, 1, units);
    let forget_gate = sigmoid(&mut b, forget_gate);
    let candidate = gate(&mut b, z, 2, units);
    let candidate = b.tanh(candidate);
    let output_gate = gate(&mut b, z, 3, units);
    let output_gate = sigmoid(&mut b, output_gate);
    let kept = b.mul(forget_gate, c);
    let written = b.mul(input_gate, candidate);
    let new_c = b.add(kept, written);
    let squashed = b.tanh(new_c);
    let new_h = b.mul(output_gate, squashed);
    b.output("h", new_h);
    b.output("c", new_c);
    b.output("output", new_h);
    b.finish()
}

/// One GRU step (`reset_after`): inputs `h` (carry), `xw` (this step's input projection with its bias),
/// `recurrent_kernel`, `recurrent_bias`; outputs `h'` and `h'` again as the step's output.
fn gru_cell(batch: usize, units: usize) -> Graph {
    let mut b = Builder::new("gru_cell");
    let h = b.input("h", Role::Batch, TensorType::new(DType::F32, [batch, units]));
    let xw = b.input("xw", Role::Batch, TensorType::new(DType::F32, [batch, 3 * units]));
    let recurrent_kernel = b.input("recurrent_kernel", Role::Param, TensorType::new(DType::F32, [units, 3 * units]));
    let recurrent_bias = b.input("recurrent_bias", Role::Param, TensorType::new(DType::F32, [batch, 3 * units]));
    let recurrent = b.matmul(h, recurrent_kernel);
    let inner = b.add(recurrent, recurrent_bias);
    let [x_update, x_reset, x_candidate] = [0, 1, 2].map(|index| gate(&mut b, xw, index, units));
    let [r_update, r_reset, r_candidate] = [0, 1, 2].map(|index| gate(&mut b, inner, index, units));
    let update = b.add(x_update, r_update);
    let update = sigmoid(&mut b, update);
    let reset = b.add(x_reset, r_reset);
    let reset = sigmoid(&mut b, reset);
    let gated = b.mul(reset, r_candidate);
    let candidate = b.add(x_candidate, gated);
    let candidate = b.tanh(candidate);
    // h' = z h + (1 - z) candidate, written as candidate + z (h - candidate).
    let difference = b.sub(h, candidate);
    let moved = b.mul(update, difference);
    let new_h = b.add(candidate, moved);
    b.output("h", new_h);
    b.output("output", new_h);
    b.finish()
}
