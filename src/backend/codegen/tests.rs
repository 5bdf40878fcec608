//! Differential tests of the native kernels against the reference evaluator: the approximations' error bounds over
//! dense sweeps, seeded random kernels of every expression kind over swept shapes and access patterns, reductions,
//! range splits, threads, the CLIF listing and the safe call's checks.

use std::panic::{catch_unwind, AssertUnwindSafe};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{CodegenError, Compiled};
use crate::backend::cpu::{available, best, CpuPath};
use crate::backend::kernel::{Access, Expr, Kernel, Reduce, Store};
use crate::backend::reference;
use crate::ir::{Binary, Compare, Reduction, Unary};

// ---------------------------------------------------------------------------------------------------------------
// Helpers.

/// Compiles for the best path this CPU has (every path gives the same bits: tested below).
fn compile(kernels: &[Kernel]) -> Result<Compiled, CodegenError> {
    super::compile(kernels, best())
}

/// The CLIF of a kernel on the best path.
fn clif(kernel: &Kernel) -> Result<String, CodegenError> {
    super::clif(kernel, best())
}

/// A kernel `out = f(in)` over `[n]`, contiguous.
fn unary_kernel(n: usize, expr: Expr) -> Kernel {
    Kernel {
        name: "unary".to_string(),
        dims: vec![n],
        operands: vec![Access::contiguous(&[n])],
        exprs: vec![Expr::Load(0), expr],
        stores: vec![Store { expr: 1, access: Access::contiguous(&[n]) }],
        reduce: None,
    }
}

/// Runs a compiled `out = f(in)` kernel over `inputs`.
fn run_unary(compiled: &Compiled, index: usize, inputs: &[f32]) -> Vec<f32> {
    let mut output = vec![0.0; inputs.len()];
    compiled.run(index, &[inputs], &mut [&mut output], 0..inputs.len());
    output
}

/// The spacing of f32 values at `value`'s magnitude (the smallest subnormal at 0).
fn ulp(value: f32) -> f64 {
    let magnitude = value.abs();
    if magnitude == f32::MAX {
        return (f32::MAX - f32::from_bits(f32::MAX.to_bits() - 1)) as f64;
    }
    (f32::from_bits(magnitude.to_bits() + 1) - magnitude) as f64
}

/// The error of `approximation` in ulps of the exact value `exact`.
fn ulp_error(approximation: f32, exact: f64) -> f64 {
    (approximation as f64 - exact).abs() / ulp(exact as f32)
}

/// `count` points evenly spread over `low..=high`.
fn sweep(low: f32, high: f32, count: usize) -> Vec<f32> {
    (0..count).map(|index| low + (high - low) * (index as f32 / (count - 1) as f32)).collect()
}

/// `count` points spread evenly in magnitude (every exponent) over `low..=high`, both positive.
fn magnitude_sweep(low: f32, high: f32, count: usize) -> Vec<f32> {
    let (low, high) = (libm::logf(low), libm::logf(high));
    (0..count).map(|index| libm::expf(low + (high - low) * (index as f32 / (count - 1) as f32))).collect()
}

/// The largest ulp error of `function` over `inputs` against `exact`, with the input where it occurs.
fn largest_ulp_error(outputs: &[f32], inputs: &[f32], exact: impl Fn(f64) -> f64) -> (f64, f32) {
    inputs.iter().zip(outputs).fold((0.0, 0.0), |(worst, at), (&x, &y)| {
        let error = ulp_error(y, exact(x as f64));
        if error > worst {
            (error, x)
        } else {
            (worst, at)
        }
    })
}

fn same(native: f32, reference: f32) -> bool {
    native.to_bits() == reference.to_bits() || (native.is_nan() && reference.is_nan())
}

// ---------------------------------------------------------------------------------------------------------------
// The approximations.

/// Measures `expr` (an approximation of `exact`) over `inputs` and asserts the error bound `bound` in ulps.
fn assert_ulp_bound(expr: Expr, inputs: &[f32], exact: impl Fn(f64) -> f64, bound: f64) {
    let compiled = compile(&[unary_kernel(inputs.len(), expr.clone())]).expect("compiles");
    let outputs = run_unary(&compiled, 0, inputs);
    let (worst, at) = largest_ulp_error(&outputs, inputs, exact);
    eprintln!("{expr:?}: largest error {worst:.3} ulp at {at:e} over {} points", inputs.len());
    assert!(worst <= bound, "{expr:?}: {worst} ulp at x = {at:e} (bound {bound})");
}

#[test]
fn exp_is_within_one_ulp_over_the_normal_range() {
    // Measured 0.972 ulp (with FMA) over 10^6 points of [-87.3, 88.7], against the exact value.
    assert_ulp_bound(Expr::Unary(Unary::Exp, 0), &sweep(-87.3, 88.7, 1_000_000), libm::exp, 1.0);
    // Subnormal results: the error is an absolute one, within a unit of the smallest subnormal.
    let inputs = sweep(-103.9, -87.4, 100_000);
    let compiled = compile(&[unary_kernel(inputs.len(), Expr::Unary(Unary::Exp, 0))]).expect("compiles");
    for (x, y) in inputs.iter().zip(run_unary(&compiled, 0, &inputs)) {
        let exact = libm::exp(*x as f64);
        assert!((y as f64 - exact).abs() <= 1.0 * ulp(0.0), "exp({x}) = {y:e}, exactly {exact:e}");
    }
}

#[test]
fn log_is_within_one_and_a_quarter_ulps_over_every_exponent() {
    // Measured 1.150 ulp (with FMA) at 0.699 (where e ln 2 and ln m nearly cancel) over 5 * 10^5 points of
    // [0.5, 2], and below that over every binade, subnormals included.
    assert_ulp_bound(Expr::Unary(Unary::Log, 0), &sweep(0.5, 2.0, 500_000), libm::log, 1.25);
    assert_ulp_bound(Expr::Unary(Unary::Log, 0), &magnitude_sweep(1e-44, 3e38, 500_000), libm::log, 1.25);
}

#[test]
fn tanh_is_within_one_and_a_half_ulps() {
    // Measured 1.251 ulp (with FMA) at -0.633, just past the switch to the exponential form at 0.625, over 10^6
    // points of [-10, 10]; 1.108 ulp over 10^5 magnitudes of [1e-30, 1].
    assert_ulp_bound(Expr::Unary(Unary::Tanh, 0), &sweep(-10.0, 10.0, 1_000_000), libm::tanh, 1.5);
    assert_ulp_bound(Expr::Unary(Unary::Tanh, 0), &magnitude_sweep(1e-30, 1.0, 100_000), libm::tanh, 1.5);
}

#[test]
fn sigmoid_is_within_two_and_a_half_ulps_over_the_normal_range() {
    // Measured 2.224 ulp (with FMA) at -16.7 over 10^6 points of [-87, 88], where the result is a normal float:
    // exp's error and the two roundings of `1 / (1 + e)`.
    let exact = |x: f64| 1.0 / (1.0 + libm::exp(-x));
    assert_ulp_bound(Expr::Sigmoid(0), &sweep(-87.0, 88.0, 1_000_000), exact, 2.5);
}

#[test]
fn erf_is_within_one_and_a_quarter_ulps() {
    // Measured 1.155 ulp (with FMA) at -0.933, just past the switch at 0.921875, over 10^6 points of [-5, 5];
    // 1.040 ulp over 10^5 magnitudes of [1e-30, 1]. Against the exact erf (libm's f64 `erf`).
    assert_ulp_bound(Expr::Unary(Unary::Erf, 0), &sweep(-5.0, 5.0, 1_000_000), libm::erf, 1.25);
    assert_ulp_bound(Expr::Unary(Unary::Erf, 0), &magnitude_sweep(1e-30, 1.0, 100_000), libm::erf, 1.25);
}

#[test]
fn approximations_give_the_special_values_exactly() {
    let nan = f32::NAN;
    let (inf, tiny) = (f32::INFINITY, f32::from_bits(1));
    let inputs = [nan, inf, -inf, 0.0, -0.0, 100.0, -200.0, -1.0, tiny];
    let cases: [(Expr, [f32; 9]); 5] = [
        (Expr::Unary(Unary::Exp, 0), [nan, inf, 0.0, 1.0, 1.0, inf, 0.0, libm::expf(-1.0), 1.0]),
        (Expr::Unary(Unary::Log, 0), [nan, inf, nan, -inf, -inf, libm::logf(100.0), nan, nan, libm::logf(tiny)]),
        (Expr::Unary(Unary::Tanh, 0), [nan, 1.0, -1.0, 0.0, -0.0, 1.0, -1.0, libm::tanhf(-1.0), tiny]),
        (Expr::Sigmoid(0), [nan, 1.0, 0.0, 0.5, 0.5, 1.0, 0.0, reference::sigmoid(-1.0), 0.5]),
        (Expr::Unary(Unary::Erf, 0), [nan, 1.0, -1.0, 0.0, -0.0, 1.0, -1.0, libm::erff(-1.0), libm::erff(tiny)]),
    ];
    let kernels: Vec<Kernel> = cases.iter().map(|(expr, _)| unary_kernel(inputs.len(), expr.clone())).collect();
    let compiled = compile(&kernels).expect("compiles");
    for (index, (expr, expected)) in cases.iter().enumerate() {
        let outputs = run_unary(&compiled, index, &inputs);
        for ((x, y), want) in inputs.iter().zip(outputs).zip(expected) {
            let close = ulp_error(y, *want as f64) <= 2.0;
            assert!(
                same(y, *want) || (want.is_finite() && *want != 0.0 && close),
                "{expr:?} of {x:e}: {y:e}, want {want:e}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Random kernels.

/// Every kind of expression a kernel body has, each the last expression of some random kernel.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Unary(Unary),
    Sigmoid,
    Binary(Binary),
    Compare(Compare),
    Select,
    FromBool,
}

const UNARIES: [Unary; 7] = [Unary::Neg, Unary::Exp, Unary::Log, Unary::Sqrt, Unary::Recip, Unary::Tanh, Unary::Erf];
const BINARIES: [Binary; 6] = [Binary::Add, Binary::Sub, Binary::Mul, Binary::Div, Binary::Max, Binary::Min];
const COMPARES: [Compare; 6] = [Compare::Lt, Compare::Le, Compare::Gt, Compare::Ge, Compare::Eq, Compare::Ne];

fn every_kind() -> Vec<Kind> {
    let mut kinds: Vec<Kind> = UNARIES.iter().map(|&unary| Kind::Unary(unary)).collect();
    kinds.push(Kind::Sigmoid);
    kinds.extend(BINARIES.iter().map(|&binary| Kind::Binary(binary)));
    kinds.extend(COMPARES.iter().map(|&compare| Kind::Compare(compare)));
    kinds.extend([Kind::Select, Kind::FromBool]);
    kinds
}

/// Whether a unary function is one of the approximations (the others are exact instructions).
fn approximated(unary: Unary) -> bool {
    matches!(unary, Unary::Exp | Unary::Log | Unary::Tanh | Unary::Erf)
}

/// What the generator knows of an expression.
#[derive(Clone, Copy)]
struct Shape {
    /// A truth value.
    truth: bool,
    /// Computed through an approximation, so not exactly the reference's value.
    approximate: bool,
}

/// Whether an expression kind computes through an approximation.
fn is_approximation(kind: Kind) -> bool {
    match kind {
        Kind::Unary(unary) => approximated(unary),
        Kind::Sigmoid => true,
        _ => false,
    }
}

/// A random body over `operands` loads ending in an expression of `last` kind, with `extra` random expressions
/// before it, approximations among them when `approximations`. Comparisons, divisors and the arguments of functions
/// are never approximate values, so that the reference and the native code take the same branches and errors are
/// not amplified beyond the tolerance.
fn random_body(rng: &mut ChaCha8Rng, operands: usize, extra: usize, last: Kind, approximations: bool) -> Vec<Expr> {
    let mut exprs: Vec<Expr> = (0..operands).map(Expr::Load).collect();
    exprs.push(Expr::Const(rng.gen_range(-2.0..2.0)));
    let mut shapes: Vec<Shape> = vec![Shape { truth: false, approximate: false }; exprs.len()];
    let kinds: Vec<Kind> = every_kind().into_iter().filter(|&kind| approximations || !is_approximation(kind)).collect();
    for step in 0..=extra {
        let kind = if step == extra { last } else { kinds[rng.gen_range(0..kinds.len())] };
        let numbers: Vec<usize> = (0..exprs.len()).filter(|&index| !shapes[index].truth).collect();
        let exact: Vec<usize> = numbers.iter().copied().filter(|&index| !shapes[index].approximate).collect();
        let truths: Vec<usize> = (0..exprs.len()).filter(|&index| shapes[index].truth).collect();
        let pick = |rng: &mut ChaCha8Rng, from: &[usize]| from[rng.gen_range(0..from.len())];
        let (expr, shape) = match kind {
            Kind::Unary(unary) => {
                let x = pick(rng, &exact);
                (Expr::Unary(unary, x), Shape { truth: false, approximate: approximated(unary) })
            }
            Kind::Sigmoid => (Expr::Sigmoid(pick(rng, &exact)), Shape { truth: false, approximate: true }),
            Kind::Binary(binary) => {
                let a = pick(rng, &numbers);
                let b = if binary == Binary::Div { pick(rng, &exact) } else { pick(rng, &numbers) };
                let approximate = shapes[a].approximate || shapes[b].approximate;
                (Expr::Binary(binary, a, b), Shape { truth: false, approximate })
            }
            Kind::Compare(compare) => (
                Expr::Compare(compare, pick(rng, &exact), pick(rng, &exact)),
                Shape { truth: true, approximate: false },
            ),
            Kind::Select | Kind::FromBool if truths.is_empty() => {
                let compare = COMPARES[rng.gen_range(0..COMPARES.len())];
                (
                    Expr::Compare(compare, pick(rng, &exact), pick(rng, &exact)),
                    Shape { truth: true, approximate: false },
                )
            }
            Kind::Select => {
                let (a, b) = (pick(rng, &numbers), pick(rng, &numbers));
                let approximate = shapes[a].approximate || shapes[b].approximate;
                (Expr::Select(pick(rng, &truths), a, b), Shape { truth: false, approximate })
            }
            Kind::FromBool => (Expr::FromBool(pick(rng, &truths)), Shape { truth: false, approximate: false }),
        };
        exprs.push(expr);
        shapes.push(shape);
    }
    // A select or cast of a fresh comparison: the comparison above was the step; add its use.
    if let Some(&Expr::Compare(..)) = exprs.last() {
        let condition = exprs.len() - 1;
        exprs.push(match last {
            Kind::Select => Expr::Select(condition, 0, operands),
            _ => Expr::FromBool(condition),
        });
    }
    exprs
}

/// How an operand addresses its buffer over the iteration space `dims`.
fn random_access(rng: &mut ChaCha8Rng, dims: &[usize]) -> Access {
    let rank = dims.len();
    match rng.gen_range(0..6) {
        // Contiguous.
        0 | 1 => Access::contiguous(dims),
        // Broadcast along a random set of axes (a bias row, a per-row value, a scalar).
        2 => {
            let kept: Vec<usize> = dims.iter().map(|&extent| if rng.gen_bool(0.5) { extent } else { 1 }).collect();
            Access::contiguous(&kept)
        }
        // Transposed: the axes stored in reverse order.
        3 => {
            let reversed: Vec<usize> = dims.iter().rev().copied().collect();
            let mut strides = Access::contiguous(&reversed).strides;
            strides.reverse();
            Access { offset: 0, strides }
        }
        // Every other element, after an offset.
        4 => {
            let strides = Access::contiguous(dims).strides.iter().map(|stride| stride * 2).collect();
            Access { offset: 3, strides }
        }
        // The innermost axis backwards.
        _ => {
            let mut access = Access::contiguous(dims);
            let inner = rank - 1;
            access.strides[inner] = -access.strides[inner].abs().max(1);
            access.offset = dims[inner] - 1;
            if dims[inner] == 1 {
                access.strides[inner] = 0;
            }
            access
        }
    }
}

/// One past the largest element an access touches.
fn length_of(access: &Access, dims: &[usize]) -> usize {
    let reach: isize =
        dims.iter().zip(&access.strides).map(|(&extent, &stride)| (stride * (extent as isize - 1)).max(0)).sum();
    (access.offset as isize + reach) as usize + 1
}

/// Random inputs for `kernel`: numbers in [-4, 4], with NaN, infinities and signed zeros when `special`.
fn random_inputs(rng: &mut ChaCha8Rng, kernel: &Kernel, special: bool) -> Vec<Vec<f32>> {
    let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0];
    kernel
        .operands
        .iter()
        .map(|access| {
            (0..length_of(access, &kernel.dims))
                .map(|_| {
                    if special && rng.gen_bool(0.1) {
                        specials[rng.gen_range(0..specials.len())]
                    } else {
                        rng.gen_range(-4.0f32..4.0)
                    }
                })
                .collect()
        })
        .collect()
}

/// Runs `kernel` natively (whole range) and by the reference, on the same inputs; the outputs start as NaN so
/// that an element the native code forgets to write shows.
fn run_both(compiled: &Compiled, index: usize, kernel: &Kernel, inputs: &[Vec<f32>]) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let operands: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
    let fresh = || -> Vec<Vec<f32>> {
        kernel.stores.iter().map(|store| vec![f32::NAN; length_of(&store.access, &kernel.dims)]).collect()
    };
    let (mut native, mut expected) = (fresh(), fresh());
    let mut outputs: Vec<&mut [f32]> = native.iter_mut().map(Vec::as_mut_slice).collect();
    compiled.run(index, &operands, &mut outputs, 0..kernel.dims[0]);
    let mut outputs: Vec<&mut [f32]> = expected.iter_mut().map(Vec::as_mut_slice).collect();
    reference::run(kernel, &operands, &mut outputs);
    (native, expected)
}

/// A bound on the magnitudes an output element's value is computed from (by the reference's arithmetic), to scale
/// the tolerance: rounding errors of the approximations and of the operations after them are relative to it.
fn magnitudes(kernel: &Kernel, inputs: &[Vec<f32>]) -> Vec<Vec<f64>> {
    let mut bounds: Vec<Vec<f64>> =
        kernel.stores.iter().map(|store| vec![0.0; length_of(&store.access, &kernel.dims)]).collect();
    let mut position = vec![0usize; kernel.dims.len()];
    let mut values = vec![0.0f32; kernel.exprs.len()];
    let mut sizes = vec![0.0f64; kernel.exprs.len()];
    let element = |access: &Access, position: &[usize]| -> usize {
        (access.offset as isize
            + position.iter().zip(&access.strides).map(|(&at, &stride)| at as isize * stride).sum::<isize>())
            as usize
    };
    loop {
        for (index, expr) in kernel.exprs.iter().enumerate() {
            let (value, size) = match *expr {
                Expr::Load(operand) => {
                    let value = inputs[operand][element(&kernel.operands[operand], &position)];
                    (value, value.abs() as f64)
                }
                Expr::Const(value) => (value, value.abs() as f64),
                Expr::Unary(unary, x) => {
                    let value = reference::unary(unary, values[x]);
                    (value, value.abs() as f64)
                }
                Expr::Sigmoid(x) => (reference::sigmoid(values[x]), 1.0),
                Expr::Binary(binary, a, b) => {
                    let value = match binary {
                        Binary::Add => values[a] + values[b],
                        Binary::Sub => values[a] - values[b],
                        Binary::Mul => values[a] * values[b],
                        Binary::Div => values[a] / values[b],
                        Binary::Max => reference::max(values[a], values[b]),
                        Binary::Min => reference::min(values[a], values[b]),
                    };
                    let size = match binary {
                        Binary::Add | Binary::Sub => sizes[a] + sizes[b],
                        Binary::Mul => sizes[a] * sizes[b],
                        Binary::Div => sizes[a] / values[b].abs() as f64,
                        Binary::Max | Binary::Min => sizes[a].max(sizes[b]),
                    };
                    (value, size)
                }
                Expr::Compare(compare, a, b) => {
                    let (a, b) = (values[a], values[b]);
                    let truth = match compare {
                        Compare::Lt => a < b,
                        Compare::Le => a <= b,
                        Compare::Gt => a > b,
                        Compare::Ge => a >= b,
                        Compare::Eq => a == b,
                        Compare::Ne => a != b,
                    };
                    (if truth { 1.0 } else { 0.0 }, 0.0)
                }
                Expr::Select(condition, a, b) => {
                    let taken = if values[condition] != 0.0 { a } else { b };
                    (values[taken], sizes[taken])
                }
                Expr::FromBool(x) => (values[x], 1.0),
            };
            values[index] = value;
            sizes[index] = size;
        }
        for (store, bound) in kernel.stores.iter().zip(bounds.iter_mut()) {
            let slot = &mut bound[element(&store.access, &position)];
            let size = sizes[store.expr];
            *slot = match kernel.reduce {
                None => size,
                Some(Reduce { reduction: Reduction::Sum, .. }) => *slot + size,
                Some(Reduce { reduction: Reduction::Max, .. }) => slot.max(size),
            };
        }
        let mut axis = kernel.dims.len();
        loop {
            if axis == 0 {
                return bounds;
            }
            axis -= 1;
            position[axis] += 1;
            if position[axis] < kernel.dims[axis] {
                break;
            }
            position[axis] = 0;
        }
    }
}

/// Asserts the native outputs equal the reference's: bit for bit (any NaN for NaN) where `relative` is 0, else
/// within `relative` times the element's magnitude bound.
fn assert_outputs_match(
    kernel: &Kernel,
    inputs: &[Vec<f32>],
    native: &[Vec<f32>],
    expected: &[Vec<f32>],
    relative: f64,
) {
    let bounds = magnitudes(kernel, inputs);
    for (output, ((native, expected), bounds)) in native.iter().zip(expected).zip(&bounds).enumerate() {
        for (element, ((&got, &want), &size)) in native.iter().zip(expected).zip(bounds).enumerate() {
            // Results in the subnormal range carry an absolute error of a few units of the smallest subnormal.
            let tolerance = if relative > 0.0 { relative * size + 1e-40 } else { 0.0 };
            let within = want.is_finite() && got.is_finite() && ((got - want).abs() as f64) <= tolerance;
            assert!(
                same(got, want) || within,
                "{kernel}output {output} element {element}: native {got:e}, reference {want:e} (bound {size:e})\ninputs {inputs:?}"
            );
        }
    }
}

/// Iteration spaces of the elementwise tests: short and odd 1-D lengths, 2-D and 3-D ones, extents of 1.
const SHAPES: [&[usize]; 14] = [
    &[1],
    &[3],
    &[4],
    &[5],
    &[17],
    &[64],
    &[3, 5],
    &[4, 8],
    &[7, 1],
    &[1, 9],
    &[6, 13],
    &[2, 3, 5],
    &[3, 1, 7],
    &[2, 4, 4],
];

/// Random elementwise kernels over every shape, one per kind of last expression, with 1 to 3 operands of random
/// accesses and sometimes a second, transposed output.
fn random_elementwise_kernels(seed: u64, approximations: bool) -> (Vec<Kernel>, Vec<Vec<Vec<f32>>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let kinds: Vec<Kind> = every_kind().into_iter().filter(|&kind| approximations || !is_approximation(kind)).collect();
    let (mut kernels, mut inputs) = (Vec::new(), Vec::new());
    for dims in SHAPES {
        for &kind in &kinds {
            let operands = rng.gen_range(1..4);
            let accesses: Vec<Access> = (0..operands).map(|_| random_access(&mut rng, dims)).collect();
            let extra = rng.gen_range(0..6);
            let exprs = random_body(&mut rng, operands, extra, kind, approximations);
            let last = exprs.len() - 1;
            let mut stores = vec![Store { expr: last, access: Access::contiguous(dims) }];
            if rng.gen_bool(0.3) {
                let numbers: Vec<usize> = (0..exprs.len()).filter(|&index| !exprs[index].is_bool()).collect();
                let expr = numbers[rng.gen_range(0..numbers.len())];
                let reversed: Vec<usize> = dims.iter().rev().copied().collect();
                let mut strides = Access::contiguous(&reversed).strides;
                strides.reverse();
                stores.push(Store { expr, access: Access { offset: 1, strides } });
            }
            let name = format!("k{}", kernels.len());
            let kernel = Kernel { name, dims: dims.to_vec(), operands: accesses, exprs, stores, reduce: None };
            inputs.push(random_inputs(&mut rng, &kernel, !approximations));
            kernels.push(kernel);
        }
    }
    (kernels, inputs)
}

#[test]
fn random_exact_kernels_match_the_reference_bit_for_bit() {
    let (kernels, inputs) = random_elementwise_kernels(7, false);
    let compiled = compile(&kernels).expect("compiles");
    eprintln!(
        "{} kernels compiled in {:?} ({:?} per kernel)",
        kernels.len(),
        compiled.compile_time(),
        compiled.compile_time() / kernels.len() as u32
    );
    for (index, (kernel, inputs)) in kernels.iter().zip(&inputs).enumerate() {
        let (native, expected) = run_both(&compiled, index, kernel, inputs);
        assert_outputs_match(kernel, inputs, &native, &expected, 0.0);
    }
}

#[test]
fn random_kernels_with_approximations_match_the_reference_within_tolerance() {
    // Approximations are within 2 ulp and each later operation rounds once: 16 ulp of the magnitudes a value is
    // computed from covers the longest chains here.
    let (kernels, inputs) = random_elementwise_kernels(8, true);
    let compiled = compile(&kernels).expect("compiles");
    for (index, (kernel, inputs)) in kernels.iter().zip(&inputs).enumerate() {
        let (native, expected) = run_both(&compiled, index, kernel, inputs);
        assert_outputs_match(kernel, inputs, &native, &expected, 16.0 * f32::EPSILON as f64 / 2.0);
    }
}

#[test]
fn broadcasts_and_strides_of_a_matrix_match_bit_for_bit() {
    // Operands: contiguous, a row broadcast down the columns (a bias), a column broadcast along the rows, a scalar,
    // and a transposed matrix; the body combines all five.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut kernels = Vec::new();
    for (rows, columns) in [(1, 1), (3, 5), (4, 4), (5, 17), (9, 2)] {
        let operands = vec![
            Access::contiguous(&[rows, columns]),
            Access { offset: 0, strides: vec![0, 1] },
            Access { offset: 0, strides: vec![1, 0] },
            Access { offset: 0, strides: vec![0, 0] },
            Access { offset: 0, strides: vec![1, rows as isize] },
        ];
        for kind in every_kind().into_iter().filter(|&kind| !is_approximation(kind)) {
            let mut exprs = random_body(&mut rng, 5, 4, kind, false);
            let last = exprs.len() - 1;
            let mut total = last;
            for operand in 0..5 {
                exprs.push(Expr::Binary(Binary::Add, total, operand));
                total = exprs.len() - 1;
            }
            let stores = vec![Store { expr: total, access: Access::contiguous(&[rows, columns]) }];
            let name = format!("k{}", kernels.len());
            kernels.push(Kernel {
                name,
                dims: vec![rows, columns],
                operands: operands.clone(),
                exprs,
                stores,
                reduce: None,
            });
        }
    }
    let compiled = compile(&kernels).expect("compiles");
    for (index, kernel) in kernels.iter().enumerate() {
        let inputs = random_inputs(&mut rng, kernel, true);
        let (native, expected) = run_both(&compiled, index, kernel, &inputs);
        assert_outputs_match(kernel, &inputs, &native, &expected, 0.0);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Reductions.

/// Reduction kernels: every shape and axis, sum and max, each over a random exact body (or `exp` of one) of two
/// operands.
fn reduction_kernels(rng: &mut ChaCha8Rng, exponential: bool) -> Vec<Kernel> {
    let cases: [(&[usize], usize); 12] = [
        (&[1000], 0),
        (&[3], 0),
        (&[5, 17], 1),
        (&[4, 3], 1),
        (&[17, 5], 0),
        (&[9, 100], 0),
        (&[6, 1], 0),
        (&[3, 4, 37], 2),
        (&[3, 37, 4], 1),
        (&[2, 21, 19], 1),
        (&[37, 3, 4], 0),
        (&[1, 5, 1], 1),
    ];
    let mut kernels = Vec::new();
    for (dims, axis) in cases {
        for reduction in [Reduction::Sum, Reduction::Max] {
            let operands = vec![random_access(rng, dims), random_access(rng, dims)];
            let kinds = [Kind::Binary(Binary::Mul), Kind::Binary(Binary::Max), Kind::Select, Kind::Binary(Binary::Sub)];
            let (extra, last) = (rng.gen_range(0..3), kinds[rng.gen_range(0..kinds.len())]);
            let mut exprs = random_body(rng, 2, extra, last, false);
            if exponential {
                exprs.push(Expr::Unary(Unary::Exp, exprs.len() - 1));
            }
            let mut kept = dims.to_vec();
            kept[axis] = 1;
            let stores = vec![Store { expr: exprs.len() - 1, access: Access::contiguous(&kept) }];
            let name = format!("k{}", kernels.len());
            let reduce = Some(Reduce { reduction, axis });
            kernels.push(Kernel { name, dims: dims.to_vec(), operands, exprs, stores, reduce });
        }
    }
    kernels
}

#[test]
fn reductions_match_the_reference() {
    // Max, and sums down an outer axis, combine in the reference's order: the same bits, NaN propagating. A sum
    // along the innermost axis adds four lanes apart: within n rounding errors of the sum of magnitudes.
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let kernels = reduction_kernels(&mut rng, false);
    let compiled = compile(&kernels).expect("compiles");
    for (index, kernel) in kernels.iter().enumerate() {
        let inputs = random_inputs(&mut rng, kernel, true);
        let (native, expected) = run_both(&compiled, index, kernel, &inputs);
        let reduce = kernel.reduce.expect("a reduction");
        let in_lanes = reduce.reduction == Reduction::Sum && reduce.axis == kernel.dims.len() - 1;
        let relative = if in_lanes { kernel.dims[reduce.axis] as f64 * f32::EPSILON as f64 } else { 0.0 };
        assert_outputs_match(kernel, &inputs, &native, &expected, relative);
    }
}

#[test]
fn reductions_of_an_approximation_match_within_tolerance() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let kernels = reduction_kernels(&mut rng, true);
    let compiled = compile(&kernels).expect("compiles");
    for (index, kernel) in kernels.iter().enumerate() {
        let inputs = random_inputs(&mut rng, kernel, false);
        let (native, expected) = run_both(&compiled, index, kernel, &inputs);
        let reduce = kernel.reduce.expect("a reduction");
        let relative = (kernel.dims[reduce.axis] as f64 + 4.0) * f32::EPSILON as f64;
        assert_outputs_match(kernel, &inputs, &native, &expected, relative);
    }
}

#[test]
fn random_kernels_and_reductions_give_the_same_bits_on_every_path() {
    let (mut kernels, mut inputs) = random_elementwise_kernels(9, true);
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    for kernel in reduction_kernels(&mut rng, true) {
        inputs.push(random_inputs(&mut rng, &kernel, false));
        kernels.push(kernel);
    }
    let outputs = |path: CpuPath| -> Vec<Vec<Vec<u32>>> {
        let compiled = super::compile(&kernels, path).expect("compiles");
        kernels
            .iter()
            .enumerate()
            .map(|(index, kernel)| {
                let outputs =
                    run_ranges(&compiled, index, kernel, &inputs[index], std::slice::from_ref(&(0..kernel.dims[0])));
                outputs.iter().map(|output| output.iter().map(|value| value.to_bits()).collect()).collect()
            })
            .collect()
    };
    let portable = outputs(CpuPath::Portable);
    for path in available() {
        let other = outputs(path);
        for (index, kernel) in kernels.iter().enumerate() {
            assert_eq!(portable[index], other[index], "{path}: {kernel}");
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Calls.

/// Runs kernel `index` over `ranges` one after the other into fresh outputs.
fn run_ranges(
    compiled: &Compiled,
    index: usize,
    kernel: &Kernel,
    inputs: &[Vec<f32>],
    ranges: &[std::ops::Range<usize>],
) -> Vec<Vec<f32>> {
    let operands: Vec<&[f32]> = inputs.iter().map(Vec::as_slice).collect();
    let mut outputs: Vec<Vec<f32>> =
        kernel.stores.iter().map(|store| vec![f32::NAN; length_of(&store.access, &kernel.dims)]).collect();
    let mut slices: Vec<&mut [f32]> = outputs.iter_mut().map(Vec::as_mut_slice).collect();
    for range in ranges {
        compiled.run(index, &operands, &mut slices, range.clone());
    }
    outputs
}

#[test]
fn a_range_split_in_two_gives_the_same_bits_as_one_call() {
    // Splits that do not fall on a multiple of four lanes move positions between the vector loop and the tail:
    // both compute a lane with the same instructions.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut kernels = Vec::new();
    for dims in [&[37][..], &[9, 7], &[5, 3, 6], &[13, 1]] {
        for kind in [
            Kind::Unary(Unary::Exp),
            Kind::Unary(Unary::Tanh),
            Kind::Sigmoid,
            Kind::Unary(Unary::Erf),
            Kind::Unary(Unary::Log),
            Kind::Select,
        ] {
            let operands = vec![random_access(&mut rng, dims), Access::contiguous(dims)];
            let exprs = random_body(&mut rng, 2, 3, kind, true);
            let stores = vec![Store { expr: exprs.len() - 1, access: Access::contiguous(dims) }];
            let name = format!("k{}", kernels.len());
            kernels.push(Kernel { name, dims: dims.to_vec(), operands, exprs, stores, reduce: None });
        }
    }
    kernels.extend(reduction_kernels(&mut rng, true).into_iter().filter(Kernel::splittable));
    let compiled = compile(&kernels).expect("compiles");
    for (index, kernel) in kernels.iter().enumerate() {
        let inputs = random_inputs(&mut rng, kernel, false);
        let extent = kernel.dims[0];
        let whole = run_ranges(&compiled, index, kernel, &inputs, std::slice::from_ref(&(0..extent)));
        for split in [1, extent / 2, extent.saturating_sub(1)] {
            let halves = run_ranges(&compiled, index, kernel, &inputs, &[0..split, split..extent]);
            let bits = |outputs: &[Vec<f32>]| -> Vec<Vec<u32>> {
                outputs.iter().map(|output| output.iter().map(|value| value.to_bits()).collect()).collect()
            };
            assert_eq!(bits(&whole), bits(&halves), "{kernel}split at {split}");
        }
    }
}

#[test]
fn raw_calls_split_among_threads_give_the_same_bits_as_one_call() {
    use rayon::prelude::*;
    let dims = [64, 33];
    let kernel = Kernel {
        name: "threads".to_string(),
        dims: dims.to_vec(),
        operands: vec![Access::contiguous(&dims), Access { offset: 0, strides: vec![0, 1] }],
        exprs: vec![Expr::Load(0), Expr::Load(1), Expr::Binary(Binary::Mul, 0, 1), Expr::Unary(Unary::Tanh, 2)],
        stores: vec![Store { expr: 3, access: Access::contiguous(&dims) }],
        reduce: None,
    };
    let compiled = compile(std::slice::from_ref(&kernel)).expect("compiles");
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let inputs = random_inputs(&mut rng, &kernel, false);
    let whole = run_ranges(&compiled, 0, &kernel, &inputs, std::slice::from_ref(&(0..dims[0])));
    let mut output = vec![0.0f32; dims[0] * dims[1]];
    // The pointer table is shared by address: each thread writes only its own rows of the output.
    let table: Vec<usize> =
        vec![inputs[0].as_ptr() as usize, inputs[1].as_ptr() as usize, output.as_mut_ptr() as usize];
    (0..dims[0]).into_par_iter().step_by(5).for_each(|start| {
        let end = (start + 5).min(dims[0]);
        let pointers = table.as_ptr() as *const *mut f32;
        // SAFETY: the buffers have the kernel's required lengths and outlive the calls; the ranges are disjoint
        // rows of the output, which nothing else touches during the calls.
        unsafe { compiled.call_raw(0, pointers, start, end) };
    });
    let bits = |values: &[f32]| -> Vec<u32> { values.iter().map(|value| value.to_bits()).collect() };
    assert_eq!(bits(&output), bits(&whole[0]));
}

#[test]
fn a_short_buffer_or_a_range_past_the_axis_is_refused_before_the_kernel_runs() {
    let dims = [3, 4];
    let kernel = Kernel {
        name: "checked".to_string(),
        dims: dims.to_vec(),
        operands: vec![Access { offset: 2, strides: vec![5, 1] }],
        exprs: vec![Expr::Load(0)],
        stores: vec![Store { expr: 0, access: Access::contiguous(&dims) }],
        reduce: None,
    };
    let compiled = compile(std::slice::from_ref(&kernel)).expect("compiles");
    assert_eq!(compiled.required_lengths(0), &[16, 12]);
    let panic_message = |input: &[f32], output_length: usize, range: std::ops::Range<usize>| -> String {
        let mut output = vec![0.0; output_length];
        let outcome = catch_unwind(AssertUnwindSafe(|| compiled.run(0, &[input], &mut [&mut output], range)));
        let payload = outcome.expect_err("the call is refused");
        payload.downcast_ref::<String>().cloned().unwrap_or_default()
    };
    let message = panic_message(&[0.0; 15], 12, 0..3);
    assert!(message.contains("buffer 0 has 15 elements but the kernel reaches element 15"), "{message}");
    let message = panic_message(&[0.0; 16], 11, 0..3);
    assert!(message.contains("buffer 1 has 11 elements but the kernel reaches element 11"), "{message}");
    let message = panic_message(&[0.0; 16], 12, 1..4);
    assert!(message.contains("range 1..4 is not within its axis 0 of 3"), "{message}");
    // The same call with long enough buffers runs.
    let input: Vec<f32> = (0..16).map(|value| value as f32).collect();
    let mut output = vec![0.0; 12];
    compiled.run(0, &[&input], &mut [&mut output], 0..3);
    assert_eq!(output, [2.0, 3.0, 4.0, 5.0, 7.0, 8.0, 9.0, 10.0, 12.0, 13.0, 14.0, 15.0]);
}

#[test]
fn malformed_kernels_are_errors() {
    let mut kernel = unary_kernel(4, Expr::Unary(Unary::Exp, 0));
    kernel.stores[0].expr = 5;
    let error = compile(&[unary_kernel(4, Expr::Sigmoid(0)), kernel.clone()]).expect_err("a store of nothing");
    assert!(matches!(error, CodegenError::InvalidKernel { .. }));
    assert_eq!(error.to_string(), "kernel unary is malformed: a store writes %5, which does not exist");
    assert!(clif(&kernel).is_err());
}

#[test]
fn clif_lists_vector_operations_and_fused_multiply_adds() {
    // Every path's code has the fused multiply-adds of the approximation (an instruction, or a call per lane).
    for path in available() {
        let text = super::clif(&unary_kernel(64, Expr::Unary(Unary::Exp, 0)), path).expect("compiles");
        assert!(text.starts_with("function %unary("), "{text}");
        assert!(text.contains("f32x4"), "{text}");
        assert!(text.contains(" fma "), "{path}: {text}");
    }
}

#[test]
fn every_path_gives_the_same_bits_for_every_approximation() {
    let mut inputs = sweep(-100.0, 100.0, 200_000);
    inputs.extend(magnitude_sweep(1e-40, 3e38, 100_000));
    inputs.extend([f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, f32::from_bits(1)]);
    let exprs = [
        Expr::Unary(Unary::Exp, 0),
        Expr::Unary(Unary::Log, 0),
        Expr::Unary(Unary::Tanh, 0),
        Expr::Sigmoid(0),
        Expr::Unary(Unary::Erf, 0),
    ];
    let kernels: Vec<Kernel> = exprs.iter().map(|expr| unary_kernel(inputs.len(), expr.clone())).collect();
    let portable = super::compile(&kernels, CpuPath::Portable).expect("compiles");
    for path in available() {
        let compiled = super::compile(&kernels, path).expect("compiles");
        for (index, expr) in exprs.iter().enumerate() {
            let (expected, outputs) = (run_unary(&portable, index, &inputs), run_unary(&compiled, index, &inputs));
            for ((x, y), want) in inputs.iter().zip(&outputs).zip(&expected) {
                assert!(y.to_bits() == want.to_bits(), "{path}: {expr:?} of {x:e} is {y:e}, portable {want:e}");
            }
        }
    }
}
