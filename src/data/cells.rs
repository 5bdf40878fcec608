//! Reading one cell: whether it is missing, the number it holds (parsed exactly as `str::parse` would, quickly for
//! plain decimals), its canonical label, and whether it looks like a date. The CSV readers, the schema inference,
//! the transform and the checker all read cells through these functions, so they agree on every cell.

use std::ops::Range;

/// An f64 as the nearest finite f32: the precision the model reads a number in.
pub fn finite_f32(value: f64) -> f32 {
    (value as f32).clamp(-f32::MAX, f32::MAX)
}

/// Whether a cell counts as missing: empty or whitespace only, or exactly `NA`, `NaN` or `?` once trimmed.
pub fn is_missing(cell: &str) -> bool {
    is_missing_trimmed(cell.trim())
}

/// [`is_missing`] for a cell already trimmed, as the readers trim cells.
pub(crate) fn is_missing_trimmed(cell: &str) -> bool {
    matches!(cell, "" | "NA" | "NaN" | "?")
}

/// A cell or user-written value as a label: the canonical number when labels are numbers (`1.0` is `1`), else
/// the trimmed text.
pub fn label_text(text: &str, labels_numeric: bool) -> String {
    match parse_number(text).filter(|_| labels_numeric) {
        Some(number) => canonical_number(number),
        None => text.trim().to_string(),
    }
}

/// Whether every label is a number, so that user-written labels compare as numbers.
pub fn labels_are_numbers(labels: &[String]) -> bool {
    labels.iter().all(|label| parse_number(label).is_some())
}

/// Parses a cell as a number: decimal or exponent notation, optional sign (`-2`, `+3.5`, `1e-3`, `.5`); words
/// like `inf` or `nan` and numbers too large for f64 are not numbers.
pub fn parse_number(text: &str) -> Option<f64> {
    parse_trimmed_number(text.trim())
}

/// [`parse_number`] for text already trimmed, as table cells are.
pub(crate) fn parse_trimmed_number(text: &str) -> Option<f64> {
    if let Some(number) = parse_plain_decimal(text.as_bytes()) {
        return Some(number);
    }
    let legal = |byte: u8| byte.is_ascii_digit() || matches!(byte, b'+' | b'-' | b'.' | b'e' | b'E');
    if !text.bytes().all(legal) || !text.bytes().any(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse::<f64>().ok().filter(|number| number.is_finite())
}

/// [`parse_trimmed_number`] for the cell `text[cell]`. A short plain decimal (a sign, then at most eight digits
/// and points) is read eight bytes at once, from the eight bytes of `text` that end where the cell ends.
pub(crate) fn parse_cell(text: &str, cell: Range<usize>) -> Option<f64> {
    let bytes = text.as_bytes();
    let (negative, unsigned) = match bytes.get(cell.start) {
        Some(b'-') => (true, cell.start + 1),
        Some(b'+') => (false, cell.start + 1),
        _ => (false, cell.start),
    };
    let window = cell.end.checked_sub(8).and_then(|from| bytes.get(from..cell.end));
    if let Some(magnitude) = window.and_then(|window| eight_byte_decimal(window, cell.end.saturating_sub(unsigned))) {
        return Some(if negative { -magnitude } else { magnitude });
    }
    parse_trimmed_number(text.get(cell)?)
}

/// The number written by the last `length` (1 to 8) bytes of the eight bytes `window`, when they are digits with
/// at most one point among them and at least one digit; the same f64 as [`parse_plain_decimal`] gives.
fn eight_byte_decimal(window: &[u8], length: usize) -> Option<f64> {
    const ZEROS: u64 = u64::from_le_bytes([b'0'; 8]);
    const POINTS: u64 = u64::from_le_bytes([b'.'; 8]);
    const LOW_BITS: u64 = u64::from_le_bytes([0x7F; 8]);
    const HIGH_NIBBLES: u64 = u64::from_le_bytes([0xF0; 8]);
    if !(1..=8).contains(&length) {
        return None;
    }
    // Bytes in reading order from the lowest; the bytes before the cell become leading zeros.
    let word = u64::from_le_bytes(window.try_into().ok()?);
    let before_cell = (1u64 << (8 * (8 - length))) - 1;
    let chars = (word & !before_cell) | (ZEROS & before_cell);
    // The high bit of the byte that is a point, exactly.
    let differs = chars ^ POINTS;
    let points = !(((differs & LOW_BITS) + LOW_BITS) | differs | LOW_BITS);
    let (digits, after_point) = match points.count_ones() {
        0 => (chars, 0),
        1 if length > 1 => {
            let at = points.trailing_zeros() / 8;
            let before = (1u64 << (8 * at)) - 1;
            let after = u64::MAX.checked_shl(8 * (at + 1)).unwrap_or(0);
            // The digits before the point move up into its place and a leading zero comes in.
            (((chars & before) << 8) | (chars & after) | u64::from(b'0'), 7 - at as usize)
        }
        _ => return None,
    };
    let all_digits = digits & HIGH_NIBBLES == ZEROS && (digits + u64::from_le_bytes([6; 8])) & HIGH_NIBBLES == ZEROS;
    if !all_digits {
        return None;
    }
    // Eight digits to their value in three steps, pairs, then fours, then the whole (the first digit is the
    // lowest byte).
    let values = digits - ZEROS;
    let pairs = values.wrapping_mul(10).wrapping_add(values >> 8);
    let mask = 0x0000_00FF_0000_00FF;
    let whole = (pairs & mask)
        .wrapping_mul(100 + (1_000_000 << 32))
        .wrapping_add(((pairs >> 16) & mask).wrapping_mul(1 + (10_000 << 32)))
        >> 32;
    Some((whole as u32) as f64 / EXACT_POWERS_OF_TEN[after_point])
}

/// Powers of ten that f64 holds exactly.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// The common case of [`parse_number`] done quickly: a plain decimal (`-12.5`, `+3`, `.5`, `7.`) whose digits,
/// read as a whole number, are at most 2^53, with at most 22 digits after the point. Both that whole number and
/// the power of ten are exact f64s, so one division rounds exactly as `str::parse` does (Clinger's fast path).
/// `None` for any other text, which then takes the general path.
fn parse_plain_decimal(bytes: &[u8]) -> Option<f64> {
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, bytes),
    };
    // 19 digits cannot overflow a u64.
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let (mut whole, mut count, mut point) = (0u64, 0usize, None);
    for (index, &byte) in digits.iter().enumerate() {
        match byte {
            b'0'..=b'9' => {
                whole = whole * 10 + u64::from(byte - b'0');
                count += 1;
            }
            b'.' if point.is_none() => point = Some(index),
            _ => return None,
        }
    }
    let after_point = point.map_or(0, |at| digits.len() - at - 1);
    if count == 0 || whole > 1 << 53 {
        return None;
    }
    let magnitude = whole as f64 / EXACT_POWERS_OF_TEN.get(after_point)?;
    Some(if negative { -magnitude } else { magnitude })
}

/// The canonical text of a number, so that `1`, `1.0` and `+1` are one label: the shortest form that reads back
/// as the same f64 ("1", "0.5", "-2"), in exponent form beyond 1e16 or below 1e-6 ("1e20").
pub fn canonical_number(number: f64) -> String {
    let number = number + 0.0;
    if number != 0.0 && !(1e-6..1e16).contains(&number.abs()) {
        format!("{number:e}")
    } else {
        format!("{number}")
    }
}

/// Whether a cell looks like a date or a date-time: `2021-03-04`, `2021/03/04`, `04/03/2021`, `03.04.2021`,
/// `4-3-2021`, optionally followed by a time after `T` or a space (`2021-03-04T10:00`, `2021-03-04 10:00:00`).
pub fn looks_like_date(text: &str) -> bool {
    let text = text.trim();
    let (date, time) = match text.find(['T', ' ']) {
        Some(at) => (&text[..at], Some(text[at + 1..].trim_start())),
        None => (text, None),
    };
    date_part_ok(date) && time.is_none_or(time_part_ok)
}

/// `YYYY-MM-DD`, `YYYY/MM/DD`, `DD/MM/YYYY`, `MM/DD/YYYY`, `DD.MM.YYYY` (one separator throughout).
fn date_part_ok(date: &str) -> bool {
    let Some(separator) = date.chars().find(|c| matches!(c, '-' | '/' | '.')) else {
        return false;
    };
    let parts: Vec<&str> = date.split(separator).collect();
    if parts.len() != 3 || parts.iter().any(|part| part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    let lengths: Vec<usize> = parts.iter().map(|part| part.len()).collect();
    let values: Vec<u32> = parts.iter().map(|part| part.parse().unwrap_or(0)).collect();
    let day_month = |day: u32, month: u32| (1..=31).contains(&day) && (1..=12).contains(&month);
    let year_ok = |year: u32| (1000..=2999).contains(&year);
    match lengths[..] {
        [4, 1..=2, 1..=2] if separator != '.' => year_ok(values[0]) && day_month(values[2], values[1]),
        [1..=2, 1..=2, 4] => year_ok(values[2]) && (day_month(values[0], values[1]) || day_month(values[1], values[0])),
        _ => false,
    }
}

/// `HH:MM`, optionally followed by seconds, fractions and a zone (`10:00:00.5Z`, `10:00+02:00`).
fn time_part_ok(time: &str) -> bool {
    let mut pieces = time.splitn(2, ':');
    let hours = pieces.next().unwrap_or("");
    let rest = pieces.next().unwrap_or("");
    let minutes: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (1..=2).contains(&hours.len())
        && hours.bytes().all(|b| b.is_ascii_digit())
        && hours.parse::<u32>().is_ok_and(|hours| hours <= 23)
        && minutes.len() == 2
        && minutes.parse::<u32>().is_ok_and(|minutes| minutes <= 59)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_exactly_the_missing_tokens() {
        for missing in ["", "  ", "NA", "NaN", "?", " NA ", "\t"] {
            assert!(is_missing(missing), "{missing:?}");
        }
        for present in ["na", "nan", "N/A", "-", "0", "None", "??"] {
            assert!(!is_missing(present), "{present:?}");
        }
    }

    #[test]
    fn parses_numbers_but_not_words() {
        for (text, number) in [("1e-3", 0.001), ("-2", -2.0), ("+3.5", 3.5), (" 7 ", 7.0), (".5", 0.5)] {
            assert_eq!(parse_number(text), Some(number), "{text}");
        }
        for text in ["inf", "nan", "NaN", "infinity", "1e999", "1,5", "e5", "--1", "", ".", "0x10", "1_000"] {
            assert_eq!(parse_number(text), None, "{text}");
        }
    }

    #[test]
    fn plain_decimals_read_exactly_as_the_standard_parser_does() {
        use rand::{Rng, SeedableRng};
        let mut random = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let alphabet = b"0123456789012345678901234567890123456789.-+";
        let mut fast = 0;
        for round in 0..200_000 {
            let text: String = if round % 2 == 0 {
                let length = random.gen_range(1..24);
                (0..length).map(|_| alphabet[random.gen_range(0..alphabet.len())] as char).collect()
            } else {
                let sign = ["", "-", "+"][random.gen_range(0..3)];
                let whole: u64 = random.gen_range(0..u64::MAX) >> random.gen_range(0..64);
                let places = random.gen_range(0..24);
                let digits = whole.to_string();
                let at = random.gen_range(0..=digits.len());
                let point = if places == 0 { "" } else { "." };
                format!("{sign}{}{point}{}", &digits[..at], &digits[at..])
            };
            let expected = text.parse::<f64>().ok().filter(|number| number.is_finite());
            if let Some(number) = parse_plain_decimal(text.as_bytes()) {
                fast += 1;
                assert_eq!(Some(number.to_bits()), expected.map(f64::to_bits), "{text}");
            }
            assert_eq!(parse_trimmed_number(&text).map(f64::to_bits), expected.map(f64::to_bits), "{text}");
        }
        assert!(fast > 50_000, "the fast path took only {fast} texts");
        for (text, number) in [("-0", -0.0), ("0.1", 0.1), ("9007199254740992", 9007199254740992.0), ("1.", 1.0)] {
            assert_eq!(parse_plain_decimal(text.as_bytes()).map(f64::to_bits), Some(f64::to_bits(number)), "{text}");
        }
        for text in ["9007199254740993", "1e5", ".", "-", "1.2.3", "0x1", "+-1", "00000000000000000001"] {
            assert_eq!(parse_plain_decimal(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn cells_read_eight_bytes_at_once_as_the_standard_parser_does() {
        use rand::{Rng, SeedableRng};
        let mut random = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        let alphabet = b"0123456789012345678901234567890123456789..-+e";
        let mut fast = 0;
        for _ in 0..200_000 {
            let before: String =
                (0..random.gen_range(0..12)).map(|_| ['x', '.', '7', 'é'][random.gen_range(0..4)]).collect();
            let cell: String =
                (0..random.gen_range(0..12)).map(|_| alphabet[random.gen_range(0..alphabet.len())] as char).collect();
            let text = format!("{before}{cell}");
            let unsigned = cell.strip_prefix(['-', '+']).unwrap_or(&cell);
            let window = text.len().checked_sub(8).map(|from| &text.as_bytes()[from..]);
            fast += usize::from(window.and_then(|window| eight_byte_decimal(window, unsigned.len())).is_some());
            let expected = cell.parse::<f64>().ok().filter(|number| number.is_finite());
            let found = parse_cell(&text, before.len()..text.len());
            assert_eq!(found.map(f64::to_bits), expected.map(f64::to_bits), "{cell:?} after {before:?}");
        }
        assert!(fast > 20_000, "the eight-byte path took only {fast} cells");
        for (cell, number) in
            [("-0", -0.0), ("12345678", 12345678.0), ("-1234.567", -1234.567), (".5", 0.5), ("7.", 7.0)]
        {
            let text = format!("abcdefgh{cell}");
            let window = &text.as_bytes()[text.len() - 8..];
            let unsigned = cell.trim_start_matches('-').len();
            assert_eq!(eight_byte_decimal(window, unsigned).map(f64::abs), Some(f64::abs(number)), "{cell}");
            assert_eq!(parse_cell(&text, 8..text.len()).map(f64::to_bits), Some(number.to_bits()), "{cell}");
        }
        for cell in ["", "-", ".", "..5", "1.2.3", "1e5", "+-1", "1 2"] {
            let text = format!("abcdefgh{cell}");
            let unsigned = cell.strip_prefix(['-', '+']).unwrap_or(cell).len();
            assert_eq!(eight_byte_decimal(&text.as_bytes()[text.len() - 8..], unsigned), None, "{cell}");
        }
    }

    #[test]
    fn recognises_dates_and_times() {
        for date in ["2021-03-04", "2021-03-04T10:00", "2021/03/04", "04/03/2021", "03.04.2021", "12/31/2020"] {
            assert!(looks_like_date(date), "{date}");
        }
        for date in ["2021", "2021-13-04", "32/13/2021", "1.5.3", "a-b-c", "2021-03-04T25:00", "03.04.21", "T"] {
            assert!(!looks_like_date(date), "{date}");
        }
    }

    #[test]
    fn canonical_numbers_are_the_shortest_exact_form() {
        assert_eq!(canonical_number(1e20), "1e20");
        assert_eq!(canonical_number(1.5e-7), "1.5e-7");
        assert_eq!(canonical_number(-0.0), "0");
        assert_eq!(canonical_number(0.1), "0.1");
    }
}
