//! The confusion matrix as a heat map: true classes in rows, predicted classes in columns, each cell shaded by its
//! share of the true class's cases and labelled with its count.
//!
//! The grid is laid out in pixels rather than through a chart's axes, so that every class name sits exactly
//! beside its row or under its column.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{drawing_error, no_data_svg, render_svg, shortened, titled, Area, FONT, PALETTE, TICK_LABEL_SIZE};

/// The colour of a cell holding all of its row's cases; an empty cell is white.
const FULL_SHARE: RGBColor = PALETTE[0];

/// Near-black for text on light cells, and the grid's outline.
const INK: RGBColor = RGBColor(0x20, 0x20, 0x20);
const OUTLINE: RGBColor = RGBColor(0xB0, 0xB0, 0xB0);

/// Axis description size in plotters' units.
const DESCRIPTION_SIZE: f64 = super::AXIS_DESCRIPTION_SIZE;

/// The estimated width of one character of a class name, in pixels, at [`TICK_LABEL_SIZE`].
const LABEL_CHAR_WIDTH: f64 = 7.5;

/// Class names longer than this are shortened on the labels.
const LONGEST_LABEL: usize = 24;

/// Cells narrower than this, in pixels, show only the count, not the row percentage.
const CELL_WIDTH_FOR_PERCENT: i32 = 56;

/// Draws the confusion matrix of `counts`, where `counts[t][p]` is how many cases of true class `classes[t]` were
/// predicted as `classes[p]`. Each cell is shaded by its share of its row (the true class's cases) and shows the
/// count, with the row percentage when the cell is wide enough; a colour scale explains the shading. Fails when
/// `counts` is not a square table with one row and one column per class.
pub fn confusion_matrix(title: &str, classes: &[String], counts: &[Vec<u64>]) -> Result<String, String> {
    check_shape(classes, counts)?;
    if classes.is_empty() {
        return no_data_svg(title, "the confusion matrix has no classes");
    }
    render_svg(|root| {
        let area = titled(root, title)?;
        let layout = Layout::new(area.dim_in_pixel(), classes);
        draw_cells(&area, &layout, counts)?;
        draw_class_names(&area, &layout, classes)?;
        draw_axis_descriptions(&area, &layout)?;
        draw_colour_scale(&area, &layout)
    })
}

/// Checks that `counts` has one row per class and one count per class in each row.
fn check_shape(classes: &[String], counts: &[Vec<u64>]) -> Result<(), String> {
    if counts.len() != classes.len() {
        return Err(format!("the confusion matrix has {} classes but {} rows of counts", classes.len(), counts.len()));
    }
    for (row, (class, row_counts)) in classes.iter().zip(counts).enumerate() {
        if row_counts.len() != classes.len() {
            return Err(format!(
                "the confusion matrix has {} classes but row {row} (true class {class:?}) has {} counts",
                classes.len(),
                row_counts.len()
            ));
        }
    }
    Ok(())
}

/// Where everything goes, in pixels within the area below the title.
struct Layout {
    /// The number of classes, at least one.
    classes: usize,
    /// The grid's left and top edges.
    left: i32,
    top: i32,
    /// The side of one (square) cell.
    cell: i32,
    /// The longest class label, in characters.
    label_chars: usize,
    /// Whether column labels run upwards, because the names are wider than a cell.
    columns_rotated: bool,
    /// The height of the band under the grid holding the column labels.
    column_label_band: i32,
}

/// Widths and heights of the fixed parts of the layout, in pixels. Left to right: the rotated "True class", the
/// row labels, a gap, the grid, the colour scale with its labels. Top to bottom: a gap, the grid, the column
/// labels, "Predicted class".
const DESCRIPTION_BAND: i32 = 34;
const GAP: i32 = 10;
const SCALE_BAND: i32 = 130;
const TOP_GAP: i32 = 14;
const HORIZONTAL_LABEL_BAND: i32 = 30;
const PREDICTED_DESCRIPTION_BAND: i32 = 40;

impl Layout {
    /// Fits the grid, its labels and the colour scale into an area of `(width, height)`, centred across it.
    fn new((width, height): (u32, u32), classes: &[String]) -> Layout {
        let (width, height) = (width as i32, height as i32);
        let longest_name = classes.iter().map(|class| class.chars().count()).max().unwrap_or(1).clamp(1, LONGEST_LABEL);
        let label_width = (longest_name as f64 * LABEL_CHAR_WIDTH).ceil() as i32;
        let count = classes.len().max(1) as i32;
        let side_across = width - DESCRIPTION_BAND - label_width - GAP - SCALE_BAND - 2 * GAP;
        let cell_for_band = |label_band: i32| {
            let side_down = height - TOP_GAP - label_band - PREDICTED_DESCRIPTION_BAND;
            (side_across.min(side_down) / count).max(1)
        };
        // Names that fit under their column are written across; longer ones run upwards, in a taller band.
        let mut cell = cell_for_band(HORIZONTAL_LABEL_BAND);
        let columns_rotated = label_width > cell - 6;
        let column_label_band = if columns_rotated { label_width + 14 } else { HORIZONTAL_LABEL_BAND };
        if columns_rotated {
            cell = cell_for_band(column_label_band);
        }
        let block_width = DESCRIPTION_BAND + label_width + GAP + cell * count + SCALE_BAND;
        let left = ((width - block_width) / 2).max(0) + DESCRIPTION_BAND + label_width + GAP;
        Layout {
            classes: count as usize,
            left,
            top: TOP_GAP,
            cell,
            label_chars: longest_name,
            columns_rotated,
            column_label_band,
        }
    }

    /// The grid's side, in pixels.
    fn side(&self) -> i32 {
        self.cell * self.classes as i32
    }

    /// The top-left pixel of the cell in `row` and `column`.
    fn cell_origin(&self, row: usize, column: usize) -> (i32, i32) {
        (self.left + self.cell * column as i32, self.top + self.cell * row as i32)
    }
}

/// The fill of a cell holding `share` of its row: white at 0, [`FULL_SHARE`] at 1.
fn shade(share: f64) -> RGBColor {
    let share = if share.is_finite() { share.clamp(0.0, 1.0) } else { 0.0 };
    let channel = |full: u8| (255.0 + (f64::from(full) - 255.0) * share).round() as u8;
    RGBColor(channel(FULL_SHARE.0), channel(FULL_SHARE.1), channel(FULL_SHARE.2))
}

/// The text colour with the better contrast on `fill`: white or near-black, by the fill's relative luminance
/// (WCAG 2). White wins only on fills darker than about 0.2 luminance.
fn ink_on(fill: RGBColor) -> &'static RGBColor {
    let linear = |channel: u8| {
        let value = f64::from(channel) / 255.0;
        if value <= 0.04045 {
            value / 12.92
        } else {
            libm::pow((value + 0.055) / 1.055, 2.4)
        }
    };
    let luminance = 0.2126 * linear(fill.0) + 0.7152 * linear(fill.1) + 0.0722 * linear(fill.2);
    if luminance < 0.2 {
        &WHITE
    } else {
        &INK
    }
}

/// Draws the shaded cells with their counts, and the grid's outline.
fn draw_cells(area: &Area<'_>, layout: &Layout, counts: &[Vec<u64>]) -> Result<(), String> {
    let cell = layout.cell;
    for (row, row_counts) in counts.iter().enumerate() {
        let row_total: u128 = row_counts.iter().map(|&count| u128::from(count)).sum();
        for (column, &count) in row_counts.iter().enumerate() {
            let share = if row_total == 0 { 0.0 } else { count as f64 / row_total as f64 };
            let (x, y) = layout.cell_origin(row, column);
            let fill = shade(share);
            area.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], fill.filled())).map_err(drawing_error)?;
            area.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], WHITE.stroke_width(1))).map_err(drawing_error)?;
            let count_text = count.to_string();
            let ink = ink_on(fill);
            let show_percent = row_total > 0 && cell >= CELL_WIDTH_FOR_PERCENT;
            let size = cell_text_size(cell, count_text.len(), show_percent);
            let centre = (x + cell / 2, y + cell / 2);
            let count_style = TextStyle::from((FONT, size).into_font().style(FontStyle::Bold))
                .color(ink)
                .pos(Pos::new(HPos::Center, if show_percent { VPos::Bottom } else { VPos::Center }));
            area.draw_text(&count_text, &count_style, centre).map_err(drawing_error)?;
            if show_percent {
                let percent_style =
                    TextStyle::from((FONT, size * 0.75).into_font()).color(ink).pos(Pos::new(HPos::Center, VPos::Top));
                let percent_text = format!("{:.1}%", share * 100.0);
                area.draw_text(&percent_text, &percent_style, (centre.0, centre.1 + 2)).map_err(drawing_error)?;
            }
        }
    }
    let (x, y) = layout.cell_origin(0, 0);
    let side = layout.side();
    area.draw(&Rectangle::new([(x, y), (x + side, y + side)], OUTLINE.stroke_width(1))).map_err(drawing_error)
}

/// The text size of a cell's count: a fraction of the cell (smaller when the percentage goes under it, and when the
/// number is long), within readable limits.
fn cell_text_size(cell: i32, digits: usize, with_percent: bool) -> f64 {
    let by_height = f64::from(cell) * if with_percent { 0.24 } else { 0.45 };
    // A digit is about 0.6 of the font size wide, and the SVG font size is plotters' size / 1.24.
    let by_width = f64::from(cell - 8) / (digits.max(1) as f64 * 0.6) * 1.24;
    by_height.min(by_width).clamp(8.0, 30.0)
}

/// Writes each class's name beside its row and under its column (running upwards when names are wide).
fn draw_class_names(area: &Area<'_>, layout: &Layout, classes: &[String]) -> Result<(), String> {
    let font = (FONT, TICK_LABEL_SIZE).into_font();
    let row_style = TextStyle::from(font.clone()).color(&INK).pos(Pos::new(HPos::Right, VPos::Center));
    let column_style = if layout.columns_rotated {
        TextStyle::from(font).color(&INK).transform(FontTransform::Rotate270).pos(Pos::new(HPos::Right, VPos::Center))
    } else {
        TextStyle::from(font).color(&INK).pos(Pos::new(HPos::Center, VPos::Top))
    };
    let half = layout.cell / 2;
    let label_top = layout.top + layout.side() + 8;
    for (index, class) in classes.iter().enumerate() {
        let (x, y) = layout.cell_origin(index, 0);
        let label = shortened(class, layout.label_chars);
        area.draw_text(&label, &row_style, (x - 8, y + half)).map_err(drawing_error)?;
        let (x, _) = layout.cell_origin(0, index);
        area.draw_text(&label, &column_style, (x + half, label_top)).map_err(drawing_error)?;
    }
    Ok(())
}

/// Writes "True class" up the left side of the row labels and "Predicted class" under the column labels.
fn draw_axis_descriptions(area: &Area<'_>, layout: &Layout) -> Result<(), String> {
    let font = (FONT, DESCRIPTION_SIZE).into_font();
    let row_label_width = (layout.label_chars as f64 * LABEL_CHAR_WIDTH).ceil() as i32;
    let middle = layout.top + layout.side() / 2;
    let vertical = TextStyle::from(font.clone())
        .color(&INK)
        .transform(FontTransform::Rotate270)
        .pos(Pos::new(HPos::Center, VPos::Center));
    area.draw_text("True class", &vertical, (layout.left - row_label_width - 30, middle)).map_err(drawing_error)?;
    let horizontal = TextStyle::from(font).color(&INK).pos(Pos::new(HPos::Center, VPos::Top));
    let centre = layout.left + layout.side() / 2;
    let below_labels = layout.top + layout.side() + layout.column_label_band + 8;
    area.draw_text("Predicted class", &horizontal, (centre, below_labels)).map_err(drawing_error)
}

/// Draws the colour scale right of the grid: white at 0% to full colour at 100% of the true class's cases.
fn draw_colour_scale(area: &Area<'_>, layout: &Layout) -> Result<(), String> {
    const STEPS: i32 = 50;
    const BAR_WIDTH: i32 = 18;
    let side = layout.side();
    let bar_height = side.clamp(1, 240);
    let x = layout.left + side + 30;
    let top = layout.top + (side - bar_height) / 2;
    for step in 0..STEPS {
        let y0 = top + bar_height * step / STEPS;
        let y1 = top + bar_height * (step + 1) / STEPS;
        let share = 1.0 - (f64::from(step) + 0.5) / f64::from(STEPS);
        area.draw(&Rectangle::new([(x, y0), (x + BAR_WIDTH, y1)], shade(share).filled())).map_err(drawing_error)?;
    }
    area.draw(&Rectangle::new([(x, top), (x + BAR_WIDTH, top + bar_height)], OUTLINE.stroke_width(1)))
        .map_err(drawing_error)?;
    let tick_style =
        TextStyle::from((FONT, TICK_LABEL_SIZE).into_font()).color(&INK).pos(Pos::new(HPos::Left, VPos::Center));
    for (share, label) in [(1.0, "100%"), (0.5, "50%"), (0.0, "0%")] {
        let y = top + ((1.0 - share) * f64::from(bar_height)).round() as i32;
        area.draw(&PathElement::new(vec![(x + BAR_WIDTH, y), (x + BAR_WIDTH + 4, y)], INK.stroke_width(1)))
            .map_err(drawing_error)?;
        area.draw_text(label, &tick_style, (x + BAR_WIDTH + 7, y)).map_err(drawing_error)?;
    }
    let caption = TextStyle::from((FONT, TICK_LABEL_SIZE).into_font())
        .color(&INK)
        .transform(FontTransform::Rotate270)
        .pos(Pos::new(HPos::Center, VPos::Center));
    area.draw_text("Share of the true class", &caption, (x + BAR_WIDTH + 62, top + bar_height / 2))
        .map_err(drawing_error)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{assert_has_text, assert_well_formed};
    use super::*;

    fn names(classes: &[&str]) -> Vec<String> {
        classes.iter().map(|class| class.to_string()).collect()
    }

    #[test]
    fn cells_class_names_and_axes_are_labelled() {
        let classes = names(&["benign", "malignant", "<uncertain>"]);
        let counts = vec![vec![50, 3, 2], vec![4, 40, 1], vec![0, 0, 0]];
        let svg = confusion_matrix("Confusion matrix (test set)", &classes, &counts).unwrap();
        assert_well_formed(&svg);
        for text in ["Confusion matrix (test set)", "True class", "Predicted class", "benign", "malignant"] {
            assert_has_text(&svg, text);
        }
        assert_has_text(&svg, "&lt;uncertain&gt;");
        assert_has_text(&svg, "50");
        assert_has_text(&svg, "90.9%");
        assert_has_text(&svg, "Share of the true class");
    }

    #[test]
    fn the_same_matrix_gives_the_same_bytes() {
        let classes = names(&["a", "b"]);
        let counts = vec![vec![1, 2], vec![3, 4]];
        assert_eq!(
            confusion_matrix("M", &classes, &counts).unwrap(),
            confusion_matrix("M", &classes, &counts).unwrap()
        );
    }

    #[test]
    fn no_classes_says_there_is_no_data() {
        let svg = confusion_matrix("M", &[], &[]).unwrap();
        assert_well_formed(&svg);
        assert!(svg.contains("No data to plot"));
    }

    #[test]
    fn counts_that_do_not_match_the_classes_are_an_error() {
        let classes = names(&["a", "b"]);
        let too_few_rows = confusion_matrix("M", &classes, &[vec![1, 2]]).unwrap_err();
        assert!(too_few_rows.contains("2 classes but 1 rows"), "{too_few_rows}");
        let short_row = confusion_matrix("M", &classes, &[vec![1, 2], vec![3]]).unwrap_err();
        assert!(short_row.contains("row 1 (true class \"b\") has 1 counts"), "{short_row}");
    }

    #[test]
    fn degenerate_matrices_draw_without_panicking() {
        let many: Vec<String> = (0..60).map(|i| format!("a rather long class name number {i}")).collect();
        let many_counts: Vec<Vec<u64>> =
            (0..60).map(|row| (0..60).map(|column| (row * column) as u64).collect()).collect();
        let cases: Vec<(Vec<String>, Vec<Vec<u64>>)> = vec![
            (names(&["only"]), vec![vec![7]]),
            (names(&[""]), vec![vec![0]]),
            (names(&["a", "b"]), vec![vec![u64::MAX, u64::MAX], vec![0, 0]]),
            (many, many_counts),
        ];
        for (classes, counts) in cases {
            let svg = confusion_matrix("", &classes, &counts).unwrap();
            assert_well_formed(&svg);
        }
    }

    #[test]
    fn shading_runs_from_white_to_the_full_colour() {
        assert_eq!(shade(0.0), WHITE);
        assert_eq!(shade(1.0), FULL_SHARE);
        assert_eq!(shade(f64::NAN), WHITE);
    }

    #[test]
    fn cell_text_is_white_only_on_dark_cells() {
        assert_eq!(ink_on(shade(0.0)), &INK);
        assert_eq!(ink_on(shade(0.6)), &INK);
        assert_eq!(ink_on(shade(1.0)), &WHITE);
    }

    #[test]
    fn wide_names_turn_the_column_labels_upwards() {
        let short = Layout::new((800, 550), &names(&["a", "b", "c"]));
        assert!(!short.columns_rotated);
        let wide: Vec<String> = (0..12).map(|i| format!("diagnosis category {i}")).collect();
        let wide = Layout::new((800, 550), &wide);
        assert!(wide.columns_rotated);
        assert!(wide.top + wide.side() + wide.column_label_band + PREDICTED_DESCRIPTION_BAND <= 550);
    }
}
