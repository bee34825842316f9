//! PostgreSQL engine against a real server (feature `postgres`).
//!
//! The server and its `learnat_test` database come from `.ci/start-postgres.sh`, which prints the
//! URL to put in `LEARNAT_TEST_POSTGRES_URL`. Without it these tests print why they skip, and
//! fail under CI (`CI` set), where the server must be there.
#![cfg(feature = "postgres")]

use std::time::{Duration, Instant};

use learnat_tools::postgres::PostgresDatabase;
use learnat_tools::{Database, ExecOptions, ToolsError, Value};

/// The test server's URL, or `None` after printing why the test is skipped.
fn server_url(test: &str) -> Option<String> {
    match std::env::var("LEARNAT_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!(
            "{test}: LEARNAT_TEST_POSTGRES_URL is not set; CI must start the server with \
             .ci/start-postgres.sh"
        ),
        _ => {
            eprintln!(
                "skipping {test}: LEARNAT_TEST_POSTGRES_URL is not set (run .ci/start-postgres.sh \
                 and export the URL it prints)"
            );
            None
        }
    }
}

async fn connect(test: &str) -> Option<PostgresDatabase> {
    let url = server_url(test)?;
    Some(
        PostgresDatabase::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("{test}: {e}")),
    )
}

fn options(timeout_ms: u64, max_rows: usize) -> ExecOptions {
    ExecOptions {
        timeout: Duration::from_millis(timeout_ms),
        max_rows,
        ..ExecOptions::default()
    }
}

#[tokio::test]
async fn values_are_typed() {
    let Some(db) = connect("values_are_typed").await else {
        return;
    };
    let result = db
        .execute(
            "SELECT id, flag, small, big, ratio, precise, amount, huge, label, code, tag, raw, day, \
             moment, moment_tz, clock, ident, doc, docb, span, numbers FROM typed ORDER BY id",
            &ExecOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(result.columns[0], "id");
    assert_eq!(result.columns[20], "numbers");
    assert_eq!(result.rows.len(), 3);
    let text = |s: &str| Value::Text(s.to_string());
    assert_eq!(
        result.rows[0],
        vec![
            Value::Integer(1),
            Value::Integer(1),
            Value::Integer(7),
            Value::Integer(9_000_000_000),
            Value::Real(1.5),
            Value::Real(2.25),
            Value::Real(1234.5),
            text("123456789012345678901234567890.5"),
            text("héllo"),
            text("ab   "),
            text("pg_name"),
            Value::Blob(vec![0, 1, 255]),
            text("2024-02-29"),
            text("2024-02-29 13:45:30.25"),
            text("2024-02-29 13:45:30+00"),
            text("08:30:00"),
            text("123e4567-e89b-12d3-a456-426614174000"),
            text("{\"a\": 1}"),
            text("{\"b\": [1, 2]}"),
            text("1 day 02:00:00"),
            text("{1,2,3}"),
        ]
    );
    assert_eq!(result.rows[1][1], Value::Integer(0));
    assert_eq!(result.rows[1][6], Value::Real(-0.01));
    assert!(result.rows[2][1..].iter().all(|v| *v == Value::Null));
    assert_eq!(db.dialect(), learnat_tools::Dialect::Postgres);
    assert!(
        !db.name().contains(":learnat@"),
        "password shown: {}",
        db.name()
    );
}

#[tokio::test]
async fn heavy_queries_time_out() {
    let Some(db) = connect("heavy_queries_time_out").await else {
        return;
    };
    let start = Instant::now();
    let error = db
        .execute(
            "SELECT count(*) FROM generate_series(1, 100000) a, generate_series(1, 100000) b",
            &options(300, 10),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, ToolsError::Timeout { .. }), "{error}");
    assert!(
        start.elapsed() < Duration::from_millis(800),
        "{:?}",
        start.elapsed()
    );
    // The pooled connection is clean afterwards.
    let count = db
        .execute("SELECT count(*) FROM customers", &options(1000, 10))
        .await
        .unwrap();
    assert_eq!(count.rows, vec![vec![Value::Integer(3000)]]);
}

#[tokio::test]
async fn the_row_cap_truncates_through_the_portal() {
    let Some(db) = connect("the_row_cap_truncates_through_the_portal").await else {
        return;
    };
    let capped = db
        .execute("SELECT id FROM customers ORDER BY id", &options(5000, 600))
        .await
        .unwrap();
    assert_eq!(capped.rows.len(), 600);
    assert!(capped.truncated);
    assert_eq!(capped.rows[599], vec![Value::Integer(600)]);
    let exact = db
        .execute("SELECT id FROM customers WHERE id <= 5", &options(5000, 5))
        .await
        .unwrap();
    assert_eq!(exact.rows.len(), 5);
    assert!(!exact.truncated);
    let unlimited = db
        .execute("SELECT id FROM customers", &options(5000, usize::MAX))
        .await
        .unwrap();
    assert_eq!(unlimited.rows.len(), 3000);
    assert!(!unlimited.truncated);
    // The portal stops the server early: a billion-row series capped at 3 rows is instant.
    // (In the select list the series streams; in FROM PostgreSQL would materialise it first.)
    let start = Instant::now();
    let series = db
        .execute(
            "SELECT generate_series(1, 1000000000) AS i",
            &options(5000, 3),
        )
        .await
        .unwrap();
    assert_eq!(series.rows.len(), 3);
    assert!(series.truncated);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn writes_are_refused_and_nothing_changes() {
    let Some(db) = connect("writes_are_refused_and_nothing_changes").await else {
        return;
    };
    for sql in [
        "DELETE FROM customers",
        "WITH d AS (DELETE FROM customers RETURNING *) SELECT count(*) FROM d",
        "SELECT pg_sleep(5)",
        "SELECT * INTO stolen FROM customers",
        "SELECT * FROM customers FOR UPDATE",
    ] {
        let error = db.execute(sql, &options(1000, 10)).await.unwrap_err();
        assert!(error.is_refusal(), "{sql}: {error}");
        assert_eq!(error.to_string().lines().count(), 1);
    }
    // A function that writes, which the gate does not know: the READ ONLY transaction stops it.
    let error = db
        .execute(
            "SELECT setval('customers_id_seq'::regclass, 5)",
            &options(1000, 10),
        )
        .await
        .unwrap_err();
    assert!(error.is_refusal(), "{error}");
    let count = db
        .execute("SELECT count(*) FROM customers", &options(1000, 10))
        .await
        .unwrap();
    assert_eq!(count.rows, vec![vec![Value::Integer(3000)]]);
}

#[tokio::test]
async fn server_errors_carry_the_server_message() {
    let Some(db) = connect("server_errors_carry_the_server_message").await else {
        return;
    };
    let error = db
        .execute("SELECT * FROM no_such_table", &options(1000, 10))
        .await
        .unwrap_err();
    assert!(matches!(error, ToolsError::Sql { .. }), "{error}");
    assert!(error.to_string().contains("no_such_table"), "{error}");
}

#[tokio::test]
async fn a_closed_port_gives_a_clear_connection_error() {
    // Port 1 is closed on any test machine; no server is needed for this one.
    let error = PostgresDatabase::connect("postgres://learnat:secret@127.0.0.1:1/learnat_test")
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, ToolsError::Connection { .. }), "{message}");
    assert!(
        message.contains("connection refused at 127.0.0.1:1") && message.contains("server running"),
        "{message}"
    );
    assert!(!message.contains("secret"), "{message}");

    let error = PostgresDatabase::connect("postgres://[not a url")
        .await
        .unwrap_err();
    assert!(matches!(error, ToolsError::Connection { .. }), "{error}");
}

#[tokio::test]
async fn open_database_dispatches_postgres_urls() {
    let Some(url) = server_url("open_database_dispatches_postgres_urls") else {
        return;
    };
    let db = learnat_tools::database::open_database(&url).await.unwrap();
    assert_eq!(db.dialect(), learnat_tools::Dialect::Postgres);
    let result = db
        .execute("SELECT 1 AS one", &ExecOptions::default())
        .await
        .unwrap();
    assert_eq!(result.rows, vec![vec![Value::Integer(1)]]);
}
