//! `learnat interact …` (run a task set under c-interact or a-interact), `learnat interact
//! build` (derive tasks from Spider, or write the demo tasks) and `learnat interact replay`
//! (re-score a transcript). Wiring only; the work is in [`learnat_simulator`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use learnat_agent::frontend::open_chat_model;
use learnat_agent::strategy::{STRATEGY_NAMES, StrategyOptions, build_strategy};
use learnat_simulator::learnat_agent::{AgentVariant, LearnatAgent};
use learnat_simulator::protocol::{ActionCosts, DEFAULT_PATIENCE, InteractiveAgent, Mode};
use learnat_simulator::replay::replay;
use learnat_simulator::report::{comparison_markdown, gap_closed, write_reports};
use learnat_simulator::run::{
    RunInfo, RunOptions, Summary, file_sha256, read_transcripts, run_agents, summarise,
};
use learnat_simulator::scoring::GoldChecker;
use learnat_simulator::spider_build::{BuildOptions, build_spider_tasks, carry_reviews};
use learnat_simulator::task::{TaskDatabases, demo_tasks, load_tasks, save_tasks};
use learnat_simulator::user_sim::{FunctionDrivenSimulator, UserSimulator};
use serde_json::json;

/// `learnat interact …`, or one of its subcommands.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct InteractCommand {
    #[command(subcommand)]
    command: Option<InteractSubcommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum InteractSubcommand {
    /// Derive ambiguous tasks from Spider (or write the demo tasks with --demo).
    Build(BuildArgs),
    /// Re-score a transcript (transcripts.jsonl) and check it gives the recorded numbers.
    Replay(ReplayArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    CInteract,
    AInteract,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum UserSimArg {
    /// Deterministic lexical parser (the default).
    Rule,
    /// The model classifies the agent's questions (falls back to the rules on garbage).
    Llm,
}

#[derive(Args)]
struct RunArgs {
    /// Task file (JSONL, from `learnat interact build`).
    #[arg(long, required = true)]
    tasks: Option<PathBuf>,
    /// Folder holding <db_id>/<db_id>.sqlite. Default: <tasks folder>/databases if present,
    /// else ../shared/data/spider/database.
    #[arg(long)]
    databases: Option<PathBuf>,
    /// Protocol.
    #[arg(long, value_enum, default_value_t = ModeArg::CInteract)]
    mode: ModeArg,
    /// Model spec: gguf:PATH, gguf:NAME, openai:MODEL[@BASE_URL] (default as for `ask`).
    #[arg(long)]
    model: Option<String>,
    /// How questions become SQL: zero-shot or decompose.
    #[arg(long, default_value = "zero-shot")]
    strategy: String,
    /// Fix a "no such column" error from the schema before the SQL is submitted (as `ask`,
    /// `repl` and `mcp` do): on or off.
    #[arg(long, default_value = "on", value_name = "on|off", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    relink: bool,
    /// Agents, comma-separated: clarify (asks back), no-ask (asking disabled), oracle (given
    /// the clear question).
    #[arg(long, default_value = "clarify", value_delimiter = ',')]
    agent: Vec<String>,
    /// User simulator parser.
    #[arg(long, value_enum, default_value_t = UserSimArg::Rule)]
    user_sim: UserSimArg,
    /// Patience: clarification turns beyond the number of ambiguities.
    #[arg(long, default_value_t = DEFAULT_PATIENCE)]
    patience: usize,
    /// Tasks at once.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Only tasks of this split (dev, train, demo).
    #[arg(long)]
    split: Option<String>,
    /// Only the first N tasks (after --split).
    #[arg(long)]
    limit: Option<usize>,
    /// Output folder: <agent>/run.json, transcripts.jsonl (resumable), report.json, report.md,
    /// report.html; comparison.md when several agents run.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct BuildArgs {
    /// Spider folder (dev.json, train_spider.json or train_spider_min.json, database/).
    #[arg(long, required_unless_present = "demo")]
    data: Option<PathBuf>,
    /// Write the demo tasks instead, and create the demo database under <out folder>/databases.
    #[arg(long, conflicts_with = "data")]
    demo: bool,
    /// Task file to write (JSONL).
    #[arg(long)]
    out: PathBuf,
    /// Seed of the rewrite choice and the question order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Most tasks per database.
    #[arg(long, default_value_t = 8)]
    per_database: usize,
    /// Most tasks in all.
    #[arg(long, default_value_t = 420)]
    max_tasks: usize,
    /// Keep the review marks of this earlier task file (same id, question and gold).
    #[arg(long)]
    reviews: Option<PathBuf>,
}

#[derive(Args)]
struct ReplayArgs {
    /// transcripts.jsonl of a run.
    transcript: PathBuf,
    /// Task file (default: the one recorded in the run's run.json).
    #[arg(long)]
    tasks: Option<PathBuf>,
    /// Databases folder (default: the one recorded in run.json).
    #[arg(long)]
    databases: Option<PathBuf>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// Run `learnat interact`.
pub async fn run(command: InteractCommand) -> Result<ExitCode> {
    match command.command {
        Some(InteractSubcommand::Build(args)) => build(args).await,
        Some(InteractSubcommand::Replay(args)) => replay_cmd(args).await,
        None => run_set(command.run).await,
    }
}

async fn build(args: BuildArgs) -> Result<ExitCode> {
    let mut tasks = if args.demo {
        let folder = args
            .out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let db = folder.join("databases/shop/shop.sqlite");
        if !db.is_file() {
            std::fs::create_dir_all(db.parent().unwrap_or(folder))
                .with_context(|| format!("cannot create {}", db.display()))?;
            learnat_tools::demo::create_demo_database(&db, learnat_tools::demo::DEMO_SEED)?;
        }
        let tasks = demo_tasks()?;
        eprintln!("{} demo tasks; database {}", tasks.len(), db.display());
        tasks
    } else {
        let data = args
            .data
            .clone()
            .context("--data is required without --demo")?;
        let options = BuildOptions {
            seed: args.seed,
            per_database: args.per_database.max(1),
            max_tasks: args.max_tasks,
            ..BuildOptions::new(&data)
        };
        let (tasks, summary) = build_spider_tasks(&options).await?;
        eprintln!(
            "{} tasks over {} databases from {} Spider questions; splits {:?}; rewrites {:?}; \
             rejected {:?}",
            tasks.len(),
            summary.databases,
            summary.examined,
            summary.per_split,
            summary.per_kind,
            summary.rejected
        );
        tasks
    };
    if let Some(reviews) = &args.reviews {
        let earlier = load_tasks(reviews)?;
        let carried = carry_reviews(&mut tasks, &earlier);
        eprintln!("kept {carried} review marks from {}", reviews.display());
    }
    save_tasks(&args.out, &tasks)?;
    println!("wrote {} tasks to {}", tasks.len(), args.out.display());
    Ok(ExitCode::SUCCESS)
}

fn default_databases(tasks: &Path) -> Result<PathBuf> {
    let beside = tasks
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join("databases");
    if beside.is_dir() {
        return Ok(beside);
    }
    learnat_tools::shared_data::shared_data_dir()
        .map(|d| d.join("spider/database"))
        .filter(|d| d.is_dir())
        .context(
            "no databases folder beside the task file and no ../shared/data/spider/database; \
             pass --databases",
        )
}

async fn run_set(args: RunArgs) -> Result<ExitCode> {
    let tasks_path = args.tasks.clone().context("--tasks is required")?;
    if !STRATEGY_NAMES.contains(&args.strategy.as_str()) {
        bail!(
            "unknown strategy '{}' (use --strategy {})",
            args.strategy,
            STRATEGY_NAMES.join(" or ")
        );
    }
    let variants = args
        .agent
        .iter()
        .map(|name| AgentVariant::parse(name.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut tasks = load_tasks(&tasks_path)?;
    if let Some(split) = &args.split {
        tasks.retain(|t| t.split.as_deref() == Some(split.as_str()));
    }
    if let Some(limit) = args.limit {
        tasks.truncate(limit);
    }
    if tasks.is_empty() {
        bail!(
            "no tasks to run in {} (check --split)",
            tasks_path.display()
        );
    }
    let databases = match &args.databases {
        Some(dir) => dir.clone(),
        None => default_databases(&tasks_path)?,
    };
    let gold = GoldChecker::new(TaskDatabases::new(&databases));
    let opened = open_chat_model(args.model.as_deref()).await?;
    let strategy = build_strategy(
        &args.strategy,
        StrategyOptions {
            relink: args.relink,
            ..StrategyOptions::defaults_for(&args.strategy)
        },
        None,
    )?;
    let simulator: Arc<dyn UserSimulator> = match args.user_sim {
        UserSimArg::Rule => Arc::new(FunctionDrivenSimulator::rule_based()),
        UserSimArg::Llm => Arc::new(FunctionDrivenSimulator::llm(Arc::clone(&opened.model))),
    };
    let mode = match args.mode {
        ModeArg::CInteract => Mode::CInteract,
        ModeArg::AInteract => Mode::AInteract,
    };
    let tasks_sha256 = file_sha256(&tasks_path)?;
    let mut prepared = Vec::with_capacity(variants.len());
    for variant in &variants {
        let agent: Arc<dyn InteractiveAgent> = Arc::new(LearnatAgent::new(
            Arc::clone(&opened.model),
            Arc::clone(&strategy),
            *variant,
        ));
        let info = RunInfo {
            mode,
            agent: variant.name().to_string(),
            user_sim: simulator.name().to_string(),
            model: opened.spec.clone(),
            strategy: args.strategy.clone(),
            relink: args.relink,
            patience: args.patience,
            tasks_file: tasks_path.display().to_string(),
            tasks_sha256: tasks_sha256.clone(),
            databases: databases.display().to_string(),
        };
        let options = RunOptions {
            mode,
            patience: args.patience,
            costs: ActionCosts::default(),
            jobs: args.jobs,
            out: args.out.as_ref().map(|dir| dir.join(variant.name())),
            info,
            progress: !args.json,
        };
        prepared.push((agent, options));
    }
    // The agents take turns task by task, so the model encodes each schema once per task.
    let all_outcomes = run_agents(&tasks, &prepared, Arc::clone(&simulator), &gold).await?;
    let mut runs: Vec<(String, Summary)> = Vec::new();
    for ((variant, (_, options)), outcomes) in variants.iter().zip(&prepared).zip(&all_outcomes) {
        let summary = summarise(outcomes);
        if let Some(out) = &options.out {
            write_reports(out, &options.info, &summary, outcomes)?;
            eprintln!(
                "wrote {} (transcripts.jsonl resumes this run)",
                out.display()
            );
        }
        runs.push((variant.name().to_string(), summary));
    }
    let comparison = comparison_markdown(mode.name(), &runs);
    if let Some(dir) = &args.out
        && runs.len() > 1
    {
        std::fs::write(dir.join("comparison.md"), &comparison)
            .with_context(|| format!("cannot write {}", dir.join("comparison.md").display()))?;
    }
    if args.json {
        let nr = |name: &str| runs.iter().find(|(a, _)| a == name).map(|(_, s)| s.nr);
        let gap = match (nr("clarify"), nr("no-ask"), nr("oracle")) {
            (Some(c), Some(n), Some(o)) => gap_closed(c, n, o),
            _ => None,
        };
        let listed: Vec<_> = runs
            .iter()
            .map(|(agent, summary)| json!({"agent": agent, "summary": summary}))
            .collect();
        println!(
            "{}",
            json!({"mode": mode.name(), "model": opened.spec, "tasks": tasks.len(),
                   "runs": listed, "gap_closed": gap})
        );
    } else {
        print!("{comparison}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn replay_cmd(args: ReplayArgs) -> Result<ExitCode> {
    let outcomes = read_transcripts(&args.transcript)?;
    let run_file = args
        .transcript
        .parent()
        .map(|p| p.join(learnat_simulator::run::RUN_FILE));
    let info: Option<RunInfo> = run_file
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|text| serde_json::from_str(&text).ok());
    let tasks_path = args
        .tasks
        .clone()
        .or_else(|| info.as_ref().map(|i| PathBuf::from(&i.tasks_file)))
        .context("pass --tasks (no run.json beside the transcript names the task file)")?;
    let databases = match (&args.databases, &info) {
        (Some(dir), _) => dir.clone(),
        (None, Some(info)) => PathBuf::from(&info.databases),
        (None, None) => default_databases(&tasks_path)?,
    };
    let tasks = load_tasks(&tasks_path)?;
    let gold = GoldChecker::new(TaskDatabases::new(databases));
    let replayed = replay(&outcomes, &tasks, &gold).await;
    if args.json {
        println!("{}", serde_json::to_string(&replayed)?);
    } else {
        let line = |name: &str, s: &Summary| {
            println!(
                "{name:<10} tasks {}  SR first {:.1}%  SR follow-up {:.1}%  NR {:.2}",
                s.tasks,
                100.0 * s.sr_first,
                100.0 * s.sr_follow_up,
                s.nr
            )
        };
        line("recorded", &replayed.recorded);
        line("re-scored", &replayed.rescored);
        for mismatch in &replayed.mismatches {
            println!("changed: {mismatch}");
        }
    }
    Ok(if replayed.mismatches.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "error: {} task(s) score differently than recorded",
            replayed.mismatches.len()
        );
        ExitCode::from(1)
    })
}
