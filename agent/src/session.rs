//! Multi-turn memory: a [`Session`] keeps the turns of a conversation with one database, so a
//! follow-up ("only those after 2010", "and the average?") is answered with the previous
//! question, its SQL and a summary of its result in the prompt, and so that a clarification
//! asked in one call can be answered in the next one (`learnat ask --session FILE`).
//!
//! A session saves and loads as versioned JSON:
//!
//! ```json
//! {"format": "learnat-session", "version": 1, "database": "shop.sqlite",
//!  "turns": [{"question": "...", "clarifications": [{"question": "...", "answer": "..."}],
//!             "sql": "SELECT ...", "result": {"columns": ["n"], "row_count": 1,
//!             "rows": [[42]], "truncated": false}, "error": null}],
//!  "pending": null}
//! ```
//!
//! ```
//! use learnat_agent::session::Session;
//! let mut session = Session::new(Some("shop.sqlite".into()));
//! session.record_answer("How many orders?".into(), vec![], Some("SELECT COUNT(*) FROM orders".into()), None, None);
//! let json = session.to_json();
//! let restored = Session::from_json(&json).unwrap();
//! assert_eq!(restored.turns().len(), 1);
//! ```

use std::path::Path;

use learnat_tools::{QueryResult, Value};
use serde::{Deserialize, Serialize};

use crate::clarify::ClarificationRequest;
use crate::error::{AgentError, AgentResult};

/// The `format` field of every saved session.
pub const SESSION_FORMAT: &str = "learnat-session";

/// The version of the saved form this code writes and reads.
pub const SESSION_VERSION: u32 = 1;

/// Rows of a result kept in a turn's summary (and shown to the model for follow-ups).
pub const SUMMARY_ROWS: usize = 5;

/// What a result looked like: enough for a follow-up prompt and for a person scrolling back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultSummary {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows returned (the first [`SUMMARY_ROWS`] are kept in `rows`).
    pub row_count: usize,
    /// The first rows.
    pub rows: Vec<Vec<Value>>,
    /// True when the engine's row or size cap cut the result, so `row_count` is a lower bound.
    pub truncated: bool,
}

impl ResultSummary {
    /// The summary of `result`, keeping its first `keep_rows` rows.
    pub fn of(result: &QueryResult, keep_rows: usize) -> ResultSummary {
        ResultSummary {
            columns: result.columns.clone(),
            row_count: result.rows.len(),
            rows: result.rows.iter().take(keep_rows).cloned().collect(),
            truncated: result.truncated,
        }
    }

    /// A compact text form for prompts: a header line, up to the kept rows as `|`-separated
    /// lines, and the row count.
    ///
    /// ```text
    /// | name | total |
    /// | Ada  | 12    |
    /// (3 rows, first 1 shown)
    /// ```
    pub fn to_prompt_text(&self) -> String {
        let mut text = String::new();
        text.push_str(&format!("| {} |\n", self.columns.join(" | ")));
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(prompt_cell).collect();
            text.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        let count = if self.truncated {
            format!("at least {} rows", self.row_count)
        } else if self.row_count == 1 {
            "1 row".to_string()
        } else {
            format!("{} rows", self.row_count)
        };
        if self.rows.len() < self.row_count {
            text.push_str(&format!("({count}, first {} shown)", self.rows.len()));
        } else {
            text.push_str(&format!("({count})"));
        }
        text
    }
}

/// A value as a prompt shows it: long texts cut, NULL spelled out.
fn prompt_cell(value: &Value) -> String {
    const MAX_CHARS: usize = 40;
    let text = value.to_string();
    if text.chars().count() > MAX_CHARS {
        let cut: String = text.chars().take(MAX_CHARS).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// One clarification question the agent asked and the user's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClarificationExchange {
    /// The words of the user's question the clarification was about (never asked again).
    #[serde(default)]
    pub term: String,
    /// What the agent asked.
    pub question: String,
    /// What the user replied.
    pub answer: String,
    /// The SQL condition of the option the reply picked (`cities.city_id = 12`), when the
    /// question offered options with conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meaning: Option<String>,
}

/// One answered question of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// The user's question as asked.
    pub question: String,
    /// Clarifications asked and answered before the SQL was written.
    #[serde(default)]
    pub clarifications: Vec<ClarificationExchange>,
    /// The SQL the agent settled on; `None` when it could not write one.
    pub sql: Option<String>,
    /// What the SQL returned.
    pub result: Option<ResultSummary>,
    /// Why there is no result (the SQL failed, or no SQL could be written).
    pub error: Option<String>,
}

/// A clarification the agent asked and is waiting for: the next user text is its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingClarification {
    /// The user's question that prompted it.
    pub question: String,
    /// Earlier exchanges about the same question (when the agent asked more than once).
    #[serde(default)]
    pub answered: Vec<ClarificationExchange>,
    /// The open request.
    pub request: ClarificationRequest,
}

/// The saved form; fields in the order they are written.
#[derive(Serialize, Deserialize)]
struct SavedSession {
    format: String,
    version: u32,
    #[serde(default)]
    database: Option<String>,
    #[serde(default)]
    turns: Vec<Turn>,
    #[serde(default)]
    pending: Option<PendingClarification>,
}

/// The state of one conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Session {
    database: Option<String>,
    turns: Vec<Turn>,
    pending: Option<PendingClarification>,
}

impl Session {
    /// An empty session, optionally labelled with the database it is about (a name only: it
    /// is shown and saved, never opened).
    pub fn new(database: Option<String>) -> Session {
        Session {
            database,
            turns: Vec::new(),
            pending: None,
        }
    }

    /// The database label given to [`Session::new`].
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// The answered turns, oldest first.
    pub fn turns(&self) -> &[Turn] {
        &self.turns
    }

    /// The latest answered turn.
    pub fn last_turn(&self) -> Option<&Turn> {
        self.turns.last()
    }

    /// The clarification the agent is waiting for, if any.
    pub fn pending(&self) -> Option<&PendingClarification> {
        self.pending.as_ref()
    }

    /// Wait for an answer to `request`, asked about `question` (after the `answered` ones).
    pub fn set_pending(
        &mut self,
        question: String,
        answered: Vec<ClarificationExchange>,
        request: ClarificationRequest,
    ) {
        self.pending = Some(PendingClarification {
            question,
            answered,
            request,
        });
    }

    /// Stop waiting: the pending clarification, which the caller answers or drops.
    pub fn take_pending(&mut self) -> Option<PendingClarification> {
        self.pending.take()
    }

    /// Record an answered turn (and clear any pending clarification).
    pub fn record_answer(
        &mut self,
        question: String,
        clarifications: Vec<ClarificationExchange>,
        sql: Option<String>,
        result: Option<ResultSummary>,
        error: Option<String>,
    ) {
        self.pending = None;
        self.turns.push(Turn {
            question,
            clarifications,
            sql,
            result,
            error,
        });
    }

    /// Forget every turn and any pending clarification (the REPL's `:reset`).
    pub fn reset(&mut self) {
        self.turns.clear();
        self.pending = None;
    }

    /// The saved form, pretty-printed JSON.
    pub fn to_json(&self) -> String {
        let saved = SavedSession {
            format: SESSION_FORMAT.to_string(),
            version: SESSION_VERSION,
            database: self.database.clone(),
            turns: self.turns.clone(),
            pending: self.pending.clone(),
        };
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(&saved).unwrap_or_else(|_| String::from("{}"))
    }

    /// Read the saved form. Errors say what is wrong: not JSON, not a learnat session, or a
    /// version this build does not read.
    pub fn from_json(text: &str) -> Result<Session, String> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|error| format!("not valid JSON: {error}"))?;
        match value.get("format").and_then(|f| f.as_str()) {
            Some(SESSION_FORMAT) => {}
            Some(other) => {
                return Err(format!(
                    "its format is '{other}', not '{SESSION_FORMAT}' (is this a learnat session file?)"
                ));
            }
            None => {
                return Err(format!(
                    "it has no \"format\": \"{SESSION_FORMAT}\" field (is this a learnat session file?)"
                ));
            }
        }
        match value.get("version").and_then(|v| v.as_u64()) {
            Some(version) if version == u64::from(SESSION_VERSION) => {}
            Some(version) => {
                return Err(format!(
                    "it is version {version}; this build of learnat reads version {SESSION_VERSION} \
                     (start a new session, or use the learnat that wrote it)"
                ));
            }
            None => return Err("it has no numeric \"version\" field".to_string()),
        }
        let saved: SavedSession = serde_json::from_value(value)
            .map_err(|error| format!("a field has the wrong shape: {error}"))?;
        Ok(Session {
            database: saved.database,
            turns: saved.turns,
            pending: saved.pending,
        })
    }

    /// Write the session to `path` (replacing the file).
    pub fn save(&self, path: &Path) -> AgentResult<()> {
        std::fs::write(path, self.to_json()).map_err(|source| AgentError::Io {
            what: "cannot write the session file",
            path: path.to_path_buf(),
            source,
        })
    }

    /// Read a session saved by [`Session::save`].
    pub fn load(path: &Path) -> AgentResult<Session> {
        let text = std::fs::read_to_string(path).map_err(|source| AgentError::Io {
            what: "cannot read the session file",
            path: path.to_path_buf(),
            source,
        })?;
        Session::from_json(&text).map_err(|reason| AgentError::SessionFile {
            path: path.to_path_buf(),
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn result(rows: usize) -> QueryResult {
        QueryResult {
            columns: vec!["id".into(), "name".into()],
            rows: (0..rows)
                .map(|i| vec![Value::Integer(i as i64), Value::Text(format!("n{i}"))])
                .collect(),
            elapsed: Duration::from_millis(1),
            truncated: false,
        }
    }

    #[test]
    fn summaries_keep_the_first_rows_and_the_count() {
        let summary = ResultSummary::of(&result(8), 3);
        assert_eq!(summary.row_count, 8);
        assert_eq!(summary.rows.len(), 3);
        let text = summary.to_prompt_text();
        assert!(text.starts_with("| id | name |\n| 0 | n0 |"), "{text}");
        assert!(text.ends_with("(8 rows, first 3 shown)"), "{text}");
        assert!(
            ResultSummary::of(&result(1), 3)
                .to_prompt_text()
                .ends_with("(1 row)")
        );
    }

    #[test]
    fn bad_session_files_say_what_is_wrong() {
        assert!(
            Session::from_json("{")
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            Session::from_json("{\"turns\": []}")
                .unwrap_err()
                .contains("no \"format\"")
        );
        assert!(
            Session::from_json("{\"format\": \"learnat-session\", \"version\": 9}")
                .unwrap_err()
                .contains("version 9")
        );
        assert!(
            Session::from_json("{\"format\": \"learnat-session\", \"version\": 1, \"turns\": 3}")
                .unwrap_err()
                .contains("wrong shape")
        );
    }
}
