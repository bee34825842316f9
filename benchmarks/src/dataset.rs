//! Loaders for the single-turn benchmarks: Spider, BIRD (dev, train, mini-dev) and a generic
//! JSONL format, all into one [`Dataset`] of [`Question`]s.
//!
//! Layouts read (the official releases, unchanged):
//! - **Spider** (`--data DIR`): `dev.json` (split `dev`) or `train_spider.json` /
//!   `train_spider_min.json` (split `train`), `tables.json`, and `database/<db>/<db>.sqlite`.
//!   Difficulty = the official Spider hardness of the gold SQL
//!   ([`learnat_tools::hardness::spider_hardness`]).
//! - **BIRD** (`--data DIR`): `dev.json` with `evidence` and `difficulty`, `dev_tables.json`,
//!   `dev_databases/<db>/<db>.sqlite` (split `dev`); `train.json`, `train_tables.json`,
//!   `train_databases/` (split `train`); `mini_dev/mini_dev_sqlite.json` with its databases in
//!   `mini_dev/dev_databases/` or, as here, `dev_databases/` beside it (split `mini-dev`).
//! - **JSONL** (`--data FILE`): one object per line with `question`, `db_id`, the gold SQL
//!   (`sql`, `query`, `SQL` or `gold_sql`), optional `evidence`, `difficulty` (else the Spider
//!   hardness of the gold), `id` / `question_id` (else the line's position) and `db_path`
//!   (relative to the file; else `<databases>/<db_id>/<db_id>.sqlite` or `<databases>/<db_id>.sqlite`
//!   with `<databases>` the file's folder unless given).
//!
//! Validation errors name the file, the item and what to do. A database that is absent is not
//! an error here: [`Dataset::missing_databases`] reports it, and the runner refuses to start
//! unless told to skip those questions (see [`Dataset::missing_databases_message`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use learnat_tools::hardness::spider_hardness;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{BenchError, BenchResult};

/// Which benchmark a data set comes from; decides the default metric and timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// Spider (test-suite semantics, hardness easy/medium/hard/extra).
    Spider,
    /// BIRD (set semantics, difficulty simple/moderate/challenging).
    Bird,
    /// Generic JSONL questions.
    Jsonl,
}

impl DatasetKind {
    /// The lowercase name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Spider => "spider",
            DatasetKind::Bird => "bird",
            DatasetKind::Jsonl => "jsonl",
        }
    }
}

/// One benchmark question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Question {
    /// Position in the data set (0-based): line `index + 1` of an official predictions file.
    pub index: usize,
    /// The question's id: BIRD's `question_id`, a JSONL `id`, else the index.
    pub id: String,
    /// The database the question is asked about.
    pub db_id: String,
    /// The question in natural language.
    pub question: String,
    /// BIRD's external-knowledge hint, when the data set has one.
    pub evidence: Option<String>,
    /// The gold SQL as written in the data set.
    pub gold_sql: String,
    /// Difficulty label (Spider hardness, BIRD difficulty, a JSONL label, or `unknown`).
    pub difficulty: String,
}

/// One database file a data set refers to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatabaseFile {
    /// The `db_id` of the data set.
    pub db_id: String,
    /// Where the SQLite file is expected.
    pub path: PathBuf,
    /// Whether that file exists.
    pub present: bool,
}

/// A loaded benchmark: questions, the databases they need, and how to label difficulty.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Which benchmark.
    pub kind: DatasetKind,
    /// The split (`dev`, `train`, `mini-dev`, or the JSONL file name).
    pub split: String,
    /// The question file that was read.
    pub source: PathBuf,
    /// The questions, in file order.
    pub questions: Vec<Question>,
    /// Every database the questions refer to, once each.
    pub databases: Vec<DatabaseFile>,
    /// For each question (same index), its entry in `databases`.
    pub question_database: Vec<usize>,
    /// Difficulty labels in display order (labels not in the usual list are appended).
    pub difficulty_levels: Vec<String>,
    /// Problems that did not stop loading (e.g. a gold query whose hardness cannot be computed).
    pub warnings: Vec<String>,
    /// sha256 over the kind, ids, databases and gold SQL: identifies the question set in
    /// checkpoints whatever path it was read from.
    pub content_sha256: String,
}

impl Dataset {
    /// The database file of question `index`.
    pub fn database_of(&self, index: usize) -> &DatabaseFile {
        &self.databases[self.question_database[index]]
    }

    /// Databases that are absent, with the number of questions that need each, by name.
    pub fn missing_databases(&self) -> Vec<(String, usize)> {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for &db in &self.question_database {
            let database = &self.databases[db];
            if !database.present {
                *counts.entry(database.db_id.clone()).or_default() += 1;
            }
        }
        counts.into_iter().collect()
    }

    /// Number of questions whose database is present.
    pub fn evaluable_count(&self) -> usize {
        self.question_database
            .iter()
            .filter(|&&db| self.databases[db].present)
            .count()
    }

    /// The message for absent databases, e.g. "62 questions need databases that are not present:
    /// wta_1 (62); pass --skip-missing to evaluate the other 972"; `None` when all are present.
    pub fn missing_databases_message(&self) -> Option<String> {
        let missing = self.missing_databases();
        if missing.is_empty() {
            return None;
        }
        let affected: usize = missing.iter().map(|(_, n)| n).sum();
        let names: Vec<String> = missing
            .iter()
            .map(|(db, n)| format!("{db} ({n})"))
            .collect();
        let example = self
            .databases
            .iter()
            .find(|d| !d.present)
            .map(|d| d.path.display().to_string())
            .unwrap_or_default();
        Some(format!(
            "{affected} questions need databases that are not present: {} (expected e.g. at '{example}'); \
             pass --skip-missing to evaluate the other {}",
            names.join(", "),
            self.questions.len() - affected
        ))
    }
}

impl Dataset {
    /// The questions at `positions` (0-based indices into this data set, e.g. the lines of
    /// `spider_dev_subset_300.txt`), in that order and renumbered from 0: line `i` of an
    /// official predictions file for the subset is its `i`-th question. Ids are kept, so a
    /// Spider question keeps its dev index as its id. Errors on an index past the end or a
    /// repeated one.
    pub fn subset(&self, positions: &[usize]) -> BenchResult<Dataset> {
        let mut seen = HashSet::new();
        let mut questions = Vec::with_capacity(positions.len());
        let mut question_database = Vec::with_capacity(positions.len());
        let mut hasher = Sha256::new();
        hasher.update(self.content_sha256.as_bytes());
        hasher.update(b"subset");
        for (new_index, &position) in positions.iter().enumerate() {
            let Some(question) = self.questions.get(position) else {
                return Err(BenchError::Invalid(format!(
                    "question index {position} is past the end of {} ({} questions)",
                    self.source.display(),
                    self.questions.len()
                )));
            };
            if !seen.insert(position) {
                return Err(BenchError::Invalid(format!(
                    "question index {position} is listed twice"
                )));
            }
            hasher.update(position.to_le_bytes());
            questions.push(Question {
                index: new_index,
                ..question.clone()
            });
            question_database.push(self.question_database[position]);
        }
        Ok(Dataset {
            kind: self.kind,
            split: format!("{} (subset of {})", self.split, positions.len()),
            source: self.source.clone(),
            questions,
            databases: self.databases.clone(),
            question_database,
            difficulty_levels: self.difficulty_levels.clone(),
            warnings: self.warnings.clone(),
            content_sha256: hex(&hasher.finalize()),
        })
    }
}

/// Read a question list: one 0-based question index per line (blank lines and `#` comments
/// are skipped), as in `../shared/data/spider_dev_subset_300.txt`.
pub fn load_question_list(path: &Path) -> BenchResult<Vec<usize>> {
    let text = std::fs::read_to_string(path).map_err(|source| BenchError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut positions = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let position = line.parse::<usize>().map_err(|_| BenchError::Format {
            path: path.to_path_buf(),
            line: number + 1,
            message: format!("expected a 0-based question index, found '{line}'"),
        })?;
        positions.push(position);
    }
    if positions.is_empty() {
        return Err(BenchError::Invalid(format!(
            "the question list '{}' holds no question index",
            path.display()
        )));
    }
    Ok(positions)
}

/// Spider hardness levels in display order.
pub const SPIDER_LEVELS: [&str; 4] = ["easy", "medium", "hard", "extra"];
/// BIRD difficulty levels in display order.
pub const BIRD_LEVELS: [&str; 3] = ["simple", "moderate", "challenging"];

/// Load Spider `split` (`dev` or `train`) from `dir`.
pub fn load_spider(dir: &Path, split: &str) -> BenchResult<Dataset> {
    let questions_path = match split {
        "dev" => dir.join("dev.json"),
        "train" => {
            let full = dir.join("train_spider.json");
            if full.exists() {
                full
            } else {
                dir.join("train_spider_min.json")
            }
        }
        other => {
            return Err(BenchError::Invalid(format!(
                "unknown Spider split '{other}': use --split dev or --split train"
            )));
        }
    };
    #[derive(Deserialize)]
    struct SpiderItem {
        db_id: String,
        query: String,
        question: String,
    }
    let items: Vec<SpiderItem> = read_json(&questions_path)?;
    let known = table_db_ids(&dir.join("tables.json"))?;
    let database_dir = dir.join("database");
    let mut raw = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        check_item(
            &questions_path,
            index,
            &item.db_id,
            &item.query,
            &item.question,
        )?;
        if !known.contains(&item.db_id) {
            return Err(item_error(
                &questions_path,
                index,
                &format!(
                    "db_id '{}' is not in tables.json; is this the matching tables.json?",
                    item.db_id
                ),
            ));
        }
        let path = database_dir
            .join(&item.db_id)
            .join(format!("{}.sqlite", item.db_id));
        raw.push(RawQuestion {
            id: index.to_string(),
            db_id: item.db_id,
            question: item.question,
            evidence: None,
            gold_sql: item.query,
            difficulty: None,
            db_path: path,
        });
    }
    build(
        DatasetKind::Spider,
        split,
        questions_path,
        raw,
        &SPIDER_LEVELS,
    )
}

/// Load BIRD `split` (`dev`, `train` or `mini-dev`) from `dir`.
pub fn load_bird(dir: &Path, split: &str) -> BenchResult<Dataset> {
    let (questions_path, tables_path, database_dir) = match split {
        "dev" => (
            dir.join("dev.json"),
            dir.join("dev_tables.json"),
            dir.join("dev_databases"),
        ),
        "train" => (
            dir.join("train.json"),
            dir.join("train_tables.json"),
            dir.join("train_databases"),
        ),
        "mini-dev" => {
            let mini = dir.join("mini_dev");
            let own = mini.join("dev_databases");
            let databases = if own.is_dir() {
                own
            } else {
                dir.join("dev_databases")
            };
            (
                mini.join("mini_dev_sqlite.json"),
                mini.join("dev_tables.json"),
                databases,
            )
        }
        other => {
            return Err(BenchError::Invalid(format!(
                "unknown BIRD split '{other}': use --split dev, train or mini-dev"
            )));
        }
    };
    #[derive(Deserialize)]
    struct BirdItem {
        question_id: Option<serde_json::Value>,
        db_id: String,
        question: String,
        #[serde(default)]
        evidence: Option<String>,
        #[serde(rename = "SQL")]
        sql: String,
        #[serde(default)]
        difficulty: Option<String>,
    }
    let items: Vec<BirdItem> = read_json(&questions_path)?;
    let known = if tables_path.exists() {
        Some(table_db_ids(&tables_path)?)
    } else {
        None
    };
    let mut raw = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        check_item(
            &questions_path,
            index,
            &item.db_id,
            &item.sql,
            &item.question,
        )?;
        if let Some(known) = &known
            && !known.contains(&item.db_id)
        {
            return Err(item_error(
                &questions_path,
                index,
                &format!(
                    "db_id '{}' is not in '{}'",
                    item.db_id,
                    tables_path.display()
                ),
            ));
        }
        let id = match item.question_id {
            Some(serde_json::Value::String(s)) => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => index.to_string(),
        };
        let path = database_dir
            .join(&item.db_id)
            .join(format!("{}.sqlite", item.db_id));
        raw.push(RawQuestion {
            id,
            db_id: item.db_id,
            question: item.question,
            evidence: item.evidence,
            gold_sql: item.sql,
            difficulty: Some(item.difficulty.unwrap_or_else(|| "unknown".to_string())),
            db_path: path,
        });
    }
    build(DatasetKind::Bird, split, questions_path, raw, &BIRD_LEVELS)
}

/// Load a generic JSONL question file (see the module docs for the fields). Databases are looked
/// up under `databases` (default: the file's folder) unless a line gives `db_path`.
pub fn load_jsonl(file: &Path, databases: Option<&Path>) -> BenchResult<Dataset> {
    let text = std::fs::read_to_string(file).map_err(|e| BenchError::read(file, e))?;
    let base = file.parent().unwrap_or(Path::new(".")).to_path_buf();
    let databases = databases
        .map(Path::to_path_buf)
        .unwrap_or_else(|| base.clone());
    let mut raw = Vec::new();
    let mut seen_ids = HashSet::new();
    for (line_index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_number = line_index + 1;
        let format_error = |message: String| BenchError::Format {
            path: file.to_path_buf(),
            line: line_number,
            message,
        };
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(line)
            .map_err(|e| format_error(format!("not a JSON object: {e}")))?;
        let text_field = |names: &[&str]| -> Option<String> {
            names.iter().find_map(|name| match object.get(*name) {
                Some(serde_json::Value::String(s)) => Some(s.clone()),
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                _ => None,
            })
        };
        let required = |names: &[&str]| {
            text_field(names)
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| {
                    format_error(format!(
                        "missing or empty field `{}` (a string)",
                        names.join("` / `")
                    ))
                })
        };
        let question = required(&["question"])?;
        let db_id = required(&["db_id"])?;
        let gold_sql = required(&["sql", "query", "SQL", "gold_sql"])?;
        let id = text_field(&["id", "question_id"]).unwrap_or_else(|| raw.len().to_string());
        if !seen_ids.insert(id.clone()) {
            return Err(format_error(format!(
                "duplicate id '{id}'; ids must be unique"
            )));
        }
        let db_path = match text_field(&["db_path"]) {
            Some(p) => base.join(p),
            None => {
                let nested = databases.join(&db_id).join(format!("{db_id}.sqlite"));
                let flat = databases.join(format!("{db_id}.sqlite"));
                if !nested.exists() && flat.exists() {
                    flat
                } else {
                    nested
                }
            }
        };
        raw.push(RawQuestion {
            id,
            db_id,
            question,
            evidence: text_field(&["evidence"]),
            gold_sql,
            difficulty: text_field(&["difficulty", "hardness"]),
            db_path,
        });
    }
    if raw.is_empty() {
        return Err(BenchError::Invalid(format!(
            "'{}' holds no questions (expected one JSON object per line)",
            file.display()
        )));
    }
    let levels: Vec<&str> = if raw.iter().all(|q| q.difficulty.is_none()) {
        SPIDER_LEVELS.to_vec()
    } else {
        Vec::new()
    };
    let split = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    build(DatasetKind::Jsonl, &split, file.to_path_buf(), raw, &levels)
}

/// A question before difficulty labels and database indexes are filled in.
struct RawQuestion {
    id: String,
    db_id: String,
    question: String,
    evidence: Option<String>,
    gold_sql: String,
    /// `None`: compute the Spider hardness of the gold.
    difficulty: Option<String>,
    db_path: PathBuf,
}

fn build(
    kind: DatasetKind,
    split: &str,
    source: PathBuf,
    raw: Vec<RawQuestion>,
    usual_levels: &[&str],
) -> BenchResult<Dataset> {
    let mut warnings = Vec::new();
    let hardness = spider_hardness_labels(&raw);
    let mut databases: Vec<DatabaseFile> = Vec::new();
    let mut database_index: HashMap<PathBuf, usize> = HashMap::new();
    let mut question_database = Vec::with_capacity(raw.len());
    let mut questions = Vec::with_capacity(raw.len());
    let mut hasher = Sha256::new();
    hasher.update(kind.name().as_bytes());
    for (index, (item, computed)) in raw.into_iter().zip(hardness).enumerate() {
        let db = *database_index
            .entry(item.db_path.clone())
            .or_insert_with(|| {
                databases.push(DatabaseFile {
                    db_id: item.db_id.clone(),
                    present: item.db_path.is_file(),
                    path: item.db_path.clone(),
                });
                databases.len() - 1
            });
        question_database.push(db);
        let difficulty = match (item.difficulty, computed) {
            (Some(label), _) => label,
            (None, Some(Ok(label))) => label,
            (None, Some(Err(message))) => {
                warnings.push(format!(
                    "question {index} ({}): cannot compute the Spider hardness of its gold SQL ({message}); labelled 'unknown'",
                    item.id
                ));
                "unknown".to_string()
            }
            (None, None) => "unknown".to_string(),
        };
        for part in [&item.id, &item.db_id, &item.gold_sql] {
            hasher.update(part.as_bytes());
            hasher.update([0u8]);
        }
        questions.push(Question {
            index,
            id: item.id,
            db_id: item.db_id,
            question: item.question,
            evidence: item.evidence,
            gold_sql: item.gold_sql,
            difficulty,
        });
    }
    let mut difficulty_levels: Vec<String> = usual_levels.iter().map(|s| s.to_string()).collect();
    for question in &questions {
        if !difficulty_levels.contains(&question.difficulty) {
            difficulty_levels.push(question.difficulty.clone());
        }
    }
    Ok(Dataset {
        kind,
        split: split.to_string(),
        source,
        questions,
        databases,
        question_database,
        difficulty_levels,
        warnings,
        content_sha256: hex(&hasher.finalize()),
    })
}

/// Spider hardness for the questions that have no label, computed on all cores (parsing a
/// thousand gold queries is a noticeable part of a warm evaluation otherwise).
fn spider_hardness_labels(raw: &[RawQuestion]) -> Vec<Option<Result<String, String>>> {
    let label = |item: &RawQuestion| {
        item.difficulty.is_none().then(|| {
            spider_hardness(&item.gold_sql)
                .map(|h| h.to_string())
                .map_err(|e| e.to_string())
        })
    };
    let needed = raw.iter().filter(|q| q.difficulty.is_none()).count();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if needed < 64 || threads < 2 {
        return raw.iter().map(label).collect();
    }
    let chunk = raw.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = raw
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(label).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| match handle.join() {
                Ok(labels) => labels,
                // A panic inside the hardness code: re-raise it where it belongs.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

fn check_item(
    path: &Path,
    index: usize,
    db_id: &str,
    sql: &str,
    question: &str,
) -> BenchResult<()> {
    if db_id.trim().is_empty() {
        return Err(item_error(path, index, "empty db_id"));
    }
    if sql.trim().is_empty() {
        return Err(item_error(path, index, "empty gold SQL"));
    }
    if question.trim().is_empty() {
        return Err(item_error(path, index, "empty question"));
    }
    Ok(())
}

fn item_error(path: &Path, index: usize, message: &str) -> BenchError {
    BenchError::Invalid(format!("'{}' item {index}: {message}", path.display()))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> BenchResult<T> {
    let bytes = std::fs::read(path).map_err(|e| BenchError::read(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| BenchError::Format {
        path: path.to_path_buf(),
        line: e.line(),
        message: format!("{e} (is this the benchmark's original file?)"),
    })
}

/// The `db_id`s a `tables.json` describes (only that field is read).
fn table_db_ids(path: &Path) -> BenchResult<HashSet<String>> {
    #[derive(Deserialize)]
    struct Table {
        db_id: String,
    }
    let tables: Vec<Table> = read_json(path)?;
    Ok(tables.into_iter().map(|t| t.db_id).collect())
}

/// Lowercase hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    fn spider_dir(dir: &Path) {
        write(
            dir,
            "dev.json",
            r#"[{"db_id":"a","query":"SELECT count(*) FROM t","question":"How many?"},
                {"db_id":"b","query":"SELECT x FROM t","question":"Which?"},
                {"db_id":"b","query":"SELECT x FROM t ORDER BY x","question":"Sorted?"}]"#,
        );
        write(dir, "tables.json", r#"[{"db_id":"a"},{"db_id":"b"}]"#);
        write(dir, "database/a/a.sqlite", "");
    }

    #[test]
    fn spider_loader_reports_missing_databases_by_name_and_count() {
        let dir = tempfile::tempdir().unwrap();
        spider_dir(dir.path());
        let dataset = load_spider(dir.path(), "dev").unwrap();
        assert_eq!(dataset.questions.len(), 3);
        assert_eq!(dataset.questions[1].id, "1");
        assert_eq!(dataset.missing_databases(), vec![("b".to_string(), 2)]);
        assert_eq!(dataset.evaluable_count(), 1);
        let message = dataset.missing_databases_message().unwrap();
        assert!(
            message.starts_with("2 questions need databases that are not present: b (2)"),
            "{message}"
        );
        assert!(
            message.contains("--skip-missing to evaluate the other 1"),
            "{message}"
        );
        assert_eq!(dataset.database_of(2).db_id, "b");
    }

    #[test]
    fn spider_loader_rejects_unknown_db_ids_and_splits() {
        let dir = tempfile::tempdir().unwrap();
        spider_dir(dir.path());
        write(dir.path(), "tables.json", r#"[{"db_id":"a"}]"#);
        let error = load_spider(dir.path(), "dev").unwrap_err().to_string();
        assert!(
            error.contains("item 1") && error.contains("'b' is not in tables.json"),
            "{error}"
        );
        let error = load_spider(dir.path(), "test").unwrap_err().to_string();
        assert!(error.contains("unknown Spider split 'test'"), "{error}");
    }

    #[test]
    fn malformed_json_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        spider_dir(dir.path());
        write(
            dir.path(),
            "dev.json",
            "[{\"db_id\": \"a\",\n \"question\": \"q\"}]",
        );
        let error = load_spider(dir.path(), "dev").unwrap_err().to_string();
        assert!(
            error.contains("dev.json' line 2") && error.contains("missing field `query`"),
            "{error}"
        );
    }

    #[test]
    fn bird_loader_keeps_evidence_difficulty_and_question_ids() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "dev.json",
            r#"[{"question_id":7,"db_id":"s","question":"q","evidence":"e","SQL":"SELECT 1","difficulty":"moderate"}]"#,
        );
        write(dir.path(), "dev_tables.json", r#"[{"db_id":"s"}]"#);
        write(dir.path(), "dev_databases/s/s.sqlite", "");
        let dataset = load_bird(dir.path(), "dev").unwrap();
        let question = &dataset.questions[0];
        assert_eq!(
            (question.id.as_str(), question.difficulty.as_str()),
            ("7", "moderate")
        );
        assert_eq!(question.evidence.as_deref(), Some("e"));
        assert!(dataset.missing_databases().is_empty());
        assert_eq!(
            dataset.difficulty_levels,
            vec!["simple", "moderate", "challenging"]
        );
    }

    #[test]
    fn jsonl_loader_accepts_field_aliases_and_rejects_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "q.jsonl",
            "{\"question\":\"q1\",\"db_id\":\"d\",\"query\":\"SELECT 1\",\"difficulty\":\"easy\"}\n\n\
             {\"id\":\"x\",\"question\":\"q2\",\"db_id\":\"d\",\"SQL\":\"SELECT 2\",\"difficulty\":\"odd\"}\n",
        );
        write(dir.path(), "d.sqlite", "");
        let dataset = load_jsonl(&file, None).unwrap();
        assert_eq!(dataset.questions[0].id, "0");
        assert_eq!(dataset.questions[1].id, "x");
        assert_eq!(dataset.questions[1].gold_sql, "SELECT 2");
        assert!(
            dataset.databases[0].present,
            "flat <db>.sqlite layout is found"
        );
        assert!(dataset.difficulty_levels.contains(&"odd".to_string()));

        std::fs::write(&file, "{\"id\":1,\"question\":\"q\",\"db_id\":\"d\",\"sql\":\"SELECT 1\"}\n{\"id\":1,\"question\":\"q\",\"db_id\":\"d\",\"sql\":\"SELECT 1\"}\n").unwrap();
        let error = load_jsonl(&file, None).unwrap_err().to_string();
        assert!(
            error.contains("line 2") && error.contains("duplicate id '1'"),
            "{error}"
        );

        std::fs::write(&file, "{\"question\":\"q\",\"db_id\":\"d\"}\n").unwrap();
        let error = load_jsonl(&file, None).unwrap_err().to_string();
        assert!(
            error.contains("line 1") && error.contains("`sql` / `query`"),
            "{error}"
        );
    }

    #[test]
    fn content_hash_changes_with_the_gold() {
        let dir = tempfile::tempdir().unwrap();
        spider_dir(dir.path());
        let before = load_spider(dir.path(), "dev").unwrap().content_sha256;
        write(
            dir.path(),
            "dev.json",
            r#"[{"db_id":"a","query":"SELECT count(*) FROM u","question":"How many?"}]"#,
        );
        assert_ne!(
            before,
            load_spider(dir.path(), "dev").unwrap().content_sha256
        );
    }

    #[test]
    fn real_spider_dev_has_1034_questions_and_62_on_the_missing_wta_1() {
        let Some(data) = learnat_tools::shared_data::shared_data_or_skip("spider dev loader")
        else {
            return;
        };
        let dataset = load_spider(&data.join("spider"), "dev").unwrap();
        assert_eq!(dataset.questions.len(), 1034);
        assert_eq!(dataset.missing_databases(), vec![("wta_1".to_string(), 62)]);
        assert_eq!(dataset.evaluable_count(), 972);
        let bird = load_bird(&data.join("bird"), "mini-dev").unwrap();
        assert_eq!(bird.questions.len(), 500);
        assert!(
            bird.databases
                .iter()
                .any(|d| d.db_id == "superhero" && d.present)
        );
    }
}
