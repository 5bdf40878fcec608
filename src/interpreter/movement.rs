//! Movement kernels: reshape, permute, expand, pad, slice and concat. They move elements of any dtype.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice};

use super::tensor::{with_element, Element, Tensor};

pub(super) fn reshape(x: &Tensor, shape: &[usize]) -> Tensor {
    with_element!(x.dtype(), T => T::wrap(
        // `iter` walks the elements in row-major order whatever the layout, which is what a reshape keeps.
        ArrayD::from_shape_vec(IxDyn(shape), T::unwrap(x).iter().copied().collect())
            .expect("a reshape keeps the element count in a type-checked graph")
    ))
}

pub(super) fn permute(x: &Tensor, perm: &[usize]) -> Tensor {
    // The result is laid out row-major again, so that later kernels and callers see the usual layout.
    with_element!(x.dtype(), T => T::wrap(T::unwrap(x).view().permuted_axes(IxDyn(perm)).as_standard_layout().into_owned()))
}

pub(super) fn expand(x: &Tensor, shape: &[usize]) -> Tensor {
    with_element!(x.dtype(), T => T::wrap(
        T::unwrap(x).broadcast(IxDyn(shape)).expect("an expand grows only size-1 axes in a type-checked graph").to_owned()
    ))
}

pub(super) fn pad(x: &Tensor, low: &[usize], interior: &[usize], value: f64, shape: &[usize]) -> Tensor {
    with_element!(x.dtype(), T => T::wrap(element_pad::<T>(T::unwrap(x), low, interior, T::from_f64(value), shape)))
}

/// Fills the padded shape with `value`, then writes `x` into the strided window that skips the interior padding.
fn element_pad<T: Element>(x: &ArrayD<T>, low: &[usize], interior: &[usize], value: T, shape: &[usize]) -> ArrayD<T> {
    let mut padded = ArrayD::from_elem(IxDyn(shape), value);
    if x.is_empty() {
        return padded;
    }
    padded
        .slice_each_axis_mut(|axis| {
            let axis = axis.axis.index();
            let stride = interior[axis] + 1;
            let start = low[axis];
            let end = start + (x.shape()[axis] - 1) * stride + 1;
            Slice::new(start as isize, Some(end as isize), stride as isize)
        })
        .assign(x);
    padded
}

pub(super) fn slice(x: &Tensor, start: &[usize], end: &[usize], step: &[usize]) -> Tensor {
    with_element!(x.dtype(), T => T::wrap(
        T::unwrap(x)
            .slice_each_axis(|axis| {
                let axis = axis.axis.index();
                Slice::new(start[axis] as isize, Some(end[axis] as isize), step[axis] as isize)
            })
            .to_owned()
    ))
}

pub(super) fn concat(parts: &[&Tensor], axis: usize) -> Tensor {
    with_element!(parts[0].dtype(), T => T::wrap(element_concat::<T>(parts, axis)))
}

fn element_concat<T: Element>(parts: &[&Tensor], axis: usize) -> ArrayD<T> {
    let views: Vec<ArrayViewD<T>> = parts.iter().map(|part| T::unwrap(part).view()).collect();
    ndarray::concatenate(Axis(axis), &views).expect("concatenated parts agree in a type-checked graph")
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_exact, bools, eval, floats, ints, FLOATS};

    /// `[[1, 2, 3], [4, 5, 6]]`.
    fn matrix(dtype: crate::ir::DType) -> super::Tensor {
        floats(dtype, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    }

    #[test]
    fn permute_moves_axes_and_reshape_keeps_row_major_order() {
        for dtype in FLOATS {
            let y = eval(&[matrix(dtype)], |builder, inputs| builder.transpose(inputs[0]));
            assert_exact(&y, dtype, &[3, 2], &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
            let y = eval(&[matrix(dtype)], |builder, inputs| {
                let transposed = builder.transpose(inputs[0]);
                builder.reshape(transposed, [6])
            });
            assert_exact(&y, dtype, &[6], &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
            let x = floats(dtype, &[2, 1, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
            let y = eval(&[x], |builder, inputs| builder.permute(inputs[0], vec![2, 0, 1]));
            assert_exact(&y, dtype, &[3, 2, 1], &[1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        }
        let y =
            eval(&[bools(&[2, 2], &[true, false, false, false])], |builder, inputs| builder.reshape(inputs[0], [4]));
        assert_eq!(y, bools(&[4], &[true, false, false, false]));
    }

    #[test]
    fn expand_repeats_size_one_axes() {
        for dtype in FLOATS {
            let x = floats(dtype, &[1, 3], &[1.0, 2.0, 3.0]);
            let y = eval(&[x], |builder, inputs| builder.expand(inputs[0], [2, 3]));
            assert_exact(&y, dtype, &[2, 3], &[1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
            let x = floats(dtype, &[2, 1], &[1.0, 2.0]);
            let y = eval(&[x], |builder, inputs| builder.expand(inputs[0], [2, 3]));
            assert_exact(&y, dtype, &[2, 3], &[1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
        }
        let y = eval(&[ints(&[1], &[7])], |builder, inputs| builder.expand(inputs[0], [3]));
        assert_eq!(y, ints(&[3], &[7, 7, 7]));
    }

    #[test]
    fn pad_adds_low_high_and_interior_elements() {
        for dtype in FLOATS {
            let y = eval(&[matrix(dtype)], |builder, inputs| {
                builder.pad(inputs[0], vec![1, 0], vec![0, 2], vec![1, 1], -1.0)
            });
            #[rustfmt::skip]
            let expected = [
                -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0,
                1.0, -1.0, 2.0, -1.0, 3.0, -1.0, -1.0,
                -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0,
                4.0, -1.0, 5.0, -1.0, 6.0, -1.0, -1.0,
            ];
            assert_exact(&y, dtype, &[4, 7], &expected);
        }
        let y = eval(&[ints(&[2], &[1, 2])], |builder, inputs| builder.pad(inputs[0], vec![2], vec![1], vec![2], 9.0));
        assert_eq!(y, ints(&[7], &[9, 9, 1, 9, 9, 2, 9]));
        let y = eval(&[bools(&[1], &[true])], |builder, inputs| builder.pad(inputs[0], vec![1], vec![1], vec![0], 0.0));
        assert_eq!(y, bools(&[3], &[false, true, false]));
    }

    #[test]
    fn pad_of_an_empty_axis_is_all_padding() {
        let x = floats(crate::ir::DType::F64, &[0, 2], &[]);
        let y = eval(&[x], |builder, inputs| builder.pad(inputs[0], vec![1, 0], vec![1, 0], vec![3, 0], 5.0));
        assert_exact(&y, crate::ir::DType::F64, &[2, 2], &[5.0; 4]);
    }

    #[test]
    fn slice_takes_every_step_th_element() {
        for dtype in FLOATS {
            let x = floats(dtype, &[3, 5], &(0..15).map(f64::from).collect::<Vec<_>>());
            let y = eval(std::slice::from_ref(&x), |builder, inputs| {
                builder.slice(inputs[0], vec![0, 1], vec![3, 5], vec![2, 2])
            });
            assert_exact(&y, dtype, &[2, 2], &[1.0, 3.0, 11.0, 13.0]);
            let y = eval(std::slice::from_ref(&x), |builder, inputs| {
                builder.slice(inputs[0], vec![1, 1], vec![2, 5], vec![1, 3])
            });
            assert_exact(&y, dtype, &[1, 2], &[6.0, 9.0]);
            let y = eval(&[x], |builder, inputs| builder.slice_axis(inputs[0], 1, 2, 2));
            assert_exact(&y, dtype, &[3, 0], &[]);
        }
        let y =
            eval(&[ints(&[4], &[0, 1, 2, 3])], |builder, inputs| builder.slice(inputs[0], vec![1], vec![4], vec![2]));
        assert_eq!(y, ints(&[2], &[1, 3]));
    }

    #[test]
    fn concat_joins_along_an_axis() {
        for dtype in FLOATS {
            let tail = floats(dtype, &[2, 1], &[7.0, 8.0]);
            let y = eval(&[matrix(dtype), tail], |builder, inputs| builder.concat(inputs.to_vec(), 1));
            assert_exact(&y, dtype, &[2, 4], &[1.0, 2.0, 3.0, 7.0, 4.0, 5.0, 6.0, 8.0]);
            let y = eval(&[matrix(dtype), matrix(dtype), matrix(dtype)], |builder, inputs| {
                builder.concat(inputs.to_vec(), 0)
            });
            let expected: Vec<f64> = (0..3).flat_map(|_| [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).collect();
            assert_exact(&y, dtype, &[6, 3], &expected);
        }
        let y = eval(&[bools(&[1], &[true]), bools(&[2], &[false, true])], |builder, inputs| {
            builder.concat(inputs.to_vec(), 0)
        });
        assert_eq!(y, bools(&[3], &[true, false, true]));
    }
}
