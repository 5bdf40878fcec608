//! Strided views: a [`Layout`] reads a buffer through an offset and a stride per axis, so reshape, expand, permute
//! and slice cost no copy (a broadcast is stride 0, a transposed operand swaps its strides).

use crate::ir::{Op, TensorType};

/// A strided window on a buffer: the element at index `i` of `shape` is `offset + Σ i_k · strides[k]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    /// The first element.
    pub offset: usize,
    /// The view's shape.
    pub shape: Vec<usize>,
    /// Elements to step per axis (0 for a broadcast axis).
    pub strides: Vec<isize>,
}

impl Layout {
    /// The row-major layout of a whole buffer.
    pub fn contiguous(shape: &[usize]) -> Layout {
        let mut strides = vec![0isize; shape.len()];
        let mut stride = 1isize;
        for axis in (0..shape.len()).rev() {
            strides[axis] = stride;
            stride *= shape[axis] as isize;
        }
        Layout { offset: 0, shape: shape.to_vec(), strides }
    }

    /// The furthest element it reaches (strides are never negative); meaningful when no axis is empty.
    pub fn reach(&self) -> usize {
        self.offset
            + self
                .shape
                .iter()
                .zip(&self.strides)
                .map(|(&size, &stride)| size.saturating_sub(1) * stride as usize)
                .sum::<usize>()
    }

    /// Whether it reads the whole buffer in row-major order.
    pub fn is_contiguous(&self) -> bool {
        let standard = Layout::contiguous(&self.shape);
        self.offset == 0
            && self
                .shape
                .iter()
                .zip(self.strides.iter().zip(&standard.strides))
                .all(|(&size, (a, b))| size == 1 || a == b)
    }

    /// The layout after `op`, or `None` when the view cannot be expressed with strides (a reshape of a broadcast or
    /// of a transposed window), in which case the base is copied first.
    pub(super) fn after(&self, op: &Op, ty: &TensorType) -> Option<Layout> {
        match op {
            Op::Reshape => {
                if self.is_contiguous() {
                    Some(Layout { offset: self.offset, ..Layout::contiguous(&ty.shape) })
                } else {
                    // Only axes of size 1 come or go: keep the other axes' strides in order.
                    let kept: Vec<isize> =
                        self.shape.iter().zip(&self.strides).filter(|(&size, _)| size != 1).map(|(_, &s)| s).collect();
                    let sizes: Vec<usize> = self.shape.iter().copied().filter(|&size| size != 1).collect();
                    let new_sizes: Vec<usize> = ty.shape.iter().copied().filter(|&size| size != 1).collect();
                    if sizes != new_sizes {
                        return None;
                    }
                    let mut strides = kept.into_iter();
                    let strides = ty.shape.iter().map(|&size| if size == 1 { 0 } else { strides.next().unwrap_or(0) });
                    Some(Layout { offset: self.offset, shape: ty.shape.clone(), strides: strides.collect() })
                }
            }
            Op::Expand => {
                let strides = self
                    .shape
                    .iter()
                    .zip(&ty.shape)
                    .zip(&self.strides)
                    .map(|((&from, &to), &stride)| if from == 1 && to != 1 { 0 } else { stride })
                    .collect();
                Some(Layout { offset: self.offset, shape: ty.shape.clone(), strides })
            }
            Op::Permute { perm } => Some(Layout {
                offset: self.offset,
                shape: perm.iter().map(|&axis| self.shape[axis]).collect(),
                strides: perm.iter().map(|&axis| self.strides[axis]).collect(),
            }),
            Op::Slice { start, step, .. } => {
                let offset =
                    start.iter().zip(&self.strides).map(|(&start, &stride)| start as isize * stride).sum::<isize>();
                Some(Layout {
                    offset: (self.offset as isize + offset) as usize,
                    shape: ty.shape.clone(),
                    strides: self.strides.iter().zip(step).map(|(&stride, &step)| stride * step as isize).collect(),
                })
            }
            _ => None,
        }
    }
}
