//! `learnat synth` end to end: a Spider-like folder, a recorded teacher (`replay:` cassette),
//! the output files, the JSON report, and a resumed run that asks the teacher nothing.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value as Json;

fn learnat() -> Command {
    Command::new(env!("CARGO_BIN_EXE_learnat"))
}

fn run_ok(command: &mut Command) -> Output {
    let output = command.output().expect("learnat runs");
    assert!(
        output.status.success(),
        "learnat failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `database/pets/pets.sqlite` and a one-question `train_spider.json`.
fn spider_folder(dir: &Path) {
    let db_dir = dir.join("database/pets");
    std::fs::create_dir_all(&db_dir).unwrap();
    let connection = rusqlite::Connection::open(db_dir.join("pets.sqlite")).unwrap();
    connection
        .execute_batch(
            "CREATE TABLE pet (pet_id INTEGER PRIMARY KEY, kind TEXT, weight REAL);
             INSERT INTO pet VALUES (1, 'dog', 12.5), (2, 'cat', 4.0), (3, 'dog', 30.0);",
        )
        .unwrap();
    let items = serde_json::json!([{
        "question": "How many dogs weigh more than 20?",
        "query": "SELECT count(*) FROM pet WHERE kind = 'dog' AND weight > 20",
        "db_id": "pets"
    }]);
    std::fs::write(dir.join("train_spider.json"), items.to_string()).unwrap();
}

/// Two expansions of k = 2: a progressive first step and a wrong table, then the answer and a
/// redundant repeat.
fn cassette(path: &Path) {
    let cassette = serde_json::json!({
        "format": "learnat-cassette", "version": 1, "mode": "in_order",
        "interactions": [
            {"responses": [
                "Sub question 1: Which pets are dogs?\nSubSQL1: ```sql SELECT * FROM pet WHERE kind = 'dog'```",
                "Sub question 1: Which owners?\nSubSQL1: ```sql SELECT * FROM owner```"
            ]},
            {"responses": [
                "Sub question 2: How many of them weigh more than 20?\nSubSQL2: ```sql SELECT count(*) FROM pet WHERE kind = 'dog' AND weight > 20```",
                "Sub question 2: Which pets are dogs?\nSubSQL2: ```sql SELECT * FROM pet WHERE kind = 'dog'```"
            ]}
        ]
    });
    std::fs::write(path, cassette.to_string()).unwrap();
}

#[test]
fn synth_writes_training_data_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    spider_folder(dir.path());
    let teacher = dir.path().join("teacher.json");
    cassette(&teacher);
    let out = dir.path().join("out");
    let synth = |json: bool| {
        let mut command = learnat();
        command
            .arg("synth")
            .arg("--data")
            .arg(dir.path())
            .args(["--split", "train", "--k", "2", "--simulations", "5"])
            .arg("--teacher")
            .arg(format!("replay:{}", teacher.display()))
            .arg("--out")
            .arg(&out);
        if json {
            command.arg("--json");
        }
        command
    };
    let output = run_ok(&mut synth(true));
    let stats: Json = serde_json::from_slice(&output.stdout).expect("JSON report on stdout");
    assert_eq!(stats["solved"], 1);
    assert_eq!(stats["mean_depth"], 2.0);
    assert_eq!(stats["teacher_totals"]["calls"], 2);
    assert_eq!(stats["ast_pruning"], true);
    assert_eq!(stats["pairs"], 2);
    assert_eq!(stats["pairs_invalid"], 1);
    assert_eq!(stats["pairs_redundant"], 1);
    for file in [
        "sft.jsonl",
        "pairs.jsonl",
        "questions.jsonl",
        "trl_sft.jsonl",
        "trl_dpo.jsonl",
        "stats.json",
        "settings.json",
    ] {
        assert!(out.join(file).is_file(), "{file} is missing");
    }
    let sft: Json = serde_json::from_str(
        std::fs::read_to_string(out.join("sft.jsonl"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let completion = sft["messages"][2]["content"].as_str().unwrap();
    assert!(
        completion.starts_with("Sub question 1: Which pets are dogs?"),
        "{completion}"
    );
    assert!(completion.ends_with(
        "Final SQL: ```sql SELECT count(*) FROM pet WHERE kind = 'dog' AND weight > 20 ```\n"
    ));

    // The second run finds everything done: the cassette (which would now be exhausted from
    // the start again, in a new process) is not needed, and nothing is written twice.
    let output = run_ok(&mut synth(false));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("solved 1 (100.0%)"), "{stdout}");
    assert!(stderr.contains("1 question(s) already done"), "{stderr}");
    let pairs = std::fs::read_to_string(out.join("pairs.jsonl")).unwrap();
    assert_eq!(pairs.lines().count(), 2);

    // Bad options are refused with a message naming the flag.
    let output = synth(false).args(["--alpha", "1.5"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--alpha"));
}
