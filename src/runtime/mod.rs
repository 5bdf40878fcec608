//! The runtime runs models: [`train`] drives training and evaluation through a [`crate::backend::Backend`] (the
//! compiled programs, or the reference [`crate::interpreter`]), [`schedule`] decides the learning rate and early
//! stopping between epochs, and [`scores`] turns a split's outputs into its metrics.

pub mod schedule;
pub mod scores;
pub mod train;
