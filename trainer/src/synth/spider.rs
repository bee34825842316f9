//! Spider training questions: a small loader of the official JSON files (the trainer does not
//! depend on the benchmarks crate).
//!
//! A split names a file of the Spider folder: `train` reads `train_spider.json` (or, when only
//! the trimmed copy is present, `train_spider_min.json`), `others` reads `train_others.json`,
//! `dev` reads `dev.json`. Each item needs `question`, `query` and `db_id`; its database is
//! `database/<db_id>/<db_id>.sqlite`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::{SynthError, SynthResult};

/// One training question with its gold SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainQuestion {
    /// Stable id: `<split>_<index in the file, 5 digits>`, e.g. `train_00042`.
    pub id: String,
    pub db_id: String,
    pub question: String,
    /// The gold SQL (seen by pruning and reward only, never by the teacher).
    pub gold_sql: String,
    /// The SQLite file of `db_id`.
    pub database: PathBuf,
}

#[derive(Deserialize)]
struct RawItem {
    question: Option<String>,
    query: Option<String>,
    db_id: Option<String>,
}

/// The JSON files a split may be read from, in order of preference.
fn split_files(split: &str) -> SynthResult<&'static [&'static str]> {
    match split {
        "train" => Ok(&["train_spider.json", "train_spider_min.json"]),
        "others" | "train_others" => Ok(&["train_others.json"]),
        "dev" => Ok(&["dev.json"]),
        other => Err(SynthError::InvalidOptions(format!(
            "unknown Spider split '{other}' (use train, others or dev)"
        ))),
    }
}

/// Loads the questions of `split` from the Spider folder `data`.
///
/// Errors name the file and, for a malformed item, its index and the missing field.
pub fn load_spider_split(data: &Path, split: &str) -> SynthResult<Vec<TrainQuestion>> {
    let candidates = split_files(split)?;
    let Some(path) = candidates
        .iter()
        .map(|name| data.join(name))
        .find(|path| path.is_file())
    else {
        return Err(SynthError::InvalidOptions(format!(
            "no {} in '{}' (pass --data with the Spider folder)",
            candidates.join(" or "),
            data.display()
        )));
    };
    let text = std::fs::read_to_string(&path).map_err(|e| SynthError::io("read", &path, e))?;
    let items: Vec<RawItem> = serde_json::from_str(&text).map_err(|error| SynthError::Data {
        path: path.clone(),
        message: format!("not a JSON list of Spider items: {error}"),
    })?;
    let split_name = if split == "train_others" {
        "others"
    } else {
        split
    };
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let field = |value: Option<String>, name: &str| {
                value
                    .filter(|v| !v.trim().is_empty())
                    .ok_or_else(|| SynthError::Data {
                        path: path.clone(),
                        message: format!("item {index}: missing or empty field '{name}'"),
                    })
            };
            let db_id = field(item.db_id, "db_id")?;
            Ok(TrainQuestion {
                id: format!("{split_name}_{index:05}"),
                question: field(item.question, "question")?,
                gold_sql: field(item.query, "query")?,
                database: data
                    .join("database")
                    .join(&db_id)
                    .join(format!("{db_id}.sqlite")),
                db_id,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_get_ids_and_database_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("train_spider_min.json"),
            r#"[{"question": "How many?", "query": "SELECT count(*) FROM t", "db_id": "d"}]"#,
        )
        .unwrap();
        let questions = load_spider_split(dir.path(), "train").unwrap();
        assert_eq!(questions[0].id, "train_00000");
        assert_eq!(
            questions[0].database,
            dir.path().join("database/d/d.sqlite")
        );
    }

    #[test]
    fn a_missing_field_names_the_item() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("dev.json"),
            r#"[{"question": "a", "query": "SELECT 1", "db_id": "d"}, {"question": "b", "db_id": "d"}]"#,
        )
        .unwrap();
        let message = load_spider_split(dir.path(), "dev")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("item 1") && message.contains("'query'"),
            "{message}"
        );
        assert!(message.contains("dev.json"), "{message}");
        let message = load_spider_split(dir.path(), "test")
            .unwrap_err()
            .to_string();
        assert!(message.contains("unknown Spider split"), "{message}");
    }
}
