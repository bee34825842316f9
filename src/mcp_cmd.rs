//! `learnat mcp`: argument parsing and wiring; the server is `learnat_agent::mcp`.

use std::process::ExitCode;

use crate::agent_args::AgentArgs;
use anyhow::Result;
use clap::Args;
use learnat_agent::agent::AgentOptions;
use learnat_agent::clarify::ClarifierOptions;
use learnat_agent::mcp::{DatabaseSpec, McpOptions, McpServer};

/// Arguments of `learnat mcp`.
#[derive(Args)]
pub struct McpArgs {
    /// Databases to serve: SQLite files (or postgres:// URLs), each named by its file stem or
    /// as NAME=PATH. With several, every tool takes a `database` argument.
    #[arg(long, required = true, num_args = 1..)]
    db: Vec<String>,
    #[command(flatten)]
    agent: AgentArgs,
    /// Never ask back; ask always answers.
    #[arg(long)]
    no_clarify: bool,
    /// Conversations (ask sessions) kept in memory.
    #[arg(long, default_value_t = 256)]
    max_sessions: usize,
}

/// Run `learnat mcp` until the client closes stdin.
pub async fn run(args: McpArgs) -> Result<ExitCode> {
    let databases = args
        .db
        .iter()
        .map(|argument| DatabaseSpec::parse(argument))
        .collect::<Result<Vec<_>, _>>()?;
    let strategy = args.agent.build_default()?;
    let options = McpOptions {
        model_flag: args.agent.model,
        strategy,
        agent_options: AgentOptions {
            clarifier: ClarifierOptions {
                enabled: !args.no_clarify,
                ..ClarifierOptions::default()
            },
            ..AgentOptions::default()
        },
        max_sessions: args.max_sessions,
    };
    let server = McpServer::open(&databases, options).await?;
    tracing::info!(databases = ?server.database_names(), "learnat mcp: serving on stdio");
    server.serve_stdio().await?;
    Ok(ExitCode::SUCCESS)
}
