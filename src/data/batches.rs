//! Mini-batches: the training rows in a seeded shuffled order each epoch, cut into batches, the last one partial.

use ndarray::{Array, ArrayD, Axis, IxDyn};

use crate::data::inputs::Inputs;
use crate::rng::{permutation, ChaCha20Rng};

/// The batches of one pass over `n` rows: positions into the split's rows, in the order they are visited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchPlan {
    order: Vec<usize>,
    batch_size: usize,
}

impl BatchPlan {
    /// A shuffled pass (training): a fresh permutation drawn from the shuffle stream.
    pub fn shuffled(n: usize, batch_size: usize, rng: &mut ChaCha20Rng) -> BatchPlan {
        BatchPlan { order: permutation(n, rng), batch_size: batch_size.max(1) }
    }

    /// A pass in row order (evaluation and prediction).
    pub fn in_order(n: usize, batch_size: usize) -> BatchPlan {
        BatchPlan { order: (0..n).collect(), batch_size: batch_size.max(1) }
    }

    /// The batches, each a slice of positions; every position appears exactly once and only the last batch may
    /// be smaller than the batch size.
    pub fn batches(&self) -> impl Iterator<Item = &[usize]> {
        self.order.chunks(self.batch_size)
    }

    /// Number of batches.
    pub fn len(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }

    /// Whether there is no row at all.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

/// Examples that batches are gathered from: an array whose first axis is the row axis, or a split's inputs.
pub trait Examples {
    /// The examples at `positions`, in that order, as one array whose first axis is the row axis.
    fn gather(&self, positions: &[usize]) -> ArrayD<f32>;
}

impl Examples for ArrayD<f32> {
    fn gather(&self, positions: &[usize]) -> ArrayD<f32> {
        if positions.is_empty() {
            let mut shape = self.shape().to_vec();
            if let Some(first) = shape.first_mut() {
                *first = 0;
            }
            return Array::zeros(IxDyn(&shape));
        }
        self.select(Axis(0), positions)
    }
}

impl Examples for Inputs {
    fn gather(&self, positions: &[usize]) -> ArrayD<f32> {
        Inputs::gather(self, positions)
    }
}

/// The examples at `positions` of `examples`, in that order.
pub fn gather<E: Examples + ?Sized>(examples: &E, positions: &[usize]) -> ArrayD<f32> {
    examples.gather(positions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Purpose, Streams};

    #[test]
    fn every_row_once_and_only_the_last_batch_partial() {
        let mut rng = Streams::new(1).stream(Purpose::Shuffle);
        let plan = BatchPlan::shuffled(70, 32, &mut rng);
        let sizes: Vec<usize> = plan.batches().map(<[usize]>::len).collect();
        assert_eq!(sizes, vec![32, 32, 6]);
        assert_eq!(plan.len(), 3);
        let mut seen: Vec<usize> = plan.batches().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, (0..70).collect::<Vec<_>>());
    }

    #[test]
    fn the_order_is_seeded_and_changes_between_epochs() {
        let mut rng = Streams::new(9).stream(Purpose::Shuffle);
        let first = BatchPlan::shuffled(50, 8, &mut rng);
        let second = BatchPlan::shuffled(50, 8, &mut rng);
        assert_ne!(first, second, "each epoch draws a new order");
        let mut again = Streams::new(9).stream(Purpose::Shuffle);
        assert_eq!(first, BatchPlan::shuffled(50, 8, &mut again), "the same seed gives the same epochs");
    }

    #[test]
    fn gather_keeps_the_order_given() {
        let array = ArrayD::from_shape_vec(IxDyn(&[3, 2]), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        let picked = gather(&array, &[2, 0]);
        assert_eq!(picked.as_slice().unwrap(), &[4.0, 5.0, 0.0, 1.0]);
        assert_eq!(gather(&array, &[]).shape(), &[0, 2]);
    }
}
