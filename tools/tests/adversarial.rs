//! The adversarial corpus: statements that try to write, escape or exhaust the engine, run
//! against a real database; and the other side of the gate, every Spider statement SQLite can
//! run read-only, which must still be admitted.
//!
//! Corpus format (`tests/data/adversarial/*.sql`): entries separated by a line `-- ----`. The
//! first line of an entry is a header comment of `key: value` pairs separated by `;`:
//!
//! ```text
//! -- category: write; sqlite: refused; postgres: refused
//! DELETE FROM customers
//! ```
//!
//! `sqlite` / `postgres` give the expected outcome on that engine: an error kind
//! (`refused`, `timeout`, `resource_limit`, `parse`, `sql`), several separated by `|`, `ok` for
//! controls, or `skip`. An entry without a `postgres` key does not run on PostgreSQL. Entries
//! expecting `sql` or `parse` say why in a `note`, the last field (it may contain `;`);
//! `slack_ms` allows a documented slow stop that much extra time.
//!
//! Timing: a statement must come back within the timeout + 100 ms. The test machine is shared
//! (2 cores, tests in parallel), so a statement that misses the bound is run once more and the
//! better time counts; a real failure to stop misses both times.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use learnat_tools::sqlite::SqliteDatabase;
use learnat_tools::{ExecOptions, ToolsError};
use rusqlite::Connection;
use sha2::{Digest, Sha256};

/// The per-statement timeout of the corpus run.
const TIMEOUT: Duration = Duration::from_millis(300);
/// How far past the timeout a statement may come back.
const GRACE: Duration = Duration::from_millis(100);
/// Rows in each fixture table: three of them make a cartesian product of 2.7e10 rows.
pub const FIXTURE_ROWS: i64 = 3000;

/// One corpus entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub file: String,
    pub line: usize,
    pub category: String,
    pub sqlite: Vec<String>,
    pub postgres: Option<Vec<String>>,
    /// Extra time allowed past the timeout, beyond [`GRACE`], for a documented slow stop.
    pub slack: Duration,
    pub sql: String,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/adversarial")
}

/// Every entry of every corpus file, in file order.
pub fn load_corpus() -> Vec<Entry> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/data/adversarial exists")
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    files.sort();
    let mut entries = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).expect("corpus file is UTF-8");
        let mut block: Vec<(usize, &str)> = Vec::new();
        let lines: Vec<(usize, &str)> = text.lines().enumerate().map(|(i, l)| (i + 1, l)).collect();
        for (number, line) in lines.into_iter().chain(std::iter::once((0, "-- ----"))) {
            if line.trim() == "-- ----" {
                if block.iter().any(|(_, l)| !l.trim().is_empty()) {
                    entries.push(parse_entry(&file, &block));
                }
                block.clear();
            } else {
                block.push((number, line));
            }
        }
    }
    entries
}

fn parse_entry(file: &str, block: &[(usize, &str)]) -> Entry {
    let start = block
        .iter()
        .position(|(_, line)| !line.trim().is_empty())
        .expect("non-empty entry");
    let (line, header) = block[start];
    let header = header
        .strip_prefix("-- ")
        .unwrap_or_else(|| panic!("{file}:{line}: an entry starts with a `-- key: value` header"));
    let mut fields = BTreeMap::new();
    // A note is the last field and may itself contain `;`.
    let (header, note) = match header.split_once("; note:") {
        Some((fields, note)) => (fields, Some(note.trim())),
        None => (header, None),
    };
    if let Some(note) = note {
        fields.insert("note".to_string(), note.to_string());
    }
    for pair in header.split(';') {
        let (key, value) = pair
            .split_once(':')
            .unwrap_or_else(|| panic!("{file}:{line}: header field without ':': {pair}"));
        fields.insert(key.trim().to_string(), value.trim().to_string());
    }
    let outcomes = |value: &String| {
        value
            .split('|')
            .map(|s| s.trim().to_string())
            .collect::<Vec<_>>()
    };
    let sql = block[start + 1..]
        .iter()
        .map(|(_, l)| *l)
        .collect::<Vec<_>>()
        .join("\n");
    let entry = Entry {
        file: file.to_string(),
        line,
        category: fields
            .get("category")
            .unwrap_or_else(|| panic!("{file}:{line}: no category"))
            .clone(),
        sqlite: outcomes(
            fields
                .get("sqlite")
                .unwrap_or_else(|| panic!("{file}:{line}: no sqlite outcome")),
        ),
        postgres: fields.get("postgres").map(outcomes),
        slack: Duration::from_millis(fields.get("slack_ms").map_or(0, |ms| {
            ms.parse()
                .unwrap_or_else(|_| panic!("{file}:{line}: slack_ms is a number"))
        })),
        sql: sql.trim().to_string(),
    };
    let needs_note = |outcomes: &[String]| outcomes.iter().any(|o| o == "sql" || o == "parse");
    if needs_note(&entry.sqlite)
        || entry.postgres.as_deref().is_some_and(needs_note)
        || !entry.slack.is_zero()
    {
        assert!(
            fields.contains_key("note"),
            "{file}:{line}: an entry expecting `sql` or `parse`, or with slack, says why in a note"
        );
    }
    assert!(!entry.sql.is_empty(), "{file}:{line}: entry without SQL");
    entry
}

/// The fixture: three tables of [`FIXTURE_ROWS`] rows, an index, a view and a trigger (so
/// writes would have somewhere to go), written by a connection the engine never sees.
fn create_fixture(path: &Path) {
    let connection = Connection::open(path).expect("create the fixture database");
    connection
        .execute_batch(&format!(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT);
             CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id),
                                  amount REAL, note TEXT);
             CREATE TABLE items (id INTEGER PRIMARY KEY, label TEXT, data BLOB);
             CREATE INDEX orders_customer ON orders (customer_id);
             CREATE VIEW big_spenders AS
               SELECT c.name, sum(o.amount) AS total FROM customers c JOIN orders o
               ON o.customer_id = c.id GROUP BY c.id HAVING total > 100;
             CREATE TABLE audit (what TEXT);
             CREATE TRIGGER customers_audit AFTER UPDATE ON customers
               BEGIN INSERT INTO audit VALUES ('updated ' || new.id); END;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {FIXTURE_ROWS})
             INSERT INTO customers SELECT i, 'customer ' || i, 'city ' || (i % 17) FROM n;
             INSERT INTO orders SELECT id, (id * 7) % {FIXTURE_ROWS} + 1, id * 1.25, 'note ' || id
               FROM customers;
             INSERT INTO items SELECT id, 'item ' || id, randomblob(16) FROM customers;"
        ))
        .expect("fixture schema and rows");
}

fn sha256_of(path: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(path).expect("read the fixture")).to_vec()
}

/// Files next to the database that a write would create.
fn sidecar_files(path: &Path) -> Vec<PathBuf> {
    ["-journal", "-wal", "-shm"]
        .iter()
        .map(|suffix| PathBuf::from(format!("{}{suffix}", path.display())))
        .filter(|p| p.exists())
        .collect()
}

/// Whether `result` matches one of the expected outcomes; the message is checked too.
fn check_outcome(
    expected: &[String],
    result: &Result<learnat_tools::QueryResult, ToolsError>,
) -> Result<(), String> {
    match result {
        Ok(_) if expected.iter().any(|e| e == "ok") => Ok(()),
        Ok(result) => Err(format!(
            "expected {expected:?}, but it ran ({} rows)",
            result.rows.len()
        )),
        Err(error) => {
            let message = error.to_string();
            if message.trim().is_empty() || message.contains('\n') {
                return Err(format!("the message is not one clear line: {message:?}"));
            }
            if expected.iter().any(|e| e == error.kind()) {
                Ok(())
            } else {
                Err(format!(
                    "expected {expected:?}, got {}: {message}",
                    error.kind()
                ))
            }
        }
    }
}

#[test]
fn the_corpus_is_refused_or_stopped_and_the_file_never_changes() {
    let corpus = load_corpus();
    let attacks = corpus
        .iter()
        .filter(|e| !e.sqlite.iter().any(|o| o == "ok"))
        .count();
    assert!(
        attacks >= 150,
        "the corpus has {attacks} attack statements; at least 150 expected"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fixture.sqlite");
    create_fixture(&path);
    let checksum = sha256_of(&path);
    let db = SqliteDatabase::open(&path).unwrap();
    let options = ExecOptions {
        timeout: TIMEOUT,
        max_rows: 1000,
        max_result_bytes: 8 * 1024 * 1024,
    };

    let mut failures = Vec::new();
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    let mut slowest = Duration::ZERO;
    for entry in corpus.iter().filter(|e| e.sqlite != ["skip"]) {
        let bound = TIMEOUT + GRACE + entry.slack;
        let start = Instant::now();
        let result = db.execute_blocking(&entry.sql, &options);
        let mut elapsed = start.elapsed();
        if elapsed > bound {
            let start = Instant::now();
            let _ = db.execute_blocking(&entry.sql, &options);
            elapsed = elapsed.min(start.elapsed());
        }
        slowest = slowest.max(elapsed);
        let place = format!("{}:{} [{}]", entry.file, entry.line, entry.category);
        *by_kind
            .entry(
                result
                    .as_ref()
                    .map_or_else(|e| e.kind().to_string(), |_| "ok".to_string()),
            )
            .or_default() += 1;
        if let Err(problem) = check_outcome(&entry.sqlite, &result) {
            failures.push(format!(
                "{place}: {problem}\n    {}",
                entry.sql.replace('\n', " ")
            ));
        }
        if elapsed > bound {
            failures.push(format!(
                "{place}: came back after {elapsed:?} (bound {bound:?})"
            ));
        }
        if sha256_of(&path) != checksum {
            panic!("{place}: the database file changed!\n{}", entry.sql);
        }
        let sidecars = sidecar_files(&path);
        assert!(sidecars.is_empty(), "{place}: created {sidecars:?}");
    }
    eprintln!(
        "adversarial corpus: {} entries ({attacks} attacks), outcomes {by_kind:?}, slowest {slowest:?}",
        corpus.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        dir.path().read_dir().unwrap().count() == 1,
        "no new files beside the fixture"
    );
}

#[test]
fn the_connection_still_answers_after_every_kind_of_attack() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fixture.sqlite");
    create_fixture(&path);
    let db = SqliteDatabase::open(&path).unwrap();
    let options = ExecOptions {
        timeout: Duration::from_millis(150),
        ..ExecOptions::default()
    };
    // Interleave a control after each attack of a kind: an interrupted or refused statement
    // must leave the pooled connection clean (no open transaction, no stale deadline).
    for attack in [
        "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r",
        "SELECT zeroblob(10000000000)",
        "DELETE FROM customers",
        "SELECT 1; DELETE FROM customers",
        "SELECT * FROM customers NOT INDEXED; DROP TABLE orders",
    ] {
        assert!(db.execute_blocking(attack, &options).is_err(), "{attack}");
        let count = db
            .execute_blocking("SELECT count(*) FROM customers", &options)
            .unwrap_or_else(|e| panic!("after {attack}: {e}"));
        assert_eq!(
            count.rows[0][0],
            learnat_tools::Value::Integer(FIXTURE_ROWS)
        );
    }
}

/// Statements of one file with their databases: `(sql, db_id)`.
fn spider_statements(data: &Path) -> Vec<(String, String, &'static str)> {
    let spider = data.join("spider");
    let mut statements = Vec::new();
    let gold = std::fs::read_to_string(spider.join("dev_gold.sql")).expect("dev_gold.sql");
    for line in gold.lines().filter(|l| !l.trim().is_empty()) {
        let (sql, db_id) = line.rsplit_once('\t').expect("dev_gold.sql: SQL<TAB>db_id");
        statements.push((sql.to_string(), db_id.trim().to_string(), "dev_gold.sql"));
    }
    let dev: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(spider.join("dev.json")).unwrap()).unwrap();
    let dev_db_ids: Vec<String> = dev
        .as_array()
        .expect("dev.json is an array")
        .iter()
        .map(|item| item["db_id"].as_str().expect("db_id").to_string())
        .collect();
    for file in [
        "spider_dev_gold.sql",
        "spider_dev_perturbed.sql",
        "spider_dev_qwen05.sql",
    ] {
        let text = std::fs::read_to_string(data.join("parity").join(file)).expect(file);
        for (index, sql) in text.lines().enumerate() {
            statements.push((sql.to_string(), dev_db_ids[index].clone(), file));
        }
    }
    let train: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(spider.join("train_spider_min.json")).unwrap(),
    )
    .unwrap();
    for item in train.as_array().expect("train is an array") {
        statements.push((
            item["query"].as_str().expect("query").to_string(),
            item["db_id"].as_str().expect("db_id").to_string(),
            "train_spider_min.json",
        ));
    }
    statements
}

/// Every Spider statement that SQLite itself can prepare read-only must pass learnat's layers:
/// it may run, or time out, but never be refused or fail to parse. Counts the statements that
/// needed the SQLite fallback (sqlparser could not parse them).
#[test]
fn spider_queries_pass_the_gate() {
    let Some(data) =
        learnat_tools::shared_data::shared_data_or_skip("spider_queries_pass_the_gate")
    else {
        return;
    };
    let statements = spider_statements(&data);
    let mut databases: BTreeMap<String, Option<(Connection, SqliteDatabase)>> = BTreeMap::new();
    let options = ExecOptions {
        timeout: Duration::from_millis(500),
        max_rows: 1,
        ..ExecOptions::default()
    };
    let (mut checked, mut fallback, mut not_sqlite) = (0usize, 0usize, 0usize);
    let mut per_file: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for (sql, db_id, file) in &statements {
        let pair = databases.entry(db_id.clone()).or_insert_with(|| {
            let path = data
                .join("spider/database")
                .join(db_id)
                .join(format!("{db_id}.sqlite"));
            path.exists().then(|| {
                let raw =
                    Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                        .expect("raw read-only connection");
                (
                    raw,
                    SqliteDatabase::open(&path).expect("learnat opens Spider databases"),
                )
            })
        });
        let Some((raw, ours)) = pair else { continue };
        // SQLite's own verdict: one statement that prepares and is read-only.
        let runs_in_sqlite = raw.prepare(sql).map(|s| s.readonly()).unwrap_or(false);
        if !runs_in_sqlite {
            not_sqlite += 1;
            continue;
        }
        checked += 1;
        let counts = per_file.entry(file).or_default();
        counts.0 += 1;
        if matches!(
            learnat_tools::safety::check_read_only(sql, learnat_tools::Dialect::Sqlite),
            Err(ToolsError::Parse { .. })
        ) {
            fallback += 1;
            counts.1 += 1;
        }
        match ours.execute_blocking(sql, &options) {
            Ok(_) | Err(ToolsError::Timeout { .. }) => {}
            Err(error) => failures.push(format!("{file} [{db_id}] {sql}\n    -> {error}")),
        }
    }
    eprintln!(
        "spider gate parity: {checked} statements SQLite runs read-only ({not_sqlite} it does not); \
         {fallback} needed the SQLite fallback; per file (checked, fallback): {per_file:?}"
    );
    assert!(
        checked > 10_000,
        "only {checked} statements checked: is the data complete?"
    );
    assert!(
        failures.is_empty(),
        "{} refused:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The PostgreSQL-relevant part of the corpus (entries with a `postgres` outcome) against the
/// test server of `.ci/start-postgres.sh`; the tables' contents, the schema and the sequence
/// must be unchanged afterwards. The connecting role owns the tables, so the server alone
/// would allow the writes: learnat's gate and READ ONLY transaction are what stop them.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn the_corpus_is_refused_or_stopped_on_postgres() {
    use learnat_tools::Database;
    use learnat_tools::postgres::PostgresDatabase;

    let url = match std::env::var("LEARNAT_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ if std::env::var_os("CI").is_some() => {
            panic!("LEARNAT_TEST_POSTGRES_URL is not set; CI must run .ci/start-postgres.sh")
        }
        _ => {
            eprintln!("skipping the PostgreSQL corpus: LEARNAT_TEST_POSTGRES_URL is not set");
            return;
        }
    };
    let db = PostgresDatabase::connect(&url)
        .await
        .expect("connect to the test server");
    let options = ExecOptions {
        timeout: TIMEOUT,
        max_rows: 1000,
        max_result_bytes: 8 * 1024 * 1024,
    };
    let fingerprint_sql = "SELECT \
        (SELECT md5(string_agg(c::text, ',' ORDER BY id)) FROM customers c) || \
        (SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM orders o) || \
        (SELECT md5(string_agg(i::text, ',' ORDER BY id)) FROM items i) || \
        (SELECT count(*) FROM audit)::text || ':' || \
        (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace)::text || ':' || \
        (SELECT last_value FROM customers_id_seq)::text";
    let fingerprint = || async {
        db.execute(fingerprint_sql, &ExecOptions::default())
            .await
            .expect("fingerprint query")
            .rows
    };
    let before = fingerprint().await;

    let corpus = load_corpus();
    let mut failures = Vec::new();
    let mut ran = 0usize;
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for entry in &corpus {
        let Some(expected) = &entry.postgres else {
            continue;
        };
        if expected == &["skip"] {
            continue;
        }
        ran += 1;
        let bound = TIMEOUT + GRACE + entry.slack;
        let start = Instant::now();
        let result = db.execute(&entry.sql, &options).await;
        let mut elapsed = start.elapsed();
        if elapsed > bound {
            let start = Instant::now();
            let _ = db.execute(&entry.sql, &options).await;
            elapsed = elapsed.min(start.elapsed());
        }
        let place = format!("{}:{} [{}]", entry.file, entry.line, entry.category);
        *by_kind
            .entry(
                result
                    .as_ref()
                    .map_or_else(|e| e.kind().to_string(), |_| "ok".to_string()),
            )
            .or_default() += 1;
        if let Err(problem) = check_outcome(expected, &result) {
            failures.push(format!(
                "{place}: {problem}\n    {}",
                entry.sql.replace('\n', " ")
            ));
        }
        if elapsed > bound {
            failures.push(format!(
                "{place}: came back after {elapsed:?} (bound {bound:?})"
            ));
        }
    }
    let after = fingerprint().await;
    eprintln!("postgres corpus: {ran} entries, outcomes {by_kind:?}");
    assert_eq!(before, after, "the test database changed");
    assert!(ran >= 100, "only {ran} entries ran on PostgreSQL");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
