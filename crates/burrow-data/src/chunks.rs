//! Table versions read back in chunks of rows, and results given the columns a table can hold: what transform jobs read and write.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::path::Path;
use object_store::ObjectStore;
use parquet::arrow::async_reader::ParquetObjectReader;
use parquet::arrow::ParquetRecordBatchStreamBuilder;

use crate::types::{check_column_name, Column, ColumnType};
use crate::DataError;

/// The rows of the Parquet object `blob`, `chunk_rows` at a time, read as they are
/// needed. A table without rows gives one empty chunk, so its columns are still known.
pub async fn read(
    store: Arc<dyn ObjectStore>,
    blob: &str,
    chunk_rows: usize,
) -> Result<BoxStream<'static, Result<RecordBatch, DataError>>, DataError> {
    let reader = ParquetObjectReader::new(store, Path::from(blob));
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| DataError::Internal(format!("opening table object {blob}: {e}")))?;
    let schema = Arc::clone(builder.schema());
    let empty = builder.metadata().file_metadata().num_rows() == 0;
    let batches = builder
        .with_batch_size(chunk_rows.max(1))
        .build()
        .map_err(|e| DataError::Internal(format!("reading table object {blob}: {e}")))?;
    if empty {
        return Ok(stream::iter([Ok(RecordBatch::new_empty(schema))]).boxed());
    }
    let blob = blob.to_owned();
    Ok(batches
        .map(move |batch| {
            batch.map_err(|e| DataError::Internal(format!("reading table object {blob}: {e}")))
        })
        .boxed())
}

/// The table columns a result's schema maps to; a name a table cannot have, a name
/// given twice or a type it cannot hold is an error naming the column.
pub fn columns_of(schema: &Schema) -> Result<Vec<Column>, DataError> {
    let mut columns: Vec<Column> = Vec::new();
    for field in schema.fields() {
        check_column_name(field.name())?;
        if columns.iter().any(|c| c.name == *field.name()) {
            return Err(DataError::Invalid(format!(
                "column {:?} appears twice: give each column its own name",
                field.name()
            )));
        }
        let column_type = ColumnType::of(field.data_type()).ok_or_else(|| {
            DataError::Invalid(format!(
                "column {:?} holds {}, which a table cannot store: make it numbers, text, \
                 booleans, dates or timestamps",
                field.name(),
                field.data_type()
            ))
        })?;
        columns.push(Column {
            name: field.name().clone(),
            column_type,
        });
    }
    if columns.is_empty() {
        return Err(DataError::Invalid(
            "the result has no columns: return a DataFrame with at least one".into(),
        ));
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType, Field};

    #[test]
    fn a_result_maps_to_table_columns_or_names_what_does_not() {
        let ok = Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::LargeUtf8, true),
        ]);
        let columns = columns_of(&ok).unwrap();
        assert_eq!(columns[0].column_type, ColumnType::Integer);
        assert_eq!(columns[1].column_type, ColumnType::Text);
        let nested = Schema::new(vec![Field::new(
            "l",
            DataType::List(Arc::new(Field::new("item", DataType::Int64, true))),
            true,
        )]);
        let error = columns_of(&nested).unwrap_err().to_string();
        assert!(error.contains("column \"l\" holds List"), "{error}");
        assert!(columns_of(&Schema::empty()).is_err());
    }
}
