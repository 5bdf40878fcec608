//! Epilogues: the first later kernel that reads a two-dimensional product element for element (bias and activation
//! forward, an activation's gradient backward) runs on each part of the product as soon as it is computed.

use std::collections::BTreeMap;

use super::{step_writes, tensor, Epilogue, Step};
use crate::backend::kernel::{Access, Kernel};
use crate::ir::{Graph, NodeId};

/// Moves into each two-dimensional matrix product the first later kernel that can run as its epilogue: one with no
/// reduction, whose iteration space is the product's elements in row-major order (the product read contiguously,
/// its outermost axis a whole number of positions per row), whose other operands are all ready before the
/// product runs, and which streams at most one other full-size operand (where fusing pays). The kernel then runs on each part of the product while that part is still in cache, instead of
/// as a pass of its own over the whole product.
pub(super) fn fuse_epilogues(graph: &Graph, kernels: &[Kernel], steps: &mut Vec<Step>) {
    let mut index = 0;
    while index < steps.len() {
        let Step::MatMul { node, epilogue: None, .. } = &steps[index] else {
            index += 1;
            continue;
        };
        let node = *node;
        let shape = &tensor(graph, node).expect("a product is a tensor").shape;
        let rank = shape.len();
        let rows = shape[rank - 2];
        let two_dimensional = shape[..rank - 2].iter().all(|&size| size == 1);
        // Where each buffer is computed, to tell which kernel operands are ready before the product.
        let mut computed_at: BTreeMap<NodeId, usize> = BTreeMap::new();
        for (at, step) in steps.iter().enumerate() {
            for written in step_writes(step) {
                computed_at.insert(written, at);
            }
        }
        let ready_before = |read: &NodeId| computed_at.get(read).is_none_or(|&at| at < index);
        let fits = |step: &Step| -> Option<Epilogue> {
            let Step::Kernel { kernel, reads, writes } = step else { return None };
            let code = &kernels[*kernel];
            let per_row = code.dims.first().copied().unwrap_or(0) / rows.max(1);
            let contiguous = Access::contiguous(&code.dims);
            // Operands other than the product read a new element at every position: streaming more than one of
            // them from memory beside the product's parts costs more than a pass of its own (an optimizer's
            // update reads the parameter and both moments: measured slower as an epilogue on the big MLP).
            let streamed = reads
                .iter()
                .zip(&code.operands)
                .filter(|(&read, access)| {
                    read != node
                        && access.strides.iter().zip(&code.dims).all(|(&stride, &size)| size == 1 || stride != 0)
                })
                .count();
            let ok = reads.contains(&node)
                && code.reduce.is_none()
                && streamed <= 1
                && rows > 0
                && per_row * rows == code.dims[0]
                && code.positions() == shape.iter().product::<usize>()
                && reads.iter().zip(&code.operands).all(|(&read, access)| read != node || access == &contiguous)
                && reads.iter().all(|read| *read == node || ready_before(read));
            ok.then(|| Epilogue { kernel: *kernel, reads: reads.clone(), writes: writes.clone(), per_row })
        };
        let found = if two_dimensional {
            steps.iter().enumerate().skip(index + 1).find_map(|(at, step)| fits(step).map(|epilogue| (at, epilogue)))
        } else {
            None
        };
        if let Some((at, fused)) = found {
            steps.remove(at);
            if let Step::MatMul { epilogue, .. } = &mut steps[index] {
                *epilogue = Some(fused);
            }
        }
        index += 1;
    }
}
