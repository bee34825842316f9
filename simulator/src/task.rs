//! The interactive task format (BIRD-Interact's field names, as DESIGN.md lists them), its
//! JSONL files, and the checks every task passes before it is run.
//!
//! One task per line:
//!
//! ```json
//! {"instance_id": "spider_dev_0042", "db_id": "concert_singer",
//!  "amb_user_query": "Show the names of singers older than the age limit.",
//!  "user_query_ambiguity": {"critical_ambiguity": [], "non_critical_ambiguity": []},
//!  "knowledge_ambiguity": [{"term": "the age limit", "description": "The age limit is 30.",
//!                           "sql_snippet": "30"}],
//!  "clear_question": "Show the names of singers older than 30.",
//!  "sol_sql": "SELECT name FROM singer WHERE age > 30",
//!  "follow_up": {"query": "How many of them are there?",
//!                "sol_sql": "SELECT COUNT(*) FROM (SELECT name FROM singer WHERE age > 30)"},
//!  "split": "dev", "source": "spider dev #42", "reviewed": false}
//! ```
//!
//! `split`, `source`, `reviewed` and `review_note` are this project's additions; the ambiguity
//! records are [`learnat_tools::demo`]'s types, so the demo questions are tasks as they are.
//!
//! Two levels of checking: [`validate_task`] (the annotations are consistent: every
//! `sql_snippet` occurs in `sol_sql`, every unmasked term occurs in `amb_user_query`) runs on
//! load; [`verify_task_sql`] (sol_sql and the follow-up SQL execute) needs the databases.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use learnat_tools::database::Database;
use learnat_tools::demo::{DemoQuestion, FollowUp, KnowledgeAmbiguity, UserQueryAmbiguity};
use learnat_tools::sqlite::SqliteDatabase;
use learnat_tools::{ExecOptions, QueryResult};
use serde::{Deserialize, Serialize};

pub use learnat_tools::demo::Ambiguity;

use crate::error::{SimResult, SimulatorError};

/// One interactive task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InteractiveTask {
    /// Unique id within its file.
    pub instance_id: String,
    /// The database: `<databases>/<db_id>/<db_id>.sqlite`.
    pub db_id: String,
    /// The question as the user first asks it (ambiguous).
    pub amb_user_query: String,
    /// Ambiguities of the wording.
    pub user_query_ambiguity: UserQueryAmbiguity,
    /// Hidden domain facts the user knows and the schema does not say.
    #[serde(default)]
    pub knowledge_ambiguity: Vec<KnowledgeAmbiguity>,
    /// The question with every ambiguity resolved (what the oracle agent is given).
    pub clear_question: String,
    /// Gold SQL answering `clear_question`.
    pub sol_sql: String,
    /// The second question, asked once the first is solved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<FollowUp>,
    /// Difficulty label, when the source has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty: Option<String>,
    /// `dev`, `train` or `demo`: tasks derived from Spider dev are kept apart from train ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// Where the task came from (`spider dev #42`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// True once a person has read the task and agrees with its annotations.
    #[serde(default)]
    pub reviewed: bool,
    /// What the reviewer noted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_note: Option<String>,
}

/// One annotated ambiguity as the simulator sees it: what the user may reveal about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnotatedAmbiguity {
    /// Index in [`InteractiveTask::ambiguities`].
    pub index: usize,
    /// The words of the question (or the hidden fact's name).
    pub term: String,
    /// The fragment of `sol_sql` the user may reveal about it.
    pub sql_snippet: String,
    /// The hidden fact, in words, for knowledge ambiguities.
    pub description: Option<String>,
    /// `critical`, `non_critical` or `knowledge`.
    pub group: &'static str,
    /// The ambiguity kind (`threshold_ambiguity`, ...; `knowledge` for hidden facts).
    pub kind: String,
}

impl InteractiveTask {
    /// Every annotation in one list: critical, non-critical, then knowledge ambiguities.
    pub fn ambiguities(&self) -> Vec<AnnotatedAmbiguity> {
        let user = |group: &'static str, list: &[Ambiguity]| {
            list.iter()
                .map(|a| {
                    (
                        group,
                        a.term.clone(),
                        a.sql_snippet.clone(),
                        None,
                        a.kind.clone(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let mut all = user("critical", &self.user_query_ambiguity.critical_ambiguity);
        all.extend(user(
            "non_critical",
            &self.user_query_ambiguity.non_critical_ambiguity,
        ));
        all.extend(self.knowledge_ambiguity.iter().map(|k| {
            (
                "knowledge",
                k.term.clone(),
                k.sql_snippet.clone(),
                Some(k.description.clone()),
                "knowledge".to_string(),
            )
        }));
        all.into_iter()
            .enumerate()
            .map(
                |(index, (group, term, sql_snippet, description, kind))| AnnotatedAmbiguity {
                    index,
                    term,
                    sql_snippet,
                    description,
                    group,
                    kind,
                },
            )
            .collect()
    }

    /// The number of annotated ambiguities (all groups): the base of both budgets.
    pub fn ambiguity_count(&self) -> usize {
        self.user_query_ambiguity.critical_ambiguity.len()
            + self.user_query_ambiguity.non_critical_ambiguity.len()
            + self.knowledge_ambiguity.len()
    }

    /// The largest reward the task can give: the first phase, plus the follow-up if any.
    pub fn max_reward(&self) -> f64 {
        crate::protocol::FIRST_PHASE_REWARD
            + if self.follow_up.is_some() {
                crate::protocol::FOLLOW_UP_REWARD
            } else {
                0.0
            }
    }
}

impl From<DemoQuestion> for InteractiveTask {
    fn from(question: DemoQuestion) -> InteractiveTask {
        let difficulty = serde_json::to_value(question.difficulty)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string));
        InteractiveTask {
            instance_id: question.instance_id,
            db_id: question.db_id,
            amb_user_query: question.amb_user_query,
            user_query_ambiguity: question.user_query_ambiguity,
            knowledge_ambiguity: question.knowledge_ambiguity,
            clear_question: question.clear_question,
            sol_sql: question.sol_sql,
            follow_up: question.follow_up,
            difficulty,
            split: Some("demo".into()),
            source: Some("tools/data/demo_questions.json".into()),
            reviewed: true,
            review_note: Some("hand-written with the demo database".into()),
        }
    }
}

/// The bundled demo questions that have a critical ambiguity, as tasks on the demo shop
/// (`db_id` `shop`; create its file with [`learnat_tools::demo::create_demo_database`]).
pub fn demo_tasks() -> SimResult<Vec<InteractiveTask>> {
    let questions = learnat_tools::demo::demo_questions()?;
    Ok(questions
        .into_iter()
        .filter(DemoQuestion::is_ambiguous)
        .map(InteractiveTask::from)
        .collect())
}

fn invalid(task: &InteractiveTask, field: &'static str, message: String) -> SimulatorError {
    SimulatorError::InvalidTask {
        instance_id: task.instance_id.clone(),
        field,
        message,
    }
}

/// The consistency rules of one task's annotations (no database needed): required fields are
/// present, there is at least one ambiguity, every `sql_snippet` occurs in `sol_sql`, every
/// term that is not masked occurs in `amb_user_query`, and the ambiguous question differs from
/// the clear one.
pub fn validate_task(task: &InteractiveTask) -> SimResult<()> {
    let required = [
        ("instance_id", &task.instance_id),
        ("db_id", &task.db_id),
        ("amb_user_query", &task.amb_user_query),
        ("clear_question", &task.clear_question),
        ("sol_sql", &task.sol_sql),
    ];
    for (field, value) in required {
        if value.trim().is_empty() {
            return Err(invalid(task, field, "is empty".into()));
        }
    }
    if task.ambiguity_count() == 0 {
        return Err(invalid(
            task,
            "user_query_ambiguity",
            "no ambiguity is annotated (an interactive task needs at least one)".into(),
        ));
    }
    let query = task.amb_user_query.to_lowercase();
    let groups = [
        (
            "user_query_ambiguity.critical_ambiguity",
            &task.user_query_ambiguity.critical_ambiguity,
        ),
        (
            "user_query_ambiguity.non_critical_ambiguity",
            &task.user_query_ambiguity.non_critical_ambiguity,
        ),
    ];
    for (field, list) in groups {
        for ambiguity in list {
            check_snippet(task, field, &ambiguity.term, &ambiguity.sql_snippet)?;
            if !ambiguity.is_mask && !query.contains(&ambiguity.term.to_lowercase()) {
                return Err(invalid(
                    task,
                    field,
                    format!(
                        "the term '{}' is not masked but does not occur in amb_user_query",
                        ambiguity.term
                    ),
                ));
            }
        }
    }
    for knowledge in &task.knowledge_ambiguity {
        check_snippet(
            task,
            "knowledge_ambiguity",
            &knowledge.term,
            &knowledge.sql_snippet,
        )?;
        if knowledge.description.trim().is_empty() {
            return Err(invalid(
                task,
                "knowledge_ambiguity",
                format!("the fact '{}' has no description", knowledge.term),
            ));
        }
    }
    if task.amb_user_query.trim() == task.clear_question.trim() {
        return Err(invalid(
            task,
            "clear_question",
            "is the same text as amb_user_query".into(),
        ));
    }
    if let Some(follow_up) = &task.follow_up
        && (follow_up.query.trim().is_empty() || follow_up.sol_sql.trim().is_empty())
    {
        return Err(invalid(
            task,
            "follow_up",
            "needs both a query and a sol_sql".into(),
        ));
    }
    Ok(())
}

fn check_snippet(
    task: &InteractiveTask,
    field: &'static str,
    term: &str,
    snippet: &str,
) -> SimResult<()> {
    if term.trim().is_empty() {
        return Err(invalid(
            task,
            field,
            "an ambiguity has an empty term".into(),
        ));
    }
    if snippet.trim().is_empty() {
        return Err(invalid(
            task,
            field,
            format!("the sql_snippet of '{term}' is empty"),
        ));
    }
    if !task.sol_sql.contains(snippet) {
        return Err(invalid(
            task,
            field,
            format!("the sql_snippet `{snippet}` of '{term}' does not occur in sol_sql"),
        ));
    }
    Ok(())
}

/// Read a JSONL task file: one task per line (blank lines and lines starting with `//` are
/// skipped). Every task is validated ([`validate_task`]) and ids must be unique; the first
/// problem is reported with the file, the line and the field.
pub fn load_tasks(path: &Path) -> SimResult<Vec<InteractiveTask>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SimulatorError::io("cannot read the task file", path, e))?;
    parse_tasks(&text, path)
}

/// [`load_tasks`] on text already read (`path` is only used in messages).
pub fn parse_tasks(text: &str, path: &Path) -> SimResult<Vec<InteractiveTask>> {
    let mut tasks = Vec::new();
    let mut ids = HashSet::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("//") {
            continue;
        }
        let error = |message: String| SimulatorError::TaskFormat {
            path: path.to_path_buf(),
            line: index + 1,
            message,
        };
        let task: InteractiveTask = serde_json::from_str(trimmed)
            .map_err(|e| error(format!("not a task in the interactive format: {e}")))?;
        validate_task(&task).map_err(|e| error(e.to_string()))?;
        if !ids.insert(task.instance_id.clone()) {
            return Err(error(format!(
                "instance_id '{}' is used twice",
                task.instance_id
            )));
        }
        tasks.push(task);
    }
    if tasks.is_empty() {
        return Err(SimulatorError::TaskFormat {
            path: path.to_path_buf(),
            line: 0,
            message: "the file holds no tasks".into(),
        });
    }
    Ok(tasks)
}

/// Write tasks as JSONL (one per line), replacing `path`.
pub fn save_tasks(path: &Path, tasks: &[InteractiveTask]) -> SimResult<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| SimulatorError::io("cannot create the folder", parent, e))?;
    }
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(path)
            .map_err(|e| SimulatorError::io("cannot create the task file", path, e))?,
    );
    for task in tasks {
        let line = serde_json::to_string(task).map_err(|e| SimulatorError::InvalidInput {
            message: format!("cannot serialise task {}: {e}", task.instance_id),
        })?;
        writeln!(file, "{line}")
            .map_err(|e| SimulatorError::io("cannot write the task file", path, e))?;
    }
    file.flush()
        .map_err(|e| SimulatorError::io("cannot write the task file", path, e))
}

/// The folder that holds the tasks' databases, opened lazily and shared.
#[derive(Clone)]
pub struct TaskDatabases {
    root: PathBuf,
    opened: Arc<Mutex<HashMap<String, Arc<SqliteDatabase>>>>,
}

impl TaskDatabases {
    /// Databases under `root`: `<root>/<db_id>/<db_id>.sqlite` or `<root>/<db_id>.sqlite`.
    pub fn new(root: impl Into<PathBuf>) -> TaskDatabases {
        TaskDatabases {
            root: root.into(),
            opened: Arc::default(),
        }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file of `db_id`, if present.
    pub fn path_of(&self, db_id: &str) -> Option<PathBuf> {
        [
            self.root.join(db_id).join(format!("{db_id}.sqlite")),
            self.root.join(format!("{db_id}.sqlite")),
        ]
        .into_iter()
        .find(|p| p.is_file())
    }

    /// The database `db_id`, opened read-only once and shared.
    pub fn open(&self, db_id: &str) -> SimResult<Arc<SqliteDatabase>> {
        if let Some(db) = self.lock().get(db_id) {
            return Ok(Arc::clone(db));
        }
        let path = self
            .path_of(db_id)
            .ok_or_else(|| SimulatorError::InvalidInput {
                message: format!(
                    "the database '{db_id}' is not in {} (expected {db_id}/{db_id}.sqlite; pass \
                 --databases with the folder that holds it)",
                    self.root.display()
                ),
            })?;
        let db = Arc::new(SqliteDatabase::open(&path)?);
        self.lock().insert(db_id.to_string(), Arc::clone(&db));
        Ok(db)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<SqliteDatabase>>> {
        self.opened
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Limits for gold and submitted SQL: the official Spider timeout is 60 s; tasks are small.
pub fn scoring_limits() -> ExecOptions {
    ExecOptions {
        timeout: Duration::from_secs(30),
        max_rows: 100_000,
        ..ExecOptions::default()
    }
}

/// The execution checks of one task: `sol_sql` and the follow-up's SQL run on its database.
/// Returns the gold result of the first phase.
pub async fn verify_task_sql(
    task: &InteractiveTask,
    databases: &TaskDatabases,
) -> SimResult<QueryResult> {
    let db = databases
        .open(&task.db_id)
        .map_err(|e| invalid(task, "db_id", e.to_string()))?;
    let gold = db
        .execute(&task.sol_sql, &scoring_limits())
        .await
        .map_err(|e| invalid(task, "sol_sql", format!("does not execute: {e}")))?;
    if let Some(follow_up) = &task.follow_up {
        db.execute(&follow_up.sol_sql, &scoring_limits())
            .await
            .map_err(|e| invalid(task, "follow_up.sol_sql", format!("does not execute: {e}")))?;
    }
    Ok(gold)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task_json() -> serde_json::Value {
        serde_json::json!({
            "instance_id": "t1", "db_id": "shop",
            "amb_user_query": "Show the big orders.",
            "user_query_ambiguity": {"critical_ambiguity": [
                {"term": "big orders", "sql_snippet": "total > 100", "is_mask": false,
                 "type": "threshold_ambiguity"}], "non_critical_ambiguity": []},
            "clear_question": "Show the orders with a total above 100.",
            "sol_sql": "SELECT * FROM orders WHERE total > 100"
        })
    }

    fn parse(value: &serde_json::Value) -> SimResult<Vec<InteractiveTask>> {
        parse_tasks(&value.to_string(), Path::new("tasks.jsonl"))
    }

    #[test]
    fn a_consistent_task_loads() {
        let tasks = parse(&task_json()).unwrap();
        assert_eq!(tasks[0].ambiguity_count(), 1);
        assert_eq!(tasks[0].ambiguities()[0].group, "critical");
        assert!((tasks[0].max_reward() - 0.7).abs() < 1e-9);
    }

    #[test]
    fn a_snippet_missing_from_the_gold_is_named() {
        let mut value = task_json();
        value["sol_sql"] = "SELECT * FROM orders WHERE total > 200".into();
        let message = parse(&value).unwrap_err().to_string();
        assert!(message.contains("tasks.jsonl:1"), "{message}");
        assert!(message.contains("task t1"), "{message}");
        assert!(message.contains("`total > 100`"), "{message}");
    }

    #[test]
    fn an_unknown_field_is_named() {
        let mut value = task_json();
        value["gold"] = "x".into();
        let message = parse(&value).unwrap_err().to_string();
        assert!(message.contains("unknown field `gold`"), "{message}");
    }

    #[test]
    fn an_unmasked_term_must_be_in_the_question() {
        let mut value = task_json();
        value["amb_user_query"] = "Show the large orders.".into();
        let message = parse(&value).unwrap_err().to_string();
        assert!(message.contains("'big orders' is not masked"), "{message}");
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let line = task_json().to_string();
        let message = parse_tasks(&format!("{line}\n{line}\n"), Path::new("x.jsonl"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("x.jsonl:2"), "{message}");
        assert!(message.contains("used twice"), "{message}");
    }

    #[test]
    fn the_demo_questions_are_valid_tasks() {
        let tasks = demo_tasks().unwrap();
        assert!(tasks.len() >= 10, "{}", tasks.len());
        for task in &tasks {
            validate_task(task).unwrap();
        }
    }
}
