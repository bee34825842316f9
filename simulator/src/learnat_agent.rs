//! learnat's own [`Agent`] as a player of the protocols, in the three variants the
//! measurement compares: with clarification, with asking disabled, and the oracle that is
//! given the clear question (the upper bound).
//!
//! A clarification request becomes `ask_user`, an answer becomes `submit`. The agent's
//! clarifier decides when to ask; in c-interact it may ask as many questions as the task's
//! clarification budget allows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use learnat_agent::agent::{Agent, AgentOptions, AgentTurn};
use learnat_agent::clarify::ClarifierOptions;
use learnat_agent::session::Session;
use learnat_agent::strategy::Strategy;
use learnat_agent::{AgentError, ChatModel};
use learnat_tools::schema::{Schema, introspect};
use serde::{Deserialize, Serialize};

use crate::error::{SimResult, SimulatorError};
use crate::protocol::{AgentMove, Episode, InteractiveAgent, Observation, TaskContext};

/// Which agent of the measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentVariant {
    /// Asks back when its clarifier finds an ambiguity.
    Clarify,
    /// Never asks; answers the ambiguous question as it is.
    NoAsk,
    /// Given the clear question; never asks (the upper bound).
    Oracle,
}

impl AgentVariant {
    /// All three, in report order.
    pub const ALL: [AgentVariant; 3] = [
        AgentVariant::Clarify,
        AgentVariant::NoAsk,
        AgentVariant::Oracle,
    ];

    /// `clarify`, `no-ask` or `oracle`.
    pub fn name(self) -> &'static str {
        match self {
            AgentVariant::Clarify => "clarify",
            AgentVariant::NoAsk => "no-ask",
            AgentVariant::Oracle => "oracle",
        }
    }

    /// Parses a name of [`AgentVariant::name`].
    pub fn parse(text: &str) -> SimResult<AgentVariant> {
        AgentVariant::ALL
            .into_iter()
            .find(|v| v.name() == text)
            .ok_or_else(|| SimulatorError::InvalidInput {
                message: format!("unknown agent '{text}' (use clarify, no-ask or oracle)"),
            })
    }
}

/// learnat's agent (a model and a strategy) in one variant.
pub struct LearnatAgent {
    model: Arc<dyn ChatModel>,
    strategy: Arc<dyn Strategy>,
    variant: AgentVariant,
    schemas: Mutex<HashMap<String, Arc<Schema>>>,
}

impl LearnatAgent {
    /// `variant` of the agent over `model` with `strategy`.
    pub fn new(
        model: Arc<dyn ChatModel>,
        strategy: Arc<dyn Strategy>,
        variant: AgentVariant,
    ) -> LearnatAgent {
        LearnatAgent {
            model,
            strategy,
            variant,
            schemas: Mutex::default(),
        }
    }

    async fn schema(&self, context: &TaskContext) -> SimResult<Arc<Schema>> {
        let cached = self
            .schemas
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&context.db_id)
            .cloned();
        if let Some(schema) = cached {
            return Ok(schema);
        }
        let options = AgentOptions::default().introspection;
        let schema = Arc::new(introspect(context.database.as_ref(), &options).await?);
        self.schemas
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(context.db_id.clone(), Arc::clone(&schema));
        Ok(schema)
    }
}

#[async_trait]
impl InteractiveAgent for LearnatAgent {
    fn name(&self) -> String {
        self.variant.name().to_string()
    }

    fn gets_clear_question(&self) -> bool {
        self.variant == AgentVariant::Oracle
    }

    async fn start(&self, context: TaskContext) -> SimResult<Box<dyn Episode>> {
        let schema = self.schema(&context).await?;
        let options = AgentOptions {
            clarifier: ClarifierOptions {
                enabled: self.variant == AgentVariant::Clarify,
                model_check: false,
                max_questions: context.clarification_budget.max(1),
            },
            db_id: Some(context.db_id.clone()),
            ..AgentOptions::default()
        };
        let agent = Agent::with_schema(
            Arc::clone(&self.model),
            Arc::clone(&context.database),
            schema,
            Arc::clone(&self.strategy),
            options,
        );
        Ok(Box::new(LearnatEpisode {
            agent,
            session: Session::new(Some(context.db_id)),
        }))
    }
}

struct LearnatEpisode {
    agent: Agent,
    session: Session,
}

#[async_trait]
impl Episode for LearnatEpisode {
    async fn next(&mut self, observation: &Observation) -> SimResult<AgentMove> {
        let text = match observation {
            Observation::Question { text }
            | Observation::Reply { text }
            | Observation::Feedback { text }
            | Observation::Tool { text } => text,
        };
        match self.agent.respond(&mut self.session, text).await {
            Ok(AgentTurn::Clarification(request)) => Ok(AgentMove::Ask {
                question: request.question,
            }),
            Ok(AgentTurn::Answer(answered)) => Ok(AgentMove::Submit {
                sql: answered.answer.sql,
            }),
            // The model wrote no usable SQL, or its SQL was refused: a failed move, not a
            // failed run.
            Err(error @ (AgentError::NoSql { .. } | AgentError::Tools(_))) => {
                Ok(AgentMove::Invalid {
                    reason: error.to_string(),
                })
            }
            Err(error) => Err(error.into()),
        }
    }
}
