//! What changes between epochs: the learning rate (`train.schedule`) and whether to stop (`train.early_stopping`),
//! with Keras' semantics so that a spec written from a Keras script behaves as the script did.
//!
//! - `step {every, factor}`: the rate is multiplied by `factor` after every `every` epochs.
//! - `cosine {min_lr}`: the rate falls from the optimizer's rate to `min_lr` along half a cosine over all the
//!   optimizer steps of the run (Keras' `CosineDecay` with `alpha = min_lr / lr`), updated every step.
//! - `plateau {patience, factor, monitor}`: Keras' `ReduceLROnPlateau` with its defaults (`min_delta = 1e-4`, no
//!   cooldown): after `patience` epochs without an improvement of the monitored quantity the rate is multiplied by
//!   `factor`, and the wait starts again.
//! - early stopping: Keras' `EarlyStopping`: training stops once `patience` epochs in a row have not improved on
//!   the best value by more than `min_delta`; with `restore_best` the best epoch's weights are the result.
//!
//! Whether a quantity improves when it rises or falls follows from its name: losses and errors (`loss`,
//! `log_loss`, `brier`, `mse`, `rmse`, `mae`) fall, every other metric rises. (Keras' `mode="auto"` differs for
//! `ReduceLROnPlateau`, which maximises only names containing "acc" and so would minimise `val_auc`.)

use crate::spec::ast::{EarlyStopping, Schedule};

/// Keras' `ReduceLROnPlateau` default `min_delta`.
const PLATEAU_MIN_DELTA: f64 = 1e-4;

/// Whether a monitored quantity is better when smaller (losses, errors) or larger (accuracy, AUROC...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Smaller is better.
    Lower,
    /// Larger is better.
    Higher,
}

impl Direction {
    /// The direction of a monitor name such as `val_loss` or `val_auc`.
    pub fn of(monitor: &str) -> Direction {
        let metric = monitor.strip_prefix("val_").unwrap_or(monitor);
        match metric {
            "loss" | "log_loss" | "brier" | "mse" | "rmse" | "mae" => Direction::Lower,
            _ => Direction::Higher,
        }
    }

    /// Whether `value` improves on `best` by more than `min_delta` (any finite value improves on nothing yet).
    fn improves(self, value: f64, best: Option<f64>, min_delta: f64) -> bool {
        if !value.is_finite() {
            return false;
        }
        match (self, best) {
            (_, None) => true,
            (Direction::Lower, Some(best)) => value < best - min_delta,
            (Direction::Higher, Some(best)) => value > best + min_delta,
        }
    }
}

/// The learning rate of every step of a run.
#[derive(Clone, Debug)]
pub struct LearningRate {
    initial: f64,
    schedule: Option<Schedule>,
    total_steps: usize,
    /// The plateau schedule's current rate, best value and epochs waited.
    current: f64,
    best: Option<f64>,
    wait: usize,
}

impl LearningRate {
    /// The schedule of a run of `epochs` epochs of `steps_per_epoch` optimizer steps.
    pub fn new(initial: f64, schedule: Option<&Schedule>, epochs: usize, steps_per_epoch: usize) -> LearningRate {
        LearningRate {
            initial,
            schedule: schedule.cloned(),
            total_steps: epochs * steps_per_epoch,
            current: initial,
            best: None,
            wait: 0,
        }
    }

    /// The monitored quantity of a plateau schedule.
    pub fn monitor(&self) -> Option<&str> {
        match &self.schedule {
            Some(Schedule::Plateau { monitor, .. }) => Some(&monitor.value),
            _ => None,
        }
    }

    /// The rate of the step numbered `step` (from 0 over the whole run) in epoch `epoch` (from 1).
    pub fn at(&self, epoch: usize, step: usize) -> f64 {
        match &self.schedule {
            None => self.initial,
            Some(Schedule::Step { every, factor }) => {
                let drops = (epoch - 1) / every.value.max(1);
                self.initial * libm::pow(factor.value, drops as f64)
            }
            Some(Schedule::Cosine { min_lr }) => {
                let progress = step.min(self.total_steps) as f64 / self.total_steps.max(1) as f64;
                // libm's cosine, so that the rates are the same bits on every platform.
                let cosine = 0.5 * (1.0 + libm::cos(std::f64::consts::PI * progress));
                min_lr.value + (self.initial - min_lr.value) * cosine
            }
            Some(Schedule::Plateau { .. }) => self.current,
        }
    }

    /// Tells the plateau schedule the monitored value at the end of an epoch; returns the new rate when it drops.
    pub fn end_epoch(&mut self, monitored: Option<f64>) -> Option<f64> {
        let Some(Schedule::Plateau { patience, factor, monitor }) = &self.schedule else { return None };
        let value = monitored?;
        if Direction::of(&monitor.value).improves(value, self.best, PLATEAU_MIN_DELTA) {
            self.best = Some(value);
            self.wait = 0;
            return None;
        }
        self.wait += 1;
        if self.wait < patience.value {
            return None;
        }
        self.wait = 0;
        self.current *= factor.value;
        Some(self.current)
    }
}

/// What early stopping concludes after an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The epoch is the best so far: keep its weights.
    Improved,
    /// Not better, keep going.
    Continue,
    /// `patience` epochs without improvement: stop now.
    Stop,
}

/// Early stopping's state over a run.
#[derive(Clone, Debug)]
pub struct Stopper {
    monitor: String,
    direction: Direction,
    patience: usize,
    min_delta: f64,
    /// Whether the best epoch's weights are the result.
    pub restore_best: bool,
    best: Option<f64>,
    best_epoch: Option<usize>,
    wait: usize,
}

impl Stopper {
    /// The state of a spec's `early_stopping`.
    pub fn new(settings: &EarlyStopping) -> Stopper {
        Stopper {
            monitor: settings.monitor.value.clone(),
            direction: Direction::of(&settings.monitor.value),
            patience: settings.patience.value,
            min_delta: settings.min_delta.value,
            restore_best: settings.restore_best.value,
            best: None,
            best_epoch: None,
            wait: 0,
        }
    }

    /// The monitored quantity.
    pub fn monitor(&self) -> &str {
        &self.monitor
    }

    /// The best epoch so far and its value.
    pub fn best(&self) -> Option<(usize, f64)> {
        self.best_epoch.zip(self.best)
    }

    /// Records the monitored value of `epoch`. A value that is not a number never improves.
    pub fn end_epoch(&mut self, epoch: usize, value: f64) -> Verdict {
        if self.direction.improves(value, self.best, self.min_delta) {
            self.best = Some(value);
            self.best_epoch = Some(epoch);
            self.wait = 0;
            return Verdict::Improved;
        }
        self.wait += 1;
        if self.wait >= self.patience {
            Verdict::Stop
        } else {
            Verdict::Continue
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::Span;
    use crate::spec::ast::Spanned;

    fn spanned<T>(value: T) -> Spanned<T> {
        Spanned::new(value, Span::default())
    }

    #[test]
    fn step_schedule_drops_every_few_epochs() {
        let schedule = Schedule::Step { every: spanned(2), factor: spanned(0.5) };
        let rate = LearningRate::new(0.1, Some(&schedule), 6, 10);
        let rates: Vec<f64> = (1..=6).map(|epoch| rate.at(epoch, (epoch - 1) * 10)).collect();
        assert_eq!(rates, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]);
    }

    #[test]
    fn cosine_schedule_falls_from_the_rate_to_the_minimum() {
        let schedule = Schedule::Cosine { min_lr: spanned(0.001) };
        let rate = LearningRate::new(0.1, Some(&schedule), 4, 25);
        assert_eq!(rate.at(1, 0), 0.1);
        assert!((rate.at(2, 50) - (0.001 + 0.099 * 0.5)).abs() < 1e-15);
        assert!((rate.at(4, 100) - 0.001).abs() < 1e-15);
        // Strictly falling in between.
        let rates: Vec<f64> = (0..=100).map(|step| rate.at(1 + step / 25, step)).collect();
        assert!(rates.windows(2).all(|pair| pair[1] < pair[0]));
    }

    #[test]
    fn plateau_schedule_waits_for_patience_then_multiplies() {
        let schedule =
            Schedule::Plateau { patience: spanned(2), factor: spanned(0.1), monitor: spanned("val_loss".into()) };
        let mut rate = LearningRate::new(1.0, Some(&schedule), 10, 1);
        assert_eq!(rate.end_epoch(Some(1.0)), None);
        assert_eq!(rate.end_epoch(Some(0.5)), None);
        // Better by less than Keras' 1e-4 is no improvement.
        assert_eq!(rate.end_epoch(Some(0.49995)), None);
        assert_eq!(rate.end_epoch(Some(0.6)), Some(0.1));
        assert_eq!(rate.at(5, 4), 0.1);
        // The wait starts again after a drop.
        assert_eq!(rate.end_epoch(Some(0.6)), None);
        assert!((rate.end_epoch(Some(0.6)).unwrap() - 0.01).abs() < 1e-15);
        assert_eq!(rate.end_epoch(None), None);
    }

    #[test]
    fn early_stopping_follows_keras() {
        let settings = EarlyStopping {
            monitor: spanned("val_auc".into()),
            patience: spanned(2),
            restore_best: spanned(true),
            min_delta: spanned(0.01),
        };
        let mut stopper = Stopper::new(&settings);
        assert_eq!(stopper.end_epoch(1, 0.80), Verdict::Improved);
        assert_eq!(stopper.end_epoch(2, 0.85), Verdict::Improved);
        // 0.855 is not better by more than min_delta.
        assert_eq!(stopper.end_epoch(3, 0.855), Verdict::Continue);
        assert_eq!(stopper.end_epoch(4, f64::NAN), Verdict::Stop);
        assert_eq!(stopper.best(), Some((2, 0.85)));
        assert_eq!(Direction::of("val_loss"), Direction::Lower);
        assert_eq!(Direction::of("loss"), Direction::Lower);
        assert_eq!(Direction::of("val_rmse"), Direction::Lower);
        assert_eq!(Direction::of("val_specificity"), Direction::Higher);
    }
}
