//! ROC curves: sensitivity against 1 − specificity for one or more classifiers or classes, with the chance line.

use plotters::prelude::*;

use super::{
    draw_legend, drawable_probability, drawing_error, no_data_svg, render_svg, series_colour, titled, unit_square,
};

/// One ROC curve: its name in the legend, its points and its area under the curve.
#[derive(Debug, Clone, PartialEq)]
pub struct RocSeries {
    /// The legend's name for the curve, e.g. the positive class or the model.
    pub label: String,
    /// The curve's points as `(false positive rate, true positive rate)`, each within 0..1.
    pub points: Vec<(f64, f64)>,
    /// The area under the curve, written in the legend when known.
    pub auc: Option<f64>,
}

/// Curves with at most this many points get a marker on each point, so a curve of one or two points is visible.
const MARKER_LIMIT: usize = 30;

/// The axes extend this far past 0 and 1, so a curve along an edge is not hidden under the axis line.
const EDGE: f64 = 0.01;

/// Draws ROC curves on 0..1 axes with the diagonal chance line, and a legend naming each curve with its AUC.
/// Points outside 0..1 or not finite are skipped; each curve is drawn in order of false positive rate.
pub fn roc_curve(title: &str, series: &[RocSeries]) -> Result<String, String> {
    let curves: Vec<(String, Vec<(f64, f64)>)> = series
        .iter()
        .map(|one| (legend_label(one), drawable_points(&one.points)))
        .filter(|(_, points)| !points.is_empty())
        .collect();
    if curves.is_empty() {
        return no_data_svg(title, "no ROC curve has a point within 0..1");
    }
    render_svg(|root| {
        let area = titled(root, title)?;
        let mut chart = unit_square(
            &area,
            EDGE,
            "1 − specificity (false positive rate)",
            "Sensitivity (true positive rate)",
            "Chance (AUC 0.5)",
        )?;
        for (index, (label, points)) in curves.iter().enumerate() {
            let colour = series_colour(index);
            chart
                .draw_series(LineSeries::new(points.iter().copied(), colour.stroke_width(2)))
                .map_err(drawing_error)?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(2)));
            if points.len() <= MARKER_LIMIT {
                chart
                    .draw_series(points.iter().map(|&point| Circle::new(point, 3, colour.filled())))
                    .map_err(drawing_error)?;
            }
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight, 0.9)
    })
}

/// The legend's text for a curve: its label, with the AUC when it is a number.
fn legend_label(series: &RocSeries) -> String {
    match series.auc.filter(|auc| auc.is_finite()) {
        Some(auc) => format!("{} (AUC {auc:.3})", series.label),
        None => series.label.clone(),
    }
}

/// The points of a curve that can be drawn, ordered along the curve (by false positive rate, then true positive
/// rate), which is the order of a ROC curve's thresholds.
fn drawable_points(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut drawable: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|&(fpr, tpr)| Some((drawable_probability(fpr)?, drawable_probability(tpr)?)))
        .collect();
    drawable.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    drawable
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{assert_has_text, assert_well_formed};
    use super::*;

    fn curve(label: &str, points: Vec<(f64, f64)>, auc: Option<f64>) -> RocSeries {
        RocSeries { label: label.to_string(), points, auc }
    }

    fn smooth_curve(label: &str, power: f64) -> RocSeries {
        let points = (0..=50).map(|i| i as f64 / 50.0).map(|fpr| (fpr, libm::pow(fpr, power))).collect();
        curve(label, points, Some(1.0 / (1.0 + power)))
    }

    #[test]
    fn curves_legend_and_axes_are_labelled() {
        let series = [smooth_curve("Malignant", 0.2), smooth_curve("Benign & <other>", 0.5)];
        let svg = roc_curve("ROC curve (test set)", &series).unwrap();
        assert_well_formed(&svg);
        assert_has_text(&svg, "ROC curve (test set)");
        assert_has_text(&svg, "Malignant (AUC 0.833)");
        assert_has_text(&svg, "Benign &amp; &lt;other&gt; (AUC 0.667)");
        assert_has_text(&svg, "Chance (AUC 0.5)");
        assert_has_text(&svg, "1 − specificity (false positive rate)");
        assert_has_text(&svg, "Sensitivity (true positive rate)");
    }

    #[test]
    fn the_same_curves_give_the_same_bytes() {
        let series = [smooth_curve("a", 0.3)];
        assert_eq!(roc_curve("ROC", &series).unwrap(), roc_curve("ROC", &series).unwrap());
    }

    #[test]
    fn no_drawable_point_says_there_is_no_data() {
        let cases = [vec![], vec![curve("a", vec![], None)], vec![curve("a", vec![(f64::NAN, 0.5), (2.0, 0.5)], None)]];
        for series in cases {
            let svg = roc_curve("ROC", &series).unwrap();
            assert_well_formed(&svg);
            assert!(svg.contains("No data to plot"));
        }
    }

    #[test]
    fn degenerate_curves_draw_without_panicking() {
        let series = [
            curve("one point", vec![(0.5, 0.5)], Some(f64::NAN)),
            curve("unsorted", vec![(1.0, 1.0), (0.0, 0.0), (0.2, f64::INFINITY), (0.3, 0.9)], None),
            curve("", vec![(-0.0, 1.0 + 1e-12)], Some(1.0)),
        ];
        let svg = roc_curve("", &series).unwrap();
        assert_well_formed(&svg);
        assert_has_text(&svg, "one point");
        assert_has_text(&svg, "unsorted");
    }

    #[test]
    fn points_are_ordered_along_the_curve_and_invalid_ones_skipped() {
        let points = [(1.0, 1.0), (0.5, f64::NAN), (0.0, 0.0), (0.2, 0.9), (0.2, 0.6), (1.5, 1.0)];
        assert_eq!(drawable_points(&points), vec![(0.0, 0.0), (0.2, 0.6), (0.2, 0.9), (1.0, 1.0)]);
    }
}
