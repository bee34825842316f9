//! `learnat synth`: LearNAT decomposition synthesis (MCTS with AST-guided pruning) over a Spider
//! split, writing SFT trajectories, preference pairs, TRL exports and a report. Wiring only; the
//! work is in `learnat_trainer::synth`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use learnat_agent::frontend::open_chat_model;
use learnat_trainer::synth::{SearchOptions, SynthOptions, run_synthesis};

/// Arguments of `learnat synth`.
#[derive(Args)]
pub struct SynthArgs {
    /// The Spider folder (train_spider.json, database/…).
    #[arg(long)]
    data: PathBuf,
    /// Which questions: train, others or dev.
    #[arg(long, default_value = "train")]
    split: String,
    /// The teacher model: gguf:PATH|NAME or openai:MODEL[@BASE_URL].
    #[arg(long)]
    teacher: String,
    /// Output folder; a folder with an earlier run of the same settings is resumed.
    #[arg(long)]
    out: PathBuf,
    /// Only the first N questions of the split.
    #[arg(long)]
    limit: Option<usize>,
    /// Questions searched at the same time.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Teacher requests in flight at most (default: --jobs).
    #[arg(long)]
    teacher_concurrency: Option<usize>,
    /// Base seed of the teacher's sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// MCTS simulations (teacher expansions) per question at most.
    #[arg(long, default_value_t = 50)]
    simulations: usize,
    /// Steps per decomposition at most.
    #[arg(long, default_value_t = 5)]
    depth: usize,
    /// Candidate steps per expansion.
    #[arg(long, default_value_t = 3)]
    k: usize,
    /// Reward weight of node similarity (1 − α weighs tree-edit-distance similarity).
    #[arg(long, default_value_t = 0.5)]
    alpha: f64,
    /// UCT exploration constant.
    #[arg(long, default_value_t = 1.41)]
    exploration: f64,
    /// Teacher sampling temperature.
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    /// Tokens per teacher completion at most.
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    /// The ablation: expand every step, not only the progressive ones.
    #[arg(long)]
    no_ast_pruning: bool,
    /// Time limit of each step's execution, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    step_timeout_ms: u64,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: SynthArgs) -> Result<ExitCode> {
    let opened = open_chat_model(Some(&args.teacher))
        .await
        .with_context(|| format!("cannot open the teacher {}", args.teacher))?;
    eprintln!("teacher: {} ({})", opened.model.name(), opened.spec);
    let options = SynthOptions {
        data: args.data,
        split: args.split,
        out: args.out,
        limit: args.limit,
        jobs: args.jobs.max(1),
        teacher_concurrency: args.teacher_concurrency.unwrap_or(args.jobs).max(1),
        teacher_spec: opened.spec.clone(),
        search: SearchOptions {
            simulations: args.simulations,
            max_depth: args.depth,
            k: args.k,
            alpha: args.alpha,
            exploration: args.exploration,
            ast_pruning: !args.no_ast_pruning,
            temperature: args.temperature,
            max_tokens: args.max_tokens,
            seed: args.seed,
        },
        step_timeout: Duration::from_millis(args.step_timeout_ms),
    };
    let progress = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} questions · {msg} · {elapsed} (eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let stats = run_synthesis(&options, opened.model, &progress).await;
    progress.finish_and_clear();
    let stats = stats.with_context(|| format!("synthesis into {}", options.out.display()))?;
    if stats.skipped_done > 0 {
        eprintln!(
            "resumed: {} question(s) already done in {} were skipped",
            stats.skipped_done,
            options.out.display()
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        println!("{}", stats.summary());
        println!(
            "wrote {} (sft.jsonl, pairs.jsonl, questions.jsonl, trl_sft.jsonl, trl_dpo.jsonl, \
             stats.json)",
            options.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
