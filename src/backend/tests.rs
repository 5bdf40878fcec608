//! Differential tests: the compiled backend against the interpreter, on every example's graphs and on seeded random
//! graphs of every op.
//!
//! Tolerance: |jit - interp| <= 1e-4 · max(|interp|, 1) per element (NaN matches NaN, infinities match
//! themselves). The differences come from the polynomial exp/log/tanh/erf (a few ulps) and the vector reductions'
//! summation order (products are the same bits: both follow the chain of fused multiply-adds over `k`); 1e-4 leaves
//! room for their growth through a train step. Between the JIT's CPU paths there is no tolerance: the same bits.

use std::collections::BTreeMap;

use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use std::path::{Path, PathBuf};

use super::{cpu, Backend, Executable, Program};
use crate::compile::{self, Compiled, GraphKind, Settings, Until};
use crate::interpreter::{run, Tensor};
use crate::ir::random::random_graph;
use crate::ir::{DType, Graph, Role};
use crate::lowering::{names, Model};
use crate::passes::optimize;
use crate::pipeline::check_file;
use crate::testing::example_specs;

/// The largest relative difference the tests allow.
const TOLERANCE: f64 = 1e-4;

/// Seeded inputs of any dtype: floats in [-2, 2) (noise in [0, 1), moments positive), small integers, coin flips.
fn inputs(graph: &Graph, seed: u64) -> BTreeMap<String, Tensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    graph
        .inputs()
        .into_iter()
        .map(|(id, name, role)| {
            let ty = graph.tensor_type(id);
            let shape = IxDyn(&ty.shape);
            let mut float = || match (role, name) {
                (Role::Noise, _) => rng.gen::<f64>(),
                (_, names::STEP) => 3.0,
                (_, names::LEARNING_RATE) => 0.01,
                _ if name.contains("variance") || name.contains(".v.") => 0.5 + rng.gen::<f64>(),
                _ => 4.0 * rng.gen::<f64>() - 2.0,
            };
            let tensor = match ty.dtype {
                DType::F32 => Tensor::F32(ArrayD::from_shape_simple_fn(shape, || float() as f32)),
                DType::F64 => Tensor::F64(ArrayD::from_shape_simple_fn(shape, float)),
                DType::I32 => Tensor::I32(ArrayD::from_shape_simple_fn(shape, || (float() * 2.0) as i32)),
                DType::Bool => Tensor::Bool(ArrayD::from_shape_simple_fn(shape, || float() > 0.0)),
            };
            (name.to_string(), tensor)
        })
        .collect()
}

/// The worst relative difference between two runs' outputs, or why they cannot be compared.
fn worst_difference(expected: &BTreeMap<String, Tensor>, found: &BTreeMap<String, Tensor>) -> Result<f64, String> {
    let mut worst = 0.0f64;
    for (name, value) in expected {
        let other = found.get(name).ok_or(format!("output `{name}` is missing"))?;
        if other.tensor_type() != value.tensor_type() {
            return Err(format!("output `{name}` is {} but should be {}", other.tensor_type(), value.tensor_type()));
        }
        for (a, b) in value.to_f64().iter().zip(other.to_f64().iter()) {
            let same = a == b || (a.is_nan() && b.is_nan());
            let difference = if same { 0.0 } else { (a - b).abs() / a.abs().max(1.0) };
            worst = worst.max(if difference.is_nan() { f64::INFINITY } else { difference });
        }
    }
    Ok(worst)
}

/// `model`'s graph of `kind` after the clean-up passes, verified.
fn optimized(model: &Model, kind: GraphKind, batch: usize) -> Graph {
    compile::optimized(model, kind, batch, Settings::verified())
}

/// `graph` through the driver's backend stages for the JIT (plan, plan verifier, codegen), with the fallback's reason.
pub(crate) fn jit(graph: Graph) -> (Executable, Option<String>) {
    match compile::backend_stages(graph, Until::Runnable(Backend::Jit), Settings::verified()) {
        Compiled::Runnable(executable, warning) => (executable, warning),
        _ => unreachable!("compiling until runnable gives an executable"),
    }
}

/// `graph` compiled by the JIT for the CPU path `path`; panics when it falls back to the interpreter.
fn program_on(graph: &Graph, path: cpu::CpuPath) -> Program {
    match compile::backend_stages(graph.clone(), Until::Runnable(Backend::Jit), Settings::verified().on(path)) {
        Compiled::Runnable(Executable::Jit(program), None) => *program,
        Compiled::Runnable(_, warning) => panic!("the graph does not compile for {path:?}: {warning:?}"),
        _ => unreachable!("compiling until runnable gives an executable"),
    }
}

fn compare(graph: &Graph, seed: u64, what: &str) {
    let inputs = inputs(graph, seed);
    let expected = run(graph, &inputs).unwrap_or_else(|error| panic!("{what}: the interpreter fails: {error}"));
    let (executable, warning) = jit(graph.clone());
    assert!(warning.is_none(), "{what}: {warning:?}");
    let found = executable.run(&inputs);
    let worst = worst_difference(&expected, &found).unwrap_or_else(|error| panic!("{what}: {error}"));
    assert!(worst <= TOLERANCE, "{what}: the JIT differs from the interpreter by {worst:e}\n{graph}");
}

/// An example's model, checked.
fn example_model(spec: &Path) -> Model {
    let outcome = check_file(spec);
    let (Some(lowered), Some(checked)) = (&outcome.lowered, &outcome.checked) else {
        panic!("{} checks", spec.display())
    };
    Model::new(&lowered.spec, checked)
}

fn bits(tensor: &Tensor) -> Vec<u64> {
    tensor.to_f64().iter().map(|x| x.to_bits()).collect()
}

#[test]
fn every_example_trains_evaluates_and_predicts_as_on_the_interpreter() {
    for spec in example_specs() {
        let model = example_model(&spec);
        for kind in [GraphKind::TrainStep, GraphKind::Evaluate, GraphKind::Predict] {
            compare(&optimized(&model, kind, 5), 7, &format!("{}, {kind}", spec.display()));
        }
    }
}

/// Issue 13: the train step, evaluation and prediction of every example give the same bits on every CPU path this
/// machine has (the portable path, AVX2 + FMA, AVX-512), at a small batch and, for two examples, at batches large
/// enough that products span several blocks of rows and run in parts on several threads.
#[test]
fn every_example_gives_the_same_bits_on_every_cpu_path() {
    let paths = cpu::available();
    for spec in example_specs() {
        let model = example_model(&spec);
        let mut graphs = vec![(GraphKind::TrainStep, 5), (GraphKind::Evaluate, 5), (GraphKind::Predict, 5)];
        let name = spec.file_stem().unwrap_or_default().to_string_lossy();
        if name == "breast_cancer_peers" || name == "digits_cnn" {
            graphs.push((GraphKind::TrainStep, 700));
        }
        for (kind, batch) in graphs {
            let name = format!("{kind} of {batch}");
            let graph = optimized(&model, kind, batch);
            let inputs = inputs(&graph, 7);
            let outputs: Vec<BTreeMap<String, Tensor>> = paths
                .iter()
                .map(|&path| {
                    let program = program_on(&graph, path);
                    assert_eq!(program.path(), path);
                    program.run(&inputs)
                })
                .collect();
            for (path, found) in paths.iter().zip(&outputs).skip(1) {
                for (output, value) in &outputs[0] {
                    assert!(
                        bits(value) == bits(&found[output]),
                        "{}, {name}: `{output}` differs between the {} and {path} paths",
                        spec.display(),
                        paths[0]
                    );
                }
            }
        }
    }
}

/// Issue 13: a row's prediction is the same bits whatever batch it is in (alone, among 5, among 13; first, in the
/// middle, last), on every path: the server pads and batches requests and must not change an answer.
#[test]
fn a_row_predicts_the_same_bits_in_any_batch_on_every_path() {
    for spec in example_specs() {
        let model = example_model(&spec);
        let whole = optimized(&model, GraphKind::Predict, 13);
        let whole_inputs = inputs(&whole, 17);
        let batch_inputs: Vec<String> = whole
            .inputs()
            .into_iter()
            .filter(|(_, _, role)| *role == Role::Batch)
            .map(|(_, name, _)| name.to_string())
            .collect();
        // The rows of batch `size` starting at `first`, with the same variables as the whole batch.
        let rows = |first: usize, size: usize| -> BTreeMap<String, Tensor> {
            let mut taken = whole_inputs.clone();
            for name in &batch_inputs {
                let Tensor::F32(array) = &whole_inputs[name] else { panic!("{name} is not f32") };
                let part = array.slice_axis(ndarray::Axis(0), ndarray::Slice::from(first..first + size)).to_owned();
                taken.insert(name.clone(), Tensor::F32(part));
            }
            taken
        };
        for path in cpu::available() {
            let run = |size: usize, first: usize| -> BTreeMap<String, Tensor> {
                let program = program_on(&optimized(&model, GraphKind::Predict, size), path);
                program.run(&rows(first, size))
            };
            let all = run(13, 0);
            for (size, first) in [(1, 6), (5, 2), (5, 6), (5, 8), (1, 0), (1, 12)] {
                let part = run(size, first);
                for (output, value) in &all {
                    let Tensor::F32(array) = value else { continue };
                    if array.ndim() == 0 || array.shape()[0] != 13 {
                        continue;
                    }
                    let expected = array.slice_axis(ndarray::Axis(0), ndarray::Slice::from(first..first + size));
                    let Tensor::F32(found) = &part[output] else { panic!("{output} is f32") };
                    let same = expected.iter().zip(found.iter()).all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(
                        same && expected.len() == found.len(),
                        "{}, {path}: `{output}` of rows {first}..{} changes with the batch",
                        spec.display(),
                        first + size
                    );
                }
            }
        }
    }
}

#[test]
fn random_graphs_of_every_op_run_as_on_the_interpreter() {
    for seed in 0..300 {
        let graph = optimize(random_graph(seed), true);
        if std::env::var("GALEN_DEBUG_SEED").is_ok() {
            eprintln!("seed {seed}\n{graph}\n{}", super::plan::plan(&graph));
        }
        compare(&graph, seed, &format!("random graph {seed}"));
    }
}

/// Batches large enough that products are cut into parts that run on several threads with their epilogues, and
/// kernels are split by rows: the JIT still agrees with the interpreter, and its outputs are the same bits on 1, 2
/// and 3 threads.
#[test]
fn large_batches_agree_and_are_bit_identical_across_thread_counts() {
    for (spec, batch) in [("specs/breast_cancer_peers.galen", 1100), ("specs/digits_cnn.galen", 600)] {
        let outcome = check_file(std::path::Path::new(spec));
        let (Some(lowered), Some(checked)) = (&outcome.lowered, &outcome.checked) else { panic!("{spec} checks") };
        let model = Model::new(&lowered.spec, checked);
        let graph = optimized(&model, GraphKind::TrainStep, batch);
        let plan = super::plan::plan(&graph);
        let epilogues =
            plan.steps.iter().filter(|step| matches!(step, super::plan::Step::MatMul { epilogue: Some(_), .. }));
        assert!(epilogues.count() > 0, "{spec}: no product has an epilogue\n{plan}");
        compare(&graph, 11, &format!("{spec}, train step of {batch}"));
        let inputs = inputs(&graph, 11);
        let (executable, _) = jit(graph);
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a pool");
            pool.install(|| executable.run(&inputs))
        };
        let one = on(1);
        for threads in [2, 3] {
            let other = on(threads);
            for (name, value) in &one {
                assert!(bits(value) == bits(&other[name]), "{spec}: `{name}` differs between 1 and {threads} threads");
            }
        }
    }
}

/// Issue 14 (found by the mutation test past the checker): a reduction that reads a view on which its reduced axes
/// do not merge into one — batch norm's statistics over the sequence a recurrent layer returns — is planned as the
/// interpreter's reduction instead of panicking the planner (and with it `galen check`, whose memory estimate plans
/// the train step), and runs as on the interpreter.
#[test]
fn a_reduction_over_a_view_that_cannot_be_one_kernel_axis_compiles() {
    let text = "name: bn-after-lstm\nseed: 3\ndata:\n  source: series.csv\n  target: level\n  shape: [5, 2]\n\
                model:\n  - lstm: {units: 4, return_sequences: true}\n  - batch_norm: {}\n  - gru: 3\n  - dense: 1\n\
                train:\n  loss: mse\n  epochs: 1\n  batch_size: 4\n";
    let file = crate::spec::SpecFile {
        path: PathBuf::from("tests/fuzz/bn_after_lstm.yaml"),
        text: text.to_string(),
        form: crate::spec::Form::Yaml,
    };
    let outcome = crate::pipeline::check_spec(file);
    let (Some(lowered), Some(checked)) = (&outcome.lowered, &outcome.checked) else {
        panic!("the spec checks: {:?}", outcome.diagnostics)
    };
    let model = Model::new(&lowered.spec, checked);
    for batch in [1, 4] {
        for kind in [GraphKind::TrainStep, GraphKind::Evaluate, GraphKind::Predict] {
            compare(&optimized(&model, kind, batch), 5, &format!("batch norm after an lstm, {kind} of {batch}"));
        }
    }
}
