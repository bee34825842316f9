//! LearNAT's Decomposition Synthesis Procedure: training data for the student from (question,
//! gold SQL) pairs and a teacher model.
//!
//! For each question, [`search::search`] runs Monte Carlo tree search over partial
//! decompositions. The teacher ([`teacher::Teacher`], any `ChatModel`) proposes k next steps in
//! exactly the conversation the agent's decompose strategy holds at inference (same opening
//! messages, same per-step result messages); it never sees the gold SQL. The
//! [`judge::Judge`] — the only part that does — executes each step, classifies it Progressive /
//! Redundant / Invalid with the tools crate's AST containment (only Progressive steps expand,
//! unless pruning is off for the ablation), rewards it with `α · node_similarity + (1 − α) ·
//! ted_similarity`, and ends the search when a step's result matches the gold result.
//!
//! [`run_synthesis`] does this for a Spider split, questions in parallel under a teacher
//! concurrency limit, resumably, and writes the files of [`output`] and [`stats::SynthStats`].
//!
//! Invariants: the teacher's messages are built from the question, the schema and the executed
//! results of its own steps only; a question is done exactly when its line is in
//! `questions.jsonl`; every preference pair has a positive margin.

pub mod error;
pub mod judge;
pub mod output;
pub mod search;
pub mod spider;
pub mod stats;
pub mod teacher;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use indicatif::ProgressBar;
use learnat_agent::model::{ChatMessage, ChatModel};
use learnat_agent::strategy::StrategyInput;
use learnat_agent::strategy::StrategyOptions;
use learnat_agent::strategy::decompose::Decompose;
use learnat_tools::Database;
use learnat_tools::schema::{IntrospectOptions, Schema, introspect};
use serde::{Deserialize, Serialize};

pub use error::{SynthError, SynthResult};
pub use output::{PairRecord, QuestionRecord, RejectedClass, SftRecord};
pub use search::{SearchOptions, SearchOutcome};
pub use spider::{TrainQuestion, load_spider_split};
pub use stats::SynthStats;
pub use teacher::Teacher;

use judge::Judge;
use output::{OutputWriter, export_trl, preference_pairs, read_jsonl, sft_completion, trajectory};
use stats::PairCounts;

/// Everything a synthesis run needs besides the teacher model.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// The Spider folder (JSON files and `database/`).
    pub data: PathBuf,
    /// `train`, `others` or `dev`.
    pub split: String,
    /// Output folder (created; resumed when it holds a run with the same settings).
    pub out: PathBuf,
    /// Only the first N questions of the split.
    pub limit: Option<usize>,
    /// Questions searched at the same time.
    pub jobs: usize,
    /// Teacher requests in flight at most.
    pub teacher_concurrency: usize,
    /// The teacher's spec, recorded in the settings and the report.
    pub teacher_spec: String,
    pub search: SearchOptions,
    /// Time limit of each step's (and the gold's) execution.
    pub step_timeout: Duration,
}

/// The settings a resumed run must share with the run it continues (`settings.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Settings {
    teacher: String,
    split: String,
    search: SearchOptions,
}

/// The student options whose decompose prompt the SFT data uses: the defaults, with the
/// search depth as the step limit (the defaults' 5 steps match the default depth).
pub fn student_options(search: &SearchOptions) -> StrategyOptions {
    StrategyOptions {
        max_steps: search.max_depth,
        ..StrategyOptions::default()
    }
}

/// The decompose strategy's opening messages for `question` on `database`, as `learnat eval
/// --strategy decompose` sends them (no ADR: the built-in examples).
pub async fn decompose_prompt(
    model: &Arc<dyn ChatModel>,
    database: &Arc<dyn Database>,
    schema: &Schema,
    question: &str,
    db_id: &str,
    search: &SearchOptions,
) -> SynthResult<Vec<ChatMessage>> {
    let strategy = Decompose::new(student_options(search), None);
    let mut input = StrategyInput::new(question, database, schema);
    input.db_id = Some(db_id);
    Ok(strategy.prompt(model, &input).await?.messages)
}

/// The lines one question adds to the output files.
#[derive(Debug, Clone)]
pub struct QuestionOutput {
    pub sft: Option<SftRecord>,
    pub pairs: Vec<PairRecord>,
    pub record: QuestionRecord,
}

/// Searches one question whose database is open and introspected.
pub async fn synthesize_question(
    question: &TrainQuestion,
    database: Arc<dyn Database>,
    schema: &Schema,
    teacher: &Teacher,
    search: &SearchOptions,
    step_timeout: Duration,
) -> SynthResult<QuestionOutput> {
    let started = Instant::now();
    let judge = match Judge::new(
        Arc::clone(&database),
        &question.gold_sql,
        search.alpha,
        step_timeout,
    )
    .await
    {
        Ok(judge) => judge,
        Err(error @ SynthError::GoldFails { .. }) => {
            return Ok(QuestionOutput {
                sft: None,
                pairs: Vec::new(),
                record: error_record(question, error.to_string()),
            });
        }
        Err(error) => return Err(error),
    };
    if !judge.gold_parses() {
        tracing::warn!(
            id = question.id,
            "the gold SQL does not parse: every step will be Invalid"
        );
    }
    let prompt = decompose_prompt(
        teacher.model(),
        &database,
        schema,
        &question.question,
        &question.db_id,
        search,
    )
    .await?;
    let outcome = search::search(search::SearchInput {
        id: &question.id,
        prompt: &prompt,
        teacher,
        judge: &judge,
        options: search,
    })
    .await?;
    let sft = sft_completion(&outcome, &question.question).map(|completion| {
        let mut messages = prompt.clone();
        messages.push(ChatMessage::assistant(completion));
        SftRecord {
            id: question.id.clone(),
            db_id: question.db_id.clone(),
            question: question.question.clone(),
            messages,
        }
    });
    let pairs = preference_pairs(&outcome, &question.id, &question.db_id, &prompt);
    let trajectory = trajectory(&outcome);
    let record = QuestionRecord {
        id: question.id.clone(),
        db_id: question.db_id.clone(),
        question: question.question.clone(),
        gold_sql: question.gold_sql.clone(),
        solved: outcome.solved.is_some(),
        depth: trajectory.len(),
        simulations: outcome.simulations,
        usage: outcome.usage,
        classes: outcome.classes,
        duplicates: outcome.duplicates,
        nodes: outcome.nodes.len(),
        pairs: pairs.len(),
        seconds: started.elapsed().as_secs_f64(),
        trajectory,
        error: None,
    };
    Ok(QuestionOutput { sft, pairs, record })
}

fn error_record(question: &TrainQuestion, error: String) -> QuestionRecord {
    QuestionRecord {
        id: question.id.clone(),
        db_id: question.db_id.clone(),
        question: question.question.clone(),
        gold_sql: question.gold_sql.clone(),
        solved: false,
        depth: 0,
        simulations: 0,
        usage: Default::default(),
        classes: Default::default(),
        duplicates: 0,
        nodes: 0,
        pairs: 0,
        seconds: 0.0,
        trajectory: Vec::new(),
        error: Some(error),
    }
}

type OpenedDatabase = Result<(Arc<dyn Database>, Arc<Schema>), String>;

/// Opens each database once, whatever the number of questions on it.
#[derive(Default)]
struct Databases {
    open: tokio::sync::Mutex<HashMap<PathBuf, OpenedDatabase>>,
}

impl Databases {
    async fn get(&self, path: &Path) -> OpenedDatabase {
        let mut open = self.open.lock().await;
        if let Some(opened) = open.get(path) {
            return opened.clone();
        }
        let opened = async {
            let database = learnat_tools::database::open_database(&path.to_string_lossy())
                .await
                .map_err(|e| e.to_string())?;
            let schema = introspect(database.as_ref(), &IntrospectOptions::default())
                .await
                .map_err(|e| e.to_string())?;
            Ok((database, Arc::new(schema)))
        }
        .await;
        open.insert(path.to_path_buf(), opened.clone());
        opened
    }
}

/// Checks `settings.json` in `out` against this run's settings (writing it on a first run).
fn check_settings(out: &Path, settings: &Settings) -> SynthResult<()> {
    let path = out.join(output::SETTINGS_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let previous: Settings =
                serde_json::from_str(&text).map_err(|error| SynthError::Data {
                    path: path.clone(),
                    message: format!("not the settings of a synthesis run: {error}"),
                })?;
            if previous != *settings {
                let show = |s: &Settings| serde_json::to_string(s).unwrap_or_default();
                return Err(SynthError::SettingsMismatch {
                    path: out.to_path_buf(),
                    difference: format!("it has {}, this run {}", show(&previous), show(settings)),
                });
            }
            Ok(())
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let text = serde_json::to_string_pretty(settings).unwrap_or_default();
            std::fs::write(&path, text + "\n").map_err(|e| SynthError::io("write", &path, e))
        }
        Err(error) => Err(SynthError::io("read", &path, error)),
    }
}

/// Synthesises the split `options.split` into `options.out` (see the module documentation),
/// skipping questions a previous run finished. `progress` advances once per question.
pub async fn run_synthesis(
    options: &SynthOptions,
    model: Arc<dyn ChatModel>,
    progress: &ProgressBar,
) -> SynthResult<SynthStats> {
    let started = Instant::now();
    let search = &options.search;
    if !(0.0..=1.0).contains(&search.alpha) {
        return Err(SynthError::InvalidOptions(format!(
            "--alpha must be in [0, 1], got {}",
            search.alpha
        )));
    }
    if search.k == 0 || search.max_depth == 0 {
        return Err(SynthError::InvalidOptions(
            "--k and --depth must be at least 1".into(),
        ));
    }
    let mut questions = load_spider_split(&options.data, &options.split)?;
    if let Some(limit) = options.limit {
        questions.truncate(limit);
    }
    std::fs::create_dir_all(&options.out).map_err(|e| SynthError::io("create", &options.out, e))?;
    check_settings(
        &options.out,
        &Settings {
            teacher: options.teacher_spec.clone(),
            split: options.split.clone(),
            search: search.clone(),
        },
    )?;
    let done = output::prepare_resume(&options.out)?;
    let pending: Vec<&TrainQuestion> = questions.iter().filter(|q| !done.contains(&q.id)).collect();
    let skipped = questions.len() - pending.len();
    if skipped > 0 {
        tracing::info!(skipped, "resuming: questions already done are skipped");
    }
    progress.set_length(pending.len() as u64);
    let writer = OutputWriter::open(&options.out)?;
    let teacher = Teacher::new(
        model,
        options.teacher_concurrency,
        search.temperature,
        search.max_tokens,
    );
    let databases = Databases::default();
    let mut results = futures::stream::iter(pending)
        .map(|question| {
            let teacher = &teacher;
            let databases = &databases;
            async move {
                let output = match databases.get(&question.database).await {
                    Ok((database, schema)) => {
                        synthesize_question(
                            question,
                            database,
                            &schema,
                            teacher,
                            search,
                            options.step_timeout,
                        )
                        .await?
                    }
                    Err(error) => QuestionOutput {
                        sft: None,
                        pairs: Vec::new(),
                        record: error_record(
                            question,
                            format!(
                                "cannot open the database {}: {error}",
                                question.database.display()
                            ),
                        ),
                    },
                };
                SynthResult::Ok(output)
            }
        })
        .buffer_unordered(options.jobs.max(1));
    let mut solved = 0usize;
    let mut finished = 0usize;
    while let Some(result) = results.next().await {
        let output = result?;
        writer.write_question(output.sft.as_ref(), &output.pairs, &output.record)?;
        finished += 1;
        solved += usize::from(output.record.solved);
        progress.set_message(format!(
            "solved {solved}/{finished} · teacher calls {}",
            teacher.total_calls()
        ));
        progress.inc(1);
    }
    drop(results);
    drop(writer);
    finish(options, started.elapsed().as_secs_f64(), skipped)
}

/// Writes the TRL exports and `stats.json` from the output files, and returns the stats.
fn finish(options: &SynthOptions, wall_seconds: f64, skipped: usize) -> SynthResult<SynthStats> {
    let out = &options.out;
    let (sft_records, _) = export_trl(out)?;
    let (records, _) = read_jsonl::<QuestionRecord>(&out.join(output::QUESTIONS_FILE))?;
    let (pairs, _) = read_jsonl::<PairRecord>(&out.join(output::PAIRS_FILE))?;
    let mut counts = PairCounts::default();
    for pair in &pairs {
        match pair.rejected_class {
            RejectedClass::Redundant => counts.redundant += 1,
            RejectedClass::Invalid => counts.invalid += 1,
            RejectedClass::LowerReward => counts.lower_reward += 1,
        }
    }
    let stats = SynthStats::from_records(
        &options.teacher_spec,
        &options.search,
        &records,
        sft_records,
        counts,
        wall_seconds,
        skipped,
    );
    let path = out.join(output::STATS_FILE);
    let text = serde_json::to_string_pretty(&stats).unwrap_or_default();
    std::fs::write(&path, text + "\n").map_err(|e| SynthError::io("write", &path, e))?;
    Ok(stats)
}
