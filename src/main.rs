//! `learnat`: the command-line front end. Argument parsing and wiring only; every capability
//! lives in the workspace's library crates.

mod agent_args;
mod ask_cmd;
mod bench_llm_cmd;
mod demo_cmd;
mod eval_cmd;
mod index_cmd;
mod interact_cmd;
mod mcp_cmd;
mod model_cmd;
mod repl_cmd;
mod synth_cmd;
mod train_cmd;

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use learnat_tools::demo::{DEMO_SEED, create_demo_database};
use learnat_tools::render::{render_csv, render_json, render_table};
use learnat_tools::schema::{IntrospectOptions, introspect};
use learnat_tools::tool::{builtin_tool_definitions, openai_function_definitions};
use learnat_tools::{ExecOptions, ToolsError, database::open_database};

/// `learnat --version`: a `cuda` build says so (its binary needs an NVIDIA driver to start).
#[cfg(feature = "cuda")]
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (cuda)");
#[cfg(not(feature = "cuda"))]
const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Parser)]
#[command(
    name = "learnat",
    version = VERSION,
    about = "Ask your database questions in plain language; measure NL2SQL systems",
    long_about = None
)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    /// LoRA adapter directory (PEFT layout, e.g. from `learnat train`) merged into gguf: models
    /// at load (ask, repl, mcp, demo, eval); same as $LEARNAT_ADAPTER.
    #[arg(long, global = true)]
    adapter: Option<PathBuf>,

    /// Where gguf: models run: cpu, cuda or cuda:N (a `--features cuda` build; it defaults to
    /// cuda:0, other builds to cpu); same as $LEARNAT_DEVICE.
    #[arg(long, global = true, value_parser = parse_device)]
    device: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one read-only SQL statement and print the result.
    Sql(SqlArgs),
    /// Print a database's schema.
    Schema(SchemaArgs),
    /// Create the bundled demo database (a small shop) at PATH.
    DemoDb(DemoDbArgs),
    /// A short tour of learnat on the bundled demo database (created on first use).
    Demo(demo_cmd::DemoArgs),
    /// Ask one question (or answer a clarification) about a database: SQL and its result.
    Ask(ask_cmd::AskArgs),
    /// Talk with a database at the terminal: questions, clarifications, follow-ups, :commands.
    Repl(repl_cmd::ReplArgs),
    /// Serve ask / execute_sql / list_tables / describe_table over MCP (stdio) for one or more databases.
    Mcp(mcp_cmd::McpArgs),
    /// Print the agent tools' definitions.
    Tools(ToolsArgs),
    /// Benchmarks that print ratios against a reference measured in the same run.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Get, list and inspect language models (gguf:PATH, openai:MODEL[@BASE_URL]).
    #[command(subcommand)]
    Model(model_cmd::ModelCommand),
    /// Score predicted SQL on Spider / BIRD / JSONL questions (execution accuracy); `eval compare A B`.
    Eval(eval_cmd::EvalCommand),
    /// Build demonstration indexes for adaptive demonstration retrieval (ADR).
    #[command(subcommand)]
    Index(index_cmd::IndexCommand),
    /// Multi-turn evaluation with a user simulator (c-interact / a-interact); `interact build`,
    /// `interact replay TRANSCRIPT`.
    Interact(interact_cmd::InteractCommand),
    /// Synthesise decomposition training data (MCTS + AST pruning) with a teacher model.
    Synth(synth_cmd::SynthArgs),
    /// Train LoRA adapters: sft, mdpo, grpo; merge an adapter into a GGUF.
    #[command(subcommand)]
    Train(train_cmd::TrainCommand),
}

#[derive(Args)]
struct SqlArgs {
    /// SQLite file (or, with the postgres feature, a postgres:// URL).
    #[arg(long)]
    db: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ResultFormat::Table)]
    format: ResultFormat,
    /// Interrupt the query after this many milliseconds.
    #[arg(long, default_value_t = 30_000)]
    timeout_ms: u64,
    /// Return at most this many rows.
    #[arg(long, default_value_t = 1_000)]
    max_rows: usize,
    /// The SQL statement; `-` or nothing reads it from standard input.
    sql: Option<OsString>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ResultFormat {
    Table,
    Json,
    Csv,
}

#[derive(Args)]
struct SchemaArgs {
    /// SQLite file (or, with the postgres feature, a postgres:// URL).
    #[arg(long)]
    db: String,
    /// Rendering.
    #[arg(long, value_enum, default_value_t = SchemaFormat::Ddl)]
    format: SchemaFormat,
    /// Distinct sample values shown per column.
    #[arg(long, default_value_t = 3)]
    samples: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum SchemaFormat {
    Ddl,
    Compact,
    Json,
}

#[derive(Args)]
struct DemoDbArgs {
    /// Where to write the new database; an existing file is never overwritten.
    path: PathBuf,
    /// Seed of the data generator (the same seed gives the same data).
    #[arg(long, default_value_t = DEMO_SEED)]
    seed: u64,
}

#[derive(Args)]
struct ToolsArgs {
    /// Print OpenAI-style function definitions (JSON) of the built-in tools.
    #[arg(long)]
    schema: bool,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Safety gate + normalisation overhead against raw rusqlite on the Spider dev gold queries.
    Sql(BenchSqlArgs),
    /// Evaluation runner (cold and warm gold cache) against a naive loop, gold vs gold on Spider dev.
    Eval(eval_cmd::BenchEvalArgs),
    /// Local GGUF model speed (prefill, decode, first token, peak RSS), optionally against llama.cpp.
    Llm(bench_llm_cmd::BenchLlmArgs),
    /// Demonstration retrieval latency and quality over a 10k pool (BM25, skeleton, hybrid).
    Retrieval(index_cmd::BenchRetrievalArgs),
    /// LoRA training throughput (tokens/s per step) on a GGUF model.
    Train(train_cmd::BenchTrainArgs),
}

#[derive(Args)]
struct BenchSqlArgs {
    /// Spider directory (dev_gold.sql and database/). Default: ../shared/data/spider
    #[arg(long)]
    data: Option<PathBuf>,
    /// Timed repetitions per query (the median is used).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Exit codes: 0 success, 1 error, 2 refused by the read-only safety layers.
const EXIT_ERROR: u8 = 1;
const EXIT_REFUSED: u8 = 2;

/// Allocations of 1 MiB and more get their own mapping, returned to the system when freed.
///
/// glibc's default threshold rises to 32 MiB after the first large free, after which a local
/// model's multi-megabyte activations (a 256-token prefill chunk makes several of 5 to 7 MiB)
/// are served from the heap and stay resident once freed. Measured on the 0.5B model, 512-token
/// prefill: peak RSS 645 MiB with the default, 604 MiB with this (1.38x to 1.29x the file).
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it runs before any other thread.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Fixes candle's thread count for the process: without `RAYON_NUM_THREADS`, candle's
/// `get_num_threads` parses /proc/cpuinfo on every call, about 35 times per generated token
/// (measured with strace on the 0.5B model). The value is the one candle would compute.
fn pin_candle_thread_count() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let threads = candle_core::utils::get_num_threads();
        // SAFETY: no other thread exists yet (the runtime starts later in main).
        unsafe { std::env::set_var("RAYON_NUM_THREADS", threads.to_string()) };
    }
}

/// `--device`: checked here so that a typo is a usage error, not a silent CPU run.
fn parse_device(text: &str) -> Result<String, String> {
    learnat_agent::model::gguf::GgufDevice::parse(text).map(|_| text.to_string())
}

fn main() -> ExitCode {
    tune_allocator();
    pin_candle_thread_count();
    let cli = Cli::parse();
    init_logging(cli.verbose);
    if let Some(adapter) = &cli.adapter {
        // SAFETY: no other thread exists yet (the runtime starts below).
        unsafe { std::env::set_var(learnat_agent::model::gguf::ADAPTER_ENV_VAR, adapter) };
    }
    if let Some(device) = &cli.device {
        // SAFETY: as above.
        unsafe { std::env::set_var(learnat_agent::model::gguf::DEVICE_ENV_VAR, device) };
    }
    if let Err(error) = learnat_agent::model::gguf::GgufDevice::from_env() {
        eprintln!(
            "error: ${}: {error}",
            learnat_agent::model::gguf::DEVICE_ENV_VAR
        );
        return ExitCode::from(EXIT_ERROR);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            let refused = error
                .downcast_ref::<ToolsError>()
                .is_some_and(ToolsError::is_refusal);
            eprintln!("error: {}", one_line(&error));
            ExitCode::from(if refused { EXIT_REFUSED } else { EXIT_ERROR })
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// The error and its causes on one line, without repeating a cause the message already contains.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line.replace('\n', " ")
}

async fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Sql(args) => run_sql(args).await,
        Command::Schema(args) => run_schema(args).await,
        Command::DemoDb(args) => run_demo_db(args),
        Command::Demo(args) => demo_cmd::run(args).await,
        Command::Ask(args) => ask_cmd::run(args).await,
        Command::Repl(args) => repl_cmd::run(args).await,
        Command::Mcp(args) => mcp_cmd::run(args).await,
        Command::Tools(args) => run_tools(args),
        Command::Bench(BenchCommand::Sql(args)) => run_bench_sql(args),
        Command::Bench(BenchCommand::Eval(args)) => eval_cmd::run_bench_eval(args),
        Command::Bench(BenchCommand::Llm(args)) => bench_llm_cmd::run_bench_llm(args),
        Command::Eval(command) => eval_cmd::run(command),
        Command::Model(command) => model_cmd::run(command).await,
        Command::Index(command) => index_cmd::run(command),
        Command::Interact(command) => interact_cmd::run(command).await,
        Command::Bench(BenchCommand::Retrieval(args)) => index_cmd::run_bench(args),
        Command::Synth(args) => synth_cmd::run(args).await,
        Command::Bench(BenchCommand::Train(args)) => train_cmd::run_bench_train(args),
        Command::Train(command) => train_cmd::run(command),
    }
}

async fn run_sql(args: SqlArgs) -> Result<ExitCode> {
    let sql = read_sql(args.sql)?;
    let db = open_database(&args.db).await?;
    let options = ExecOptions {
        timeout: Duration::from_millis(args.timeout_ms),
        max_rows: args.max_rows,
        ..ExecOptions::default()
    };
    let outcome = db.execute(&sql, &options).await;
    let mut stdout = std::io::stdout().lock();
    match (outcome, args.format) {
        (Ok(result), ResultFormat::Table) => writeln!(stdout, "{}", render_table(&result))?,
        (Ok(result), ResultFormat::Csv) => write!(stdout, "{}", render_csv(&result)?)?,
        (Ok(result), ResultFormat::Json) => writeln!(stdout, "{}", render_json(&result))?,
        // Programs reading JSON get the error on stdout too, in a stable shape.
        (Err(error), ResultFormat::Json) => {
            let json =
                serde_json::json!({"error": {"kind": error.kind(), "message": error.to_string()}});
            writeln!(stdout, "{json}")?;
            return Err(error.into());
        }
        (Err(error), _) => return Err(error.into()),
    }
    Ok(ExitCode::SUCCESS)
}

/// The SQL argument, or standard input for `-` / no argument, checked for the input mistakes
/// that would otherwise reach the engine as confusing errors.
fn read_sql(argument: Option<OsString>) -> Result<String> {
    let bytes = match argument {
        Some(arg) if arg != "-" => arg.into_encoded_bytes(),
        _ => {
            let mut buffer = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buffer)
                .context("cannot read SQL from standard input")?;
            buffer
        }
    };
    if bytes.contains(&0) {
        bail!("the SQL contains binary data (a NUL byte); pass the statement as text");
    }
    let sql = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "the SQL is not valid UTF-8 (invalid byte at offset {}); pass the statement as UTF-8 text",
            e.utf8_error().valid_up_to()
        )
    })?;
    if sql.trim().is_empty() {
        bail!("no SQL given: pass a statement as the last argument or on standard input");
    }
    Ok(sql)
}

async fn run_schema(args: SchemaArgs) -> Result<ExitCode> {
    let db = open_database(&args.db).await?;
    let options = IntrospectOptions {
        sample_values: args.samples,
        ..IntrospectOptions::default()
    };
    let schema = introspect(db.as_ref(), &options).await?;
    let text = match args.format {
        SchemaFormat::Ddl => schema.to_ddl(),
        SchemaFormat::Compact => schema.to_compact(),
        SchemaFormat::Json => serde_json::to_string_pretty(&schema)?,
    };
    println!("{}", text.trim_end());
    Ok(ExitCode::SUCCESS)
}

fn run_demo_db(args: DemoDbArgs) -> Result<ExitCode> {
    let summary = create_demo_database(&args.path, args.seed)?;
    println!("{}", summary);
    Ok(ExitCode::SUCCESS)
}

fn run_tools(args: ToolsArgs) -> Result<ExitCode> {
    let definitions = builtin_tool_definitions();
    if args.schema {
        let json = openai_function_definitions(&definitions);
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        for definition in &definitions {
            println!("{:<16} {}", definition.name, definition.description);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_bench_sql(args: BenchSqlArgs) -> Result<ExitCode> {
    let spider = match args.data {
        Some(dir) => dir,
        None => learnat_tools::shared_data::shared_data_dir()
            .map(|d| d.join("spider"))
            .context("Spider data not found: pass --data DIR (the folder with dev_gold.sql and database/)")?,
    };
    let report = learnat_benchmarks::sql_overhead::run(&spider, args.repeats)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(ExitCode::SUCCESS)
}
