//! Introspect and render every Spider database, and check the result against Spider's own
//! `tables.json` (table names, primary keys, foreign keys).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use learnat_tools::Value;
use learnat_tools::schema::{IntrospectOptions, Schema, introspect};
use learnat_tools::shared_data::shared_data_or_skip;
use learnat_tools::sqlite::SqliteDatabase;
use serde::Deserialize;

/// The parts of a `tables.json` entry this test compares.
#[derive(Deserialize)]
struct SpiderTables {
    db_id: String,
    table_names_original: Vec<String>,
    /// `[table index, column name]`; index -1 is `*`.
    column_names_original: Vec<(i64, String)>,
    /// Column indices (or, in newer releases, lists of indices for composite keys).
    primary_keys: Vec<serde_json::Value>,
    /// `[column index, referenced column index]`.
    foreign_keys: Vec<(usize, usize)>,
}

/// What one database gave, for the summary.
#[derive(Default)]
struct Outcome {
    table_mismatch: Option<String>,
    primary_keys: usize,
    primary_keys_found: usize,
    foreign_keys: usize,
    foreign_keys_found: usize,
    problems: Vec<String>,
}

fn lower(s: &str) -> String {
    s.to_lowercase()
}

/// Compare one introspected schema with its tables.json entry.
fn compare(schema: &Schema, expected: &SpiderTables) -> Outcome {
    let mut outcome = Outcome::default();
    // SQLite's internal sqlite_sequence appears in a few tables.json entries; introspection
    // leaves internal tables out on purpose.
    let mut wanted: Vec<String> = expected
        .table_names_original
        .iter()
        .map(|t| lower(t))
        .filter(|t| !t.starts_with("sqlite_"))
        .collect();
    let mut found: Vec<String> = schema.tables.iter().map(|t| lower(&t.name)).collect();
    wanted.sort();
    found.sort();
    if wanted != found {
        outcome.table_mismatch = Some(format!("tables.json {wanted:?} vs file {found:?}"));
    }

    let column = |index: usize| -> Option<(String, String)> {
        let (table, name) = expected.column_names_original.get(index)?;
        let table = expected
            .table_names_original
            .get(usize::try_from(*table).ok()?)?;
        Some((lower(table), lower(name)))
    };
    let table = |name: &str| schema.tables.iter().find(|t| lower(&t.name) == name);

    let primary_key_columns = expected.primary_keys.iter().flat_map(|key| match key {
        serde_json::Value::Array(columns) => columns.iter().filter_map(|c| c.as_u64()).collect(),
        other => other.as_u64().into_iter().collect::<Vec<_>>(),
    });
    for index in primary_key_columns {
        outcome.primary_keys += 1;
        let Some((table_name, column_name)) = column(index as usize) else {
            continue;
        };
        let found = table(&table_name)
            .is_some_and(|t| t.primary_key.iter().any(|c| lower(c) == column_name));
        if found {
            outcome.primary_keys_found += 1;
        } else {
            outcome
                .problems
                .push(format!("primary key {table_name}.{column_name} not found"));
        }
    }

    for (from, to) in &expected.foreign_keys {
        outcome.foreign_keys += 1;
        let (Some((from_table, from_column)), Some((to_table, to_column))) =
            (column(*from), column(*to))
        else {
            continue;
        };
        let found = table(&from_table).is_some_and(|t| {
            t.foreign_keys.iter().any(|key| {
                lower(&key.ref_table) == to_table
                    && key
                        .columns
                        .iter()
                        .zip(&key.ref_columns)
                        .any(|(c, r)| lower(c) == from_column && lower(r) == to_column)
            })
        });
        if found {
            outcome.foreign_keys_found += 1;
        } else {
            outcome.problems.push(format!(
                "foreign key {from_table}.{from_column} -> {to_table}.{to_column} not found"
            ));
        }
    }
    outcome
}

/// Renderings must be non-trivial and the DDL must be SQL SQLite accepts, meaning the same
/// tables: create it in memory and count.
fn check_renderings(schema: &Schema, db_id: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let ddl = schema.to_ddl();
    if ddl.matches("CREATE TABLE ").count() != schema.tables.len() {
        problems.push("DDL does not have one CREATE TABLE per table".to_string());
    }
    match rusqlite::Connection::open_in_memory().and_then(|conn| {
        conn.execute_batch(&ddl)?;
        conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |row| row.get::<_, i64>(0),
        )
    }) {
        Ok(n) if n as usize == schema.tables.len() => {}
        Ok(n) => problems.push(format!("DDL recreated {n} tables")),
        Err(e) => problems.push(format!("DDL does not run in SQLite: {e}")),
    }
    let compact_tables = schema
        .to_compact()
        .lines()
        .filter(|l| !l.starts_with("FK "))
        .count();
    if compact_tables != schema.tables.len() {
        problems.push(format!("compact form has {compact_tables} table lines"));
    }
    match serde_json::to_string(schema).map(|json| serde_json::from_str::<Schema>(&json)) {
        Ok(Ok(back)) if same_up_to_float_parsing(&back, schema) => {}
        _ => problems.push("JSON does not round-trip".to_string()),
    }
    problems
        .into_iter()
        .map(|p| format!("{db_id}: {p}"))
        .collect()
}

/// Equal, except that real-valued samples may differ in the last bit: serde_json's default
/// float parser is fast rather than exact (`-121.901782` may come back as
/// `-121.90178200000001`).
fn same_up_to_float_parsing(a: &Schema, b: &Schema) -> bool {
    let close = |x: &Value, y: &Value| match (x, y) {
        (Value::Real(x), Value::Real(y)) => (x - y).abs() <= 1e-12 * x.abs().max(1.0),
        _ => x == y,
    };
    let without_samples = |schema: &Schema| {
        let mut copy = schema.clone();
        copy.tables
            .iter_mut()
            .flat_map(|t| t.columns.iter_mut())
            .for_each(|c| c.samples.clear());
        copy
    };
    let samples = |schema: &Schema| -> Vec<Value> {
        schema
            .tables
            .iter()
            .flat_map(|t| &t.columns)
            .flat_map(|c| c.samples.clone())
            .collect()
    };
    let (a_samples, b_samples) = (samples(a), samples(b));
    without_samples(a) == without_samples(b)
        && a_samples.len() == b_samples.len()
        && a_samples.iter().zip(&b_samples).all(|(x, y)| close(x, y))
}

fn spider_databases(spider: &Path) -> Vec<(String, PathBuf)> {
    let mut databases: Vec<(String, PathBuf)> = std::fs::read_dir(spider.join("database"))
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let db_id = entry.file_name().to_string_lossy().into_owned();
            let file = entry.path().join(format!("{db_id}.sqlite"));
            file.is_file().then_some((db_id, file))
        })
        .collect();
    databases.sort();
    databases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_spider_database_is_introspected_and_rendered() {
    let Some(data) = shared_data_or_skip("every_spider_database_is_introspected_and_rendered")
    else {
        return;
    };
    let spider = data.join("spider");
    let tables: Vec<SpiderTables> =
        serde_json::from_slice(&std::fs::read(spider.join("tables.json")).unwrap()).unwrap();
    let expected: Arc<HashMap<String, SpiderTables>> =
        Arc::new(tables.into_iter().map(|t| (t.db_id.clone(), t)).collect());
    let databases = spider_databases(&spider);
    assert!(
        databases.len() >= 160,
        "{} Spider databases",
        databases.len()
    );

    let start = Instant::now();
    let options = IntrospectOptions::default();
    let mut tasks = tokio::task::JoinSet::new();
    for (db_id, file) in databases.clone() {
        let options = options.clone();
        tasks.spawn(async move {
            let db = SqliteDatabase::open(&file).map_err(|e| format!("{db_id}: {e}"))?;
            let schema = introspect(&db, &options)
                .await
                .map_err(|e| format!("{db_id}: {e}"))?;
            Ok::<_, String>((db_id, schema))
        });
    }
    let mut schemas = Vec::new();
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            Ok(found) => schemas.push(found),
            Err(failure) => failures.push(failure),
        }
    }
    let elapsed = start.elapsed();
    assert!(failures.is_empty(), "introspection failed: {failures:#?}");

    let mut totals = Outcome::default();
    let mut table_mismatches = Vec::new();
    let mut render_problems = Vec::new();
    let mut sampled_columns = 0;
    let mut columns = 0;
    for (db_id, schema) in &schemas {
        let entry = expected
            .get(db_id)
            .unwrap_or_else(|| panic!("{db_id} not in tables.json"));
        let outcome = compare(schema, entry);
        if let Some(mismatch) = outcome.table_mismatch {
            table_mismatches.push(format!("{db_id}: {mismatch}"));
        }
        totals.primary_keys += outcome.primary_keys;
        totals.primary_keys_found += outcome.primary_keys_found;
        totals.foreign_keys += outcome.foreign_keys;
        totals.foreign_keys_found += outcome.foreign_keys_found;
        totals.problems.extend(
            outcome
                .problems
                .into_iter()
                .map(|p| format!("{db_id}: {p}")),
        );
        render_problems.extend(check_renderings(schema, db_id));
        for column in schema.tables.iter().flat_map(|t| &t.columns) {
            columns += 1;
            sampled_columns += usize::from(!column.samples.is_empty());
        }
    }
    eprintln!(
        "{} Spider databases introspected in {:.2} s: primary keys {}/{}, foreign keys {}/{}, \
         {sampled_columns}/{columns} columns with samples",
        schemas.len(),
        elapsed.as_secs_f64(),
        totals.primary_keys_found,
        totals.primary_keys,
        totals.foreign_keys_found,
        totals.foreign_keys,
    );
    for problem in &totals.problems {
        eprintln!("  {problem}");
    }
    assert!(table_mismatches.is_empty(), "{table_mismatches:#?}");
    assert!(render_problems.is_empty(), "{render_problems:#?}");
    // Every key tables.json declares is declared in the .sqlite files too (measured: 774
    // primary-key and 768 foreign-key columns), so nothing may be missing.
    assert!(totals.primary_keys > 700 && totals.foreign_keys > 700);
    assert!(totals.problems.is_empty(), "{:#?}", totals.problems);
    // Most columns have values (some Spider tables are empty).
    assert!(
        sampled_columns * 10 >= columns * 8,
        "{sampled_columns}/{columns} sampled"
    );
}
