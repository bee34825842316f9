//! Whole training jobs as the CLI runs them: resolve the base model, check memory, load and
//! tokenize the data, build the model (optionally continuing an adapter), train, save.

use std::path::{Path, PathBuf};

use candle_core::DType;
use candle_core::quantized::gguf_file;
use learnat_agent::model::fetch::default_models_dir;
use learnat_agent::model::gguf::{ChatTemplate, GgufTokenizer, ModelConfig};
use learnat_agent::model::spec::{ModelSpec, resolve_gguf_file};
use learnat_agent::prompt::{PromptInput, zero_shot_messages};
use learnat_tools::Dialect;
use learnat_tools::sqlite::SqliteDatabase;
use serde::Serialize;

use super::data::{Encoder, read_pairs, read_questions, read_sft, tokenize_all};
use super::grpo::{Gold, GrpoOptions, GrpoTask, database_path, json_to_value, train_grpo};
use super::lora::LoraSettings;
use super::memory::{MemoryEstimate, available_memory, check, estimate};
use super::model::{TrainModel, load_gguf_base, tokenizer_and_template};
use super::objectives::PreferenceObjective;
use super::peft::load_adapter_into;
use super::run::{PairSequences, RunOptions, TrainSummary, train_preference, train_sft};
use super::{TrainError, TrainResult, io_error};

/// What every job needs.
#[derive(Debug, Clone)]
pub struct JobOptions {
    /// Base model spec (`gguf:PATH` or `gguf:NAME`).
    pub base: String,
    /// The data file.
    pub data: PathBuf,
    /// LoRA settings.
    pub lora: LoraSettings,
    /// Longer sequences are skipped.
    pub max_seq_len: usize,
    /// Continue this adapter (it is also the reference policy of MDPO / GRPO).
    pub init_adapter: Option<PathBuf>,
    /// Use at most this many records.
    pub limit: Option<usize>,
    /// Start even when the estimate exceeds the available memory.
    pub ignore_memory_check: bool,
    /// The loop's settings.
    pub run: RunOptions,
}

/// A job's report.
#[derive(Debug, Clone, Serialize)]
pub struct JobReport {
    /// The base model file.
    pub base: PathBuf,
    /// Records used.
    pub records: usize,
    /// Records skipped for length.
    pub skipped_too_long: usize,
    /// The memory estimate made before starting.
    pub memory: MemoryEstimate,
    /// Trainable parameters.
    pub trainable_parameters: usize,
    /// The loop's summary.
    pub summary: TrainSummary,
}

/// The GGUF file a `--base` spec names.
pub fn resolve_base(spec: &str) -> TrainResult<PathBuf> {
    let parsed = ModelSpec::parse(spec)?;
    let ModelSpec::Gguf { path } = parsed else {
        return Err(TrainError::Config(format!(
            "--base '{spec}' is not a local model: training needs gguf:PATH or gguf:NAME"
        )));
    };
    Ok(resolve_gguf_file(&path, &default_models_dir()?)?)
}

/// What the metadata of a GGUF file says: shape, vocabulary size, whether the output head is
/// tied to the embeddings, tokenizer and chat template. Reading it loads no weights.
pub struct BaseShape {
    pub config: ModelConfig,
    pub vocab: usize,
    pub tied: bool,
    pub tokenizer: GgufTokenizer,
    pub template: ChatTemplate,
}

/// Reads a GGUF file's metadata (see [`BaseShape`]).
pub fn read_shape(path: &Path) -> TrainResult<BaseShape> {
    let model_error = |reason: String| TrainError::Model {
        path: path.to_path_buf(),
        reason,
    };
    let mut file =
        std::fs::File::open(path).map_err(io_error("cannot open the base model", path))?;
    let content = gguf_file::Content::read(&mut file)
        .map_err(|e| model_error(format!("not a readable GGUF file: {e}")))?;
    let config = ModelConfig::from_gguf_metadata(&content.metadata).map_err(model_error)?;
    let vocab = content
        .tensor_infos
        .get("token_embd.weight")
        .and_then(|info| info.shape.dims().first().copied())
        .ok_or_else(|| model_error("no token_embd.weight".to_string()))?;
    let tied = !content.tensor_infos.contains_key("output.weight");
    let (tokenizer, template) = tokenizer_and_template(&content.metadata).map_err(model_error)?;
    Ok(BaseShape {
        config,
        vocab,
        tied,
        tokenizer,
        template,
    })
}

/// Checks the memory a run on sequences of up to `longest` tokens needs (`alive` of them at
/// once), then loads the weights and builds the model (continuing `--init-adapter`).
fn load_model(
    options: &JobOptions,
    path: &Path,
    shape: &BaseShape,
    longest: usize,
    alive: usize,
) -> TrainResult<(TrainModel, MemoryEstimate)> {
    let memory = estimate(
        &shape.config,
        shape.vocab,
        shape.tied,
        longest.min(options.max_seq_len),
        &options.lora,
        alive,
        4,
    );
    tracing::info!(total_mib = memory.total >> 20, longest, "memory estimate");
    if !options.ignore_memory_check {
        check(&memory, available_memory())?;
    }
    let base = load_gguf_base(path, DType::F32)?;
    let mut model = TrainModel::new(
        &base.config,
        &base.weights,
        &options.lora,
        options.max_seq_len,
        options.run.seed,
    )?;
    if let Some(dir) = &options.init_adapter {
        load_adapter_into(&mut model, dir, true)?;
    }
    Ok((model, memory))
}

fn limited<T>(mut records: Vec<T>, limit: Option<usize>) -> Vec<T> {
    if let Some(limit) = limit {
        records.truncate(limit);
    }
    records
}

/// `learnat train sft`.
pub fn run_sft_job(options: &JobOptions) -> TrainResult<JobReport> {
    let records = limited(read_sft(&options.data)?, options.limit);
    let path = resolve_base(&options.base)?;
    let base = read_shape(&path)?;
    let encoder = Encoder {
        tokenizer: &base.tokenizer,
        template: &base.template,
    };
    let tokenized = tokenize_all(
        &options.data,
        &records,
        options.max_seq_len,
        |r| encoder.sft(r),
        |s| s.tokens.len(),
    )?;
    let sequences: Vec<_> = tokenized.items.into_iter().map(|(_, s)| s).collect();
    let longest = sequences.iter().map(|s| s.tokens.len()).max().unwrap_or(1);
    let (mut model, memory) = load_model(options, &path, &base, longest, 1)?;
    let run = RunOptions {
        base_name: path.display().to_string(),
        ..options.run.clone()
    };
    let summary = train_sft(&mut model, &sequences, &run)?;
    Ok(JobReport {
        base: path,
        records: sequences.len(),
        skipped_too_long: tokenized.too_long,
        memory,
        trainable_parameters: model.trainable_parameters(),
        summary,
    })
}

/// `learnat train mdpo` (and plain DPO with `objective = Dpo`).
pub fn run_preference_job(
    options: &JobOptions,
    objective: PreferenceObjective,
    beta: f64,
) -> TrainResult<JobReport> {
    let needs_margin = objective != PreferenceObjective::Dpo;
    let records = limited(read_pairs(&options.data, needs_margin)?, options.limit);
    let path = resolve_base(&options.base)?;
    let base = read_shape(&path)?;
    let encoder = Encoder {
        tokenizer: &base.tokenizer,
        template: &base.template,
    };
    let tokenized = tokenize_all(
        &options.data,
        &records,
        options.max_seq_len,
        |pair| {
            let (chosen, rejected) = encoder.pair(pair)?;
            Ok(PairSequences {
                chosen,
                rejected,
                reward_margin: pair.reward_margin().unwrap_or(0.0),
            })
        },
        |p| p.chosen.tokens.len().max(p.rejected.tokens.len()),
    )?;
    let pairs: Vec<_> = tokenized.items.into_iter().map(|(_, p)| p).collect();
    let longest = pairs
        .iter()
        .map(|p| p.chosen.tokens.len().max(p.rejected.tokens.len()))
        .max()
        .unwrap_or(1);
    let (mut model, memory) = load_model(options, &path, &base, longest, 2)?;
    let run = RunOptions {
        base_name: path.display().to_string(),
        ..options.run.clone()
    };
    let summary = train_preference(&mut model, &pairs, objective, beta, &run)?;
    Ok(JobReport {
        base: path,
        records: pairs.len(),
        skipped_too_long: tokenized.too_long,
        memory,
        trainable_parameters: model.trainable_parameters(),
        summary,
    })
}

/// `learnat train grpo`: `db_dir` holds `db_id/db_id.sqlite`.
pub fn run_grpo_job(
    options: &JobOptions,
    db_dir: &Path,
    grpo: &GrpoOptions,
) -> TrainResult<JobReport> {
    let records = limited(read_questions(&options.data)?, options.limit);
    let path = resolve_base(&options.base)?;
    let base = read_shape(&path)?;
    let encoder = Encoder {
        tokenizer: &base.tokenizer,
        template: &base.template,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            TrainError::Config(format!("cannot start a runtime for schema reading: {e}"))
        })?;
    let mut tasks = Vec::with_capacity(records.len());
    let mut skipped = 0;
    for (line, question) in &records {
        let data_error = |reason: String| TrainError::Data {
            file: options.data.clone(),
            line: *line,
            reason,
        };
        let db_path = database_path(db_dir, &question.db_id);
        let database = SqliteDatabase::open(&db_path).map_err(|e| {
            data_error(format!(
                "database '{}': {e} (pass --db-dir)",
                question.db_id
            ))
        })?;
        let messages = match &question.messages {
            Some(messages) => messages.clone(),
            None => {
                let schema = runtime
                    .block_on(learnat_tools::schema::introspect(
                        &database,
                        &Default::default(),
                    ))
                    .map_err(|e| {
                        data_error(format!(
                            "cannot read the schema of '{}': {e}",
                            question.db_id
                        ))
                    })?;
                let ddl = schema.to_ddl();
                zero_shot_messages(&PromptInput {
                    question: &question.question,
                    evidence: question.evidence.as_deref(),
                    schema_text: &ddl,
                    dialect: Dialect::Sqlite,
                    links: None,
                    clarifications: &[],
                    history: &[],
                })
            }
        };
        let prompt = encoder.prompt(&messages, "").map_err(data_error)?;
        if prompt.len() + grpo.max_new_tokens > options.max_seq_len {
            skipped += 1;
            continue;
        }
        let gold = match (&question.gold_sql, &question.gold_rows) {
            (Some(sql), _) => Gold::Sql(sql.clone()),
            (None, Some(rows)) => Gold::Rows(
                rows.iter()
                    .map(|row| row.iter().map(json_to_value).collect())
                    .collect(),
            ),
            (None, None) => return Err(data_error("no gold SQL or rows".to_string())),
        };
        tasks.push(GrpoTask {
            prompt,
            database,
            gold,
        });
    }
    if tasks.is_empty() {
        return Err(TrainError::Data {
            file: options.data.clone(),
            line: 0,
            reason: format!(
                "all {skipped} prompts are longer than --max-seq-len minus --max-new-tokens"
            ),
        });
    }
    let longest = tasks.iter().map(|t| t.prompt.len()).max().unwrap_or(1) + grpo.max_new_tokens;
    let (mut model, memory) = load_model(options, &path, &base, longest, 1)?;
    let mut grpo = grpo.clone();
    if grpo.end_of_turn.is_empty() {
        grpo.end_of_turn = base.tokenizer.end_of_turn_ids();
    }
    let tokenizer = &base.tokenizer;
    let decode = |ids: &[u32]| tokenizer.decode(ids);
    let run = RunOptions {
        base_name: path.display().to_string(),
        ..options.run.clone()
    };
    let summary = train_grpo(&mut model, &tasks, &grpo, &decode, &run)?;
    Ok(JobReport {
        base: path,
        records: tasks.len(),
        skipped_too_long: skipped,
        memory,
        trainable_parameters: model.trainable_parameters(),
        summary,
    })
}
