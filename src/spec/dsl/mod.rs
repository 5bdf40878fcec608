//! The `.galen` DSL front end: source text to the generic document tree, and a document tree back to DSL text.
//!
//! This module knows only syntax (the grammar is `grammar/galen.pest`); which keys exist and what they mean is
//! `spec::lower`'s business. The file is a [`Value::Map`] of its top-level statements, spanning the whole file.
//!
//! # From a statement to a tree entry
//!
//! A statement `key ARGS [BLOCK]` becomes the map entry `key` (keys may repeat). Let P be its positional
//! arguments and K its keyword arguments (`name=value`) followed by the statements of its block, each of which
//! becomes an entry by this same rule. The entry's value is:
//!
//! | statement                       | P, K and block         | value                          |
//! |---------------------------------|------------------------|--------------------------------|
//! | `flatten`                       | none                   | `Bool(true)`, the key's span   |
//! | `data {` ... `}`                | a block, no arguments  | `Map(K)`, even when empty      |
//! | `dropout 0.1`, `shape [8, 8]`   | one P, no K            | that value                     |
//! | `dense 64 relu`, `metrics a, b` | several P, no K        | `List(P)`                      |
//! | `missing numeric=median`        | no P, some K           | `Map(K)`                       |
//! | `optimizer adam lr=0.001`       | both                   | `Args { positional, keywords }`|
//!
//! `key = value` is also a statement and means `key value`. A composite value spans its arguments (and block).
//! Numbers keep their text as written; quoted and bare text are both [`Value::Str`]; bare `true` and `false` are
//! [`Value::Bool`].
//!
//! [`print`] writes the canonical form that [`parse`] reads back to an equal tree, which `galen convert` relies on.
//!
//! The parts: `reader` builds the tree from pest's parse tree, `printer` writes a tree back, and `errors` turns a
//! syntax error into an "expected ..." message (scanning the source for the common mistakes first).

mod errors;
mod printer;
mod reader;
#[cfg(test)]
mod tests;

use pest::Parser;

use crate::diagnostics::{Diagnostics, Span};
use crate::spec::tree::{Node, Value};
use errors::{nesting_error, syntax_error};
use printer::{block_entries, print_statement};
use reader::statements;

/// Parses DSL source into the document tree: the file is a Map of its top-level statements.
///
/// On a syntax error, pushes one `syntax::dsl` diagnostic and returns `None`.
pub fn parse(source: &str, diagnostics: &mut Diagnostics) -> Option<Node> {
    if let Some(diagnostic) = nesting_error(source) {
        diagnostics.push(diagnostic);
        return None;
    }
    match DslParser::parse(Rule::file, source) {
        Ok(mut pairs) => {
            let entries = pairs.next().map(|file| statements(file.into_inner())).unwrap_or_default();
            Some(Node::new(Value::Map(entries), Span::new(0, source.len())))
        }
        Err(error) => {
            diagnostics.push(syntax_error(source, error));
            None
        }
    }
}

/// Prints a document tree as DSL text that `parse` reads back to an equal tree (spans aside).
///
/// Every tree that [`parse`] produces round-trips. Shapes it never produces are printed as their nearest form: an
/// `Args` with no keywords as its positional values, `Null` as `""`, a number whose text is not a DSL number as
/// its value. A document that is not a map prints as nothing.
pub fn print(document: &Node) -> String {
    let Value::Map(entries) = &document.value else {
        return String::new();
    };
    let mut out = String::new();
    let mut previous_was_block = false;
    for (index, entry) in entries.iter().enumerate() {
        let is_block = block_entries(&entry.value, 0).is_some();
        if index > 0 && (is_block || previous_was_block) {
            out.push('\n');
        }
        print_statement(&mut out, entry, 0);
        previous_was_block = is_block;
    }
    out
}

mod grammar {
    //! The pest parser generated from `grammar/galen.pest`.
    #[derive(pest_derive::Parser)]
    #[grammar = "../grammar/galen.pest"]
    pub struct DslParser;
}

use grammar::{DslParser, Rule};

/// How deep brackets and blocks may nest. Real specs nest two or three levels; the limit keeps the recursive
/// parser and tree walk far from the end of the stack on hostile input.
pub(super) const MAX_NESTING: usize = 32;
