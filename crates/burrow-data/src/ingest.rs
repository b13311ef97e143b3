//! Files into table versions: CSV and Parquet read, their column types inferred or given,
//! every value checked against its type, and one Parquet file written (zstd).
//!
//! Nothing here touches storage: bytes in, a [`Prepared`] version or an error naming the
//! row and column out, so a bad file stores nothing.

use std::io::Cursor;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::csv::reader::Format as CsvFormat;
use arrow::csv::ReaderBuilder;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::types::{check_column_name, schema, Column, ColumnType};
use crate::{text_rows, DataError};

/// The file formats a table can be made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
}

impl Format {
    /// The format a file name says, by its extension.
    pub fn from_filename(name: &str) -> Result<Self, DataError> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            Ok(Format::Csv)
        } else if lower.ends_with(".parquet") || lower.ends_with(".pq") {
            Ok(Format::Parquet)
        } else {
            Err(DataError::Invalid(format!(
                "{name:?} is neither a CSV (.csv) nor a Parquet (.parquet) file: upload one of those"
            )))
        }
    }
}

/// A table version ready to store.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub parquet: Bytes,
    pub columns: Vec<Column>,
    pub rows: u64,
}

/// What a file's start says about its columns, for a person to correct before saving.
#[derive(Debug, Clone)]
pub struct Inferred {
    pub columns: Vec<Column>,
    /// The first rows, as text.
    pub preview: Vec<Vec<Option<String>>>,
}

const PREVIEW_ROWS: usize = 20;
const BATCH_ROWS: usize = 65_536;

/// Infers the columns of a file, or of its start: a CSV may be cut anywhere (only whole
/// lines are read); a Parquet file must be whole.
pub fn infer(bytes: &[u8], format: Format) -> Result<Inferred, DataError> {
    match format {
        Format::Csv => {
            // A head cut mid-line: keep the whole lines.
            let whole = match bytes.iter().rposition(|b| *b == b'\n') {
                Some(end) => &bytes[..=end],
                None => bytes,
            };
            let columns = infer_csv(whole)?;
            let mut preview = Vec::new();
            for batch in read_csv(whole, &columns)? {
                preview.extend(text_rows(&batch?, PREVIEW_ROWS - preview.len()));
                if preview.len() >= PREVIEW_ROWS {
                    break;
                }
            }
            Ok(Inferred { columns, preview })
        }
        Format::Parquet => {
            let builder = parquet_reader(bytes)?;
            let columns = parquet_columns(builder.schema())?;
            let mut preview = Vec::new();
            let reader = builder
                .with_batch_size(PREVIEW_ROWS)
                .with_limit(PREVIEW_ROWS)
                .build()
                .map_err(|e| not_parquet(&e))?;
            for batch in reader {
                let batch = batch.map_err(|e| not_parquet(&e))?;
                preview.extend(text_rows(&batch, PREVIEW_ROWS - preview.len()));
            }
            Ok(Inferred { columns, preview })
        }
    }
}

/// Reads a whole file with the given column types (or its inferred ones) and writes it
/// as one Parquet file. Every value must fit its column's type.
pub fn prepare(
    bytes: Bytes,
    format: Format,
    types: Option<&[Column]>,
) -> Result<Prepared, DataError> {
    let found = match format {
        Format::Csv => infer_csv(&bytes)?,
        Format::Parquet => parquet_columns(parquet_reader(&bytes)?.schema())?,
    };
    let columns = match types {
        Some(given) => {
            let names = |c: &[Column]| c.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
            if names(given) != names(&found) {
                return Err(DataError::Invalid(format!(
                    "the file's columns are {:?}, but types were given for {:?}: give one type \
                     for each of the file's columns, in order",
                    names(&found),
                    names(given)
                )));
            }
            given.to_vec()
        }
        None => found,
    };
    let target = schema(&columns);
    let mut writer = Writer::new(&target)?;
    match format {
        Format::Csv => {
            for batch in read_csv(&bytes, &columns)? {
                writer.write(&batch?)?;
            }
        }
        Format::Parquet => {
            let reader = parquet_reader(&bytes)?
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|e| not_parquet(&e))?;
            for batch in reader {
                let batch = batch.map_err(|e| not_parquet(&e))?;
                writer.write(&conform(&batch, &columns, &target)?)?;
            }
        }
    }
    writer.finish(columns)
}

/// A batch with each column cast to the type its table holds; a value that does not
/// fit is an error naming the column.
pub fn conform(
    batch: &RecordBatch,
    columns: &[Column],
    target: &SchemaRef,
) -> Result<RecordBatch, DataError> {
    let options = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let arrays = batch
        .columns()
        .iter()
        .zip(columns)
        .map(|(array, column)| {
            cast_with_options(array, &column.column_type.arrow(), &options).map_err(|e| {
                DataError::Invalid(format!(
                    "column {:?} does not fit type {}: {e}: choose another type for it",
                    column.name, column.column_type
                ))
            })
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    RecordBatch::try_new(Arc::clone(target), arrays)
        .map_err(|e| DataError::Internal(format!("building a batch: {e}")))
}

/// Writes batches into one Parquet file in memory, counting rows.
pub struct Writer {
    writer: ArrowWriter<Vec<u8>>,
    rows: u64,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("rows", &self.rows).finish()
    }
}

impl Writer {
    pub fn new(schema: &SchemaRef) -> Result<Self, DataError> {
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("level 1")))
            .build();
        let writer = ArrowWriter::try_new(Vec::new(), Arc::clone(schema), Some(properties))
            .map_err(|e| DataError::Internal(format!("starting a Parquet file: {e}")))?;
        Ok(Self { writer, rows: 0 })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), DataError> {
        self.rows += batch.num_rows() as u64;
        self.writer
            .write(batch)
            .map_err(|e| DataError::Internal(format!("writing Parquet: {e}")))
    }

    pub fn finish(self, columns: Vec<Column>) -> Result<Prepared, DataError> {
        let parquet = self
            .writer
            .into_inner()
            .map_err(|e| DataError::Internal(format!("finishing a Parquet file: {e}")))?;
        Ok(Prepared {
            parquet: Bytes::from(parquet),
            columns,
            rows: self.rows,
        })
    }
}

fn infer_csv(bytes: &[u8]) -> Result<Vec<Column>, DataError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(DataError::Invalid(
            "the file is empty: a CSV needs a header line naming its columns".into(),
        ));
    }
    let (schema, _) = CsvFormat::default()
        .with_header(true)
        .infer_schema(Cursor::new(bytes), None)
        .map_err(|e| {
            DataError::Invalid(format!(
                "the file is not a CSV Burrow can read: {e}: check that every line has the \
                 header's number of fields"
            ))
        })?;
    let mut columns: Vec<Column> = Vec::new();
    for field in schema.fields() {
        check_column_name(field.name())?;
        if columns.iter().any(|c| c.name == *field.name()) {
            return Err(DataError::Invalid(format!(
                "column {:?} appears twice in the header: give each column its own name",
                field.name()
            )));
        }
        columns.push(Column {
            name: field.name().clone(),
            column_type: ColumnType::of(field.data_type()).unwrap_or(ColumnType::Text),
        });
    }
    Ok(columns)
}

fn read_csv<'a>(
    bytes: &'a [u8],
    columns: &[Column],
) -> Result<impl Iterator<Item = Result<RecordBatch, DataError>> + 'a, DataError> {
    let reader = ReaderBuilder::new(schema(columns))
        .with_header(true)
        .with_batch_size(BATCH_ROWS)
        .build(Cursor::new(bytes))
        .map_err(|e| DataError::Invalid(format!("the file is not a CSV Burrow can read: {e}")))?;
    let columns = columns.to_vec();
    Ok(reader.map(move |batch| batch.map_err(|e| bad_value(&e.to_string(), &columns))))
}

/// Arrow's parse error ("Error while parsing value 'x' as type 'Int64' for column 0 at
/// line 3", counting data rows from 1) as a person reads the file: its line, counting the
/// header, and the column by name and type.
fn bad_value(arrow: &str, columns: &[Column]) -> DataError {
    let parsed = (|| {
        let rest = arrow.split_once("Error while parsing value '")?.1;
        let (value, rest) = rest.rsplit_once("' as type '")?;
        let (_, rest) = rest.split_once("' for column ")?;
        let (index, rest) = rest.split_once(" at line ")?;
        let row: u64 = rest
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()?;
        let column = columns.get(index.parse::<usize>().ok()?)?;
        Some((value.to_owned(), column, row))
    })();
    match parsed {
        Some((value, column, row)) => DataError::Invalid(format!(
            "line {} of the file (row {row}), column {:?}: {value:?} does not fit type {}: correct that \
             value, or choose another type for the column (text takes anything)",
            row + 1,
            column.name,
            column.column_type
        )),
        None => DataError::Invalid(format!(
            "{arrow}: correct that value, or choose another type for its column (text takes anything)"
        )),
    }
}

/// The most rows a table file may hold.
pub const MAX_ROWS: i64 = 100_000_000;
/// The most a Parquet file may hold once decompressed: a small file can encode a great
/// deal, and reading it would hold the host's memory and a thread for as long.
pub const MAX_PARQUET_BYTES: i64 = 4 << 30;

fn parquet_reader(bytes: &[u8]) -> Result<ParquetRecordBatchReaderBuilder<Bytes>, DataError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(Bytes::copy_from_slice(bytes))
        .map_err(|e| not_parquet(&e))?;
    let metadata = builder.metadata();
    let rows = metadata.file_metadata().num_rows();
    let size: i64 = metadata
        .row_groups()
        .iter()
        .map(|g| g.total_byte_size().max(0))
        .fold(0i64, i64::saturating_add);
    if rows > MAX_ROWS || size > MAX_PARQUET_BYTES {
        return Err(DataError::Invalid(format!(
            "the Parquet file holds {rows} rows and {} MB once decompressed; a table file may \
             hold at most {MAX_ROWS} rows and {} MB: split it",
            size >> 20,
            MAX_PARQUET_BYTES >> 20
        )));
    }
    Ok(builder)
}

fn parquet_columns(schema: &SchemaRef) -> Result<Vec<Column>, DataError> {
    let mut columns: Vec<Column> = Vec::new();
    for field in schema.fields() {
        check_column_name(field.name())?;
        let column_type = ColumnType::of(field.data_type()).ok_or_else(|| {
            DataError::Invalid(format!(
                "column {:?} has type {}, which tables do not hold: use numbers, text, \
                 booleans, dates or timestamps (flatten lists and structs first)",
                field.name(),
                field.data_type()
            ))
        })?;
        if columns.iter().any(|c| c.name == *field.name()) {
            return Err(DataError::Invalid(format!(
                "column {:?} appears twice: give each column its own name",
                field.name()
            )));
        }
        columns.push(Column {
            name: field.name().clone(),
            column_type,
        });
    }
    if columns.is_empty() {
        return Err(DataError::Invalid("the Parquet file has no columns".into()));
    }
    Ok(columns)
}

fn not_parquet(e: &dyn std::fmt::Display) -> DataError {
    DataError::Invalid(format!(
        "the file is not a Parquet file Burrow can read: {e}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALES: &str = include_str!("../../../templates/data/daily_sales.csv");

    #[test]
    fn the_sample_infers_dates_text_integers_and_floats() {
        let inferred = infer(SALES.as_bytes(), Format::Csv).unwrap();
        let types: Vec<_> = inferred.columns.iter().map(|c| c.column_type).collect();
        use ColumnType::*;
        assert_eq!(types, [Date, Text, Integer, Float, Float]);
        assert_eq!(inferred.preview.len(), 20);
        assert_eq!(inferred.preview[0][0].as_deref(), Some("2026-01-01"));
        let prepared = prepare(Bytes::from_static(SALES.as_bytes()), Format::Csv, None).unwrap();
        assert_eq!(prepared.rows, 120);
        // The Parquet written reads back as a table of its own.
        let again = prepare(prepared.parquet, Format::Parquet, None).unwrap();
        assert_eq!(again.rows, 120);
        assert_eq!(again.columns, prepared.columns);
    }

    #[test]
    fn a_head_cut_mid_line_infers_from_its_whole_lines() {
        let head = &SALES.as_bytes()[..300];
        let inferred = infer(head, Format::Csv).unwrap();
        assert_eq!(inferred.columns.len(), 5);
        assert!(inferred.preview.len() < 20);
    }

    #[test]
    fn a_value_that_does_not_fit_its_type_names_its_line() {
        let csv = "a,b\n1,x\n2,y\nthree,z\n";
        let types = vec![
            Column {
                name: "a".into(),
                column_type: ColumnType::Integer,
            },
            Column {
                name: "b".into(),
                column_type: ColumnType::Text,
            },
        ];
        let err = prepare(
            Bytes::from_static(csv.as_bytes()),
            Format::Csv,
            Some(&types),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "line 4 of the file (row 3), column \"a\": \"three\" does not fit type integer"
            ),
            "{err}"
        );
        // Inferred, the same file is text.
        let p = prepare(Bytes::from_static(csv.as_bytes()), Format::Csv, None).unwrap();
        assert_eq!(p.columns[0].column_type, ColumnType::Text);
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let err = |bytes: &'static [u8], f| {
            prepare(Bytes::from_static(bytes), f, None)
                .unwrap_err()
                .to_string()
        };
        assert!(err(b"", Format::Csv).contains("empty"));
        assert!(err(b"a,a\n1,2\n", Format::Csv).contains("twice"));
        assert!(
            err(b"a,b\n1,2\n3\n", Format::Csv).contains("fields"),
            "{}",
            err(b"a,b\n1,2\n3\n", Format::Csv)
        );
        assert!(err(b"PAR1 not really", Format::Parquet).contains("not a Parquet file"));
        let types = vec![Column {
            name: "z".into(),
            column_type: ColumnType::Text,
        }];
        let e = prepare(Bytes::from_static(b"a\n1\n"), Format::Csv, Some(&types))
            .unwrap_err()
            .to_string();
        assert!(e.contains("[\"a\"]") && e.contains("[\"z\"]"), "{e}");
        assert!(Format::from_filename("x.xlsx").is_err());
        assert_eq!(Format::from_filename("X.CSV").unwrap(), Format::Csv);
    }
}
