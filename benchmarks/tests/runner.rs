//! The runner on a small database made here (no shared data needed): verdicts for each kind of
//! prediction, overlapping timeouts, the gold cache, execution sharing, resuming.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use learnat_benchmarks::dataset::{Dataset, load_jsonl};
use learnat_benchmarks::predictions::{FilePredictions, PredictionFormat, load_predictions};
use learnat_benchmarks::report::{Report, Verdict};
use learnat_benchmarks::runner::{EvalMetric, EvalOptions, Silent, evaluate};

const RUNAWAY: &str =
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r";

/// A database `shop` with 50 items, and a JSONL question file over it.
fn setup(dir: &Path, golds: &[&str]) -> Dataset {
    let db_dir = dir.join("shop");
    std::fs::create_dir_all(&db_dir).unwrap();
    let connection = rusqlite::Connection::open(db_dir.join("shop.sqlite")).unwrap();
    connection
        .execute_batch(
            "CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, price REAL, kind TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
             INSERT INTO item SELECT i, 'item ' || i, i * 1.5, CASE i % 3 WHEN 0 THEN 'a' WHEN 1 THEN 'b' ELSE 'c' END FROM n;",
        )
        .unwrap();
    drop(connection);
    let lines: Vec<String> = golds
        .iter()
        .map(|gold| serde_json::json!({"question": "q", "db_id": "shop", "sql": gold}).to_string())
        .collect();
    let file = dir.join("questions.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    load_jsonl(&file, None).unwrap()
}

fn predictions(dir: &Path, dataset: &Dataset, lines: &[&str]) -> FilePredictions {
    let path = dir.join("predictions.sql");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    load_predictions(&path, PredictionFormat::Lines, &dataset.questions, false).unwrap()
}

fn options(metric: EvalMetric, out: Option<PathBuf>, cache: Option<PathBuf>) -> EvalOptions {
    let mut options = EvalOptions::new(metric);
    options.jobs = 2;
    options.timeout = Duration::from_millis(500);
    options.out_dir = out;
    options.gold_cache_dir = cache;
    options
}

fn verdicts(report: &Report) -> Vec<(Verdict, Option<String>)> {
    report
        .questions
        .iter()
        .map(|r| (r.verdict, r.error_kind.clone()))
        .collect()
}

#[test]
fn each_kind_of_prediction_gets_its_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let golds = [
        "SELECT count(*) FROM item",
        "SELECT name, price FROM item WHERE kind = 'a'",
        "SELECT name FROM item ORDER BY price DESC LIMIT 3",
        "SELECT kind FROM item",
        "SELECT id FROM item WHERE id < 3",
        "SELECT id FROM item WHERE id < 3",
        "SELECT id FROM item WHERE id = 1",
    ];
    let dataset = setup(dir.path(), &golds);
    let lines = [
        "SELECT count(*) FROM item", // same text: correct, shared
        "SELECT price, name FROM item WHERE kind = 'a'", // columns swapped: test-suite correct
        "SELECT name FROM item ORDER BY price ASC LIMIT 3", // other order: wrong
        "SELECT nope FROM item",     // SQL error
        RUNAWAY,                     // timeout
        "DELETE FROM item",          // refused
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r LIMIT 2000000) SELECT 1 FROM r", // many rows
    ];
    let source = predictions(dir.path(), &dataset, &lines);
    let report = evaluate(
        &dataset,
        &source,
        &options(EvalMetric::TestSuite, None, None),
        &Silent,
    )
    .unwrap();
    let got = verdicts(&report);
    assert_eq!(got[0], (Verdict::Correct, None));
    assert_eq!(got[1], (Verdict::Correct, None));
    assert_eq!(got[2].0, Verdict::Wrong);
    assert_eq!(got[3], (Verdict::Error, Some("sql".into())));
    assert_eq!(got[4], (Verdict::Timeout, Some("timeout".into())));
    assert_eq!(got[5], (Verdict::Error, Some("refused".into())));
    assert_eq!(got[6].0, Verdict::Wrong);
    let capped = &report.questions[6];
    assert!(
        capped.predicted_rows_capped && capped.predicted_rows == Some(2),
        "read gold rows + 1 only: {capped:?}"
    );
    assert!(report.summary.run.shared_executions >= 1);

    // BIRD semantics: column order matters, a set of one repeated row equals a one-row gold.
    let report = evaluate(
        &dataset,
        &source,
        &options(EvalMetric::Bird, None, None),
        &Silent,
    )
    .unwrap();
    let got = verdicts(&report);
    assert_eq!(got[1].0, Verdict::Wrong);
    assert_eq!(
        got[2].0,
        Verdict::Wrong,
        "different rows (LIMIT 3 of the other end)"
    );
    // 2 000 000 copies of (1,) against gold {(1,)}: the rows read are all in the gold set, but
    // reading stopped at the cap, so it is marked rather than guessed.
    assert_eq!(got[6], (Verdict::Error, Some("row_limit".into())));
}

#[test]
fn runaway_queries_overlap_their_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let golds: Vec<&str> = vec!["SELECT count(*) FROM item"; 40];
    let dataset = setup(dir.path(), &golds);
    let lines: Vec<&str> = (0..40)
        .map(|i| {
            if i % 4 == 0 {
                RUNAWAY
            } else {
                "SELECT count(*) FROM item"
            }
        })
        .collect();
    let source = predictions(dir.path(), &dataset, &lines);
    let start = Instant::now();
    let report = evaluate(
        &dataset,
        &source,
        &options(EvalMetric::TestSuite, None, None),
        &Silent,
    )
    .unwrap();
    let elapsed = start.elapsed();
    assert_eq!(report.summary.verdicts.get("timeout"), Some(&10));
    assert_eq!(report.summary.correct, 30);
    // Serialised on 2 jobs, 10 × 0.5 s would take 2.5 s.
    assert!(elapsed < Duration::from_millis(1500), "took {elapsed:?}");
}

#[test]
fn the_gold_cache_serves_a_second_run() {
    let dir = tempfile::tempdir().unwrap();
    let golds = [
        "SELECT count(*) FROM item",
        "SELECT name FROM item WHERE kind = 'b'",
    ];
    let dataset = setup(dir.path(), &golds);
    let source = predictions(
        dir.path(),
        &dataset,
        &["SELECT 50", "SELECT name FROM item WHERE kind = 'c'"],
    );
    let cache = dir.path().join("cache");
    let first = evaluate(
        &dataset,
        &source,
        &options(EvalMetric::TestSuite, None, Some(cache.clone())),
        &Silent,
    )
    .unwrap();
    assert_eq!(first.summary.run.gold_executions, 2);
    let second = evaluate(
        &dataset,
        &source,
        &options(EvalMetric::TestSuite, None, Some(cache)),
        &Silent,
    )
    .unwrap();
    assert_eq!(second.summary.run.gold_executions, 0);
    assert_eq!(second.summary.run.gold_cache.unwrap().hits, 2);
    assert!(second.questions.iter().all(|r| r.gold_cached));
    assert_eq!(verdicts(&first), verdicts(&second));
    assert_eq!(verdicts(&second)[0].0, Verdict::Correct);
}

#[test]
fn a_resumed_run_only_evaluates_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let golds: Vec<&str> = vec!["SELECT id FROM item WHERE id < 5"; 12];
    let dataset = setup(dir.path(), &golds);
    let lines: Vec<&str> = (0..12)
        .map(|i| {
            if i % 2 == 0 {
                "SELECT id FROM item WHERE id < 5"
            } else {
                "SELECT 1"
            }
        })
        .collect();
    let source = predictions(dir.path(), &dataset, &lines);
    let out = dir.path().join("out");
    let full = evaluate(
        &dataset,
        &source,
        &options(EvalMetric::TestSuite, Some(out.clone()), None),
        &Silent,
    )
    .unwrap();
    // Keep the header and 5 records, plus half of the 6th, as a killed run would leave it.
    let checkpoint = out.join("checkpoint.jsonl");
    let text = std::fs::read_to_string(&checkpoint).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let kept = format!(
        "{}\n{}",
        lines[..6].join("\n"),
        &lines[6][..lines[6].len() / 2]
    );
    std::fs::write(&checkpoint, kept).unwrap();
    std::fs::remove_file(out.join("report.json")).unwrap();

    let resumed = evaluate(
        &dataset,
        &source,
        &options(EvalMetric::TestSuite, Some(out.clone()), None),
        &Silent,
    )
    .unwrap();
    assert_eq!(resumed.summary.run.resumed, 5);
    assert_eq!(resumed.summary.run.evaluated, 7);
    assert_eq!(verdicts(&resumed), verdicts(&full));
    assert_eq!(resumed.summary.correct, 6);
    let records = std::fs::read_to_string(&checkpoint)
        .unwrap()
        .lines()
        .count()
        - 1;
    assert_eq!(records, 12, "each question once");
    assert_eq!(
        Report::read(&out.join("report.json")).unwrap().questions,
        resumed.questions
    );
}
