//! The bundled demo database and question set: determinism, shape, integrity, and every gold
//! query run through the read-only engine.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use learnat_tools::demo::{
    AMBIGUITY_KINDS, DEMO_DB_ID, DEMO_SEED, DemoSummary, Difficulty, create_demo_database,
    demo_questions,
};
use learnat_tools::sqlite::SqliteDatabase;
use learnat_tools::{ExecOptions, Value};
use tempfile::TempDir;

fn demo_at(seed: u64) -> (TempDir, PathBuf, DemoSummary) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.sqlite");
    let summary = create_demo_database(&path, seed).unwrap();
    (dir, path, summary)
}

/// Every row of every table, in a stable order, as text.
fn dump(path: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = Vec::new();
    for table in tables {
        let mut statement = conn
            .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY 1, 2"))
            .unwrap();
        let columns = statement.column_count();
        let mut rows = statement.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            let cells: Vec<String> = (0..columns)
                .map(|i| format!("{:?}", row.get_ref(i).unwrap()))
                .collect();
            out.push(format!("{table}: {}", cells.join(" | ")));
        }
    }
    out
}

fn scalar(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |row| row.get(0)).unwrap()
}

#[test]
fn the_same_seed_gives_the_same_content_and_other_seeds_differ() {
    let (_a, first, summary) = demo_at(DEMO_SEED);
    let (_b, second, again) = demo_at(DEMO_SEED);
    let (_c, other, _) = demo_at(DEMO_SEED + 1);
    assert_eq!(summary, again);
    let content = dump(&first);
    assert_eq!(content.len() as u64, summary.row_count());
    assert_eq!(content, dump(&second));
    assert_ne!(content, dump(&other));
}

#[test]
fn the_shop_has_realistic_size_and_the_summary_matches_the_file() {
    let (_dir, path, summary) = demo_at(DEMO_SEED);
    assert_eq!(summary.table_count(), 12);
    let total = summary.row_count();
    assert!((3_000..=10_000).contains(&total), "{total} rows");
    assert!(
        summary.to_string().starts_with("a shop: 12 tables, ") && summary.to_string().contains(','),
        "{summary}"
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    for (table, rows) in &summary.tables {
        assert_eq!(
            scalar(&conn, &format!("SELECT count(*) FROM {table}")) as u64,
            *rows,
            "{table}"
        );
    }
    for (table, at_least) in [("customers", 200), ("orders", 800), ("order_items", 1200)] {
        let rows = summary.rows_of(table).unwrap();
        assert!(rows >= at_least, "{table}: {rows}");
    }
}

#[test]
fn foreign_keys_hold_and_the_file_is_sound() {
    let (_dir, path, _) = demo_at(DEMO_SEED);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let violations: i64 = conn
        .prepare("PRAGMA foreign_key_check")
        .unwrap()
        .query_map([], |_| Ok(()))
        .unwrap()
        .count() as i64;
    assert_eq!(violations, 0);
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let declared = scalar(
        &conn,
        "SELECT count(*) FROM sqlite_master AS m, pragma_foreign_key_list(m.name) \
         WHERE m.type = 'table'",
    );
    assert!(declared >= 14, "{declared} foreign-key columns declared");
}

#[test]
fn the_data_supports_interesting_questions() {
    let (_dir, path, _) = demo_at(DEMO_SEED);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let checks = [
        // Products never ordered, customers who never ordered.
        "SELECT count(*) FROM products AS p WHERE NOT EXISTS \
         (SELECT 1 FROM order_items AS oi WHERE oi.product_id = p.product_id)",
        "SELECT count(*) FROM customers AS c WHERE NOT EXISTS \
         (SELECT 1 FROM orders AS o WHERE o.customer_id = c.customer_id)",
        // Late deliveries, parcels still in transit, cancelled orders, pending ones.
        "SELECT count(*) FROM shipments WHERE delivered_date > expected_delivery_date",
        "SELECT count(*) FROM shipments WHERE delivered_date IS NULL",
        "SELECT count(*) FROM orders WHERE status = 'cancelled'",
        "SELECT count(*) FROM orders WHERE status IN ('pending', 'processing')",
        // Ambiguous values: two Londons, two Portlands, two Accessories categories.
        "SELECT count(*) - 1 FROM cities WHERE name = 'London'",
        "SELECT count(*) - 1 FROM cities WHERE name = 'Portland'",
        "SELECT count(*) - 1 FROM categories WHERE name = 'Accessories'",
        // NULLs where real data has them.
        "SELECT count(*) FROM customers WHERE email IS NULL",
        "SELECT count(*) FROM customers WHERE loyalty_tier IS NULL",
        "SELECT count(*) FROM orders WHERE employee_id IS NULL",
        "SELECT count(*) FROM reviews WHERE body IS NULL",
        // Every year 2019..2025 has orders, and volume grows.
        "SELECT count(DISTINCT strftime('%Y', order_date)) - 6 FROM orders",
        "SELECT (SELECT count(*) FROM orders WHERE order_date LIKE '2024%') - \
                (SELECT count(*) FROM orders WHERE order_date LIKE '2019%')",
        // Prices paid drift below list prices in earlier years.
        "SELECT count(*) FROM order_items AS oi JOIN products AS p USING (product_id) \
         WHERE oi.unit_price < p.unit_price",
    ];
    for sql in checks {
        assert!(scalar(&conn, sql) > 0, "expected a positive count: {sql}");
    }
    let bounds = [
        "SELECT count(*) FROM orders WHERE order_date < '2019-01-01' OR order_date > '2025-06-30'",
        "SELECT count(*) FROM shipments AS s JOIN orders AS o USING (order_id) \
         WHERE s.shipped_date < o.order_date OR s.delivered_date < s.shipped_date",
        "SELECT count(*) FROM orders AS o JOIN customers AS c USING (customer_id) \
         WHERE o.order_date < c.signup_date",
        "SELECT count(*) FROM reviews WHERE rating NOT BETWEEN 1 AND 5",
        "SELECT count(*) FROM orders AS o WHERE o.status = 'delivered' AND NOT EXISTS \
         (SELECT 1 FROM shipments AS s WHERE s.order_id = o.order_id \
          AND s.delivered_date IS NOT NULL)",
    ];
    for sql in bounds {
        assert_eq!(scalar(&conn, sql), 0, "expected no rows: {sql}");
    }
}

#[test]
fn an_existing_path_is_never_overwritten() {
    let (dir, path, _) = demo_at(DEMO_SEED);
    let before = std::fs::read(&path).unwrap();
    let error = create_demo_database(&path, 7).unwrap_err();
    assert!(error.to_string().contains("already exists"), "{error}");
    assert_eq!(before, std::fs::read(&path).unwrap());

    let other = dir.path().join("notes.txt");
    std::fs::write(&other, "keep me").unwrap();
    assert!(
        create_demo_database(&other, 7)
            .unwrap_err()
            .to_string()
            .contains("already exists")
    );
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "keep me");

    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn a_missing_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no/such/dir/shop.sqlite");
    let error = create_demo_database(&path, DEMO_SEED).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("does not exist"), "{message}");
    assert!(!path.exists());
}

#[test]
fn the_question_set_is_large_annotated_and_consistent() {
    let questions = demo_questions().unwrap();
    assert!(questions.len() >= 40, "{} questions", questions.len());
    let ambiguous: Vec<_> = questions.iter().filter(|q| q.is_ambiguous()).collect();
    assert!(ambiguous.len() >= 10, "{} ambiguous", ambiguous.len());
    let follow_ups = questions.iter().filter(|q| q.follow_up.is_some()).count();
    assert!(follow_ups >= 5, "{follow_ups} follow-ups");

    let mut ids = HashSet::new();
    for q in &questions {
        assert!(
            ids.insert(q.instance_id.clone()),
            "duplicate {}",
            q.instance_id
        );
        assert_eq!(q.db_id, DEMO_DB_ID);
        assert!(!q.clear_question.trim().is_empty(), "{}", q.instance_id);
        for (term, snippet) in q.ambiguity_snippets() {
            assert!(
                !snippet.trim().is_empty(),
                "{}: empty snippet for {term}",
                q.instance_id
            );
            assert!(
                q.sol_sql.contains(snippet),
                "{}: snippet of '{term}' not in sol_sql: {snippet}",
                q.instance_id
            );
        }
        let annotations = q
            .user_query_ambiguity
            .critical_ambiguity
            .iter()
            .chain(&q.user_query_ambiguity.non_critical_ambiguity);
        for a in annotations {
            assert!(
                AMBIGUITY_KINDS.contains(&a.kind.as_str()),
                "{}: {}",
                q.instance_id,
                a.kind
            );
            assert!(
                a.is_mask
                    || q.amb_user_query
                        .to_lowercase()
                        .contains(&a.term.to_lowercase()),
                "{}: unmasked term '{}' is not in the question",
                q.instance_id,
                a.term
            );
        }
        if q.is_ambiguous() {
            assert_ne!(q.amb_user_query, q.clear_question, "{}", q.instance_id);
        } else if q.knowledge_ambiguity.is_empty() {
            assert_eq!(q.amb_user_query, q.clear_question, "{}", q.instance_id);
        }
    }
    for difficulty in [
        Difficulty::Simple,
        Difficulty::Moderate,
        Difficulty::Challenging,
    ] {
        let n = questions
            .iter()
            .filter(|q| q.difficulty == difficulty)
            .count();
        assert!(n >= 5, "{difficulty:?}: {n}");
    }
}

#[test]
fn every_gold_query_runs_read_only_and_returns_an_answer() {
    let (_dir, path, _) = demo_at(DEMO_SEED);
    let db = SqliteDatabase::open(&path).unwrap();
    let options = ExecOptions::default();
    let questions = demo_questions().unwrap();
    for q in &questions {
        let mut queries = vec![(q.instance_id.clone(), q.sol_sql.as_str())];
        if let Some(follow_up) = &q.follow_up {
            queries.push((
                format!("{} follow-up", q.instance_id),
                follow_up.sol_sql.as_str(),
            ));
        }
        for (label, sql) in queries {
            let result = db
                .execute_blocking(sql, &options)
                .unwrap_or_else(|e| panic!("{label}: {e}\n{sql}"));
            assert!(!result.truncated, "{label}");
            let answered = result
                .rows
                .first()
                .is_some_and(|row| row.iter().any(|v| *v != Value::Null));
            assert!(answered, "{label}: empty or NULL answer\n{sql}");
        }
    }
}

#[test]
fn an_ambiguous_question_changes_answer_with_its_interpretation() {
    // The annotation is only useful if the readings really differ: "best customers" by money
    // spent and by number of orders pick different people in the demo data.
    let (_dir, path, _) = demo_at(DEMO_SEED);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let top = |order: &str| -> Vec<i64> {
        conn.prepare(&format!(
            "SELECT o.customer_id FROM orders AS o JOIN payments AS p USING (order_id) \
             GROUP BY o.customer_id ORDER BY {order} DESC, o.customer_id LIMIT 10"
        ))
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    assert_ne!(top("SUM(p.amount)"), top("COUNT(DISTINCT o.order_id)"));
}
