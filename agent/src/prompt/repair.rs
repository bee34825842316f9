//! Execution feedback that says what to fix: an engine error about a missing table or column, or
//! an ambiguous column, gets a hint from the schema (which tables exist, which tables hold the
//! column). A small model that copied a name from an example, or put a column on the wrong
//! alias, can correct it from the hint; the bare engine message rarely suffices.

use learnat_tools::schema::{Schema, Table};
use learnat_tools::sql::{missing_column, unquote, word_after as after};

/// The error `error` of `sql`, followed by a hint from `schema` when the error names a table or
/// column the schema can speak to. Other errors come back unchanged.
///
/// `no such column: T2.city_id` on a query joining `customers AS T1` and `orders AS T2` gets
/// "Hint: city_id is a column of customers (alias T1), not of orders (alias T2)."
pub fn explain_error(schema: &Schema, sql: &str, error: &str) -> String {
    match hint(schema, sql, error) {
        Some(hint) => format!("{error}\nHint: {hint}"),
        None => error.to_string(),
    }
}

fn hint(schema: &Schema, sql: &str, error: &str) -> Option<String> {
    if schema.tables.is_empty() {
        return None;
    }
    if let Some(name) = after(error, "no such table:")
        .or_else(|| between(error, "relation \"", "\" does not exist"))
    {
        return Some(format!(
            "there is no table {name}. The tables are: {}.",
            schema
                .tables
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some((qualifier, column)) = missing_column(error) {
        return Some(column_hint(schema, sql, qualifier, column));
    }
    if let Some(name) = after(error, "ambiguous column name:") {
        let holders = tables_with_column(schema, &name);
        if !holders.is_empty() {
            return Some(format!(
                "write {name} with its table or alias: it is a column of {}.",
                holders.join(" and ")
            ));
        }
    }
    None
}

/// The hint for `column` (on `qualifier`, when the query wrote one) that no table of the query
/// has.
fn column_hint(schema: &Schema, sql: &str, qualifier: Option<String>, column: String) -> String {
    let aliases = aliases(schema, sql);
    let label = |table: &str| {
        let alias = aliases
            .iter()
            .find(|(alias, t)| t.eq_ignore_ascii_case(table) && !alias.eq_ignore_ascii_case(t))
            .map(|(alias, _)| alias.as_str());
        match alias {
            Some(alias) => format!("{table} (alias {alias})"),
            None => table.to_string(),
        }
    };
    let holders = tables_with_column(schema, &column);
    if holders.is_empty() {
        let used: Vec<&Table> = schema
            .tables
            .iter()
            .filter(|t| {
                aliases
                    .iter()
                    .any(|(_, name)| name.eq_ignore_ascii_case(&t.name))
            })
            .collect();
        let shown: Vec<String> = used
            .iter()
            .map(|t| {
                let columns: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
                format!("{}({})", t.name, columns.join(", "))
            })
            .collect();
        return if shown.is_empty() {
            format!("no table has a column {column}.")
        } else {
            format!(
                "no table has a column {column}. The query's tables have: {}.",
                shown.join("; ")
            )
        };
    }
    let holders_text = holders
        .iter()
        .map(|t| label(t))
        .collect::<Vec<_>>()
        .join(" and ");
    let wrong_table = qualifier.and_then(|q| {
        aliases
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(&q))
            .map(|(_, table)| table.clone())
    });
    match wrong_table {
        Some(table) if !holders.iter().any(|h| h.eq_ignore_ascii_case(&table)) => {
            format!(
                "{column} is a column of {holders_text}, not of {}.",
                label(&table)
            )
        }
        _ => {
            let joined = holders
                .iter()
                .any(|h| aliases.iter().any(|(_, t)| t.eq_ignore_ascii_case(h)));
            if joined {
                format!("{column} is a column of {holders_text}.")
            } else {
                format!("{column} is a column of {holders_text}, which the query does not join.")
            }
        }
    }
}

/// The schema's tables that have a column `column` (case-insensitive), in schema order.
fn tables_with_column(schema: &Schema, column: &str) -> Vec<String> {
    schema
        .tables
        .iter()
        .filter(|t| {
            t.columns
                .iter()
                .any(|c| c.name.eq_ignore_ascii_case(column))
        })
        .map(|t| t.name.clone())
        .collect()
}

/// `(alias, table)` for every schema table the query names, the table's own name included: a
/// table word followed by `AS alias` or a bare alias.
fn aliases(schema: &Schema, sql: &str) -> Vec<(String, String)> {
    let words: Vec<String> = sql
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '"' || c == '`'))
        .filter(|w| !w.is_empty())
        .map(unquote)
        .collect();
    let keyword = |w: &str| {
        matches!(
            w.to_ascii_uppercase().as_str(),
            "ON" | "JOIN"
                | "WHERE"
                | "GROUP"
                | "ORDER"
                | "LIMIT"
                | "INNER"
                | "LEFT"
                | "RIGHT"
                | "OUTER"
                | "CROSS"
                | "UNION"
                | "EXCEPT"
                | "INTERSECT"
                | "HAVING"
                | "SELECT"
                | "NATURAL"
                | "USING"
        )
    };
    let mut found = Vec::new();
    for (position, word) in words.iter().enumerate() {
        let Some(table) = schema
            .tables
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(word))
        else {
            continue;
        };
        let pair = (table.name.clone(), table.name.clone());
        if !found.contains(&pair) {
            found.push(pair);
        }
        let mut next = words.get(position + 1);
        if next.is_some_and(|w| w.eq_ignore_ascii_case("AS")) {
            next = words.get(position + 2);
        }
        if let Some(alias) = next.filter(|w| !keyword(w)) {
            let pair = (alias.clone(), table.name.clone());
            if !found.contains(&pair) {
                found.push(pair);
            }
        }
    }
    found
}

/// The text between `open` and `close`.
fn between(text: &str, open: &str, close: &str) -> Option<String> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    let inside = text[start..end].trim();
    (!inside.is_empty() && !inside.contains(' ')).then(|| inside.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        let table = Table::untyped;
        Schema {
            tables: vec![
                table("singer", &["Singer_ID", "Name", "Age"]),
                table("concert", &["concert_ID", "Year", "Stadium_ID"]),
                table("stadium", &["Stadium_ID", "Name", "Capacity"]),
            ],
            ..Schema::default()
        }
    }

    #[test]
    fn a_missing_table_lists_the_tables() {
        let text = explain_error(
            &schema(),
            "SELECT name FROM song",
            "SQL error: no such table: song",
        );
        assert_eq!(
            text,
            "SQL error: no such table: song\nHint: there is no table song. The tables are: \
             singer, concert, stadium."
        );
        let postgres = explain_error(&schema(), "SELECT 1", "relation \"song\" does not exist");
        assert!(postgres.contains("there is no table song"), "{postgres}");
    }

    #[test]
    fn a_column_on_the_wrong_alias_names_the_right_table() {
        let text = explain_error(
            &schema(),
            "SELECT T2.Age FROM concert AS T1 JOIN stadium T2 ON T1.Stadium_ID = T2.Stadium_ID",
            "no such column: T2.Age",
        );
        assert!(
            text.ends_with("Hint: Age is a column of singer, not of stadium (alias T2)."),
            "{text}"
        );
        let text = explain_error(
            &schema(),
            "SELECT T1.Capacity FROM concert AS T1 JOIN stadium AS T2 ON T1.Stadium_ID = \
             T2.Stadium_ID",
            "no such column: T1.Capacity",
        );
        assert!(
            text.ends_with(
                "Hint: Capacity is a column of stadium (alias T2), not of concert (alias T1)."
            ),
            "{text}"
        );
    }

    #[test]
    fn a_column_no_table_has_lists_the_query_tables_columns() {
        let text = explain_error(
            &schema(),
            "SELECT releasedate FROM singer",
            "no such column: releasedate",
        );
        assert!(
            text.ends_with(
                "Hint: no table has a column releasedate. The query's tables have: \
                 singer(Singer_ID, Name, Age)."
            ),
            "{text}"
        );
    }

    #[test]
    fn ambiguous_columns_and_other_errors() {
        let text = explain_error(
            &schema(),
            "SELECT Name FROM singer JOIN stadium",
            "ambiguous column name: Name",
        );
        assert!(
            text.ends_with(
                "Hint: write Name with its table or alias: it is a column of singer and stadium."
            ),
            "{text}"
        );
        let plain = "near \"FROM\": syntax error";
        assert_eq!(explain_error(&schema(), "SELECT FROM", plain), plain);
        assert_eq!(
            explain_error(&Schema::default(), "SELECT x", "no such column: x"),
            "no such column: x"
        );
    }
}
