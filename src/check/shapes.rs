//! Shape inference through every layer of DESIGN.md, with the number of parameters of each layer.

use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::spec::ast::{Layer, Padding, Spanned};

/// One row of the model summary.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSummary {
    /// The layer's spec name.
    pub kind: &'static str,
    /// The output shape without the batch axis.
    pub output: Vec<usize>,
    /// All parameters, trainable or not.
    pub params: usize,
    /// Parameters updated by the optimizer (batch norm's running statistics are not).
    pub trainable: usize,
}

/// Infers the output shape of every layer from the input shape. Stops at the first layer whose input does not
/// fit, since every later shape would be wrong too; that layer's error says how to fix it.
pub fn infer(input: &[usize], layers: &[Spanned<Layer>], diagnostics: &mut Diagnostics) -> Option<Vec<LayerSummary>> {
    let mut shape = input.to_vec();
    let mut summaries = Vec::with_capacity(layers.len());
    let mut previous = "the input";
    let mut total = 0usize;
    for layer in layers {
        let summary = layer_shape(&shape, &layer.value, previous).and_then(|summary| {
            total = total.checked_add(summary.params).ok_or_else(|| {
                let approximate = summaries.iter().map(|layer: &LayerSummary| layer.params as f64).sum::<f64>()
                    + summary.params as f64;
                too_large(
                    layer.value.name(),
                    "the model's parameter count, up to this layer,",
                    approximate,
                    "parameters",
                )
            })?;
            Ok(summary)
        });
        let summary = match summary {
            Ok(summary) => summary,
            Err(diagnostic) => {
                diagnostics.push(diagnostic.at(layer.span));
                return None;
            }
        };
        shape = summary.output.clone();
        previous = layer.value.name();
        summaries.push(summary);
    }
    Some(summaries)
}

/// A shape as the summary writes it: `(8, 8, 1)`.
pub fn format_shape(shape: &[usize]) -> String {
    let sizes: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("({})", sizes.join(", "))
}

fn layer_shape(input: &[usize], layer: &Layer, previous: &str) -> Result<LayerSummary, Diagnostic> {
    let kind = layer.name();
    // Every count is checked: a wrapped count would pass the checker and fail far later (issue 14).
    let count = |terms: &[&[usize]], what: &str, unit: &str| count(kind, terms, what, unit);
    let summary = |output: Vec<usize>, params: usize| -> Result<LayerSummary, Diagnostic> {
        count(&[&output], "the output of one row", "values")?;
        Ok(LayerSummary { kind, output, params, trainable: params })
    };
    match layer {
        Layer::Dense { units, .. } => {
            let [features] = *flat(input, kind, previous)?;
            let units = units.value;
            summary(vec![units], count(&[&[features, units], &[units]], "this layer's parameter count", "parameters")?)
        }
        Layer::Conv2d { filters, kernel, stride, padding, .. } => {
            let [height, width, channels] = *image(input, kind, previous)?;
            let out_height = window(height, kernel.value[0], stride.value[0], padding.value, kind, "height")?;
            let out_width = window(width, kernel.value[1], stride.value[1], padding.value, kind, "width")?;
            let weights = [kernel.value[0], kernel.value[1], channels, filters.value];
            let params = count(&[&weights, &[filters.value]], "this layer's parameter count", "parameters")?;
            summary(vec![out_height, out_width, filters.value], params)
        }
        Layer::MaxPool2d { size, stride } | Layer::AvgPool2d { size, stride } => {
            let [height, width, channels] = *image(input, kind, previous)?;
            let out_height = window(height, size.value[0], stride.value[0], Padding::Valid, kind, "height")?;
            let out_width = window(width, size.value[1], stride.value[1], Padding::Valid, kind, "width")?;
            summary(vec![out_height, out_width, channels], 0)
        }
        Layer::GlobalAvgPool2d => {
            let [_, _, channels] = *image(input, kind, previous)?;
            summary(vec![channels], 0)
        }
        Layer::Flatten => summary(vec![count(&[input], "the flattened row", "values")?], 0),
        Layer::Dropout { .. } | Layer::Activation { .. } => summary(input.to_vec(), 0),
        Layer::BatchNorm { .. } => {
            let channels = input.last().copied().unwrap_or(1);
            // Scale and offset are trained; the running mean and variance are not (Keras counts all four).
            let params = count(&[&[4, channels]], "this layer's parameter count", "parameters")?;
            Ok(LayerSummary { kind, output: input.to_vec(), params, trainable: params / 2 })
        }
        Layer::Lstm { units, return_sequences } | Layer::Gru { units, return_sequences } => {
            let [steps, features] = *sequence(input, kind, previous)?;
            let units = units.value;
            // LSTM: four gates, each with input and recurrent kernels and a bias. GRU as Keras builds it by
            // default (reset_after): three gates with separate input and recurrent biases.
            let terms: [&[usize]; 3] = match layer {
                Layer::Lstm { .. } => [&[4, features, units], &[4, units, units], &[4, units]],
                _ => [&[3, features, units], &[3, units, units], &[6, units]],
            };
            let params = count(&terms, "this layer's parameter count", "parameters")?;
            let output = if return_sequences.value { vec![steps, units] } else { vec![units] };
            summary(output, params)
        }
    }
}

/// A sum of products of sizes (`[[a, b], [c]]` is `a·b + c`), or a `shape::too_large` error when it does not fit in
/// 64 bits, which gives the size it would have.
fn count(kind: &str, terms: &[&[usize]], what: &str, unit: &str) -> Result<usize, Diagnostic> {
    let exact = terms.iter().try_fold(0usize, |sum, factors| {
        let product = factors.iter().try_fold(1usize, |product, &factor| product.checked_mul(factor))?;
        sum.checked_add(product)
    });
    exact.ok_or_else(|| {
        let approximate: f64 =
            terms.iter().map(|factors| factors.iter().map(|&factor| factor as f64).product::<f64>()).sum();
        too_large(kind, what, approximate, unit)
    })
}

/// The error for a count too large to hold: `what` would be about `approximate` `unit`.
fn too_large(kind: &str, what: &str, approximate: f64, unit: &str) -> Diagnostic {
    let bytes = if unit == "parameters" || unit == "values" {
        format!(" ({} as 32-bit floats)", crate::allocation::format_bytes_f64(approximate * 4.0))
    } else {
        String::new()
    };
    Diagnostic::error(
        "shape::too_large",
        format!("{what} is too large to count: about {approximate:.2e} {unit}{bytes}, more than 2^64"),
    )
    .with_label(format!("this `{kind}` is far too large for any machine"))
    .with_help(match kind {
        "dense" | "lstm" | "gru" => {
            "use fewer units: hidden layers of tabular models rarely need more than a few thousand"
        }
        "conv2d" => "use fewer filters or a smaller kernel",
        _ => "use smaller layers before this one, or smaller images",
    })
}

fn flat<'a>(input: &'a [usize], kind: &str, previous: &str) -> Result<&'a [usize; 1], Diagnostic> {
    input.try_into().map_err(|_| {
        Diagnostic::error(
            "shape::needs_flatten",
            format!("`{kind}` takes a flat input but gets {} from {}", format_shape(input), describe(previous)),
        )
        .with_label(format!("input is {}", format_shape(input)))
        .with_help(format!("add `flatten` (or `global_avg_pool2d` after convolutions) before this `{kind}`"))
    })
}

fn image<'a>(input: &'a [usize], kind: &str, previous: &str) -> Result<&'a [usize; 3], Diagnostic> {
    input.try_into().map_err(|_| {
        let help = if previous == "the input" {
            "give each row an image shape with `data.shape`, for example `shape [8, 8, 1]` for 64 pixel columns"
                .to_string()
        } else {
            format!(
                "`{kind}` works on images (height, width, channels); it cannot follow a layer with output {}",
                format_shape(input)
            )
        };
        Diagnostic::error(
            "shape::needs_image",
            format!(
                "`{kind}` needs an image input (height, width, channels) but gets {} from {}",
                format_shape(input),
                describe(previous)
            ),
        )
        .with_label(format!("input is {}", format_shape(input)))
        .with_help(help)
    })
}

fn sequence<'a>(input: &'a [usize], kind: &str, previous: &str) -> Result<&'a [usize; 2], Diagnostic> {
    input.try_into().map_err(|_| {
        let help = if previous == "the input" {
            "give each row a sequence shape with `data.shape`, for example `shape [180, 1]` for 180 steps of one value".to_string()
        } else if matches!(previous, "lstm" | "gru") {
            format!("the `{previous}` before it passes on only its last step, of shape {}; turn on its `return_sequences` so that it passes on every step", format_shape(input))
        } else {
            format!("`{kind}` reads a sequence (steps, features) and cannot follow a `{previous}` with output {}; put the recurrent layers first", format_shape(input))
        };
        Diagnostic::error("shape::needs_sequence", format!("`{kind}` needs a sequence input (steps, features) but gets {} from {}", format_shape(input), describe(previous)))
            .with_label(format!("input is {}", format_shape(input)))
            .with_help(help)
    })
}

/// Output size of a sliding window along one axis.
fn window(
    size: usize,
    kernel: usize,
    stride: usize,
    padding: Padding,
    kind: &str,
    axis: &str,
) -> Result<usize, Diagnostic> {
    match padding {
        // Keras accepts it, but every kernel position past the input reads only padding, and im2col makes a slice
        // per position: a kernel of 3573 on 6 pixels would lower to millions of nodes for nothing.
        Padding::Same if kernel > size => Err(Diagnostic::error(
            "shape::window_too_large",
            format!("the `{kind}` window ({kernel}) is larger than the input {axis} ({size})"),
        )
        .with_label(format!("{axis} is only {size} here"))
        .with_help(format!(
            "use a kernel of at most {size}: with `same` padding, the positions past the input see only zeros"
        ))),
        Padding::Same => Ok(size.div_ceil(stride)),
        Padding::Valid if kernel <= size => Ok((size - kernel) / stride + 1),
        Padding::Valid => {
            let help = if kind == "conv2d" {
                format!("use a kernel of at most {size}, or `same` padding, which keeps the {axis}")
            } else {
                format!("use a pooling size of at most {size}, or fewer pooling layers before this one")
            };
            Err(Diagnostic::error(
                "shape::window_too_large",
                format!("the `{kind}` window ({kernel}) is larger than the input {axis} ({size})"),
            )
            .with_label(format!("{axis} is only {size} here"))
            .with_help(help))
        }
    }
}

fn describe(previous: &str) -> String {
    if previous == "the input" {
        "the input data".to_string()
    } else {
        format!("the `{previous}` before it")
    }
}
