//! Schema introspection and the agent tools on PostgreSQL (feature `postgres`).
//!
//! Reads the `learnat_test` database that `.ci/start-postgres.sh` creates (its URL goes in
//! `LEARNAT_TEST_POSTGRES_URL`); only reads. Without the variable the tests print why they
//! skip, and fail under CI (`CI` set), where the server must be there.
#![cfg(feature = "postgres")]

use std::sync::Arc;

use learnat_tools::postgres::PostgresDatabase;
use learnat_tools::schema::{IntrospectOptions, introspect};
use learnat_tools::tool::{builtin_tools, find_tool};
use learnat_tools::{Database, Dialect, Value};
use serde_json::json;

async fn connect(test: &str) -> Option<PostgresDatabase> {
    match std::env::var("LEARNAT_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(PostgresDatabase::connect(&url).await.unwrap()),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "{test}: LEARNAT_TEST_POSTGRES_URL is not set; CI must run .ci/start-postgres.sh"
            )
        }
        _ => {
            eprintln!("skipping {test}: LEARNAT_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

#[tokio::test]
async fn the_test_database_is_introspected_with_keys_types_and_samples() {
    let Some(db) = connect("the_test_database_is_introspected_with_keys_types_and_samples").await
    else {
        return;
    };
    let schema = introspect(&db, &IntrospectOptions::default())
        .await
        .unwrap();
    assert_eq!(schema.dialect, Dialect::Postgres);
    // Base tables only, by name; the view big_spenders is not a table.
    assert_eq!(
        schema.table_names(),
        ["audit", "customers", "items", "orders", "typed"]
    );

    let customers = schema.table("customers").unwrap();
    assert_eq!(customers.primary_key, ["id"]);
    assert_eq!(customers.row_count, Some(3000));
    let name = &customers.columns[1];
    assert_eq!(
        (name.name.as_str(), name.data_type.as_str(), name.not_null),
        ("name", "text", true)
    );
    assert_eq!(name.samples.len(), 3);
    assert!(
        name.samples
            .iter()
            .all(|v| matches!(v, Value::Text(t) if t.starts_with("customer ")))
    );

    let orders = schema.table("orders").unwrap();
    assert_eq!(orders.foreign_keys.len(), 1);
    assert_eq!(orders.foreign_keys[0].columns, ["customer_id"]);
    assert_eq!(orders.foreign_keys[0].ref_table, "customers");
    assert_eq!(orders.foreign_keys[0].ref_columns, ["id"]);

    let typed = schema.table("typed").unwrap();
    let type_of = |column: &str| {
        typed
            .columns
            .iter()
            .find(|c| c.name == column)
            .map(|c| c.data_type.clone())
            .unwrap()
    };
    assert_eq!(type_of("amount"), "numeric(12,2)");
    assert_eq!(type_of("label"), "character varying(20)");
    assert_eq!(type_of("numbers"), "int4[]");
    assert_eq!(type_of("moment_tz"), "timestamp with time zone");
    // A column without equality (json) simply has no samples; the others still do.
    let doc = typed.columns.iter().find(|c| c.name == "doc").unwrap();
    assert!(doc.samples.is_empty());
    let day = typed.columns.iter().find(|c| c.name == "day").unwrap();
    assert_eq!(day.samples.len(), 2);

    let ddl = schema.to_ddl();
    assert!(ddl.contains("CREATE TABLE orders ("), "{ddl}");
    assert!(
        ddl.contains("FOREIGN KEY (customer_id) REFERENCES customers (id)"),
        "{ddl}"
    );
    assert!(
        schema
            .to_compact()
            .contains("FK orders(customer_id) -> customers(id)")
    );
}

#[tokio::test]
async fn the_agent_tools_work_on_postgres() {
    let Some(db) = connect("the_agent_tools_work_on_postgres").await else {
        return;
    };
    let tools = builtin_tools(Arc::new(db) as Arc<dyn Database>);
    let tool = |name: &str| find_tool(&tools, name).unwrap().clone();

    let described = tool("describe_table")
        .call(json!({"table": "orders"}))
        .await
        .unwrap();
    assert_eq!(described["rows"], 3000);
    let tables = tool("list_tables").call(json!({})).await.unwrap();
    assert_eq!(tables["tables"].as_array().unwrap().len(), 5);

    let found = tool("search_values")
        .call(json!({"value": "CUSTOMER 12"}))
        .await
        .unwrap();
    assert_eq!(found["matches"][0]["table"], "customers", "{found}");
    assert_eq!(found["matches"][0]["match"], "case_insensitive", "{found}");
    let exact = tool("search_values")
        .call(json!({"value": "city 3"}))
        .await
        .unwrap();
    assert_eq!(exact["matches"][0]["column"], "city", "{exact}");
    assert_eq!(exact["matches"][0]["match"], "exact", "{exact}");

    let write = tool("execute_sql")
        .call(json!({"sql": "DELETE FROM audit"}))
        .await;
    assert!(write.is_err_and(|e| e.is_refusal()));
}
