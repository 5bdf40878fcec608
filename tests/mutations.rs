//! Feeds seeded mutations of four specs (a tabular, a convolutional and a recurrent model, in both forms) to both
//! front ends, the lowering, the data schema, the checker and its memory estimate, and renders every diagnostic:
//! nothing may panic. A quarter of the mutations delete, duplicate and swap bytes and lines and insert tokens that
//! the grammars care about, so they reach deep into both parsers; the rest change numbers (sizes of layers,
//! kernels, strides and batches, now and then a huge one), swap words of a kind and insert or delete layers and
//! lines, so that many check clean with new models and shapes.
//!
//! Every mutant that checks clean goes on past the checker: its memory estimate must have planned the train step,
//! and its model is lowered and its train step, evaluate and predict graphs are compiled at batch 1 through the one
//! compile driver with every verifier on (the IR verifier after each pass, the plan verifier) to a program the JIT
//! runs; a fallback to the interpreter fails the test. Mutants are generated until [`CLEAN`] have checked clean
//! (at most [`CAP`]). Many clean mutants have the same model, so each distinct graph (keyed by its text as lowered,
//! which round-trips exactly and so determines everything compiled from it) is planned and code-generated once;
//! every clean mutant is still lowered. The mutants are examined on a few threads, in batches, so that which are
//! examined does not depend on the threads; `--nocapture` shows the counts and where the time went.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use galen::backend::{Backend, Executable};
use galen::compile::{self, Compiled, GraphKind, Settings, Until};
use galen::diagnostics::{render, Severity};
use galen::lowering::Model;
use galen::memory::Limit;
use galen::pipeline::check_spec_with;
use galen::spec::{Form, SpecFile};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How many mutants must check clean (and then compile).
const CLEAN: usize = 10_000;
/// The most mutants generated in all: reaching it before [`CLEAN`] clean ones fails the test.
const CAP: usize = 40_000;
/// The graphs of a clean mutant that are compiled.
const KINDS: [GraphKind; 3] = [GraphKind::TrainStep, GraphKind::Evaluate, GraphKind::Predict];
/// The batch size every graph is compiled for.
const BATCH: usize = 1;
/// The memory limit the checker's memory estimate is compared with: fixed, so that which mutants check clean does
/// not depend on the machine.
const MEMORY_LIMIT: u64 = 16 << 30;

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    "=",
    ",",
    "-",
    "- ",
    "\n",
    "  ",
    "\"",
    "'",
    "#",
    "&a ",
    "*a",
    "!!str ",
    "<<: ",
    "0",
    "-1",
    "1e999",
    "0.5",
    "nan",
    "true",
    "é",
    "\u{1F600}",
    "\t",
    "\r\n",
    "dense",
    "flatten",
    "units",
    "softmax",
    "sigmoid",
    "split",
    "k_fold=3",
    "column=sex",
    "shape [2, 2]",
    "conv2d 4 3",
    "lstm 4",
    "target",
    "source",
    "images=\"x\"",
    "test_file=\"nope.csv\"",
    "constant",
    "---\n",
    "null",
    "~",
    "|",
    ">",
    "%",
    "@",
    "`",
    "\\",
    "\u{0}",
];

/// Words the grammars know, by kind: a word of a kind is swapped for another of the same kind.
const WORDS: &[&[&str]] = &[
    &["linear", "relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softmax"],
    &["sgd", "adam", "adamw"],
    &["categorical_crossentropy", "binary_crossentropy", "mse", "mae", "huber"],
    &["none", "standard", "minmax", "robust"],
    &["onehot", "ordinal"],
    &["valid", "same"],
    &["clipnorm", "global_clipnorm", "clipvalue"],
    &["true", "false"],
    &["max_pool2d", "avg_pool2d"],
    &["lstm", "gru"],
    &["accuracy", "f1", "auc", "mse", "rmse", "mae", "r2", "brier", "log_loss", "confusion_matrix"],
];

/// The spec names of the layers: a line that starts with one (after YAML's `- `) is a layer.
const LAYER_NAMES: &[&str] = &[
    "dense",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "global_avg_pool2d",
    "flatten",
    "dropout",
    "batch_norm",
    "lstm",
    "gru",
    "activation",
];

/// Layers to insert into the tabular model, in the DSL.
const TABLE_DSL: &[&str] = &[
    "dense 5 relu",
    "dense units=3 activation=elu",
    "dense 2",
    "batch_norm",
    "batch_norm momentum=0.5 epsilon=0.01",
    "dropout 0.5",
    "activation leaky_relu",
];

/// Layers to insert into the tabular model, in YAML.
const TABLE_YAML: &[&str] = &[
    "- dense: {units: 5, activation: relu}",
    "- dense: {units: 3, activation: elu}",
    "- dense: 2",
    "- batch_norm",
    "- batch_norm: {momentum: 0.5, epsilon: 0.01}",
    "- dropout: 0.5",
    "- activation: leaky_relu",
];

/// Layers to insert into the convolutional model (the DSL).
const IMAGE_DSL: &[&str] = &[
    "conv2d 2 1",
    "conv2d 3 [1, 2] stride=[2, 1] padding=same",
    "conv2d filters=5 kernel=2 padding=same activation=gelu",
    "max_pool2d 1",
    "max_pool2d 2 stride=1",
    "avg_pool2d [2, 1] stride=1",
    "global_avg_pool2d",
    "batch_norm",
    "dropout 0.1",
    "activation tanh",
    "dense 4 relu",
];

/// Layers to insert into the recurrent model (YAML).
const SEQUENCE_YAML: &[&str] = &[
    "- lstm: {units: 3, return_sequences: true}",
    "- gru: {units: 2, return_sequences: true}",
    "- lstm: 2",
    "- gru: 5",
    "- dropout: 0.3",
    "- dense: {units: 3, activation: tanh}",
    "- activation: relu",
    "- flatten",
];

/// A base spec, the layers that suit its model, and what its mutants gave.
struct Base {
    path: &'static str,
    form: Form,
    layers: &'static [&'static str],
    text: String,
    mutants: usize,
    clean: usize,
}

/// The kinds of [`tweak`].
#[derive(Clone, Copy)]
enum Tweak {
    Number,
    Word,
    InsertLayer,
    DeleteLayer,
    Line,
}

/// A mutant of `base`: a quarter of the time bytes and lines deleted, duplicated, swapped, overwritten or inserted,
/// which mostly breaks the spec; otherwise one to three changes a spec could well have (numbers, words of the
/// same kind, layers), which more often keep it sound and give the compiler new models and shapes.
fn mutate(base: &Base, rng: &mut ChaCha8Rng) -> String {
    if rng.gen_range(0..4) == 0 {
        return scramble(&base.text, rng);
    }
    let mut text = base.text.clone();
    for _ in 0..rng.gen_range(1..=3) {
        let kind = match rng.gen_range(0..12) {
            0..=4 => Tweak::Number,
            5 | 6 => Tweak::Word,
            7..=9 => Tweak::InsertLayer,
            10 => Tweak::DeleteLayer,
            _ => Tweak::Line,
        };
        text = tweak(&text, base, kind, rng);
    }
    text
}

/// One change of `kind` that a spec could well have.
fn tweak(text: &str, base: &Base, kind: Tweak, rng: &mut ChaCha8Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let layers: Vec<usize> = (0..lines.len())
        .filter(|&at| {
            let line = lines[at].trim_start().trim_start_matches("- ");
            LAYER_NAMES.iter().any(|name| line.starts_with(name))
        })
        .collect();
    match kind {
        // The sizes of layers, kernels, strides and batches give new shapes.
        Tweak::Number => {
            let numbers: Vec<(usize, usize)> = spans(text, |c| c.is_ascii_digit() || c == '.')
                .into_iter()
                .filter(|&(start, _)| !text[..start].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
                .collect();
            let Some(&(start, end)) = pick(&numbers, rng) else { return text.to_string() };
            let old = &text[start..end];
            let new = if old.contains('.') {
                match rng.gen_range(0..10) {
                    0..=5 => format!("0.{}", rng.gen_range(0..100)),
                    6 => format!("{}", old.parse::<f64>().unwrap_or(1.0) * 2.0),
                    7 | 8 => format!("{}", old.parse::<f64>().unwrap_or(1.0) / 10.0),
                    _ => rng.gen_range(0..=2).to_string(),
                }
            } else {
                let old: u64 = old.parse().unwrap_or(1);
                match rng.gen_range(0..20) {
                    0 | 1 => "0".to_string(),
                    2..=11 => rng.gen_range(1..=8).to_string(),
                    12 | 13 => rng.gen_range(9..=64).to_string(),
                    14 | 15 => old.saturating_mul(2).to_string(),
                    16 => (old / 2).to_string(),
                    17 | 18 => old.saturating_add(1).to_string(),
                    // A huge size, which the memory estimate refuses (or, past every limit, the checker).
                    _ => 10u64.pow(rng.gen_range(5..=19)).to_string(),
                }
            };
            format!("{}{new}{}", &text[..start], &text[end..])
        }
        Tweak::Word => {
            let words: Vec<(usize, usize, &[&str])> = spans(text, |c| c.is_ascii_alphanumeric() || c == '_')
                .into_iter()
                .filter_map(|(start, end)| {
                    let kind = WORDS.iter().find(|kind| kind.contains(&&text[start..end]))?;
                    Some((start, end, *kind))
                })
                .collect();
            let Some(&(start, end, kind)) = pick(&words, rng) else { return text.to_string() };
            format!("{}{}{}", &text[..start], kind[rng.gen_range(0..kind.len())], &text[end..])
        }
        // One that suits the model, or a fifth of the time one from another kind of model.
        Tweak::InsertLayer => {
            let Some(&at) = pick(&layers, rng) else { return text.to_string() };
            let others = [TABLE_DSL, TABLE_YAML, IMAGE_DSL, SEQUENCE_YAML];
            let choices = if rng.gen_range(0..5) == 0 { others[rng.gen_range(0..others.len())] } else { base.layers };
            let layer = choices[rng.gen_range(0..choices.len())];
            let layer = match (base.form, layer.strip_prefix("- ")) {
                (Form::Dsl, Some(yaml)) => yaml.replace(':', "").replace(['{', '}', ','], ""),
                (Form::Yaml, None) => format!("- {layer}"),
                _ => layer.to_string(),
            };
            let indent = &lines[at][..lines[at].len() - lines[at].trim_start().len()];
            lines.insert(at + rng.gen_range(0..=1), format!("{indent}{layer}"));
            lines.join("\n") + "\n"
        }
        Tweak::DeleteLayer => {
            let Some(&at) = pick(&layers, rng) else { return text.to_string() };
            lines.remove(at);
            lines.join("\n") + "\n"
        }
        // Any line deleted or duplicated: mostly an error.
        Tweak::Line => {
            let at = rng.gen_range(0..lines.len().max(1));
            if at < lines.len() {
                if rng.gen() {
                    lines.remove(at);
                } else {
                    lines.insert(at, lines[at].clone());
                }
            }
            lines.join("\n") + "\n"
        }
    }
}

/// The byte ranges of the maximal runs of characters that `inside` accepts.
fn spans(text: &str, inside: impl Fn(char) -> bool) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut start = None;
    for (at, c) in text.char_indices().chain([(text.len(), ' ')]) {
        match (start, inside(c)) {
            (None, true) => start = Some(at),
            (Some(from), false) => {
                found.push((from, at));
                start = None;
            }
            _ => {}
        }
    }
    found
}

/// One of `items` at random.
fn pick<'a, T>(items: &'a [T], rng: &mut ChaCha8Rng) -> Option<&'a T> {
    (!items.is_empty()).then(|| &items[rng.gen_range(0..items.len())])
}

/// Bytes and lines deleted, inserted, overwritten, duplicated or swapped, and tokens the grammars care about
/// inserted: mostly a broken spec.
fn scramble(text: &str, rng: &mut ChaCha8Rng) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let at = rng.gen_range(0..=bytes.len());
        match rng.gen_range(0..6) {
            0 => {
                let end = (at + rng.gen_range(1..12)).min(bytes.len());
                bytes.drain(at..end);
            }
            1 => {
                let token = TOKENS[rng.gen_range(0..TOKENS.len())];
                bytes.splice(at..at, token.bytes());
            }
            2 => {
                if at < bytes.len() {
                    bytes[at] = rng.gen();
                }
            }
            3 => {
                let end = (at + rng.gen_range(1..40)).min(bytes.len());
                let copy: Vec<u8> = bytes[at..end].to_vec();
                let to = rng.gen_range(0..=bytes.len());
                bytes.splice(to..to, copy);
            }
            4 => {
                let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
                if lines.len() > 2 {
                    let a = rng.gen_range(0..lines.len());
                    let b = rng.gen_range(0..lines.len());
                    lines.swap(a, b);
                }
                bytes = lines.join(&b'\n');
            }
            _ => {
                let digits = rng.gen_range(0..1000).to_string();
                bytes.splice(at..at, digits.bytes());
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The distinct graphs compiled so far, shared by the threads.
#[derive(Default)]
struct Compiles {
    /// Each distinct graph's text as lowered, with its plan's peak bytes.
    graphs: HashMap<String, u64>,
    /// Graphs compiled: the distinct ones, and now and then one that two threads compiled at once.
    compiled: usize,
}

/// Where a thread's time went.
#[derive(Clone, Copy, Default)]
struct Times {
    checking: Duration,
    lowering: Duration,
    compiling: Duration,
}

/// Lowers `model`'s graphs at batch 1 and compiles each one not compiled before to a JIT program, verified; gives
/// the train step's peak bytes (its kernel plan's), or why the JIT could not take a graph.
fn compile_model(model: &Model, compiles: &Mutex<Compiles>, times: &mut Times) -> Result<u64, String> {
    let settings = Settings::verified();
    let mut train_peak = 0;
    for kind in KINDS {
        let start = Instant::now();
        let text = compile::lowered(model, kind, BATCH, settings).to_string();
        times.lowering += start.elapsed();
        let known = compiles.lock().expect("no panic holds the lock").graphs.get(&text).copied();
        let peak = match known {
            Some(peak) => peak,
            None => {
                let start = Instant::now();
                let compiled = compile::compile(model, kind, BATCH, Until::Runnable(Backend::Jit), settings);
                let peak = match &compiled {
                    Compiled::Runnable(Executable::Jit(program), None) => program.plan().peak_bytes(),
                    Compiled::Runnable(_, warning) => {
                        return Err(format!("the {kind} graph did not compile for the JIT: {warning:?}"))
                    }
                    _ => unreachable!("compiling until runnable gives an executable"),
                };
                drop(compiled);
                times.compiling += start.elapsed();
                let mut compiles = compiles.lock().expect("no panic holds the lock");
                compiles.compiled += 1;
                compiles.graphs.insert(text, peak);
                peak
            }
        };
        if kind == GraphKind::TrainStep {
            train_peak = peak;
        }
    }
    Ok(train_peak)
}

/// A caught panic: its message and where it was raised.
struct Panic {
    message: String,
    location: String,
}

thread_local! {
    /// Where the last panic on this thread was raised, as the panic hook saw it.
    static LOCATION: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Runs `work`, catching a panic. The panic hook keeps the panic's location, then prints the message (and the
/// backtrace, when asked for) as usual.
fn guarded<T>(work: impl FnOnce() -> T) -> Result<T, Panic> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let location = info.location().map_or_else(String::new, |at| at.to_string());
            LOCATION.with(|cell| *cell.borrow_mut() = location);
            default(info);
        }));
    });
    catch_unwind(AssertUnwindSafe(work)).map_err(|payload| Panic {
        message: panic_message(&*payload),
        location: LOCATION.with(|cell| cell.borrow().clone()),
    })
}

/// The message of a caught panic.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
        (Some(message), _) => message.to_string(),
        (_, Some(message)) => message.clone(),
        _ => "(a panic without a message)".to_string(),
    }
}

/// What became of a mutant.
enum Fate {
    /// The checker found errors; whether one was the memory estimate's.
    Errors { memory: bool },
    /// Checked clean and compiled: the checker's memory estimate for training, and the train step's peak at batch 1.
    Compiled { estimate: u64, peak: u64 },
    /// A failure of this test: what happened, with the mutant's text; and whether the mutant checked clean.
    Failed(String, bool),
}

/// Checks a mutant of `base`, rendering its diagnostics, and compiles it when it checks clean.
fn examine(base: &Base, text: &str, compiles: &Mutex<Compiles>, times: &mut Times) -> Fate {
    let path = base.path;
    let file = SpecFile { path: PathBuf::from(path), text: text.to_string(), form: base.form };
    let start = Instant::now();
    let checked = guarded(|| {
        let outcome = check_spec_with(file, Ok(Some(Limit::fixed(MEMORY_LIMIT))));
        render(&outcome.diagnostics.items, path, text, true);
        render(&outcome.diagnostics.items, path, text, false);
        outcome
    });
    times.checking += start.elapsed();
    let panicked = |panic: Panic, doing: &str, clean: bool| {
        let Panic { location, message } = panic;
        let failure = format!("{doing} a mutated {path} panicked at {location}: {message}\nthe input was:\n{text}");
        Fate::Failed(failure, clean)
    };
    let outcome = match checked {
        Ok(outcome) => outcome,
        Err(panic) => return panicked(panic, "checking", false),
    };
    if outcome.diagnostics.has_errors() {
        let memory = outcome
            .diagnostics
            .items
            .iter()
            .any(|item| item.severity == Severity::Error && item.code.starts_with("memory::"));
        return Fate::Errors { memory };
    }
    let (Some(lowered), Some(checked)) = (&outcome.lowered, &outcome.checked) else {
        return Fate::Failed(
            format!("a mutated {path} had no errors but no checked model; the input was:\n{text}"),
            false,
        );
    };
    match guarded(|| compile_model(&Model::new(&lowered.spec, checked), compiles, times)) {
        Ok(Ok(peak)) => match &outcome.memory {
            Some(estimate) if estimate.planned => Fate::Compiled { estimate: estimate.total(), peak },
            _ => Fate::Failed(
                format!(
                    "a mutated {path} checked clean without a planned memory estimate ({:?}); the input was:\n{text}",
                    outcome.memory
                ),
                true,
            ),
        },
        Ok(Err(why)) => Fate::Failed(format!("a mutated {path} checked clean but {why}; the input was:\n{text}"), true),
        Err(panic) => panicked(panic, "lowering or compiling", true),
    }
}

/// Mutants are generated (in order, from one seeded generator) and examined this many at a time, shared among the
/// threads; the counts are taken after each batch, so the mutants examined never depend on the threads.
const CHUNK: usize = 500;

#[test]
fn mutated_specs_never_panic_and_clean_ones_compile() {
    let started = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let mut bases: Vec<Base> = [
        ("tests/fuzz/base.galen", Form::Dsl, TABLE_DSL),
        ("tests/fuzz/base.yaml", Form::Yaml, TABLE_YAML),
        ("tests/fuzz/base_cnn.galen", Form::Dsl, IMAGE_DSL),
        ("tests/fuzz/base_rnn.yaml", Form::Yaml, SEQUENCE_YAML),
    ]
    .into_iter()
    .map(|(path, form, layers)| {
        let text = std::fs::read_to_string(path).expect("the base spec exists");
        Base { path, form, layers, text, mutants: 0, clean: 0 }
    })
    .collect();
    let threads = std::thread::available_parallelism().map_or(2, |count| count.get()).min(4);
    let compiles = Mutex::new(Compiles::default());
    let mut times = Times::default();
    let (mut total, mut clean, mut with_errors, mut too_large) = (0, 0, 0, 0);
    let (mut largest_estimate, mut largest_peak) = (0, 0);
    let mut failures: Vec<String> = Vec::new();
    while clean < CLEAN && total < CAP {
        let mutants: Vec<(usize, String)> = (total..total + CHUNK)
            .map(|index| {
                let base = index % bases.len();
                (base, mutate(&bases[base], &mut rng))
            })
            .collect();
        let next = AtomicUsize::new(0);
        let (fates, spent) = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut fates = Vec::new();
                        let mut times = Times::default();
                        loop {
                            let index = next.fetch_add(1, Ordering::Relaxed);
                            let Some((base, text)) = mutants.get(index) else { break };
                            fates.push((index, examine(&bases[*base], text, &compiles, &mut times)));
                        }
                        (fates, times)
                    })
                })
                .collect();
            let mut fates = Vec::new();
            let mut spent = Vec::new();
            for worker in workers {
                let (found, times) = worker.join().expect("a worker catches every panic");
                fates.extend(found);
                spent.push(times);
            }
            fates.sort_by_key(|(index, _)| *index);
            (fates, spent)
        });
        for spent in spent {
            times.checking += spent.checking;
            times.lowering += spent.lowering;
            times.compiling += spent.compiling;
        }
        for (index, fate) in fates {
            let base = &mut bases[mutants[index].0];
            base.mutants += 1;
            total += 1;
            let checked_clean = match fate {
                Fate::Errors { memory } => {
                    with_errors += 1;
                    too_large += usize::from(memory);
                    false
                }
                Fate::Compiled { estimate, peak } => {
                    largest_estimate = largest_estimate.max(estimate);
                    largest_peak = largest_peak.max(peak);
                    true
                }
                Fate::Failed(failure, clean) => {
                    failures.push(failure);
                    clean
                }
            };
            if checked_clean {
                clean += 1;
                base.clean += 1;
            }
        }
    }
    let compiles = compiles.into_inner().expect("no panic holds the lock");
    let per_base: Vec<String> =
        bases.iter().map(|base| format!("{} {} of {}", base.path, base.clean, base.mutants)).collect();
    println!("{total} mutants, {clean} checked clean: {}", per_base.join(", "));
    println!("{with_errors} mutants with errors, {too_large} of them refused by the memory estimate");
    println!(
        "{} distinct graphs of the {} lowered, {} compiled; the largest memory estimate {largest_estimate} bytes, the \
         largest train step peak at batch 1 {largest_peak} bytes",
        compiles.graphs.len(),
        clean * KINDS.len(),
        compiles.compiled,
    );
    println!(
        "{threads} threads spent {:.1} s checking, {:.1} s lowering, {:.1} s compiling; {:.1} s in all",
        times.checking.as_secs_f64(),
        times.lowering.as_secs_f64(),
        times.compiling.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    if let Some(first) = failures.first() {
        panic!("{} mutants failed; the first: {first}", failures.len());
    }
    assert!(
        clean >= CLEAN,
        "only {clean} of {total} mutants checked clean (the cap); the mutations break too many specs to reach {CLEAN}"
    );
    // The mutations must still break a good share of the specs, or this test would not be exercising the error paths.
    assert!(with_errors * 3 > total, "only {with_errors} of {total} mutants had errors");
}
