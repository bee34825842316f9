//! `learnat repl`: argument parsing and wiring; the REPL is `learnat_agent::repl`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::agent_args::AgentArgs;
use anyhow::{Context, Result};
use clap::Args;
use learnat_agent::ChatModel;
use learnat_agent::agent::{Agent, AgentOptions};
use learnat_agent::clarify::ClarifierOptions;
use learnat_agent::frontend::{UnavailableModel, chosen_spec, open_chat_model};
use learnat_agent::repl::Repl;
use learnat_agent::repl::terminal::{TerminalOptions, history_path_from_environment, run_terminal};
use learnat_agent::session::Session;
use learnat_tools::database::open_database;

/// Arguments of `learnat repl`.
#[derive(Args)]
pub struct ReplArgs {
    /// SQLite file (or, with the postgres feature, a postgres:// URL).
    #[arg(long)]
    db: String,
    #[command(flatten)]
    agent: AgentArgs,
    /// Never ask back; always answer.
    #[arg(long)]
    no_clarify: bool,
    /// The history file. Default: $XDG_DATA_HOME/learnat/history, else
    /// ~/.local/share/learnat/history.
    #[arg(long)]
    history: Option<PathBuf>,
    /// Keep no history.
    #[arg(long, conflicts_with = "history")]
    no_history: bool,
    /// Continue a session saved with :save (or by `learnat ask --session`).
    #[arg(long)]
    session: Option<PathBuf>,
}

/// Run `learnat repl`.
pub async fn run(args: ReplArgs) -> Result<ExitCode> {
    let strategy = args.agent.build_default()?;
    let database = open_database(&args.db).await?;
    let session = match &args.session {
        Some(path) => Session::load(path)?,
        None => Session::new(Some(args.db.clone())),
    };
    eprintln!("opening the model…");
    let (model, spec, origin): (Arc<dyn ChatModel>, String, String) =
        match open_chat_model(args.agent.model.as_deref()).await {
            Ok(opened) => (opened.model, opened.spec, opened.origin),
            // The REPL still starts: :run and :schema need no model, and :model can open one.
            Err(error) => {
                let (spec, origin) = chosen_spec(args.agent.model.as_deref())
                    .unwrap_or_else(|_| ("(none)".to_string(), "--model flag".to_string()));
                eprintln!(
                    "warning: cannot open the model {spec} (from {origin}): {error}\n\
                     Questions will fail until `:model SPEC` opens one (`learnat model fetch \
                     qwen2.5-coder-0.5b` gets the default); :run and :schema work."
                );
                let stand_in = UnavailableModel::new(spec.clone(), error.to_string());
                (Arc::new(stand_in), spec, origin)
            }
        };
    let agent = Agent::new(
        model,
        database,
        strategy,
        AgentOptions {
            clarifier: ClarifierOptions {
                enabled: !args.no_clarify,
                ..ClarifierOptions::default()
            },
            ..AgentOptions::default()
        },
    )
    .await
    .with_context(|| format!("cannot read the schema of '{}'", args.db))?;
    let banner = format!(
        "learnat repl on {} ({} tables), model {spec}, strategy {}.\n\
         Ask a question in plain language, or type :help. Ctrl-D leaves.",
        args.db,
        agent.schema().tables.len(),
        args.agent.strategy_name()
    );
    let history_file = match (args.no_history, args.history) {
        (true, _) => None,
        (false, Some(path)) => Some(path),
        (false, None) => history_path_from_environment(),
    };
    let repl = Repl::new(agent, session, spec, origin);
    run_terminal(
        repl,
        TerminalOptions {
            history_file,
            banner: Some(banner),
        },
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}
