//! The model and strategy flags shared by the commands that talk to the agent (ask, repl, mcp,
//! demo).

use clap::Args;

/// `--model SPEC --strategy NAME`.
#[derive(Args)]
pub struct AgentArgs {
    /// Model spec: gguf:PATH, gguf:NAME or openai:MODEL[@BASE_URL]. Default: $LEARNAT_MODEL,
    /// the config file, else gguf:qwen2.5-coder-0.5b (`learnat model fetch qwen2.5-coder-0.5b`).
    #[arg(long)]
    pub model: Option<String>,
    /// How questions become SQL: zero-shot (the default: what an untrained small model does
    /// best) or decompose (LearNAT sub-questions, each sub-query executed and fed back; meant for
    /// a model trained in that format).
    #[arg(long, default_value = "zero-shot")]
    pub strategy: String,
}
