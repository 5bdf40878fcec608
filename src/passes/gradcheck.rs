//! Gradient checking: the autodiff pass's gradients against central finite differences, in f64, for tests of any
//! module that builds a differentiable graph. Test code only (`#[cfg(test)]`): nothing galen runs checks gradients.

use std::collections::BTreeMap;
use std::fmt;

use crate::interpreter::{run, Tensor};
use crate::ir::precision::with_float;
use crate::ir::verify::{verify, Stage};
use crate::ir::{Builder, DType, Graph, Output};
use crate::passes::autodiff::gradients;
use crate::rng::{Purpose, Streams};

/// How far an analytic gradient element may be from its finite difference: `absolute + relative * scale`, where
/// the scale is the larger magnitude of the two.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// The part of the allowance that grows with the gradient's magnitude.
    pub relative: f64,
    /// The part that does not: what a gradient near zero may be off by.
    pub absolute: f64,
}

impl Default for Tolerance {
    /// Tight enough to catch a wrong rule, loose enough for the finite differences' own error in f64 (steps of
    /// 1e-6 leave about 1e-10 of rounding per unit of loss).
    fn default() -> Tolerance {
        Tolerance { relative: 1e-5, absolute: 1e-7 }
    }
}

/// What a passing check compared.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The number of gradient elements compared.
    pub compared: usize,
    /// The largest `|analytic - numeric| / max(|analytic|, |numeric|)` among elements whose magnitude is at least
    /// 1e-6 (below that, relative error is noise and only the absolute error counts).
    pub worst_relative: f64,
    /// The largest `|analytic - numeric|`.
    pub worst_absolute: f64,
}

/// The most elements of one tensor that are compared; a larger tensor is checked at a seeded sample of this many.
pub const SAMPLE: usize = 50;

/// Checks the gradient of the scalar output `loss` of `graph` with respect to the inputs named in `wrt`, at the
/// point `inputs` (every input of the graph, by name; f32 values are widened). The graph runs in f64
/// ([`with_float`]); each compared element's gradient is checked against the central difference
/// `(loss(x + h) - loss(x - h)) / 2h` with `h = 1e-6 * max(1, |x|)`. The gradient graph must pass the verifier.
/// Returns what was compared, or a message naming the worst mismatches.
pub fn check(
    graph: &Graph,
    loss: &str,
    inputs: &BTreeMap<String, Tensor>,
    wrt: &[&str],
    tolerance: Tolerance,
) -> Result<Report, String> {
    let mut forward = with_float(graph, DType::F64);
    let loss_node = forward.output(loss).ok_or_else(|| format!("the graph has no output named `{loss}`"))?;
    forward.outputs = vec![Output { name: loss.to_string(), node: loss_node }];
    let mut wrt_nodes = Vec::with_capacity(wrt.len());
    for name in wrt {
        let node = forward.input(name).ok_or_else(|| format!("the graph has no input named `{name}`"))?;
        if forward.tensor_type(node).dtype != DType::F64 {
            return Err(format!("the input `{name}` is {}, not a float", forward.tensor_type(node)));
        }
        wrt_nodes.push(node);
    }
    let point: BTreeMap<String, Tensor> = inputs.iter().map(|(name, tensor)| (name.clone(), widened(tensor))).collect();

    let mut builder = Builder::extend(forward.clone());
    let grads = gradients(&mut builder, loss_node, &wrt_nodes);
    for (index, grad) in grads.into_iter().enumerate() {
        builder.output(format!("gradcheck.{index}"), grad);
    }
    let gradient_graph = builder.finish();
    verify(&gradient_graph, Stage::Step).map_err(|errors| format!("the gradient graph does not verify:\n{errors}"))?;
    let analytic = run(&gradient_graph, &point).map_err(|error| format!("running the gradient graph: {error}"))?;

    let mut report = Report { compared: 0, worst_relative: 0.0, worst_absolute: 0.0 };
    let mut mismatches: Vec<(f64, String)> = Vec::new();
    for (index, &name) in wrt.iter().enumerate() {
        let gradient = values(&analytic[&format!("gradcheck.{index}")]);
        let value = point.get(name).ok_or_else(|| format!("no value given for the input `{name}`"))?;
        let Tensor::F64(value) = value else { return Err(format!("the input `{name}` is not a float")) };
        for element in sample(value.len(), index as u64) {
            let numeric = central_difference(&forward, loss, &point, name, element)?;
            let exact = gradient[element];
            let error = (exact - numeric).abs();
            let scale = exact.abs().max(numeric.abs());
            report.compared += 1;
            report.worst_absolute = report.worst_absolute.max(error);
            if scale >= 1e-6 {
                report.worst_relative = report.worst_relative.max(error / scale);
            }
            let allowed = tolerance.absolute + tolerance.relative * scale;
            if error.is_nan() || error > allowed {
                let at = position(value.shape(), element);
                mismatches.push((
                    error / allowed,
                    format!("`{name}`{at:?}: autodiff {exact:e}, finite differences {numeric:e} (off by {error:e})"),
                ));
            }
        }
    }
    if mismatches.is_empty() {
        return Ok(report);
    }
    mismatches.sort_by(|a, b| b.0.total_cmp(&a.0));
    let shown: Vec<&str> = mismatches.iter().take(5).map(|(_, line)| line.as_str()).collect();
    Err(format!(
        "{} of {} gradient elements are off by more than {} + {} * scale; the worst:\n  {}",
        mismatches.len(),
        report.compared,
        tolerance.absolute,
        tolerance.relative,
        shown.join("\n  ")
    ))
}

/// The central difference `(loss(x + h) - loss(x - h)) / 2h`, `h = 1e-6 * max(1, |x|)`, of the scalar output `loss`
/// of an f64 `graph` ([`with_float`]) with respect to element `element` (row-major) of its input `name`, at `point`
/// (every input of the graph, by name, floats in f64).
pub fn central_difference(
    graph: &Graph,
    loss: &str,
    point: &BTreeMap<String, Tensor>,
    name: &str,
    element: usize,
) -> Result<f64, String> {
    let value = point.get(name).ok_or_else(|| format!("no value given for the input `{name}`"))?;
    let Tensor::F64(value) = value else { return Err(format!("the input `{name}` is not f64")) };
    let value = value.as_standard_layout().into_owned();
    let x = *value
        .as_slice()
        .expect("standard layout")
        .get(element)
        .ok_or_else(|| format!("the input `{name}` has {} elements, not {}", value.len(), element + 1))?;
    let step = 1e-6 * x.abs().max(1.0);
    let loss_at = |shift: f64| -> Result<f64, String> {
        let mut moved = value.clone();
        moved.as_slice_mut().expect("standard layout")[element] = x + shift;
        let mut at = point.clone();
        at.insert(name.to_string(), Tensor::F64(moved));
        let outputs = run(graph, &at).map_err(|error| format!("running the loss: {error}"))?;
        let found = outputs.get(loss).ok_or_else(|| format!("the graph has no output named `{loss}`"))?;
        Ok(values(found)[0])
    };
    Ok((loss_at(step)? - loss_at(-step)?) / (2.0 * step))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} elements, worst relative error {:.1e}, worst absolute error {:.1e}",
            self.compared, self.worst_relative, self.worst_absolute
        )
    }
}

/// A float tensor in f64; other tensors as they are.
fn widened(tensor: &Tensor) -> Tensor {
    match tensor {
        Tensor::F32(values) => Tensor::F64(values.mapv(f64::from)),
        other => other.clone(),
    }
}

/// The elements of an f64 tensor in row-major order.
fn values(tensor: &Tensor) -> Vec<f64> {
    match tensor {
        Tensor::F64(values) => values.iter().copied().collect(),
        _ => panic!("the graph was run in f64, so its float outputs are f64"),
    }
}

/// Which elements of a tensor of `count` elements are compared: all of them, or a seeded sample of [`SAMPLE`].
fn sample(count: usize, seed: u64) -> Vec<usize> {
    if count <= SAMPLE {
        return (0..count).collect();
    }
    // The tests' own stream, as `rng::TestRng` draws it: all randomness comes from `rng::Streams`.
    let mut rng = Streams::new(seed).stream(Purpose::Synth);
    let mut chosen = crate::rng::permutation(count, &mut rng);
    chosen.truncate(SAMPLE);
    chosen.sort_unstable();
    chosen
}

/// The multi-index of a row-major element.
fn position(shape: &[usize], mut element: usize) -> Vec<usize> {
    let mut at = vec![0; shape.len()];
    for axis in (0..shape.len()).rev() {
        at[axis] = element % shape[axis];
        element /= shape[axis];
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{NodeId, Role, TensorType};
    use ndarray::{ArrayD, IxDyn};

    /// A graph with an f32 input `x` of 3 elements and the output `loss = sum(f(x))`.
    fn graph_of(f: impl Fn(&mut Builder, NodeId) -> NodeId) -> Graph {
        let mut builder = Builder::new("loss");
        let x = builder.input("x", Role::Param, TensorType::new(DType::F32, [3]));
        let y = f(&mut builder, x);
        let loss = builder.reduce_sum(y, vec![0]);
        builder.output("loss", loss);
        builder.finish()
    }

    fn point(values: [f32; 3]) -> BTreeMap<String, Tensor> {
        let x = ArrayD::from_shape_vec(IxDyn(&[3]), values.to_vec()).expect("three values");
        BTreeMap::from([("x".to_string(), Tensor::F32(x))])
    }

    #[test]
    fn an_f32_graph_is_checked_in_f64() {
        let graph = graph_of(|builder, x| builder.exp(x));
        let report = check(&graph, "loss", &point([0.5, -1.0, 2.0]), &["x"], Tolerance::default()).expect("agrees");
        assert_eq!(report.compared, 3);
        assert!(report.worst_relative < 1e-8, "{report}");
    }

    #[test]
    fn a_gradient_that_finite_differences_disagree_with_is_reported() {
        // Truncating to i32 is flat almost everywhere, so autodiff says 0; at 1.0 it jumps, which a central
        // difference sees as a huge slope.
        let graph = graph_of(|builder, x| {
            let whole = builder.cast(x, DType::I32);
            builder.cast(whole, DType::F32)
        });
        let error = check(&graph, "loss", &point([0.5, 1.0, 2.5]), &["x"], Tolerance::default()).unwrap_err();
        assert!(error.starts_with("1 of 3 gradient elements"), "{error}");
        assert!(error.contains("`x`[1]: autodiff 0e0"), "{error}");
    }

    #[test]
    fn unknown_names_are_refused() {
        let graph = graph_of(|builder, x| builder.exp(x));
        let at = point([0.0; 3]);
        let error = check(&graph, "lost", &at, &["x"], Tolerance::default()).unwrap_err();
        assert_eq!(error, "the graph has no output named `lost`");
        let error = check(&graph, "loss", &at, &["y"], Tolerance::default()).unwrap_err();
        assert_eq!(error, "the graph has no input named `y`");
    }

    #[test]
    fn a_large_tensor_is_checked_at_a_seeded_sample() {
        assert_eq!(sample(7, 0), (0..7).collect::<Vec<_>>());
        let chosen = sample(1000, 3);
        assert_eq!(chosen.len(), SAMPLE);
        assert_eq!(chosen, sample(1000, 3));
        assert!(chosen.windows(2).all(|pair| pair[0] < pair[1]));
    }
}
