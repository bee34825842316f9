//! `learnat index build` and `learnat bench retrieval`: argument parsing and wiring to
//! [`learnat_agent::retrieval`] and [`learnat_benchmarks::bench_retrieval`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use learnat_agent::retrieval::{
    BuildOptions, DemonstrationIndex, SchemaWords, SentenceEmbedder, default_embedding_dir,
    embedding_model_present, fetch_embedding_model, load_pool, remove_index_dir,
};
use learnat_benchmarks::bench_retrieval::{BenchRetrievalOptions, run_bench_retrieval};

/// `learnat index ...`.
#[derive(Subcommand)]
pub enum IndexCommand {
    /// Build a demonstration index (BM25 over masked questions, skeletons, optional embeddings)
    /// from a pool: Spider train JSON or JSONL of demonstrations with decompositions.
    Build(IndexBuildArgs),
}

/// Arguments of `learnat index build`.
#[derive(Args)]
pub struct IndexBuildArgs {
    /// The pool: a Spider-style JSON array (question, query, db_id) or JSONL of
    /// {id, db_id, question, sql, steps}.
    #[arg(long)]
    pool: PathBuf,
    /// tables.json with the pool's schemas, for masking table and column names. Default:
    /// tables.json beside the pool, else ../shared/data/spider/tables.json; without one only
    /// values are masked.
    #[arg(long)]
    tables: Option<PathBuf>,
    /// The index directory to create.
    #[arg(long)]
    out: PathBuf,
    /// Also store sentence embeddings (all-MiniLM-L6-v2) for hybrid retrieval; the model is
    /// fetched on first use.
    #[arg(long)]
    embed: bool,
    /// The embedding model directory. Default: $LEARNAT_EMBEDDINGS, else
    /// ~/.cache/learnat/embeddings/all-MiniLM-L6-v2.
    #[arg(long)]
    embedding_model: Option<PathBuf>,
    /// Replace an existing index at --out.
    #[arg(long)]
    force: bool,
}

/// Arguments of `learnat bench retrieval`.
#[derive(Args)]
pub struct BenchRetrievalArgs {
    /// The pool (default: Spider train from --spider), padded with synthetic demonstrations to
    /// --pool-size.
    #[arg(long)]
    pool: Option<PathBuf>,
    /// Spider directory (train_spider_min.json, dev.json, tables.json). Default:
    /// ../shared/data/spider.
    #[arg(long)]
    spider: Option<PathBuf>,
    /// Demonstrations in the benchmarked index.
    #[arg(long, default_value_t = 10_000)]
    pool_size: usize,
    /// Spider dev questions to query with.
    #[arg(long, default_value_t = 300)]
    queries: usize,
    /// Demonstrations per query.
    #[arg(long, default_value_t = 5)]
    k: usize,
    /// Also measure the hybrid (embedding) re-rank; needs the embedding model (fetched on
    /// first use).
    #[arg(long)]
    embed: bool,
    /// The embedding model directory (see `index build --embedding-model`).
    #[arg(long)]
    embedding_model: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `learnat index ...`.
pub fn run(command: IndexCommand) -> Result<ExitCode> {
    match command {
        IndexCommand::Build(args) => run_build(args),
    }
}

fn run_build(args: IndexBuildArgs) -> Result<ExitCode> {
    if args.out.exists() {
        if !args.force {
            bail!(
                "the index directory '{}' already exists; pass --force to replace it",
                args.out.display()
            );
        }
        remove_index_dir(&args.out)?;
    }
    let started = Instant::now();
    let pool = load_pool(&args.pool)?;
    let tables = args.tables.clone().or_else(|| default_tables(&args.pool));
    let schemas = match &tables {
        Some(path) => SchemaWords::from_spider_tables(path)?,
        None => {
            eprintln!(
                "warning: no tables.json (pass --tables): only values are masked, not table and \
                 column names"
            );
            SchemaWords::empty()
        }
    };
    let embedder = if args.embed {
        Some(Arc::new(load_embedder(args.embedding_model.as_deref())?))
    } else {
        None
    };
    let index = DemonstrationIndex::build_with(
        &pool,
        &schemas,
        &args.out,
        &BuildOptions {
            embedder,
            progress: true,
        },
    )?;
    let manifest = index.manifest();
    let embeddings = manifest
        .embedding
        .as_ref()
        .map(|embedding| format!(", {}-d {} embeddings", embedding.dimension, embedding.model))
        .unwrap_or_default();
    println!(
        "indexed {} demonstrations over {} databases into {} in {:.1} s ({} masked with schema \
         words{}, {} with decompositions, {} with unparsable SQL{embeddings})",
        manifest.demonstrations,
        manifest.databases,
        args.out.display(),
        started.elapsed().as_secs_f64(),
        manifest.masked_with_schema,
        tables
            .as_ref()
            .map(|path| format!(" from {}", path.display()))
            .unwrap_or_default(),
        manifest.with_steps,
        manifest.unparsable_sql,
    );
    Ok(ExitCode::SUCCESS)
}

/// tables.json beside the pool, else the shared Spider one.
fn default_tables(pool: &Path) -> Option<PathBuf> {
    let beside = pool.parent().map(|dir| dir.join("tables.json"));
    let shared = learnat_tools::shared_data::shared_data_dir()
        .map(|dir| dir.join("spider").join("tables.json"));
    [beside, shared]
        .into_iter()
        .flatten()
        .find(|path| path.is_file())
}

/// The embedding model from `dir` (or the default directory), fetched first when absent.
fn load_embedder(dir: Option<&Path>) -> Result<SentenceEmbedder> {
    let dir = match dir {
        Some(dir) => dir.to_path_buf(),
        None => default_embedding_dir()?,
    };
    if !embedding_model_present(&dir) {
        eprintln!(
            "the embedding model is not in {} yet; fetching it once",
            dir.display()
        );
        fetch_embedding_model(&dir)?;
    }
    Ok(SentenceEmbedder::load(&dir)?)
}

/// Runs `learnat bench retrieval`.
pub fn run_bench(args: BenchRetrievalArgs) -> Result<ExitCode> {
    let spider = match args.spider {
        Some(dir) => dir,
        None => learnat_tools::shared_data::shared_data_dir()
            .map(|dir| dir.join("spider"))
            .context(
                "no Spider data: pass --spider DIR (train_spider_min.json, dev.json, tables.json)",
            )?,
    };
    if args.k == 0 || args.queries == 0 {
        bail!("--k and --queries must be at least 1");
    }
    let embedding_dir = if args.embed {
        let dir = match args.embedding_model {
            Some(dir) => dir,
            None => default_embedding_dir()?,
        };
        if !embedding_model_present(&dir) {
            fetch_embedding_model(&dir)?;
        }
        Some(dir)
    } else {
        None
    };
    let options = BenchRetrievalOptions {
        pool: args.pool,
        pool_size: args.pool_size,
        queries: args.queries,
        k: args.k,
        embedding_dir,
        progress: !args.json,
        ..BenchRetrievalOptions::new(spider)
    };
    let report = run_bench_retrieval(&options).context("bench retrieval failed")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(ExitCode::SUCCESS)
}
