//! How much memory training a checked model needs, and whether this machine has it (issue 14: a spec that checks
//! must run, or say plainly why not).
//!
//! The estimate adds four figures, in bytes:
//!
//! - **parameters**: every parameter of the model summary (batch norm's running statistics included), as f32;
//! - **optimizer state**: adam's and adamw's two moments, or sgd's velocity when `momentum` is above 0, for each
//!   trainable parameter;
//! - **train step**: the peak bytes of the train step's kernel plan at the spec's batch size
//!   ([`crate::backend::plan::Plan::peak_bytes`]) less the parameters and state the step reads, which are already
//!   counted: the batch, the activations, the gradients and the updated copies of the variables;
//! - **data matrix**: the rows of the data times the input values of one row, as f32.
//!
//! A model whose plain sizes already pass the limit (a lower bound: parameters, their state and gradients, the data
//! and one batch of the largest layer's output) is refused before anything is lowered, so that the check never builds
//! a graph of a model that cannot run. Otherwise the train step is planned (through [`crate::compile`]) and the
//! full estimate is compared with the limit: above it, `check` and `train` refuse with exit 1; above half of it,
//! they warn.
//!
//! The limit is `GALEN_MEMORY_LIMIT` when set (bytes, or a number with `K`, `M`, `G`, `T`: powers of 1024, or `KB`,
//! `MB`, `GB`, `TB`: powers of 1000), else the smaller of the kernel's `MemAvailable` and the cgroup's `memory.max`.
//! Where neither can be read, the limit is 64 PiB, more than any machine has, so that every size the compiler
//! computes for a model that passes stays far from overflowing.

use std::fmt;

use crate::check::Checked;
use crate::compile::{self, GraphKind, Settings};
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::ir::Role;
use crate::lowering::Model;
use crate::spec::ast::{Layer, Optimizer, Spec};

// The allocation helpers and the limit's variable live in `crate::allocation`, below the checker and the data
// loader that use them; they are re-exported here, where the memory limit is documented.
pub use crate::allocation::{format_bytes, reserve, try_zeroed, AllocationError, LIMIT_VARIABLE};

/// The largest limit accepted: 2^56 bytes (64 PiB), more than any machine has, so that no size below it overflows.
const LARGEST_LIMIT: u64 = 1 << 56;

/// Where the limit comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LimitSource {
    /// `GALEN_MEMORY_LIMIT`.
    Variable,
    /// The kernel's `MemAvailable` (`/proc/meminfo`).
    Available,
    /// The cgroup's `memory.max` (or cgroup v1's `memory.limit_in_bytes`), below `MemAvailable`.
    Cgroup,
    /// Given by the caller (tests).
    Fixed,
    /// No figure could be read: the largest limit galen accepts, which no model that fits any machine passes.
    AnyMachine,
}

/// The most memory a run may plan to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Bytes.
    pub bytes: u64,
    /// Where the figure comes from.
    pub source: LimitSource,
}

impl Limit {
    /// A limit given by the caller.
    pub fn fixed(bytes: u64) -> Limit {
        Limit { bytes, source: LimitSource::Fixed }
    }

    /// `GALEN_MEMORY_LIMIT` when set, else this machine's limit; `Ok(None)` when no figure can be read. A value of
    /// `GALEN_MEMORY_LIMIT` that is no size is an error, in words.
    pub fn from_environment() -> Result<Option<Limit>, String> {
        match std::env::var(LIMIT_VARIABLE) {
            Ok(value) => parse_size(&value)
                .map(|bytes| Some(Limit { bytes, source: LimitSource::Variable }))
                .map_err(|why| format!("{LIMIT_VARIABLE}={value:?} is not a memory size: {why}")),
            Err(_) => Ok(machine_limit()),
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match self.source {
            LimitSource::Variable => "set by GALEN_MEMORY_LIMIT",
            LimitSource::Available => "available on this machine",
            LimitSource::Cgroup => "this cgroup's memory.max",
            LimitSource::Fixed => "the limit given",
            LimitSource::AnyMachine => "no figure of this machine could be read; the most any machine has",
        };
        write!(f, "{} ({source})", format_bytes(self.bytes))
    }
}

/// Parses `GALEN_MEMORY_LIMIT`: bytes, or a number (decimals allowed) with a unit.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 =
        number.parse().map_err(|_| "write bytes or a size with a unit, such as 512M, 16G or 1.5T".to_string())?;
    let scale: f64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1.0,
        "K" | "KIB" => 1024.0,
        "M" | "MIB" => 1024.0 * 1024.0,
        "G" | "GIB" => 1024.0 * 1024.0 * 1024.0,
        "T" | "TIB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "KB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        other => return Err(format!("the unit `{other}` is not one of K, M, G, T (powers of 1024) or KB, MB, GB, TB")),
    };
    let bytes = number * scale;
    if !(1.0..=LARGEST_LIMIT as f64).contains(&bytes) {
        return Err(format!("it must be between 1 byte and {}", format_bytes(LARGEST_LIMIT)));
    }
    Ok(bytes as u64)
}

/// min(MemAvailable, the cgroup's memory limit), where they can be read (Linux).
fn machine_limit() -> Option<Limit> {
    let available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
        let line = text.lines().find(|line| line.starts_with("MemAvailable:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        kib.checked_mul(1024)
    });
    let cgroup = cgroup_limit();
    match (available, cgroup) {
        (Some(available), Some(cgroup)) if cgroup < available => {
            Some(Limit { bytes: cgroup, source: LimitSource::Cgroup })
        }
        (Some(available), _) => Some(Limit { bytes: available, source: LimitSource::Available }),
        (None, Some(cgroup)) => Some(Limit { bytes: cgroup, source: LimitSource::Cgroup }),
        (None, None) => None,
    }
    .map(|limit| Limit { bytes: limit.bytes.min(LARGEST_LIMIT), ..limit })
}

/// The memory limit of this process's cgroup: v2's `memory.max` ("max" is none), else v1's `limit_in_bytes`.
fn cgroup_limit() -> Option<u64> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in membership.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else { continue };
        let file = if controllers.is_empty() {
            format!("/sys/fs/cgroup{path}/memory.max")
        } else if controllers.split(',').any(|controller| controller == "memory") {
            format!("/sys/fs/cgroup/memory{path}/memory.limit_in_bytes")
        } else {
            continue;
        };
        if let Ok(text) = std::fs::read_to_string(file) {
            // v1 writes a huge number for "no limit"; it is above MemAvailable and loses the comparison.
            return text.trim().parse().ok();
        }
    }
    None
}

/// The memory training a model needs, by part.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// The parameters, as f32.
    pub parameters: u64,
    /// The optimizer's state.
    pub optimizer: u64,
    /// What the optimizer keeps per trainable parameter, in words (`two moments (adam)`).
    pub optimizer_state: &'static str,
    /// The train step's own bytes at its peak (the batch, activations, gradients, updated variables), from its
    /// kernel plan; or, when the model was refused before planning, a lower bound.
    pub step: u64,
    /// Whether `step` comes from the plan.
    pub planned: bool,
    /// The data matrix.
    pub data: u64,
    /// Rows in the data matrix.
    pub rows: usize,
    /// Input values per row.
    pub values_per_row: usize,
    /// The training batch size.
    pub batch: usize,
    /// The layer that needs the most: its index in the model.
    pub dominant: usize,
    /// That layer's share: its parameters and their state, and one batch of its output and its gradient.
    pub dominant_bytes: u64,
    /// Whether that share is mostly parameters (the fix is fewer units) rather than activations (a smaller batch).
    pub dominant_by_parameters: bool,
    /// The limit it was compared with (64 PiB when no figure could be read).
    pub limit: Option<Limit>,
}

impl Estimate {
    /// All four parts.
    pub fn total(&self) -> u64 {
        [self.parameters, self.optimizer, self.step, self.data].into_iter().fold(0, u64::saturating_add)
    }

    /// The summary's lines, as `galen check` and `galen bench` print them.
    pub fn lines(&self) -> String {
        let mut out = String::new();
        let step = if self.planned {
            format!("train step, batch {} (peak of its kernel plan)", self.batch)
        } else {
            format!("train step, batch {} (at least; not planned)", self.batch)
        };
        let rows = [
            ("parameters".to_string(), self.parameters),
            (format!("optimizer state: {}", self.optimizer_state), self.optimizer),
            (step, self.step),
            (format!("data matrix: {} rows x {} values", self.rows, self.values_per_row), self.data),
        ];
        let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
        out.push_str("memory estimate for training:\n");
        for (name, bytes) in rows {
            out.push_str(&format!("    {name:<width$}  {:>10}\n", format_bytes(bytes)));
        }
        out.push_str(&format!("    {:<width$}  {:>10}\n", "total", format_bytes(self.total())));
        if let Some(limit) = &self.limit {
            out.push_str(&format!("  memory limit: {limit}\n"));
        }
        out
    }
}

/// Bytes per f32.
const F32: u64 = 4;

/// Estimates the memory of training `checked` as `spec` says, checks it against `limit`, and reports an error
/// (above the limit) or a warning (above half of it) at the layer that needs the most. Plans the train step only
/// when the model's plain sizes fit.
pub fn estimate(spec: &Spec, checked: &Checked, limit: Option<Limit>, diagnostics: &mut Diagnostics) -> Estimate {
    let limit = Some(limit.unwrap_or(Limit { bytes: LARGEST_LIMIT, source: LimitSource::AnyMachine }));
    let (factor, optimizer_state) = match &spec.train.optimizer.value {
        Optimizer::Sgd { momentum, .. } if momentum.value > 0.0 => (1, "velocity (sgd with momentum)"),
        Optimizer::Sgd { .. } => (0, "none (plain sgd)"),
        Optimizer::Adam { .. } => (2, "two moments (adam)"),
        Optimizer::AdamW { .. } => (2, "two moments (adamw)"),
    };
    let batch = spec.train.batch_size.value.max(1);
    let bytes = |count: usize| u64::try_from(count).unwrap_or(u64::MAX).saturating_mul(F32);
    let parameters = checked.layers.iter().map(|layer| bytes(layer.params)).fold(0, u64::saturating_add);
    let trainable = checked.layers.iter().map(|layer| bytes(layer.trainable)).fold(0, u64::saturating_add);
    let optimizer = trainable.saturating_mul(factor);
    let values_per_row = checked.input_shape.iter().try_fold(1usize, |product, &size| product.checked_mul(size));
    let values_per_row = values_per_row.unwrap_or(usize::MAX);
    let data = bytes(checked.rows).saturating_mul(u64::try_from(values_per_row).unwrap_or(u64::MAX));
    // Each layer's share: its parameters with their gradient and state, and a batch of its output and gradient.
    let shares: Vec<(u64, u64)> = checked
        .layers
        .iter()
        .map(|layer| {
            let weights = bytes(layer.params).saturating_add(bytes(layer.trainable).saturating_mul(1 + factor));
            let elements = layer.output.iter().fold(1u64, |product, &size| product.saturating_mul(size as u64));
            let activations = elements.saturating_mul(batch as u64).saturating_mul(2 * F32);
            (weights, activations)
        })
        .collect();
    let (dominant, (weights, activations)) = shares
        .iter()
        .copied()
        .enumerate()
        .max_by_key(|(_, (weights, activations))| weights.saturating_add(*activations))
        .unwrap_or((0, (0, 0)));
    // A lower bound of the train step: the gradients, one batch of the input and of the largest layer output.
    let largest_output = shares.iter().map(|(_, activations)| activations / 2).max().unwrap_or(0);
    let input_batch = bytes(values_per_row).saturating_mul(batch as u64);
    let lower_bound = trainable.saturating_add(largest_output).saturating_add(input_batch);
    let mut estimate = Estimate {
        parameters,
        optimizer,
        optimizer_state,
        step: lower_bound,
        planned: false,
        data,
        rows: checked.rows,
        values_per_row,
        batch,
        dominant,
        dominant_bytes: weights.saturating_add(activations),
        dominant_by_parameters: weights >= activations,
        limit,
    };
    let fits = estimate.limit.as_ref().is_none_or(|limit| estimate.total() <= limit.bytes);
    // Plan only what can fit: a model far past the limit is refused on its plain sizes (and its sizes may not even
    // fit the IR's arithmetic).
    if fits {
        let model = Model::new(spec, checked);
        let plan = compile::planned(&model, GraphKind::TrainStep, batch, Settings::from_environment());
        let variables: u64 = plan
            .graph
            .inputs()
            .into_iter()
            .filter(|(_, _, role)| matches!(role, Role::Param | Role::State | Role::Hyper))
            .map(|(id, _, _)| crate::backend::memory::type_bytes(&plan.graph.node(id).ty))
            .fold(0, u64::saturating_add);
        estimate.step = plan.peak_bytes().saturating_sub(variables);
        estimate.planned = true;
    }
    judge(spec, &estimate, diagnostics);
    estimate
}

/// The error above the limit, the warning above half of it.
fn judge(spec: &Spec, estimate: &Estimate, diagnostics: &mut Diagnostics) {
    let Some(limit) = &estimate.limit else { return };
    let total = estimate.total();
    let over = total > limit.bytes;
    if !over && total <= limit.bytes / 2 {
        return;
    }
    let layer = spec.model.value.get(estimate.dominant);
    let span = layer.map_or(spec.model.span, |layer| layer.span);
    let name = layer.map_or("model", |layer| layer.value.name());
    let share = 100.0 * estimate.dominant_bytes as f64 / total.max(1) as f64;
    let parts = format!(
        "parameters {}, optimizer state {}, train step at batch {} {}{}, data matrix {}",
        format_bytes(estimate.parameters),
        format_bytes(estimate.optimizer),
        estimate.batch,
        if estimate.planned { "" } else { "at least " },
        format_bytes(estimate.step),
        format_bytes(estimate.data),
    );
    let batch = format!("a smaller batch (`batch_size` is {})", estimate.batch);
    let fix = match layer.map(|layer| &layer.value) {
        Some(Layer::Dense { units, .. } | Layer::Lstm { units, .. } | Layer::Gru { units, .. }) => {
            let fewer = format!("fewer units in this `{name}` (it has {})", units.value);
            if estimate.dominant_by_parameters {
                format!("use {fewer}")
            } else {
                format!("use {batch} or {fewer}")
            }
        }
        Some(Layer::Conv2d { filters, .. }) => {
            let fewer = format!("fewer filters in this `conv2d` (it has {})", filters.value);
            if estimate.dominant_by_parameters {
                format!("use {fewer} or a smaller kernel")
            } else {
                format!("use {fewer}, or {batch}")
            }
        }
        _ => format!("use {batch}, or smaller layers before this one"),
    };
    let label = format!("this `{name}` needs {} ({share:.0}% of it)", format_bytes(estimate.dominant_bytes));
    let diagnostic = if over {
        Diagnostic::error(
            "memory::too_large",
            format!(
                "training this model needs about {}, more than the {} memory limit",
                format_bytes(total),
                format_bytes(limit.bytes)
            ),
        )
        .with_help(format!("{fix}. The estimate: {parts}; the limit is {limit}"))
    } else {
        Diagnostic::warning(
            "memory::over_half",
            format!(
                "training this model needs about {}, more than half of the {} memory limit",
                format_bytes(total),
                format_bytes(limit.bytes)
            ),
        )
        .with_help(format!(
            "it may run, but other programs may push it out of memory; to be safe, {fix}. The estimate: {parts}; \
             the limit is {limit}"
        ))
    };
    diagnostics.push(diagnostic.at(span).with_label(label));
}

#[cfg(test)]
mod tests;
