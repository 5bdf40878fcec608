//! Calibration: the logistic recalibration fits of Van Calster et al. (intercept and slope) and the binned curve.
//!
//! Both fits maximise the Bernoulli log-likelihood by Newton's method with step halving, in `f64`. The
//! likelihood is concave, so a fit that has not converged after [`MAX_ITERATIONS`] steps is one whose maximum
//! lies at infinity (predictions that separate the classes) and is reported as undefined.

use super::{clip, CalibrationBin};

/// Newton steps before a fit is given up as diverging.
const MAX_ITERATIONS: usize = 100;

/// Halvings of one Newton step before it is accepted anyway.
const MAX_HALVINGS: usize = 40;

/// A fit has converged when its step is below this, relative to the parameters' size.
const TOLERANCE: f64 = 1e-12;

/// The logit of a probability, clipped as for the log loss so that 0 and 1 stay finite.
pub(super) fn logit(probability: f64) -> f64 {
    let probability = clip(probability);
    libm::log(probability / (1.0 - probability))
}

/// Calibration-in-the-large: `a` in `logit P(y = 1) = a + offset`, with the predictions' logits the offset.
pub(super) fn intercept(is_positive: &[bool], logits: &[f64]) -> Option<f64> {
    if !both_classes(is_positive) {
        return None;
    }
    let mut intercept = 0.0;
    let mut likelihood = log_likelihood(is_positive, logits, intercept, 1.0);
    for _ in 0..MAX_ITERATIONS {
        let (mut gradient, mut information) = (0.0, 0.0);
        for (&positive, &logit) in is_positive.iter().zip(logits) {
            let probability = sigmoid(intercept + logit);
            gradient += target(positive) - probability;
            information += probability * (1.0 - probability);
        }
        if information.is_nan() || information <= 0.0 {
            return None;
        }
        let step = gradient / information;
        let (next, next_likelihood) = halve_until_better(likelihood, |scale| {
            let candidate = intercept + scale * step;
            (candidate, log_likelihood(is_positive, logits, candidate, 1.0))
        });
        let moved = (next - intercept).abs();
        intercept = next;
        likelihood = next_likelihood;
        if moved <= TOLERANCE * (1.0 + intercept.abs()) {
            return intercept.is_finite().then_some(intercept);
        }
    }
    None
}

/// Calibration slope: `b` in `logit P(y = 1) = a + b · logit(p)`.
pub(super) fn slope(is_positive: &[bool], logits: &[f64]) -> Option<f64> {
    let distinct_logits = logits.first().is_some_and(|&first| logits.iter().any(|&logit| logit != first));
    if !both_classes(is_positive) || !distinct_logits {
        return None;
    }
    // Start from perfect calibration, where a good model's fit ends.
    let (mut intercept, mut slope) = (0.0, 1.0);
    let mut likelihood = log_likelihood(is_positive, logits, intercept, slope);
    for _ in 0..MAX_ITERATIONS {
        // The gradient and the information matrix (the negated Hessian) of the log-likelihood.
        let (mut gradient_a, mut gradient_b) = (0.0, 0.0);
        let (mut information_aa, mut information_ab, mut information_bb) = (0.0, 0.0, 0.0);
        for (&positive, &logit) in is_positive.iter().zip(logits) {
            let probability = sigmoid(intercept + slope * logit);
            let residual = target(positive) - probability;
            let weight = probability * (1.0 - probability);
            gradient_a += residual;
            gradient_b += residual * logit;
            information_aa += weight;
            information_ab += weight * logit;
            information_bb += weight * logit * logit;
        }
        let determinant = information_aa * information_bb - information_ab * information_ab;
        // A determinant that is rounding noise means the information carries no curvature in some direction.
        if determinant.is_nan() || determinant <= 1e-12 * information_aa * information_bb {
            return None;
        }
        let step_a = (information_bb * gradient_a - information_ab * gradient_b) / determinant;
        let step_b = (information_aa * gradient_b - information_ab * gradient_a) / determinant;
        let ((next_a, next_b), next_likelihood) = halve_until_better(likelihood, |scale| {
            let candidate = (intercept + scale * step_a, slope + scale * step_b);
            (candidate, log_likelihood(is_positive, logits, candidate.0, candidate.1))
        });
        let moved = (next_a - intercept).abs().max((next_b - slope).abs());
        (intercept, slope) = (next_a, next_b);
        likelihood = next_likelihood;
        if moved <= TOLERANCE * (1.0 + intercept.abs().max(slope.abs())) {
            return (intercept.is_finite() && slope.is_finite()).then_some(slope);
        }
    }
    None
}

/// The calibration curve: 10 uniform bins of the predicted probability, empty bins left out.
pub(super) fn curve(scores: &[f64], is_positive: &[bool]) -> Vec<CalibrationBin> {
    const BINS: usize = 10;
    let mut sums = [0.0; BINS];
    let mut positives = [0u64; BINS];
    let mut counts = [0u64; BINS];
    for (&score, &positive) in scores.iter().zip(is_positive) {
        // The number of inner edges (0.1, 0.2, … 0.9, computed as numpy's `linspace` does) strictly below the
        // score, as `numpy.searchsorted(edges, score, side='left')`: bins are closed on the right.
        let bin = (1..BINS).filter(|&edge| (edge as f64) * 0.1 < score).count();
        sums[bin] += score;
        positives[bin] += u64::from(positive);
        counts[bin] += 1;
    }
    (0..BINS)
        .filter(|&bin| counts[bin] > 0)
        .map(|bin| CalibrationBin {
            mean_predicted: sums[bin] / counts[bin] as f64,
            observed: positives[bin] as f64 / counts[bin] as f64,
            count: counts[bin],
        })
        .collect()
}

/// Whether both classes occur; without both, the fits' maxima lie at infinity.
fn both_classes(is_positive: &[bool]) -> bool {
    is_positive.iter().any(|&positive| positive) && is_positive.iter().any(|&positive| !positive)
}

/// Takes a Newton step scaled by 1, 1/2, 1/4, … until the log-likelihood does not decrease, or the last halving.
fn halve_until_better<T>(likelihood: f64, mut candidate: impl FnMut(f64) -> (T, f64)) -> (T, f64) {
    let mut scale = 1.0;
    let mut halvings = 0;
    loop {
        let (parameters, candidate_likelihood) = candidate(scale);
        if candidate_likelihood >= likelihood || halvings == MAX_HALVINGS {
            return (parameters, candidate_likelihood);
        }
        scale *= 0.5;
        halvings += 1;
    }
}

/// The Bernoulli log-likelihood of `logit P(y = 1) = intercept + slope · logit`.
fn log_likelihood(is_positive: &[bool], logits: &[f64], intercept: f64, slope: f64) -> f64 {
    is_positive
        .iter()
        .zip(logits)
        .map(|(&positive, &logit)| {
            let linear = intercept + slope * logit;
            target(positive) * linear - softplus(linear)
        })
        .sum()
}

/// 1 for a positive row, 0 for a negative one.
fn target(positive: bool) -> f64 {
    if positive {
        1.0
    } else {
        0.0
    }
}

/// The logistic function, without overflow for large negative arguments.
fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + libm::exp(-x))
    } else {
        let exp = libm::exp(x);
        exp / (1.0 + exp)
    }
}

/// `ln(1 + e^x)` without overflow.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + libm::log1p(libm::exp(-x.abs()))
}
