//! `learnat interact` end to end: demo tasks written by `interact build --demo`, a run with a
//! recorded model (replay cassette), its reports and transcripts, a resumed run, the replay of
//! the transcript, and a task file with a broken annotation.

use std::path::Path;

use assert_cmd::Command;
use serde_json::{Value, json};

fn learnat() -> Command {
    let mut command = Command::cargo_bin("learnat").unwrap();
    command.env_remove("LEARNAT_MODEL");
    command
}

fn tasks_of(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn interact_runs_reports_resumes_and_replays() {
    let dir = tempfile::tempdir().unwrap();
    let tasks = dir.path().join("tasks.jsonl");
    learnat()
        .args(["interact", "build", "--demo", "--out"])
        .arg(&tasks)
        .assert()
        .success();
    assert!(dir.path().join("databases/shop/shop.sqlite").is_file());
    let written = tasks_of(&tasks);
    let sql = |i: usize, path: &[&str]| {
        let mut value = &written[i];
        for key in path {
            value = &value[*key];
        }
        format!("```sql\n{}\n```", value.as_str().unwrap())
    };
    // No-ask on the first two tasks: shop_34 and its follow-up, then shop_35.
    assert!(written[1]["follow_up"].is_null());
    let cassette = dir.path().join("cassette.json");
    let responses = [
        sql(0, &["sol_sql"]),
        sql(0, &["follow_up", "sol_sql"]),
        sql(1, &["sol_sql"]),
    ];
    let interactions: Vec<Value> = responses
        .iter()
        .map(|text| json!({"responses": [text]}))
        .collect();
    std::fs::write(
        &cassette,
        json!({"format": "learnat-cassette", "version": 1, "mode": "in_order",
               "interactions": interactions})
        .to_string(),
    )
    .unwrap();
    let out = dir.path().join("run");
    let run = || {
        let output = learnat()
            .args(["interact", "--tasks"])
            .arg(&tasks)
            .args([
                "--mode",
                "c-interact",
                "--agent",
                "no-ask",
                "--limit",
                "2",
                "--json",
            ])
            .arg("--model")
            .arg(format!("replay:{}", cassette.display()))
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    let report = run();
    let summary = &report["runs"][0]["summary"];
    assert_eq!(report["runs"][0]["agent"], "no-ask");
    assert_eq!(summary["tasks"], 2);
    assert_eq!(summary["sr_first"], 1.0);
    assert_eq!(summary["sr_follow_up"], 1.0);
    assert!(
        (summary["nr"].as_f64().unwrap() - 100.0).abs() < 1e-9,
        "{summary}"
    );
    let run_dir = out.join("no-ask");
    for file in [
        "run.json",
        "transcripts.jsonl",
        "report.json",
        "report.md",
        "report.html",
    ] {
        assert!(run_dir.join(file).is_file(), "{file}");
    }
    let markdown = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    assert!(markdown.contains("| NR | 100.00 |"), "{markdown}");

    // Resumed: every task is in the transcript, so no model call is needed and the numbers
    // stay (the cassette is spent, so a model call would fail the run).
    let again = run();
    assert_eq!(again["runs"][0]["summary"]["nr"], summary["nr"]);
    assert_eq!(
        std::fs::read_to_string(run_dir.join("transcripts.jsonl"))
            .unwrap()
            .lines()
            .count(),
        2
    );

    let output = learnat()
        .args(["interact", "replay", "--json"])
        .arg(run_dir.join("transcripts.jsonl"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let replayed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(replayed["mismatches"], json!([]));
    assert_eq!(replayed["rescored"]["nr"], summary["nr"]);
}

#[test]
fn a_broken_annotation_is_named_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let tasks = dir.path().join("tasks.jsonl");
    let task = json!({
        "instance_id": "t1", "db_id": "shop", "amb_user_query": "Show the big orders.",
        "user_query_ambiguity": {"critical_ambiguity": [
            {"term": "big", "sql_snippet": "total > 100", "is_mask": false,
             "type": "threshold_ambiguity"}]},
        "clear_question": "Orders above 100.", "sol_sql": "SELECT * FROM orders"
    });
    std::fs::write(&tasks, format!("// a comment\n{task}\n")).unwrap();
    let output = learnat()
        .args(["interact", "--tasks"])
        .arg(&tasks)
        .args(["--model", "replay:missing.json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("tasks.jsonl:2"), "{stderr}");
    assert!(stderr.contains("`total > 100`"), "{stderr}");
}
