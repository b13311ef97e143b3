//! Project tables and read-only SQL over them: files into immutable Parquet versions
//! (`ingest`), DataFusion within limits (`engine`), and the data bridge every sandbox of a
//! project queries through (`bridge`); external PostgreSQL sources, read only
//! (`postgres`), whose passwords are sealed at rest (`sealing`).
//!
//! It depends on no other Burrow crate: callers store versions in their blob store and
//! database, and hand the engine the tables a query may see.

pub mod bridge;
pub mod chunks;
mod deadline;
pub mod engine;
pub mod ingest;
pub mod postgres;
pub mod sealing;
pub mod types;

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

pub use bridge::{Bridge, Catalog, TableInfo, BRIDGE_PORT};
pub use engine::{thousands, Engine, Limits, QueryResult, TableSource};
pub use ingest::{Format, Inferred, Prepared};
pub use postgres::{Reach, SourceConfig, TlsMode};
pub use sealing::{Keyring, Sealer};
pub use types::{Column, ColumnType};

/// The sample table "Add sample data" makes: the CSV Explorer's daily sales.
pub const SAMPLE_CSV: &str = include_str!("../../../templates/data/daily_sales.csv");
/// The sample table's name.
pub const SAMPLE_NAME: &str = "daily_sales";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// The input is wrong; the message says what and how to fix it.
    #[error("{0}")]
    Invalid(String),
    /// A statement that is not a query.
    #[error("{0}")]
    Refused(String),
    /// A query past one of its limits.
    #[error("{0}")]
    Limit(String),
    /// Too many queries at once.
    #[error("{0}")]
    Busy(String),
    /// An external source could not be reached or refused the connection; the message
    /// says which, for its owner to act on.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

/// Up to `max` rows of a batch as text, `None` for null.
pub fn text_rows(batch: &RecordBatch, max: usize) -> Vec<Vec<Option<String>>> {
    let options = FormatOptions::default();
    let formatters: Vec<_> = batch
        .columns()
        .iter()
        .map(|a| ArrayFormatter::try_new(a.as_ref(), &options))
        .collect::<Result<_, _>>()
        .unwrap_or_default();
    (0..batch.num_rows().min(max))
        .map(|row| {
            batch
                .columns()
                .iter()
                .zip(&formatters)
                .map(|(array, f)| (!array.is_null(row)).then(|| f.value(row).to_string()))
                .collect()
        })
        .collect()
}
