//! The evaluation runner behind `learnat eval`: executes gold and predicted SQL with bounded
//! concurrency, scores each question with the official semantics, streams results to the
//! checkpoint and builds the [`Report`].
//!
//! Per question: the gold query runs first (its row count caps the prediction's rows), then the
//! prediction, then [`learnat_tools::compare`] decides. Specifically:
//! - **Metrics** ([`EvalMetric`]): `test-suite` = the official Spider test-suite execution
//!   match on the single database (texts pre-processed as the official script does); `bird` =
//!   BIRD's `set(pred) == set(gold)` on the raw texts; `ves` = BIRD's semantics plus the valid
//!   efficiency score: each correct pair is re-run `ves_iterations` times (prediction, then
//!   gold), the ratios gold time / predicted time outside mean ± 3σ are dropped, and their mean
//!   is the question's time ratio (BIRD's `evaluation_ves.py`; VES = 100 · mean √ratio, R-VES
//!   with mini-dev's reward buckets). Times are the engine's time for the whole result.
//! - **Concurrency**: [`crate::scheduler`] — `jobs` questions at once, runaway queries demoted so
//!   their timeouts overlap. One [`SqliteDatabase`] (its own read-only connection pool) per
//!   database file, opened on first use.
//! - **Timeouts** interrupt the engine ([`ExecOptions::timeout`]); a timed-out prediction gets
//!   the verdict `timeout`.
//! - **Each (database, SQL, row cap) runs once per run**: a prediction identical to its gold (after
//!   pre-processing) reuses the gold result, and repeated texts share one execution. This assumes
//!   deterministic SQL, which the official scorers assume too (they compare one execution); a
//!   query using `random()` would be scored on a single draw either way.
//! - **Gold results** come from the on-disk [`GoldCache`] when present there.
//! - **Row caps**: a prediction is read up to gold rows + 1 rows under test-suite semantics (more
//!   rows is wrong whatever they are), and up to max(gold rows + 1, 100 000) under BIRD's set
//!   semantics, where duplicates could still make a longer result equal: when that cap is hit,
//!   a row outside the gold set makes it wrong, otherwise it is marked `error` / `row_limit`.
//! - **Bad input** never stops the run: a missing, empty or undecodable prediction is `error`
//!   with its kind; a database that cannot be opened, or whose gold fails, makes its questions
//!   `not_evaluable` with the reason.
//!
//! Test hook: `EvalOptions::question_delay` sleeps before each question; the CLI sets it only
//! from the hidden `LEARNAT_EVAL_QUESTION_DELAY_MS` variable, which the SIGKILL resume test uses
//! to make the moment of the kill predictable.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use learnat_tools::compare::{Metric, bird_result_eq};
use learnat_tools::sqlite::SqliteDatabase;
use learnat_tools::{ExecOptions, QueryResult};

use crate::checkpoint::{Checkpoint, RunFingerprint};
use crate::dataset::{Dataset, DatasetKind};
use crate::error::{BenchError, BenchResult};
use crate::gold_cache::GoldCache;
use crate::predictions::{Prediction, PredictionSource};
use crate::report::{QuestionRecord, Report, RunDescription, RunStats, Verdict};
use crate::scheduler::{TaskContext, run_tasks};

/// Gold results larger than this many rows make the question not evaluable.
pub const GOLD_MAX_ROWS: usize = 10_000_000;
/// Result-size cap for gold and predictions, in bytes.
pub const MAX_RESULT_BYTES: usize = 256 * 1024 * 1024;
/// Under BIRD's set semantics, predictions are read up to this many rows (or gold rows + 1).
pub const BIRD_PREDICTION_ROW_CAP: usize = 100_000;
/// An SQL execution running longer than this stops counting against `jobs`.
pub const DEFAULT_DEMOTE_AFTER: Duration = Duration::from_millis(100);

/// How a run scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalMetric {
    /// The official Spider test-suite execution match.
    TestSuite,
    /// BIRD's set execution match.
    Bird,
    /// BIRD's execution match plus VES / R-VES.
    Ves,
}

/// What the user asked for on the command line; `Ex` means the data set's own EX.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricChoice {
    /// The data set's official execution accuracy: test-suite for Spider and JSONL, BIRD's
    /// set match for BIRD.
    Ex,
    /// Spider test-suite semantics on any data set.
    TestSuite,
    /// BIRD set semantics on any data set.
    Bird,
    /// BIRD's VES.
    Ves,
}

impl EvalMetric {
    /// Resolve a choice for a data set kind.
    pub fn resolve(choice: MetricChoice, kind: DatasetKind) -> EvalMetric {
        match (choice, kind) {
            (MetricChoice::Ex, DatasetKind::Bird) | (MetricChoice::Bird, _) => EvalMetric::Bird,
            (MetricChoice::Ex, _) | (MetricChoice::TestSuite, _) => EvalMetric::TestSuite,
            (MetricChoice::Ves, _) => EvalMetric::Ves,
        }
    }

    /// The name in reports and checkpoints.
    pub fn name(self) -> &'static str {
        match self {
            EvalMetric::TestSuite => "test-suite",
            EvalMetric::Bird => "bird",
            EvalMetric::Ves => "ves",
        }
    }

    /// The comparison rule.
    pub fn scoring(self) -> Metric {
        match self {
            EvalMetric::TestSuite => Metric::SpiderTestSuite,
            EvalMetric::Bird | EvalMetric::Ves => Metric::Bird,
        }
    }

    /// The official per-query timeout of the scorer: 60 s (test-suite), 30 s (BIRD).
    pub fn default_timeout(self) -> Duration {
        self.scoring().official_timeout()
    }

    /// The rule in words, for reports.
    pub fn semantics(self) -> &'static str {
        match self {
            EvalMetric::TestSuite => {
                "Spider test-suite execution match (official pre-processing; any column permutation; bag of rows; order only when the gold says ORDER BY)"
            }
            EvalMetric::Bird => {
                "BIRD execution match: set(predicted rows) == set(gold rows) on the raw texts"
            }
            EvalMetric::Ves => {
                "BIRD execution match, plus VES = 100 · mean sqrt(gold time / predicted time) over correct questions (R-VES with the mini-dev reward buckets)"
            }
        }
    }
}

/// Options of one run.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// How to score.
    pub metric: EvalMetric,
    /// Questions evaluated at once (see [`crate::scheduler`]).
    pub jobs: usize,
    /// Per-query timeout; interrupts the engine.
    pub timeout: Duration,
    /// Evaluate the questions whose database is present and report the others as not
    /// evaluable, instead of refusing to start.
    pub skip_missing: bool,
    /// The on-disk gold cache directory; `None` disables it.
    pub gold_cache_dir: Option<PathBuf>,
    /// Where the checkpoint and the reports go; `None` writes nothing.
    pub out_dir: Option<PathBuf>,
    /// VES repetitions per correct question (the mini-dev scorer uses 100, BIRD dev's 10).
    pub ves_iterations: usize,
    /// An SQL execution running longer than this stops counting against `jobs`.
    pub demote_after: Duration,
    /// Test hook: sleep this long before each question (see the module docs).
    pub question_delay: Duration,
}

impl EvalOptions {
    /// Defaults for `metric`: the official timeout, one job per core, no cache, no output.
    pub fn new(metric: EvalMetric) -> EvalOptions {
        EvalOptions {
            metric,
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            timeout: metric.default_timeout(),
            skip_missing: false,
            gold_cache_dir: None,
            out_dir: None,
            ves_iterations: 100,
            demote_after: DEFAULT_DEMOTE_AFTER,
            question_delay: Duration::ZERO,
        }
    }
}

/// Told about the progress of a run (for a progress bar).
pub trait RunObserver: Sync {
    /// The run starts: `total` questions, of which `already_done` come from the checkpoint.
    fn started(&self, _total: usize, _already_done: usize) {}
    /// A question finished.
    fn finished(&self, _record: &QuestionRecord) {}
    /// All questions finished.
    fn ended(&self) {}
}

/// An observer that shows nothing.
pub struct Silent;

impl RunObserver for Silent {}

/// An indicatif progress bar on stderr; indicatif hides it when stderr is not a terminal.
pub struct TerminalProgress {
    bar: indicatif::ProgressBar,
}

impl TerminalProgress {
    /// A bar, not yet sized.
    pub fn new() -> TerminalProgress {
        let bar = indicatif::ProgressBar::new(0);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} questions, {per_sec}, ETA {eta} {msg}",
        ) {
            bar.set_style(style);
        }
        TerminalProgress { bar }
    }
}

impl Default for TerminalProgress {
    fn default() -> Self {
        TerminalProgress::new()
    }
}

impl RunObserver for TerminalProgress {
    fn started(&self, total: usize, already_done: usize) {
        self.bar.set_length(total as u64);
        self.bar.set_position(already_done as u64);
    }
    fn finished(&self, record: &QuestionRecord) {
        if record.verdict == Verdict::Timeout {
            self.bar
                .set_message(format!("(timeout on question {})", record.index));
        }
        self.bar.inc(1);
    }
    fn ended(&self) {
        self.bar.finish_and_clear();
    }
}

/// The fingerprint a run with these inputs writes into its checkpoint.
pub fn run_fingerprint(
    dataset: &Dataset,
    source: &dyn PredictionSource,
    options: &EvalOptions,
) -> RunFingerprint {
    RunFingerprint {
        dataset: dataset.kind.name().to_string(),
        split: dataset.split.clone(),
        questions: dataset.questions.len(),
        questions_sha256: dataset.content_sha256.clone(),
        predictions: source.fingerprint(),
        metric: options.metric.name().to_string(),
        timeout_ms: options.timeout.as_millis() as u64,
        ves_iterations: if options.metric == EvalMetric::Ves {
            options.ves_iterations
        } else {
            0
        },
    }
}

/// The engine tag of gold-cache entries: results depend on the SQLite version and the caps.
pub fn gold_cache_engine_tag() -> String {
    format!(
        "learnat-benchmarks {} sqlite {} rows {GOLD_MAX_ROWS} bytes {MAX_RESULT_BYTES}",
        env!("CARGO_PKG_VERSION"),
        rusqlite::version()
    )
}

/// Evaluate `source`'s predictions on `dataset`. With `options.out_dir`, resumes from and
/// appends to its checkpoint and writes the report files there.
pub fn evaluate(
    dataset: &Dataset,
    source: &dyn PredictionSource,
    options: &EvalOptions,
    observer: &dyn RunObserver,
) -> BenchResult<Report> {
    let start = Instant::now();
    if let Some(message) = dataset.missing_databases_message()
        && !options.skip_missing
    {
        return Err(BenchError::Invalid(message));
    }
    let mut warnings: Vec<String> = dataset.warnings.clone();
    warnings.extend(source.warnings());
    let (checkpoint, resumed) = match &options.out_dir {
        Some(dir) => {
            let opened = Checkpoint::open(
                dir,
                &run_fingerprint(dataset, source, options),
                dataset.questions.len(),
            )?;
            warnings.extend(opened.warnings);
            (Some(opened.checkpoint), opened.records)
        }
        None => (None, Vec::new()),
    };
    let mut done = vec![false; dataset.questions.len()];
    for record in &resumed {
        done[record.index] = true;
    }
    let todo: Vec<usize> = (0..dataset.questions.len()).filter(|&i| !done[i]).collect();
    let run = Run {
        dataset,
        source,
        options,
        scoring: options.metric.scoring(),
        databases: (0..dataset.databases.len())
            .map(|_| OnceLock::new())
            .collect(),
        database_keys: (0..dataset.databases.len())
            .map(|_| OnceLock::new())
            .collect(),
        cache: options
            .gold_cache_dir
            .as_deref()
            .map(|dir| GoldCache::open(dir, &gold_cache_engine_tag())),
        memo: Mutex::new(HashMap::new()),
        gold_executions: AtomicUsize::new(0),
        prediction_executions: AtomicUsize::new(0),
        shared_executions: AtomicUsize::new(0),
        checkpoint,
        checkpoint_error: Mutex::new(None),
        records: Mutex::new(Vec::with_capacity(todo.len())),
        observer,
    };
    observer.started(dataset.questions.len(), resumed.len());
    run_tasks(
        todo.len(),
        options.jobs,
        options.demote_after,
        |task, context| {
            let record = run.evaluate_question(todo[task], context);
            run.finish(record);
        },
    );
    observer.ended();
    if let Some(error) = run
        .checkpoint_error
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    {
        return Err(error);
    }
    if let Some(cache) = &run.cache
        && let Err(error) = cache.save()
    {
        warnings.push(format!(
            "the gold cache could not be saved ({error}); the next run re-executes the gold queries"
        ));
    }
    let mut records = resumed;
    let resumed_count = records.len();
    records.extend(
        run.records
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner),
    );
    records.sort_by_key(|r| r.index);
    let stats = RunStats {
        wall_s: start.elapsed().as_secs_f64(),
        resumed: resumed_count,
        evaluated: todo.len(),
        gold_executions: run.gold_executions.load(Ordering::Relaxed),
        prediction_executions: run.prediction_executions.load(Ordering::Relaxed),
        shared_executions: run.shared_executions.load(Ordering::Relaxed),
        jobs: options.jobs,
        timeout_s: options.timeout.as_secs_f64(),
        gold_cache: run.cache.as_ref().map(GoldCache::stats),
    };
    let description = RunDescription {
        predictions: source.describe(),
        metric: options.metric.name().to_string(),
        semantics: options.metric.semantics().to_string(),
        warnings,
        ves_iterations: (options.metric == EvalMetric::Ves).then_some(options.ves_iterations),
    };
    let report = Report::build(dataset, records, description, stats);
    if let Some(dir) = &options.out_dir {
        report.write_files(dir)?;
    }
    Ok(report)
}

/// A failed execution, as stored in the per-run memo.
#[derive(Debug, Clone)]
struct Failure {
    kind: &'static str,
    message: String,
}

type Outcome = Result<Arc<QueryResult>, Failure>;

/// Where an execution's result came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provenance {
    Executed,
    GoldCache,
    Shared,
}

/// (database index, executed text, row cap)
type ExecKey = (usize, Box<str>, usize);

struct Run<'a> {
    dataset: &'a Dataset,
    source: &'a dyn PredictionSource,
    options: &'a EvalOptions,
    scoring: Metric,
    databases: Vec<OnceLock<Result<SqliteDatabase, String>>>,
    database_keys: Vec<OnceLock<Option<String>>>,
    cache: Option<GoldCache>,
    memo: Mutex<HashMap<ExecKey, Arc<OnceLock<Outcome>>>>,
    gold_executions: AtomicUsize,
    prediction_executions: AtomicUsize,
    shared_executions: AtomicUsize,
    checkpoint: Option<Checkpoint>,
    checkpoint_error: Mutex<Option<BenchError>>,
    records: Mutex<Vec<QuestionRecord>>,
    observer: &'a dyn RunObserver,
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Run<'_> {
    fn finish(&self, record: QuestionRecord) {
        // Missing databases are re-checked on every run rather than remembered.
        if record.error_kind.as_deref() != Some("database_missing")
            && let Some(checkpoint) = &self.checkpoint
            && let Err(error) = checkpoint.append(&record)
        {
            self.checkpoint_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert(error);
        }
        self.observer.finished(&record);
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record);
    }

    fn database(&self, db: usize) -> Result<&SqliteDatabase, &String> {
        self.databases[db]
            .get_or_init(|| {
                SqliteDatabase::open(&self.dataset.databases[db].path).map_err(|e| e.to_string())
            })
            .as_ref()
    }

    fn cache_key(&self, db: usize) -> Option<&str> {
        let cache = self.cache.as_ref()?;
        self.database_keys[db]
            .get_or_init(|| cache.database_key(&self.dataset.databases[db].path).ok())
            .as_deref()
    }

    /// Execute `sql` once per run (per row cap), consulting the gold cache for gold queries.
    fn execute(
        &self,
        context: &TaskContext<'_>,
        db_index: usize,
        database: &SqliteDatabase,
        sql: &str,
        max_rows: usize,
        is_gold: bool,
    ) -> (Outcome, Provenance) {
        let cell = {
            let mut memo = self.memo.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(memo.entry((db_index, sql.into(), max_rows)).or_default())
        };
        let mut provenance = Provenance::Shared;
        // Waiting for another worker's execution of the same text counts as executing, so a
        // wait on a runaway query is demoted like the query itself.
        let outcome = context.executing(|| {
            cell.get_or_init(|| {
                let cache_key = if is_gold {
                    self.cache_key(db_index)
                } else {
                    None
                };
                if let (Some(cache), Some(key)) = (&self.cache, cache_key)
                    && let Some(hit) = cache.get(key, sql)
                {
                    provenance = Provenance::GoldCache;
                    return Ok(hit);
                }
                provenance = Provenance::Executed;
                let options = ExecOptions {
                    timeout: self.options.timeout,
                    max_rows,
                    max_result_bytes: MAX_RESULT_BYTES,
                };
                match database.execute_blocking(sql, &options) {
                    Ok(result) => {
                        let result = Arc::new(result);
                        if let (Some(cache), Some(key)) = (&self.cache, cache_key) {
                            cache.put(key, sql, &result);
                        }
                        Ok(result)
                    }
                    Err(error) => Err(Failure {
                        kind: error.kind(),
                        message: error.to_string(),
                    }),
                }
            })
            .clone()
        });
        let counter = match (provenance, is_gold) {
            (Provenance::Executed, true) => Some(&self.gold_executions),
            (Provenance::Executed, false) => Some(&self.prediction_executions),
            (Provenance::Shared, _) => Some(&self.shared_executions),
            (Provenance::GoldCache, _) => None,
        };
        if let Some(counter) = counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        (outcome, provenance)
    }

    fn evaluate_question(&self, index: usize, context: &TaskContext<'_>) -> QuestionRecord {
        let question = &self.dataset.questions[index];
        let mut record = QuestionRecord::new(
            question.index,
            &question.id,
            &question.db_id,
            &question.difficulty,
            Verdict::NotEvaluable,
        );
        let file = self.dataset.database_of(index);
        if !file.present {
            record.error_kind = Some("database_missing".into());
            record.error = Some(format!("database file '{}' not found", file.path.display()));
            return record;
        }
        if !self.options.question_delay.is_zero() {
            std::thread::sleep(self.options.question_delay);
        }
        let prediction = self.source.predict(question);
        let predicted_sql = match &prediction {
            Prediction::Sql(sql) => Some(sql.as_str()),
            Prediction::Problem { .. } => None,
        };
        record.prediction = predicted_sql.map(str::to_string);
        let prepared = self
            .scoring
            .prepare(predicted_sql.unwrap_or(""), &question.gold_sql);

        let db_index = self.dataset.question_database[index];
        let database = match self.database(db_index) {
            Ok(database) => database,
            Err(message) => {
                record.error_kind = Some("database_unreadable".into());
                record.error = Some(message.clone());
                return record;
            }
        };
        let (gold, provenance) = self.execute(
            context,
            db_index,
            database,
            &prepared.gold,
            GOLD_MAX_ROWS,
            true,
        );
        let gold = match gold {
            Ok(gold) if gold.truncated => {
                record.error_kind = Some("gold_too_large".into());
                record.error = Some(format!(
                    "the gold result is larger than the caps ({GOLD_MAX_ROWS} rows, {} MiB); cannot score",
                    MAX_RESULT_BYTES >> 20
                ));
                return record;
            }
            Ok(gold) => gold,
            Err(failure) => {
                record.error_kind = Some(format!("gold_{}", failure.kind));
                record.error = Some(format!("the gold query failed: {}", failure.message));
                return record;
            }
        };
        record.gold_ms = Some(millis(gold.elapsed));
        record.gold_rows = Some(gold.rows.len());
        record.gold_cached = provenance == Provenance::GoldCache;

        let Some(_) = predicted_sql else {
            if let Prediction::Problem { kind, message } = prediction {
                record.verdict = Verdict::Error;
                record.error_kind = Some(kind);
                record.error = Some(message);
            }
            return record;
        };
        let row_cap = match self.scoring {
            Metric::SpiderTestSuite => gold.rows.len() + 1,
            Metric::Bird => (gold.rows.len() + 1).max(BIRD_PREDICTION_ROW_CAP),
        };
        let predicted = if prepared.prediction == prepared.gold {
            self.shared_executions.fetch_add(1, Ordering::Relaxed);
            Ok(Arc::clone(&gold))
        } else {
            self.execute(
                context,
                db_index,
                database,
                &prepared.prediction,
                row_cap,
                false,
            )
            .0
        };
        let predicted = match predicted {
            Ok(predicted) => predicted,
            Err(failure) => {
                record.verdict = if failure.kind == "timeout" {
                    Verdict::Timeout
                } else {
                    Verdict::Error
                };
                record.error_kind = Some(failure.kind.to_string());
                record.error = Some(failure.message);
                return record;
            }
        };
        record.predicted_ms = Some(millis(predicted.elapsed));
        record.predicted_rows = Some(predicted.rows.len());
        record.predicted_rows_capped = predicted.truncated;
        self.score(
            &mut record,
            &gold,
            &predicted,
            prepared.order_matters,
            row_cap,
        );
        if self.options.metric == EvalMetric::Ves {
            record.ves_time_ratio = Some(if record.verdict == Verdict::Correct {
                self.ves_time_ratio(context, database, &prepared.prediction, &prepared.gold)
            } else {
                0.0
            });
        }
        record
    }

    fn score(
        &self,
        record: &mut QuestionRecord,
        gold: &QueryResult,
        predicted: &QueryResult,
        order_matters: bool,
        row_cap: usize,
    ) {
        if predicted.truncated && predicted.rows.len() < row_cap {
            record.verdict = Verdict::Error;
            record.error_kind = Some("resource_limit".into());
            record.error = Some(format!(
                "the prediction's result is larger than {} MiB (reading stopped after {} rows); cannot score it",
                MAX_RESULT_BYTES >> 20,
                predicted.rows.len()
            ));
            return;
        }
        let equal = self
            .scoring
            .result_eq(&gold.rows, &predicted.rows, order_matters);
        record.verdict = if equal {
            Verdict::Correct
        } else {
            Verdict::Wrong
        };
        if !predicted.truncated {
            return;
        }
        match self.scoring {
            // More rows than the gold is wrong whatever they hold.
            Metric::SpiderTestSuite => {
                record.error = Some(format!(
                    "the prediction returned more than the gold's {} rows; reading stopped at {}",
                    gold.rows.len(),
                    predicted.rows.len()
                ));
            }
            Metric::Bird => {
                // Duplicates could still make a longer result equal as a set: decide when the
                // rows read already leave the gold set, else mark the verdict as undecided.
                let union: Vec<Vec<learnat_tools::Value>> = gold
                    .rows
                    .iter()
                    .chain(predicted.rows.iter())
                    .cloned()
                    .collect();
                if bird_result_eq(&gold.rows, &union) {
                    record.verdict = Verdict::Error;
                    record.error_kind = Some("row_limit".into());
                    record.error = Some(format!(
                        "the prediction returned more than {} rows, all in the gold set so far; the rest were not read, so it is not counted correct",
                        predicted.rows.len()
                    ));
                } else {
                    record.verdict = Verdict::Wrong;
                    record.error = Some(format!(
                        "the prediction returned more than {} rows, some not in the gold set; reading stopped there",
                        predicted.rows.len()
                    ));
                }
            }
        }
    }

    /// BIRD's time ratio: the mean of gold/predicted time over the repetitions, after dropping
    /// ratios outside mean ± 3σ. 0 when a repetition fails.
    fn ves_time_ratio(
        &self,
        context: &TaskContext<'_>,
        database: &SqliteDatabase,
        predicted: &str,
        gold: &str,
    ) -> f64 {
        let options = ExecOptions {
            timeout: self.options.timeout,
            max_rows: GOLD_MAX_ROWS,
            max_result_bytes: MAX_RESULT_BYTES,
        };
        let mut ratios = Vec::with_capacity(self.options.ves_iterations);
        for _ in 0..self.options.ves_iterations.max(1) {
            let timed = context.executing(|| {
                let p = database.execute_blocking(predicted, &options)?.elapsed;
                let g = database.execute_blocking(gold, &options)?.elapsed;
                Ok::<_, learnat_tools::ToolsError>((p, g))
            });
            match timed {
                Ok((p, g)) => ratios.push(g.as_secs_f64() / p.as_secs_f64().max(1e-9)),
                Err(_) => return 0.0,
            }
        }
        mean_without_outliers(&ratios)
    }
}

/// The mean of the values strictly inside mean ± 3σ (population σ, as numpy's default); all
/// values when that leaves none (σ = 0).
pub fn mean_without_outliers(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let kept: Vec<f64> = values
        .iter()
        .copied()
        .filter(|v| *v > mean - 3.0 * std && *v < mean + 3.0 * std)
        .collect();
    let kept = if kept.is_empty() {
        values.to_vec()
    } else {
        kept
    };
    kept.iter().sum::<f64>() / kept.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_choices_resolve_per_data_set() {
        assert_eq!(
            EvalMetric::resolve(MetricChoice::Ex, DatasetKind::Spider),
            EvalMetric::TestSuite
        );
        assert_eq!(
            EvalMetric::resolve(MetricChoice::Ex, DatasetKind::Bird),
            EvalMetric::Bird
        );
        assert_eq!(
            EvalMetric::resolve(MetricChoice::Bird, DatasetKind::Spider),
            EvalMetric::Bird
        );
        assert_eq!(
            EvalMetric::resolve(MetricChoice::TestSuite, DatasetKind::Bird),
            EvalMetric::TestSuite
        );
        assert_eq!(
            EvalMetric::resolve(MetricChoice::Ves, DatasetKind::Bird),
            EvalMetric::Ves
        );
        assert_eq!(
            EvalMetric::TestSuite.default_timeout(),
            Duration::from_secs(60)
        );
        assert_eq!(EvalMetric::Ves.default_timeout(), Duration::from_secs(30));
    }

    #[test]
    fn outliers_beyond_three_sigma_are_dropped() {
        let mut values = vec![1.0; 20];
        values.push(100.0);
        assert_eq!(mean_without_outliers(&values), 1.0);
        assert_eq!(
            mean_without_outliers(&[2.0, 2.0]),
            2.0,
            "σ = 0 keeps everything"
        );
        assert_eq!(mean_without_outliers(&[1.0, 3.0]), 2.0);
        assert_eq!(mean_without_outliers(&[]), 0.0);
    }
}
