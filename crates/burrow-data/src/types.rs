//! Column types as people see them, and their Arrow types; table names.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::DataError;

/// The types a table's columns may have. Every Arrow type a file brings is read as one
/// of these, so every table version has a schema Burrow can describe and query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    Integer,
    Float,
    Boolean,
    Text,
    Date,
    Timestamp,
}

impl ColumnType {
    pub const ALL: [ColumnType; 6] = [
        ColumnType::Integer,
        ColumnType::Float,
        ColumnType::Boolean,
        ColumnType::Text,
        ColumnType::Date,
        ColumnType::Timestamp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Integer => "integer",
            ColumnType::Float => "float",
            ColumnType::Boolean => "boolean",
            ColumnType::Text => "text",
            ColumnType::Date => "date",
            ColumnType::Timestamp => "timestamp",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The Arrow type a table stores this as.
    pub fn arrow(self) -> DataType {
        match self {
            ColumnType::Integer => DataType::Int64,
            ColumnType::Float => DataType::Float64,
            ColumnType::Boolean => DataType::Boolean,
            ColumnType::Text => DataType::Utf8,
            ColumnType::Date => DataType::Date32,
            ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        }
    }

    /// The type an Arrow type is read as; `None` for nested and binary types, which
    /// tables do not hold.
    pub fn of(data_type: &DataType) -> Option<Self> {
        Some(match data_type {
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32 => ColumnType::Integer,
            DataType::UInt64
            | DataType::Float16
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal32(..)
            | DataType::Decimal64(..)
            | DataType::Decimal128(..)
            | DataType::Decimal256(..) => ColumnType::Float,
            DataType::Boolean => ColumnType::Boolean,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => {
                ColumnType::Text
            }
            DataType::Date32 | DataType::Date64 => ColumnType::Date,
            DataType::Timestamp(..) => ColumnType::Timestamp,
            DataType::Dictionary(_, value) => return Self::of(value),
            _ => return None,
        })
    }
}

impl std::fmt::Display for ColumnType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: ColumnType,
}

/// The Arrow schema of a table with these columns; every column may be null.
pub fn schema(columns: &[Column]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(&c.name, c.column_type.arrow(), true))
            .collect::<Vec<_>>(),
    ))
}

/// Columns as stored (JSON), read back.
pub fn columns_from_json(json: &str) -> Result<Vec<Column>, DataError> {
    serde_json::from_str(json)
        .map_err(|e| DataError::Internal(format!("a table's stored columns do not parse: {e}")))
}

pub fn columns_to_json(columns: &[Column]) -> String {
    serde_json::to_string(columns).expect("columns serialise")
}

/// The longest table or column name.
pub const MAX_NAME: usize = 63;

/// Names that are words of the tables API (`…/tables/sample`, `…/tables/infer`).
const RESERVED: &[&str] = &["sample", "infer"];

/// A table's name: what SQL refers to it by, without quotes.
pub fn check_table_name(name: &str) -> Result<(), DataError> {
    if RESERVED.contains(&name) {
        return Err(DataError::Invalid(format!(
            "{name:?} is reserved: choose another table name"
        )));
    }
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(DataError::Invalid(format!(
            "{name:?} is not a table name: use 1 to {MAX_NAME} lowercase letters, digits and \
             underscores, starting with a letter (such as daily_sales)"
        )))
    }
}

/// A column's name: any text but empty, too long or with control characters.
pub fn check_column_name(name: &str) -> Result<(), DataError> {
    if name.trim().is_empty() {
        return Err(DataError::Invalid(
            "a column has no name: give every column a name in the file's header".into(),
        ));
    }
    if name.len() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(DataError::Invalid(format!(
            "column name {name:?} is not allowed: use at most {MAX_NAME} bytes and no control characters"
        )));
    }
    Ok(())
}

/// A name as an SQL identifier, quoted.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_plain_identifiers() {
        assert!(check_table_name("daily_sales").is_ok());
        assert!(check_table_name("t2").is_ok());
        for bad in [
            "",
            "sample",
            "infer",
            "Sales",
            "2t",
            "a-b",
            "a b",
            "_x",
            &"a".repeat(64),
            "ü",
        ] {
            assert!(check_table_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_type_round_trips_through_arrow_and_json() {
        for t in ColumnType::ALL {
            assert_eq!(ColumnType::of(&t.arrow()), Some(t));
            assert_eq!(ColumnType::parse(t.as_str()), Some(t));
        }
        let columns = vec![Column {
            name: "a \"b\"".into(),
            column_type: ColumnType::Date,
        }];
        assert_eq!(
            columns_from_json(&columns_to_json(&columns)).unwrap(),
            columns
        );
        assert_eq!(quote_ident("a \"b\""), "\"a \"\"b\"\"\"");
    }
}
