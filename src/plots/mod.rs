//! The run directory's plots, drawn as SVG documents with plotters: learning curves, ROC curves, a calibration
//! curve and a confusion matrix.
//!
//! Every function is pure: it takes the numbers and returns the whole SVG document as a `String`, and the caller
//! writes the file (atomically). The same input always gives the same bytes. Values that cannot be drawn (NaN,
//! infinities, probabilities outside 0..1) are skipped; input with nothing left to draw gives a valid SVG that says
//! there is no data, never an error. An `Err` carries plotters' own failure, or a confusion matrix whose counts do
//! not match its classes.
//!
//! The SVG backend writes `<text>` elements and leaves the font to the viewer, so plotters is built without its
//! font features: text is measured by a built-in estimate, which needs no font files on the machine.
//!
//! ```
//! use galen::plots::{roc_curve, RocSeries};
//!
//! let series = RocSeries { label: "malignant".to_string(), points: vec![(0.0, 0.0), (0.1, 0.8), (1.0, 1.0)], auc: Some(0.85) };
//! let svg = roc_curve("ROC curve (test set)", &[series]).unwrap();
//! assert!(svg.starts_with("<svg"));
//! assert!(svg.contains("malignant (AUC 0.850)"));
//! ```

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

mod calibration;
mod confusion;
mod learning;
mod roc;

pub use calibration::{calibration_curve, CalibrationBin};
pub use confusion::confusion_matrix;
pub use learning::{learning_curves, EpochPoint};
pub use roc::{roc_curve, RocSeries};

/// Width and height of every plot, in pixels.
const SIZE: (u32, u32) = (800, 600);

/// The font family written into the SVG; the viewer picks the actual font.
const FONT: &str = "sans-serif";

/// Text sizes in plotters' units (the SVG backend writes `size / 1.24` as the CSS font size).
const TITLE_SIZE: f64 = 26.0;
const AXIS_DESCRIPTION_SIZE: f64 = 19.0;
const TICK_LABEL_SIZE: f64 = 16.0;
const LEGEND_SIZE: f64 = 16.0;
const NOTE_SIZE: f64 = 20.0;

/// Okabe–Ito colours, distinguishable with the common colour-vision deficiencies. Yellow is left out: it is too
/// pale to read as a thin line on white.
const PALETTE: [RGBColor; 6] = [
    RGBColor(0x00, 0x72, 0xB2), // blue
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0x00, 0x9E, 0x73), // bluish green
    RGBColor(0xCC, 0x79, 0xA7), // reddish purple
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0x56, 0xB4, 0xE9), // sky blue
];

/// Reference lines (chance, perfect calibration, best epoch) are grey or black so they never compete with the data.
const REFERENCE_GREY: RGBColor = RGBColor(0x80, 0x80, 0x80);

/// The colour of the `index`th data series; colours repeat after the palette runs out.
fn series_colour(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// Values beyond this magnitude are drawn at it, so that an axis span (and its padding) stays a finite number.
const LARGEST_DRAWN: f64 = 1e300;

/// The SVG backend's drawing area, the one kind of area every plot draws on.
type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draws one plot onto a fresh white SVG canvas and returns the finished document.
fn render_svg(draw: impl for<'a> FnOnce(&Area<'a>) -> Result<(), String>) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(drawing_error)?;
        draw(&root)?;
        root.present().map_err(drawing_error)?;
    }
    Ok(svg)
}

/// A chart of probabilities against probabilities on the unit square (widened by `edge` so that markers at 0 and
/// 1 are drawn whole), with its mesh, the axis descriptions and the dashed diagonal labelled `diagonal` in the
/// legend: the frame of the ROC and calibration plots.
fn unit_square<'a>(
    area: &Area<'a>,
    edge: f64,
    x_desc: &str,
    y_desc: &str,
    diagonal: &str,
) -> Result<ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>, String> {
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .margin_right(28)
        .x_label_area_size(56)
        .y_label_area_size(78)
        .build_cartesian_2d(-edge..1.0 + edge, -edge..1.0 + edge)
        .map_err(drawing_error)?;
    let probability_label = tick_formatter(0.0, 1.0);
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_labels(11)
        .y_labels(11)
        .x_label_formatter(&probability_label)
        .y_label_formatter(&probability_label)
        .label_style(tick_label_style())
        .axis_desc_style(axis_description_style())
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(drawing_error)?;
    let style = REFERENCE_GREY.stroke_width(1);
    chart
        .draw_series(DashedLineSeries::new(vec![(0.0, 0.0), (1.0, 1.0)], 6, 4, style))
        .map_err(drawing_error)?
        .label(diagonal)
        .legend(move |(x, y)| {
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (9, 0)], style)
                + PathElement::new(vec![(15, 0), (24, 0)], style)
        });
    Ok(chart)
}

/// Draws a chart's legend box at `position`, over a white background of the given opacity.
fn draw_legend<'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, CT>,
    position: SeriesLabelPosition,
    background: f64,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .margin(10)
        .legend_area_size(32)
        .label_font(legend_style())
        .background_style(WHITE.mix(background))
        .border_style(BLACK.mix(0.4))
        .draw()
        .map_err(drawing_error)
}

/// The error text for a plotters failure.
fn drawing_error<E: std::error::Error + Send + Sync>(error: DrawingAreaErrorKind<E>) -> String {
    format!("plotters could not draw the plot: {error}")
}

/// Writes the title across the top of the canvas and returns the area below it.
fn titled<'a>(root: &Area<'a>, title: &str) -> Result<Area<'a>, String> {
    let area = root.margin(8, 0, 0, 0);
    area.titled(title, (FONT, TITLE_SIZE).into_font().style(FontStyle::Bold)).map_err(drawing_error)
}

/// A plot with nothing to draw: the title and a centred note saying why.
fn no_data_svg(title: &str, note: &str) -> Result<String, String> {
    render_svg(|root| {
        let area = titled(root, title)?;
        let (width, height) = area.dim_in_pixel();
        let style = TextStyle::from((FONT, NOTE_SIZE).into_font())
            .color(&REFERENCE_GREY)
            .pos(Pos::new(HPos::Center, VPos::Center));
        area.draw_text(&format!("No data to plot: {note}"), &style, (width as i32 / 2, height as i32 / 2))
            .map_err(drawing_error)
    })
}

/// The style of tick labels.
fn tick_label_style() -> TextStyle<'static> {
    (FONT, TICK_LABEL_SIZE).into_font().into()
}

/// The style of axis descriptions.
fn axis_description_style() -> TextStyle<'static> {
    (FONT, AXIS_DESCRIPTION_SIZE).into_font().into()
}

/// The style of legend entries.
fn legend_style() -> TextStyle<'static> {
    (FONT, LEGEND_SIZE).into_font().into()
}

/// A value that can be placed on an axis: finite, and no larger than [`LARGEST_DRAWN`].
fn drawable(value: f64) -> Option<f64> {
    value.is_finite().then(|| value.clamp(-LARGEST_DRAWN, LARGEST_DRAWN))
}

/// A probability that can be drawn: finite and within 0..1, allowing for rounding just outside it.
fn drawable_probability(value: f64) -> Option<f64> {
    const ROUNDING: f64 = 1e-9;
    (value.is_finite() && (-ROUNDING..=1.0 + ROUNDING).contains(&value)).then(|| value.clamp(0.0, 1.0))
}

/// The shown range of an axis holding `values`: their span with 5% padding on each side, kept within `bounds` when
/// given. The result is always finite with `low < high`, whatever the values: none, one, all equal, huge or tiny.
fn padded_range(values: impl IntoIterator<Item = f64>, bounds: Option<(f64, f64)>) -> (f64, f64) {
    let (bound_low, bound_high) = bounds.unwrap_or((-LARGEST_DRAWN, LARGEST_DRAWN));
    let mut extent: Option<(f64, f64)> = None;
    for value in values.into_iter().filter_map(drawable) {
        let value = value.clamp(bound_low, bound_high);
        extent = Some(match extent {
            None => (value, value),
            Some((low, high)) => (low.min(value), high.max(value)),
        });
    }
    let Some((low, high)) = extent else {
        return bounds.unwrap_or((0.0, 1.0));
    };
    let magnitude = low.abs().max(high.abs());
    // A span too small to tell apart from rounding is widened around the values, so ticks stay distinct.
    let padding = if high - low > magnitude * 1e-9 {
        (high - low) * 0.05
    } else if magnitude > 0.0 {
        magnitude * 0.1
    } else {
        1.0
    };
    let shown = ((low - padding).max(bound_low), (high + padding).min(bound_high));
    if shown.0 < shown.1 {
        shown
    } else {
        (bound_low, bound_high)
    }
}

/// Formats tick labels of an axis showing `low..high` with as many decimals as the tick spacing needs, and in
/// scientific notation for very large or very small values. Minus zero is written as `0`.
fn tick_formatter(low: f64, high: f64) -> impl Fn(&f64) -> String {
    let tick_spacing = (high - low) / 10.0;
    let magnitude = low.abs().max(high.abs());
    let scientific = magnitude >= 1e6 || (magnitude > 0.0 && magnitude < 1e-3);
    let decimals = if tick_spacing > 0.0 && tick_spacing.is_finite() {
        (-libm::log10(tick_spacing).floor()).clamp(0.0, 6.0) as usize
    } else {
        2
    };
    move |value: &f64| {
        let value = if value.abs() <= tick_spacing.abs() * 1e-6 { 0.0 } else { *value };
        if scientific && value != 0.0 {
            format!("{value:.2e}")
        } else {
            format!("{value:.decimals$}")
        }
    }
}

/// Shortens `text` to at most `max_chars` characters, ending in an ellipsis when it was cut.
fn shortened(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let kept: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    format!("{kept}…")
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Checks shared by the plot tests.

    /// Asserts that `svg` is one well-formed SVG element: it starts with `<svg`, ends with `</svg>`, every tag is
    /// closed in order, and no stray `<`, `>` or `&` appears in text or attribute values.
    pub fn assert_well_formed(svg: &str) {
        assert!(svg.starts_with("<svg"), "does not start with <svg: {}", &svg[..svg.len().min(80)]);
        assert!(svg.trim_end().ends_with("</svg>"), "does not end with </svg>");
        let mut open_tags: Vec<&str> = Vec::new();
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            let text = &rest[..start];
            assert_no_stray_markup(text);
            let end = rest[start..].find('>').expect("an unclosed '<'") + start;
            let tag = &rest[start + 1..end];
            assert!(!tag.contains('<'), "a '<' inside a tag: {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(open_tags.pop(), Some(name), "mismatched closing tag </{name}>");
            } else {
                let name = tag.split_whitespace().next().expect("an empty tag");
                let attributes = &tag[name.len()..];
                assert_eq!(attributes.matches('"').count() % 2, 0, "unbalanced quotes in <{tag}>");
                assert_no_stray_markup(attributes.trim_end_matches('/'));
                if !tag.ends_with('/') {
                    open_tags.push(name);
                }
            }
            rest = &rest[end + 1..];
            if open_tags.is_empty() {
                assert!(rest.trim().is_empty(), "content after the closing </svg>");
            }
        }
        assert!(open_tags.is_empty(), "unclosed tags: {open_tags:?}");
    }

    /// Asserts that `text` has no markup characters and only known entities.
    fn assert_no_stray_markup(text: &str) {
        assert!(!text.contains('>'), "a stray '>' in {text:?}");
        for (index, _) in text.match_indices('&') {
            let entity = &text[index..];
            assert!(
                ["&lt;", "&gt;", "&amp;", "&quot;", "&apos;"].iter().any(|known| entity.starts_with(known)),
                "an unescaped '&' in {text:?}"
            );
        }
    }

    /// The text content of every `<text>` element, trimmed, in document order.
    pub fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|piece| {
                let body = &piece[piece.find('>')? + 1..];
                Some(body[..body.find("</text>")?].trim().to_string())
            })
            .collect()
    }

    /// Asserts that some `<text>` element of `svg` reads exactly `expected` (after XML escaping).
    pub fn assert_has_text(svg: &str, expected: &str) {
        let all = texts(svg);
        assert!(all.iter().any(|text| text == expected), "no text {expected:?} among {all:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::assert_well_formed;
    use super::*;

    #[test]
    fn padded_range_is_finite_and_increasing_for_any_values() {
        let cases: Vec<Vec<f64>> = vec![
            vec![],
            vec![f64::NAN],
            vec![0.0],
            vec![0.5],
            vec![-3.0, -3.0],
            vec![1e-300],
            vec![f64::MAX, -f64::MAX],
            vec![f64::INFINITY, 2.0],
            vec![1e15, 1e15 + 1.0],
        ];
        for values in cases {
            for bounds in [None, Some((0.0, 1.0))] {
                let (low, high) = padded_range(values.iter().copied(), bounds);
                assert!(low.is_finite() && high.is_finite() && low < high, "{values:?} {bounds:?} -> {low}..{high}");
            }
        }
        assert_eq!(padded_range([0.0, 1.0], Some((0.0, 1.0))), (0.0, 1.0));
        assert_eq!(padded_range([], None), (0.0, 1.0));
    }

    #[test]
    fn tick_labels_have_the_decimals_the_spacing_needs() {
        let unit = tick_formatter(0.0, 1.0);
        assert_eq!(unit(&0.2), "0.2");
        assert_eq!(unit(&-1e-17), "0.0");
        let narrow = tick_formatter(0.95, 0.99);
        assert_eq!(narrow(&0.955), "0.955");
        let wide = tick_formatter(0.0, 40.0);
        assert_eq!(wide(&35.0), "35");
        let huge = tick_formatter(0.0, 3e9);
        assert_eq!(huge(&2e9), "2.00e9");
        assert_eq!(huge(&0.0), "0");
    }

    #[test]
    fn long_names_are_shortened_with_an_ellipsis() {
        assert_eq!(shortened("malignant", 20), "malignant");
        assert_eq!(shortened("adenocarcinoma", 6), "adeno…");
        assert_eq!(shortened("x", 0), "…");
    }

    #[test]
    fn no_data_plot_is_a_valid_svg_with_a_note() {
        let svg = no_data_svg("A & B <title>", "nothing recorded").unwrap();
        assert_well_formed(&svg);
        assert!(svg.contains("A &amp; B &lt;title&gt;"));
        assert!(svg.contains("No data to plot: nothing recorded"));
    }
}
