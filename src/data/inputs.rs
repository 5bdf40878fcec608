//! The inputs of a split: some rows of a matrix of f32 values, with the shape of one example. The splits cut from
//! one file share its one matrix, each naming its rows, so that a dataset is held once however it is split.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};

/// The inputs of the examples of a split: rows of a shared matrix, each the values of one example in row-major
/// order of the example's shape.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// The matrix, `width` values a row.
    values: Arc<Vec<f32>>,
    width: usize,
    /// The matrix row of each example, in example order.
    rows: Vec<usize>,
    /// The shape of one example (`data.shape`, an image's height, width and channels, or the input width).
    shape: Vec<usize>,
}

impl Inputs {
    /// The examples held in rows `rows` of `values`, a matrix of `width` values a row; `None` when the shape does
    /// not hold `width` values or a row is outside the matrix.
    pub fn new(values: Arc<Vec<f32>>, width: usize, rows: Vec<usize>, shape: Vec<usize>) -> Option<Inputs> {
        let fits = shape.iter().product::<usize>() == width
            && rows.iter().all(|&row| (row + 1).checked_mul(width).is_some_and(|end| end <= values.len()));
        fits.then_some(Inputs { values, width, rows, shape })
    }

    /// The examples along the first axis of `array`, each of the shape of the other axes.
    pub fn from_array(array: ArrayD<f32>) -> Inputs {
        let shape = array.shape().get(1..).unwrap_or_default().to_vec();
        let count = array.shape().first().copied().unwrap_or(0);
        let width = shape.iter().product();
        let values = if array.is_standard_layout() {
            array.into_raw_vec_and_offset().0
        } else {
            array.iter().copied().collect()
        };
        Inputs { values: Arc::new(values), width, rows: (0..count).collect(), shape }
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there is no example.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The shape of the examples together: `[examples, shape of one...]`.
    pub fn shape(&self) -> Vec<usize> {
        let mut shape = vec![self.len()];
        shape.extend_from_slice(&self.shape);
        shape
    }

    /// The values of example `index`.
    pub fn example(&self, index: usize) -> &[f32] {
        let row = self.rows[index];
        &self.values[row * self.width..(row + 1) * self.width]
    }

    /// Every value of every example, example after example.
    pub fn iter(&self) -> impl Iterator<Item = &f32> + '_ {
        (0..self.len()).flat_map(|index| self.example(index))
    }

    /// The examples at `positions`, in that order, as one array `[positions, shape of one...]`.
    pub fn gather(&self, positions: &[usize]) -> ArrayD<f32> {
        let mut shape = vec![positions.len()];
        shape.extend_from_slice(&self.shape);
        let mut array = ArrayD::zeros(IxDyn(&shape));
        // A new array is contiguous and row-major, so it is always one slice, example after example.
        if let Some(slice) = array.as_slice_mut() {
            for (chunk, &position) in slice.chunks_exact_mut(self.width.max(1)).zip(positions) {
                chunk.copy_from_slice(self.example(position));
            }
        }
        array
    }

    /// Every example as one array `[examples, shape of one...]` (a copy).
    pub fn to_array(&self) -> ArrayD<f32> {
        let positions: Vec<usize> = (0..self.len()).collect();
        self.gather(&positions)
    }
}

impl PartialEq for Inputs {
    /// The same examples: the same shape and values, wherever they are held.
    fn eq(&self, other: &Inputs) -> bool {
        self.shape() == other.shape() && (0..self.len()).all(|index| self.example(index) == other.example(index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_are_rows_of_a_shared_matrix() {
        let values = Arc::new((0..12).map(|value| value as f32).collect::<Vec<f32>>());
        let first = Inputs::new(Arc::clone(&values), 4, vec![2, 0], vec![2, 2]).expect("fits");
        let second = Inputs::new(values, 4, vec![1], vec![4]).expect("fits");
        assert_eq!(first.shape(), [2, 2, 2]);
        assert_eq!(first.example(0), [8.0, 9.0, 10.0, 11.0]);
        assert_eq!(first.gather(&[1]).as_slice().expect("standard"), [0.0, 1.0, 2.0, 3.0]);
        assert_eq!(first.gather(&[]).shape(), [0, 2, 2]);
        assert_eq!(second.iter().copied().collect::<Vec<f32>>(), [4.0, 5.0, 6.0, 7.0]);
        let copied = Inputs::from_array(first.to_array());
        assert_eq!(copied, first);
        assert_ne!(copied, second);
        assert!(Inputs::new(Arc::new(vec![0.0; 4]), 4, vec![1], vec![4]).is_none(), "row 1 is outside");
        assert!(Inputs::new(Arc::new(vec![0.0; 4]), 4, vec![0], vec![3]).is_none(), "the shape holds 3 values");
    }
}
