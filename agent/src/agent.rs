//! The [`Agent`]: a model, a database, a strategy and a clarifier, answering the turns of a
//! [`Session`].
//!
//! [`Agent::respond`] is step-wise, the interface the REPL, `learnat ask`, the MCP server and
//! the user simulator all speak: each call takes the user's text and returns an [`AgentTurn`],
//! either a clarification question ([`AgentTurn::Clarification`], the simulator's `Ask`) or an
//! answer with its SQL and result ([`AgentTurn::Answer`], `Submit`). When the session has a
//! pending clarification, the next user text is its answer: it is added to the conversation
//! and the original question is answered with it (or, if another term is still unclear and the
//! clarifier's budget allows, a second question is asked). Otherwise the text is a new
//! question; earlier turns of the session are shown to the model, so follow-ups build on the
//! previous SQL.
//!
//! ```no_run
//! use std::sync::Arc;
//! use learnat_agent::agent::{Agent, AgentOptions, AgentTurn};
//! use learnat_agent::session::Session;
//! use learnat_agent::strategy::{build_strategy, StrategyOptions};
//! # async fn demo(model: Arc<dyn learnat_agent::ChatModel>) -> learnat_agent::AgentResult<()> {
//! let database = learnat_tools::database::open_database("shop.sqlite").await?;
//! let strategy = build_strategy("decompose", StrategyOptions::defaults_for("decompose"), None)?;
//! let agent = Agent::new(model, database, strategy, AgentOptions::default()).await?;
//! let mut session = Session::new(Some("shop.sqlite".into()));
//! let mut turn = agent.respond(&mut session, "How many customers do we have in London?").await?;
//! if let AgentTurn::Clarification(request) = &turn {
//!     println!("{}", request.question); // "There are 2 cities named 'London': ..."
//!     turn = agent.respond(&mut session, "London, England").await?;
//! }
//! if let AgentTurn::Answer(answered) = turn {
//!     println!("{}", answered.answer.sql);
//! }
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use learnat_tools::schema::{IntrospectOptions, Schema, introspect};
use learnat_tools::tool::{Tool, builtin_tools};
use learnat_tools::{Database, ExecOptions, QueryResult};
use serde::{Deserialize, Serialize};

use crate::clarify::{ClarificationRequest, Clarifier, ClarifierOptions};
use crate::error::{AgentError, AgentResult};
use crate::model::{CancelFlag, ChatModel};
use crate::prompt::linking::link_schema;
use crate::session::{ClarificationExchange, Session};
use crate::strategy::{Answer, Strategy, StrategyInput, summarise};

/// How an [`Agent`] behaves besides its strategy.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// When and how to ask back.
    pub clarifier: ClarifierOptions,
    /// Limits of the final query's run (the answer shown to the user).
    pub result_limits: ExecOptions,
    /// The database id, for leaving its demonstrations out of retrieval.
    pub db_id: Option<String>,
    /// How the schema is introspected by [`Agent::new`].
    pub introspection: IntrospectOptions,
}

impl Default for AgentOptions {
    fn default() -> Self {
        AgentOptions {
            clarifier: ClarifierOptions::default(),
            result_limits: ExecOptions {
                timeout: Duration::from_secs(30),
                max_rows: 1000,
                ..ExecOptions::default()
            },
            db_id: None,
            introspection: IntrospectOptions::default(),
        }
    }
}

/// Per-call extras of [`Agent::respond_with`].
#[derive(Debug, Clone, Default)]
pub struct RespondOptions {
    /// BIRD-style evidence for this question.
    pub evidence: Option<String>,
    /// Raised to stop the generation (Ctrl-C in the REPL).
    pub cancel: CancelFlag,
}

/// Where the time of a turn went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TurnTimings {
    /// Schema linking and the clarification check.
    pub clarify_ms: f64,
    /// The strategy (model turns and step runs).
    pub strategy_ms: f64,
    /// The model's share of `strategy_ms`.
    pub model_ms: f64,
    /// Running the final SQL for the result.
    pub execute_ms: f64,
    /// The whole turn.
    pub total_ms: f64,
}

/// An answered question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnsweredTurn {
    /// The question answered (the original one when clarifications were asked).
    pub question: String,
    /// The clarifications asked and answered for it.
    pub clarifications: Vec<ClarificationExchange>,
    /// The strategy's answer: SQL, steps, candidates, usage.
    pub answer: Answer,
    /// The final SQL's result under [`AgentOptions::result_limits`], when it ran.
    pub result: Option<QueryResult>,
    /// Why it did not run (refused, SQL error, timeout).
    pub error: Option<String>,
    /// Where the time went.
    pub timings: TurnTimings,
}

/// What the agent does with a user's text.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AgentTurn {
    /// It asks one question back; the next user text is the answer.
    Clarification(ClarificationRequest),
    /// It answers.
    Answer(Box<AnsweredTurn>),
}

/// The simulator's view of a turn: ask the user, or submit SQL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentAction {
    /// A clarification question.
    Ask(String),
    /// The SQL submitted as the answer.
    Submit(String),
}

impl AgentTurn {
    /// The turn as the user simulator sees it.
    pub fn action(&self) -> AgentAction {
        match self {
            AgentTurn::Clarification(request) => AgentAction::Ask(request.question.clone()),
            AgentTurn::Answer(answered) => AgentAction::Submit(answered.answer.sql.clone()),
        }
    }
}

/// A model, a database, a strategy and a clarifier.
pub struct Agent {
    model: Arc<dyn ChatModel>,
    database: Arc<dyn Database>,
    schema: Arc<Schema>,
    tools: Vec<Arc<dyn Tool>>,
    strategy: Arc<dyn Strategy>,
    clarifier: Clarifier,
    options: AgentOptions,
}

impl Agent {
    /// An agent over `database`, whose schema is introspected now (read-only).
    pub async fn new(
        model: Arc<dyn ChatModel>,
        database: Arc<dyn Database>,
        strategy: Arc<dyn Strategy>,
        options: AgentOptions,
    ) -> AgentResult<Agent> {
        let schema = introspect(database.as_ref(), &options.introspection).await?;
        Ok(Agent::with_schema(
            model,
            database,
            Arc::new(schema),
            strategy,
            options,
        ))
    }

    /// An agent over `database` with a schema the caller already has.
    pub fn with_schema(
        model: Arc<dyn ChatModel>,
        database: Arc<dyn Database>,
        schema: Arc<Schema>,
        strategy: Arc<dyn Strategy>,
        options: AgentOptions,
    ) -> Agent {
        let tools = builtin_tools(Arc::clone(&database));
        Agent {
            model,
            database,
            schema,
            tools,
            strategy,
            clarifier: Clarifier::new(options.clarifier.clone()),
            options,
        }
    }

    /// The model.
    pub fn model(&self) -> &Arc<dyn ChatModel> {
        &self.model
    }

    /// The database.
    pub fn database(&self) -> &Arc<dyn Database> {
        &self.database
    }

    /// The schema prompts are built from.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The built-in tools over the database (execute_sql, list_tables, describe_table,
    /// sample_values, search_values), sharing one schema cache.
    pub fn tools(&self) -> &[Arc<dyn Tool>] {
        &self.tools
    }

    /// The strategy.
    pub fn strategy(&self) -> &Arc<dyn Strategy> {
        &self.strategy
    }

    /// Use another strategy from now on.
    pub fn set_strategy(&mut self, strategy: Arc<dyn Strategy>) {
        self.strategy = strategy;
    }

    /// Use another model from now on.
    pub fn set_model(&mut self, model: Arc<dyn ChatModel>) {
        self.model = model;
    }

    /// The options.
    pub fn options(&self) -> &AgentOptions {
        &self.options
    }

    /// Run one read-only statement under the result limits (the REPL's `:run`).
    pub async fn run_sql(&self, sql: &str) -> AgentResult<QueryResult> {
        Ok(self
            .database
            .execute(sql, &self.options.result_limits)
            .await?)
    }

    /// [`Agent::respond_with`] without evidence or cancellation.
    pub async fn respond(&self, session: &mut Session, user_text: &str) -> AgentResult<AgentTurn> {
        self.respond_with(session, user_text, &RespondOptions::default())
            .await
    }

    /// Handle one user text: answer a pending clarification, or take a new question; then ask
    /// back or answer. Answers (and failures to answer) are recorded in `session`; a failure is
    /// also returned as the error.
    pub async fn respond_with(
        &self,
        session: &mut Session,
        user_text: &str,
        extras: &RespondOptions,
    ) -> AgentResult<AgentTurn> {
        let started = Instant::now();
        let text = user_text.trim();
        if text.is_empty() {
            return Err(AgentError::InvalidInput {
                message: "the question is empty; type a question about the database".into(),
            });
        }
        let (question, clarifications) = match session.take_pending() {
            Some(pending) => {
                let mut clarifications = pending.answered;
                clarifications.push(ClarificationExchange {
                    term: pending.request.term.clone(),
                    question: pending.request.question.clone(),
                    answer: text.to_string(),
                    meaning: pending.request.condition_for(text),
                });
                (pending.question, clarifications)
            }
            None => (text.to_string(), Vec::new()),
        };
        let evidence = extras.evidence.as_deref();

        let links = link_schema(
            &question,
            evidence,
            &self.schema,
            &self.tools,
            self.strategy.options().max_literals,
        )
        .await;
        let asked: Vec<String> = clarifications.iter().map(|c| c.term.clone()).collect();
        let request = self
            .clarifier
            .clarify(
                &question,
                &self.schema,
                &links,
                self.database.as_ref(),
                Some(&self.model),
                &asked,
            )
            .await;
        let clarify_ms = started.elapsed().as_secs_f64() * 1000.0;
        if let Some(request) = request {
            session.set_pending(question, clarifications, request.clone());
            return Ok(AgentTurn::Clarification(request));
        }

        let history = session.turns().to_vec();
        let input = StrategyInput {
            question: &question,
            evidence,
            database: &self.database,
            schema: &self.schema,
            tools: &self.tools,
            links: Some(&links),
            history: &history,
            clarifications: &clarifications,
            db_id: self.options.db_id.as_deref(),
            cancel: extras.cancel.clone(),
        };
        let strategy_started = Instant::now();
        let answer = match self.strategy.answer(&self.model, &input).await {
            Ok(answer) => answer,
            Err(error) => {
                session.record_answer(
                    question,
                    clarifications,
                    None,
                    None,
                    Some(error.to_string()),
                );
                return Err(error);
            }
        };
        let strategy_ms = strategy_started.elapsed().as_secs_f64() * 1000.0;

        let execute_started = Instant::now();
        let (result, error) = match self
            .database
            .execute(&answer.sql, &self.options.result_limits)
            .await
        {
            Ok(result) => (Some(result), None),
            Err(error) => (None, Some(error.to_string())),
        };
        let execute_ms = execute_started.elapsed().as_secs_f64() * 1000.0;
        session.record_answer(
            question.clone(),
            clarifications.clone(),
            Some(answer.sql.clone()),
            result.as_ref().map(summarise),
            error.clone(),
        );
        let timings = TurnTimings {
            clarify_ms,
            strategy_ms,
            model_ms: answer.usage.model_ms,
            execute_ms,
            total_ms: started.elapsed().as_secs_f64() * 1000.0,
        };
        Ok(AgentTurn::Answer(Box::new(AnsweredTurn {
            question,
            clarifications,
            answer,
            result,
            error,
            timings,
        })))
    }
}
