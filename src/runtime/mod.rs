//! The runtime executes graphs. Today that is the reference [`interpreter`], which runs any IR graph on ndarray and
//! is the oracle every faster backend is compared with.

pub mod interpreter;
