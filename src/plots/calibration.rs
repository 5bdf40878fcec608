//! The calibration curve: in bins of predicted probability, the observed proportion of positives against the mean
//! prediction, beside the diagonal of perfect calibration.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    draw_legend, drawable_probability, drawing_error, no_data_svg, render_svg, series_colour, titled, unit_square, FONT,
};

/// One bin of predicted probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationBin {
    /// The mean predicted probability of the cases in the bin.
    pub mean_predicted: f64,
    /// The proportion of the bin's cases that were positive.
    pub observed: f64,
    /// How many cases fell in the bin.
    pub count: usize,
}

/// Marker radii, in pixels, of the smallest and the largest bin.
const SMALLEST_RADIUS: f64 = 4.0;
const LARGEST_RADIUS: f64 = 13.0;

/// Text size of the count above each marker, in plotters' units.
const COUNT_SIZE: f64 = 14.0;

/// Bins observed above this proportion have their count written below their marker.
const TOP_LABEL_LIMIT: f64 = 0.85;

/// The axes extend this far past 0 and 1, so markers at the edges are drawn whole.
const EDGE: f64 = 0.03;

/// Draws the calibration curve: each bin's observed proportion against its mean prediction, joined in order of
/// prediction, with the marker's area proportional to the bin's count and the count written above it, and the
/// diagonal of perfect calibration. Bins that are empty or whose values are not probabilities are skipped.
pub fn calibration_curve(title: &str, bins: &[CalibrationBin]) -> Result<String, String> {
    let mut points: Vec<(f64, f64, usize)> = bins
        .iter()
        .filter(|bin| bin.count > 0)
        .filter_map(|bin| {
            Some((drawable_probability(bin.mean_predicted)?, drawable_probability(bin.observed)?, bin.count))
        })
        .collect();
    if points.is_empty() {
        return no_data_svg(title, "no bin has cases and probabilities within 0..1");
    }
    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let largest_count = points.iter().map(|point| point.2).max().unwrap_or(1) as f64;

    render_svg(|root| {
        let area = titled(root, title)?;
        let mut chart = unit_square(
            &area,
            EDGE,
            "Predicted probability (mean in bin)",
            "Observed proportion of positives",
            "Perfect calibration",
        )?;

        let colour = series_colour(0);
        chart
            .draw_series(LineSeries::new(points.iter().map(|point| (point.0, point.1)), colour.stroke_width(2)))
            .map_err(drawing_error)?
            .label("Model (marker area: cases in bin)")
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (24, 0)], colour.stroke_width(2))
                    + Circle::new((12, 0), 4, colour.filled())
            });
        let marker_radii: Vec<i32> = points.iter().map(|point| marker_radius(point.2 as f64 / largest_count)).collect();
        chart
            .draw_series(points.iter().zip(&marker_radii).map(|(&(predicted, observed, _), &radius)| {
                EmptyElement::at((predicted, observed))
                    + Circle::new((0, 0), radius, colour.mix(0.6).filled())
                    + Circle::new((0, 0), radius, colour.stroke_width(1))
            }))
            .map_err(drawing_error)?;
        // The counts go on after every marker, so no neighbouring marker covers one.
        let count_font = TextStyle::from((FONT, COUNT_SIZE).into_font());
        chart
            .draw_series(points.iter().zip(&marker_radii).map(|(&(predicted, observed, count), &radius)| {
                let label = CountLabel::new(count, radius, observed);
                EmptyElement::at((predicted, observed))
                    + Rectangle::new(label.background, WHITE.mix(0.8).filled())
                    + Text::new(label.text, label.anchor, count_font.pos(label.pos))
            }))
            .map_err(drawing_error)?;

        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, 0.9)
    })
}

/// The count written by a bin's marker, on a pale box so that lines under it do not hide it: above and to the
/// left, off the curve's usual rise from lower left to upper right; near the top of the plot, where text above
/// would run into the title, below and to the right. Positions are in pixels from the marker's centre.
struct CountLabel {
    text: String,
    anchor: (i32, i32),
    pos: Pos,
    background: [(i32, i32); 2],
}

impl CountLabel {
    fn new(count: usize, radius: i32, observed: f64) -> CountLabel {
        let text = format!("n={count}");
        // About 0.62 em per character at the SVG font size, which is plotters' size / 1.24.
        let width = (text.chars().count() as f64 * 0.62 * COUNT_SIZE / 1.24).ceil() as i32;
        let offset = (f64::from(radius) * 0.7).round() as i32 + 2;
        if observed > TOP_LABEL_LIMIT {
            let (x, y) = (offset, offset);
            let background = [(x - 2, y - 1), (x + width + 2, y + 12)];
            CountLabel { text, anchor: (x, y), pos: Pos::new(HPos::Left, VPos::Top), background }
        } else {
            let (x, y) = (-offset, -offset);
            let background = [(x - width - 2, y - 13), (x + 2, y + 1)];
            CountLabel { text, anchor: (x, y), pos: Pos::new(HPos::Right, VPos::Bottom), background }
        }
    }
}

/// The radius of a bin's marker, in pixels, for its share of the largest bin's count: the area grows with the
/// count.
fn marker_radius(share_of_largest: f64) -> i32 {
    let share = if share_of_largest.is_finite() { share_of_largest.clamp(0.0, 1.0) } else { 0.0 };
    (SMALLEST_RADIUS + (LARGEST_RADIUS - SMALLEST_RADIUS) * share.sqrt()).round() as i32
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{assert_has_text, assert_well_formed};
    use super::*;

    fn bin(mean_predicted: f64, observed: f64, count: usize) -> CalibrationBin {
        CalibrationBin { mean_predicted, observed, count }
    }

    fn ten_bins() -> Vec<CalibrationBin> {
        (0..10)
            .map(|i| {
                let predicted = 0.05 + 0.1 * i as f64;
                bin(predicted, (predicted * 0.9 + 0.03).min(1.0), 200 / (i + 1))
            })
            .collect()
    }

    #[test]
    fn curve_diagonal_counts_and_axes_are_labelled() {
        let svg = calibration_curve("Calibration (test set)", &ten_bins()).unwrap();
        assert_well_formed(&svg);
        assert_has_text(&svg, "Calibration (test set)");
        assert_has_text(&svg, "Perfect calibration");
        assert_has_text(&svg, "Model (marker area: cases in bin)");
        assert_has_text(&svg, "Predicted probability (mean in bin)");
        assert_has_text(&svg, "Observed proportion of positives");
        assert_has_text(&svg, "n=200");
        assert_has_text(&svg, "n=20");
    }

    #[test]
    fn the_same_bins_give_the_same_bytes() {
        assert_eq!(calibration_curve("C", &ten_bins()).unwrap(), calibration_curve("C", &ten_bins()).unwrap());
    }

    #[test]
    fn no_drawable_bin_says_there_is_no_data() {
        for bins in [vec![], vec![bin(0.5, 0.5, 0)], vec![bin(f64::NAN, 0.5, 3), bin(0.5, 7.0, 3)]] {
            let svg = calibration_curve("C", &bins).unwrap();
            assert_well_formed(&svg);
            assert!(svg.contains("No data to plot"));
        }
    }

    #[test]
    fn degenerate_bins_draw_without_panicking() {
        let cases = [
            vec![bin(0.5, 0.5, 1)],
            vec![bin(1.0, 0.0, usize::MAX), bin(0.0, 1.0, 1), bin(0.3, f64::NEG_INFINITY, 9)],
            vec![bin(0.2, 0.2, 5), bin(0.2, 0.2, 5)],
        ];
        for bins in cases {
            let svg = calibration_curve("", &bins).unwrap();
            assert_well_formed(&svg);
        }
    }

    #[test]
    fn marker_area_grows_with_the_count() {
        assert_eq!(marker_radius(0.0), 4);
        assert_eq!(marker_radius(1.0), 13);
        assert!(marker_radius(0.25) < marker_radius(0.5));
        assert_eq!(marker_radius(f64::NAN), 4);
    }
}
