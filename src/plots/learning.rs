//! Learning curves: training and validation loss per epoch, the validation metrics in a second panel, and the
//! epoch early stopping kept.

use plotters::prelude::*;

use super::{
    axis_description_style, draw_legend, drawable, drawing_error, no_data_svg, padded_range, render_svg, series_colour,
    tick_formatter, tick_label_style, titled, Area,
};

/// One epoch of the learning curves.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochPoint {
    /// The epoch number, as the training log counts it.
    pub epoch: usize,
    /// The mean training loss of the epoch.
    pub train_loss: f64,
    /// The validation loss after the epoch, when there is a validation split.
    pub val_loss: Option<f64>,
    /// A validation metric after the epoch: its name and value, e.g. `("accuracy", 0.97)`.
    pub val_metric: Option<(String, f64)>,
}

/// Curves with at most this many points get a marker on each point; longer curves are plain lines, where markers
/// would only blur together.
const MARKER_LIMIT: usize = 40;

/// One line of a panel.
struct Curve {
    label: String,
    colour: RGBColor,
    points: Vec<(usize, f64)>,
}

/// Draws the learning curves: a loss panel with training and validation loss and, when any epoch has a validation
/// metric, a second panel with each metric. `best_epoch`, the epoch whose weights were kept (early stopping), is
/// marked by a dashed vertical line in both panels when it lies within the epochs drawn.
pub fn learning_curves(title: &str, epochs: &[EpochPoint], best_epoch: Option<usize>) -> Result<String, String> {
    let train: Vec<(usize, f64)> =
        epochs.iter().filter_map(|point| Some((point.epoch, drawable(point.train_loss)?))).collect();
    let validation: Vec<(usize, f64)> =
        epochs.iter().filter_map(|point| Some((point.epoch, drawable(point.val_loss?)?))).collect();
    let mut loss_curves = Vec::new();
    if !train.is_empty() {
        loss_curves.push(Curve { label: "Training loss".to_string(), colour: series_colour(0), points: train });
    }
    if !validation.is_empty() {
        loss_curves.push(Curve { label: "Validation loss".to_string(), colour: series_colour(1), points: validation });
    }
    let mut metric_curves = metric_curves(epochs);
    // The log is read in epoch order even if the caller's list is not, so lines never double back.
    for curve in loss_curves.iter_mut().chain(&mut metric_curves) {
        curve.points.sort_by_key(|point| point.0);
    }
    let all_points = || loss_curves.iter().chain(&metric_curves).flat_map(|curve| curve.points.iter());
    let (Some(first_epoch), Some(last_epoch)) =
        (all_points().map(|point| point.0).min(), all_points().map(|point| point.0).max())
    else {
        return no_data_svg(title, "no epoch has a finite loss or metric");
    };
    let epoch_range = if first_epoch < last_epoch {
        (first_epoch, last_epoch)
    } else {
        (first_epoch.saturating_sub(1), last_epoch.saturating_add(1))
    };
    let best_epoch = best_epoch.filter(|best| (first_epoch..=last_epoch).contains(best));

    render_svg(|root| {
        let area = titled(root, title)?;
        if metric_curves.is_empty() {
            return draw_panel(
                &area,
                epoch_range,
                "Loss",
                None,
                &loss_curves,
                best_epoch,
                SeriesLabelPosition::UpperRight,
            );
        }
        let (_, height) = area.dim_in_pixel();
        let (loss_area, metric_area) = area.split_vertically(height / 2);
        draw_panel(&loss_area, epoch_range, "Loss", None, &loss_curves, best_epoch, SeriesLabelPosition::UpperRight)?;
        let metric_description = match metric_curves.as_slice() {
            [only] => only.label.clone(),
            _ => "Validation metric".to_string(),
        };
        // Metrics between 0 and 1 (accuracy, AUC, F1) keep their axis within that range.
        let all_unit = metric_curves.iter().flat_map(|curve| &curve.points).all(|point| (0.0..=1.0).contains(&point.1));
        let bounds = all_unit.then_some((0.0, 1.0));
        let position = SeriesLabelPosition::LowerRight;
        draw_panel(&metric_area, epoch_range, &metric_description, bounds, &metric_curves, best_epoch, position)
    })
}

/// One curve per validation metric name, in the order the names first appear.
fn metric_curves(epochs: &[EpochPoint]) -> Vec<Curve> {
    let mut curves: Vec<Curve> = Vec::new();
    for point in epochs {
        let Some((name, value)) = &point.val_metric else { continue };
        let Some(value) = drawable(*value) else { continue };
        let label = format!("Validation {name}");
        match curves.iter_mut().find(|curve| curve.label == label) {
            Some(curve) => curve.points.push((point.epoch, value)),
            None => {
                let colour = series_colour(2 + curves.len());
                curves.push(Curve { label, colour, points: vec![(point.epoch, value)] });
            }
        }
    }
    curves
}

/// Draws one panel: the curves over the epochs, the best epoch's line, and a legend.
fn draw_panel(
    area: &Area<'_>,
    (first_epoch, last_epoch): (usize, usize),
    value_description: &str,
    bounds: Option<(f64, f64)>,
    curves: &[Curve],
    best_epoch: Option<usize>,
    legend_position: SeriesLabelPosition,
) -> Result<(), String> {
    let (low, high) = padded_range(curves.iter().flat_map(|curve| curve.points.iter().map(|point| point.1)), bounds);
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .margin_right(28)
        .x_label_area_size(48)
        .y_label_area_size(78)
        .build_cartesian_2d(first_epoch..last_epoch, low..high)
        .map_err(drawing_error)?;
    let value_label = tick_formatter(low, high);
    chart
        .configure_mesh()
        .x_desc("Epoch")
        .y_desc(value_description)
        .x_labels(10)
        .y_labels(6)
        .y_label_formatter(&value_label)
        .label_style(tick_label_style())
        .axis_desc_style(axis_description_style())
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(drawing_error)?;

    for curve in curves {
        let colour = curve.colour;
        chart
            .draw_series(LineSeries::new(curve.points.iter().copied(), colour.stroke_width(2)))
            .map_err(drawing_error)?
            .label(curve.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(2)));
        if curve.points.len() <= MARKER_LIMIT {
            chart
                .draw_series(curve.points.iter().map(|&point| Circle::new(point, 3, colour.filled())))
                .map_err(drawing_error)?;
        }
    }
    if let Some(best) = best_epoch {
        let style = BLACK.stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new(vec![(best, low), (best, high)], 8, 5, style))
            .map_err(drawing_error)?
            .label(format!("Best epoch ({best})"))
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (9, 0)], style)
                    + PathElement::new(vec![(15, 0), (24, 0)], style)
            });
    }
    draw_legend(&mut chart, legend_position, 0.85)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{assert_has_text, assert_well_formed};
    use super::*;

    fn epoch(epoch: usize, train_loss: f64, val_loss: Option<f64>, accuracy: Option<f64>) -> EpochPoint {
        EpochPoint { epoch, train_loss, val_loss, val_metric: accuracy.map(|value| ("accuracy".to_string(), value)) }
    }

    fn typical_run() -> Vec<EpochPoint> {
        (1..=20)
            .map(|n| {
                let x = n as f64;
                epoch(n, 0.7 / x.sqrt(), Some(0.6 / x.sqrt() + 0.01 * x), Some(0.7 + 0.25 * (1.0 - 1.0 / x)))
            })
            .collect()
    }

    #[test]
    fn both_panels_show_their_curves_labels_and_best_epoch() {
        let svg = learning_curves("Learning curves", &typical_run(), Some(12)).unwrap();
        assert_well_formed(&svg);
        for text in ["Learning curves", "Training loss", "Validation loss", "Validation accuracy", "Best epoch (12)"] {
            assert_has_text(&svg, text);
        }
        assert_has_text(&svg, "Epoch");
        assert_has_text(&svg, "Loss");
    }

    #[test]
    fn the_same_run_gives_the_same_bytes() {
        let first = learning_curves("Learning curves", &typical_run(), Some(12)).unwrap();
        let second = learning_curves("Learning curves", &typical_run(), Some(12)).unwrap();
        assert_eq!(first, second);
    }

    #[test]
    fn without_metrics_there_is_one_panel() {
        let epochs: Vec<EpochPoint> = (0..5).map(|n| epoch(n, 1.0 / (n as f64 + 1.0), None, None)).collect();
        let svg = learning_curves("Loss only", &epochs, None).unwrap();
        assert_well_formed(&svg);
        assert_has_text(&svg, "Training loss");
        assert!(!svg.contains("Validation"));
        assert!(!svg.contains("Best epoch"));
    }

    #[test]
    fn empty_or_all_nan_runs_say_there_is_no_data() {
        for epochs in [vec![], vec![epoch(1, f64::NAN, Some(f64::INFINITY), Some(f64::NAN))]] {
            let svg = learning_curves("Nothing yet", &epochs, Some(1)).unwrap();
            assert_well_formed(&svg);
            assert!(svg.contains("No data to plot"));
        }
    }

    #[test]
    fn degenerate_runs_draw_without_panicking() {
        let cases: Vec<(Vec<EpochPoint>, Option<usize>)> = vec![
            (vec![epoch(0, 0.5, Some(0.5), Some(0.5))], Some(0)),
            (vec![epoch(usize::MAX, 0.0, None, Some(1.0))], Some(usize::MAX)),
            (vec![epoch(3, 1.0, None, None), epoch(3, 1.0, None, None)], Some(99)),
            (vec![epoch(1, f64::MAX, Some(-f64::MAX), None), epoch(2, 1e-300, Some(f64::NAN), None)], None),
            (vec![epoch(1, f64::NAN, None, Some(250.0)), epoch(2, f64::NAN, None, Some(-3.0))], None),
            (
                vec![epoch(5, 0.3, None, None), epoch(1, 0.9, None, None), epoch(3, f64::NEG_INFINITY, None, None)],
                Some(3),
            ),
        ];
        for (epochs, best) in cases {
            let svg = learning_curves("", &epochs, best).unwrap();
            assert_well_formed(&svg);
        }
    }

    #[test]
    fn each_metric_name_gets_its_own_curve() {
        let mut epochs = typical_run();
        epochs[3].val_metric = Some(("AUC".to_string(), 0.8));
        let svg = learning_curves("Two metrics", &epochs, None).unwrap();
        assert_has_text(&svg, "Validation accuracy");
        assert_has_text(&svg, "Validation AUC");
        assert_has_text(&svg, "Validation metric");
    }
}
