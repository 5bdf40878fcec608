//! Liveness: each buffer, inputs included, is freed after the last step that reads it (directly or through a view),
//! so that the executor reuses its memory for later values.

use std::collections::{BTreeMap, BTreeSet};

use super::{step_reads, Operand, Step};
use crate::ir::NodeId;

/// For each step, the buffers no later step (nor an output) reads.
pub(super) fn liveness(steps: &[Step], outputs: &[(String, Operand)]) -> Vec<Vec<NodeId>> {
    let mut last_read: BTreeMap<NodeId, usize> = BTreeMap::new();
    for (index, step) in steps.iter().enumerate() {
        for base in step_reads(step) {
            last_read.insert(base, index);
        }
    }
    let kept: BTreeSet<NodeId> = outputs.iter().map(|(_, operand)| operand.base).collect();
    let mut frees = vec![Vec::new(); steps.len()];
    // Inputs are released too: the executor pools the buffers of inputs handed over by value (a training step's
    // variables) and drops its borrow of the others.
    for (base, index) in last_read {
        if !kept.contains(&base) {
            frees[index].push(base);
        }
    }
    frees
}
