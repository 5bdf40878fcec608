//! Reduction kernels: sum and max over axes, and argmax along one axis, each in a fixed sequential order.

use ndarray::{ArrayD, Axis};

use super::tensor::{with_element, with_number, Element, Number, Tensor};
use crate::ir::Reduction;

pub(super) fn reduce(reduction: Reduction, axes: &[usize], x: &Tensor) -> Tensor {
    with_number!(x.dtype(), T => T::wrap(number_reduce::<T>(reduction, axes, T::unwrap(x))))
}

/// Folds the reduced axes away one at a time, the last first, so that removing an axis leaves the lower ones in
/// place. `fold_axis` visits an axis's slices in index order, which fixes the summation order.
fn number_reduce<T: Number>(reduction: Reduction, axes: &[usize], x: &ArrayD<T>) -> ArrayD<T> {
    let fold = |x: &ArrayD<T>, axis: usize| match reduction {
        Reduction::Sum => x.fold_axis(Axis(axis), T::from_f64(0.0), |&sum, &value| T::add(sum, value)),
        Reduction::Max => x.fold_axis(Axis(axis), T::lowest(), |&max, &value| T::max(max, value)),
    };
    let Some((&last, others)) = axes.split_last() else { return x.clone() };
    let mut result = fold(x, last);
    for &axis in others.iter().rev() {
        result = fold(&result, axis);
    }
    result
}

pub(super) fn argmax(axis: usize, x: &Tensor) -> Tensor {
    Tensor::I32(with_element!(x.dtype(), T => element_argmax::<T>(axis, T::unwrap(x))))
}

fn element_argmax<T: Element>(axis: usize, x: &ArrayD<T>) -> ArrayD<i32> {
    x.map_axis(Axis(axis), |lane| {
        let mut best = 0;
        let mut best_value = lane[0];
        for (index, &value) in lane.iter().enumerate().skip(1) {
            if value.beats(best_value) {
                best = index;
                best_value = value;
            }
        }
        best as i32
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_exact, eval, floats, ints, FLOATS};
    use crate::ir::DType;

    /// 0..12 as `[2, 3, 2]`.
    fn counting(dtype: DType) -> super::Tensor {
        floats(dtype, &[2, 3, 2], &(0..12).map(f64::from).collect::<Vec<_>>())
    }

    #[test]
    fn sums_over_any_axes() {
        let cases: [(Vec<usize>, Vec<usize>, Vec<f64>); 5] = [
            (vec![0], vec![3, 2], vec![6.0, 8.0, 10.0, 12.0, 14.0, 16.0]),
            (vec![1], vec![2, 2], vec![6.0, 9.0, 24.0, 27.0]),
            (vec![0, 2], vec![3], vec![14.0, 22.0, 30.0]),
            (vec![0, 1, 2], vec![], vec![66.0]),
            (vec![], vec![2, 3, 2], (0..12).map(f64::from).collect()),
        ];
        for dtype in FLOATS {
            for (axes, shape, expected) in &cases {
                let y = eval(&[counting(dtype)], |builder, inputs| builder.reduce_sum(inputs[0], axes.clone()));
                assert_exact(&y, dtype, shape, expected);
            }
        }
    }

    #[test]
    fn sums_run_sequentially_in_index_order() {
        // In f32, 1e8 + 1 rounds back to 1e8, so only the sequential order gives 1; pairwise would give 0.
        let x = floats(DType::F32, &[4], &[1e8, 1.0, -1e8, 1.0]);
        let y = eval(&[x], |builder, inputs| builder.reduce_sum(inputs[0], vec![0]));
        assert_exact(&y, DType::F32, &[], &[1.0]);
        let x = floats(DType::F64, &[4], &[1e8, 1.0, -1e8, 1.0]);
        let y = eval(&[x], |builder, inputs| builder.reduce_sum(inputs[0], vec![0]));
        assert_exact(&y, DType::F64, &[], &[2.0]);
    }

    #[test]
    fn max_reduces_and_propagates_nan() {
        for dtype in FLOATS {
            let y = eval(&[counting(dtype)], |builder, inputs| builder.reduce_max(inputs[0], vec![1, 2]));
            assert_exact(&y, dtype, &[2], &[5.0, 11.0]);
            let x = floats(dtype, &[2, 3], &[-1.0, f64::NAN, -3.0, -4.0, -5.0, -6.0]);
            let y = eval(&[x], |builder, inputs| builder.reduce_max(inputs[0], vec![1]));
            assert_exact(&y, dtype, &[2], &[f64::NAN, -4.0]);
        }
    }

    #[test]
    fn integers_reduce() {
        let x = ints(&[2, 3], &[1, -2, 3, 4, 5, -6]);
        let y = eval(std::slice::from_ref(&x), |builder, inputs| builder.reduce_sum(inputs[0], vec![0]));
        assert_eq!(y, ints(&[3], &[5, 3, -3]));
        let y = eval(&[x], |builder, inputs| builder.reduce_max(inputs[0], vec![1]));
        assert_eq!(y, ints(&[2], &[3, 5]));
    }

    #[test]
    fn argmax_takes_the_first_of_ties_and_ranks_nan_highest() {
        for dtype in FLOATS {
            let x = floats(dtype, &[3, 3], &[1.0, 3.0, 3.0, f64::NAN, 9.0, f64::NAN, -1.0, -1.0, -1.0]);
            let y = eval(std::slice::from_ref(&x), |builder, inputs| builder.argmax(inputs[0], 1));
            assert_eq!(y, ints(&[3], &[1, 0, 0]));
            let y = eval(&[x], |builder, inputs| builder.argmax(inputs[0], 0));
            assert_eq!(y, ints(&[3], &[1, 1, 1]));
        }
        let y = eval(&[ints(&[2, 2], &[4, 7, 7, 7])], |builder, inputs| builder.argmax(inputs[0], 1));
        assert_eq!(y, ints(&[2], &[1, 0]));
        let x = super::super::tests::bools(&[2, 3], &[false, true, true, false, false, false]);
        let y = eval(&[x], |builder, inputs| builder.argmax(inputs[0], 1));
        assert_eq!(y, ints(&[2], &[1, 0]));
    }
}
