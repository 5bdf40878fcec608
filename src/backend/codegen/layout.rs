//! The loop nest a kernel compiles to, worked out before any code is emitted: the kernel is checked (every rule the
//! code generator relies on, so that a malformed kernel is an error rather than bad code), adjacent axes that every
//! buffer addresses as one are merged (a contiguous `[128, 3]` becomes one loop of 384, vectorised across rows),
//! and the largest element each buffer is touched at is computed for the bounds check of a safe call.

use super::CodegenError;
use crate::backend::kernel::{Expr, Kernel};

/// A checked kernel's loop nest: axes after merging, and how each buffer is addressed along them.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Layout {
    /// Extent per loop axis, outermost first; never empty. Axis 0's extent is unused: its bounds come from the
    /// caller's range, scaled by [`Layout::split_scale`].
    pub dims: Vec<usize>,
    /// Per buffer (operands, then stores): the element offset and the stride per loop axis.
    pub buffers: Vec<BufferLayout>,
    /// The reduced loop axis of a reduction kernel.
    pub reduce_axis: Option<usize>,
    /// Loop-axis-0 positions per index of the kernel's own axis 0: the kernel's axes merged into loop axis 0 after
    /// the first one. The native function runs loop axis 0 over `start * split_scale .. end * split_scale`.
    pub split_scale: i64,
    /// Whether some loop axis other than axis 0 is empty, so that no call touches anything.
    pub is_empty: bool,
    /// Per buffer, the length it must have: one past the largest element touched over the whole iteration space
    /// (0 when the space is empty).
    pub required_lengths: Vec<usize>,
}

/// How one buffer is addressed along the loop axes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct BufferLayout {
    /// The element the first position touches.
    pub offset: i64,
    /// Elements per step of each loop axis.
    pub strides: Vec<i64>,
}

/// Byte offsets of every address the code computes stay within this many elements, so that `index * 4` and the
/// sums of such terms never overflow an `i64`.
const LARGEST_INDEX: i128 = (i64::MAX / 16) as i128;

impl Layout {
    /// Checks `kernel` and works out its loop nest.
    pub fn new(kernel: &Kernel) -> Result<Layout, CodegenError> {
        check(kernel)?;
        let rank = kernel.dims.len();
        let accesses: Vec<_> = kernel.operands.iter().chain(kernel.stores.iter().map(|store| &store.access)).collect();
        let required_lengths = accesses
            .iter()
            .map(|access| required_length(kernel, access.offset, &access.strides))
            .collect::<Result<Vec<_>, _>>()?;

        // An axis of extent 1 addresses nothing and goes (axis 0 stays, for the caller's range). Each other axis
        // merges into the group before it when every buffer steps over the group exactly as over the axis extended
        // (stride of the group = stride of the axis * its extent), or when the group has extent 1. The reduced axis
        // always stays a group of its own, even of extent 1, so that the result is the reference's `0 + x`.
        let reduced = kernel.reduce.map(|reduce| reduce.axis);
        let mut groups: Vec<(usize, Vec<i64>, bool)> = Vec::new();
        let mut split_scale = 1i64;
        for axis in 0..rank {
            let extent = kernel.dims[axis];
            let strides: Vec<i64> = accesses.iter().map(|access| access.strides[axis] as i64).collect();
            let is_reduced = reduced == Some(axis);
            if extent == 1 && axis > 0 && !is_reduced {
                continue;
            }
            if let Some((group_extent, group_strides, group_reduced)) = groups.last_mut() {
                let mergeable = !is_reduced && !*group_reduced;
                let contiguous =
                    group_strides.iter().zip(&strides).all(|(&outer, &inner)| outer == inner * extent as i64);
                if mergeable && (*group_extent == 1 || contiguous) {
                    *group_strides = strides;
                    *group_extent *= extent;
                    if groups.len() == 1 {
                        split_scale *= extent as i64;
                    }
                    continue;
                }
            }
            groups.push((extent, strides, is_reduced));
        }
        let dims: Vec<usize> = groups.iter().map(|group| group.0).collect();
        let buffers = accesses
            .iter()
            .enumerate()
            .map(|(buffer, access)| BufferLayout {
                offset: access.offset as i64,
                strides: groups.iter().map(|group| group.1[buffer]).collect(),
            })
            .collect();
        Ok(Layout {
            is_empty: dims[1..].contains(&0),
            reduce_axis: groups.iter().position(|group| group.2),
            dims,
            buffers,
            split_scale,
            required_lengths,
        })
    }

    /// The innermost loop axis, vectorised.
    pub fn inner_axis(&self) -> usize {
        self.dims.len() - 1
    }
}

/// Checks every rule the code generator relies on.
fn check(kernel: &Kernel) -> Result<(), CodegenError> {
    let invalid = |reason: String| Err(CodegenError::InvalidKernel { kernel: kernel.name.clone(), reason });
    let rank = kernel.dims.len();
    if rank == 0 {
        return invalid("the iteration space has no axis".to_string());
    }
    let positions = kernel.dims.iter().try_fold(1i64, |product, &extent| product.checked_mul(extent as i64));
    if positions.is_none_or(|positions| positions as i128 > LARGEST_INDEX) {
        return invalid(format!("the iteration space {:?} is too large", kernel.dims));
    }
    let accesses = kernel.operands.iter().chain(kernel.stores.iter().map(|store| &store.access));
    for access in accesses {
        if access.strides.len() != rank {
            return invalid(format!("an access has {} strides for {rank} axes", access.strides.len()));
        }
    }
    for (index, expr) in kernel.exprs.iter().enumerate() {
        if let Expr::Load(operand) = *expr {
            if operand >= kernel.operands.len() {
                return invalid(format!("%{index} loads operand {operand} of {}", kernel.operands.len()));
            }
        }
        for (place, read) in expr.reads().into_iter().enumerate() {
            if read >= index {
                return invalid(format!("%{index} reads %{read}, which is not an earlier expression"));
            }
            let wants_truth = matches!(expr, Expr::FromBool(_)) || (matches!(expr, Expr::Select(..)) && place == 0);
            if kernel.exprs[read].is_bool() != wants_truth {
                let wanted = if wants_truth { "a truth value" } else { "a number" };
                return invalid(format!("%{index} reads %{read} where it needs {wanted}"));
            }
        }
    }
    for store in &kernel.stores {
        match kernel.exprs.get(store.expr) {
            None => return invalid(format!("a store writes %{}, which does not exist", store.expr)),
            Some(expr) if expr.is_bool() => {
                return invalid(format!("a store writes %{}, a truth value", store.expr));
            }
            Some(_) => {}
        }
    }
    if let Some(reduce) = kernel.reduce {
        if reduce.axis >= rank {
            return invalid(format!("the reduced axis {} is not one of the {rank} axes", reduce.axis));
        }
        if kernel.stores.len() != 1 {
            return invalid(format!("a reduction has {} stores instead of one", kernel.stores.len()));
        }
        if kernel.stores[0].access.strides[reduce.axis] != 0 {
            return invalid("the reduction's output steps along the reduced axis".to_string());
        }
    }
    Ok(())
}

/// One past the largest element `offset + Σ index * stride` reaches, or an error when an element falls before the
/// buffer's start or out of the addressable range.
fn required_length(kernel: &Kernel, offset: usize, strides: &[isize]) -> Result<usize, CodegenError> {
    if kernel.dims.contains(&0) {
        return Ok(0);
    }
    let (mut lowest, mut highest) = (offset as i128, offset as i128);
    for (&extent, &stride) in kernel.dims.iter().zip(strides) {
        let reach = stride as i128 * (extent as i128 - 1);
        lowest += reach.min(0);
        highest += reach.max(0);
    }
    if lowest < 0 || highest > LARGEST_INDEX {
        let reason = format!("an access (offset {offset}, strides {strides:?}) reaches elements {lowest} to {highest}");
        return Err(CodegenError::InvalidKernel { kernel: kernel.name.clone(), reason });
    }
    Ok(highest as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::kernel::{Access, Reduce, Store};
    use crate::ir::Reduction;

    fn kernel(dims: &[usize], operands: Vec<Access>, output: Access, reduce: Option<Reduce>) -> Kernel {
        Kernel {
            name: "k".to_string(),
            dims: dims.to_vec(),
            operands,
            exprs: vec![Expr::Load(0)],
            stores: vec![Store { expr: 0, access: output }],
            reduce,
        }
    }

    #[test]
    fn contiguous_axes_merge_into_one_loop_and_scale_the_split() {
        let dims = [4, 3, 5];
        let layout = Layout::new(&kernel(&dims, vec![Access::contiguous(&dims)], Access::contiguous(&dims), None));
        let layout = layout.expect("a valid kernel");
        assert_eq!(layout.dims, vec![60]);
        assert_eq!(layout.split_scale, 15);
        assert_eq!(layout.buffers[0].strides, vec![1]);
        assert_eq!(layout.required_lengths, vec![60, 60]);
    }

    #[test]
    fn a_broadcast_row_keeps_the_axes_apart_and_the_reduced_axis_stays_alone() {
        let row = Access { offset: 0, strides: vec![0, 1] };
        let layout = Layout::new(&kernel(&[4, 8], vec![row], Access::contiguous(&[4, 8]), None)).expect("valid");
        assert_eq!(layout.dims, vec![4, 8]);
        let sum = Some(Reduce { reduction: Reduction::Sum, axis: 1 });
        let output = Access { offset: 0, strides: vec![1, 0] };
        let layout = Layout::new(&kernel(&[1, 8], vec![Access::contiguous(&[1, 8])], output, sum)).expect("valid");
        assert_eq!((layout.dims, layout.reduce_axis), (vec![1, 8], Some(1)));
    }

    #[test]
    fn malformed_kernels_are_errors() {
        let before_start = Access { offset: 2, strides: vec![-1] };
        let error = Layout::new(&kernel(&[4], vec![before_start], Access::contiguous(&[4]), None));
        assert!(error.is_err_and(|error| error.to_string().contains("reaches elements -1 to 2")));
        let mut reads_later = kernel(&[4], vec![Access::contiguous(&[4])], Access::contiguous(&[4]), None);
        reads_later.exprs = vec![Expr::Unary(crate::ir::Unary::Neg, 1), Expr::Load(0)];
        assert!(Layout::new(&reads_later).is_err_and(|error| error.to_string().contains("not an earlier")));
        let scalar =
            kernel(&[], vec![Access { offset: 0, strides: vec![] }], Access { offset: 0, strides: vec![] }, None);
        assert!(Layout::new(&scalar).is_err());
    }
}
