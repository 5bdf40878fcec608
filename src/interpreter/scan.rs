//! The scan kernel: runs the body graph once per step, threading the carries through and stacking the per-step
//! outputs.

use std::borrow::Cow;

use super::{execute, Tensor};
use crate::ir::{Scan, TensorType};

/// The scan's tuple: the final carries, then each per-step output stacked into `[steps, ...]` (`parts` are their
/// types). `inputs` are the initial carries, the sequences and the invariants.
pub(super) fn scan(scan: &Scan, inputs: &[&Tensor], parts: &[TensorType]) -> Vec<Tensor> {
    let sequences_end = scan.carries + scan.sequences;
    let mut carries: Vec<Tensor> = inputs[..scan.carries].iter().map(|&carry| carry.clone()).collect();
    let mut stacked: Vec<Tensor> = parts[scan.carries..].iter().map(|ty| Tensor::filled(ty, 0.0)).collect();
    let steps: Box<dyn Iterator<Item = usize>> =
        if scan.reverse { Box::new((0..scan.steps).rev()) } else { Box::new(0..scan.steps) };
    for step in steps {
        let mut body_inputs: Vec<Cow<Tensor>> = Vec::with_capacity(inputs.len());
        body_inputs.extend(carries.drain(..).map(Cow::Owned));
        body_inputs.extend(inputs[scan.carries..sequences_end].iter().map(|sequence| Cow::Owned(sequence.step(step))));
        // Invariants (weights, typically) are lent to every step rather than copied into it.
        body_inputs.extend(inputs[sequences_end..].iter().map(|&invariant| Cow::Borrowed(invariant)));
        let mut outputs = execute(&scan.body, body_inputs);
        let per_step = outputs.split_off(scan.carries);
        carries = outputs;
        for (stack, output) in stacked.iter_mut().zip(&per_step) {
            stack.set_step(step, output);
        }
    }
    carries.extend(stacked);
    carries
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use ndarray::{Array2, Array3, ArrayD, Axis};

    use super::super::tests::{assert_exact, floats, FLOATS};
    use super::super::{run, Tensor};
    use crate::ir::{Builder, DType, Graph, Role, Scan, TensorType};

    /// A scan adding each slice of `xs` (`[steps, 2]`) to a carry that starts at `init`, returning the total and every
    /// partial sum.
    fn cumulative_sum(dtype: DType, steps: usize, reverse: bool) -> Graph {
        let mut body = Builder::new("add_slice");
        let sum = body.input("sum", Role::State, TensorType::new(dtype, [2]));
        let slice = body.input("slice", Role::Batch, TensorType::new(dtype, [2]));
        let next = body.add(sum, slice);
        body.output("sum", next);
        body.output("partial", next);
        let mut builder = Builder::new("cumulative_sum");
        let init = builder.input("init", Role::State, TensorType::new(dtype, [2]));
        let xs = builder.input("xs", Role::Batch, TensorType::new(dtype, [steps, 2]));
        let scan = Scan { steps, carries: 1, sequences: 1, reverse, body: body.finish() };
        let result = builder.scan(scan, vec![init, xs]);
        let total = builder.get(result, 0);
        let partials = builder.get(result, 1);
        builder.output("total", total);
        builder.output("partials", partials);
        builder.finish()
    }

    fn run_cumulative_sum(dtype: DType, reverse: bool) -> BTreeMap<String, Tensor> {
        let inputs = BTreeMap::from([
            ("init".to_string(), floats(dtype, &[2], &[100.0, 0.0])),
            ("xs".to_string(), floats(dtype, &[4, 2], &[1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 4.0, 40.0])),
        ]);
        run(&cumulative_sum(dtype, 4, reverse), &inputs).unwrap()
    }

    #[test]
    fn a_forward_scan_sums_cumulatively() {
        for dtype in FLOATS {
            let outputs = run_cumulative_sum(dtype, false);
            assert_exact(&outputs["total"], dtype, &[2], &[110.0, 100.0]);
            let partials = [101.0, 10.0, 103.0, 30.0, 106.0, 60.0, 110.0, 100.0];
            assert_exact(&outputs["partials"], dtype, &[4, 2], &partials);
        }
    }

    #[test]
    fn a_reverse_scan_runs_from_the_last_step_and_stacks_by_step() {
        for dtype in FLOATS {
            let outputs = run_cumulative_sum(dtype, true);
            assert_exact(&outputs["total"], dtype, &[2], &[110.0, 100.0]);
            let partials = [110.0, 100.0, 109.0, 90.0, 107.0, 70.0, 104.0, 40.0];
            assert_exact(&outputs["partials"], dtype, &[4, 2], &partials);
        }
    }

    #[test]
    fn a_scan_of_no_steps_returns_its_initial_carries() {
        let inputs = BTreeMap::from([
            ("init".to_string(), floats(DType::F64, &[2], &[1.0, 2.0])),
            ("xs".to_string(), floats(DType::F64, &[0, 2], &[])),
        ]);
        let outputs = run(&cumulative_sum(DType::F64, 0, false), &inputs).unwrap();
        assert_exact(&outputs["total"], DType::F64, &[2], &[1.0, 2.0]);
        assert_exact(&outputs["partials"], DType::F64, &[0, 2], &[]);
    }

    const STEPS: usize = 5;
    const BATCH: usize = 2;
    const FEATURES: usize = 3;
    const HIDDEN: usize = 4;

    /// An Elman cell `h = tanh(h W + x U + b)` over `xs` (`[steps, batch, features]`), returning the last state, every
    /// state and each state's row sums (two stacked outputs of different shapes).
    fn recurrent(dtype: DType, reverse: bool) -> Graph {
        let ty = |shape: &[usize]| TensorType::new(dtype, shape);
        let mut body = Builder::new("cell");
        let h = body.input("h", Role::State, ty(&[BATCH, HIDDEN]));
        let x = body.input("x", Role::Batch, ty(&[BATCH, FEATURES]));
        let w = body.input("w", Role::Param, ty(&[HIDDEN, HIDDEN]));
        let u = body.input("u", Role::Param, ty(&[FEATURES, HIDDEN]));
        let b = body.input("b", Role::Param, ty(&[HIDDEN]));
        let hw = body.matmul(h, w);
        let xu = body.matmul(x, u);
        let sum = body.add(hw, xu);
        let bias = body.broadcast(b, &[BATCH, HIDDEN]);
        let pre = body.add(sum, bias);
        let next = body.tanh(pre);
        let row_sums = body.reduce_sum(next, vec![1]);
        body.output("h", next);
        body.output("states", next);
        body.output("row_sums", row_sums);
        let mut builder = Builder::new("recurrent");
        let h0 = builder.input("h0", Role::State, ty(&[BATCH, HIDDEN]));
        let xs = builder.input("xs", Role::Batch, ty(&[STEPS, BATCH, FEATURES]));
        let w = builder.input("w", Role::Param, ty(&[HIDDEN, HIDDEN]));
        let u = builder.input("u", Role::Param, ty(&[FEATURES, HIDDEN]));
        let b = builder.input("b", Role::Param, ty(&[HIDDEN]));
        let scan = Scan { steps: STEPS, carries: 1, sequences: 1, reverse, body: body.finish() };
        let result = builder.scan(scan, vec![h0, xs, w, u, b]);
        for (index, name) in ["last", "states", "row_sums"].into_iter().enumerate() {
            let part = builder.get(result, index);
            builder.output(name, part);
        }
        builder.finish()
    }

    /// Deterministic values in [-0.8, 0.8] so that tanh stays away from saturation.
    fn values(count: usize, seed: usize) -> Vec<f64> {
        (0..count).map(|index| ((index * 37 + seed * 11) % 17) as f64 / 10.0 - 0.8).collect()
    }

    #[test]
    fn a_recurrent_cell_matches_an_explicit_loop_both_ways() {
        let h0 = values(BATCH * HIDDEN, 1);
        let xs = values(STEPS * BATCH * FEATURES, 2);
        let w = values(HIDDEN * HIDDEN, 3);
        let u = values(FEATURES * HIDDEN, 4);
        let b = values(HIDDEN, 5);
        for reverse in [false, true] {
            // The reference, in f64 with ndarray directly.
            let to2 = |values: &[f64], rows, columns| Array2::from_shape_vec((rows, columns), values.to_vec()).unwrap();
            let (w2, u2) = (to2(&w, HIDDEN, HIDDEN), to2(&u, FEATURES, HIDDEN));
            let xs3 = Array3::from_shape_vec((STEPS, BATCH, FEATURES), xs.clone()).unwrap();
            let mut h = to2(&h0, BATCH, HIDDEN);
            let mut states = Array3::<f64>::zeros((STEPS, BATCH, HIDDEN));
            let order: Vec<usize> = if reverse { (0..STEPS).rev().collect() } else { (0..STEPS).collect() };
            for &step in &order {
                let pre = h.dot(&w2) + xs3.index_axis(Axis(0), step).dot(&u2) + &to2(&b, 1, HIDDEN);
                h = pre.mapv(libm::tanh);
                states.index_axis_mut(Axis(0), step).assign(&h);
            }
            let row_sums = states.sum_axis(Axis(2));
            for dtype in FLOATS {
                let inputs = BTreeMap::from([
                    ("h0".to_string(), floats(dtype, &[BATCH, HIDDEN], &h0)),
                    ("xs".to_string(), floats(dtype, &[STEPS, BATCH, FEATURES], &xs)),
                    ("w".to_string(), floats(dtype, &[HIDDEN, HIDDEN], &w)),
                    ("u".to_string(), floats(dtype, &[FEATURES, HIDDEN], &u)),
                    ("b".to_string(), floats(dtype, &[HIDDEN], &b)),
                ]);
                let outputs = run(&recurrent(dtype, reverse), &inputs).unwrap();
                let tolerance = if dtype == DType::F32 { 1e-5 } else { 1e-12 };
                let close = |found: &Tensor, expected: ArrayD<f64>| {
                    assert_eq!(found.dtype(), dtype);
                    assert_eq!(found.shape(), expected.shape());
                    let error = (found.to_f64() - &expected).mapv(f64::abs).fold(0.0, |max: f64, &e| max.max(e));
                    assert!(error <= tolerance, "{dtype}, reverse {reverse}: off by {error}: {found:?} vs {expected}");
                };
                close(&outputs["last"], h.clone().into_dyn());
                close(&outputs["states"], states.clone().into_dyn());
                close(&outputs["row_sums"], row_sums.clone().into_dyn());
            }
        }
    }
}
