//! The runtime executes graphs. Today that is the reference [`interpreter`], which runs any IR graph on ndarray and
//! is the oracle every faster backend is compared with; [`train`] drives training and evaluation through it,
//! [`schedule`] decides the learning rate and early stopping between epochs, and [`scores`] turns a split's outputs
//! into its metrics.

pub mod interpreter;
pub mod schedule;
pub mod scores;
pub mod train;
