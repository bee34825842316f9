//! Demonstration pools: the (question, SQL, decomposition) examples the index is built over, and
//! the schema words of their databases (for masking).
//!
//! Two pool formats are read by [`load_pool`]:
//!
//! - **A JSON array** (Spider's `train_spider.json`, `dev.json`): items with `question`, `query`
//!   (or `sql`) and `db_id`; an item may carry its own `id` and `steps`, otherwise its id is
//!   `<file stem>#<index>` (`train_spider_min#0`), stable as long as the file is.
//! - **JSONL**: one [`Demonstration`] object per line (`id`, `db_id`, `question`, `sql`, optional
//!   `steps` of `{sub_question, sql}`), the format the decomposition synthesis writes. Blank lines
//!   are skipped; a bad line fails with its line number.
//!
//! Ids must be unique within a pool: exclusion during evaluation works by id.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{AgentError, AgentResult};

/// One step of a demonstration's decomposition: a sub-question and the SQL that answers it
/// (LearNAT's `Sub question i` / `SubSQLi`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoStep {
    /// The sub-question in plain language.
    pub sub_question: String,
    /// The SQL that answers it.
    pub sql: String,
}

/// One example of the pool: a question over a database, its SQL and, when the pool has one, its
/// decomposition into steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Demonstration {
    /// Unique within the pool.
    pub id: String,
    /// The database the question is about (Spider's `db_id`).
    pub db_id: String,
    /// The question in plain language.
    pub question: String,
    /// The gold SQL.
    pub sql: String,
    /// The decomposition; empty when the pool has none (Spider train).
    #[serde(default)]
    pub steps: Vec<DemoStep>,
}

/// Table and column names per database, the words [`super::mask`] replaces by `<mask>`.
///
/// Names are kept as the database spells them (`pet_type`, `PetType`, `StuID`); masking splits
/// them into words. Only original names are used (not Spider's hand-written natural-language
/// names) so that a pool built from `tables.json` and a query whose names come from introspecting
/// the live database are masked the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaWords {
    by_database: HashMap<String, Vec<String>>,
}

/// The parts of a Spider `tables.json` entry masking needs.
#[derive(Deserialize)]
struct SpiderTablesEntry {
    db_id: String,
    table_names_original: Vec<String>,
    column_names_original: Vec<(i64, String)>,
}

impl SchemaWords {
    /// No database known: questions are masked for values only.
    pub fn empty() -> SchemaWords {
        SchemaWords::default()
    }

    /// The table and column names of every database in a Spider / BIRD `tables.json`.
    pub fn from_spider_tables(path: &Path) -> AgentResult<SchemaWords> {
        let bytes = std::fs::read(path).map_err(|source| AgentError::Io {
            what: "cannot read the tables file",
            path: path.to_path_buf(),
            source,
        })?;
        let entries: Vec<SpiderTablesEntry> =
            serde_json::from_slice(&bytes).map_err(|error| AgentError::InvalidInput {
                message: format!(
                    "tables file '{}' is not a Spider tables.json ({error}); pass --tables \
                     with Spider's or BIRD's tables.json",
                    path.display()
                ),
            })?;
        let mut words = SchemaWords::empty();
        for entry in entries {
            let names = entry
                .table_names_original
                .into_iter()
                .chain(
                    entry
                        .column_names_original
                        .into_iter()
                        // Column -1 is Spider's `*`.
                        .filter(|(table, _)| *table >= 0)
                        .map(|(_, name)| name),
                )
                .collect();
            words.insert(&entry.db_id, names);
        }
        Ok(words)
    }

    /// The table and column names of an introspected schema (what a live database offers).
    pub fn names_of_schema(schema: &learnat_tools::schema::Schema) -> Vec<String> {
        let mut names = Vec::new();
        for table in &schema.tables {
            names.push(table.name.clone());
            names.extend(table.columns.iter().map(|column| column.name.clone()));
        }
        names
    }

    /// Set the names of `db_id` (duplicates are dropped, order kept).
    pub fn insert(&mut self, db_id: &str, names: Vec<String>) {
        let mut seen = std::collections::HashSet::new();
        let unique = names
            .into_iter()
            .filter(|name| seen.insert(name.to_lowercase()))
            .collect();
        self.by_database.insert(db_id.to_string(), unique);
    }

    /// The names of `db_id`; empty when the database is unknown.
    pub fn get(&self, db_id: &str) -> &[String] {
        self.by_database.get(db_id).map_or(&[], Vec::as_slice)
    }

    /// Whether `db_id` is known.
    pub fn contains(&self, db_id: &str) -> bool {
        self.by_database.contains_key(db_id)
    }

    /// How many databases are known.
    pub fn len(&self) -> usize {
        self.by_database.len()
    }

    /// Whether no database is known.
    pub fn is_empty(&self) -> bool {
        self.by_database.is_empty()
    }
}

/// An item of a JSON-array pool: Spider's fields, or a demonstration's.
#[derive(Deserialize)]
struct ArrayItem {
    id: Option<String>,
    db_id: Option<String>,
    question: Option<String>,
    query: Option<String>,
    sql: Option<String>,
    #[serde(default)]
    steps: Vec<DemoStep>,
}

/// Read a pool file: a JSON array (Spider) or JSONL of [`Demonstration`]s, told apart by the
/// first non-blank character (`[` is an array). See the module docs for the formats.
///
/// Fails with [`AgentError::Pool`] naming the line (JSONL) or item (array) that is malformed, a
/// missing required field, an empty question or SQL, or a duplicate id.
pub fn load_pool(path: &Path) -> AgentResult<Vec<Demonstration>> {
    let text = std::fs::read_to_string(path).map_err(|source| AgentError::Io {
        what: "cannot read the demonstration pool",
        path: path.to_path_buf(),
        source,
    })?;
    let pool = if text.trim_start().starts_with('[') {
        parse_array_pool(&text, path)?
    } else {
        parse_jsonl_pool(&text, path)?
    };
    if pool.is_empty() {
        return Err(pool_error(
            path,
            None,
            "holds no demonstrations (expected a JSON array of Spider items or JSONL of \
             demonstrations)",
        ));
    }
    Ok(pool)
}

/// Parse JSONL text of [`Demonstration`] objects (`path` only names the source in errors).
pub fn parse_jsonl_pool(text: &str, path: &Path) -> AgentResult<Vec<Demonstration>> {
    let mut pool = Vec::new();
    let mut first_line_of_id: HashMap<String, usize> = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let demonstration: Demonstration = serde_json::from_str(line).map_err(|error| {
            pool_error(
                path,
                Some(line_number),
                &format!(
                    "not a demonstration ({error}); each line must be a JSON object with id, \
                     db_id, question, sql and optionally steps [{{sub_question, sql}}]"
                ),
            )
        })?;
        check_demonstration(&demonstration, path, Some(line_number))?;
        if let Some(first) = first_line_of_id.insert(demonstration.id.clone(), line_number) {
            return Err(pool_error(
                path,
                Some(line_number),
                &format!(
                    "duplicate id '{}' (first on line {first}); ids must be unique",
                    demonstration.id
                ),
            ));
        }
        pool.push(demonstration);
    }
    Ok(pool)
}

/// Parse a JSON array of Spider items or demonstrations (`path` names the source in errors and
/// gives the stem of generated ids).
pub fn parse_array_pool(text: &str, path: &Path) -> AgentResult<Vec<Demonstration>> {
    let items: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|error| {
        pool_error(
            path,
            Some(error.line()),
            &format!("not a JSON array ({error})"),
        )
    })?;
    let stem = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pool".to_string());
    let mut pool = Vec::with_capacity(items.len());
    let mut seen_ids: HashMap<String, usize> = HashMap::new();
    for (index, value) in items.into_iter().enumerate() {
        let item_error =
            |message: String| pool_error(path, None, &format!("item {index} (0-based): {message}"));
        let item: ArrayItem = serde_json::from_value(value)
            .map_err(|error| item_error(format!("not a Spider item ({error})")))?;
        let missing = |field: &str| {
            item_error(format!(
                "missing '{field}' (Spider items need question, query and db_id)"
            ))
        };
        let demonstration = Demonstration {
            id: item.id.unwrap_or_else(|| format!("{stem}#{index}")),
            db_id: item.db_id.ok_or_else(|| missing("db_id"))?,
            question: item.question.ok_or_else(|| missing("question"))?,
            sql: item.query.or(item.sql).ok_or_else(|| missing("query"))?,
            steps: item.steps,
        };
        check_demonstration(&demonstration, path, None)
            .map_err(|error| item_error(error.to_string()))?;
        if let Some(first) = seen_ids.insert(demonstration.id.clone(), index) {
            return Err(item_error(format!(
                "duplicate id '{}' (first at item {first})",
                demonstration.id
            )));
        }
        pool.push(demonstration);
    }
    Ok(pool)
}

/// Required fields must be non-empty.
fn check_demonstration(
    demonstration: &Demonstration,
    path: &Path,
    line: Option<usize>,
) -> AgentResult<()> {
    let empty = [
        ("id", &demonstration.id),
        ("db_id", &demonstration.db_id),
        ("question", &demonstration.question),
        ("sql", &demonstration.sql),
    ]
    .into_iter()
    .find(|(_, value)| value.trim().is_empty());
    match empty {
        Some((field, _)) => Err(pool_error(
            path,
            line,
            &format!("'{field}' is empty; every demonstration needs id, db_id, question and sql"),
        )),
        None => Ok(()),
    }
}

fn pool_error(path: &Path, line: Option<usize>, message: &str) -> AgentError {
    AgentError::Pool {
        path: PathBuf::from(path),
        line,
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spider_array_items_get_stable_ids() {
        let text = r#"[{"question": "How many heads?", "query": "SELECT count(*) FROM head",
                        "db_id": "dm"},
                       {"id": "own", "question": "Q", "sql": "SELECT 1", "db_id": "x",
                        "steps": [{"sub_question": "s", "sql": "SELECT 1"}]}]"#;
        let pool = parse_array_pool(text, Path::new("/data/train_spider.json")).unwrap();
        assert_eq!(pool[0].id, "train_spider#0");
        assert_eq!(pool[0].sql, "SELECT count(*) FROM head");
        assert!(pool[0].steps.is_empty());
        assert_eq!(pool[1].id, "own");
        assert_eq!(pool[1].steps.len(), 1);
    }

    #[test]
    fn array_item_without_db_id_is_named() {
        let text = r#"[{"question": "Q", "query": "SELECT 1", "db_id": "a"},
                       {"question": "Q", "query": "SELECT 1"}]"#;
        let error = parse_array_pool(text, Path::new("p.json")).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("item 1") && message.contains("db_id"),
            "{message}"
        );
    }

    #[test]
    fn jsonl_duplicate_ids_name_both_lines() {
        let line = r#"{"id": "a", "db_id": "d", "question": "Q", "sql": "SELECT 1"}"#;
        let text = format!("{line}\n\n{line}\n");
        let error = parse_jsonl_pool(&text, Path::new("p.jsonl")).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("line 3") && message.contains("first on line 1"),
            "{message}"
        );
    }

    #[test]
    fn schema_words_drop_star_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tables.json");
        std::fs::write(
            &path,
            r#"[{"db_id": "pets", "table_names_original": ["Pets", "pet_type"],
                 "column_names_original": [[-1, "*"], [0, "PetID"], [1, "pet_type"], [0, "petid"]],
                 "table_names": [], "column_names": []}]"#,
        )
        .unwrap();
        let words = SchemaWords::from_spider_tables(&path).unwrap();
        assert_eq!(words.get("pets"), ["Pets", "pet_type", "PetID"]);
        assert!(words.get("other").is_empty());
        assert_eq!(words.len(), 1);
    }
}
