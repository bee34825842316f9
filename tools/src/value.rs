//! Typed values and query results, shared by every engine.

use std::fmt;
use std::time::Duration;

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// One SQL value, as the engines return it.
///
/// Equality is structural (`Integer(1) != Real(1.0)`); the scorers in [`crate::compare`]
/// implement the official cross-type rules on top of this.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    /// The SQL type name of this value: `null`, `integer`, `real`, `text` or `blob`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Integer(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }

    /// Approximate size in bytes, used by result-size caps.
    pub fn approx_size(&self) -> usize {
        match self {
            Value::Null => 1,
            Value::Integer(_) | Value::Real(_) => 8,
            Value::Text(s) => s.len(),
            Value::Blob(b) => b.len(),
        }
    }
}

/// JSON form: null, numbers and strings as themselves; a blob as `{"blob": "<hex>"}`.
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Integer(i) => serializer.serialize_i64(*i),
            Value::Real(f) if f.is_finite() => serializer.serialize_f64(*f),
            Value::Real(f) => serializer.serialize_str(&f.to_string()),
            Value::Text(s) => serializer.serialize_str(s),
            Value::Blob(b) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("blob", &hex(b))?;
                map.end()
            }
        }
    }
}

/// Display form used in tables and CSV: `NULL`, numbers, text as is, blobs as `x'..'`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Real(r) => write!(f, "{r}"),
            Value::Text(s) => f.write_str(s),
            Value::Blob(b) => write!(f, "x'{}'", hex(b)),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The result of one executed statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryResult {
    /// Column names in output order.
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<Value>>,
    /// Wall time spent in the engine.
    #[serde(serialize_with = "serialize_millis", rename = "elapsed_ms")]
    pub elapsed: Duration,
    /// True when rows were dropped because the row cap or the result-size cap was reached.
    pub truncated: bool,
}

fn serialize_millis<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}
