//! Rendering query results for people (a table) and programs (CSV, JSON).

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};

use crate::error::{ToolsError, ToolsResult};
use crate::value::{QueryResult, Value};

/// Cells longer than this are cut in tables (CSV and JSON keep full values).
const MAX_CELL_CHARS: usize = 60;

/// A terminal table with a footer line such as `3 rows (12.4 ms)`.
///
/// ```
/// use learnat_tools::{QueryResult, Value, render::render_table};
/// let result = QueryResult {
///     columns: vec!["n".into()],
///     rows: vec![vec![Value::Integer(3)]],
///     elapsed: std::time::Duration::from_millis(2),
///     truncated: false,
/// };
/// assert!(render_table(&result).contains("1 row"));
/// ```
pub fn render_table(result: &QueryResult) -> String {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(result.columns.iter().map(|c| clip(c)));
    for row in &result.rows {
        table.add_row(row.iter().map(cell_text));
    }
    format!("{table}\n{}", summary_line(result))
}

/// `N rows (T ms)`, with a note when the result was truncated.
pub fn summary_line(result: &QueryResult) -> String {
    let n = result.rows.len();
    let noun = if n == 1 { "row" } else { "rows" };
    let time = elapsed_text(result.elapsed);
    if result.truncated {
        format!("{n} {noun} shown, result truncated by the row or size cap ({time})")
    } else {
        format!("{n} {noun} ({time})")
    }
}

/// Milliseconds with enough digits that sub-millisecond queries don't all read "0.0 ms".
fn elapsed_text(elapsed: std::time::Duration) -> String {
    let ms = elapsed.as_secs_f64() * 1000.0;
    if ms < 1.0 {
        format!("{ms:.3} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// RFC 4180 CSV with a header line; NULL is an empty field, blobs are `x'hex'`.
pub fn render_csv(result: &QueryResult) -> ToolsResult<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let csv_error = |e: csv::Error| ToolsError::InvalidInput {
        message: format!("cannot write CSV: {e}"),
    };
    writer.write_record(&result.columns).map_err(csv_error)?;
    for row in &result.rows {
        writer
            .write_record(row.iter().map(|v| match v {
                Value::Null => String::new(),
                other => other.to_string(),
            }))
            .map_err(csv_error)?;
    }
    let bytes = writer.into_inner().map_err(|e| ToolsError::InvalidInput {
        message: format!("cannot write CSV: {}", e.error()),
    })?;
    String::from_utf8(bytes).map_err(|e| ToolsError::InvalidInput {
        message: format!("CSV output is not UTF-8: {e}"),
    })
}

/// JSON object `{columns, rows, row_count, truncated, elapsed_ms}`.
pub fn render_json(result: &QueryResult) -> serde_json::Value {
    serde_json::json!({
        "columns": result.columns,
        "rows": result.rows,
        "row_count": result.rows.len(),
        "truncated": result.truncated,
        "elapsed_ms": result.elapsed.as_secs_f64() * 1000.0,
    })
}

fn cell_text(value: &Value) -> String {
    clip(&value.to_string())
}

/// Cut to `MAX_CELL_CHARS` characters (not bytes) and show control characters visibly, so one
/// odd value cannot wreck the table.
fn clip(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { '·' } else { c })
        .collect();
    if cleaned.chars().count() <= MAX_CELL_CHARS {
        cleaned
    } else {
        let mut cut: String = cleaned.chars().take(MAX_CELL_CHARS - 1).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sample() -> QueryResult {
        QueryResult {
            columns: vec!["name".into(), "note".into()],
            rows: vec![
                vec![Value::Text("Ann, \"A\"".into()), Value::Null],
                vec![Value::Text("x".repeat(100)), Value::Blob(vec![0xde, 0xad])],
            ],
            elapsed: Duration::from_millis(5),
            truncated: true,
        }
    }

    #[test]
    fn table_clips_long_cells_and_reports_truncation() {
        let text = render_table(&sample());
        assert!(text.contains(&format!("{}…", "x".repeat(MAX_CELL_CHARS - 1))));
        assert!(!text.contains(&"x".repeat(MAX_CELL_CHARS + 1)));
        assert!(text.contains("2 rows shown, result truncated"));
        assert!(text.contains("x'dead'"));
    }

    #[test]
    fn csv_quotes_and_leaves_null_empty() {
        let csv = render_csv(&sample()).unwrap();
        let mut lines = csv.lines();
        assert_eq!(lines.next(), Some("name,note"));
        assert_eq!(lines.next(), Some("\"Ann, \"\"A\"\"\","));
    }

    #[test]
    fn json_has_typed_values() {
        let json = render_json(&sample());
        assert_eq!(json["row_count"], 2);
        assert_eq!(json["rows"][0][1], serde_json::Value::Null);
        assert_eq!(json["rows"][1][1]["blob"], "dead");
        assert_eq!(json["truncated"], true);
    }
}
