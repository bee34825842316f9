//! Schema introspection and the renderings used in prompts and by the CLI.
//!
//! [`introspect`] reads tables, columns, declared types, primary and foreign keys, row counts and
//! a few distinct sample values per column. It is built only on [`Database::execute`], so every
//! introspection statement passes the same read-only gate and limits as any other query:
//! SQLite is read through `sqlite_master` and the table-valued pragmas `pragma_table_info` and
//! `pragma_foreign_key_list` (the engine's authorizer allows exactly these read-only pragmas);
//! PostgreSQL through `information_schema` views of the current schema.
//!
//! Renderings: [`Schema::to_ddl`] (CREATE TABLE statements with sample values as comments, the
//! form OmniSQL / LearNAT prompts use), [`Schema::to_compact`] (`table(col type, ...)` lines plus
//! foreign-key lines), [`Schema::to_ddl_tables`] (a subset of tables) and JSON through serde.
//!
//! Introspection costs one statement per table and per column; [`SchemaCache`] memoises whole
//! schemas and single-column samples per database so repeated calls are free.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::database::{Database, Dialect, ExecOptions};
use crate::error::{ToolsError, ToolsResult};
use crate::value::{QueryResult, Value};

/// A database schema: every user table with its columns and keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// Dialect of the database it was read from; decides identifier quoting in renderings.
    #[serde(default = "default_dialect")]
    pub dialect: Dialect,
    /// Tables in creation order (SQLite) or by name (PostgreSQL).
    pub tables: Vec<Table>,
}

fn default_dialect() -> Dialect {
    Dialect::Sqlite
}

impl Default for Schema {
    fn default() -> Self {
        Schema {
            dialect: default_dialect(),
            tables: Vec::new(),
        }
    }
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

impl Table {
    /// A table of TEXT columns named `columns`, without keys, samples or a row count: for tests
    /// and examples.
    pub fn untyped(name: &str, columns: &[&str]) -> Table {
        Table {
            name: name.to_string(),
            columns: columns
                .iter()
                .map(|column| Column {
                    name: column.to_string(),
                    data_type: "TEXT".into(),
                    not_null: false,
                    samples: Vec::new(),
                })
                .collect(),
            primary_key: Vec::new(),
            foreign_keys: Vec::new(),
            row_count: None,
        }
    }
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

/// What [`introspect`] reads besides the structure.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IntrospectOptions {
    /// Distinct non-null sample values per column (0 reads none).
    pub sample_values: usize,
    /// Text samples longer than this many characters are cut (ending in `…`); shorter values
    /// are preferred when a column has enough of them.
    pub max_sample_chars: usize,
    /// Rows looked at per column when sampling, so huge tables stay cheap.
    pub sample_scan_rows: usize,
    /// Count the rows of every table (`count(*)`, a full scan in SQLite).
    pub row_counts: bool,
    /// Time limit of each introspection statement. A sample or count that runs out of time is
    /// left out (the structure is still returned); structural queries that fail are errors.
    pub statement_timeout: Duration,
}

impl Default for IntrospectOptions {
    fn default() -> Self {
        IntrospectOptions {
            sample_values: 3,
            max_sample_chars: 40,
            sample_scan_rows: 1000,
            row_counts: true,
            statement_timeout: Duration::from_secs(5),
        }
    }
}

impl IntrospectOptions {
    fn exec_options(&self) -> ExecOptions {
        ExecOptions {
            timeout: self.statement_timeout,
            ..ExecOptions::default()
        }
    }
}

/// Read the schema of `db` through its read-only `execute`.
///
/// ```no_run
/// # async fn run() -> learnat_tools::ToolsResult<()> {
/// use learnat_tools::schema::{introspect, IntrospectOptions};
/// let db = learnat_tools::database::open_database("shop.sqlite").await?;
/// let schema = introspect(db.as_ref(), &IntrospectOptions::default()).await?;
/// println!("{}", schema.to_compact());
/// # Ok(()) }
/// ```
pub async fn introspect(db: &dyn Database, options: &IntrospectOptions) -> ToolsResult<Schema> {
    let mut tables = match db.dialect() {
        Dialect::Sqlite => sqlite_structure(db, options).await?,
        Dialect::Postgres => postgres_structure(db, options).await?,
    };
    for table in &mut tables {
        if options.row_counts {
            table.row_count = count_rows(db, &table.name, options).await;
        }
        if options.sample_values > 0 {
            for column in &mut table.columns {
                column.samples = sample_or_nothing(
                    db,
                    &table.name,
                    &column.name,
                    options.sample_values,
                    options,
                )
                .await;
            }
        }
    }
    Ok(Schema {
        dialect: db.dialect(),
        tables,
    })
}

/// Up to `limit` distinct non-null values of `table.column`, short ones first, long texts cut
/// to `options.max_sample_chars`. Blobs are never sampled (useless in prompts).
pub async fn sample_column_values(
    db: &dyn Database,
    table: &str,
    column: &str,
    limit: usize,
    options: &IntrospectOptions,
) -> ToolsResult<Vec<Value>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    // Look at more candidates than needed so short values can be preferred.
    let candidates = limit.saturating_mul(4).max(20);
    let column_sql = quote_identifier(column);
    let sql = format!(
        "SELECT DISTINCT {column_sql} FROM (SELECT {column_sql} FROM {} WHERE {column_sql} IS \
         NOT NULL LIMIT {}) AS scanned LIMIT {candidates}",
        quote_identifier(table),
        options.sample_scan_rows.max(limit),
    );
    let result = db.execute(&sql, &options.exec_options()).await?;
    Ok(choose_samples(
        result
            .rows
            .into_iter()
            .filter_map(|row| row.into_iter().next()),
        limit,
        options.max_sample_chars,
    ))
}

/// Samples for introspection: a column that cannot be sampled (timeout, a type without
/// equality in PostgreSQL) simply has none.
async fn sample_or_nothing(
    db: &dyn Database,
    table: &str,
    column: &str,
    limit: usize,
    options: &IntrospectOptions,
) -> Vec<Value> {
    match sample_column_values(db, table, column, limit, options).await {
        Ok(samples) => samples,
        Err(error) => {
            tracing::debug!(table, column, %error, "no sample values");
            Vec::new()
        }
    }
}

/// Prefer non-empty values of at most `max_chars` characters (in scan order), then the rest,
/// cut to `max_chars`.
fn choose_samples(
    values: impl Iterator<Item = Value>,
    limit: usize,
    max_chars: usize,
) -> Vec<Value> {
    let mut preferred = Vec::new();
    let mut fallback = Vec::new();
    for value in values {
        match &value {
            Value::Null | Value::Blob(_) => {}
            Value::Text(text) if text.trim().is_empty() || text.chars().count() > max_chars => {
                fallback.push(value)
            }
            _ => preferred.push(value),
        }
    }
    preferred
        .into_iter()
        .chain(fallback)
        .take(limit)
        .map(|value| match value {
            Value::Text(text) => Value::Text(cut_text(&text, max_chars)),
            other => other,
        })
        .collect()
}

/// `text` shortened to `max_chars` characters (not bytes), ending in `…` when cut.
fn cut_text(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

async fn count_rows(db: &dyn Database, table: &str, options: &IntrospectOptions) -> Option<u64> {
    let sql = format!("SELECT count(*) FROM {}", quote_identifier(table));
    match db.execute(&sql, &options.exec_options()).await {
        Ok(result) => match first_value(&result) {
            Some(Value::Integer(n)) => u64::try_from(*n).ok(),
            _ => None,
        },
        Err(error) => {
            tracing::debug!(table, %error, "rows not counted");
            None
        }
    }
}

fn first_value(result: &QueryResult) -> Option<&Value> {
    result.rows.first().and_then(|row| row.first())
}

/// Run a structural introspection statement; failures say what was being read.
async fn run_introspection(
    db: &dyn Database,
    sql: &str,
    what: &str,
    options: &IntrospectOptions,
) -> ToolsResult<QueryResult> {
    let mut exec = options.exec_options();
    // Structure queries must be complete: a huge catalogue must not be silently truncated.
    exec.max_rows = 1_000_000;
    let result = db.execute(sql, &exec).await.map_err(|error| match error {
        ToolsError::Sql { message } => ToolsError::Sql {
            message: format!("reading the schema of '{}' ({what}): {message}", db.name()),
        },
        ToolsError::Refused { reason } => ToolsError::Refused {
            reason: format!(
                "reading the schema of '{}' ({what}): {reason} (the engine must allow \
                 introspection queries)",
                db.name()
            ),
        },
        other => other,
    })?;
    if result.truncated {
        return Err(ToolsError::ResourceLimit {
            what: format!(
                "the schema of '{}' is too large to read ({what} was truncated)",
                db.name()
            ),
        });
    }
    Ok(result)
}

fn text_at(row: &[Value], index: usize) -> String {
    match row.get(index) {
        Some(Value::Text(text)) => text.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn integer_at(row: &[Value], index: usize) -> Option<i64> {
    match row.get(index) {
        Some(Value::Integer(i)) => Some(*i),
        Some(Value::Text(text)) => text.trim().parse().ok(),
        _ => None,
    }
}

/// Tables, columns and keys of a SQLite database.
async fn sqlite_structure(
    db: &dyn Database,
    options: &IntrospectOptions,
) -> ToolsResult<Vec<Table>> {
    let listing = run_introspection(
        db,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, 7) <> 'sqlite_' \
         ORDER BY rowid",
        "the table list",
        options,
    )
    .await?;
    let names: Vec<String> = listing.rows.iter().map(|row| text_at(row, 0)).collect();

    let mut tables = Vec::with_capacity(names.len());
    for name in &names {
        let literal = quote_string(name);
        let columns = run_introspection(
            db,
            &format!(
                "SELECT name, type, \"notnull\", pk FROM pragma_table_info({literal}) ORDER BY cid"
            ),
            &format!("the columns of {name}"),
            options,
        )
        .await?;
        let mut primary_key: Vec<(i64, String)> = Vec::new();
        let columns = columns
            .rows
            .iter()
            .map(|row| {
                let column = Column {
                    name: text_at(row, 0),
                    data_type: text_at(row, 1),
                    not_null: integer_at(row, 2).unwrap_or(0) != 0,
                    samples: Vec::new(),
                };
                if let Some(position) = integer_at(row, 3).filter(|p| *p > 0) {
                    primary_key.push((position, column.name.clone()));
                }
                column
            })
            .collect();
        primary_key.sort();

        // SQLite numbers foreign keys from the last declared one; descending ids give the
        // order of the CREATE TABLE statement.
        let keys = run_introspection(
            db,
            &format!(
                "SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list({literal}) \
                 ORDER BY id DESC, seq"
            ),
            &format!("the foreign keys of {name}"),
            options,
        )
        .await?;
        let mut foreign_keys: Vec<(i64, ForeignKey)> = Vec::new();
        for row in &keys.rows {
            let id = integer_at(row, 0).unwrap_or(0);
            let ref_column = text_at(row, 3);
            if foreign_keys.last().map(|(last, _)| *last) != Some(id) {
                foreign_keys.push((
                    id,
                    ForeignKey {
                        columns: Vec::new(),
                        ref_table: text_at(row, 1),
                        ref_columns: Vec::new(),
                    },
                ));
            }
            if let Some((_, key)) = foreign_keys.last_mut() {
                key.columns.push(text_at(row, 2));
                // An empty `to` means "the parent's primary key"; resolved below.
                key.ref_columns.push(ref_column);
            }
        }
        tables.push(Table {
            name: name.clone(),
            columns,
            primary_key: primary_key.into_iter().map(|(_, column)| column).collect(),
            foreign_keys: foreign_keys.into_iter().map(|(_, key)| key).collect(),
            row_count: None,
        });
    }
    resolve_foreign_key_targets(&mut tables);
    Ok(tables)
}

/// SQLite keeps foreign-key targets as written: the parent's name may differ in case from its
/// real name, and `REFERENCES parent` without columns means the parent's primary key. Normalise
/// both so renderings and tools can follow keys.
fn resolve_foreign_key_targets(tables: &mut [Table]) {
    let parents: Vec<(String, Vec<String>)> = tables
        .iter()
        .map(|t| (t.name.clone(), t.primary_key.clone()))
        .collect();
    for table in tables.iter_mut() {
        for key in &mut table.foreign_keys {
            let Some((parent_name, parent_key)) = parents
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(&key.ref_table))
            else {
                continue;
            };
            key.ref_table = parent_name.clone();
            if key.ref_columns.iter().all(|c| c.is_empty()) && parent_key.len() == key.columns.len()
            {
                key.ref_columns = parent_key.clone();
            }
        }
    }
}

/// Tables, columns and keys of the current PostgreSQL schema, from `information_schema`.
async fn postgres_structure(
    db: &dyn Database,
    options: &IntrospectOptions,
) -> ToolsResult<Vec<Table>> {
    let listing = run_introspection(
        db,
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name",
        "the table list",
        options,
    )
    .await?;
    let mut tables: Vec<Table> = listing
        .rows
        .iter()
        .map(|row| Table {
            name: text_at(row, 0),
            columns: Vec::new(),
            primary_key: Vec::new(),
            foreign_keys: Vec::new(),
            row_count: None,
        })
        .collect();
    let index: HashMap<String, usize> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.clone(), i))
        .collect();

    let columns = run_introspection(
        db,
        "SELECT table_name::text, column_name::text, data_type::text, udt_name::text, \
         character_maximum_length::integer, numeric_precision::integer, \
         numeric_scale::integer, is_nullable::text \
         FROM information_schema.columns WHERE table_schema = current_schema() \
         ORDER BY table_name, ordinal_position",
        "the columns",
        options,
    )
    .await?;
    for row in &columns.rows {
        let Some(table) = index.get(&text_at(row, 0)).and_then(|&i| tables.get_mut(i)) else {
            continue;
        };
        table.columns.push(Column {
            name: text_at(row, 1),
            data_type: postgres_type_name(
                &text_at(row, 2),
                &text_at(row, 3),
                integer_at(row, 4),
                integer_at(row, 5),
                integer_at(row, 6),
            ),
            not_null: text_at(row, 7) == "NO",
            samples: Vec::new(),
        });
    }

    let primary_keys = run_introspection(
        db,
        "SELECT kcu.table_name::text, kcu.column_name::text \
         FROM information_schema.table_constraints AS tc \
         JOIN information_schema.key_column_usage AS kcu \
           ON kcu.constraint_schema = tc.constraint_schema \
          AND kcu.constraint_name = tc.constraint_name AND kcu.table_name = tc.table_name \
         WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = current_schema() \
         ORDER BY kcu.table_name, kcu.ordinal_position",
        "the primary keys",
        options,
    )
    .await?;
    for row in &primary_keys.rows {
        if let Some(table) = index.get(&text_at(row, 0)).and_then(|&i| tables.get_mut(i)) {
            table.primary_key.push(text_at(row, 1));
        }
    }

    let foreign_keys = run_introspection(
        db,
        "SELECT kcu.table_name::text, kcu.constraint_name::text, kcu.column_name::text, \
         ref.table_name::text, ref.column_name::text \
         FROM information_schema.referential_constraints AS rc \
         JOIN information_schema.key_column_usage AS kcu \
           ON kcu.constraint_schema = rc.constraint_schema \
          AND kcu.constraint_name = rc.constraint_name \
         JOIN information_schema.key_column_usage AS ref \
           ON ref.constraint_schema = rc.unique_constraint_schema \
          AND ref.constraint_name = rc.unique_constraint_name \
          AND ref.ordinal_position = kcu.position_in_unique_constraint \
         WHERE kcu.table_schema = current_schema() \
         ORDER BY kcu.table_name, kcu.constraint_name, kcu.ordinal_position",
        "the foreign keys",
        options,
    )
    .await?;
    let mut current: Option<(String, String)> = None;
    for row in &foreign_keys.rows {
        let (table_name, constraint) = (text_at(row, 0), text_at(row, 1));
        let Some(table) = index.get(&table_name).and_then(|&i| tables.get_mut(i)) else {
            continue;
        };
        let same_key = current.as_ref() == Some(&(table_name.clone(), constraint.clone()));
        if !same_key || table.foreign_keys.is_empty() {
            table.foreign_keys.push(ForeignKey {
                columns: Vec::new(),
                ref_table: text_at(row, 3),
                ref_columns: Vec::new(),
            });
            current = Some((table_name, constraint));
        }
        if let Some(key) = table.foreign_keys.last_mut() {
            key.columns.push(text_at(row, 2));
            key.ref_columns.push(text_at(row, 4));
        }
    }
    Ok(tables)
}

/// `character varying(50)`, `numeric(10,2)`, enum and array types by their type name.
fn postgres_type_name(
    data_type: &str,
    udt_name: &str,
    max_length: Option<i64>,
    precision: Option<i64>,
    scale: Option<i64>,
) -> String {
    match (data_type, max_length, precision, scale) {
        ("USER-DEFINED", ..) => udt_name.to_string(),
        ("ARRAY", ..) => format!("{}[]", udt_name.trim_start_matches('_')),
        (_, Some(length), ..) => format!("{data_type}({length})"),
        ("numeric", None, Some(precision), Some(scale)) => format!("numeric({precision},{scale})"),
        _ => data_type.to_string(),
    }
}

/// `name` as a double-quoted SQL identifier (quotes inside doubled); valid in SQLite and
/// PostgreSQL.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` as a single-quoted SQL string literal (quotes inside doubled).
pub fn quote_string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// SQLite's keywords (sorted): an identifier spelled like one is quoted in renderings.
const SQL_KEYWORDS: &[&str] = &[
    "ABORT",
    "ACTION",
    "ADD",
    "AFTER",
    "ALL",
    "ALTER",
    "ALWAYS",
    "ANALYZE",
    "AND",
    "AS",
    "ASC",
    "ATTACH",
    "AUTOINCREMENT",
    "BEFORE",
    "BEGIN",
    "BETWEEN",
    "BY",
    "CASCADE",
    "CASE",
    "CAST",
    "CHECK",
    "COLLATE",
    "COLUMN",
    "COMMIT",
    "CONFLICT",
    "CONSTRAINT",
    "CREATE",
    "CROSS",
    "CURRENT",
    "CURRENT_DATE",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "DATABASE",
    "DEFAULT",
    "DEFERRABLE",
    "DEFERRED",
    "DELETE",
    "DESC",
    "DETACH",
    "DISTINCT",
    "DO",
    "DROP",
    "EACH",
    "ELSE",
    "END",
    "ESCAPE",
    "EXCEPT",
    "EXCLUDE",
    "EXCLUSIVE",
    "EXISTS",
    "EXPLAIN",
    "FAIL",
    "FILTER",
    "FIRST",
    "FOLLOWING",
    "FOR",
    "FOREIGN",
    "FROM",
    "FULL",
    "GENERATED",
    "GLOB",
    "GROUP",
    "GROUPS",
    "HAVING",
    "IF",
    "IGNORE",
    "IMMEDIATE",
    "IN",
    "INDEX",
    "INDEXED",
    "INITIALLY",
    "INNER",
    "INSERT",
    "INSTEAD",
    "INTERSECT",
    "INTO",
    "IS",
    "ISNULL",
    "JOIN",
    "KEY",
    "LAST",
    "LEFT",
    "LIKE",
    "LIMIT",
    "MATCH",
    "MATERIALIZED",
    "NATURAL",
    "NO",
    "NOT",
    "NOTHING",
    "NOTNULL",
    "NULL",
    "NULLS",
    "OF",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OTHERS",
    "OUTER",
    "OVER",
    "PARTITION",
    "PLAN",
    "PRAGMA",
    "PRECEDING",
    "PRIMARY",
    "QUERY",
    "RAISE",
    "RANGE",
    "RECURSIVE",
    "REFERENCES",
    "REGEXP",
    "REINDEX",
    "RELEASE",
    "RENAME",
    "REPLACE",
    "RESTRICT",
    "RETURNING",
    "RIGHT",
    "ROLLBACK",
    "ROW",
    "ROWS",
    "SAVEPOINT",
    "SELECT",
    "SET",
    "TABLE",
    "TEMP",
    "TEMPORARY",
    "THEN",
    "TIES",
    "TO",
    "TRANSACTION",
    "TRIGGER",
    "UNBOUNDED",
    "UNION",
    "UNIQUE",
    "UPDATE",
    "USING",
    "VACUUM",
    "VALUES",
    "VIEW",
    "VIRTUAL",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
    "WITHOUT",
];

/// `name` as it must be written in SQL of `dialect`: bare when it is a plain identifier that
/// means itself there, quoted otherwise (spaces, punctuation, keywords; in PostgreSQL also
/// upper-case letters, which an unquoted name would lose).
pub fn render_identifier(name: &str, dialect: Dialect) -> String {
    let mut chars = name.chars();
    let plain_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let plain_rest = chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    let case_safe = dialect != Dialect::Postgres || !name.chars().any(|c| c.is_ascii_uppercase());
    let keyword = SQL_KEYWORDS
        .binary_search(&name.to_ascii_uppercase().as_str())
        .is_ok();
    if plain_start && plain_rest && case_safe && !keyword {
        name.to_string()
    } else {
        quote_identifier(name)
    }
}

/// A sample value as an SQL literal for a prompt comment: text quoted, on one line.
fn render_sample(value: &Value) -> String {
    match value {
        Value::Text(text) => quote_string(&text.replace(['\n', '\r', '\t'], " ")),
        other => other.to_string(),
    }
}

impl Schema {
    /// The table called `name` (exact match first, then ignoring ASCII case).
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name).or_else(|| {
            self.tables
                .iter()
                .find(|t| t.name.eq_ignore_ascii_case(name))
        })
    }

    /// Table names in schema order.
    pub fn table_names(&self) -> Vec<&str> {
        self.tables.iter().map(|t| t.name.as_str()).collect()
    }

    /// CREATE TABLE statements for every table, sample values as comments after each column:
    ///
    /// ```text
    /// CREATE TABLE customers (
    ///   customer_id INTEGER, -- e.g. 1, 2, 3
    ///   first_name TEXT NOT NULL, -- e.g. 'Olivia', 'Liam'
    ///   PRIMARY KEY (customer_id)
    /// );
    /// ```
    pub fn to_ddl(&self) -> String {
        self.render_ddl(self.tables.iter())
    }

    /// [`Schema::to_ddl`] restricted to the named tables (ignoring ASCII case), in schema
    /// order; unknown names are ignored.
    pub fn to_ddl_tables(&self, names: &[&str]) -> String {
        self.render_ddl(
            self.tables
                .iter()
                .filter(|t| names.iter().any(|n| n.eq_ignore_ascii_case(&t.name))),
        )
    }

    fn render_ddl<'a>(&self, tables: impl Iterator<Item = &'a Table>) -> String {
        let id = |name: &str| render_identifier(name, self.dialect);
        let ids = |names: &[String]| names.iter().map(|n| id(n)).collect::<Vec<_>>().join(", ");
        let mut out = String::new();
        for table in tables {
            // (definition, comment) per line; commas go between definition and comment.
            let mut lines: Vec<(String, Option<String>)> = Vec::new();
            for column in &table.columns {
                let mut definition = format!("  {}", id(&column.name));
                if !column.data_type.is_empty() {
                    definition.push(' ');
                    definition.push_str(&column.data_type);
                }
                if column.not_null {
                    definition.push_str(" NOT NULL");
                }
                let comment = (!column.samples.is_empty()).then(|| {
                    let samples: Vec<String> = column.samples.iter().map(render_sample).collect();
                    format!("-- e.g. {}", samples.join(", "))
                });
                lines.push((definition, comment));
            }
            if !table.primary_key.is_empty() {
                lines.push((format!("  PRIMARY KEY ({})", ids(&table.primary_key)), None));
            }
            for key in &table.foreign_keys {
                let target = if key.ref_columns.iter().all(|c| c.is_empty()) {
                    String::new()
                } else {
                    format!(" ({})", ids(&key.ref_columns))
                };
                lines.push((
                    format!(
                        "  FOREIGN KEY ({}) REFERENCES {}{target}",
                        ids(&key.columns),
                        id(&key.ref_table)
                    ),
                    None,
                ));
            }
            out.push_str(&format!("CREATE TABLE {} (\n", id(&table.name)));
            let last = lines.len().saturating_sub(1);
            for (i, (definition, comment)) in lines.into_iter().enumerate() {
                out.push_str(&definition);
                if i < last {
                    out.push(',');
                }
                if let Some(comment) = comment {
                    out.push(' ');
                    out.push_str(&comment);
                }
                out.push('\n');
            }
            out.push_str(");\n\n");
        }
        out
    }

    /// One `table(col type, ...)` line per table (primary-key columns marked `PK`), then one
    /// `FK table(cols) -> table(cols)` line per foreign key.
    pub fn to_compact(&self) -> String {
        let id = |name: &str| render_identifier(name, self.dialect);
        let ids = |names: &[String]| names.iter().map(|n| id(n)).collect::<Vec<_>>().join(", ");
        let mut out = String::new();
        for table in &self.tables {
            let columns: Vec<String> = table
                .columns
                .iter()
                .map(|column| {
                    let mut text = id(&column.name);
                    if !column.data_type.is_empty() {
                        text.push(' ');
                        text.push_str(&column.data_type);
                    }
                    if table.primary_key.contains(&column.name) {
                        text.push_str(" PK");
                    }
                    text
                })
                .collect();
            out.push_str(&format!("{}({})\n", id(&table.name), columns.join(", ")));
        }
        for table in &self.tables {
            for key in &table.foreign_keys {
                out.push_str(&format!(
                    "FK {}({}) -> {}({})\n",
                    id(&table.name),
                    ids(&key.columns),
                    id(&key.ref_table),
                    ids(&key.ref_columns)
                ));
            }
        }
        out
    }
}

/// Memoised introspection, per database: whole schemas (keyed by database name and options)
/// and single-column samples (keyed by database name, table, column, limit and options).
///
/// Databases are told apart by [`Database::name`] and dialect, so one cache must only serve
/// databases with distinct names (a SQLite database is named by its file name: keep one cache
/// per database, as the built-in tools do, or per set such as Spider's). Schemas are assumed
/// not to change while cached: learnat never writes to the databases it reads; call
/// [`SchemaCache::forget`] if something else does. Concurrent misses may both introspect; the
/// results are the same.
#[derive(Debug, Default)]
pub struct SchemaCache {
    schemas: Mutex<HashMap<(String, Dialect, IntrospectOptions), Arc<Schema>>>,
    samples: Mutex<HashMap<SampleKey, Arc<Vec<Value>>>>,
}

type SampleKey = (String, Dialect, String, String, usize, IntrospectOptions);

impl SchemaCache {
    /// An empty cache.
    pub fn new() -> SchemaCache {
        SchemaCache::default()
    }

    /// The schema of `db` with `options`, introspected on first use.
    pub async fn schema(
        &self,
        db: &dyn Database,
        options: &IntrospectOptions,
    ) -> ToolsResult<Arc<Schema>> {
        let key = (db.name().to_string(), db.dialect(), options.clone());
        if let Some(schema) = lock(&self.schemas).get(&key) {
            return Ok(Arc::clone(schema));
        }
        let schema = Arc::new(introspect(db, options).await?);
        lock(&self.schemas).insert(key, Arc::clone(&schema));
        Ok(schema)
    }

    /// [`sample_column_values`], memoised. `table` and `column` should be spelled as in the
    /// schema (callers resolve case first) so equal requests share an entry.
    pub async fn column_samples(
        &self,
        db: &dyn Database,
        table: &str,
        column: &str,
        limit: usize,
        options: &IntrospectOptions,
    ) -> ToolsResult<Arc<Vec<Value>>> {
        let key = (
            db.name().to_string(),
            db.dialect(),
            table.to_string(),
            column.to_string(),
            limit,
            options.clone(),
        );
        if let Some(samples) = lock(&self.samples).get(&key) {
            return Ok(Arc::clone(samples));
        }
        let samples = Arc::new(sample_column_values(db, table, column, limit, options).await?);
        lock(&self.samples).insert(key, Arc::clone(&samples));
        Ok(samples)
    }

    /// Drop everything cached for the database called `name`.
    pub fn forget(&self, name: &str) {
        lock(&self.schemas).retain(|(db, _, _), _| db != name);
        lock(&self.samples).retain(|(db, ..), _| db != name);
    }

    /// Number of cached schemas (for tests and diagnostics).
    pub fn cached_schemas(&self) -> usize {
        lock(&self.schemas).len()
    }
}

/// A poisoned cache only means another thread panicked mid-insert; the map is still valid.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop_schema() -> Schema {
        Schema {
            dialect: Dialect::Sqlite,
            tables: vec![
                Table {
                    name: "customers".into(),
                    columns: vec![
                        Column {
                            name: "customer_id".into(),
                            data_type: "INTEGER".into(),
                            not_null: false,
                            samples: vec![Value::Integer(1), Value::Integer(2)],
                        },
                        Column {
                            name: "full name".into(),
                            data_type: "TEXT".into(),
                            not_null: true,
                            samples: vec![Value::Text("Ada O'Neil".into())],
                        },
                        Column {
                            name: "order".into(),
                            data_type: String::new(),
                            not_null: false,
                            samples: vec![],
                        },
                    ],
                    primary_key: vec!["customer_id".into()],
                    foreign_keys: vec![],
                    row_count: Some(2),
                },
                Table {
                    name: "Orders".into(),
                    columns: vec![
                        Column {
                            name: "order_id".into(),
                            data_type: "INTEGER".into(),
                            not_null: false,
                            samples: vec![],
                        },
                        Column {
                            name: "customer_id".into(),
                            data_type: "INTEGER".into(),
                            not_null: false,
                            samples: vec![],
                        },
                    ],
                    primary_key: vec!["order_id".into()],
                    foreign_keys: vec![ForeignKey {
                        columns: vec!["customer_id".into()],
                        ref_table: "customers".into(),
                        ref_columns: vec!["customer_id".into()],
                    }],
                    row_count: None,
                },
            ],
        }
    }

    #[test]
    fn keywords_are_sorted_for_binary_search() {
        assert!(SQL_KEYWORDS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn identifiers_are_quoted_only_when_needed() {
        assert_eq!(
            render_identifier("customer_id", Dialect::Sqlite),
            "customer_id"
        );
        assert_eq!(
            render_identifier("Home Town", Dialect::Sqlite),
            "\"Home Town\""
        );
        assert_eq!(render_identifier("order", Dialect::Sqlite), "\"order\"");
        assert_eq!(render_identifier("a\"b", Dialect::Sqlite), "\"a\"\"b\"");
        assert_eq!(render_identifier("1st", Dialect::Sqlite), "\"1st\"");
        assert_eq!(render_identifier("Name", Dialect::Sqlite), "Name");
        assert_eq!(render_identifier("Name", Dialect::Postgres), "\"Name\"");
        assert_eq!(render_identifier("", Dialect::Sqlite), "\"\"");
    }

    #[test]
    fn ddl_has_keys_and_sample_comments_with_commas_before_them() {
        let ddl = shop_schema().to_ddl();
        assert!(ddl.contains("CREATE TABLE customers (\n"), "{ddl}");
        assert!(
            ddl.contains("  customer_id INTEGER, -- e.g. 1, 2\n"),
            "{ddl}"
        );
        assert!(
            ddl.contains("  \"full name\" TEXT NOT NULL, -- e.g. 'Ada O''Neil'\n"),
            "{ddl}"
        );
        assert!(
            ddl.contains("  \"order\",\n  PRIMARY KEY (customer_id)\n);"),
            "{ddl}"
        );
        assert!(
            ddl.contains("  FOREIGN KEY (customer_id) REFERENCES customers (customer_id)\n);"),
            "{ddl}"
        );
    }

    #[test]
    fn ddl_of_a_subset_keeps_only_named_tables() {
        let ddl = shop_schema().to_ddl_tables(&["orders"]);
        assert!(ddl.contains("CREATE TABLE Orders"));
        assert!(!ddl.contains("CREATE TABLE customers"));
        assert_eq!(shop_schema().to_ddl_tables(&["nothing"]), "");
    }

    #[test]
    fn compact_has_one_line_per_table_and_fk_lines() {
        let compact = shop_schema().to_compact();
        let lines: Vec<&str> = compact.lines().collect();
        assert_eq!(
            lines,
            [
                "customers(customer_id INTEGER PK, \"full name\" TEXT, \"order\")",
                "Orders(order_id INTEGER PK, customer_id INTEGER)",
                "FK Orders(customer_id) -> customers(customer_id)",
            ]
        );
    }

    #[test]
    fn json_round_trips_and_defaults_the_dialect() {
        let schema = shop_schema();
        let json = serde_json::to_string(&schema).unwrap();
        assert_eq!(serde_json::from_str::<Schema>(&json).unwrap(), schema);
        let legacy: Schema = serde_json::from_str(r#"{"tables": []}"#).unwrap();
        assert_eq!(legacy.dialect, Dialect::Sqlite);
    }

    #[test]
    fn table_lookup_prefers_exact_case() {
        let schema = shop_schema();
        assert_eq!(
            schema.table("ORDERS").map(|t| t.name.as_str()),
            Some("Orders")
        );
        assert!(schema.table("missing").is_none());
    }

    #[test]
    fn samples_prefer_short_values_and_cut_long_ones() {
        let values = vec![
            Value::Text("x".repeat(100)),
            Value::Text("  ".into()),
            Value::Text("short".into()),
            Value::Blob(vec![1]),
            Value::Integer(7),
        ];
        let chosen = choose_samples(values.clone().into_iter(), 3, 10);
        assert_eq!(
            chosen,
            vec![
                Value::Text("short".into()),
                Value::Integer(7),
                Value::Text(format!("{}…", "x".repeat(9))),
            ]
        );
        assert_eq!(
            choose_samples(values.into_iter(), 1, 10),
            vec![Value::Text("short".into())]
        );
    }

    #[test]
    fn postgres_types_keep_lengths_and_precision() {
        assert_eq!(
            postgres_type_name("character varying", "varchar", Some(50), None, None),
            "character varying(50)"
        );
        assert_eq!(
            postgres_type_name("numeric", "numeric", None, Some(10), Some(2)),
            "numeric(10,2)"
        );
        assert_eq!(
            postgres_type_name("USER-DEFINED", "mood", None, None, None),
            "mood"
        );
        assert_eq!(
            postgres_type_name("ARRAY", "_int4", None, None, None),
            "int4[]"
        );
        assert_eq!(
            postgres_type_name("integer", "int4", None, Some(32), Some(0)),
            "integer"
        );
    }

    #[test]
    fn foreign_keys_to_implicit_primary_keys_are_resolved() {
        let mut tables = shop_schema().tables;
        tables[1].foreign_keys[0] = ForeignKey {
            columns: vec!["customer_id".into()],
            ref_table: "CUSTOMERS".into(),
            ref_columns: vec![String::new()],
        };
        resolve_foreign_key_targets(&mut tables);
        assert_eq!(tables[1].foreign_keys[0].ref_table, "customers");
        assert_eq!(
            tables[1].foreign_keys[0].ref_columns,
            vec!["customer_id".to_string()]
        );
    }
}
