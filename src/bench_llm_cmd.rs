//! `learnat bench llm`: argument parsing and wiring to [`learnat_benchmarks::bench_llm`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use learnat_benchmarks::bench_llm::{BenchLlmOptions, run};

/// Arguments of `learnat bench llm`.
#[derive(Args)]
pub struct BenchLlmArgs {
    /// The model, as `gguf:PATH` (a local GGUF file) or `gguf:NAME` (a fetched model).
    #[arg(long)]
    model: String,
    /// Threads for learnat and for llama.cpp.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Prompt length of the prefill measurement, in tokens.
    #[arg(long, default_value_t = 512)]
    prompt_tokens: usize,
    /// Tokens of the decode measurement.
    #[arg(long, default_value_t = 128)]
    decode_tokens: usize,
    /// Also run llama.cpp (llama-cpp-python, installed on first use into
    /// ~/.cache/learnat/llama-cpp-venv, ~8 minutes) on the same file, prompt and threads, and
    /// print the ratios.
    #[arg(long)]
    reference_llama_cpp: bool,
    /// With --reference-llama-cpp: measure learnat and llama.cpp in turn this many times and
    /// report the median ratios (a neighbour's load on a shared machine then weighs on both).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Correctness check against llama.cpp: teacher-forced top-1 agreement over 5 prompts x 64
    /// tokens, and greedy SQL for Spider dev questions (identical or execution-equivalent).
    #[arg(long)]
    check_against_llama_cpp: bool,
    /// Spider directory (dev.json, database/) for the SQL part of the check.
    /// Default: ../shared/data/spider when it exists.
    #[arg(long)]
    spider: Option<PathBuf>,
    /// Number of Spider dev questions of the check.
    #[arg(long, default_value_t = 20)]
    sql_questions: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `learnat bench llm`.
pub fn run_bench_llm(args: BenchLlmArgs) -> Result<ExitCode> {
    let Some(path) = args.model.strip_prefix("gguf:") else {
        bail!(
            "--model '{}' is not a local model: bench llm measures gguf:PATH and gguf:NAME models",
            args.model
        );
    };
    if args.threads == 0 {
        bail!("--threads must be at least 1");
    }
    if args.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let models_dir = learnat_agent::model::fetch::default_models_dir()?;
    let file = learnat_agent::model::spec::resolve_gguf_file(Path::new(path), &models_dir)?;
    let mut options = BenchLlmOptions::new(file, args.threads);
    options.prompt_tokens = args.prompt_tokens;
    options.decode_tokens = args.decode_tokens;
    options.reference_llama_cpp = args.reference_llama_cpp;
    options.rounds = args.rounds;
    options.check_against_llama_cpp = args.check_against_llama_cpp;
    options.sql_questions = args.sql_questions;
    options.spider_dir = args.spider.or_else(|| {
        learnat_tools::shared_data::shared_data_dir()
            .map(|dir| dir.join("spider"))
            .filter(|dir| dir.join("dev.json").exists())
    });
    // The bench drives the model on runtimes of its own, which cannot start on a thread of the
    // CLI's runtime: it runs on a plain thread.
    let report = std::thread::scope(|scope| {
        scope
            .spawn(|| run(&options))
            .join()
            .map_err(|_| anyhow::anyhow!("bench llm panicked"))
    })?
    .context("bench llm failed")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(ExitCode::SUCCESS)
}
