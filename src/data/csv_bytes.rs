//! Byte-level helpers for reading CSV files that the csv crate does not provide: finding lines from byte
//! offsets, spotting a quote left open at the end of a file, skipping a byte order mark and trimming cells.

use std::collections::VecDeque;
use std::io::{self, Read};

/// The UTF-8 byte order mark some programs (Excel) write at the start of a file.
pub(super) const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A reader that notes where the line breaks are in what it hands on, so that a line can be found from a byte
/// offset. Offsets are asked in increasing order, so only the breaks still ahead of the last question are kept.
pub(super) struct LineCounter<R> {
    inner: R,
    offset: u64,
    pending: VecDeque<u64>,
    passed: u64,
}

impl<R> LineCounter<R> {
    pub(super) fn new(inner: R) -> LineCounter<R> {
        LineCounter { inner, offset: 0, pending: VecDeque::new(), passed: 0 }
    }

    /// The 1-based line of the byte at `offset`; offsets must not decrease from one call to the next.
    pub(super) fn line_of_byte(&mut self, offset: u64) -> u64 {
        while self.pending.front().is_some_and(|&line_break| line_break < offset) {
            self.pending.pop_front();
            self.passed += 1;
        }
        self.passed + 1
    }
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let count = self.inner.read(buffer)?;
        let start = self.offset;
        let pending = &mut self.pending;
        for_each_line_break(buffer.get(..count).unwrap_or_default(), |index| pending.push_back(start + index as u64));
        self.offset += count as u64;
        Ok(count)
    }
}

/// A cell without surrounding whitespace: ASCII whitespace cheaply, other Unicode whitespace when the cell starts
/// or ends with a non-ASCII byte.
pub(super) fn trim_cell(cell: &str) -> &str {
    let trimmed = cell.trim_ascii();
    let bytes = trimmed.as_bytes();
    if bytes.first().is_some_and(|byte| !byte.is_ascii()) || bytes.last().is_some_and(|byte| !byte.is_ascii()) {
        trimmed.trim()
    } else {
        trimmed
    }
}

pub(super) fn count_line_breaks(bytes: &[u8]) -> u64 {
    let mut count = 0;
    for_each_line_break(bytes, |_| count += 1);
    count
}

/// Calls `found` with the index of every `\n` in `bytes`. Eight bytes are tested at once, since line breaks are
/// rare among the bytes of a data file and reading is otherwise dominated by this scan.
pub(super) fn for_each_line_break(bytes: &[u8], mut found: impl FnMut(usize)) {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH_BITS: u64 = u64::from_ne_bytes([0x80; 8]);
    const LINE_BREAKS: u64 = u64::from_ne_bytes([b'\n'; 8]);
    let mut words = bytes.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        let value = u64::from_ne_bytes(word.try_into().unwrap_or([0; 8])) ^ LINE_BREAKS;
        if value.wrapping_sub(ONES) & !value & HIGH_BITS != 0 {
            word.iter().enumerate().filter(|(_, &byte)| byte == b'\n').for_each(|(index, _)| found(base + index));
        }
        base += 8;
    }
    words.remainder().iter().enumerate().filter(|(_, &byte)| byte == b'\n').for_each(|(index, _)| found(base + index));
}

/// Calls `found` with the index and value of every byte of `bytes` that is the `delimiter`, `\n` or `\r`, in order.
/// Eight bytes are tested at once: in a data file these bytes come every few bytes, and finding them is most of
/// the work of cutting records into fields.
pub(super) fn for_each_separator(bytes: &[u8], delimiter: u8, mut found: impl FnMut(usize, u8)) {
    const LOW_BITS: u64 = u64::from_le_bytes([0x7F; 8]);
    // The high bit of each byte of `word` that is 0, exactly (no carry runs from one byte into the next).
    let zero_bytes = |word: u64| !(((word & LOW_BITS) + LOW_BITS) | word | LOW_BITS);
    let targets = [delimiter, b'\n', b'\r'].map(|byte| u64::from_le_bytes([byte; 8]));
    let mut words = bytes.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        let value = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        let mut hits = targets.iter().fold(0, |hits, &target| hits | zero_bytes(value ^ target));
        while hits != 0 {
            let index = (hits.trailing_zeros() / 8) as usize;
            found(base + index, word[index]);
            hits &= hits - 1;
        }
        base += 8;
    }
    for (index, &byte) in words.remainder().iter().enumerate() {
        if byte == delimiter || byte == b'\n' || byte == b'\r' {
            found(base + index, byte);
        }
    }
}

/// Scans the raw bytes of the last record (to the end of the file) as the csv crate does and, when a quoted value
/// is still open at the end, returns the number of line breaks before its opening quote and its field index.
pub(super) fn find_unclosed_quote(tail: &[u8], delimiter: u8) -> Option<(u64, usize)> {
    #[derive(PartialEq)]
    enum State {
        StartField,
        InField,
        InQuotes,
        AfterQuote,
    }
    let mut state = State::StartField;
    let (mut field, mut newlines, mut opened) = (0usize, 0u64, (0u64, 0usize));
    for &byte in tail {
        let ends_field = byte == delimiter || byte == b'\n' || byte == b'\r';
        state = match state {
            State::StartField | State::InField | State::AfterQuote if ends_field => {
                field = if byte == delimiter { field + 1 } else { 0 };
                State::StartField
            }
            State::StartField if byte == b'"' => {
                opened = (newlines, field);
                State::InQuotes
            }
            State::AfterQuote if byte == b'"' => State::InQuotes,
            State::InQuotes if byte == b'"' => State::AfterQuote,
            State::InQuotes => State::InQuotes,
            State::StartField | State::InField | State::AfterQuote => State::InField,
        };
        newlines += u64::from(byte == b'\n');
    }
    (state == State::InQuotes).then_some(opened)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_line_break_at_any_alignment() {
        let text = b"a\nbb\n\n0123456789abcdef\nxyz\n\n\n0123456\n7";
        for start in 0..text.len() {
            let mut found = Vec::new();
            for_each_line_break(&text[start..], |index| found.push(index));
            let expected: Vec<usize> =
                text[start..].iter().enumerate().filter(|(_, &b)| b == b'\n').map(|(i, _)| i).collect();
            assert_eq!(found, expected, "from {start}");
        }
    }

    #[test]
    fn finds_every_separator_at_any_alignment() {
        let text = b"a,b\r\n,,1234567,\n\xff\x8a;\x0c,\r\r0123456789abcdef,x\n";
        for delimiter in [b',', b';', b'\t', 0x8a, 0x2c | 0x80] {
            for start in 0..text.len() {
                let mut found = Vec::new();
                for_each_separator(&text[start..], delimiter, |index, byte| found.push((index, byte)));
                let expected: Vec<(usize, u8)> = text[start..]
                    .iter()
                    .enumerate()
                    .filter(|(_, &b)| b == delimiter || b == b'\n' || b == b'\r')
                    .map(|(i, &b)| (i, b))
                    .collect();
                assert_eq!(found, expected, "from {start} with {delimiter}");
            }
        }
    }

    #[test]
    fn line_counter_maps_offsets_to_lines() {
        let mut counter = LineCounter::new(&b"ab\ncd\n\nef"[..]);
        let mut sink = Vec::new();
        counter.read_to_end(&mut sink).expect("reads");
        assert_eq!([0, 2, 3, 6, 7].map(|offset| counter.line_of_byte(offset)), [1, 1, 2, 3, 4]);
    }

    #[test]
    fn finds_quotes_left_open() {
        assert_eq!(find_unclosed_quote(b"1,\"abc\n", b','), Some((0, 1)));
        assert_eq!(find_unclosed_quote(b"\n1,x\n2,\"a\"\"b\nc", b','), Some((2, 1)));
        assert_eq!(find_unclosed_quote(b"1,\"a\"\"b\"\n", b','), None);
        assert_eq!(find_unclosed_quote(b"1,5'11\"\n", b','), None);
        assert_eq!(find_unclosed_quote(b"1;\"a;b\";\"c", b';'), Some((0, 2)));
    }

    #[test]
    fn trims_ascii_and_unicode_whitespace() {
        assert_eq!(trim_cell("  7\t"), "7");
        assert_eq!(trim_cell("\u{a0}7\u{a0}"), "7");
        assert_eq!(trim_cell("é "), "é");
    }
}
