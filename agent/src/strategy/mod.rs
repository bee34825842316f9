//! Strategies: how a question becomes SQL. One trait, [`Strategy`], chosen by name
//! (`--strategy zero-shot | decompose`) through [`build_strategy`].
//!
//! - [`zero_shot::ZeroShot`]: schema + question (+ evidence) → one query. The baseline.
//! - [`decompose::Decompose`]: the LearNAT student format, driven step by step: the model
//!   writes one sub-question and its SubSQL, the SubSQL is executed read-only and its outcome
//!   (first rows and row count, or the error) is fed back before the next step; a bounded repair
//!   turn on errors; worked examples from a [`DemonstrationSource`] (ADR) or built-in ones.
//! - Both: `samples > 1` draws several candidates (temperature > 0) and [`voting`] picks the
//!   final SQL by execution result.
//!
//! Every SQL a strategy runs goes through [`Database::execute`], so the read-only gate of the
//! tools crate sees it first: a write statement from the model is refused, never executed.
//!
//! ```no_run
//! # async fn demo(model: std::sync::Arc<dyn learnat_agent::ChatModel>,
//! #               db: std::sync::Arc<dyn learnat_tools::Database>,
//! #               schema: learnat_tools::schema::Schema) -> learnat_agent::AgentResult<()> {
//! use learnat_agent::strategy::{build_strategy, StrategyInput, StrategyOptions};
//! let strategy = build_strategy("decompose", StrategyOptions::default(), None)?;
//! let input = StrategyInput::new("How many orders were placed in 2024?", &db, &schema);
//! let answer = strategy.answer(&model, &input).await?;
//! println!("{} ({} steps)", answer.sql, answer.steps.len());
//! # Ok(()) }
//! ```

pub mod decompose;
pub mod voting;
pub mod zero_shot;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use learnat_tools::schema::Schema;
use learnat_tools::tool::Tool;
use learnat_tools::{Database, ExecOptions, QueryResult, Value};
use serde::{Deserialize, Serialize};

use crate::error::{AgentError, AgentResult};
use crate::model::{CancelFlag, ChatMessage, ChatModel, Completion, GenerationParams};
use crate::prompt::linking::{SchemaLinks, link_schema};
use crate::prompt::{FittedSchema, SchemaBudget, count_tokens, fit_schema};
use crate::session::{ClarificationExchange, ResultSummary, SUMMARY_ROWS, Turn};
use crate::student_format::StudentStep;

/// The names [`build_strategy`] accepts.
pub const STRATEGY_NAMES: &[&str] = &["zero-shot", "decompose"];

/// What a strategy is asked.
#[derive(Clone)]
pub struct StrategyInput<'a> {
    /// The user's question.
    pub question: &'a str,
    /// BIRD-style evidence, shown verbatim.
    pub evidence: Option<&'a str>,
    /// The database; SQL runs through its read-only `execute`.
    pub database: &'a Arc<dyn Database>,
    /// Its schema (with sample values), as introspected.
    pub schema: &'a Schema,
    /// Tools over the same database; `search_values` among them links literals to columns.
    pub tools: &'a [Arc<dyn Tool>],
    /// Linking already computed by the caller (the agent links once for clarification and
    /// prompting); `None` makes the strategy link.
    pub links: Option<&'a SchemaLinks>,
    /// Earlier turns of the session, for follow-ups.
    pub history: &'a [Turn],
    /// The user's answers to clarification questions about this question.
    pub clarifications: &'a [ClarificationExchange],
    /// The database id (Spider `db_id`), so retrieval can leave out demonstrations of the
    /// database being evaluated.
    pub db_id: Option<&'a str>,
    /// Raised to stop the generation.
    pub cancel: CancelFlag,
}

impl<'a> StrategyInput<'a> {
    /// The prompt input without a schema: what a strategy measures to know how much room the
    /// prompt around the schema takes.
    pub(crate) fn prompt_without_schema(&self) -> crate::prompt::PromptInput<'a> {
        crate::prompt::PromptInput {
            question: self.question,
            evidence: self.evidence,
            schema_text: "",
            dialect: self.database.dialect(),
            links: None,
            clarifications: self.clarifications,
            history: self.history,
        }
    }
}

impl<'a> StrategyInput<'a> {
    /// A question over `database` with its `schema`; no evidence, tools, history or
    /// clarifications.
    pub fn new(
        question: &'a str,
        database: &'a Arc<dyn Database>,
        schema: &'a Schema,
    ) -> StrategyInput<'a> {
        StrategyInput {
            question,
            evidence: None,
            database,
            schema,
            tools: &[],
            links: None,
            history: &[],
            clarifications: &[],
            db_id: None,
            cancel: CancelFlag::new(),
        }
    }
}

/// What happened when a step's SQL ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StepOutcome {
    /// It ran.
    Rows {
        /// Column names.
        columns: Vec<String>,
        /// The first rows.
        rows: Vec<Vec<Value>>,
        /// Rows returned, up to the step row cap.
        row_count: usize,
        /// True when the row cap was reached (`row_count` is a lower bound).
        truncated: bool,
        /// Time in the engine.
        elapsed_ms: f64,
    },
    /// It failed (or was refused by the read-only gate).
    Error {
        /// The error's kind (`sql`, `refused`, `timeout`, `parse`, `no_sql`).
        kind: String,
        /// The message.
        message: String,
    },
}

impl StepOutcome {
    /// The outcome of a result, keeping `preview_rows` rows.
    pub fn from_result(result: &QueryResult, preview_rows: usize) -> StepOutcome {
        StepOutcome::Rows {
            columns: result.columns.clone(),
            rows: result.rows.iter().take(preview_rows).cloned().collect(),
            row_count: result.rows.len(),
            truncated: result.truncated,
            elapsed_ms: result.elapsed.as_secs_f64() * 1000.0,
        }
    }

    /// True for [`StepOutcome::Error`].
    pub fn is_error(&self) -> bool {
        matches!(self, StepOutcome::Error { .. })
    }

    /// The error message, for errors.
    pub fn error_message(&self) -> Option<&str> {
        match self {
            StepOutcome::Error { message, .. } => Some(message),
            StepOutcome::Rows { .. } => None,
        }
    }

    /// The preview as a [`QueryResult`] (for rendering as a table).
    pub fn preview(&self) -> Option<QueryResult> {
        match self {
            StepOutcome::Rows {
                columns,
                rows,
                truncated,
                elapsed_ms,
                row_count,
            } => Some(QueryResult {
                columns: columns.clone(),
                rows: rows.clone(),
                elapsed: Duration::from_secs_f64(elapsed_ms / 1000.0),
                truncated: *truncated || rows.len() < *row_count,
            }),
            StepOutcome::Error { .. } => None,
        }
    }

    /// The compact text the model sees (see [`ResultSummary::to_prompt_text`]).
    pub fn preview_text(&self) -> String {
        match self {
            StepOutcome::Rows {
                columns,
                rows,
                row_count,
                truncated,
                ..
            } => ResultSummary {
                columns: columns.clone(),
                row_count: *row_count,
                rows: rows.clone(),
                truncated: *truncated,
            }
            .to_prompt_text(),
            StepOutcome::Error { message, .. } => format!("error: {message}"),
        }
    }
}

/// One executed step of a decomposition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The sub-question.
    pub sub_question: String,
    /// Its SQL (after any repair).
    pub sql: String,
    /// What running it gave.
    pub outcome: StepOutcome,
    /// Repair turns spent on this step.
    pub repairs: usize,
}

/// One candidate final SQL of a sampled answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The SQL.
    pub sql: String,
    /// Candidates (itself included) whose results equal its result.
    pub votes: usize,
    /// Mean token log-probability of the answer that produced it, when the backend gave them.
    pub mean_logprob: Option<f32>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// True for the one chosen.
    pub chosen: bool,
}

/// Model and database usage of one answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Model requests made.
    pub requests: usize,
    /// Prompt tokens over all requests.
    pub prompt_tokens: usize,
    /// Of those, served from the prefix cache.
    pub cached_prompt_tokens: usize,
    /// Generated tokens.
    pub completion_tokens: usize,
    /// Time waiting for the model.
    pub model_ms: f64,
    /// Time executing SQL.
    pub database_ms: f64,
    /// Wall time of the whole answer.
    pub total_ms: f64,
}

impl Usage {
    /// Count the completions of one request that took `elapsed`.
    pub fn add_request(&mut self, completions: &[Completion], elapsed: Duration) {
        self.requests += 1;
        for completion in completions {
            self.prompt_tokens += completion.prompt_tokens;
            self.cached_prompt_tokens += completion.cached_prompt_tokens;
            self.completion_tokens += completion.completion_tokens;
        }
        self.model_ms += elapsed.as_secs_f64() * 1000.0;
    }

    /// Add another usage (of a sample, a clarification check).
    pub fn absorb(&mut self, other: &Usage) {
        self.requests += other.requests;
        self.prompt_tokens += other.prompt_tokens;
        self.cached_prompt_tokens += other.cached_prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.model_ms += other.model_ms;
        self.database_ms += other.database_ms;
    }
}

/// What a strategy answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The final SQL.
    pub sql: String,
    /// The strategy that produced it.
    pub strategy: String,
    /// The executed steps of the chosen decomposition (empty for zero-shot).
    pub steps: Vec<Step>,
    /// The final SQL's check run (the same limits as steps), when it ran.
    pub final_outcome: Option<StepOutcome>,
    /// All candidates when several were sampled (empty for one sample).
    pub candidates: Vec<Candidate>,
    /// Repair turns spent (steps and final SQL, all samples).
    pub repairs: usize,
    /// Schema fixes applied to queries that then ran (steps and final SQL, all samples):
    /// `T2.Name → T1.Name`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relinks: Vec<String>,
    /// Model and database usage.
    pub usage: Usage,
    /// The model's raw answers, in order (all samples).
    pub raw_outputs: Vec<String>,
    /// The tables the prompt showed.
    pub prompt_tables: Vec<String>,
    /// The direct draft written before deciding whether to decompose
    /// ([`DecomposeWhen::Auto`]); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<Draft>,
}

/// The direct draft of [`DecomposeWhen::Auto`]: a zero-shot query, executed, that decides
/// whether the question is decomposed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    /// Its SQL (after any schema relinking).
    pub sql: String,
    /// Its Spider hardness, when it parses (`easy`, `medium`, `hard`, `extra`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardness: Option<String>,
    /// What running it gave.
    pub outcome: StepOutcome,
    /// Why the question was decomposed after all; `None` when the draft was enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decomposed_because: Option<String>,
    /// True when the draft is the final SQL.
    pub chosen: bool,
}

/// A worked example for the decomposition prompt: a question, its steps and its SQL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FewShotExample {
    /// The question.
    pub question: String,
    /// Its decomposition (may be empty: then only question and final SQL are shown).
    pub steps: Vec<StudentStep>,
    /// Its SQL.
    pub sql: String,
}

/// What a [`DemonstrationSource`] is asked for.
#[derive(Debug, Clone, Copy)]
pub struct DemonstrationRequest<'a> {
    /// The question being answered.
    pub question: &'a str,
    /// Its database's schema (for masking schema words).
    pub schema: &'a Schema,
    /// Its database id: demonstrations of that database are left out during evaluation.
    pub db_id: Option<&'a str>,
    /// How many; 0 lets the source choose (adaptive k).
    pub k: usize,
    /// A draft SQL for the question (a zero-shot attempt), when the caller has one: its
    /// skeleton steers the re-rank and its hardness the adaptive k.
    pub draft_sql: Option<&'a str>,
}

/// Where decomposition examples come from: the ADR index implements this; tests pass fixed
/// lists.
#[async_trait]
pub trait DemonstrationSource: Send + Sync {
    /// Up to `request.k` examples for the question, best first.
    async fn demonstrations(
        &self,
        request: &DemonstrationRequest<'_>,
    ) -> AgentResult<Vec<FewShotExample>>;
}

/// A fixed list of examples, whatever the question.
#[derive(Debug, Clone, Default)]
pub struct FixedDemonstrations(pub Vec<FewShotExample>);

#[async_trait]
impl DemonstrationSource for FixedDemonstrations {
    async fn demonstrations(
        &self,
        request: &DemonstrationRequest<'_>,
    ) -> AgentResult<Vec<FewShotExample>> {
        let k = if request.k == 0 {
            self.0.len()
        } else {
            request.k
        };
        Ok(self.0.iter().take(k).cloned().collect())
    }
}

/// The built-in examples of the decomposition format (on a concert database, not on any
/// evaluated one), used when ADR is off.
pub fn builtin_examples() -> Vec<FewShotExample> {
    let step = |sub_question: &str, sql: &str| StudentStep {
        sub_question: sub_question.to_string(),
        sql: sql.to_string(),
    };
    vec![
        FewShotExample {
            question: "How many concerts did singers from France give in 2014?".into(),
            steps: vec![
                step(
                    "Which singers are from France?",
                    "SELECT singer_id FROM singer WHERE country = 'France'",
                ),
                step(
                    "How many concerts in 2014 had one of those singers?",
                    "SELECT COUNT(DISTINCT c.concert_id) FROM concert AS c JOIN singer_in_concert \
                     AS sc ON sc.concert_id = c.concert_id JOIN singer AS s ON s.singer_id = \
                     sc.singer_id WHERE s.country = 'France' AND c.year = 2014",
                ),
            ],
            sql: "SELECT COUNT(DISTINCT c.concert_id) FROM concert AS c JOIN singer_in_concert AS \
                  sc ON sc.concert_id = c.concert_id JOIN singer AS s ON s.singer_id = \
                  sc.singer_id WHERE s.country = 'France' AND c.year = 2014"
                .into(),
        },
        FewShotExample {
            question: "What is the name of the stadium with the largest capacity?".into(),
            steps: vec![step(
                "Which stadium has the largest capacity?",
                "SELECT name FROM stadium ORDER BY capacity DESC LIMIT 1",
            )],
            sql: "SELECT name FROM stadium ORDER BY capacity DESC LIMIT 1".into(),
        },
    ]
}

/// How a strategy behaves. The defaults are deterministic (greedy, one sample, seed 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyOptions {
    /// Tokens per completion (zero-shot answer, or one decomposition step).
    pub max_tokens: usize,
    /// Candidates to draw; above 1 the final SQL is chosen by execution-result voting.
    pub samples: usize,
    /// Sampling temperature; 0 is greedy. With `samples > 1` and temperature 0,
    /// [`StrategyOptions::vote_temperature`] is used instead (identical greedy samples would
    /// make voting pointless).
    pub temperature: f32,
    /// The temperature used for voting samples when `temperature` is 0.
    pub vote_temperature: f32,
    /// Seed of the first sample; sample i uses `seed + i`.
    pub seed: u64,
    /// Repair turns per failing SQL (a SubSQL or the final SQL).
    pub repair_turns: usize,
    /// Fix a "no such column" error from the schema before any repair turn
    /// ([`learnat_tools::sql::relink`]: rename, requalify, or join the table on a foreign key);
    /// the fixed query replaces the model's only when it runs.
    pub relink: bool,
    /// Most decomposition steps before the final SQL is asked for.
    pub max_steps: usize,
    /// Use the demonstration source (ADR) for decomposition examples; otherwise the built-in
    /// examples.
    pub adr: bool,
    /// Demonstrations per prompt; 0 lets the source choose (adaptive k).
    pub k: usize,
    /// Rows of a step's result shown to the model.
    pub preview_rows: usize,
    /// Rows a step may return (its row count is exact up to this cap).
    pub step_row_cap: usize,
    /// Time limit of each step and check run.
    pub step_timeout: Duration,
    /// Schemas with more tables than this are cut to the relevant tables.
    pub large_schema_tables: usize,
    /// Literals of the question looked up with `search_values` for linking and hints.
    pub max_literals: usize,
    /// When the decompose strategy decomposes: every question, or only those a direct draft
    /// does not answer well ([`DecomposeWhen`]).
    #[serde(default)]
    pub decompose_when: DecomposeWhen,
}

/// When the decompose strategy decomposes a question.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecomposeWhen {
    /// Every question is answered in the student format, step by step (what a trained student
    /// is trained on, and what synthesis and training prompts are built from).
    #[default]
    Always,
    /// A direct draft first (the zero-shot prompt, executed); the question is decomposed only
    /// when the draft fails, returns no rows, or returns only NULLs. Otherwise the draft is the
    /// answer, as a one-step decomposition.
    Auto,
}

impl DecomposeWhen {
    /// The names `--decompose-when` accepts.
    pub const NAMES: &'static [&'static str] = &["always", "auto"];

    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            DecomposeWhen::Always => "always",
            DecomposeWhen::Auto => "auto",
        }
    }
}

impl std::str::FromStr for DecomposeWhen {
    type Err = String;

    fn from_str(text: &str) -> Result<DecomposeWhen, String> {
        match text {
            "always" => Ok(DecomposeWhen::Always),
            "auto" => Ok(DecomposeWhen::Auto),
            other => Err(format!(
                "unknown value '{other}' (use {})",
                DecomposeWhen::NAMES.join(" or ")
            )),
        }
    }
}

impl Default for StrategyOptions {
    fn default() -> Self {
        StrategyOptions {
            max_tokens: 256,
            samples: 1,
            temperature: 0.0,
            vote_temperature: 0.7,
            seed: 0,
            repair_turns: 1,
            relink: true,
            max_steps: 5,
            adr: false,
            k: 0,
            preview_rows: 5,
            step_row_cap: 1000,
            step_timeout: Duration::from_secs(10),
            large_schema_tables: 16,
            max_literals: 4,
            decompose_when: DecomposeWhen::Always,
        }
    }
}

impl StrategyOptions {
    /// The defaults of strategy `name`: zero-shot is the plain baseline (no repair turn, no
    /// schema relinking); decompose relinks and repairs each failing SQL once.
    pub fn defaults_for(name: &str) -> StrategyOptions {
        let defaults = StrategyOptions::default();
        match name {
            "zero-shot" | "zero_shot" | "zeroshot" => StrategyOptions {
                repair_turns: 0,
                relink: false,
                ..defaults
            },
            _ => defaults,
        }
    }

    /// The defaults of strategy `name` for a person asking (ask, repl, mcp, demo): as
    /// [`StrategyOptions::defaults_for`], but a failing SQL is always relinked and gets one
    /// repair turn, also with zero-shot. The benchmark baseline keeps zero-shot without either.
    pub fn interactive(name: &str) -> StrategyOptions {
        let defaults = StrategyOptions::defaults_for(name);
        StrategyOptions {
            repair_turns: defaults.repair_turns.max(1),
            relink: true,
            ..defaults
        }
    }

    /// The generation parameters of sample `index`.
    pub fn generation_params(&self, index: usize, cancel: &CancelFlag) -> GenerationParams {
        let temperature = if self.samples > 1 && self.temperature == 0.0 {
            self.vote_temperature
        } else {
            self.temperature
        };
        GenerationParams {
            max_tokens: self.max_tokens,
            temperature,
            seed: self.seed.wrapping_add(index as u64),
            logprobs: self.samples > 1,
            cancel: cancel.clone(),
            ..GenerationParams::default()
        }
    }

    /// The limits of step and check runs.
    pub fn exec_options(&self) -> ExecOptions {
        ExecOptions {
            timeout: self.step_timeout,
            max_rows: self.step_row_cap.max(self.preview_rows).max(1),
            max_result_bytes: 8 * 1024 * 1024,
        }
    }
}

/// Turns a question into SQL.
#[async_trait]
pub trait Strategy: Send + Sync {
    /// The name it is chosen by (`zero-shot`, `decompose`).
    fn name(&self) -> &str;

    /// The options it runs with.
    fn options(&self) -> &StrategyOptions;

    /// Answer `input` with `model`.
    async fn answer(
        &self,
        model: &Arc<dyn ChatModel>,
        input: &StrategyInput<'_>,
    ) -> AgentResult<Answer>;
}

/// The strategy called `name` ([`STRATEGY_NAMES`]) with `options`; `demonstrations` serves
/// decomposition examples when `options.adr` is on (it is then required).
pub fn build_strategy(
    name: &str,
    options: StrategyOptions,
    demonstrations: Option<Arc<dyn DemonstrationSource>>,
) -> AgentResult<Arc<dyn Strategy>> {
    match name {
        "zero-shot" | "zero_shot" | "zeroshot" => Ok(Arc::new(zero_shot::ZeroShot::new(options))),
        "decompose" | "learnat" => {
            if options.adr && demonstrations.is_none() {
                return Err(AgentError::InvalidInput {
                    message: "the decompose strategy with ADR needs a demonstration index (build \
                              one with `learnat index build` and pass it), or turn ADR off"
                        .into(),
                });
            }
            Ok(Arc::new(decompose::Decompose::new(options, demonstrations)))
        }
        other => Err(AgentError::InvalidInput {
            message: format!(
                "unknown strategy '{other}'; the strategies are: {}",
                STRATEGY_NAMES.join(", ")
            ),
        }),
    }
}

/// The prompt-independent preparation both strategies share: linking and the fitted schema.
pub(crate) struct Prepared {
    pub links: SchemaLinks,
    pub schema: FittedSchema,
}

/// Link the question (unless the caller did) and fit the schema into what the context leaves
/// after `reserved` tokens (the rest of the prompt and the answers).
pub(crate) async fn prepare(
    model: &dyn ChatModel,
    input: &StrategyInput<'_>,
    options: &StrategyOptions,
    reserved: usize,
) -> Prepared {
    let links = match input.links {
        Some(links) => links.clone(),
        None => {
            link_schema(
                input.question,
                input.evidence,
                input.schema,
                input.tools,
                options.max_literals,
            )
            .await
        }
    };
    let context = model.context_length();
    // The chat template's role markers and a safety margin.
    let overhead = 64;
    let budget = SchemaBudget {
        max_tokens: context.saturating_sub(reserved + overhead).max(64),
        large_schema_tables: options.large_schema_tables,
    };
    let schema = fit_schema(input.schema, &links, budget, &|text: &str| {
        count_tokens(model, text)
    });
    Prepared { links, schema }
}

/// One model request, counted in `usage`, its texts appended to `raw`.
pub(crate) async fn request(
    model: &Arc<dyn ChatModel>,
    messages: &[ChatMessage],
    params: &GenerationParams,
    usage: &mut Usage,
    raw: &mut Vec<String>,
) -> AgentResult<Vec<Completion>> {
    let started = Instant::now();
    let completions = model.chat(messages, params).await?;
    usage.add_request(&completions, started.elapsed());
    raw.extend(completions.iter().map(|c| c.text.clone()));
    if completions.is_empty() {
        return Err(AgentError::Generation {
            model: model.name().to_string(),
            message: "the backend returned no completion".into(),
        });
    }
    Ok(completions)
}

/// Run `sql` with the step limits; the result (for voting) and its outcome.
pub(crate) async fn run_sql(
    database: &Arc<dyn Database>,
    sql: &str,
    options: &StrategyOptions,
    usage: &mut Usage,
) -> (Option<QueryResult>, StepOutcome) {
    if sql.trim().is_empty() {
        return (
            None,
            StepOutcome::Error {
                kind: "no_sql".into(),
                message: "no SQL was written for this step".into(),
            },
        );
    }
    let started = Instant::now();
    let outcome = database.execute(sql, &options.exec_options()).await;
    usage.database_ms += started.elapsed().as_secs_f64() * 1000.0;
    match outcome {
        Ok(result) => {
            let outcome = StepOutcome::from_result(&result, options.preview_rows);
            (Some(result), outcome)
        }
        Err(error) => (
            None,
            StepOutcome::Error {
                kind: error.kind().to_string(),
                message: error.to_string(),
            },
        ),
    }
}

/// Schema fixes tried on one failing query: each fixes one missing column.
const RELINK_ROUNDS: usize = 4;

/// Run `sql` as [`run_sql`] does. When it fails on a missing column and `options.relink` is on,
/// it is relinked ([`learnat_tools::sql::relink`], one fix per round, up to [`RELINK_ROUNDS`])
/// and the relinked query is kept when it runs; its changes are appended to `relinks`. Otherwise
/// the query and its error stay as they were. Returns the query kept, its result and outcome.
pub(crate) async fn run_relinked(
    database: &Arc<dyn Database>,
    schema: &Schema,
    sql: String,
    options: &StrategyOptions,
    usage: &mut Usage,
    relinks: &mut Vec<String>,
) -> (String, Option<QueryResult>, StepOutcome) {
    let (result, outcome) = run_sql(database, &sql, options, usage).await;
    if !options.relink || !outcome.is_error() {
        return (sql, result, outcome);
    }
    let mut current = sql.clone();
    let mut error = outcome.error_message().unwrap_or_default().to_string();
    let mut changes = Vec::new();
    for _ in 0..RELINK_ROUNDS {
        let Some(fixed) = learnat_tools::sql::relink(schema, &current, &error) else {
            break;
        };
        changes.push(fixed.change);
        current = fixed.sql;
        let (fixed_result, fixed_outcome) = run_sql(database, &current, options, usage).await;
        match fixed_outcome.error_message() {
            Some(next) => error = next.to_string(),
            None => {
                tracing::debug!(?changes, "relinked a failing query");
                relinks.extend(changes);
                return (current, fixed_result, fixed_outcome);
            }
        }
    }
    (sql, result, outcome)
}

/// Mean of the token log-probabilities of `completions`, when all have them.
pub(crate) fn mean_logprob<'a>(completions: impl Iterator<Item = &'a Completion>) -> Option<f32> {
    let mut total = 0.0f64;
    let mut count = 0usize;
    for completion in completions {
        let logprobs = completion.logprobs.as_ref()?;
        total += logprobs.iter().map(|l| f64::from(l.logprob)).sum::<f64>();
        count += logprobs.len();
    }
    (count > 0).then(|| (total / count as f64) as f32)
}

/// A result summary kept for sessions.
pub fn summarise(result: &QueryResult) -> ResultSummary {
    ResultSummary::of(result, SUMMARY_ROWS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_are_built_by_name() {
        let zero = build_strategy("zero-shot", StrategyOptions::default(), None).unwrap();
        assert_eq!(zero.name(), "zero-shot");
        let decompose = build_strategy("decompose", StrategyOptions::default(), None).unwrap();
        assert_eq!(decompose.name(), "decompose");
        let message = build_strategy("magic", StrategyOptions::default(), None)
            .err()
            .unwrap()
            .to_string();
        assert!(message.contains("zero-shot, decompose"), "{message}");
        let adr = StrategyOptions {
            adr: true,
            ..StrategyOptions::default()
        };
        let message = build_strategy("decompose", adr, None)
            .err()
            .unwrap()
            .to_string();
        assert!(message.contains("demonstration index"), "{message}");
    }

    #[test]
    fn voting_samples_are_not_greedy() {
        let options = StrategyOptions {
            samples: 3,
            ..StrategyOptions::default()
        };
        let cancel = CancelFlag::new();
        let first = options.generation_params(0, &cancel);
        let second = options.generation_params(1, &cancel);
        assert!(first.temperature > 0.0);
        assert_ne!(first.seed, second.seed);
        assert!(first.logprobs);
        let greedy = StrategyOptions::default().generation_params(0, &cancel);
        assert_eq!(greedy.temperature, 0.0);
    }
}
