//! `learnat ask`: one question (or one answer to a clarification) in, SQL and its result out.
//! Wiring only; the work is in `learnat_agent::agent`.
//!
//! Outcomes and exit codes:
//! - an answer whose SQL ran: exit 0; `--json` prints `{"status": "answer", "sql", "columns",
//!   "rows", "row_count", "truncated", "steps", "clarifications", "candidates", "timings",
//!   "usage", ...}`;
//! - an answer whose SQL failed: exit 1 (2 when the read-only layers refused it), the same JSON
//!   with `"error"` set;
//! - a clarification request: exit 3, `{"status": "clarification", "clarification":
//!   {"question", "kind", "term", "options"}, "session": FILE}`; with `--session FILE` the
//!   question is saved there, and the next `learnat ask --session FILE "answer"` continues;
//! - no answer at all (model unavailable, no SQL in the model's reply): exit 1,
//!   `{"status": "error", "error": {"kind", "message"}}` with `--json`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::agent_args::AgentArgs;
use anyhow::{Context, Result};
use clap::Args;
use learnat_agent::agent::{Agent, AgentOptions, AgentTurn, AnsweredTurn};
use learnat_agent::clarify::{ClarificationRequest, ClarifierOptions};
use learnat_agent::model::scripted::open_replay_spec;
use learnat_agent::model::spec::{MODEL_ENV_VAR, ModelDefaults, resolve_model_spec};
use learnat_agent::model::{ChatModel, ModelOptions, open_model};
use learnat_agent::render::render_answer;
use learnat_agent::session::Session;
use learnat_agent::strategy::StrategyOptions;
use learnat_tools::database::open_database;
use learnat_tools::{ExecOptions, ToolsError};
use serde_json::json;

/// Exit code of a clarification request.
pub const EXIT_CLARIFICATION: u8 = 3;
const EXIT_ERROR: u8 = 1;
const EXIT_REFUSED: u8 = 2;

/// Arguments of `learnat ask`.
#[derive(Args)]
pub struct AskArgs {
    /// SQLite file (or, with the postgres feature, a postgres:// URL).
    #[arg(long)]
    db: String,
    #[command(flatten)]
    agent: AgentArgs,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Continue (and save) a session: follow-ups build on earlier turns, and a clarification
    /// asked by one call is answered by the next. Created when missing.
    #[arg(long)]
    session: Option<PathBuf>,
    /// BIRD-style evidence for the question, shown to the model verbatim.
    #[arg(long)]
    evidence: Option<String>,
    /// Never ask back; always answer.
    #[arg(long)]
    no_clarify: bool,
    /// Candidates to sample; above 1 the final SQL is chosen by execution-result voting.
    #[arg(long, default_value_t = 1)]
    samples: usize,
    /// Sampling temperature (0 = greedy).
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Seed of the first sample.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Repair turns per failing SQL: the error goes back to the model, which writes the SQL
    /// again (default: 1).
    #[arg(long)]
    repair_turns: Option<usize>,
    /// Fix a "no such column" error from the schema (rename, requalify, or join the table that
    /// has the column on a foreign key) before any repair turn: on or off (default: on).
    #[arg(long, value_name = "on|off", value_parser = clap::builder::BoolishValueParser::new())]
    relink: Option<bool>,
    /// Most decomposition steps.
    #[arg(long, default_value_t = 5)]
    max_steps: usize,
    /// Rows of the result returned.
    #[arg(long, default_value_t = 1000)]
    max_rows: usize,
    /// Time limit of the final query, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u64,
    /// The question (or the answer to a pending clarification); several words are joined.
    #[arg(required = true)]
    question: Vec<String>,
}

/// The model the flags, `LEARNAT_MODEL` or the config file name; `replay:FILE` (a recorded
/// cassette, for tests) is accepted too.
async fn open_chat_model(flag: Option<&str>) -> Result<Arc<dyn ChatModel>> {
    let raw = flag
        .map(str::to_string)
        .or_else(|| std::env::var(MODEL_ENV_VAR).ok())
        .filter(|spec| !spec.trim().is_empty());
    if let Some(replayed) = raw.as_deref().and_then(open_replay_spec) {
        return Ok(replayed?);
    }
    let resolved = resolve_model_spec(flag, &ModelDefaults::from_environment())?;
    let model = open_model(&resolved.spec, &ModelOptions::default())
        .await
        .with_context(|| {
            format!(
                "cannot open the model {} (from {})",
                resolved.spec, resolved.origin
            )
        })?;
    Ok(model)
}

/// Run `learnat ask`.
pub async fn run(args: AskArgs) -> Result<ExitCode> {
    let question = args.question.join(" ");
    match answer(&args, &question).await {
        Ok(code) => Ok(code),
        Err(error) if args.json => {
            let kind = error
                .downcast_ref::<learnat_agent::AgentError>()
                .map(|e| e.kind())
                .or_else(|| error.downcast_ref::<ToolsError>().map(ToolsError::kind))
                .unwrap_or("error");
            let message = error
                .chain()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(": ");
            println!(
                "{}",
                json!({"status": "error", "error": {"kind": kind, "message": message}})
            );
            eprintln!("error: {message}");
            Ok(ExitCode::from(EXIT_ERROR))
        }
        Err(error) => Err(error),
    }
}

async fn answer(args: &AskArgs, question: &str) -> Result<ExitCode> {
    let mut options = StrategyOptions::interactive(args.agent.strategy_name());
    options.samples = args.samples.max(1);
    options.temperature = args.temperature;
    options.seed = args.seed;
    options.max_steps = args.max_steps.max(1);
    if let Some(repair_turns) = args.repair_turns {
        options.repair_turns = repair_turns;
    }
    if let Some(relink) = args.relink {
        options.relink = relink;
    }
    let strategy = args.agent.build(options)?;

    let mut session = match &args.session {
        Some(path) if path.exists() => Session::load(path)?,
        _ => Session::new(Some(args.db.clone())),
    };
    let database = open_database(&args.db).await?;
    let model = open_chat_model(args.agent.model.as_deref()).await?;
    let agent = Agent::new(
        Arc::clone(&model),
        database,
        strategy,
        AgentOptions {
            clarifier: ClarifierOptions {
                enabled: !args.no_clarify,
                ..ClarifierOptions::default()
            },
            result_limits: ExecOptions {
                timeout: Duration::from_millis(args.timeout_ms),
                max_rows: args.max_rows,
                ..ExecOptions::default()
            },
            ..AgentOptions::default()
        },
    )
    .await?;
    let respond = learnat_agent::agent::RespondOptions {
        evidence: args.evidence.clone(),
        ..Default::default()
    };
    let outcome = agent.respond_with(&mut session, question, &respond).await;
    // The session is saved whatever happened, so a failed turn is remembered too.
    if let Some(path) = &args.session {
        session.save(path)?;
    }
    match outcome? {
        AgentTurn::Clarification(request) => {
            print_clarification(args, &request)?;
            Ok(ExitCode::from(EXIT_CLARIFICATION))
        }
        AgentTurn::Answer(answered) => {
            if args.json {
                print_answer_json(&answered, model.name())?;
            } else {
                print_answer(&answered)?;
            }
            Ok(match &answered.error {
                None => ExitCode::SUCCESS,
                Some(error) if error.starts_with("refused") => ExitCode::from(EXIT_REFUSED),
                Some(_) => ExitCode::from(EXIT_ERROR),
            })
        }
    }
}

fn print_clarification(args: &AskArgs, request: &ClarificationRequest) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let value = json!({
            "status": "clarification",
            "clarification": request,
            "session": args.session.as_ref().map(|p| p.display().to_string()),
        });
        writeln!(stdout, "{value}")?;
        return Ok(());
    }
    writeln!(stdout, "? {}", request.question)?;
    match &args.session {
        Some(path) => writeln!(
            stdout,
            "(answer with: learnat ask --db {} --session {} \"your answer\")",
            args.db,
            path.display()
        )?,
        None => writeln!(
            stdout,
            "(pass --session FILE to answer it in a second call, or --no-clarify to let the \
             model guess)"
        )?,
    }
    Ok(())
}

fn print_answer(answered: &AnsweredTurn) -> Result<()> {
    writeln!(std::io::stdout().lock(), "{}", render_answer(answered))?;
    Ok(())
}

fn print_answer_json(answered: &AnsweredTurn, model: &str) -> Result<()> {
    let (columns, rows, truncated) = match &answered.result {
        Some(result) => (json!(result.columns), json!(result.rows), result.truncated),
        None => (json!([]), json!([]), false),
    };
    let row_count = answered.result.as_ref().map_or(0, |r| r.rows.len());
    let value = json!({
        "status": "answer",
        "question": answered.question,
        "sql": answered.answer.sql,
        "columns": columns,
        "rows": rows,
        "row_count": row_count,
        "truncated": truncated,
        "error": answered.error,
        "steps": answered.answer.steps,
        "clarification": null,
        "clarifications": answered.clarifications,
        "candidates": answered.answer.candidates,
        "relinks": answered.answer.relinks,
        "strategy": answered.answer.strategy,
        "model": model,
        "timings": answered.timings,
        "usage": answered.answer.usage,
    });
    writeln!(std::io::stdout().lock(), "{value}")?;
    Ok(())
}
