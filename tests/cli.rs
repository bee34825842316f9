//! End-to-end tests of the `learnat` binary: real processes, real SQLite files.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

fn learnat() -> Command {
    Command::cargo_bin("learnat").expect("the learnat binary is built")
}

/// A fresh demo database in a temporary directory.
fn demo_db() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.sqlite");
    learnat().arg("demo-db").arg(&path).assert().success();
    (dir, path)
}

fn file_bytes(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

#[test]
fn demo_db_is_created_once_and_never_overwritten() {
    let (_dir, path) = demo_db();
    let before = file_bytes(&path);
    learnat()
        .arg("demo-db")
        .arg(&path)
        .assert()
        .failure()
        .code(1)
        .stderr(predicate::str::contains("already exists"));
    assert_eq!(
        before,
        file_bytes(&path),
        "an existing file must not be touched"
    );
}

#[test]
fn sql_prints_a_table_json_and_csv() {
    let (_dir, path) = demo_db();
    let sql = "SELECT 1 AS one, 'a,b' AS text, NULL AS missing";
    learnat()
        .args(["sql", "--db"])
        .arg(&path)
        .arg(sql)
        .assert()
        .success()
        .stdout(predicate::str::contains("one").and(predicate::str::contains("1 row")));

    let output = learnat()
        .args(["sql", "--format", "json", "--db"])
        .arg(&path)
        .arg(sql)
        .output()
        .unwrap();
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        json["columns"],
        serde_json::json!(["one", "text", "missing"])
    );
    assert_eq!(json["rows"], serde_json::json!([[1, "a,b", null]]));

    learnat()
        .args(["sql", "--format", "csv", "--db"])
        .arg(&path)
        .arg(sql)
        .assert()
        .success()
        .stdout("one,text,missing\n1,\"a,b\",\n");
}

#[test]
fn sql_reads_standard_input_and_caps_rows() {
    let (_dir, path) = demo_db();
    let output = learnat()
        .args(["sql", "--format", "json", "--max-rows", "3", "--db"])
        .arg(&path)
        .write_stdin("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 50) SELECT x FROM n")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["row_count"], 3);
    assert_eq!(json["truncated"], true);
}

#[test]
fn writes_are_refused_with_exit_code_2_and_the_file_is_unchanged() {
    let (_dir, path) = demo_db();
    let before = file_bytes(&path);
    for sql in [
        "DELETE FROM customers",
        "DROP TABLE orders",
        "SELECT 1; DELETE FROM customers",
        "ATTACH DATABASE 'x.sqlite' AS x",
        "PRAGMA writable_schema = 1",
    ] {
        let output = learnat()
            .args(["sql", "--db"])
            .arg(&path)
            .arg(sql)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{sql}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{sql}: one-line error expected, got {stderr}"
        );
        assert!(stderr.starts_with("error: refused"), "{sql}: {stderr}");
    }
    assert_eq!(before, file_bytes(&path));
}

#[test]
fn sql_errors_exit_1_with_one_line() {
    let (_dir, path) = demo_db();
    let output = learnat()
        .args(["sql", "--db"])
        .arg(&path)
        .arg("SELECT * FROM no_such_table")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no_such_table"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");

    let output = learnat()
        .args(["sql", "--format", "json", "--db"])
        .arg(&path)
        .arg("SELECT * FROM no_such_table")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["error"]["kind"], "sql");
}

#[test]
fn runaway_queries_are_interrupted_by_the_timeout() {
    let (_dir, path) = demo_db();
    let start = Instant::now();
    learnat()
        .args(["sql", "--timeout-ms", "300", "--db"])
        .arg(&path)
        .arg("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("timeout"));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
}

#[test]
fn bad_database_paths_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let not_sqlite = dir.path().join("notes.txt");
    std::fs::write(&not_sqlite, "just some text, definitely not a database\n").unwrap();
    let cases: [(PathBuf, &str); 3] = [
        (dir.path().join("missing.sqlite"), "not found"),
        (dir.path().to_path_buf(), "directory"),
        (not_sqlite, "not a SQLite"),
    ];
    for (path, expected) in cases {
        let output = learnat()
            .args(["sql", "--db"])
            .arg(&path)
            .arg("SELECT 1")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", path.display());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{}: {stderr}", path.display());
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn unknown_devices_are_refused_before_anything_runs() {
    let (_dir, db) = demo_db();
    let select_one = |flags: &[&str], device_env: Option<&str>| {
        let mut command = learnat();
        if let Some(device) = device_env {
            command.env("LEARNAT_DEVICE", device);
        }
        command
            .args(flags)
            .args(["sql", "--db"])
            .arg(&db)
            .arg("SELECT 1")
            .output()
            .unwrap()
    };
    let flag = select_one(&["--device", "tpu"], None);
    assert_eq!(flag.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&flag.stderr);
    assert!(stderr.contains("use cpu, cuda or cuda:N"), "{stderr}");
    let env = select_one(&[], Some("cuda:x"));
    assert_eq!(env.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&env.stderr);
    assert!(
        stderr.contains("$LEARNAT_DEVICE: unknown device 'cuda:x'"),
        "{stderr}"
    );
    assert!(env.stdout.is_empty());
    let cpu = select_one(&["--device", "cpu"], None);
    assert!(cpu.status.success(), "{cpu:?}");
}

#[test]
fn bad_sql_text_gets_clear_errors() {
    let (_dir, path) = demo_db();
    let empty = learnat()
        .args(["sql", "--db"])
        .arg(&path)
        .arg("   ")
        .output()
        .unwrap();
    assert_eq!(empty.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&empty.stderr).contains("no SQL given"));

    let binary = learnat()
        .args(["sql", "--db"])
        .arg(&path)
        .write_stdin(b"SELECT 1\0\x01\x02".to_vec())
        .output()
        .unwrap();
    assert_eq!(binary.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&binary.stderr).contains("binary data"));

    let not_utf8 = std::ffi::OsStr::from_bytes(b"SELECT '\xff\xfe'");
    let output = learnat()
        .args(["sql", "--db"])
        .arg(&path)
        .arg(not_utf8)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not valid UTF-8"));

    let malformed = learnat()
        .args(["sql", "--db"])
        .arg(&path)
        .arg("SELEC * FORM x")
        .output()
        .unwrap();
    assert!(!malformed.status.success());
    assert!(!String::from_utf8_lossy(&malformed.stderr).contains("panicked"));
}

#[test]
fn schema_renders_ddl_compact_and_json() {
    let (_dir, path) = demo_db();
    learnat()
        .args(["schema", "--db"])
        .arg(&path)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("CREATE TABLE").and(predicate::str::contains("customers")),
        );
    learnat()
        .args(["schema", "--format", "compact", "--db"])
        .arg(&path)
        .assert()
        .success()
        .stdout(predicate::str::contains("customers("));
    let output = learnat()
        .args(["schema", "--format", "json", "--db"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(json["tables"].as_array().unwrap().len() >= 8);
}

#[test]
fn tools_schema_prints_openai_function_definitions() {
    let output = learnat().args(["tools", "--schema"]).output().unwrap();
    assert!(output.status.success());
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["type"], "function");
            assert_eq!(f["function"]["parameters"]["type"], "object");
            f["function"]["name"].as_str().unwrap()
        })
        .collect();
    for expected in [
        "execute_sql",
        "list_tables",
        "describe_table",
        "sample_values",
        "search_values",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[test]
fn demo_tour_runs_on_a_fresh_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tour.sqlite");
    learnat()
        .args(["demo", "--no-model", "--db"])
        .arg(&path)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("Created the demo database")
                .and(predicate::str::contains("refused")),
        );
    assert!(path.exists());
}
