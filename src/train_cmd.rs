//! `learnat train sft|mdpo|grpo|merge` and `learnat bench train`: argument parsing and wiring to
//! [`learnat_trainer::train`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use learnat_agent::model::gguf::adapter::TargetModule;
use learnat_trainer::train::bench::bench_train;
use learnat_trainer::train::grpo::GrpoOptions;
use learnat_trainer::train::job::{
    JobOptions, JobReport, resolve_base, run_grpo_job, run_preference_job, run_sft_job,
};
use learnat_trainer::train::lora::LoraSettings;
use learnat_trainer::train::merge::{merge_gguf, parse_quantization};
use learnat_trainer::train::model::{TrainModel, load_gguf_base};
use learnat_trainer::train::objectives::{GrpoSettings, PreferenceObjective};
use learnat_trainer::train::optim::AdamWSettings;
use learnat_trainer::train::run::RunOptions;

/// `learnat train ...`.
#[derive(Subcommand)]
pub enum TrainCommand {
    /// Supervised fine-tuning on sft.jsonl (loss on the assistant completion only).
    Sft(SftArgs),
    /// Margin-aware DPO (or plain DPO with --objective dpo) on pairs.jsonl.
    Mdpo(MdpoArgs),
    /// GRPO with execution rewards on Spider-style questions.
    Grpo(GrpoArgs),
    /// Merge an adapter into its base model and write a re-quantized GGUF.
    Merge(MergeArgs),
}

/// Flags every training command shares.
#[derive(Args)]
pub struct CommonArgs {
    /// Base model: gguf:PATH or gguf:NAME (`learnat model list`).
    #[arg(long)]
    base: String,
    /// Training data file.
    #[arg(long)]
    data: PathBuf,
    /// Output directory: adapter, train_log.jsonl, checkpoint/.
    #[arg(long)]
    out: PathBuf,
    /// LoRA rank.
    #[arg(long, default_value_t = 16)]
    rank: usize,
    /// LoRA alpha (the update is scaled by alpha / rank).
    #[arg(long, default_value_t = 32.0)]
    alpha: f64,
    /// Dropout on the LoRA input.
    #[arg(long, default_value_t = 0.05)]
    dropout: f64,
    /// Adapted projections: comma-separated q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj, or all.
    #[arg(long, default_value = "all")]
    target_modules: String,
    /// Peak learning rate.
    #[arg(long, default_value_t = 2e-4)]
    lr: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f64,
    /// Linear warmup steps.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Cosine floor as a fraction of the peak learning rate.
    #[arg(long, default_value_t = 0.1)]
    min_lr_ratio: f64,
    /// Passes over the data.
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Examples per optimiser step (gradient accumulation).
    #[arg(long, default_value_t = 8)]
    grad_accum: usize,
    /// Stop after this many optimiser steps.
    #[arg(long)]
    max_steps: Option<usize>,
    /// Stop this process after N steps with a checkpoint; continue later with --resume.
    #[arg(long)]
    stop_after: Option<usize>,
    /// Sequences longer than this many tokens are skipped.
    #[arg(long, default_value_t = 1024)]
    max_seq_len: usize,
    /// Use only the first N records.
    #[arg(long)]
    limit: Option<usize>,
    /// Checkpoint every N steps (and always at the end).
    #[arg(long, default_value_t = 50)]
    checkpoint_every: usize,
    /// Continue from OUT/checkpoint.
    #[arg(long)]
    resume: bool,
    /// Start from this adapter (e.g. the SFT adapter before MDPO); it is also the reference.
    #[arg(long)]
    init_adapter: Option<PathBuf>,
    /// Seed of initialisation, shuffling, dropout and sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Start even if the memory estimate exceeds the available memory.
    #[arg(long)]
    ignore_memory_check: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct SftArgs {
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum Objective {
    /// −log σ(Δ − Δr) (the paper).
    Margin,
    /// −log σ(Δ − α·log Δr) (the reference code).
    LogMargin,
    /// Plain DPO, the ablation.
    Dpo,
}

#[derive(Args)]
pub struct MdpoArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Which objective.
    #[arg(long, value_enum, default_value_t = Objective::Margin)]
    objective: Objective,
    /// β of the implicit reward.
    #[arg(long, default_value_t = 0.1)]
    beta: f64,
    /// α of the log-margin variant.
    #[arg(long, default_value_t = 1.0)]
    margin_alpha: f64,
}

#[derive(Args)]
pub struct GrpoArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Databases: DIR/db_id/db_id.sqlite (Spider's database/ folder).
    #[arg(long)]
    db_dir: PathBuf,
    /// Group size G.
    #[arg(long, default_value_t = 4)]
    group: usize,
    /// Longest sampled completion.
    #[arg(long, default_value_t = 128)]
    max_new_tokens: usize,
    /// Sampling temperature.
    #[arg(long, default_value_t = 1.0)]
    temperature: f32,
    /// Nucleus mass.
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Clip range ε.
    #[arg(long, default_value_t = 0.2)]
    clip: f64,
    /// KL weight β.
    #[arg(long, default_value_t = 0.04)]
    kl_beta: f64,
}

#[derive(Args)]
pub struct MergeArgs {
    /// Base model: gguf:PATH or gguf:NAME.
    #[arg(long)]
    base: String,
    /// Adapter directory (adapter_config.json, adapter_model.safetensors).
    #[arg(long)]
    adapter: PathBuf,
    /// The merged GGUF to write.
    #[arg(long)]
    out: PathBuf,
    /// Type of the merged matrices: q8_0, f16 or f32.
    #[arg(long, default_value = "q8_0")]
    quantization: String,
}

/// `learnat bench train`.
#[derive(Args)]
pub struct BenchTrainArgs {
    /// Base model: gguf:PATH or gguf:NAME.
    #[arg(long, default_value = "gguf:qwen2.5-coder-0.5b")]
    model: String,
    /// Tokens per step (one sequence; the second half carries the loss).
    #[arg(long, default_value_t = 256)]
    seq_len: usize,
    /// Timed steps (after one warm-up step).
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// LoRA rank (all projections).
    #[arg(long, default_value_t = 16)]
    rank: usize,
    /// Also run the PyTorch + PEFT reference (python/bench_peft.py) with this Python (one with
    /// torch, transformers, peft and gguf installed) on the same file, sequence and steps.
    #[arg(long)]
    reference_peft: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs python/bench_peft.py; returns its JSON report.
fn run_peft_reference(
    python: &std::path::Path,
    model: &std::path::Path,
    args: &BenchTrainArgs,
    threads: usize,
) -> Result<serde_json::Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/bench_peft.py");
    eprintln!("running the PyTorch + PEFT reference ({script})...");
    let output = std::process::Command::new(python)
        .arg(script)
        .arg("--gguf")
        .arg(model)
        .args([
            "--seq-len",
            &args.seq_len.to_string(),
            "--steps",
            &args.steps.to_string(),
        ])
        .args([
            "--rank",
            &args.rank.to_string(),
            "--threads",
            &threads.to_string(),
        ])
        .output()
        .with_context(|| format!("cannot run '{}'", python.display()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        bail!(
            "the PEFT reference failed ({}): {}",
            output.status,
            tail.join(" | ")
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line)
        .with_context(|| format!("the PEFT reference printed no JSON report: {line}"))
}

fn job_options(common: &CommonArgs) -> Result<JobOptions> {
    let targets: Vec<TargetModule> =
        LoraSettings::parse_targets(&common.target_modules).map_err(anyhow::Error::msg)?;
    if !(0.0..1.0).contains(&common.dropout) {
        bail!("--dropout must be in [0, 1)");
    }
    let mut run = RunOptions::new(&common.out);
    run.epochs = common.epochs;
    run.max_steps = common.max_steps;
    run.stop_after = common.stop_after;
    run.grad_accum = common.grad_accum.max(1);
    run.optimizer = AdamWSettings {
        lr: common.lr,
        weight_decay: common.weight_decay,
        ..AdamWSettings::default()
    };
    run.warmup = common.warmup;
    run.min_lr_ratio = common.min_lr_ratio;
    run.seed = common.seed;
    run.checkpoint_every = common.checkpoint_every;
    run.resume = common.resume;
    run.progress = true;
    Ok(JobOptions {
        base: common.base.clone(),
        data: common.data.clone(),
        lora: LoraSettings {
            rank: common.rank,
            alpha: common.alpha,
            dropout: common.dropout,
            targets,
        },
        max_seq_len: common.max_seq_len,
        init_adapter: common.init_adapter.clone(),
        limit: common.limit,
        ignore_memory_check: common.ignore_memory_check,
        run,
    })
}

fn print_report(report: &JobReport, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    let summary = &report.summary;
    println!("base              {}", report.base.display());
    println!(
        "records           {} ({} skipped as too long)",
        report.records, report.skipped_too_long
    );
    println!("trainable params  {}", report.trainable_parameters);
    println!("memory estimate   {} MiB", report.memory.total >> 20);
    println!(
        "steps             {} (total {})",
        summary.steps, summary.total_steps
    );
    println!(
        "loss              {:.4} -> {:.4}",
        summary.first_loss(5),
        summary.last_loss(5)
    );
    if let Some(margin) = summary.log.last().and_then(|l| l.margin) {
        println!("margin (last)     {margin:.4}");
    }
    if let Some(reward) = summary.log.last().and_then(|l| l.reward) {
        println!("reward (last)     {reward:.4}");
    }
    println!(
        "tokens            {} in {:.1} s ({:.1} tokens/s)",
        summary.tokens,
        summary.seconds,
        summary.tokens_per_second()
    );
    println!("adapter           {}", summary.adapter_dir.display());
    Ok(())
}

/// Runs `learnat train ...`.
pub fn run(command: TrainCommand) -> Result<ExitCode> {
    match command {
        TrainCommand::Sft(args) => {
            let report = run_sft_job(&job_options(&args.common)?).context("train sft failed")?;
            print_report(&report, args.common.json)?;
        }
        TrainCommand::Mdpo(args) => {
            let objective = match args.objective {
                Objective::Margin => PreferenceObjective::MdpoMargin,
                Objective::LogMargin => PreferenceObjective::MdpoLogMargin {
                    alpha: args.margin_alpha,
                },
                Objective::Dpo => PreferenceObjective::Dpo,
            };
            let report = run_preference_job(&job_options(&args.common)?, objective, args.beta)
                .context("train mdpo failed")?;
            print_report(&report, args.common.json)?;
        }
        TrainCommand::Grpo(args) => {
            let grpo = GrpoOptions {
                group: args.group,
                max_new_tokens: args.max_new_tokens,
                temperature: args.temperature,
                top_p: args.top_p,
                settings: GrpoSettings {
                    clip: args.clip,
                    kl_beta: args.kl_beta,
                },
                end_of_turn: Vec::new(),
            };
            let report = run_grpo_job(&job_options(&args.common)?, &args.db_dir, &grpo)
                .context("train grpo failed")?;
            print_report(&report, args.common.json)?;
        }
        TrainCommand::Merge(args) => {
            let dtype = parse_quantization(&args.quantization).map_err(anyhow::Error::msg)?;
            let base = resolve_base(&args.base)?;
            let summary =
                merge_gguf(&base, &args.adapter, &args.out, dtype).context("train merge failed")?;
            println!(
                "wrote {} ({} MiB): {} matrices merged as {}, {} tensors copied",
                args.out.display(),
                summary.bytes >> 20,
                summary.merged_matrices,
                summary.quantization,
                summary.copied_tensors
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `learnat bench train`.
pub fn run_bench_train(args: BenchTrainArgs) -> Result<ExitCode> {
    let path = resolve_base(&args.model)?;
    eprintln!("loading {} (dequantized to f32)...", path.display());
    let base = load_gguf_base(&path, candle_core::DType::F32)?;
    let lora = LoraSettings {
        rank: args.rank,
        alpha: 2.0 * args.rank as f64,
        dropout: 0.0,
        targets: TargetModule::ALL.to_vec(),
    };
    let model = TrainModel::new(&base.config, &base.weights, &lora, args.seq_len.max(2), 0)?;
    let report = bench_train(&model, args.seq_len, args.steps.max(1), 0)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let reference = match &args.reference_peft {
        Some(python) => Some(run_peft_reference(python, &path, &args, threads)?),
        None => None,
    };
    let reference_rate = reference
        .as_ref()
        .and_then(|r| r["tokens_per_second"].as_f64());
    if args.json {
        let json = serde_json::json!({
            "model": path, "threads": threads, "report": report, "peft": reference,
            "ratio": reference_rate.map(|rate| report.tokens_per_second / rate),
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!("model             {}", path.display());
        println!("machine           {threads} CPU threads, f32, candle");
        println!("trainable params  {}", report.trainable_parameters);
        println!("tokens per step   {}", report.tokens_per_step);
        let steps: Vec<String> = report
            .step_seconds
            .iter()
            .map(|s| format!("{s:.2}"))
            .collect();
        println!("step seconds      {}", steps.join(" "));
        println!(
            "training tokens/s {:.1} (median step)",
            report.tokens_per_second
        );
        match reference_rate {
            Some(rate) => {
                println!(
                    "PyTorch + PEFT    {rate:.1} tokens/s (same model, sequence, rank, threads)"
                );
                println!(
                    "ratio             {:.2}x (learnat / PEFT)",
                    report.tokens_per_second / rate
                );
            }
            None => println!(
                "PyTorch + PEFT    not run (pass --reference-peft PYTHON; see python/README.md)"
            ),
        }
    }
    Ok(ExitCode::SUCCESS)
}
