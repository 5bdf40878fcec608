//! `galen synth`: a project tool that writes seeded example data, so that every data strategy and guard is
//! exercised on realistic inputs: messy variants of the shipped CSV files, the digits as image files, and a
//! synthetic heart-rate series.
//!
//! Every draw comes from `Streams::new(seed).stream(Purpose::Synth)` in a fixed order, and no floating-point
//! function that differs between platforms' math libraries is used, so the same command writes byte-identical files
//! everywhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::data::{read_csv, CsvOptions, Table};
use crate::diagnostics::{unknown_name_help, Diagnostic, Diagnostics};
use crate::rng::{shuffle, ChaCha20Rng, Purpose, Rng, Streams};

/// The arguments of `galen synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// What to write.
    #[command(subcommand)]
    pub kind: SynthKind,
}

/// The kinds of data `galen synth` writes.
#[derive(Debug, Subcommand)]
pub enum SynthKind {
    /// A messy variant of a CSV file: missing cells, categorical codes, several rows per patient, a date column.
    Messy {
        /// The CSV file to start from (its last column is the target unless `--target` says otherwise).
        #[arg(long)]
        from: PathBuf,
        #[command(flatten)]
        options: MessyOptions,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The 8x8 digits of a CSV (`p0..p63`, ink 0..16, `label`) as grayscale PNG files, one sub-folder per label.
    DigitImages {
        /// The digits CSV.
        #[arg(long)]
        from: PathBuf,
        /// Images per class, picked at random (default: all).
        #[arg(long)]
        per_class: Option<usize>,
        /// Write a flat folder and `manifest.csv` (`file,label,patient`) instead of one sub-folder per label.
        #[arg(long)]
        manifest: bool,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// A synthetic heart-rate series per row (`t0..`, one rate per beat), labelled `regular` (sinus rhythm) or
    /// `irregular` (atrial-fibrillation-like) rhythm, classes balanced.
    Series {
        /// Number of series (rows).
        #[arg(long, default_value_t = 600)]
        rows: usize,
        /// Time steps per series.
        #[arg(long, default_value_t = 60)]
        steps: usize,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// Where to write and with which seed, common to every kind.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// The seed of the random draws: the same seed writes the same bytes.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The file (or, for images, the folder) to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite an existing output.
    #[arg(long)]
    pub force: bool,
}

/// The options of a messy variant.
#[derive(Clone, Debug, PartialEq, Args)]
pub struct MessyOptions {
    /// The target column, never blanked (default: the last column).
    #[arg(long)]
    pub target: Option<String>,
    /// The fraction of predictor cells to blank out, cycling through the tokens "", NA, NaN and ?.
    #[arg(long, default_value_t = 0.1)]
    pub missing: f64,
    /// Turn one or two numeric columns into categorical codes (low/mid/high, or letters).
    #[arg(long)]
    pub codes: bool,
    /// Add a `patient_id` column with 1 to 4 rows per patient (same outcome, nearby values).
    #[arg(long)]
    pub patients: bool,
    /// Add a `visit_date` column of ISO dates.
    #[arg(long)]
    pub date: bool,
}

/// A file to write, relative to the output folder, and its bytes.
pub type OutputFile = (PathBuf, Vec<u8>);

/// Runs `galen synth`: writes the output and returns the line saying what was written (`wrote out.csv: ...`), or
/// the diagnostics of why nothing was. The command line prints either and decides the exit code.
pub fn run(args: &SynthArgs) -> Result<String, Diagnostics> {
    let (output, result) = match &args.kind {
        SynthKind::Messy { from, options, output } => {
            let result = refuse_same_file(from, &output.out)
                .and_then(|()| check_output(output))
                .and_then(|()| read_csv(from, &CsvOptions::default()))
                .and_then(|table| messy_csv(&table, options, output.seed))
                .and_then(|(bytes, notes)| write_file(&output.out, &bytes).map(|()| notes));
            (output, result)
        }
        SynthKind::DigitImages { from, per_class, manifest, output } => {
            let result = check_output(output)
                .and_then(|()| read_csv(from, &CsvOptions::default()))
                .and_then(|table| digit_images(&table, *per_class, *manifest, output.seed))
                .and_then(|files| write_folder(&output.out, &files).map(|()| vec![format!("{} files", files.len())]));
            (output, result)
        }
        SynthKind::Series { rows, steps, output } => {
            let result = check_output(output)
                .and_then(|()| series_csv(*rows, *steps, output.seed))
                .and_then(|bytes| write_file(&output.out, &bytes))
                .map(|()| vec![format!("{rows} series of {steps} steps")]);
            (output, result)
        }
    };
    result.map(|notes| format!("wrote {}: {}", output.out.display(), notes.join("; ")))
}

/// The missing-cell tokens, used in turn.
pub const MISSING_TOKENS: [&str; 4] = ["", "NA", "NaN", "?"];

/// A messy variant of `table`: optionally several rows per patient, categorical codes and a date column, then
/// predictor cells blanked at `options.missing`. Returns the CSV bytes and notes on what was done.
pub fn messy_csv(table: &Table, options: &MessyOptions, seed: u64) -> Result<(Vec<u8>, Vec<String>), Diagnostics> {
    if !(0.0..=1.0).contains(&options.missing) {
        return Err(one(Diagnostic::error(
            "synth::missing_rate",
            format!("`--missing {}` is not a fraction", options.missing),
        )
        .with_help("give a fraction of cells between 0 and 1, such as `--missing 0.1`")));
    }
    let names: Vec<String> = table.names().map(str::to_string).collect();
    let target = match &options.target {
        Some(target) => table.column_index(target).ok_or_else(|| {
            let candidates: Vec<&str> = names.iter().map(String::as_str).collect();
            one(Diagnostic::error("synth::unknown_target", format!("the file has no column `{target}`"))
                .at_file(table.path())
                .with_help(unknown_name_help(target, &candidates)))
        })?,
        None => names.len().saturating_sub(1),
    };
    let mut rng = Streams::new(seed).stream(Purpose::Synth);
    let mut rows: Vec<Vec<String>> = (0..table.rows())
        .map(|row| table.columns().iter().map(|column| column.get(row).unwrap_or("").to_string()).collect())
        .collect();
    let mut notes = vec![format!("{} rows from {}", rows.len(), table.path().display())];
    let mut visits: Vec<usize> = vec![1; rows.len()];
    if options.patients {
        (rows, visits) = add_visits(&rows, target, &mut rng);
        notes.push(format!("{} rows of {} patients", rows.len(), visits.len()));
    }
    if options.codes {
        notes.extend(add_codes(&mut rows, &names, target, &mut rng));
    }
    let predictors: Vec<usize> = (0..names.len()).filter(|&column| column != target).collect();
    let mut blanked = 0;
    for row in &mut rows {
        for &column in &predictors {
            if rng.gen::<f64>() < options.missing {
                row[column] = MISSING_TOKENS[blanked % MISSING_TOKENS.len()].to_string();
                blanked += 1;
            }
        }
    }
    notes.push(format!("{blanked} of {} predictor cells blanked", rows.len() * predictors.len()));
    let mut header = Vec::new();
    let mut leading: Vec<Vec<String>> = vec![Vec::new(); rows.len()];
    if options.patients {
        header.push("patient_id".to_string());
        let ids = visits.iter().enumerate().flat_map(|(patient, &count)| std::iter::repeat_n(patient, count));
        for (cells, patient) in leading.iter_mut().zip(ids) {
            cells.push(format!("P{:05}", patient + 1));
        }
    }
    if options.date {
        header.push("visit_date".to_string());
        for (cells, date) in leading.iter_mut().zip(visit_dates(&visits, &mut rng)) {
            cells.push(date);
        }
    }
    header.extend(names);
    let records = leading.into_iter().zip(rows).map(|(mut cells, row)| {
        cells.extend(row);
        cells
    });
    Ok((csv_bytes(&header, records)?, notes))
}

/// Repeats every row as one patient's 1 to 4 visits: the first visit is the row itself, later ones nudge its
/// continuous values by up to 5% and keep its outcome. Returns the rows and the number of visits per patient.
fn add_visits(rows: &[Vec<String>], target: usize, rng: &mut ChaCha20Rng) -> (Vec<Vec<String>>, Vec<usize>) {
    let columns = rows.first().map_or(0, Vec::len);
    let continuous: Vec<bool> = (0..columns)
        .map(|column| column != target && numbers(rows, column).is_some_and(|values| distinct(&values) > 5))
        .collect();
    let mut visited = Vec::new();
    let mut visits = Vec::with_capacity(rows.len());
    for row in rows {
        let count = rng.gen_range(1..=4u64) as usize;
        visits.push(count);
        visited.push(row.clone());
        for _ in 1..count {
            let nudged = row.iter().zip(&continuous).map(|(cell, &continuous)| match cell.parse::<f64>() {
                Ok(value) if continuous => format_like(value * (1.0 + 0.05 * rng.gen_range(-1.0..=1.0)), cell),
                _ => cell.clone(),
            });
            visited.push(nudged.collect());
        }
    }
    (visited, visits)
}

/// Turns one continuous predictor (picked at random) into `low`/`mid`/`high` by tertiles, and one more into
/// letters: a numeric predictor with 2 to 5 values gets a letter per value, else another continuous one gets `A`..`E`
/// by quintiles. Returns a note per coded column.
fn add_codes(rows: &mut [Vec<String>], names: &[String], target: usize, rng: &mut ChaCha20Rng) -> Vec<String> {
    let numeric: Vec<(usize, Vec<f64>)> = (0..names.len())
        .filter(|&column| column != target)
        .filter_map(|column| numbers(rows, column).map(|values| (column, values)))
        .collect();
    let few = numeric.iter().find(|(_, values)| (2..=5).contains(&distinct(values)));
    let mut continuous: Vec<&(usize, Vec<f64>)> = numeric.iter().filter(|(_, values)| distinct(values) > 5).collect();
    let mut notes = Vec::new();
    if !continuous.is_empty() {
        let (column, values) = continuous.remove(rng.gen_range(0..continuous.len() as u64) as usize);
        bin(rows, *column, values, &["low", "mid", "high"]);
        notes.push(format!("`{}` coded low/mid/high", names[*column]));
    }
    if let Some((column, values)) = few {
        let mut levels = values.clone();
        levels.sort_by(f64::total_cmp);
        levels.dedup();
        for row in rows.iter_mut() {
            if let Some(level) = row[*column].parse::<f64>().ok().and_then(|v| levels.iter().position(|&l| l == v)) {
                row[*column] = ["A", "B", "C", "D", "E"][level].to_string();
            }
        }
        notes.push(format!("`{}` coded as letters", names[*column]));
    } else if !continuous.is_empty() {
        let (column, values) = continuous[rng.gen_range(0..continuous.len() as u64) as usize];
        bin(rows, *column, values, &["A", "B", "C", "D", "E"]);
        notes.push(format!("`{}` coded A..E", names[*column]));
    }
    notes
}

/// Replaces a column's numbers by `codes`, cutting at its quantiles so that each code holds about as many rows.
fn bin(rows: &mut [Vec<String>], column: usize, values: &[f64], codes: &[&str]) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let cuts: Vec<f64> = (1..codes.len()).map(|k| sorted[k * sorted.len() / codes.len()]).collect();
    for row in rows.iter_mut() {
        if let Ok(value) = row[column].parse::<f64>() {
            row[column] = codes[cuts.iter().filter(|&&cut| value >= cut).count()].to_string();
        }
    }
}

/// The numbers of a column, when every non-empty cell is a finite number and at least one is.
fn numbers(rows: &[Vec<String>], column: usize) -> Option<Vec<f64>> {
    let cells = rows.iter().filter_map(|row| row.get(column)).filter(|cell| !cell.is_empty());
    let values: Option<Vec<f64>> = cells.map(|cell| cell.parse::<f64>().ok().filter(|v| v.is_finite())).collect();
    values.filter(|values| !values.is_empty())
}

/// Number of distinct values.
fn distinct(values: &[f64]) -> usize {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    sorted.len()
}

/// `value` written with as many decimals as `like` has (in full when `like` has an exponent).
fn format_like(value: f64, like: &str) -> String {
    if like.contains(['e', 'E']) {
        return value.to_string();
    }
    let decimals = like.split_once('.').map_or(0, |(_, fraction)| fraction.len());
    format!("{value:.decimals$}")
}

/// An ISO date per visit: each patient's first visit falls in 2015..2022, later ones 2 weeks to 6 months apart.
fn visit_dates(visits: &[usize], rng: &mut ChaCha20Rng) -> Vec<String> {
    let first = days_from_civil(2015, 1, 1);
    let last = days_from_civil(2022, 12, 31);
    let mut dates = Vec::new();
    for &count in visits {
        let mut day = rng.gen_range(first..=last);
        for visit in 0..count {
            if visit > 0 {
                day += rng.gen_range(14..=180);
            }
            let (year, month, day_of_month) = civil_from_days(day);
            dates.push(format!("{year:04}-{month:02}-{day_of_month:02}"));
        }
    }
    dates
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

/// The digit images of a digits table, as PNG files relative to the output folder: `LABEL/rowNNNN.png`, or with
/// `manifest` a flat `rowNNNN.png` per image plus `manifest.csv` (`file,label,patient`). A made-up patient has 1 to
/// 4 images of one label.
pub fn digit_images(
    table: &Table,
    per_class: Option<usize>,
    manifest: bool,
    seed: u64,
) -> Result<Vec<OutputFile>, Diagnostics> {
    let (side, pixels) = pixel_columns(table)?;
    let labels = table.column("label").ok_or_else(|| {
        let names: Vec<&str> = table.names().collect();
        one(Diagnostic::error("synth::no_label", "the digits file has no column `label`")
            .at_file(table.path())
            .with_help(unknown_name_help("label", &names)))
    })?;
    let mut classes: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut diagnostics = Diagnostics::new();
    for (row, label) in labels.iter().enumerate() {
        match label.filter(|label| label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')) {
            Some(label) => classes.entry(label.to_string()).or_default().push(row),
            None => diagnostics.push(
                Diagnostic::error("synth::bad_label", "the label is missing or cannot be a folder name")
                    .at_data(table.path(), table.line_of_row(row), Some("label"))
                    .with_help("use labels made of letters, digits, `_` and `-`"),
            ),
        }
    }
    if diagnostics.has_errors() {
        return Err(diagnostics);
    }
    let mut rng = Streams::new(seed).stream(Purpose::Synth);
    let mut files = Vec::new();
    let mut patients: Vec<Vec<usize>> = Vec::new();
    let mut label_of = BTreeMap::new();
    for (label, rows) in &mut classes {
        shuffle(rows, &mut rng);
        rows.truncate(per_class.unwrap_or(rows.len()));
        rows.sort_unstable();
        let mut rest = rows.as_slice();
        while !rest.is_empty() {
            let take = (rng.gen_range(1..=4u64) as usize).min(rest.len());
            patients.push(rest[..take].to_vec());
            rest = &rest[take..];
        }
        for &row in rows.iter() {
            let name = format!("row{row:04}.png");
            let path = if manifest { PathBuf::from(&name) } else { Path::new(label).join(&name) };
            files.push((path, digit_png(table, &pixels, row, side)?));
            label_of.insert(row, label.clone());
        }
    }
    if manifest {
        // Patient numbers are drawn apart from the labels, so that an id says nothing about the class.
        shuffle(&mut patients, &mut rng);
        let mut patient_of = BTreeMap::new();
        for (number, rows) in patients.iter().enumerate() {
            patient_of.extend(rows.iter().map(|&row| (row, format!("P{:03}", number + 1))));
        }
        let header = ["file", "label", "patient"].map(str::to_string);
        let records = label_of.iter().map(|(row, label)| {
            vec![format!("row{row:04}.png"), label.clone(), patient_of.get(row).cloned().unwrap_or_default()]
        });
        files.sort_by(|a, b| a.0.cmp(&b.0));
        files.push((PathBuf::from("manifest.csv"), csv_bytes(&header, records)?));
    }
    Ok(files)
}

/// The pixel columns `p0..p{n-1}` of a digits table (`n` a square) and the image's side.
fn pixel_columns(table: &Table) -> Result<(u32, Vec<usize>), Diagnostics> {
    let columns: Vec<usize> = (0..).map_while(|index| table.column_index(&format!("p{index}"))).collect();
    let side = (1..=columns.len()).find(|side| side * side == columns.len()).unwrap_or(0);
    match u32::try_from(side) {
        Ok(side) if side > 0 => Ok((side, columns)),
        _ => Err(one(Diagnostic::error(
            "synth::no_pixels",
            format!(
                "the file has {} pixel columns `p0`, `p1`, ...; expected a square number such as 64",
                columns.len()
            ),
        )
        .at_file(table.path())
        .with_help("give the digits CSV: pixel columns `p0..p63` with ink 0..16, and a `label` column"))),
    }
}

/// One row's pixels as an 8-bit grayscale PNG, ink 0..16 scaled to 0..255.
fn digit_png(table: &Table, pixels: &[usize], row: usize, side: u32) -> Result<Vec<u8>, Diagnostics> {
    let mut bytes = Vec::with_capacity(pixels.len());
    for &column in pixels {
        let column = &table.columns()[column];
        match column.get(row).and_then(|cell| cell.parse::<f64>().ok()).filter(|ink| (0.0..=16.0).contains(ink)) {
            Some(ink) => bytes.push((ink * 255.0 / 16.0).round() as u8),
            None => {
                return Err(one(Diagnostic::error("synth::bad_pixel", "the pixel is not an ink count from 0 to 16")
                    .at_data(table.path(), table.line_of_row(row), Some(column.name()))
                    .with_help("give the digits CSV, whose pixels hold ink counts 0..16")))
            }
        }
    }
    let mut png = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new(&mut png);
    image::ImageEncoder::write_image(encoder, &bytes, side, side, image::ExtendedColorType::L8)
        .map_err(|error| one(Diagnostic::error("synth::encode", format!("cannot encode the image: {error}"))))?;
    Ok(png)
}

/// `rows` synthetic heart-rate series of `steps` beats (the rate of each beat in beats per minute, one decimal), half
/// `regular`, half `irregular`, in random order. A regular series is sinus rhythm: a smooth rate with breathing
/// sway, slow drift and small noise, now and then a single premature beat. An irregular one is like atrial
/// fibrillation, irregularly irregular: every beat-to-beat interval is drawn on its own around the mean, with no
/// breathing sway. Both draw their mean rate from the same range, so telling them apart needs the sequence, not one value.
pub fn series_csv(rows: usize, steps: usize, seed: u64) -> Result<Vec<u8>, Diagnostics> {
    if rows < 2 || !(10..=10_000).contains(&steps) || rows.saturating_mul(steps) > 20_000_000 {
        return Err(one(Diagnostic::error(
            "synth::series_size",
            format!("cannot make {rows} series of {steps} steps"),
        )
        .with_help("give at least 2 `--rows` and 10 to 10000 `--steps`, at most 20 million values in all")));
    }
    let mut rng = Streams::new(seed).stream(Purpose::Synth);
    let mut irregular: Vec<bool> = (0..rows).map(|row| row < rows / 2).collect();
    shuffle(&mut irregular, &mut rng);
    let mut header: Vec<String> = (0..steps).map(|step| format!("t{step}")).collect();
    header.push("label".to_string());
    let records: Vec<Vec<String>> = irregular
        .iter()
        .map(|&irregular| {
            let mut cells: Vec<String> =
                heart_rate(steps, irregular, &mut rng).iter().map(|rate| format!("{rate:.1}")).collect();
            cells.push(if irregular { "irregular" } else { "regular" }.to_string());
            cells
        })
        .collect();
    csv_bytes(&header, records)
}

/// One heart-rate series, a rate per beat.
fn heart_rate(steps: usize, irregular: bool, rng: &mut ChaCha20Rng) -> Vec<f64> {
    // A resting rate, from the same range for both rhythms (atrial fibrillation with its rate controlled).
    let base = rng.gen_range(65.0..85.0);
    let sway = rng.gen_range(1.0..4.0);
    let period = rng.gen_range(4.0..10.0);
    let phase = rng.gen_range(0.0..std::f64::consts::TAU);
    // The spread of atrial fibrillation's beat-to-beat intervals as a share of the mean interval (their coefficient
    // of variation; sinus rhythm at rest stays near 0.03).
    let spread = rng.gen_range(0.12..0.3);
    let premature = if !irregular && rng.gen_bool(0.3) { rng.gen_range(0..steps as u64) as usize } else { steps };
    let mut drift = 0.0;
    (0..steps)
        .map(|step| {
            drift += 0.15 * normal(rng);
            let rate = if irregular {
                // Without an organised atrial rhythm each interval is its own draw: a beat whose interval is a
                // factor f of the mean interval has the mean rate divided by f.
                let interval = (1.0 + spread * normal(rng)).clamp(0.4, 2.0);
                (base + drift) / interval + 0.8 * normal(rng)
            } else {
                let angle = std::f64::consts::TAU * step as f64 / period + phase;
                let rate = base + sway * sine(angle) + drift + 0.8 * normal(rng);
                if step == premature {
                    rate + rng.gen_range(8.0..15.0)
                } else {
                    rate
                }
            };
            rate.clamp(30.0, 220.0)
        })
        .collect()
}

/// A standard normal draw, approximated by the sum of twelve uniform draws less six (Irwin-Hall): plain additions,
/// so the result is the same on every platform, unlike `ln` and `cos` from the system's math library.
fn normal(rng: &mut ChaCha20Rng) -> f64 {
    (0..12).map(|_| rng.gen::<f64>()).sum::<f64>() - 6.0
}

/// The sine by argument reduction and a Taylor polynomial (error below 1e-7), for the same reason as [`normal`].
fn sine(x: f64) -> f64 {
    use std::f64::consts::{FRAC_PI_2, PI, TAU};
    let mut x = x - TAU * (x / TAU).round();
    if x > FRAC_PI_2 {
        x = PI - x;
    } else if x < -FRAC_PI_2 {
        x = -PI - x;
    }
    let square = x * x;
    let mut term = x;
    let mut sum = x;
    for k in 1..7 {
        term *= -square / f64::from((2 * k) * (2 * k + 1));
        sum += term;
    }
    sum
}

/// A CSV file's bytes: the header, then the records, `\n` line ends, quoted only where needed.
fn csv_bytes(header: &[String], records: impl IntoIterator<Item = Vec<String>>) -> Result<Vec<u8>, Diagnostics> {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(Vec::new());
    let failed =
        |error: &dyn std::fmt::Display| one(Diagnostic::error("synth::csv", format!("cannot write CSV: {error}")));
    writer.write_record(header).map_err(|error| failed(&error))?;
    for record in records {
        writer.write_record(&record).map_err(|error| failed(&error))?;
    }
    writer.into_inner().map_err(|error| failed(&error))
}

/// Refuses to write over the file being read.
fn refuse_same_file(from: &Path, out: &Path) -> Result<(), Diagnostics> {
    match (from.canonicalize(), out.canonicalize()) {
        (Ok(from), Ok(out)) if from == out => {
            Err(one(Diagnostic::error("synth::overwrite", "the output is the input file")
                .at_file(&out)
                .with_help("write the messy variant to another file")))
        }
        _ => Ok(()),
    }
}

/// Refuses an existing output unless `--force`; a folder is replaced only when it holds nothing but what
/// `digit-images` writes, so `--force` never deletes anyone's files.
fn check_output(output: &OutputArgs) -> Result<(), Diagnostics> {
    let path = &output.out;
    if !path.exists() && path.symlink_metadata().is_err() {
        return Ok(());
    }
    if !output.force {
        return Err(one(Diagnostic::error("synth::exists", "the output already exists")
            .at_file(path)
            .with_help("choose another `--out`, or pass `--force` to replace it")));
    }
    if path.is_dir() && !looks_generated(path, 0) {
        return Err(one(Diagnostic::error(
            "synth::foreign_files",
            "the output folder holds files galen synth did not write",
        )
        .at_file(path)
        .with_help(
            "choose an empty or new folder for `--out`; `--force` only replaces a folder of generated images",
        )));
    }
    Ok(())
}

/// Whether a folder holds only PNG files, `manifest.csv` and (at the top) sub-folders of PNG files.
fn looks_generated(dir: &Path, depth: usize) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().all(|entry| {
        let path = entry.path();
        let file_type = entry.file_type().ok();
        let name = entry.file_name();
        match file_type {
            Some(kind) if kind.is_dir() => depth == 0 && looks_generated(&path, 1),
            Some(kind) if kind.is_file() => {
                name == "manifest.csv" && depth == 0 || path.extension().is_some_and(|extension| extension == "png")
            }
            _ => false,
        }
    })
}

/// Writes one file, creating its folder.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Diagnostics> {
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|error| write_error(parent, &error))?;
    }
    std::fs::write(path, bytes).map_err(|error| write_error(path, &error))
}

/// Replaces the folder `dir` (already checked by [`check_output`]) with `files`.
fn write_folder(dir: &Path, files: &[OutputFile]) -> Result<(), Diagnostics> {
    if dir.is_dir() {
        std::fs::remove_dir_all(dir).map_err(|error| write_error(dir, &error))?;
    }
    std::fs::create_dir_all(dir).map_err(|error| write_error(dir, &error))?;
    files.iter().try_for_each(|(path, bytes)| write_file(&dir.join(path), bytes))
}

fn write_error(path: &Path, error: &std::io::Error) -> Diagnostics {
    one(Diagnostic::error("synth::write", format!("cannot write: {}", error.to_string().to_lowercase()))
        .at_file(path)
        .with_help("check that the folder exists and that you may write there"))
}

fn one(diagnostic: Diagnostic) -> Diagnostics {
    Diagnostics { items: vec![diagnostic] }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::images::{load_images, scan_image_folder};
    use crate::data::read_csv_bytes;
    use crate::spec::ast::Color;

    fn shipped(name: &str) -> Table {
        read_csv(&Path::new("specs/data").join(name), &CsvOptions::default()).expect("a shipped dataset")
    }

    fn messy_options(missing: f64, flags: bool) -> MessyOptions {
        MessyOptions { target: None, missing, codes: flags, patients: flags, date: flags }
    }

    fn temp_folder(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("galen-synth-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_same_seed_writes_the_same_bytes() {
        let diabetes = shipped("diabetes_progression.csv");
        let digits = shipped("digits.csv");
        let messy_of = |seed| messy_csv(&diabetes, &messy_options(0.2, true), seed).expect("messy").0;
        assert_eq!(messy_of(1), messy_of(1));
        assert_ne!(messy_of(1), messy_of(2));
        let images_of = |seed| digit_images(&digits, Some(3), true, seed).expect("images");
        assert_eq!(images_of(5), images_of(5));
        assert_ne!(images_of(5), images_of(6));
        let series_of = |seed| series_csv(20, 30, seed).expect("series");
        assert_eq!(series_of(7), series_of(7));
        assert_ne!(series_of(7), series_of(8));
    }

    #[test]
    fn messy_blanks_predictors_at_the_rate_asked_and_never_the_target() {
        let table = shipped("breast_cancer.csv");
        for rate in [0.0, 0.1, 0.3] {
            let (bytes, _) = messy_csv(&table, &messy_options(rate, false), 3).expect("messy");
            let text = String::from_utf8(bytes.clone()).expect("utf-8");
            for token in MISSING_TOKENS.iter().filter(|_| rate > 0.0) {
                let cells = text.lines().skip(1).flat_map(|line| line.split(','));
                assert!(cells.clone().any(|cell| cell == *token), "token {token:?} is used");
            }
            let messy = read_csv_bytes(Path::new("messy.csv"), &bytes, &CsvOptions::default()).expect("reads");
            assert_eq!(messy.rows(), table.rows());
            assert_eq!(messy.column("diagnosis").map(|c| c.missing()), Some(0));
            let blank: usize = messy.columns().iter().map(|column| column.missing()).sum();
            let found = blank as f64 / (messy.rows() * (messy.columns().len() - 1)) as f64;
            assert!((found - rate).abs() < 0.01, "asked {rate}, found {found}");
        }
        let radius = MessyOptions { target: Some("mean_radius".into()), ..messy_options(0.5, false) };
        let (bytes, _) = messy_csv(&table, &radius, 3).expect("messy");
        let messy = read_csv_bytes(Path::new("messy.csv"), &bytes, &CsvOptions::default()).expect("reads");
        assert_eq!(messy.column("mean_radius").map(|c| c.missing()), Some(0));
        let wrong = MessyOptions { target: Some("diagnosis_".into()), ..messy_options(0.1, false) };
        let error = messy_csv(&table, &wrong, 3).expect_err("no such target");
        assert_eq!(error.items[0].help.as_deref(), Some("did you mean `diagnosis`?"));
        assert!(messy_csv(&table, &messy_options(1.5, false), 3).is_err());
        assert!(messy_csv(&table, &messy_options(f64::NAN, false), 3).is_err());
    }

    #[test]
    fn messy_patients_share_their_outcome_and_visit_in_date_order() {
        let (bytes, notes) =
            messy_csv(&shipped("diabetes_progression.csv"), &messy_options(0.0, true), 11).expect("messy");
        let table = read_csv_bytes(Path::new("messy.csv"), &bytes, &CsvOptions::default()).expect("reads");
        let names: Vec<&str> = table.names().take(4).collect();
        assert_eq!(names, ["patient_id", "visit_date", "age", "sex"]);
        assert!(notes.iter().any(|note| note == "`sex` coded as letters"), "{notes:?}");
        let column = |name| table.column(name).expect("column");
        let (patients, dates, outcome) = (column("patient_id"), column("visit_date"), column("progression"));
        let mut visits: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
        for row in 0..table.rows() {
            let (Some(patient), Some(date), Some(outcome)) = (patients.get(row), dates.get(row), outcome.get(row))
            else {
                panic!("row {row} has a blank identifier, date or outcome");
            };
            visits.entry(patient).or_default().push((date, outcome));
        }
        assert_eq!(visits.len(), 442);
        assert!(visits.values().any(|rows| rows.len() == 4));
        for rows in visits.values() {
            assert!((1..=4).contains(&rows.len()));
            assert!(rows.windows(2).all(|pair| pair[0].0 < pair[1].0 && pair[0].1 == pair[1].1), "{rows:?}");
            assert!(rows.iter().all(|(date, _)| date.len() == 10 && ("2015".."2025").contains(&&date[..4])));
        }
        let codes: Vec<&str> = (0..table.rows()).filter_map(|row| column("sex").get(row)).collect();
        assert!(codes.iter().all(|code| ["A", "B"].contains(code)));
    }

    #[test]
    fn digit_images_decode_back_to_the_ink_counts() {
        let table = shipped("digits.csv");
        let dir = temp_folder("digits");
        let files = digit_images(&table, Some(4), false, 9).expect("images");
        write_folder(&dir, &files).expect("writes");
        let folder = scan_image_folder(&dir).expect("a folder of classes");
        assert_eq!(folder.classes.len(), 10);
        assert!(folder.classes.iter().all(|class| class.files.len() == 4));
        let all: Vec<PathBuf> = folder.classes.iter().flat_map(|class| class.files.clone()).collect();
        let pixels = load_images(&all, [8, 8], Color::Grayscale).expect("decodes");
        for (image, file) in all.iter().enumerate() {
            let name = file.file_stem().and_then(|stem| stem.to_str()).unwrap_or_default();
            let row: usize = name.trim_start_matches("row").parse().expect("a row number");
            let label = file.parent().and_then(Path::file_name).and_then(|label| label.to_str());
            assert_eq!(table.column("label").and_then(|column| column.get(row)), label);
            for pixel in 0..64 {
                let ink: f32 = table.columns()[pixel].get(row).unwrap_or("0").parse().expect("ink");
                assert!((pixels[[image, pixel]] - ink / 16.0).abs() <= 1.0 / 255.0, "{name} pixel {pixel}");
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        let files = digit_images(&table, None, true, 9).expect("images");
        assert_eq!(files.len(), table.rows() + 1);
        let manifest = &files.last().expect("manifest").1;
        let manifest = read_csv_bytes(Path::new("manifest.csv"), manifest, &CsvOptions::default()).expect("reads");
        assert_eq!(manifest.names().collect::<Vec<_>>(), ["file", "label", "patient"]);
        let mut patients: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let (patient, label) = (manifest.column("patient").expect("patient"), manifest.column("label").expect("label"));
        for row in 0..manifest.rows() {
            patients.entry(patient.get(row).unwrap_or_default()).or_default().push(label.get(row).unwrap_or_default());
        }
        assert!(patients
            .values()
            .all(|labels| (1..=4).contains(&labels.len()) && labels.iter().all(|l| *l == labels[0])));
    }

    #[test]
    fn series_are_balanced_and_labelled() {
        let bytes = series_csv(101, 40, 7).expect("series");
        let table = read_csv_bytes(Path::new("series.csv"), &bytes, &CsvOptions::default()).expect("reads");
        assert_eq!((table.rows(), table.columns().len()), (101, 41));
        let labels = table.column("label").expect("label");
        let irregular = labels.iter().filter(|label| *label == Some("irregular")).count();
        assert_eq!((irregular, labels.iter().filter(|label| *label == Some("regular")).count()), (50, 51));
        // Irregular rhythms vary more from beat to beat: the mean absolute step separates the classes on average.
        let step_size = |row: usize| {
            let rates: Vec<f64> = (0..40).filter_map(|t| table.columns()[t].get(row)?.parse().ok()).collect();
            rates.windows(2).map(|pair| (pair[1] - pair[0]).abs()).sum::<f64>() / 39.0
        };
        let mean_of = |label: &str| {
            let rows: Vec<usize> = (0..101).filter(|&row| labels.get(row) == Some(label)).collect();
            rows.iter().map(|&row| step_size(row)).sum::<f64>() / rows.len() as f64
        };
        assert!(mean_of("irregular") > 1.5 * mean_of("regular"));
        assert!(series_csv(1, 60, 0).is_err() && series_csv(10, 3, 0).is_err());
        assert!(series_csv(usize::MAX, 60, 0).is_err());
    }

    #[test]
    fn helpers_are_exact() {
        for (year, month, day) in [(1970, 1, 1), (2000, 2, 29), (2015, 1, 1), (2022, 12, 31), (2024, 3, 1)] {
            assert_eq!(civil_from_days(days_from_civil(year, month, day)), (year, month, day));
        }
        assert_eq!(days_from_civil(1970, 1, 2), 1);
        for step in -40..40 {
            let x = f64::from(step) * 0.37;
            assert!((sine(x) - libm::sin(x)).abs() < 1e-7, "sine({x})");
        }
        assert_eq!(format_like(1.23456, "2.50"), "1.23");
        assert_eq!(format_like(41.6, "40"), "42");
    }

    #[test]
    fn refuses_to_overwrite_without_force_and_foreign_folders_even_with_it() {
        let dir = temp_folder("overwrite");
        std::fs::create_dir_all(dir.join("3")).expect("folder");
        std::fs::write(dir.join("3/row0001.png"), b"").expect("file");
        let output = |force| OutputArgs { seed: 0, out: dir.clone(), force };
        let codes = |result: Result<(), Diagnostics>| result.err().map(|error| error.items[0].code);
        assert_eq!(codes(check_output(&output(false))), Some("synth::exists"));
        assert_eq!(codes(check_output(&output(true))), None);
        std::fs::write(dir.join("notes.txt"), b"mine").expect("file");
        assert_eq!(codes(check_output(&output(true))), Some("synth::foreign_files"));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(codes(check_output(&output(false))), None);
    }
}
