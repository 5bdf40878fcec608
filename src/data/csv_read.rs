//! Reading a CSV file once into a [`Table`], with every problem reported by line and column.
//!
//! A large file without quotes is read in pieces on several threads, each a chunk at a time, so that it is never
//! held whole in memory; any other file is read whole by the csv reader. Both give the same table and problems.
//!
//! Each column is kept as text or as numbers ([`Layout`]). A number column's cells go straight into the table's
//! f32 matrix as the file is read, keeping no text; a column asked for as numbers that turns out to hold a cell
//! that is not a number is read again as text (the reading stops soon after finding it, and starts over), so that
//! the table is the same as if it had been asked for as text, less the text of its number columns.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use crate::data::cells::{finite_f32, is_missing_trimmed, parse_cell};
use crate::data::csv_bytes::{
    count_line_breaks, find_unclosed_quote, for_each_separator, trim_cell, LineCounter, UTF8_BOM,
};
use crate::data::table::{Column, DistinctCounts, FactsBuilder, Matrix, RowLines, Table};
use crate::diagnostics::{did_you_mean, Diagnostic, Diagnostics};

/// How to read a CSV file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    /// The byte separating values: `b','` unless the spec says otherwise (`{csv: PATH, delimiter: ";"}`).
    pub delimiter: u8,
}

impl Default for CsvOptions {
    fn default() -> CsvOptions {
        CsvOptions { delimiter: b',' }
    }
}

impl CsvOptions {
    /// How a spec's data source is read: its delimiter for a CSV (the spec allows only ASCII ones), the default
    /// for an image manifest. Test files and predict-time files are read the same way.
    pub fn of(source: &crate::spec::ast::Source) -> CsvOptions {
        match source {
            crate::spec::ast::Source::Csv { delimiter, .. } => {
                CsvOptions { delimiter: u8::try_from(delimiter.value).unwrap_or(b',') }
            }
            crate::spec::ast::Source::Images { .. } => CsvOptions::default(),
        }
    }
}

/// Which columns a reading keeps as text and which as numbers (see [`Table`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// Every column as text.
    #[default]
    Text,
    /// Every column as numbers, but those named here and those found to hold a cell that is not a number.
    Numbers {
        /// The columns kept as text whatever they hold.
        text: BTreeSet<String>,
    },
}

impl Layout {
    /// Whether the column called `name` is asked for as numbers.
    fn numbers(&self, name: &str) -> bool {
        match self {
            Layout::Text => false,
            Layout::Numbers { text } => !text.contains(name),
        }
    }

    /// The layout with the columns `names` kept as text too.
    fn with_text(self, names: Vec<String>) -> Layout {
        match self {
            Layout::Text => Layout::Text,
            Layout::Numbers { mut text } => {
                text.extend(names);
                Layout::Numbers { text }
            }
        }
    }
}

/// What one reading of a file gives: the table, or the columns asked for as numbers that hold text.
#[derive(Debug, PartialEq)]
enum Outcome {
    Table(Table),
    Text(Vec<String>),
}

/// Reads the CSV file at `path`: one header row, then one row per record, every column as text. All problems
/// found are returned together; the table is returned only when there is none.
pub fn read_csv(path: &Path, options: &CsvOptions) -> Result<Table, Diagnostics> {
    read_table(path, options, Layout::Text)
}

/// [`read_csv`] with each column kept as `layout` says.
pub fn read_table(path: &Path, options: &CsvOptions, layout: Layout) -> Result<Table, Diagnostics> {
    again_as_text(layout, |layout| {
        let mut file = open_data_file(path, "CSV file")?;
        let length = file.metadata().map_or(0, |meta| meta.len());
        let source = Source::File(path);
        let pieces = pieces_for(length, layout);
        if let Some(reading) = read_plain_in_pieces(path, source, length, options, layout, pieces, CHUNK_BYTES)? {
            return reading.finish(None);
        }
        let mut bytes = Vec::with_capacity(usize::try_from(length).unwrap_or(0).saturating_add(1));
        file.read_to_end(&mut bytes).map_err(|error| single(unreadable(path, &error)))?;
        read_with_csv_reader(path, &bytes, options, layout)
    })
}

/// Reads CSV text already in memory, every column as text; `path` is only used in messages. Meant for tests and
/// for callers that hold the bytes already.
pub fn read_csv_bytes(path: &Path, bytes: &[u8], options: &CsvOptions) -> Result<Table, Diagnostics> {
    read_table_bytes(path, bytes, options, Layout::Text)
}

/// [`read_csv_bytes`] with each column kept as `layout` says.
pub fn read_table_bytes(path: &Path, bytes: &[u8], options: &CsvOptions, layout: Layout) -> Result<Table, Diagnostics> {
    let pieces = pieces_for(bytes.len() as u64, &layout);
    read_csv_pieces(path, bytes, options, layout, pieces, CHUNK_BYTES)
}

/// Reads with `read` until no column asked for as numbers holds text, each such column then kept as text.
fn again_as_text(
    mut layout: Layout,
    mut read: impl FnMut(&Layout) -> Result<Outcome, Diagnostics>,
) -> Result<Table, Diagnostics> {
    loop {
        match read(&layout)? {
            Outcome::Table(table) => return Ok(table),
            Outcome::Text(names) => layout = layout.with_text(names),
        }
    }
}

/// Below this many bytes a file is parsed on one thread.
const PARALLEL_MIN_BYTES: u64 = 1 << 20;

/// How many bytes a piece of a file reads at a time.
const CHUNK_BYTES: usize = 1 << 20;

/// A piece of a file read as numbers holds at least this many bytes.
const NUMBERS_PIECE_BYTES: u64 = 8 << 20;

/// The number of pieces a file of `length` bytes is read in: one per thread for a large file. Read as numbers, a
/// large file is cut into up to four pieces per thread: the pieces' numbers are put together one piece after the
/// other, and the smaller the pieces the less memory that takes beside the numbers themselves.
fn pieces_for(length: u64, layout: &Layout) -> usize {
    if length < PARALLEL_MIN_BYTES {
        return 1;
    }
    let threads = rayon::current_num_threads();
    match layout {
        Layout::Text => threads,
        Layout::Numbers { .. } => {
            let small = usize::try_from(length / NUMBERS_PIECE_BYTES).unwrap_or(usize::MAX);
            small.clamp(threads, threads * 4)
        }
    }
}

/// [`read_table_bytes`] in up to `pieces` pieces read `chunk` bytes at a time (see [`read_plain_in_pieces`]).
/// The table and the diagnostics are the same for any number of pieces and any chunk size.
fn read_csv_pieces(
    path: &Path,
    bytes: &[u8],
    options: &CsvOptions,
    layout: Layout,
    pieces: usize,
    chunk: usize,
) -> Result<Table, Diagnostics> {
    again_as_text(layout, |layout| {
        let source = Source::Bytes(bytes);
        let length = bytes.len() as u64;
        if let Some(reading) = read_plain_in_pieces(path, source, length, options, layout, pieces, chunk)? {
            return reading.finish(None);
        }
        read_with_csv_reader(path, bytes, options, layout)
    })
}

/// Reads a whole file with the csv reader, on one thread.
fn read_with_csv_reader(
    path: &Path,
    bytes: &[u8],
    options: &CsvOptions,
    layout: &Layout,
) -> Result<Outcome, Diagnostics> {
    let bom_length = if bytes.starts_with(UTF8_BOM) { UTF8_BOM.len() } else { 0 };
    let body = &bytes[bom_length..];
    let reading = read_records(path, body, options, layout)?;
    let tail = reading.last_record.and_then(|last| body.get(usize::try_from(last.byte).ok()?..));
    reading.finish(tail)
}

/// Opens a data file, turning "not found", "is a folder" and other failures into diagnostics. `what` names the
/// expected kind of file in messages ("CSV file").
pub(crate) fn open_data_file(path: &Path, what: &str) -> Result<File, Diagnostics> {
    if path.is_dir() {
        return Err(single(
            Diagnostic::error("data::unreadable", format!("`{}` is a folder, not a {what}", path.display()))
                .at_file(path)
                .with_help(format!("give the path of the {what} itself")),
        ));
    }
    match File::open(path) {
        Ok(file) => Ok(file),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Err(single(not_found(path, what))),
        Err(error) => Err(single(unreadable(path, &error))),
    }
}

/// The "file not found" diagnostic, suggesting a file of the same folder with a close name.
pub(crate) fn not_found(path: &Path, what: &str) -> Diagnostic {
    let wanted = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let folder = path.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let siblings: Vec<String> = std::fs::read_dir(folder)
        .map(|entries| entries.flatten().map(|entry| entry.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let help = match did_you_mean(&wanted, siblings.iter().map(String::as_str)) {
        Some(close) if close != wanted => {
            format!("did you mean `{}`?", folder.join(close).display())
        }
        _ => "check the path; a path in a spec is relative to the folder of the spec file".to_string(),
    };
    Diagnostic::error("data::not_found", format!("{what} `{}` not found", path.display())).at_file(path).with_help(help)
}

/// The diagnostic for a file that exists but cannot be read.
pub(crate) fn unreadable(path: &Path, error: &io::Error) -> Diagnostic {
    Diagnostic::error("data::unreadable", format!("cannot read the file: {}", lowercase_first(&error.to_string())))
        .at_file(path)
        .with_help("check that the file exists, is not open in another program and that you may read it")
}

/// Most problems of one kind reported one by one; the rest are summed up in one more diagnostic.
const MAX_REPORTED: usize = 10;

/// What reading the records found, before the last record's raw bytes are checked for an open quote.
struct Reading<'p> {
    path: &'p Path,
    delimiter: u8,
    header_line: u64,
    columns: Vec<Column>,
    rows: usize,
    lines: RowLines,
    header_errors: Diagnostics,
    /// Rows with the wrong number of fields: (line, fields found); all of them, for the final count.
    ragged: Vec<(u64, usize)>,
    /// Cells that are not UTF-8: (line, column index); at most `MAX_REPORTED` kept, `bad_utf8_total` counts all.
    bad_utf8: Vec<(u64, usize)>,
    bad_utf8_total: usize,
    too_large: Option<String>,
    /// Where the last record (or the header) is.
    last_record: Option<LastRecord>,
    /// The number columns' cells, row by row (see [`Matrix`]), `width` a row.
    matrix: Vec<f32>,
    width: usize,
    /// What the schema needs to know about each number column's exact values.
    facts: Vec<Option<FactsBuilder>>,
    /// The columns asked for as numbers that hold a cell that is not a number.
    not_numbers: Vec<bool>,
    /// Records read since the first cell that is not a number in a number column.
    since_not_number: Option<usize>,
    /// Records whose cells are stored.
    stored: usize,
}

/// What the pieces of a file read together tell each other.
struct Shared {
    /// A piece found a quote: the csv reader must read the file.
    quoted: AtomicBool,
    /// A piece found a cell that is not a number in a number column: the file is read again.
    not_numbers: AtomicBool,
    /// The different numbers of each number column.
    distinct: DistinctCounts,
}

impl Shared {
    fn new(columns: usize) -> Shared {
        Shared {
            quoted: AtomicBool::new(false),
            not_numbers: AtomicBool::new(false),
            distinct: DistinctCounts::new(columns),
        }
    }
}

/// The fewest numbers a piece makes room for once it has many: 32 MiB and a page, past the largest block the
/// system allocator (glibc) serves from its heap rather than mapping it apart. Room not written takes no memory.
const MAPPED_NUMBERS: usize = ((32 << 20) + 4096) / std::mem::size_of::<f32>();

/// The csv reader stops this many records after finding a cell that is not a number in a number column (and
/// a piece at the end of its chunk), so that one reading finds most such columns before the file is read again.
const RECORDS_AFTER_NOT_NUMBER: usize = 1000;

fn read_error(path: &Path) -> impl Fn(csv::Error) -> Diagnostics + '_ {
    move |error: csv::Error| {
        let message = lowercase_first(&error.to_string());
        single(
            Diagnostic::error("data::unreadable", format!("cannot read the file: {message}"))
                .at_file(path)
                .with_help("check that the file is a CSV text file and that you may read it"),
        )
    }
}

fn csv_reader<R: Read>(input: R, options: &CsvOptions) -> csv::Reader<LineCounter<R>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(options.delimiter)
        .buffer_capacity(1 << 16)
        .from_reader(LineCounter::new(input))
}

/// Reads the header row; the reading holds no record yet.
fn start_reading<'p, R: Read>(
    path: &'p Path,
    reader: &mut csv::Reader<LineCounter<R>>,
    options: &CsvOptions,
    layout: &Layout,
) -> Result<Reading<'p>, Diagnostics> {
    let mut record = csv::ByteRecord::new();
    if !reader.read_byte_record(&mut record).map_err(read_error(path))? {
        return Err(single(empty_file(path, "the file is empty")));
    }
    let header = LastRecord::of(reader, &record);
    let (names, header_errors) = read_header(path, &record, header.start_line, options.delimiter)?;
    let mut width = 0;
    let columns: Vec<Column> = names
        .into_iter()
        .map(|name| {
            if layout.numbers(&name) {
                width += 1;
                Column::numbers_at(name, width - 1)
            } else {
                Column::text(name)
            }
        })
        .collect();
    let mut reading = Reading::part(path, options.delimiter, header.start_line, &columns);
    reading.columns = columns;
    reading.lines = RowLines::Regular { first: header.start_line + 1 };
    reading.header_errors = header_errors;
    reading.last_record = Some(header);
    Ok(reading)
}

/// Reads the header and every record, validating UTF-8 per field so that errors carry their line.
fn read_records<'p, R: Read>(
    path: &'p Path,
    input: R,
    options: &CsvOptions,
    layout: &Layout,
) -> Result<Reading<'p>, Diagnostics> {
    let mut reader = csv_reader(input, options);
    let mut reading = start_reading(path, &mut reader, options, layout)?;
    let shared = Shared::new(reading.columns.len());
    reading.read_rest(&mut reader, &shared)?;
    reading.finish_facts(&shared, true);
    Ok(reading)
}

/// Where the bytes of a CSV file are read from: the file (through a handle for each piece) or memory.
#[derive(Clone, Copy)]
enum Source<'s> {
    File(&'s Path),
    Bytes(&'s [u8]),
}

impl<'s> Source<'s> {
    /// A reader of the bytes from `offset` on.
    fn open_at(self, offset: u64) -> io::Result<Box<dyn Read + 's>> {
        match self {
            Source::File(path) => {
                let mut file = File::open(path)?;
                file.seek(SeekFrom::Start(offset))?;
                Ok(Box::new(file))
            }
            Source::Bytes(bytes) => {
                let from = usize::try_from(offset).unwrap_or(usize::MAX);
                Ok(Box::new(bytes.get(from..).unwrap_or_default()))
            }
        }
    }
}

/// The offset just after the first line break at or after `offset`; `None` when there is none.
fn line_after(source: Source, offset: u64, chunk: usize) -> io::Result<Option<u64>> {
    let mut reader = source.open_at(offset)?;
    let (mut buffer, mut at) = (Vec::new(), offset);
    loop {
        buffer.clear();
        let end = read_chunk(&mut reader, &mut buffer, chunk)?;
        if let Some(index) = buffer.iter().position(|&byte| byte == b'\n') {
            return Ok(Some(at + index as u64 + 1));
        }
        if end {
            return Ok(None);
        }
        at += buffer.len() as u64;
    }
}

/// Where a piece of a file without quotes is and how it reads (see [`read_plain_in_pieces`]).
struct PlainPiece<'s> {
    source: Source<'s>,
    /// The offset of its first line.
    first: u64,
    /// It reads the lines that start at or before this offset.
    limit: u64,
    /// How many bytes it reads at a time.
    chunk: usize,
    /// The length of the text its columns will hold cells of (see [`Reading::make_room`]).
    room: usize,
}

/// Appends up to `chunk` more bytes from `reader` to `buffer`; true when the end was reached.
fn read_chunk(reader: &mut dyn Read, buffer: &mut Vec<u8>, chunk: usize) -> io::Result<bool> {
    buffer.reserve(chunk);
    let read = reader.take(chunk as u64).read_to_end(buffer)?;
    Ok(read < chunk)
}

/// Reads a file without quotes in `pieces` pieces in parallel, each `chunk` bytes at a time, or says (`None`) that
/// the csv reader must read it: with one piece, with a delimiter that could end a line, with a quote anywhere (a
/// quoted value may hold line breaks, so that lines are not records) or with a header longer than a chunk.
///
/// Without quotes every line break ends a record, so the records after the header can be cut at line breaks: a
/// piece reads the lines that start after the line break that ends the piece before it, up to the line break at
/// or after its own limit. The pieces are put back together in file order.
fn read_plain_in_pieces<'p>(
    path: &'p Path,
    source: Source,
    length: u64,
    options: &CsvOptions,
    layout: &Layout,
    pieces: usize,
    chunk: usize,
) -> Result<Option<Reading<'p>>, Diagnostics> {
    let plain_delimiter = options.delimiter.is_ascii() && !matches!(options.delimiter, b'\n' | b'\r' | b'"');
    if pieces < 2 || !plain_delimiter {
        return Ok(None);
    }
    let chunk = chunk.max(1);
    let unreadable = |error: io::Error| single(unreadable(path, &error));
    let mut head = Vec::new();
    let whole = read_chunk(&mut source.open_at(0).map_err(unreadable)?, &mut head, chunk).map_err(unreadable)?;
    let bom_length = if head.starts_with(UTF8_BOM) { UTF8_BOM.len() } else { 0 };
    let body = &head[bom_length..];
    if body.contains(&b'"') {
        return Ok(None);
    }
    let mut reader = csv_reader(body, options);
    let mut reading = start_reading(path, &mut reader, options, layout)?;
    let start = usize::try_from(reader.position().byte()).unwrap_or(body.len()).min(body.len());
    if !whole && !start.checked_sub(1).is_some_and(|end| matches!(body[end], b'\n' | b'\r')) {
        return Ok(None);
    }
    // Piece `k` reads the lines that start at or before `limits[k]`, from the first after the line break at or
    // after `limits[k - 1]`.
    let data_start = (bom_length + start) as u64;
    let data_length = u128::from(length.saturating_sub(data_start));
    let limits: Vec<u64> = (1..=pieces)
        .map(|piece| match piece {
            _ if piece == pieces => u64::MAX,
            _ => {
                let from = data_start + u64::try_from(data_length * piece as u128 / pieces as u128).unwrap_or(0);
                from.saturating_sub(1).max(data_start)
            }
        })
        .collect();
    let shared = Shared::new(reading.columns.len());
    let parts: Vec<Option<(Reading<'p>, u64)>> = (0..pieces)
        .into_par_iter()
        .map(|piece| {
            let first = match piece {
                0 => Some(data_start),
                _ => line_after(source, limits[piece - 1], chunk)?,
            };
            let mut part = Reading::part(path, options.delimiter, reading.header_line, &reading.columns);
            // The other pieces are appended to the first: it makes room for all of them.
            let room = if piece == 0 { data_length } else { data_length / pieces as u128 };
            let room = usize::try_from(room).unwrap_or(usize::MAX);
            let Some(first) = first else { return Ok(Some((part, 0))) };
            let piece = PlainPiece { source, first, limit: limits[piece], chunk, room };
            let read = part.read_plain_piece(&piece, &shared)?;
            part.finish_facts(&shared, false);
            Ok(read.map(|breaks| (part, breaks)))
        })
        .collect::<io::Result<_>>()
        .map_err(unreadable)?;
    let Some(parts) = parts.into_iter().collect::<Option<Vec<(Reading<'p>, u64)>>>() else {
        return Ok(None);
    };
    // Each piece numbered its lines from 1: they follow the header's and the earlier pieces' line breaks.
    let mut lines_before = count_line_breaks(&body[..start]);
    let mut parts: Vec<Reading<'p>> = parts
        .into_iter()
        .map(|(mut part, breaks)| {
            part.shift_lines(lines_before);
            lines_before += breaks;
            part
        })
        .collect();
    // Rows and problems in file order. The lines are regular, as [`Reading::note_line`] would have found them,
    // when every row is on the line after the one before, starting just below the header.
    let first = reading.header_line + 1;
    let regular = {
        let mut rows_before = 0u64;
        parts.iter().all(|part| {
            let fits = (0..part.rows).all(|row| part.line_of(row) == first + rows_before + row as u64);
            rows_before += part.rows as u64;
            fits
        })
    };
    reading.lines = if regular {
        RowLines::Regular { first }
    } else {
        RowLines::Explicit(parts.iter().flat_map(|part| (0..part.rows).map(|row| part.line_of(row))).collect())
    };
    for part in &mut parts {
        reading.rows += part.rows;
        reading.ragged.append(&mut part.ragged);
        reading.bad_utf8.append(&mut part.bad_utf8);
        reading.bad_utf8_total += part.bad_utf8_total;
        reading.too_large = reading.too_large.take().or(part.too_large.take());
        reading.last_record = part.last_record.or(reading.last_record);
    }
    reading.bad_utf8.truncate(MAX_REPORTED);
    if parts.is_empty() {
        return Ok(Some(reading));
    }
    for part in &parts {
        for (found, &not_number) in reading.not_numbers.iter_mut().zip(&part.not_numbers) {
            *found |= not_number;
        }
    }
    // The header's reading holds no record: its columns are the pieces' columns joined.
    reading.facts.iter_mut().for_each(|facts| *facts = None);
    reading.stored = parts.iter().map(|part| part.stored).sum();
    // The pieces' numbers one after the other, in the first piece's, which made room for all: each piece's are
    // given back once copied, so that at most one piece's are held twice.
    let cells: usize = parts.iter().map(|part| part.matrix.len()).sum();
    reading.matrix = std::mem::take(&mut parts[0].matrix);
    reading.matrix.reserve_exact(cells - reading.matrix.len());
    for part in &mut parts[1..] {
        reading.matrix.extend_from_slice(&part.matrix);
        part.matrix = Vec::new();
    }
    // Each column's pieces joined, one column per task.
    let mut pieces_of: Vec<Vec<Column>> = reading.columns.iter().map(|_| Vec::with_capacity(parts.len())).collect();
    for part in parts {
        for (index, column) in part.columns.into_iter().enumerate() {
            pieces_of[index].push(column);
        }
    }
    let joined: Vec<Result<Column, String>> = pieces_of.into_par_iter().map(Column::join).collect();
    reading.columns = Vec::with_capacity(joined.len());
    for (index, column) in joined.into_iter().enumerate() {
        match column {
            Ok(mut column) => {
                column.set_distinct(shared.distinct.take(index));
                reading.columns.push(column);
            }
            Err(name) => {
                reading.too_large.get_or_insert_with(|| name.clone());
                reading.columns.push(Column::text(name));
            }
        }
    }
    Ok(Some(reading))
}

/// Where a record is in the file.
#[derive(Clone, Copy)]
struct LastRecord {
    /// The csv reader's position for the record: where it started reading it, which may be before blank lines or
    /// the `\n` of a CRLF that it skips first.
    byte: u64,
    line: u64,
    /// The physical line of the record's first byte.
    start_line: u64,
}

impl LastRecord {
    /// The record just read: its first line is the line where it ends less the line breaks inside its values.
    fn of<R: Read>(reader: &mut csv::Reader<LineCounter<R>>, record: &csv::ByteRecord) -> LastRecord {
        let (byte, line) = record.position().map_or((0, 1), |position| (position.byte(), position.line()));
        let end = reader.position().byte();
        let end_line = reader.get_mut().line_of_byte(end.saturating_sub(1));
        let inner_breaks = count_line_breaks(record.as_slice());
        LastRecord { byte, line, start_line: end_line.saturating_sub(inner_breaks).max(1) }
    }
}

/// Checks the header row: UTF-8, no empty name, no name twice, and a plausible delimiter.
fn read_header(
    path: &Path,
    record: &csv::ByteRecord,
    line: u64,
    delimiter: u8,
) -> Result<(Vec<String>, Diagnostics), Diagnostics> {
    let mut errors = Diagnostics::new();
    let mut names = Vec::with_capacity(record.len());
    for (index, field) in record.iter().enumerate() {
        match std::str::from_utf8(field) {
            Ok(name) => names.push(name.trim_start_matches('\u{feff}').trim().to_string()),
            Err(_) => {
                errors.push(not_utf8(path, line, &format!("column {}", index + 1), None));
                names.push(String::new());
            }
        }
    }
    if names.len() == 1 && names[0].is_empty() && errors.is_empty() {
        return Err(single(empty_file(path, "the file has no header row")));
    }
    if names.len() == 1 {
        if let Some(other) =
            [b';', b',', b'\t', b'|'].into_iter().find(|&c| c != delimiter && names[0].contains(c as char))
        {
            return Err(single(wrong_delimiter(path, line, &names[0], delimiter, other)));
        }
    }
    let mut first_position: HashMap<&str, usize> = HashMap::new();
    for (index, name) in names.iter().enumerate() {
        if name.is_empty() {
            if std::str::from_utf8(&record[index]).is_ok() {
                errors.push(
                    Diagnostic::error("data::empty_column_name", format!("column {} has no name", index + 1))
                        .at_data(path, line, None)
                        .with_help(format!(
                            "write a name for column {} in the header row (line {line}), or remove the extra `{}`",
                            index + 1,
                            delimiter_text(delimiter)
                        )),
                );
            }
        } else if let Some(&first) = first_position.get(name.as_str()) {
            errors.push(
                Diagnostic::error(
                    "data::duplicate_column",
                    format!("the column name `{name}` appears twice: columns {} and {}", first + 1, index + 1),
                )
                .at_data(path, line, Some(name))
                .with_help("give every column a different name in the header row"),
            );
        } else {
            first_position.insert(name, index);
        }
    }
    Ok((names, errors))
}

impl Reading<'_> {
    /// Reads every record left in `reader`.
    fn read_rest<R: Read>(
        &mut self,
        reader: &mut csv::Reader<LineCounter<R>>,
        shared: &Shared,
    ) -> Result<(), Diagnostics> {
        let mut record = csv::ByteRecord::new();
        let mut ranges = Vec::new();
        while reader.read_byte_record(&mut record).map_err(read_error(self.path))? {
            let last = LastRecord::of(reader, &record);
            self.last_record = Some(last);
            ranges.clear();
            ranges.extend((0..record.len()).filter_map(|index| record.range(index)));
            self.add_record(record.as_slice(), &ranges, last.start_line, shared);
            if self.since_not_number.is_some_and(|records| records >= RECORDS_AFTER_NOT_NUMBER) {
                // The file is read again: what is left of it does not matter.
                break;
            }
        }
        Ok(())
    }

    /// A reading of the records of one piece of a file, under the header already read (`columns`, empty).
    fn part<'q>(path: &'q Path, delimiter: u8, header_line: u64, columns: &[Column]) -> Reading<'q> {
        let numbers = columns.iter().filter(|column| column.is_numbers()).count();
        Reading {
            path,
            delimiter,
            header_line,
            columns: columns.to_vec(),
            rows: 0,
            lines: RowLines::Regular { first: 1 },
            header_errors: Diagnostics::new(),
            ragged: Vec::new(),
            bad_utf8: Vec::new(),
            bad_utf8_total: 0,
            too_large: None,
            last_record: None,
            matrix: Vec::new(),
            width: numbers,
            facts: columns.iter().map(|column| column.is_numbers().then(FactsBuilder::new)).collect(),
            not_numbers: vec![false; columns.len()],
            since_not_number: None,
            stored: 0,
        }
    }

    /// Reads the records of `piece`, numbering its lines from 1, and returns how many line breaks it holds;
    /// `None` when it holds a quote, or another piece found one (`quoted`), so that the csv reader must read the
    /// file.
    fn read_plain_piece(&mut self, piece: &PlainPiece, shared: &Shared) -> io::Result<Option<u64>> {
        if piece.first > piece.limit {
            return Ok(Some(0));
        }
        let mut reader = piece.source.open_at(piece.first)?;
        let (mut buffer, mut offset, mut breaks) = (Vec::new(), piece.first, 0);
        loop {
            let kept = buffer.len();
            let end_of_file = read_chunk(&mut reader, &mut buffer, piece.chunk)?;
            if buffer[kept..].contains(&b'"') {
                shared.quoted.store(true, Ordering::Relaxed);
            }
            if shared.quoted.load(Ordering::Relaxed) {
                return Ok(None);
            }
            if shared.not_numbers.load(Ordering::Relaxed) {
                // The file is read again: what is left of the piece does not matter.
                return Ok(Some(breaks));
            }
            // Whole lines only, up to the line break at or after the limit.
            let search = usize::try_from(piece.limit.saturating_sub(offset)).unwrap_or(usize::MAX).min(buffer.len());
            let (end, last) = match buffer[search..].iter().position(|&byte| byte == b'\n') {
                Some(at) => (search + at + 1, true),
                None if end_of_file => (buffer.len(), true),
                None => (buffer.iter().rposition(|&byte| byte == b'\n').map_or(0, |at| at + 1), false),
            };
            breaks += self.read_plain_records(&buffer[..end], breaks, shared);
            if offset == piece.first {
                // Judged from what the first chunk held (before reading it, every column is empty).
                self.make_room(end, piece.room);
            }
            if last {
                return Ok(Some(breaks));
            }
            buffer.drain(..end);
            offset += end as u64;
        }
    }

    /// Reads every record of `text`, which holds no quote and starts a record, after `lines_before` line breaks,
    /// and returns the number of line breaks in `text`. Without quotes the csv reader's rules are simple, and
    /// followed here without copying each record: `\n` and `\r` end a record, an empty record is skipped and the
    /// delimiter separates the fields.
    fn read_plain_records(&mut self, text: &[u8], lines_before: u64, shared: &Shared) -> u64 {
        let mut line = lines_before + 1;
        let mut fields = Vec::with_capacity(self.columns.len());
        let (mut start, mut field_start) = (0, 0);
        let delimiter = self.delimiter;
        for_each_separator(text, delimiter, |index, byte| {
            if byte == delimiter {
                fields.push(field_start - start..index - start);
                field_start = index + 1;
                return;
            }
            if index > start {
                fields.push(field_start - start..index - start);
                self.add_record(&text[start..index], &fields, line, shared);
                fields.clear();
            }
            line += u64::from(byte == b'\n');
            (start, field_start) = (index + 1, index + 1);
        });
        if text.len() > start {
            fields.push(field_start - start..text.len() - start);
            self.add_record(&text[start..], &fields, line, shared);
        }
        line - lines_before - 1
    }

    /// Gives each number column its facts and its number of cells, from what was read; the different numbers
    /// too when this reading read the `whole` file (those of a piece are counted with the other pieces').
    fn finish_facts(&mut self, shared: &Shared, whole: bool) {
        for (index, (column, facts)) in self.columns.iter_mut().zip(&mut self.facts).enumerate() {
            if let Some(mut facts) = facts.take() {
                shared.distinct.count(index, &mut facts);
                let distinct = if whole { shared.distinct.take(index) } else { None };
                column.finish_numbers(self.stored, facts.finish(distinct));
            }
        }
    }

    /// Moves every line found so far `by` lines down.
    fn shift_lines(&mut self, by: u64) {
        match &mut self.lines {
            RowLines::Regular { first } => *first += by,
            RowLines::Explicit(lines) => lines.iter_mut().for_each(|line| *line += by),
        }
        self.ragged.iter_mut().for_each(|(line, _)| *line += by);
        self.bad_utf8.iter_mut().for_each(|(line, _)| *line += by);
    }

    /// Reserves in each column room for its share of `room` bytes of text, judged from the `read` bytes that gave
    /// its cells so far (and an eighth more), so that a large column is not copied again and again as it grows.
    fn make_room(&mut self, read: usize, room: usize) {
        let share = |length: usize| length.saturating_mul(room) / read.max(1) / 8 * 9;
        for column in &mut self.columns {
            column.reserve(share(column.text_len()), share(column.len()));
        }
        let numbers = share(self.matrix.len());
        if numbers > 0 {
            // A large block is mapped apart by the allocator, and unmapped when freed: the pieces' numbers are
            // given back as soon as they are copied together.
            self.matrix.reserve(if numbers >= MAPPED_NUMBERS / 32 { numbers.max(MAPPED_NUMBERS) } else { numbers });
        }
    }

    /// The line of stored row `row`.
    fn line_of(&self, row: usize) -> u64 {
        match &self.lines {
            RowLines::Regular { first } => first + row as u64,
            RowLines::Explicit(lines) => lines.get(row).copied().unwrap_or(0),
        }
    }

    /// Stores one record's cells, the `fields` of its `bytes`, or notes why it cannot be stored. Once any problem
    /// is found cells are no longer stored (the table will not be returned) but the rest of the file is still
    /// checked.
    fn add_record(&mut self, bytes: &[u8], fields: &[Range<usize>], line: u64, shared: &Shared) {
        let row = self.rows;
        self.rows += 1;
        if fields.len() != self.columns.len() {
            self.ragged.push((line, fields.len()));
            return;
        }
        // Validating the whole record at once is much faster than field by field; a field boundary inside a
        // character can only come from invalid fields, which the slow path then finds one by one.
        let text = std::str::from_utf8(bytes).ok().filter(|text| {
            fields.iter().all(|field| text.is_char_boundary(field.start) && text.is_char_boundary(field.end))
        });
        let Some(text) = text else {
            self.note_bad_utf8(bytes, fields, line);
            return;
        };
        if !self.ragged.is_empty() || self.bad_utf8_total > 0 || self.too_large.is_some() {
            return;
        }
        for (index, (column, field)) in self.columns.iter_mut().zip(fields).enumerate() {
            let cell = text.get(field.clone()).unwrap_or_default();
            let trimmed = trim_cell(cell);
            let Some(facts) = self.facts[index].as_mut() else {
                if !column.push(trimmed) {
                    self.too_large = Some(column.name.clone());
                }
                continue;
            };
            if is_missing_trimmed(trimmed) {
                column.missing += 1;
                facts.missing();
                self.matrix.push(f32::NAN);
                continue;
            }
            let start = field.start + (trimmed.as_ptr() as usize - cell.as_ptr() as usize);
            match parse_cell(text, start..start + trimmed.len()) {
                Some(number) => {
                    if !facts.capped() && shared.distinct.capped(index) {
                        facts.stop_counting();
                    }
                    if facts.number(number) {
                        shared.distinct.count(index, facts);
                    }
                    self.matrix.push(finite_f32(number));
                }
                None => {
                    self.not_numbers[index] = true;
                    self.since_not_number.get_or_insert(0);
                    shared.not_numbers.store(true, Ordering::Relaxed);
                    self.matrix.push(f32::NAN);
                }
            }
        }
        if let Some(records) = &mut self.since_not_number {
            *records += 1;
        }
        self.stored += 1;
        self.note_line(row, line);
    }

    /// Notes each field of a record that is not UTF-8, on the line where the field starts.
    fn note_bad_utf8(&mut self, bytes: &[u8], fields: &[Range<usize>], line: u64) {
        let mut breaks_before = 0;
        for (index, field) in fields.iter().enumerate() {
            let field = bytes.get(field.clone()).unwrap_or_default();
            if std::str::from_utf8(field).is_err() {
                self.bad_utf8_total += 1;
                if self.bad_utf8.len() < MAX_REPORTED {
                    self.bad_utf8.push((line + breaks_before, index));
                }
            }
            breaks_before += count_line_breaks(field);
        }
    }

    fn note_line(&mut self, row: usize, line: u64) {
        match &mut self.lines {
            RowLines::Regular { first } if *first + row as u64 == line => {}
            RowLines::Regular { first } => {
                let mut lines: Vec<u64> = (0..row as u64).map(|earlier| *first + earlier).collect();
                lines.push(line);
                self.lines = RowLines::Explicit(lines);
            }
            RowLines::Explicit(lines) => lines.push(line),
        }
    }

    /// Turns what was found into the table or the diagnostics. `tail` holds the raw bytes from the start of the
    /// last record to the end of the file, to find a quote that is never closed.
    fn finish(self, tail: Option<&[u8]>) -> Result<Outcome, Diagnostics> {
        let not_numbers: Vec<String> = (self.columns.iter().zip(&self.not_numbers))
            .filter(|(_, &not_numbers)| not_numbers)
            .map(|(column, _)| column.name.clone())
            .collect();
        if !not_numbers.is_empty() {
            return Ok(Outcome::Text(not_numbers));
        }
        let path = self.path;
        let mut diagnostics = self.header_errors;
        let open_quote = tail.and_then(|tail| find_unclosed_quote(tail, self.delimiter));
        let (position_line, last_line) = self.last_record.map_or((1, 0), |last| (last.line, last.start_line));
        if let Some((newlines, field)) = open_quote {
            let column = self.columns.get(field).map(Column::name).filter(|name| !name.is_empty());
            let line = position_line + newlines;
            diagnostics.push(
                Diagnostic::error("data::unclosed_quote", "the quote `\"` opened here is never closed".to_string())
                    .at_data(path, line, column)
                    .with_help(
                        "close the quoted value with `\"`; to write a quote inside a quoted value, double it (`\"\"`)",
                    ),
            );
        }
        let ragged: Vec<(u64, usize)> =
            self.ragged.into_iter().filter(|&(line, _)| open_quote.is_none() || line != last_line).collect();
        let expected = self.columns.len();
        for &(line, found) in ragged.iter().take(MAX_REPORTED) {
            diagnostics.push(ragged_row(path, line, expected, found, self.delimiter));
        }
        if ragged.len() > MAX_REPORTED {
            diagnostics.push(
                Diagnostic::error(
                    "data::ragged_row",
                    format!("and {} more rows with the wrong number of values", ragged.len() - MAX_REPORTED),
                )
                .at_file(path)
                .with_help(format!("every row needs {expected} values, one per column of the header")),
            );
        }
        for &(line, index) in &self.bad_utf8 {
            let column = self.columns.get(index).map(Column::name);
            diagnostics.push(not_utf8(path, line, &format!("column `{}`", column.unwrap_or("?")), column));
        }
        if self.bad_utf8_total > self.bad_utf8.len() {
            let more = self.bad_utf8_total - self.bad_utf8.len();
            diagnostics.push(
                Diagnostic::error("data::not_utf8", format!("and {more} more values that are not UTF-8 text"))
                    .at_file(path)
                    .with_help(UTF8_HELP),
            );
        }
        if let Some(name) = self.too_large {
            diagnostics.push(
                Diagnostic::error("data::too_large", format!("the column `{name}` holds more than 4 GiB of text"))
                    .at_file(path)
                    .with_help("split the file or drop the columns you do not need"),
            );
        }
        if self.rows == 0 && diagnostics.is_empty() {
            diagnostics.push(
                Diagnostic::error("data::no_rows", "the file has a header row but no data rows")
                    .at_data(path, self.header_line, None)
                    .with_help("add the data below the header row, one row per line"),
            );
        }
        if diagnostics.has_errors() {
            return Err(diagnostics);
        }
        let matrix = Matrix { values: self.matrix, width: self.width };
        Ok(Outcome::Table(Table {
            path: path.to_path_buf(),
            columns: self.columns,
            rows: self.rows,
            lines: self.lines,
            matrix,
        }))
    }
}

const UTF8_HELP: &str = "save the file with the UTF-8 encoding (in Excel: Save As, then \"CSV UTF-8\")";

fn not_utf8(path: &Path, line: u64, column_text: &str, column: Option<&str>) -> Diagnostic {
    Diagnostic::error("data::not_utf8", format!("the value in {column_text} is not UTF-8 text"))
        .at_data(path, line, column)
        .with_help(UTF8_HELP)
}

fn empty_file(path: &Path, message: &str) -> Diagnostic {
    Diagnostic::error("data::empty", message)
        .at_file(path)
        .with_help("the first line must be a header row naming the columns, followed by one line per data row")
}

fn ragged_row(path: &Path, line: u64, expected: usize, found: usize, delimiter: u8) -> Diagnostic {
    let separator = delimiter_text(delimiter);
    let help = if found < expected {
        format!("every row needs one value per column: add the missing `{separator}` (an empty value is fine)")
    } else {
        format!("remove the extra `{separator}`, or put quotes around a value that contains `{separator}`")
    };
    Diagnostic::error("data::ragged_row", format!("this row has {found} values but the header has {expected} columns"))
        .at_data(path, line, None)
        .with_help(help)
}

fn wrong_delimiter(path: &Path, line: u64, header: &str, delimiter: u8, seen: u8) -> Diagnostic {
    let (expected, seen) = (delimiter_text(delimiter), delimiter_text(seen));
    Diagnostic::error(
        "data::wrong_delimiter",
        format!("the header is one single column `{header}`: the file seems separated by `{seen}`, not `{expected}`"),
    )
    .at_data(path, line, None)
    .with_help(format!(
        "say which separator the file uses: `source csv=\"PATH\" delimiter=\"{seen}\"` (in YAML `source: {{csv: PATH, delimiter: \"{seen}\"}}`)"
    ))
}

fn delimiter_text(delimiter: u8) -> String {
    match delimiter {
        b'\t' => "\\t".to_string(),
        other => (other as char).to_string(),
    }
}

pub(crate) fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect::<String>().trim_end_matches('.').to_string(),
        None => String::new(),
    }
}

/// A collection holding one diagnostic, for the functions that stop at their first problem.
pub(crate) fn single(diagnostic: Diagnostic) -> Diagnostics {
    Diagnostics { items: vec![diagnostic] }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::Location;
    use std::path::PathBuf;

    fn test_file(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/csv").join(name)
    }

    fn read_error(name: &str) -> Diagnostics {
        match read_csv(&test_file(name), &CsvOptions::default()) {
            Ok(table) => panic!("{name} should not read, got {} rows", table.rows()),
            Err(diagnostics) => diagnostics,
        }
    }

    fn codes_and_lines(diagnostics: &Diagnostics) -> Vec<(&'static str, u64)> {
        let line = |location: &Location| match location {
            Location::Data { line, .. } => *line,
            _ => 0,
        };
        diagnostics.items.iter().map(|d| (d.code, line(&d.location))).collect()
    }

    /// Every column as text, every column as numbers, and `b` as text.
    fn layouts() -> [Layout; 3] {
        let b = ["b".to_string()].into_iter().collect();
        [Layout::Text, Layout::Numbers { text: BTreeSet::new() }, Layout::Numbers { text: b }]
    }

    /// Checks that `table` is `text` (the same file read as text) but for its number columns, which hold the
    /// numbers of `text`'s cells as f32.
    fn same_but_the_text(table: &Table, text: &Table) {
        assert_eq!(
            (table.path(), table.rows(), table.columns().len()),
            (text.path(), text.rows(), text.columns().len())
        );
        assert!((0..table.rows()).all(|row| table.line_of_row(row) == text.line_of_row(row)));
        for (column, text_column) in table.columns().iter().zip(text.columns()) {
            assert_eq!(
                (column.name(), column.missing(), column.len()),
                (text_column.name(), text_column.missing(), text_column.len())
            );
            if column.is_numbers() {
                let (numbers, parsed) = (table.model_numbers(column), text.model_numbers(text_column));
                for row in 0..table.rows() {
                    assert_eq!(numbers.get(row).map(f32::to_bits), parsed.get(row).map(f32::to_bits), "row {row}");
                    assert_eq!(table.is_missing(column, row), text.is_missing(text_column, row), "row {row}");
                }
            } else {
                assert_eq!(column, text_column);
            }
        }
    }

    fn read_text(text: &str) -> Table {
        read_csv_bytes(Path::new("test.csv"), text.as_bytes(), &CsvOptions::default()).expect("reads")
    }

    fn cells<'t>(table: &'t Table, name: &str) -> Vec<Option<&'t str>> {
        table.column(name).expect("column").iter().collect()
    }

    #[test]
    fn reads_the_missing_tokens_as_missing() {
        let table = read_csv(&test_file("missing_tokens.csv"), &CsvOptions::default()).expect("reads");
        assert_eq!(cells(&table, "a"), [Some("1"), None, None, None, Some("na")]);
        assert_eq!(cells(&table, "b"), [Some("x"), None, None, None, Some("-")]);
        assert_eq!(table.column("a").map(Column::missing), Some(3));
    }

    #[test]
    fn strips_bom_and_reads_crlf_and_quotes() {
        let table = read_csv(&test_file("crlf_bom_quoted.csv"), &CsvOptions::default()).expect("reads");
        assert_eq!(table.names().collect::<Vec<_>>(), ["id", "note, free text", "outcome"]);
        assert_eq!(table.rows(), 4);
        assert_eq!(
            cells(&table, "note, free text"),
            [Some("hello, world"), Some("she said \"hi\""), Some("two\r\nlines"), None]
        );
        assert_eq!(cells(&table, "outcome"), [Some("yes"), Some("no"), Some("yes"), Some("no")]);
        assert_eq!((0..4).map(|row| table.line_of_row(row)).collect::<Vec<_>>(), [2, 3, 4, 6]);
    }

    #[test]
    fn reads_another_delimiter_and_suggests_it() {
        let semicolon = CsvOptions { delimiter: b';' };
        let table = read_csv(&test_file("semicolon.csv"), &semicolon).expect("reads");
        assert_eq!(table.names().collect::<Vec<_>>(), ["age", "bmi", "outcome"]);
        assert_eq!(cells(&table, "bmi"), [Some("22.5"), Some("30.1"), Some("27.0")]);
        let diagnostics = read_error("semicolon.csv");
        assert_eq!(codes_and_lines(&diagnostics), [("data::wrong_delimiter", 1)]);
        assert!(diagnostics.items[0].help.as_deref().is_some_and(|help| help.contains("delimiter: \";\"")));
    }

    #[test]
    fn blank_lines_keep_line_numbers_right() {
        let table = read_text("a,b\n1,2\n\n3,4\n");
        assert_eq!(table.rows(), 2);
        assert_eq!((table.line_of_row(0), table.line_of_row(1)), (2, 4));
        assert_eq!(table.column("b").and_then(|column| column.get(1)), Some("4"));
    }

    #[test]
    fn reports_missing_empty_and_header_only_files() {
        let missing = read_error("no_such_file.csv");
        assert_eq!(missing.items[0].code, "data::not_found");
        assert!(missing.items[0].message.contains("no_such_file.csv"));
        let typo = read_error("semicolom.csv");
        assert!(typo.items[0].help.as_deref().is_some_and(|help| help.contains("semicolon.csv")), "{typo:?}");
        assert_eq!(read_error("empty.csv").items[0].code, "data::empty");
        assert_eq!(codes_and_lines(&read_error("header_only.csv")), [("data::no_rows", 1)]);
        let folder = read_csv(&test_file(""), &CsvOptions::default()).expect_err("a folder");
        assert_eq!(folder.items[0].code, "data::unreadable");
        let blank = read_csv_bytes(Path::new("b.csv"), b"  \n\n", &CsvOptions::default()).expect_err("blank");
        assert_eq!(blank.items[0].code, "data::empty");
    }

    #[test]
    fn reports_header_problems() {
        let duplicate = read_error("duplicate_header.csv");
        assert_eq!(codes_and_lines(&duplicate), [("data::duplicate_column", 1)]);
        assert!(duplicate.items[0].message.contains("columns 1 and 3"));
        assert_eq!(codes_and_lines(&read_error("empty_name.csv")), [("data::empty_column_name", 1)]);
    }

    #[test]
    fn reports_ragged_rows_with_lines_and_counts() {
        let diagnostics = read_error("ragged.csv");
        assert_eq!(codes_and_lines(&diagnostics), [("data::ragged_row", 3), ("data::ragged_row", 5)]);
        assert_eq!(diagnostics.items[0].message, "this row has 2 values but the header has 3 columns");
        let many: String = "a,b\n".to_string() + &"1\n".repeat(25);
        let diagnostics =
            read_csv_bytes(Path::new("m.csv"), many.as_bytes(), &CsvOptions::default()).expect_err("ragged");
        assert_eq!(diagnostics.items.len(), MAX_REPORTED + 1);
        assert_eq!(diagnostics.items[MAX_REPORTED].message, "and 15 more rows with the wrong number of values");
    }

    #[test]
    fn reports_bytes_that_are_not_utf8() {
        let diagnostics = read_error("not_utf8.csv");
        assert_eq!(codes_and_lines(&diagnostics), [("data::not_utf8", 3)]);
        assert!(matches!(&diagnostics.items[0].location, Location::Data { column: Some(name), .. } if name == "name"));
        let header = read_csv_bytes(Path::new("h.csv"), b"a,b\xff\n1,2\n", &CsvOptions::default()).expect_err("bad");
        assert_eq!(codes_and_lines(&header), [("data::not_utf8", 1)]);
    }

    #[test]
    fn reports_a_quote_that_is_never_closed() {
        let diagnostics = read_error("unclosed_quote.csv");
        assert_eq!(codes_and_lines(&diagnostics), [("data::unclosed_quote", 3)]);
        assert!(matches!(&diagnostics.items[0].location, Location::Data { column: Some(name), .. } if name == "note"));
        let closed = read_text("a,b\n1,\"x\"\n2,\"y \"\"z\"\"\"\n3,5'11\"\n");
        assert_eq!(cells(&closed, "b"), [Some("x"), Some("y \"z\""), Some("5'11\"")]);
        let in_header = read_csv_bytes(Path::new("q.csv"), b"a,\"b\n1,2\n", &CsvOptions::default()).expect_err("open");
        assert_eq!(codes_and_lines(&in_header), [("data::unclosed_quote", 1)]);
    }

    #[test]
    fn reading_in_pieces_gives_the_same_table_and_problems() {
        let inputs: [&[u8]; 18] = [
            b"a,b\n1,2\n3,4\n5,6\n7,8\n",
            b"a,b\n 1 , 2 \n\t,\xc2\xa0x\xc2\xa0\n\x0b3,NaN \n",
            b"a,b\n,\n,,\n \n;\n1;2\n",
            b"a,b\r\r\n1,2\r\r3,4\r\n\r\n\n5,6",
            b"a,b\n\xc3,\xa9\n1,2\n\xc3\xa9,\xe2\x82\xac\n",
            b"a\tb\n1\t2\n3,4\t5\n",
            b"a,b\n1,2\n\r",
            b"a,b\n1,2\n\n3,4\n\n\n5,6\n7,8",
            b"\xEF\xBB\xBFa,b\r\n1, 2 \r\n3,NA\r\n\r\n5,?\r\n7,8\r\n",
            b"a,b\r1,2\r3,4\n5,6\r\n7,8\n",
            b"a,b\n1,2\n3\n5,6,7\n7,8\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n",
            b"a,b\n1,\xff\n\xfe,2\n3,4\n\xff,\xff\n5,6\n1,\xff\n\xfe,2\n3,4\n\xff,\xff\n1,\xff\n\xfe,2\n",
            b"a,b\n",
            b"a,b",
            b"\n\na,b\n\n1,2\n",
            b"a,a\n1,2\n3,4\n",
            b"a;b;c\n1;2;3\n4;5;6\n",
            b"",
        ];
        for input in inputs {
            for (delimiter, layout) in [b',', b';', b'\t'].into_iter().flat_map(|d| layouts().map(|l| (d, l))) {
                let options = CsvOptions { delimiter };
                let whole = read_csv_pieces(Path::new("p.csv"), input, &options, layout.clone(), 1, CHUNK_BYTES);
                for (pieces, chunk) in (2..7).flat_map(|pieces| [12, 13, 64, CHUNK_BYTES].map(|chunk| (pieces, chunk)))
                {
                    let parts = read_csv_pieces(Path::new("p.csv"), input, &options, layout.clone(), pieces, chunk);
                    let text = String::from_utf8_lossy(input);
                    assert_eq!(parts, whole, "{pieces} pieces of {chunk} bytes of {text:?} as {layout:?}");
                }
            }
        }
    }

    #[test]
    fn reading_in_pieces_matches_on_random_text() {
        use rand::{Rng, SeedableRng};
        let tokens: [&[u8]; 14] =
            [b"1", b"-2.5", b"x", b",", b",", b";", b"\n", b"\n", b"\r", b" ", b"NA", b"\xff", b"\xc3", b"\xa9"];
        let mut random = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for _ in 0..2000 {
            let mut text = b"a,b,c\n".to_vec();
            for _ in 0..random.gen_range(0..60) {
                text.extend_from_slice(tokens[random.gen_range(0..tokens.len())]);
            }
            let options = CsvOptions::default();
            for layout in layouts() {
                let length = text.len() as u64;
                let plain =
                    read_plain_in_pieces(Path::new("r.csv"), Source::Bytes(&text), length, &options, &layout, 2, 12);
                assert!(!matches!(plain, Ok(None)), "read by the csv reader: {:?}", String::from_utf8_lossy(&text));
                let whole = read_csv_pieces(Path::new("r.csv"), &text, &options, layout.clone(), 1, CHUNK_BYTES);
                for (pieces, chunk) in [(2, 12), (3, 17), (4, CHUNK_BYTES)] {
                    let parts = read_csv_pieces(Path::new("r.csv"), &text, &options, layout.clone(), pieces, chunk);
                    let shown = String::from_utf8_lossy(&text);
                    assert_eq!(parts, whole, "{pieces} pieces of {chunk} bytes of {shown:?} as {layout:?}");
                }
                if let Ok(table) = &whole {
                    same_but_the_text(table, &read_csv_bytes(Path::new("r.csv"), &text, &options).expect("reads"));
                }
            }
        }
    }

    #[test]
    fn a_file_read_in_pieces_gives_the_same_table_and_problems() {
        let path = std::env::temp_dir().join(format!("galen-pieces-{}.csv", std::process::id()));
        for messy in [false, true] {
            let mut text = b"\xEF\xBB\xBFid,x,y\r\n".to_vec();
            for row in 0..500 {
                let line: Vec<u8> = match row % 97 {
                    5 if messy => b"1,2\n".to_vec(),
                    40 if messy => [format!("{row},").as_bytes(), b"\xff,1\r"].concat(),
                    17 => b"\n\r\n".to_vec(),
                    60 => format!("{row},1,2\r").into_bytes(),
                    _ => format!("{row}, {}.5 ,NA\r\n", row * 7).into_bytes(),
                };
                text.extend_from_slice(&line);
            }
            std::fs::write(&path, &text).expect("writes");
            let options = CsvOptions::default();
            for layout in layouts() {
                let whole = read_with_csv_reader(&path, &text, &options, &layout);
                assert_eq!(whole.is_ok(), !messy);
                for (pieces, chunk) in [(2, 16), (3, 100), (5, 4096)] {
                    let length = text.len() as u64;
                    let Ok(Some(reading)) =
                        read_plain_in_pieces(&path, Source::File(&path), length, &options, &layout, pieces, chunk)
                    else {
                        panic!("not read in pieces");
                    };
                    assert_eq!(reading.finish(None), whole, "{pieces} pieces of {chunk} bytes");
                }
                let table = read_table(&path, &options, layout.clone());
                if let Ok(table) = &table {
                    same_but_the_text(table, &read_csv(&path, &options).expect("reads"));
                }
                assert_eq!(table.is_ok(), !messy);
            }
        }
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn never_panics_on_odd_bytes() {
        let inputs: [&[u8]; 8] =
            [b"", b"\xEF\xBB", b"\xEF\xBB\xBF", b"\"", b",", b"a\n\"", b"a\r\r\r1", b"\xff\xfe\n\x00"];
        for input in inputs {
            for layout in layouts() {
                let _ = read_table_bytes(Path::new("odd.csv"), input, &CsvOptions::default(), layout);
            }
        }
        let table = read_text("a\n\"\"\n");
        assert_eq!(cells(&table, "a"), [None]);
    }
}
