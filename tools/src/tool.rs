//! Agent tools: the [`Tool`] trait and the built-in tools over one database.
//!
//! A tool has a [`ToolDefinition`] (name, description, JSON Schema of its arguments, generated
//! with schemars from the argument struct) and an async [`Tool::call`] taking and returning
//! JSON. The built-in tools, made by [`builtin_tools`], share one [`SchemaCache`], so the
//! database is introspected once however many tools an agent calls:
//!
//! - `execute_sql` {sql, max_rows?}: run one read-only statement;
//! - `list_tables` {}: table names with row and column counts;
//! - `describe_table` {table}: columns, types, keys, foreign keys both ways, samples, DDL;
//! - `sample_values` {table, column, limit?}: distinct values of one column;
//! - `search_values` {value, limit?}: which columns hold a literal mentioned in a question
//!   (exact match first, then ignoring case, then containing it), within a time budget.
//!
//! [`builtin_tool_definitions`] gives the same definitions without a database (for
//! `learnat tools --schema`), and [`openai_function_definitions`] turns definitions into the
//! OpenAI `tools` array.
//!
//! Errors are [`ToolsError`]s (bad arguments are [`ToolsError::InvalidInput`] with a message
//! meant for the model); the caller turns them into tool-error messages.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::database::{Database, Dialect, ExecOptions};
use crate::error::{ToolsError, ToolsResult};
use crate::render::render_json;
use crate::schema::{
    IntrospectOptions, Schema, SchemaCache, Table, quote_identifier, quote_string,
};
use crate::value::Value;

/// What a model is told about a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    /// Function name, e.g. `execute_sql`.
    pub name: String,
    /// What the tool does and when to use it.
    pub description: String,
    /// JSON Schema of the arguments object (`"type": "object"`).
    pub parameters: Json,
}

/// A tool an agent can call.
#[async_trait]
pub trait Tool: Send + Sync {
    /// Name, description and argument schema.
    fn definition(&self) -> ToolDefinition;

    /// Run the tool with JSON arguments (an object matching `definition().parameters`; a JSON
    /// string holding such an object and `null` for "no arguments" are accepted too, since
    /// models produce both).
    async fn call(&self, arguments: Json) -> ToolsResult<Json>;
}

/// Limits of the built-in tools.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolConfig {
    /// Rows `execute_sql` returns when the model does not say.
    pub default_max_rows: usize,
    /// The most rows `execute_sql` returns whatever the model asks.
    pub max_rows_cap: usize,
    /// Time limit of each statement a tool runs.
    pub statement_timeout: Duration,
    /// Total time `search_values` may spend scanning columns.
    pub search_budget: Duration,
    /// Rows `sample_values` looks at per column: larger than for prompt samples, since a
    /// model asking for a column's values wants rare ones too.
    pub sample_scan_rows: usize,
    /// How the shared schema is introspected (samples, row counts).
    pub introspection: IntrospectOptions,
}

impl Default for ToolConfig {
    fn default() -> Self {
        ToolConfig {
            default_max_rows: 50,
            max_rows_cap: 1000,
            statement_timeout: Duration::from_secs(10),
            search_budget: Duration::from_secs(2),
            sample_scan_rows: 100_000,
            introspection: IntrospectOptions::default(),
        }
    }
}

/// The five built-in tools over `db`, with default limits.
pub fn builtin_tools(db: Arc<dyn Database>) -> Vec<Arc<dyn Tool>> {
    builtin_tools_with(db, ToolConfig::default())
}

/// The built-in tools over `db` with the given limits, sharing one schema cache.
pub fn builtin_tools_with(db: Arc<dyn Database>, config: ToolConfig) -> Vec<Arc<dyn Tool>> {
    let context = Arc::new(ToolContext {
        db,
        config,
        cache: SchemaCache::new(),
    });
    vec![
        Arc::new(ExecuteSql(Arc::clone(&context))),
        Arc::new(ListTables(Arc::clone(&context))),
        Arc::new(DescribeTable(Arc::clone(&context))),
        Arc::new(SampleValues(Arc::clone(&context))),
        Arc::new(SearchValues(context)),
    ]
}

/// Definitions of the built-in tools, without a database; equal to the `definition()` of each
/// tool [`builtin_tools`] returns, in the same order.
pub fn builtin_tool_definitions() -> Vec<ToolDefinition> {
    vec![
        execute_sql_definition(),
        list_tables_definition(),
        describe_table_definition(),
        sample_values_definition(),
        search_values_definition(),
    ]
}

/// OpenAI-style function definitions: `[{"type": "function", "function": {name, description,
/// parameters}}, ...]`.
pub fn openai_function_definitions(definitions: &[ToolDefinition]) -> Json {
    Json::Array(
        definitions
            .iter()
            .map(|d| {
                json!({
                    "type": "function",
                    "function": {
                        "name": d.name,
                        "description": d.description,
                        "parameters": d.parameters,
                    }
                })
            })
            .collect(),
    )
}

/// The tool called `name` among `tools`.
pub fn find_tool<'a>(tools: &'a [Arc<dyn Tool>], name: &str) -> Option<&'a Arc<dyn Tool>> {
    tools.iter().find(|tool| tool.definition().name == name)
}

/// The JSON Schema of an argument struct, as function-calling APIs want it: an object schema
/// with `properties`, without `$schema`, `title` or a root description.
fn parameters_schema<T: JsonSchema>() -> Json {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|settings| {
            settings.inline_subschemas = true;
            settings.meta_schema = None;
        })
        .into_generator();
    let mut schema = serde_json::to_value(generator.into_root_schema_for::<T>())
        .unwrap_or_else(|_| json!({"type": "object"}));
    if let Some(object) = schema.as_object_mut() {
        object.remove("title");
        object.remove("description");
        object.entry("properties").or_insert_with(|| json!({}));
        object.insert("type".into(), json!("object"));
    }
    schema
}

/// Parse tool arguments into `T`, with a message a model can act on.
fn parse_arguments<T: DeserializeOwned>(tool: &str, arguments: Json) -> ToolsResult<T> {
    let arguments = match arguments {
        Json::Null => json!({}),
        // Some models send the arguments object serialised as a string.
        Json::String(text) => {
            serde_json::from_str(&text).map_err(|e| ToolsError::InvalidInput {
                message: format!("arguments of {tool} are a string that is not a JSON object: {e}"),
            })?
        }
        other => other,
    };
    serde_json::from_value(arguments).map_err(|e| ToolsError::InvalidInput {
        message: format!("bad arguments for {tool}: {e} (see the tool's parameter schema)"),
    })
}

/// What every built-in tool shares: the database, limits and the schema cache.
struct ToolContext {
    db: Arc<dyn Database>,
    config: ToolConfig,
    cache: SchemaCache,
}

impl ToolContext {
    async fn schema(&self) -> ToolsResult<Arc<Schema>> {
        self.cache
            .schema(self.db.as_ref(), &self.config.introspection)
            .await
    }

    fn exec_options(&self, max_rows: usize) -> ExecOptions {
        ExecOptions {
            timeout: self.config.statement_timeout,
            max_rows,
            ..ExecOptions::default()
        }
    }

    /// The table called `name`, or an error naming the closest tables.
    fn resolve_table<'a>(&self, schema: &'a Schema, name: &str) -> ToolsResult<&'a Table> {
        schema.table(name).ok_or_else(|| {
            let names = schema.table_names();
            ToolsError::InvalidInput {
                message: format!(
                    "unknown table '{name}'{}; the tables are: {}",
                    did_you_mean(name, names.iter().copied()),
                    names.join(", ")
                ),
            }
        })
    }
}

/// ` (did you mean: a, b?)` for names close to `wanted`, or nothing.
fn did_you_mean<'a>(wanted: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    let close = close_names(wanted, candidates);
    if close.is_empty() {
        String::new()
    } else {
        format!(" (did you mean: {}?)", close.join(", "))
    }
}

/// Up to five candidates within a small edit distance of `wanted` (ignoring case) or
/// containing it, closest first.
fn close_names<'a>(wanted: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let wanted_lower = wanted.to_lowercase();
    let threshold = (wanted_lower.chars().count() / 3).max(2);
    let mut scored: Vec<(usize, &str)> = candidates
        .filter_map(|candidate| {
            let lower = candidate.to_lowercase();
            let distance = edit_distance(&wanted_lower, &lower);
            let related = lower.contains(&wanted_lower) || wanted_lower.contains(&lower);
            (distance <= threshold || related).then_some((distance, candidate))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(5).map(|(_, name)| name).collect()
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            let deletion = previous[j + 1] + 1;
            let insertion = current[j] + 1;
            current.push(substitution.min(deletion).min(insertion));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(0)
}

// --- execute_sql -----------------------------------------------------------------------------

/// Arguments of `execute_sql`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteSqlArguments {
    /// One read-only SQL statement (SELECT, WITH … SELECT, VALUES or EXPLAIN).
    pub sql: String,
    /// Return at most this many rows (default 50, at most 1000).
    #[serde(default)]
    pub max_rows: Option<usize>,
}

fn execute_sql_definition() -> ToolDefinition {
    ToolDefinition {
        name: "execute_sql".into(),
        description: "Run one read-only SQL statement on the database and return its columns \
                      and rows (writes are refused). Use it to check a query or look at data."
            .into(),
        parameters: parameters_schema::<ExecuteSqlArguments>(),
    }
}

struct ExecuteSql(Arc<ToolContext>);

#[async_trait]
impl Tool for ExecuteSql {
    fn definition(&self) -> ToolDefinition {
        execute_sql_definition()
    }

    /// `{columns, rows, row_count, truncated, elapsed_ms}`.
    async fn call(&self, arguments: Json) -> ToolsResult<Json> {
        let arguments: ExecuteSqlArguments = parse_arguments("execute_sql", arguments)?;
        if arguments.sql.trim().is_empty() {
            return Err(ToolsError::InvalidInput {
                message: "execute_sql needs a non-empty 'sql' statement".into(),
            });
        }
        let config = &self.0.config;
        let max_rows = arguments
            .max_rows
            .unwrap_or(config.default_max_rows)
            .clamp(1, config.max_rows_cap);
        let result = self
            .0
            .db
            .execute(&arguments.sql, &self.0.exec_options(max_rows))
            .await?;
        Ok(render_json(&result))
    }
}

// --- list_tables -----------------------------------------------------------------------------

/// Arguments of `list_tables` (none).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListTablesArguments {}

fn list_tables_definition() -> ToolDefinition {
    ToolDefinition {
        name: "list_tables".into(),
        description: "List the tables of the database with their row and column counts.".into(),
        parameters: parameters_schema::<ListTablesArguments>(),
    }
}

struct ListTables(Arc<ToolContext>);

#[async_trait]
impl Tool for ListTables {
    fn definition(&self) -> ToolDefinition {
        list_tables_definition()
    }

    /// `{tables: [{name, rows, columns}]}`.
    async fn call(&self, arguments: Json) -> ToolsResult<Json> {
        let _: ListTablesArguments = parse_arguments("list_tables", arguments)?;
        let schema = self.0.schema().await?;
        let tables: Vec<Json> = schema
            .tables
            .iter()
            .map(|t| json!({"name": t.name, "rows": t.row_count, "columns": t.columns.len()}))
            .collect();
        Ok(json!({ "tables": tables }))
    }
}

// --- describe_table --------------------------------------------------------------------------

/// Arguments of `describe_table`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DescribeTableArguments {
    /// Name of the table, as list_tables gives it.
    pub table: String,
}

fn describe_table_definition() -> ToolDefinition {
    ToolDefinition {
        name: "describe_table".into(),
        description: "Describe one table: columns with types and sample values, primary key, \
                      foreign keys to and from other tables, and its CREATE TABLE statement."
            .into(),
        parameters: parameters_schema::<DescribeTableArguments>(),
    }
}

struct DescribeTable(Arc<ToolContext>);

#[async_trait]
impl Tool for DescribeTable {
    fn definition(&self) -> ToolDefinition {
        describe_table_definition()
    }

    /// `{name, rows, columns: [{name, type, not_null, primary_key, samples}], primary_key,
    /// foreign_keys: [{columns, ref_table, ref_columns}], referenced_by: [{table, columns,
    /// ref_columns}], ddl}`.
    async fn call(&self, arguments: Json) -> ToolsResult<Json> {
        let arguments: DescribeTableArguments = parse_arguments("describe_table", arguments)?;
        let schema = self.0.schema().await?;
        let table = self.0.resolve_table(&schema, &arguments.table)?;
        let columns: Vec<Json> = table
            .columns
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "type": c.data_type,
                    "not_null": c.not_null,
                    "primary_key": table.primary_key.contains(&c.name),
                    "samples": c.samples,
                })
            })
            .collect();
        let referenced_by: Vec<Json> = schema
            .tables
            .iter()
            .flat_map(|other| {
                other
                    .foreign_keys
                    .iter()
                    .filter(|key| key.ref_table == table.name)
                    .map(move |key| {
                        json!({
                            "table": other.name,
                            "columns": key.columns,
                            "ref_columns": key.ref_columns,
                        })
                    })
            })
            .collect();
        Ok(json!({
            "name": table.name,
            "rows": table.row_count,
            "columns": columns,
            "primary_key": table.primary_key,
            "foreign_keys": table.foreign_keys,
            "referenced_by": referenced_by,
            "ddl": schema.to_ddl_tables(&[table.name.as_str()]).trim_end(),
        }))
    }
}

// --- sample_values ---------------------------------------------------------------------------

/// Arguments of `sample_values`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SampleValuesArguments {
    /// Table name.
    pub table: String,
    /// Column name in that table.
    pub column: String,
    /// How many distinct values to return (default 10, at most 100).
    #[serde(default)]
    pub limit: Option<usize>,
}

fn sample_values_definition() -> ToolDefinition {
    ToolDefinition {
        name: "sample_values".into(),
        description: "Return distinct non-null values of one column, to see how values are \
                      spelled or formatted (dates, codes, statuses)."
            .into(),
        parameters: parameters_schema::<SampleValuesArguments>(),
    }
}

struct SampleValues(Arc<ToolContext>);

#[async_trait]
impl Tool for SampleValues {
    fn definition(&self) -> ToolDefinition {
        sample_values_definition()
    }

    /// `{table, column, values}`.
    async fn call(&self, arguments: Json) -> ToolsResult<Json> {
        let arguments: SampleValuesArguments = parse_arguments("sample_values", arguments)?;
        let limit = arguments.limit.unwrap_or(10).clamp(1, 100);
        let schema = self.0.schema().await?;
        let table = self.0.resolve_table(&schema, &arguments.table)?;
        let column = table
            .columns
            .iter()
            .find(|c| c.name == arguments.column)
            .or_else(|| {
                table
                    .columns
                    .iter()
                    .find(|c| c.name.eq_ignore_ascii_case(&arguments.column))
            })
            .ok_or_else(|| {
                let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
                ToolsError::InvalidInput {
                    message: format!(
                        "table '{}' has no column '{}'{}; its columns are: {}",
                        table.name,
                        arguments.column,
                        did_you_mean(&arguments.column, names.iter().copied()),
                        names.join(", ")
                    ),
                }
            })?;
        let mut options = self.0.config.introspection.clone();
        options.statement_timeout = self.0.config.statement_timeout;
        options.sample_scan_rows = self.0.config.sample_scan_rows;
        let values = self
            .0
            .cache
            .column_samples(
                self.0.db.as_ref(),
                &table.name,
                &column.name,
                limit,
                &options,
            )
            .await?;
        Ok(json!({"table": table.name, "column": column.name, "values": values.as_slice()}))
    }
}

// --- search_values ---------------------------------------------------------------------------

/// Arguments of `search_values`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchValuesArguments {
    /// A literal from the question, e.g. a name, city or status.
    pub value: String,
    /// Return at most this many matching columns (default 10, at most 50).
    #[serde(default)]
    pub limit: Option<usize>,
}

fn search_values_definition() -> ToolDefinition {
    ToolDefinition {
        name: "search_values".into(),
        description: "Find which text columns contain a value mentioned in the question: exact \
                      matches first, then matches ignoring case, then values containing it. \
                      Use it to link literals such as names or places to table.column."
            .into(),
        parameters: parameters_schema::<SearchValuesArguments>(),
    }
}

/// How a column matched a searched value, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum MatchKind {
    Exact,
    IgnoringCase,
    Contains,
}

impl MatchKind {
    fn from_rank(rank: i64) -> MatchKind {
        match rank {
            0 => MatchKind::Exact,
            1 => MatchKind::IgnoringCase,
            _ => MatchKind::Contains,
        }
    }

    fn label(self) -> &'static str {
        match self {
            MatchKind::Exact => "exact",
            MatchKind::IgnoringCase => "case_insensitive",
            MatchKind::Contains => "contains",
        }
    }
}

/// Longest value searched; longer literals are not names of things.
const MAX_SEARCH_CHARS: usize = 200;

/// True for columns that hold text: declared text types (SQLite's affinity rule: the type
/// contains CHAR, CLOB or TEXT; PostgreSQL's char/text types), untyped columns, and any column
/// whose samples are text (Spider has text in INTEGER columns and enums in PostgreSQL).
fn is_text_column(column: &crate::schema::Column) -> bool {
    let declared = column.data_type.to_ascii_uppercase();
    declared.is_empty()
        || ["CHAR", "CLOB", "TEXT"]
            .iter()
            .any(|t| declared.contains(t))
        || column.samples.iter().any(|v| matches!(v, Value::Text(_)))
}

/// `%value%` with LIKE wildcards escaped by `\`.
fn contains_pattern(value: &str) -> String {
    let mut pattern = String::from("%");
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

struct SearchValues(Arc<ToolContext>);

#[async_trait]
impl Tool for SearchValues {
    fn definition(&self) -> ToolDefinition {
        search_values_definition()
    }

    /// `{value, matches: [{table, column, match, examples}], searched_columns, text_columns,
    /// complete}`; `complete` is false when the time budget ran out before every text column
    /// was searched.
    async fn call(&self, arguments: Json) -> ToolsResult<Json> {
        let arguments: SearchValuesArguments = parse_arguments("search_values", arguments)?;
        let value = arguments.value.trim();
        if value.is_empty() {
            return Err(ToolsError::InvalidInput {
                message: "search_values needs a non-empty 'value'".into(),
            });
        }
        if value.chars().count() > MAX_SEARCH_CHARS {
            return Err(ToolsError::InvalidInput {
                message: format!(
                    "search_values looks for short literals (at most {MAX_SEARCH_CHARS} \
                     characters); pass a name, place or code from the question"
                ),
            });
        }
        let limit = arguments.limit.unwrap_or(10).clamp(1, 50);
        let schema = self.0.schema().await?;
        let context = &self.0;
        let like = match context.db.dialect() {
            Dialect::Sqlite => "LIKE",
            Dialect::Postgres => "ILIKE",
        };
        let literal = quote_string(value);
        let pattern = quote_string(&contains_pattern(value));

        let deadline = Instant::now() + context.config.search_budget;
        let text_columns: Vec<(&Table, &crate::schema::Column)> = schema
            .tables
            .iter()
            .flat_map(|t| {
                t.columns
                    .iter()
                    .filter(|c| is_text_column(c))
                    .map(move |c| (t, c))
            })
            .collect();
        let mut matches: Vec<(MatchKind, usize, Json)> = Vec::new();
        let mut searched = 0;
        for (order, (table, column)) in text_columns.iter().enumerate() {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            // The text form, so numbers stored in text columns compare as written.
            let text = format!("CAST({} AS TEXT)", quote_identifier(&column.name));
            let sql = format!(
                "SELECT CASE WHEN {text} = {literal} THEN 0 \
                 WHEN lower({text}) = lower({literal}) THEN 1 ELSE 2 END AS match_rank, \
                 {text} AS match_value \
                 FROM {} WHERE {text} {like} {pattern} ESCAPE '\\' \
                 GROUP BY {text} ORDER BY match_rank, length({text}) LIMIT 3",
                quote_identifier(&table.name)
            );
            let options = ExecOptions {
                timeout: remaining.min(context.config.statement_timeout),
                max_rows: 3,
                ..ExecOptions::default()
            };
            match context.db.execute(&sql, &options).await {
                Ok(result) => {
                    searched += 1;
                    let Some(best) = result.rows.first().and_then(|row| row.first()) else {
                        continue;
                    };
                    let kind = MatchKind::from_rank(match best {
                        Value::Integer(rank) => *rank,
                        _ => 2,
                    });
                    let examples: Vec<&Value> =
                        result.rows.iter().filter_map(|row| row.get(1)).collect();
                    matches.push((
                        kind,
                        order,
                        json!({
                            "table": table.name,
                            "column": column.name,
                            "match": kind.label(),
                            "examples": examples,
                        }),
                    ));
                }
                Err(ToolsError::Timeout { .. }) => break,
                // A column the engine cannot compare (odd collation, encoding) is skipped.
                Err(error) => {
                    tracing::debug!(table = %table.name, column = %column.name, %error,
                        "search skipped a column");
                    searched += 1;
                }
            }
        }
        matches.sort_by_key(|(kind, order, _)| (*kind, *order));
        let complete = searched == text_columns.len();
        Ok(json!({
            "value": value,
            "matches": matches.into_iter().take(limit).map(|(_, _, m)| m).collect::<Vec<_>>(),
            "searched_columns": searched,
            "text_columns": text_columns.len(),
            "complete": complete,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_are_object_schemas_with_the_five_names() {
        let definitions = builtin_tool_definitions();
        let names: Vec<&str> = definitions.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "execute_sql",
                "list_tables",
                "describe_table",
                "sample_values",
                "search_values"
            ]
        );
        for definition in &definitions {
            assert_eq!(
                definition.parameters["type"], "object",
                "{}",
                definition.name
            );
            assert!(
                definition.parameters["properties"].is_object(),
                "{}",
                definition.name
            );
            assert!(definition.parameters.get("$schema").is_none());
            assert!(!definition.description.is_empty());
        }
        let execute = &definitions[0].parameters;
        assert_eq!(execute["required"], json!(["sql"]));
        assert!(execute["properties"]["sql"]["description"].is_string());
        assert_eq!(execute["additionalProperties"], json!(false));
    }

    #[test]
    fn openai_format_wraps_each_definition() {
        let functions = openai_function_definitions(&builtin_tool_definitions());
        let array = functions.as_array().unwrap();
        assert_eq!(array.len(), 5);
        assert_eq!(array[0]["type"], "function");
        assert_eq!(array[0]["function"]["name"], "execute_sql");
        assert_eq!(
            array[4]["function"]["parameters"]["required"],
            json!(["value"])
        );
    }

    #[test]
    fn arguments_parse_from_objects_strings_and_null() {
        let parsed: ExecuteSqlArguments =
            parse_arguments("execute_sql", json!({"sql": "SELECT 1", "max_rows": 5})).unwrap();
        assert_eq!(
            (parsed.sql.as_str(), parsed.max_rows),
            ("SELECT 1", Some(5))
        );
        let parsed: ExecuteSqlArguments =
            parse_arguments("execute_sql", json!("{\"sql\": \"SELECT 2\"}")).unwrap();
        assert_eq!(parsed.sql, "SELECT 2");
        let _: ListTablesArguments = parse_arguments("list_tables", Json::Null).unwrap();

        let missing = parse_arguments::<ExecuteSqlArguments>("execute_sql", json!({}));
        let message = missing.unwrap_err().to_string();
        assert!(
            message.contains("bad arguments for execute_sql"),
            "{message}"
        );
        assert!(message.contains("sql"), "{message}");
        let unknown = parse_arguments::<ListTablesArguments>("list_tables", json!({"x": 1}));
        assert!(matches!(unknown, Err(ToolsError::InvalidInput { .. })));
    }

    #[test]
    fn close_names_rank_by_distance() {
        let tables = ["customers", "orders", "order_items", "products"];
        assert_eq!(close_names("custmers", tables.into_iter()), ["customers"]);
        assert_eq!(
            close_names("order", tables.into_iter()),
            ["orders", "order_items"]
        );
        assert!(close_names("zzz", tables.into_iter()).is_empty());
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(contains_pattern("London"), "%London%");
    }
}
