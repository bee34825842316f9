//! Parity with the official scorers, question by question, on Spider dev.
//!
//! `../shared/data/parity/` holds three prediction files (the gold queries themselves, a
//! perturbed copy that probes one comparison rule per line, and a small model's answers) with
//! the verdicts of the official test-suite scorer (`.official`) and of BIRD's `evaluation.py`
//! (`.bird`). Line N of each file is item N-1 of Spider's `dev.json`. This test executes every
//! prediction and gold query read-only through [`SqliteDatabase`], scores them with
//! [`spider_result_eq`] (after [`spider_preprocess`]) and [`bird_result_eq`] (raw texts), and
//! requires the same verdict on every evaluable question. `-` marks the questions whose
//! database is not available; they must be exactly those.
//!
//! Each distinct (database, SQL text) runs once: gold queries, and predictions equal to them,
//! come from a cache.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use learnat_tools::compare::{bird_result_eq, spider_preprocess, spider_result_eq};
use learnat_tools::shared_data::shared_data_or_skip;
use learnat_tools::sqlite::SqliteDatabase;
use learnat_tools::{ExecOptions, Value};

/// The prediction files of the fixture folder, without extension.
const PREDICTION_FILES: [&str; 3] = [
    "spider_dev_gold",
    "spider_dev_perturbed",
    "spider_dev_qwen05",
];

/// One question of Spider dev: its database and gold SQL.
struct Question {
    db_id: String,
    gold: String,
}

type Rows = Rc<Vec<Vec<Value>>>;

/// Runs statements on the Spider databases, each distinct (database, SQL) once.
struct CachedExecutor {
    database_dir: PathBuf,
    databases: HashMap<String, Option<SqliteDatabase>>,
    results: HashMap<(String, String), Result<Rows, String>>,
    options: ExecOptions,
    executions: usize,
    execution_time: Duration,
}

impl CachedExecutor {
    fn new(database_dir: PathBuf) -> Self {
        CachedExecutor {
            database_dir,
            databases: HashMap::new(),
            results: HashMap::new(),
            // Official scorers have no row cap; their timeouts (60 s / 30 s) never fire here.
            options: ExecOptions {
                timeout: Duration::from_secs(30),
                max_rows: usize::MAX,
                max_result_bytes: usize::MAX,
            },
            executions: 0,
            execution_time: Duration::ZERO,
        }
    }

    /// The database file of `db_id`, if it exists.
    fn database_path(&self, db_id: &str) -> PathBuf {
        self.database_dir
            .join(db_id)
            .join(format!("{db_id}.sqlite"))
    }

    fn has_database(&self, db_id: &str) -> bool {
        self.database_path(db_id).is_file()
    }

    /// Rows of `sql` on `db_id`, or the error message.
    fn rows(&mut self, db_id: &str, sql: &str) -> Result<Rows, String> {
        let key = (db_id.to_owned(), sql.to_owned());
        if let Some(cached) = self.results.get(&key) {
            return cached.clone();
        }
        let path = self.database_path(db_id);
        let database = self
            .databases
            .entry(db_id.to_owned())
            .or_insert_with(|| SqliteDatabase::open(&path).ok());
        let started = Instant::now();
        let outcome = match database {
            None => Err(format!("cannot open {}", path.display())),
            Some(database) => match database.execute_blocking(sql, &self.options) {
                Ok(result) if result.truncated => Err("result truncated".to_owned()),
                Ok(result) => Ok(Rc::new(result.rows)),
                Err(error) => Err(format!("{} error: {error}", error.kind())),
            },
        };
        self.execution_time += started.elapsed();
        self.executions += 1;
        self.results.insert(key, outcome.clone());
        outcome
    }
}

fn read_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    text.lines().map(str::to_owned).collect()
}

fn load_questions(dev_json: &Path) -> Vec<Question> {
    let text = std::fs::read_to_string(dev_json)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", dev_json.display()));
    let items: Vec<serde_json::Value> = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not a JSON array: {error}", dev_json.display()));
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            let field = |name: &str| {
                item.get(name)
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or_else(|| panic!("dev.json item {index} has no string '{name}'"))
                    .to_owned()
            };
            Question {
                db_id: field("db_id"),
                gold: field("query"),
            }
        })
        .collect()
}

/// Parses a verdict symbol: `Some(true)` for `1`, `Some(false)` for `0`, `None` for `-`.
fn parse_verdict(symbol: &str, file: &str, line: usize) -> Option<bool> {
    match symbol.trim() {
        "1" => Some(true),
        "0" => Some(false),
        "-" => None,
        other => panic!("{file} line {line}: unexpected verdict '{other}'"),
    }
}

/// One disagreement, printed before the test fails.
struct Disagreement {
    file: &'static str,
    scorer: &'static str,
    line: usize,
    kind: String,
    gold: String,
    prediction: String,
    official: Option<bool>,
    ours: Option<bool>,
    detail: String,
}

fn symbol(verdict: Option<bool>) -> &'static str {
    match verdict {
        Some(true) => "1",
        Some(false) => "0",
        None => "-",
    }
}

/// A question whose four executions succeeded, kept to time the scorers alone.
struct TimedQuestion {
    prediction: String,
    gold: String,
    spider: (Rows, Rows),
    bird: (Rows, Rows),
}

/// The best of three timed passes of pre-processing and both comparisons over `questions`
/// (best, because the test machine is shared and wall time is what can be measured).
fn best_scoring_time(questions: &[TimedQuestion]) -> Duration {
    (0..3)
        .map(|_| {
            let started = Instant::now();
            for question in questions {
                let prepared = spider_preprocess(&question.prediction, &question.gold);
                let (gold, pred) = &question.spider;
                std::hint::black_box(spider_result_eq(gold, pred, prepared.order_matters));
                let (gold, pred) = &question.bird;
                std::hint::black_box(bird_result_eq(gold, pred));
            }
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}

#[test]
fn verdicts_agree_with_the_official_scorers_on_every_question() {
    let Some(data) = shared_data_or_skip("parity") else {
        return;
    };
    let parity = data.join("parity");
    let spider = data.join("spider");
    let questions = load_questions(&spider.join("dev.json"));
    let kinds = read_lines(&parity.join("spider_dev_perturbed.kind"));
    assert_eq!(questions.len(), 1034, "Spider dev has 1034 questions");
    let mut executor = CachedExecutor::new(spider.join("database"));

    let mut disagreements: Vec<Disagreement> = Vec::new();
    let mut timed: Vec<TimedQuestion> = Vec::new();
    // Failed predictions by error kind, and the ones the safety gate refused (a refusal of a
    // statement the official scorer ran would be a parity problem even where verdicts agree).
    let mut failures_by_kind: std::collections::BTreeMap<String, usize> = Default::default();
    let mut refusals: Vec<String> = Vec::new();
    let mut evaluated = 0usize;
    let mut summary = Vec::new();

    for file in PREDICTION_FILES {
        let predictions = read_lines(&parity.join(format!("{file}.sql")));
        let official = read_lines(&parity.join(format!("{file}.official")));
        let bird = read_lines(&parity.join(format!("{file}.bird")));
        assert_eq!(
            predictions.len(),
            questions.len(),
            "{file}.sql: one line per question"
        );
        assert_eq!(
            official.len(),
            questions.len(),
            "{file}.official: one line per question"
        );
        assert_eq!(
            bird.len(),
            questions.len(),
            "{file}.bird: one line per question"
        );
        let (mut spider_correct, mut bird_correct, mut file_evaluated) = (0, 0, 0);

        for (index, question) in questions.iter().enumerate() {
            let line = index + 1;
            let prediction = &predictions[index];
            let expected_spider = parse_verdict(&official[index], file, line);
            let expected_bird = parse_verdict(&bird[index], file, line);
            let kind = if file == "spider_dev_perturbed" {
                kinds.get(index).cloned().unwrap_or_default()
            } else {
                "-".to_owned()
            };
            let mut report = |scorer, official, ours, detail: String| {
                disagreements.push(Disagreement {
                    file,
                    scorer,
                    line,
                    kind: kind.clone(),
                    gold: question.gold.clone(),
                    prediction: prediction.clone(),
                    official,
                    ours,
                    detail,
                });
            };

            if !executor.has_database(&question.db_id) {
                // Not evaluable: the official files must say so too.
                if expected_spider.is_some() {
                    report(
                        "test-suite",
                        expected_spider,
                        None,
                        "database missing".into(),
                    );
                }
                if expected_bird.is_some() {
                    report("bird", expected_bird, None, "database missing".into());
                }
                continue;
            }
            evaluated += 1;
            file_evaluated += 1;

            // Test-suite scorer: processed texts, permutations, bag / list semantics.
            let prepared = spider_preprocess(prediction, &question.gold);
            let gold_rows = executor.rows(&question.db_id, &prepared.gold);
            let pred_rows = executor.rows(&question.db_id, &prepared.prediction);
            let (ours, detail) = match (&gold_rows, &pred_rows) {
                (Err(error), _) => (None, format!("gold failed: {error}")),
                (Ok(_), Err(error)) => {
                    let kind = error.split(' ').next().unwrap_or_default().to_owned();
                    if kind == "refused" {
                        refusals.push(format!(
                            "{file} line {line}: {error}: {}",
                            prepared.prediction
                        ));
                    }
                    *failures_by_kind.entry(kind).or_default() += 1;
                    (Some(false), format!("prediction failed: {error}"))
                }
                (Ok(gold), Ok(pred)) => (
                    Some(spider_result_eq(gold, pred, prepared.order_matters)),
                    format!(
                        "{} gold rows, {} predicted rows, order_matters {}",
                        gold.len(),
                        pred.len(),
                        prepared.order_matters
                    ),
                ),
            };
            if ours == Some(true) {
                spider_correct += 1;
            }
            if ours != expected_spider {
                report("test-suite", expected_spider, ours, detail);
            }

            let spider_rows = (gold_rows, pred_rows);

            // BIRD: raw texts, set semantics.
            let gold_rows = executor.rows(&question.db_id, &question.gold);
            let pred_rows = executor.rows(&question.db_id, prediction);
            let (ours, detail) = match (&gold_rows, &pred_rows) {
                (Err(error), _) => (None, format!("gold failed: {error}")),
                (Ok(_), Err(error)) => (Some(false), format!("prediction failed: {error}")),
                (Ok(gold), Ok(pred)) => (
                    Some(bird_result_eq(gold, pred)),
                    format!("{} gold rows, {} predicted rows", gold.len(), pred.len()),
                ),
            };
            if ours == Some(true) {
                bird_correct += 1;
            }
            if ours != expected_bird {
                report("bird", expected_bird, ours, detail);
            }
            if let ((Ok(spider_gold), Ok(spider_pred)), Ok(bird_gold), Ok(bird_pred)) =
                (spider_rows, gold_rows, pred_rows)
            {
                timed.push(TimedQuestion {
                    prediction: prediction.clone(),
                    gold: question.gold.clone(),
                    spider: (spider_gold, spider_pred),
                    bird: (bird_gold, bird_pred),
                });
            }
        }
        summary.push(format!(
            "{file}: test-suite {spider_correct}/{file_evaluated}, BIRD {bird_correct}/{file_evaluated}"
        ));
    }

    for line in &summary {
        println!("{line}");
    }
    println!(
        "{evaluated} questions scored twice; {} distinct statements executed in {:.2} s",
        executor.executions,
        executor.execution_time.as_secs_f64(),
    );
    println!("failed test-suite predictions by error kind: {failures_by_kind:?}");
    for refusal in &refusals {
        println!("REFUSED {refusal}");
    }
    let best = best_scoring_time(&timed);
    println!(
        "scoring without execution (pre-processing, test-suite and BIRD comparison), best of 3, \
         {}: {:.1} ms for {} questions = {:.1} ms per 972",
        if cfg!(debug_assertions) {
            "unoptimised test build"
        } else {
            "optimised build"
        },
        best.as_secs_f64() * 1000.0,
        timed.len(),
        best.as_secs_f64() * 1000.0 * 972.0 / timed.len().max(1) as f64
    );
    for d in &disagreements {
        println!(
            "DISAGREEMENT {} line {} ({}) kind {}: official {} ours {} [{}]\n  gold: {}\n  prediction: {}",
            d.file,
            d.line,
            d.scorer,
            d.kind,
            symbol(d.official),
            symbol(d.ours),
            d.detail,
            d.gold,
            d.prediction
        );
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements with the official verdicts (listed above)",
        disagreements.len()
    );
    // Every statement the official scorer executed must reach the engine.
    assert!(
        refusals.is_empty(),
        "the safety gate refused {} predictions the official scorer ran (listed above)",
        refusals.len()
    );
    // 972 evaluable questions per file: the 62 wta_1 questions are the only `-` lines.
    assert_eq!(
        evaluated,
        3 * 972,
        "evaluable questions over the three files"
    );
}
