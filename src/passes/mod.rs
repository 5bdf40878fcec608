//! Passes over the IR: each takes a graph and returns or extends one, and the verifier runs after each.

pub mod autodiff;
pub mod gradcheck;
