//! Schema introspection and the renderings used in prompts and by the CLI.

use serde::{Deserialize, Serialize};

use crate::value::Value;

/// A database schema: every user table with its columns and keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Schema {
    pub tables: Vec<Table>,
}

/// One table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    /// Column names of the primary key, in key order (empty when there is none).
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKey>,
    /// Number of rows, when it could be counted.
    pub row_count: Option<u64>,
}

/// One column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// Declared type as written in the DDL (may be empty in SQLite).
    pub data_type: String,
    pub not_null: bool,
    /// A few distinct non-null values, for prompts.
    pub samples: Vec<Value>,
}

/// A foreign key from `columns` of the owning table to `ref_columns` of `ref_table`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}
