//! The memory limit's parsing and reading; the estimate itself is tested on the examples and the
//! error specs (`tests/spec_corpus.rs`, `tests/errors/memory`).

use super::*;

#[test]
fn sizes_parse_with_binary_and_decimal_units() {
    assert_eq!(parse_size("1000"), Ok(1000));
    assert_eq!(parse_size("512M"), Ok(512 << 20));
    assert_eq!(parse_size(" 16G "), Ok(16 << 30));
    assert_eq!(parse_size("1.5T"), Ok(3 << 39));
    assert_eq!(parse_size("2GiB"), Ok(2 << 30));
    assert_eq!(parse_size("2gb"), Ok(2_000_000_000));
    assert_eq!(parse_size("64KB"), Ok(64_000));
}

#[test]
fn a_size_that_is_no_size_is_refused_with_why() {
    for wrong in ["", "lots", "16X", "-1G", "0", "1e30", "100000P"] {
        let error = parse_size(wrong).expect_err(wrong);
        assert!(!error.is_empty(), "{wrong}");
    }
    assert!(parse_size("16X").unwrap_err().contains("`X`"));
    assert!(parse_size("1000000000T").unwrap_err().contains("between 1 byte and 64.0 PiB"));
}

#[test]
fn the_machine_limit_is_read_on_linux() {
    if cfg!(target_os = "linux") {
        let limit = machine_limit().expect("MemAvailable is readable on Linux");
        assert!(limit.bytes > 0 && limit.bytes <= LARGEST_LIMIT);
        assert_ne!(limit.source, LimitSource::Variable);
    }
}

/// The diabetes example's estimate against a limit of `bytes`.
fn diabetes(bytes: u64) -> crate::pipeline::CheckOutcome {
    crate::pipeline::check_file_with(std::path::Path::new("specs/diabetes.galen"), Ok(Some(Limit::fixed(bytes))))
}

#[test]
fn an_example_is_estimated_from_its_plan_and_passes_a_large_limit() {
    let outcome = diabetes(16 << 30);
    assert!(!outcome.diagnostics.has_errors() && outcome.checked.is_some());
    let estimate = outcome.memory.expect("a clean spec has an estimate");
    assert!(estimate.planned);
    let checked = outcome.checked.expect("checked");
    assert_eq!(estimate.parameters, 4 * checked.total_params() as u64);
    assert_eq!(estimate.optimizer, 2 * estimate.parameters, "adam keeps two moments");
    assert_eq!(estimate.data, 4 * 442 * 11);
    // The train step holds at least one batch of the input and the gradients of every parameter.
    assert!(estimate.step >= 4 * 32 * 11 + estimate.parameters, "{estimate:?}");
    assert_eq!(estimate.total(), estimate.parameters + estimate.optimizer + estimate.step + estimate.data);
}

#[test]
fn above_half_the_limit_warns_and_above_it_refuses() {
    let total = diabetes(16 << 30).memory.expect("an estimate").total();
    let warned = diabetes(total + total / 2);
    assert!(!warned.diagnostics.has_errors() && warned.checked.is_some());
    let codes: Vec<&str> = warned.diagnostics.items.iter().map(|diagnostic| diagnostic.code).collect();
    assert!(codes.contains(&"memory::over_half"), "{codes:?}");
    let refused = diabetes(total - 1);
    assert!(refused.checked.is_none(), "a spec over the limit does not check");
    let error = refused.diagnostics.items.iter().find(|diagnostic| diagnostic.is_error()).expect("an error");
    assert_eq!(error.code, "memory::too_large");
    assert!(error.message.contains(&format_bytes(total)), "{}", error.message);
    assert!(error.help.as_deref().is_some_and(|help| help.contains("batch_size")), "{error:?}");
    let silent = diabetes(2 * total);
    assert!(silent.diagnostics.items.iter().all(|diagnostic| !diagnostic.code.starts_with("memory::")));
}

#[test]
fn with_no_limit_known_the_limit_is_the_most_any_machine_has() {
    let outcome = crate::pipeline::check_file_with(std::path::Path::new("specs/breast_cancer_peers.galen"), Ok(None));
    let estimate = outcome.memory.expect("an estimate");
    assert!(estimate.planned && outcome.checked.is_some());
    assert_eq!(estimate.limit, Some(Limit { bytes: LARGEST_LIMIT, source: LimitSource::AnyMachine }));
}
