//! `learnat repl`: a conversation with one database at a terminal.
//!
//! The logic is here and testable without a terminal: [`Repl::handle`] takes one complete
//! input (a question, the answer to a clarification question, or a `:command`), writes what a
//! person should see, and can be interrupted by a future the caller resolves (Ctrl-C).
//! [`terminal::run_terminal`] is the rustyline loop around it: prompts, multi-line input
//! ([`input`]), the history file, Ctrl-C and Ctrl-D.
//!
//! ```no_run
//! # async fn demo(agent: learnat_agent::agent::Agent) -> learnat_agent::AgentResult<()> {
//! use learnat_agent::repl::{Flow, Repl};
//! use learnat_agent::session::Session;
//! let mut repl = Repl::new(agent, Session::new(Some("shop.sqlite".into())), "replay:c.json", "test");
//! let mut screen = Vec::new();
//! let flow = repl.handle("How many customers?", std::future::pending(), &mut screen).await?;
//! assert_eq!(flow, Flow::Continue);
//! # Ok(()) }
//! ```

pub mod command;
pub mod input;
pub mod terminal;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::io::Write;

use crate::agent::{Agent, AgentTurn, AnsweredTurn, RespondOptions};
use crate::error::{AgentError, AgentResult};
use crate::frontend::open_spec;
use crate::model::CancelFlag;
use crate::render::{render_answer, render_clarification, render_steps};
use crate::session::Session;
use command::{ReplCommand, ReplInput, parse_input};
use learnat_tools::render::render_table;

/// What the REPL does after an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next input.
    Continue,
    /// Leave.
    Quit,
}

/// The line printed while the agent works, so the user knows Ctrl-C is there.
pub const WORKING_LINE: &str = "working… (Ctrl-C cancels)";

/// The line printed when Ctrl-C stopped a generation or a query.
pub const CANCELLED_LINE: &str = "cancelled";

/// The text of `:help`.
pub const HELP_TEXT: &str = "\
Type a question about the database in plain language; the agent shows each step of its plan
with the executed sub-query's first rows, then the final SQL and its result. When it asks a
question back (a line starting with '?'), your next input is the answer (for numbered options,
the number will do). Follow-up questions build on the earlier answers.

Commands:
  :schema [TABLE]  the schema (compact), or one table's CREATE TABLE with sample values
  :sql             the SQL of the last answer
  :plan            the steps of the last answer, with their outcomes
  :run SQL         run SQL directly (read-only; writes are refused)
  :model [SPEC]    show the model, or switch (gguf:PATH|NAME, openai:MODEL[@URL])
  :reset           forget the conversation and any pending question
  :save FILE       save the session as JSON      :load FILE  continue a saved session
  :help            this text                     :quit       leave (or Ctrl-D)

Input: a line ending in '\\' continues on the next line; so does an unclosed '(' or '\"'
(and, after :run, an unclosed SQL string). A blank line ends the input whatever is open.
Ctrl-C clears the line, or cancels the running generation or query; Ctrl-D leaves.
History: $XDG_DATA_HOME/learnat/history (default ~/.local/share/learnat/history).";

/// The state of one REPL: the agent, the conversation and the last answer.
pub struct Repl {
    agent: Agent,
    session: Session,
    model_spec: String,
    model_origin: String,
    last_answer: Option<AnsweredTurn>,
}

/// The error as one line (the REPL prints every failure in one line and goes on).
fn one_line(error: &AgentError) -> String {
    error.to_string().replace('\n', " ")
}

/// Map an I/O failure writing to the terminal.
fn screen_error(error: std::io::Error) -> AgentError {
    AgentError::Interface {
        what: "cannot write to the terminal",
        message: error.to_string(),
    }
}

impl Repl {
    /// A REPL over `agent` continuing `session`; `model_spec` and `model_origin` say which model
    /// the agent has and where its spec came from (shown by `:model`).
    pub fn new(
        agent: Agent,
        session: Session,
        model_spec: impl Into<String>,
        model_origin: impl Into<String>,
    ) -> Repl {
        Repl {
            agent,
            session,
            model_spec: model_spec.into(),
            model_origin: model_origin.into(),
            last_answer: None,
        }
    }

    /// The agent.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// The conversation so far.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The last answered turn of this REPL (not of a loaded session).
    pub fn last_answer(&self) -> Option<&AnsweredTurn> {
        self.last_answer.as_ref()
    }

    /// Handle one complete input, writing what the user sees to `screen`. `interrupt` resolves
    /// when the user presses Ctrl-C: a running generation or query is then cancelled (the
    /// conversation is left as it was before the input) and [`CANCELLED_LINE`] is printed.
    /// Failures (model down, bad SQL, unknown table) are printed as one `error: ...` line; the
    /// only error returned is failing to write to `screen`.
    pub async fn handle<W: Write>(
        &mut self,
        text: &str,
        interrupt: impl Future<Output = ()>,
        screen: &mut W,
    ) -> AgentResult<Flow> {
        let flow = match parse_input(text) {
            Ok(ReplInput::Empty) => Flow::Continue,
            Ok(ReplInput::Question(question)) => {
                self.ask(&question, interrupt, screen).await?;
                Flow::Continue
            }
            Ok(ReplInput::Command(command)) => self.command(command, interrupt, screen).await?,
            Err(error) => {
                writeln!(screen, "error: {}", one_line(&error)).map_err(screen_error)?;
                Flow::Continue
            }
        };
        screen.flush().map_err(screen_error)?;
        Ok(flow)
    }

    /// A question, or the answer to the pending clarification.
    async fn ask<W: Write>(
        &mut self,
        text: &str,
        interrupt: impl Future<Output = ()>,
        screen: &mut W,
    ) -> AgentResult<()> {
        let text = self
            .numbered_option(text)
            .unwrap_or_else(|| text.to_string());
        writeln!(screen, "{WORKING_LINE}").map_err(screen_error)?;
        screen.flush().map_err(screen_error)?;
        let before = self.session.clone();
        let cancel = CancelFlag::new();
        let options = RespondOptions {
            cancel: cancel.clone(),
            ..RespondOptions::default()
        };
        let outcome = {
            let respond = self.agent.respond_with(&mut self.session, &text, &options);
            tokio::pin!(respond, interrupt);
            // Biased: an interrupt that is already there wins, before the turn runs a step.
            tokio::select! {
                biased;
                () = &mut interrupt => None,
                turn = &mut respond => Some(turn),
            }
        };
        let out = |screen: &mut W, text: String| writeln!(screen, "{text}").map_err(screen_error);
        match outcome {
            None | Some(Err(AgentError::Cancelled)) => {
                // Raised for a generation that outlives the dropped future (a local model's
                // blocking thread stops at its next token); the conversation forgets the input.
                cancel.cancel();
                self.session = before;
                out(screen, CANCELLED_LINE.to_string())
            }
            Some(Err(error)) => out(screen, format!("error: {}", one_line(&error))),
            Some(Ok(AgentTurn::Clarification(request))) => out(
                screen,
                format!(
                    "{}\n(your next input is the answer; :reset drops the question)",
                    render_clarification(&request)
                ),
            ),
            Some(Ok(AgentTurn::Answer(answered))) => {
                out(screen, render_answer(&answered))?;
                self.last_answer = Some(*answered);
                Ok(())
            }
        }
    }

    /// The option a number answers, when a clarification with options is pending.
    fn numbered_option(&self, text: &str) -> Option<String> {
        let pending = self.session.pending()?;
        let number: usize = text.trim().parse().ok()?;
        let option = pending.request.options.get(number.checked_sub(1)?)?;
        Some(option.clone())
    }

    async fn command<W: Write>(
        &mut self,
        command: ReplCommand,
        interrupt: impl Future<Output = ()>,
        screen: &mut W,
    ) -> AgentResult<Flow> {
        let text = match command {
            ReplCommand::Quit => return Ok(Flow::Quit),
            ReplCommand::Help => HELP_TEXT.to_string(),
            ReplCommand::Schema(table) => self.schema_text(table.as_deref()),
            ReplCommand::Sql => self
                .last_sql()
                .unwrap_or_else(|| "no SQL yet: ask a question first".to_string()),
            ReplCommand::Plan => self.plan_text(),
            ReplCommand::Run(sql) => {
                let run = self.agent.run_sql(&sql);
                tokio::pin!(run, interrupt);
                tokio::select! {
                    biased;
                    () = &mut interrupt => CANCELLED_LINE.to_string(),
                    result = &mut run => match result {
                        Ok(result) => render_table(&result),
                        Err(error) => format!("error: {}", one_line(&error)),
                    },
                }
            }
            ReplCommand::Model(None) => self.model_text(),
            ReplCommand::Model(Some(spec)) => {
                let open = open_spec(&spec, ":model command".to_string());
                tokio::pin!(open, interrupt);
                tokio::select! {
                    biased;
                    () = &mut interrupt => CANCELLED_LINE.to_string(),
                    opened = &mut open => match opened {
                        Ok(opened) => {
                            self.agent.set_model(opened.model);
                            self.model_spec = opened.spec;
                            self.model_origin = opened.origin;
                            self.model_text()
                        }
                        Err(error) => format!(
                            "error: cannot open the model '{spec}': {} (still using {})",
                            one_line(&error),
                            self.model_spec
                        ),
                    },
                }
            }
            ReplCommand::Reset => {
                self.session.reset();
                self.last_answer = None;
                "the conversation is forgotten; the next question starts a new one".to_string()
            }
            ReplCommand::Save(path) => match self.session.save(&path) {
                Ok(()) => format!(
                    "saved {} turn{} to {}",
                    self.session.turns().len(),
                    if self.session.turns().len() == 1 {
                        ""
                    } else {
                        "s"
                    },
                    path.display()
                ),
                Err(error) => format!("error: {}", one_line(&error)),
            },
            ReplCommand::Load(path) => match Session::load(&path) {
                Ok(session) => self.load_session(session, &path),
                Err(error) => format!("error: {}", one_line(&error)),
            },
        };
        writeln!(screen, "{text}").map_err(screen_error)?;
        Ok(Flow::Continue)
    }

    fn schema_text(&self, table: Option<&str>) -> String {
        let schema = self.agent.schema();
        match table {
            None => schema.to_compact().trim_end().to_string(),
            Some(name) => match schema.table(name) {
                Some(table) => schema
                    .to_ddl_tables(&[table.name.as_str()])
                    .trim_end()
                    .to_string(),
                None => format!(
                    "error: no table '{name}'; the tables are: {}",
                    schema.table_names().join(", ")
                ),
            },
        }
    }

    /// The last SQL: of this REPL's last answer, else of the session's last turn (after
    /// `:load`).
    fn last_sql(&self) -> Option<String> {
        match &self.last_answer {
            Some(answered) => Some(answered.answer.sql.clone()),
            None => self.session.last_turn().and_then(|turn| turn.sql.clone()),
        }
    }

    fn plan_text(&self) -> String {
        match &self.last_answer {
            None => "no plan yet: ask a question first".to_string(),
            Some(answered) if answered.answer.steps.is_empty() => format!(
                "the last answer has no decomposition steps (strategy {}); its SQL:\n  {}",
                answered.answer.strategy, answered.answer.sql
            ),
            Some(answered) => format!(
                "{}\nFinal SQL:\n  {}",
                render_steps(&answered.answer.steps),
                answered.answer.sql
            ),
        }
    }

    fn model_text(&self) -> String {
        format!(
            "model: {} (spec {}, from the {})",
            self.agent.model().name(),
            self.model_spec,
            self.model_origin
        )
    }

    fn load_session(&mut self, session: Session, path: &std::path::Path) -> String {
        let mut text = format!(
            "loaded {} turn{} from {}",
            session.turns().len(),
            if session.turns().len() == 1 { "" } else { "s" },
            path.display()
        );
        if let (Some(saved_for), Some(current)) = (session.database(), self.session.database())
            && saved_for != current
        {
            text.push_str(&format!(
                " (it was saved for {saved_for}; this REPL is on {current})"
            ));
        }
        if let Some(pending) = session.pending() {
            text.push_str(&format!(
                "\nIt was waiting for an answer:\n{}",
                render_clarification(&pending.request)
            ));
        }
        self.session = session;
        self.last_answer = None;
        text
    }
}
