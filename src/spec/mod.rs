//! The spec stage: source text (DSL or YAML) to a generic tree, then to the typed AST.

pub mod ast;
pub mod dsl;
pub mod lower;
pub mod tree;
pub mod yaml;

/// The two written forms of a spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// `.yaml` / `.yml`, read with serde_yaml.
    Yaml,
    /// `.galen`, the DSL of `grammar/galen.pest`.
    Dsl,
}
