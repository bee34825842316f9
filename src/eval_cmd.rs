//! `learnat eval`, `learnat eval compare` and `learnat bench eval`: argument parsing and wiring to
//! [`learnat_benchmarks`].

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use learnat_agent::frontend::open_chat_model;
use learnat_agent::strategy::{DecomposeWhen, StrategyInput, StrategyOptions};
use learnat_benchmarks::compare_runs::{compare_runs, load_run};
use learnat_benchmarks::dataset::Question;
use learnat_benchmarks::dataset::{
    Dataset, DatasetKind, load_bird, load_jsonl, load_question_list, load_spider,
};
use learnat_benchmarks::gold_cache::default_cache_dir;
use learnat_benchmarks::predictions::{
    GeneratedPredictions, GenerationFuture, PredictionFormat, PredictionSource, load_predictions,
};
use learnat_benchmarks::runner::{
    EvalMetric, EvalOptions, MetricChoice, TerminalProgress, evaluate,
};
use learnat_tools::Database;
use learnat_tools::database::open_database;
use learnat_tools::schema::{IntrospectOptions, Schema, introspect};

use crate::agent_args::AdrArgs;

/// `learnat eval …` (score predictions) or `learnat eval compare RUN_A RUN_B`.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct EvalCommand {
    #[command(subcommand)]
    command: Option<EvalSubcommand>,
    #[command(flatten)]
    run: EvalRunArgs,
}

#[derive(Subcommand)]
enum EvalSubcommand {
    /// Compare two runs: EX deltas overall and per difficulty, and the questions that flipped.
    Compare(CompareArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum DatasetArg {
    Spider,
    Bird,
    Jsonl,
}

#[derive(Clone, Copy, ValueEnum)]
enum MetricArg {
    /// The data set's execution accuracy: test-suite for Spider and JSONL, set match for BIRD.
    Ex,
    /// Spider test-suite execution match.
    TestSuite,
    /// BIRD set execution match (also on Spider data).
    Bird,
    /// BIRD execution match plus VES / R-VES.
    Ves,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// JSONL for .jsonl/.json files or a first line starting with `{`, else one SQL per line.
    Auto,
    /// The official format: line i is the prediction of question i.
    Lines,
    /// One JSON object per line: {"id" | "question_id" | "index": …, "sql": "…"}.
    Jsonl,
}

#[derive(Args)]
struct EvalRunArgs {
    /// Benchmark the questions come from.
    #[arg(long, value_enum, required = true)]
    dataset: Option<DatasetArg>,
    /// Data folder (Spider / BIRD) or question file (JSONL). Default: ../shared/data/<dataset>.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Split: dev or train (Spider, BIRD), mini-dev (BIRD).
    #[arg(long, default_value = "dev")]
    split: String,
    /// JSONL only: folder holding <db_id>/<db_id>.sqlite (default: the question file's folder).
    #[arg(long)]
    databases: Option<PathBuf>,
    /// Predictions: one SQL per line (official format) or JSONL with ids.
    #[arg(long, required_unless_present = "model", conflicts_with = "model")]
    predictions: Option<PathBuf>,
    /// Generate the predictions with this model instead of reading them: gguf:PATH, gguf:NAME,
    /// openai:MODEL[@BASE_URL]. They are written to <out>/predictions.sql in the official format.
    #[arg(long)]
    model: Option<String>,
    /// With --model: how questions become SQL, zero-shot or decompose.
    #[arg(long, default_value = "zero-shot", requires = "model")]
    strategy: String,
    #[command(flatten)]
    adr: AdrArgs,
    /// With --model: repair turns per failing SQL (the error is shown to the model, which writes
    /// the SQL again). Default: 0 for zero-shot (the plain baseline), 1 for decompose.
    #[arg(long, requires = "model")]
    repair_turns: Option<usize>,
    /// With --model: fix a "no such column" error from the schema (rename, requalify, or join
    /// the table that has the column on a foreign key) before any repair turn; the fix is kept
    /// only when it runs. on or off; default: off for zero-shot (the plain baseline), on for
    /// decompose.
    #[arg(long, requires = "model", value_name = "on|off",
          value_parser = clap::builder::BoolishValueParser::new())]
    relink: Option<bool>,
    /// With --model: candidates per question; above 1 the SQL is chosen by execution-result
    /// voting.
    #[arg(long, default_value_t = 1, requires = "model")]
    samples: usize,
    /// Evaluate only the questions listed in FILE (0-based indices, one per line), e.g.
    /// ../shared/data/spider_dev_subset_300.txt; they are renumbered in list order.
    #[arg(long)]
    questions: Option<PathBuf>,
    /// Evaluate only the first N questions (after --questions).
    #[arg(long)]
    limit: Option<usize>,
    /// Layout of the predictions file.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    predictions_format: FormatArg,
    /// Scoring rule.
    #[arg(long, value_enum, default_value_t = MetricArg::Ex)]
    metric: MetricArg,
    /// Questions evaluated at once. Default: the number of cores.
    #[arg(long)]
    jobs: Option<usize>,
    /// Per-query timeout in seconds (interrupts the engine). Default: 60 (test-suite), 30 (BIRD).
    #[arg(long)]
    timeout_s: Option<f64>,
    /// Output folder: checkpoint.jsonl (resumable), report.json, report.md, report.html,
    /// predictions.sql, and with --model answers.jsonl (each answer in full: steps, draft,
    /// candidates, timings). Without it nothing is written.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Evaluate the questions whose database is present; report the others as not evaluable.
    #[arg(long)]
    skip_missing: bool,
    /// Accept a predictions file with fewer or more predictions than questions (missing ones
    /// are scored wrong, extra ones ignored).
    #[arg(long)]
    allow_count_mismatch: bool,
    /// Gold-result cache folder. Default: $LEARNAT_GOLD_CACHE or ~/.cache/learnat/gold-cache.
    #[arg(long)]
    gold_cache: Option<PathBuf>,
    /// Do not read or write the gold-result cache.
    #[arg(long, conflicts_with = "gold_cache")]
    no_gold_cache: bool,
    /// VES: timed repetitions of each correct question (mini-dev's scorer uses 100).
    #[arg(long, default_value_t = 100)]
    ves_iterations: usize,
    /// Print the summary as JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Test hook (hidden): sleep this many milliseconds before each question.
    #[arg(
        long,
        hide = true,
        env = "LEARNAT_EVAL_QUESTION_DELAY_MS",
        default_value_t = 0
    )]
    question_delay_ms: u64,
}

#[derive(Args)]
struct CompareArgs {
    /// The first run: an `eval --out` folder or its report.json.
    run_a: PathBuf,
    /// The second run.
    run_b: PathBuf,
    /// Print the comparison as JSON.
    #[arg(long)]
    json: bool,
}

/// `learnat bench eval`.
#[derive(Args)]
pub struct BenchEvalArgs {
    /// Spider folder (dev.json, tables.json, database/). Default: ../shared/data/spider
    #[arg(long)]
    data: Option<PathBuf>,
    /// Repetitions of each measurement (medians are printed).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Runner concurrency. Default: the number of cores.
    #[arg(long)]
    jobs: Option<usize>,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn shared_data(name: &str) -> Result<PathBuf> {
    learnat_tools::shared_data::shared_data_dir()
        .map(|dir| dir.join(name))
        .with_context(|| {
            format!("no --data given and ../shared/data/{name} not found: pass --data DIR")
        })
}

fn load_dataset(args: &EvalRunArgs, kind: DatasetArg) -> Result<Dataset> {
    let dataset = match kind {
        DatasetArg::Spider => load_spider(
            &args
                .data
                .clone()
                .map_or_else(|| shared_data("spider"), Ok)?,
            &args.split,
        )?,
        DatasetArg::Bird => load_bird(
            &args.data.clone().map_or_else(|| shared_data("bird"), Ok)?,
            &args.split,
        )?,
        DatasetArg::Jsonl => {
            let file = args
                .data
                .as_deref()
                .context("--dataset jsonl needs --data FILE.jsonl")?;
            load_jsonl(file, args.databases.as_deref())?
        }
    };
    Ok(dataset)
}

/// Run `learnat eval …`.
pub fn run(command: EvalCommand) -> Result<ExitCode> {
    if let Some(EvalSubcommand::Compare(args)) = command.command {
        return run_compare(args);
    }
    let args = command.run;
    let Some(kind) = args.dataset else {
        bail!("learnat eval needs --dataset (or the `compare` subcommand)");
    };
    let mut dataset = load_dataset(&args, kind)?;
    if let Some(list) = &args.questions {
        dataset = dataset.subset(&load_question_list(list)?)?;
    }
    if let Some(limit) = args.limit {
        let first: Vec<usize> = (0..limit.min(dataset.questions.len())).collect();
        dataset = dataset.subset(&first)?;
    }
    let predictions: Box<dyn PredictionSource> = match (&args.predictions, &args.model) {
        (Some(path), _) => {
            let format = match args.predictions_format {
                FormatArg::Auto => PredictionFormat::Auto,
                FormatArg::Lines => PredictionFormat::Lines,
                FormatArg::Jsonl => PredictionFormat::Jsonl,
            };
            let file =
                load_predictions(path, format, &dataset.questions, args.allow_count_mismatch)?;
            Box::new(file)
        }
        (None, Some(spec)) => {
            let mut strategy_options = StrategyOptions::defaults_for(&args.strategy);
            strategy_options.samples = args.samples.max(1);
            if let Some(turns) = args.repair_turns {
                strategy_options.repair_turns = turns;
            }
            if let Some(relink) = args.relink {
                strategy_options.relink = relink;
            }
            Box::new(generator(
                &dataset,
                spec,
                &args.strategy,
                &args.adr,
                strategy_options,
                args.out.as_deref(),
            )?)
        }
        (None, None) => bail!("learnat eval needs --predictions FILE or --model SPEC"),
    };
    let choice = match args.metric {
        MetricArg::Ex => MetricChoice::Ex,
        MetricArg::TestSuite => MetricChoice::TestSuite,
        MetricArg::Bird => MetricChoice::Bird,
        MetricArg::Ves => MetricChoice::Ves,
    };
    let kind = match kind {
        DatasetArg::Spider => DatasetKind::Spider,
        DatasetArg::Bird => DatasetKind::Bird,
        DatasetArg::Jsonl => DatasetKind::Jsonl,
    };
    let metric = EvalMetric::resolve(choice, kind);
    let mut options = EvalOptions::new(metric);
    options.jobs = args.jobs.unwrap_or_else(cores).max(1);
    if let Some(seconds) = args.timeout_s {
        if !(seconds.is_finite() && seconds > 0.0) {
            bail!("--timeout-s must be a positive number of seconds, got {seconds}");
        }
        options.timeout = Duration::from_secs_f64(seconds);
    }
    options.skip_missing = args.skip_missing;
    options.gold_cache_dir = if args.no_gold_cache {
        None
    } else {
        args.gold_cache.clone().or_else(default_cache_dir)
    };
    options.out_dir = args.out.clone();
    options.ves_iterations = args.ves_iterations.max(1);
    options.question_delay = Duration::from_millis(args.question_delay_ms);

    let source_warnings = predictions.warnings();
    for warning in source_warnings.iter().chain(&dataset.warnings) {
        eprintln!("warning: {warning}");
    }
    if args.skip_missing
        && let Some(message) = dataset.missing_databases_message()
    {
        let names: Vec<String> = dataset
            .missing_databases()
            .iter()
            .map(|(db, n)| format!("{db} ({n})"))
            .collect();
        let skipped = dataset.questions.len() - dataset.evaluable_count();
        eprintln!(
            "note: --skip-missing: {skipped} questions left out, their databases are missing: {}",
            names.join(", ")
        );
        tracing::debug!("{message}");
    }
    let report = tokio::task::block_in_place(|| {
        evaluate(
            &dataset,
            predictions.as_ref(),
            &options,
            &TerminalProgress::new(),
        )
    })?;
    for warning in report
        .summary
        .warnings
        .iter()
        .filter(|w| !source_warnings.contains(w) && !dataset.warnings.contains(w))
    {
        eprintln!("warning: {warning}");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.summary)?);
    } else {
        print!("{}", report.to_text());
    }
    if let Some(out) = &options.out_dir {
        eprintln!(
            "wrote {} (report.json, report.md, report.html, predictions.sql; checkpoint.jsonl resumes this run)",
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn run_compare(args: CompareArgs) -> Result<ExitCode> {
    let a = load_run(&args.run_a)?;
    let b = load_run(&args.run_b)?;
    let comparison = compare_runs(
        &args.run_a.display().to_string(),
        &a,
        &args.run_b.display().to_string(),
        &b,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&comparison)?);
    } else {
        print!("{}", comparison.to_text());
    }
    Ok(ExitCode::SUCCESS)
}

/// Run `learnat bench eval`.
pub fn run_bench_eval(args: BenchEvalArgs) -> Result<ExitCode> {
    let spider = match args.data {
        Some(dir) => dir,
        None => shared_data("spider")?,
    };
    let report = learnat_benchmarks::bench_eval::run(
        &spider,
        args.repeats,
        args.jobs.unwrap_or_else(cores).max(1),
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The file of an `eval --model --out` run holding each answer in full.
const ANSWERS_FILE: &str = "answers.jsonl";

/// The database a generated prediction runs against, opened once with its schema.
type OpenedDatabase = (Arc<dyn Database>, Arc<Schema>);

/// Predictions generated by `strategy` with the model `spec`, one call per question.
fn generator(
    dataset: &Dataset,
    spec: &str,
    strategy_name: &str,
    adr: &AdrArgs,
    options: StrategyOptions,
    out: Option<&std::path::Path>,
) -> Result<GeneratedPredictions<impl Fn(Question) -> GenerationFuture + Sync + use<>>> {
    let runtime = tokio::runtime::Handle::current();
    let opened = tokio::task::block_in_place(|| runtime.block_on(open_chat_model(Some(spec))))
        .with_context(|| format!("cannot open the model {spec}"))?;
    eprintln!(
        "generating with {} (strategy {strategy_name}, {} repair turn(s), schema relinking {}, \
         {} sample(s), demonstrations: {}{})",
        opened.model.name(),
        options.repair_turns,
        if options.relink { "on" } else { "off" },
        options.samples,
        adr.describe(),
        if strategy_name == "decompose" {
            format!(", decompose {}", adr.decompose_when.name())
        } else {
            String::new()
        }
    );
    let mut fingerprint = format!(
        "{} strategy {strategy_name} repair {} samples {}",
        opened.spec, options.repair_turns, options.samples
    );
    // Runs from before relinking existed keep their fingerprint when it is off.
    if options.relink {
        fingerprint.push_str(" relink");
    }
    if adr.index.is_some() {
        fingerprint.push_str(&format!(" adr {}", adr.describe()));
    }
    if strategy_name == "decompose" && adr.decompose_when != DecomposeWhen::Always {
        fingerprint.push_str(&format!(" decompose-when {}", adr.decompose_when.name()));
    }
    let strategy = adr.build(strategy_name, options)?;
    let model = opened.model;
    let paths: Arc<Vec<PathBuf>> = Arc::new(
        (0..dataset.questions.len())
            .map(|index| dataset.database_of(index).path.clone())
            .collect(),
    );
    let databases: Arc<tokio::sync::Mutex<HashMap<PathBuf, OpenedDatabase>>> = Arc::default();
    // Each answer in full (steps, draft, candidates, timings), one line per question, appended
    // so that a resumed run adds to it.
    let answers: Option<Arc<std::sync::Mutex<std::fs::File>>> = match out {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let path = dir.join(ANSWERS_FILE);
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("cannot open {}", path.display()))?;
            Some(Arc::new(std::sync::Mutex::new(file)))
        }
        None => None,
    };
    Ok(GeneratedPredictions::new(
        runtime,
        fingerprint,
        move |question: Question| -> GenerationFuture {
            let model = Arc::clone(&model);
            let strategy = Arc::clone(&strategy);
            let databases = Arc::clone(&databases);
            let path = paths[question.index].clone();
            let answers = answers.clone();
            Box::pin(async move {
                let (database, schema) = {
                    let mut open = databases.lock().await;
                    match open.get(&path) {
                        Some((database, schema)) => (Arc::clone(database), Arc::clone(schema)),
                        None => {
                            let database = open_database(&path.to_string_lossy())
                                .await
                                .map_err(|e| e.to_string())?;
                            let schema =
                                introspect(database.as_ref(), &IntrospectOptions::default())
                                    .await
                                    .map_err(|e| e.to_string())?;
                            let schema = Arc::new(schema);
                            open.insert(path.clone(), (Arc::clone(&database), Arc::clone(&schema)));
                            (database, schema)
                        }
                    }
                };
                let mut input = StrategyInput::new(&question.question, &database, &schema);
                input.evidence = question.evidence.as_deref();
                input.db_id = Some(&question.db_id);
                let answer = strategy.answer(&model, &input).await;
                if let Some(file) = &answers {
                    let line = match &answer {
                        Ok(answer) => serde_json::json!({
                            "index": question.index, "id": question.id, "answer": answer,
                        }),
                        Err(error) => serde_json::json!({
                            "index": question.index, "id": question.id,
                            "error": error.to_string(),
                        }),
                    };
                    let mut file = file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    if let Err(error) = writeln!(file, "{line}") {
                        tracing::warn!(%error, "cannot append to {ANSWERS_FILE}");
                    }
                }
                answer.map(|answer| answer.sql).map_err(|e| e.to_string())
            })
        },
    ))
}
