//! Schema introspection through the read-only engine, the renderings, and the cache.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use learnat_tools::demo::{DEMO_SEED, create_demo_database};
use learnat_tools::schema::{IntrospectOptions, Schema, SchemaCache, introspect};
use learnat_tools::sqlite::SqliteDatabase;
use learnat_tools::{Database, Dialect, ExecOptions, QueryResult, ToolsResult, Value};
use tempfile::TempDir;

fn demo() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shop.sqlite");
    create_demo_database(&path, DEMO_SEED).unwrap();
    (dir, path)
}

/// Counts the statements that reach the engine, to see what the cache saves.
struct CountingDatabase {
    inner: SqliteDatabase,
    statements: AtomicUsize,
}

#[async_trait]
impl Database for CountingDatabase {
    fn dialect(&self) -> Dialect {
        self.inner.dialect()
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn execute(&self, sql: &str, options: &ExecOptions) -> ToolsResult<QueryResult> {
        self.statements.fetch_add(1, Ordering::SeqCst);
        self.inner.execute(sql, options).await
    }
}

/// Table and column names, types, keys: what a DDL rendering must preserve.
fn structure(schema: &Schema) -> Vec<String> {
    schema
        .tables
        .iter()
        .map(|t| {
            let columns: Vec<String> = t
                .columns
                .iter()
                .map(|c| format!("{} {} {}", c.name, c.data_type, c.not_null))
                .collect();
            format!(
                "{}({}) pk={:?} fk={:?}",
                t.name,
                columns.join(", "),
                t.primary_key,
                t.foreign_keys
            )
        })
        .collect()
}

/// Create the rendered DDL in a fresh file and introspect that: proves the DDL is valid SQL
/// that means the same schema (quoting included).
async fn recreate_from_ddl(ddl: &str, dir: &TempDir) -> Schema {
    let path = dir.path().join("from_ddl.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(ddl)
        .unwrap_or_else(|e| panic!("{e}\n{ddl}"));
    drop(conn);
    let db = SqliteDatabase::open(&path).unwrap();
    let options = IntrospectOptions {
        sample_values: 0,
        ..IntrospectOptions::default()
    };
    introspect(&db, &options).await.unwrap()
}

#[tokio::test]
async fn the_demo_schema_has_its_tables_keys_counts_and_samples() {
    let (_dir, path) = demo();
    let db = SqliteDatabase::open(&path).unwrap();
    let schema = introspect(&db, &IntrospectOptions::default())
        .await
        .unwrap();
    assert_eq!(schema.dialect, Dialect::Sqlite);
    assert_eq!(
        schema.table_names(),
        [
            "countries",
            "cities",
            "customers",
            "categories",
            "suppliers",
            "products",
            "employees",
            "orders",
            "order_items",
            "payments",
            "shipments",
            "reviews"
        ]
    );
    let customers = schema.table("customers").unwrap();
    assert_eq!(customers.primary_key, ["customer_id"]);
    assert_eq!(customers.row_count, Some(320));
    let first_name = customers
        .columns
        .iter()
        .find(|c| c.name == "first_name")
        .unwrap();
    assert_eq!(first_name.data_type, "TEXT");
    assert!(first_name.not_null);
    assert_eq!(first_name.samples.len(), 3);
    assert!(
        first_name
            .samples
            .iter()
            .all(|v| matches!(v, Value::Text(_)))
    );

    let items = schema.table("order_items").unwrap();
    assert_eq!(items.primary_key, ["order_id", "product_id"]);
    let targets: Vec<(&str, &str)> = items
        .foreign_keys
        .iter()
        .map(|k| (k.ref_table.as_str(), k.ref_columns[0].as_str()))
        .collect();
    assert!(targets.contains(&("orders", "order_id")), "{targets:?}");
    assert!(targets.contains(&("products", "product_id")), "{targets:?}");

    // The self-reference of categories and employees is found too.
    let categories = schema.table("categories").unwrap();
    assert_eq!(categories.foreign_keys[0].ref_table, "categories");
    assert_eq!(categories.foreign_keys[0].columns, ["parent_category_id"]);
    // Samples never include NULL; a mostly-NULL column still gets samples.
    let body = schema.table("reviews").unwrap().columns.last().unwrap();
    assert!(!body.samples.is_empty() && !body.samples.contains(&Value::Null));
}

#[tokio::test]
async fn renderings_carry_the_schema_and_the_ddl_recreates_it() {
    let (dir, path) = demo();
    let db = SqliteDatabase::open(&path).unwrap();
    let schema = introspect(&db, &IntrospectOptions::default())
        .await
        .unwrap();

    let ddl = schema.to_ddl();
    assert_eq!(ddl.matches("CREATE TABLE ").count(), 12);
    assert!(ddl.contains("FOREIGN KEY (customer_id) REFERENCES customers (customer_id)"));
    assert!(ddl.contains("  status TEXT NOT NULL, -- e.g. '"), "{ddl}");
    assert_eq!(
        structure(&recreate_from_ddl(&ddl, &dir).await),
        structure(&schema)
    );

    let compact = schema.to_compact();
    assert!(
        compact
            .lines()
            .any(|l| l.starts_with("customers(customer_id INTEGER PK, "))
    );
    assert!(compact.contains("FK orders(customer_id) -> customers(customer_id)"));
    assert_eq!(
        compact.lines().filter(|l| !l.starts_with("FK ")).count(),
        12
    );

    let subset = schema.to_ddl_tables(&["orders", "CUSTOMERS"]);
    assert_eq!(subset.matches("CREATE TABLE ").count(), 2);

    let json = serde_json::to_value(&schema).unwrap();
    assert_eq!(json["dialect"], "sqlite");
    assert_eq!(json["tables"].as_array().unwrap().len(), 12);
    assert_eq!(serde_json::from_value::<Schema>(json).unwrap(), schema);
}

#[tokio::test]
async fn awkward_names_are_quoted_and_implicit_keys_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("awkward.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE \"Parent Table\" (\"Id\" INTEGER PRIMARY KEY, \"order\" TEXT, \"it's\" TEXT);
         CREATE TABLE child (id INTEGER, \"parent\"\"ref\" INTEGER REFERENCES \"PARENT TABLE\",
                             note, PRIMARY KEY (id));
         CREATE TABLE big_text (body TEXT);
         INSERT INTO \"Parent Table\" VALUES (1, 'first', 'x'), (2, NULL, 'y');
         INSERT INTO child VALUES (10, 1, 'a'), (11, 2, NULL);
         INSERT INTO big_text VALUES (NULL), (''), ('short one');",
    )
    .unwrap();
    conn.execute("INSERT INTO big_text VALUES (?1)", ["long ".repeat(100)])
        .unwrap();
    drop(conn);

    let db = SqliteDatabase::open(&path).unwrap();
    let schema = introspect(&db, &IntrospectOptions::default())
        .await
        .unwrap();
    let child = schema.table("child").unwrap();
    assert_eq!(child.foreign_keys[0].ref_table, "Parent Table");
    assert_eq!(child.foreign_keys[0].ref_columns, ["Id"]);
    assert_eq!(child.columns[2].data_type, "");
    let order = &schema.table("Parent Table").unwrap().columns[1];
    assert_eq!(order.samples, [Value::Text("first".into())]);
    // Short values first, then the empty string, then the long text cut for prompts.
    let body = &schema.table("big_text").unwrap().columns[0];
    assert_eq!(body.samples[0], Value::Text("short one".into()));
    let Value::Text(long) = &body.samples[2] else {
        panic!("{:?}", body.samples)
    };
    assert!(long.ends_with('…') && long.chars().count() == 40, "{long}");

    let ddl = schema.to_ddl();
    assert!(ddl.contains("CREATE TABLE \"Parent Table\" ("), "{ddl}");
    assert!(ddl.contains("\"parent\"\"ref\""), "{ddl}");
    assert_eq!(
        structure(&recreate_from_ddl(&ddl, &dir).await),
        structure(&schema)
    );
    assert!(
        schema
            .to_compact()
            .contains("FK child(\"parent\"\"ref\") -> \"Parent Table\"(Id)")
    );
}

#[tokio::test]
async fn options_turn_off_samples_and_counts() {
    let (_dir, path) = demo();
    let db = SqliteDatabase::open(&path).unwrap();
    let options = IntrospectOptions {
        sample_values: 0,
        row_counts: false,
        ..IntrospectOptions::default()
    };
    let schema = introspect(&db, &options).await.unwrap();
    assert!(schema.tables.iter().all(|t| t.row_count.is_none()));
    assert!(
        schema
            .tables
            .iter()
            .flat_map(|t| &t.columns)
            .all(|c| c.samples.is_empty())
    );
    assert!(!schema.to_ddl().contains("-- e.g."));
}

#[tokio::test]
async fn the_cache_introspects_once_per_database_and_options() {
    let (_dir, path) = demo();
    let db = CountingDatabase {
        inner: SqliteDatabase::open(&path).unwrap(),
        statements: AtomicUsize::new(0),
    };
    let cache = SchemaCache::new();
    let options = IntrospectOptions::default();
    let first = cache.schema(&db, &options).await.unwrap();
    let after_first = db.statements.load(Ordering::SeqCst);
    assert!(after_first > 12, "{after_first} statements");
    let second = cache.schema(&db, &options).await.unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(db.statements.load(Ordering::SeqCst), after_first);

    let fewer = IntrospectOptions {
        sample_values: 1,
        ..IntrospectOptions::default()
    };
    cache.schema(&db, &fewer).await.unwrap();
    assert_eq!(cache.cached_schemas(), 2);

    let samples = cache
        .column_samples(&db, "orders", "status", 10, &options)
        .await
        .unwrap();
    let before = db.statements.load(Ordering::SeqCst);
    let again = cache
        .column_samples(&db, "orders", "status", 10, &options)
        .await
        .unwrap();
    assert!(Arc::ptr_eq(&samples, &again));
    assert_eq!(db.statements.load(Ordering::SeqCst), before);
    assert!(
        samples.contains(&Value::Text("delivered".into())),
        "{samples:?}"
    );

    cache.forget(db.name());
    assert_eq!(cache.cached_schemas(), 0);
}

#[tokio::test]
async fn introspection_goes_through_the_read_only_gate() {
    // Samples and row counts are optional, so their failures are silent: check that every one
    // came back, which shows the gate and the authorizer admit every statement introspection
    // issues (sqlite_master, pragma_table_info, pragma_foreign_key_list, count, DISTINCT).
    let (_dir, path) = demo();
    let db = SqliteDatabase::open(&path).unwrap();
    let schema = introspect(&db, &IntrospectOptions::default())
        .await
        .unwrap();
    assert!(schema.tables.iter().all(|t| t.row_count.is_some()));
    let sampled = schema
        .tables
        .iter()
        .flat_map(|t| &t.columns)
        .filter(|c| !c.samples.is_empty())
        .count();
    let columns: usize = schema.tables.iter().map(|t| t.columns.len()).sum();
    assert_eq!(sampled, columns, "every demo column has values");
}
