//! The spec reference keeps up with the language (issue 17): every key and every name that `galen schema` offers
//! (each property name, each `enum` value and each `const` text anywhere in the JSON Schema of the YAML form)
//! appears in `docs/spec.md` as a code span of its own, such as `` `log_loss` ``. A key added to the language
//! without a word in the reference fails here, with the list of what is missing.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The reference users read, relative to the crate root.
const REFERENCE: &str = "docs/spec.md";

/// The JSON Schema that `galen schema` prints.
fn schema() -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_galen")).arg("schema").output().expect("galen runs");
    assert!(output.status.success(), "galen schema failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("galen schema prints JSON")
}

/// The text of the reference.
fn reference() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(REFERENCE);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

/// Every word the schema offers a spec author: the keys of every `properties` map and the texts of every `enum`
/// and `const`, wherever they sit (the top level, `$defs`, `anyOf` branches, `dependentSchemas`).
fn offered_words(schema: &Value) -> BTreeSet<String> {
    let mut words = BTreeSet::new();
    collect(schema, &mut words);
    words
}

fn collect(value: &Value, words: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                words.extend(properties.keys().cloned());
            }
            if let Some(Value::Array(names)) = map.get("enum") {
                words.extend(names.iter().filter_map(Value::as_str).map(String::from));
            }
            if let Some(Value::String(name)) = map.get("const") {
                words.insert(name.clone());
            }
            map.values().for_each(|child| collect(child, words));
        }
        Value::Array(items) => items.iter().for_each(|child| collect(child, words)),
        _ => {}
    }
}

/// The words that `text` never writes as a code span of their own (`` `word` ``).
fn missing_from<'w>(words: &'w BTreeSet<String>, text: &str) -> Vec<&'w str> {
    words.iter().map(String::as_str).filter(|word| !text.contains(&format!("`{word}`"))).collect()
}

#[test]
fn the_reference_names_every_key_and_value_of_the_schema() {
    let words = offered_words(&schema());
    // A walk that found little would pass on any text: make sure it reached the sections, layers and names.
    for expected in ["seed", "data", "test_file", "global_clipnorm", "return_sequences", "log_loss", "val_auc", "tab"] {
        assert!(words.contains(expected), "the schema walk did not find `{expected}`: {words:?}");
    }
    assert!(words.len() > 100, "only {} words found in the schema: {words:?}", words.len());
    let missing = missing_from(&words, &reference());
    assert!(
        missing.is_empty(),
        "{REFERENCE} does not name {} of the schema's keys and values, each as a code span of its own: {}\n\
         add each where it belongs, with its meaning, default and an example in both forms",
        missing.len(),
        missing.iter().map(|word| format!("`{word}`")).collect::<Vec<_>>().join(", ")
    );
}

#[test]
fn a_word_taken_out_of_the_reference_is_reported() {
    let words = offered_words(&schema());
    let text = reference();
    // Only what taking the word out adds counts, so that a word missing elsewhere is left to the test above.
    let missing_before = missing_from(&words, &text);
    for removed in ["log_loss", "k_fold", "clipvalue"] {
        let without = text.replace(&format!("`{removed}`"), removed);
        let missing_after = missing_from(&words, &without);
        let added: Vec<&str> = missing_after.into_iter().filter(|word| !missing_before.contains(word)).collect();
        assert_eq!(added, vec![removed], "taking `{removed}` out of {REFERENCE}");
    }
}
