//! The built-in agent tools, each called against the demo database.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use learnat_tools::demo::{DEMO_SEED, create_demo_database};
use learnat_tools::sqlite::SqliteDatabase;
use learnat_tools::tool::{
    Tool, ToolConfig, builtin_tool_definitions, builtin_tools, builtin_tools_with, find_tool,
};
use learnat_tools::{Database, ToolsError};
use serde_json::{Value as Json, json};
use tempfile::TempDir;

fn demo_db() -> (TempDir, Arc<dyn Database>) {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("shop.sqlite");
    create_demo_database(&path, DEMO_SEED).unwrap();
    let db: Arc<dyn Database> = Arc::new(SqliteDatabase::open(&path).unwrap());
    (dir, db)
}

async fn call(tools: &[Arc<dyn Tool>], name: &str, arguments: Json) -> Result<Json, ToolsError> {
    find_tool(tools, name)
        .unwrap_or_else(|| panic!("no tool {name}"))
        .call(arguments)
        .await
}

fn invalid_input_message(result: Result<Json, ToolsError>) -> String {
    match result {
        Err(ToolsError::InvalidInput { message }) => message,
        other => panic!("expected invalid input, got {other:?}"),
    }
}

#[test]
fn tools_over_a_database_have_the_database_free_definitions() {
    let (_dir, db) = demo_db();
    let definitions: Vec<_> = builtin_tools(db).iter().map(|t| t.definition()).collect();
    assert_eq!(definitions, builtin_tool_definitions());
}

#[tokio::test]
async fn execute_sql_returns_rows_caps_them_and_refuses_writes() {
    let (_dir, db) = demo_db();
    let tools = builtin_tools(db);
    let result = call(
        &tools,
        "execute_sql",
        json!({"sql": "SELECT count(*) AS n FROM customers"}),
    )
    .await
    .unwrap();
    assert_eq!(result["columns"], json!(["n"]));
    assert_eq!(result["rows"], json!([[320]]));
    assert_eq!(result["row_count"], 1);
    assert_eq!(result["truncated"], false);
    assert!(result["elapsed_ms"].is_number());

    let capped = call(
        &tools,
        "execute_sql",
        json!({"sql": "SELECT order_id FROM orders", "max_rows": 3}),
    )
    .await
    .unwrap();
    assert_eq!(capped["row_count"], 3);
    assert_eq!(capped["truncated"], true);
    // Without max_rows the default (50) applies.
    let default = call(
        &tools,
        "execute_sql",
        json!({"sql": "SELECT order_id FROM orders"}),
    )
    .await
    .unwrap();
    assert_eq!(default["row_count"], 50);

    let write = call(
        &tools,
        "execute_sql",
        json!({"sql": "DELETE FROM customers"}),
    )
    .await;
    assert!(write.as_ref().is_err_and(|e| e.is_refusal()), "{write:?}");
    let unknown = call(&tools, "execute_sql", json!({"sql": "SELECT * FROM nope"})).await;
    assert!(unknown.unwrap_err().to_string().contains("nope"));
    let message = invalid_input_message(call(&tools, "execute_sql", json!({"query": "x"})).await);
    assert!(message.contains("execute_sql"), "{message}");
    let message = invalid_input_message(call(&tools, "execute_sql", json!({"sql": "  "})).await);
    assert!(message.contains("non-empty"), "{message}");
}

#[tokio::test]
async fn list_tables_gives_names_and_row_counts() {
    let (_dir, db) = demo_db();
    let tools = builtin_tools(db);
    let result = call(&tools, "list_tables", json!({})).await.unwrap();
    let tables = result["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 12);
    let customers = tables.iter().find(|t| t["name"] == "customers").unwrap();
    assert_eq!(customers["rows"], 320);
    assert_eq!(customers["columns"], 8);
    // `null` arguments are accepted for a tool without parameters.
    assert_eq!(
        call(&tools, "list_tables", Json::Null).await.unwrap(),
        result
    );
}

#[tokio::test]
async fn describe_table_shows_keys_both_ways_and_suggests_names() {
    let (_dir, db) = demo_db();
    let tools = builtin_tools(db);
    let orders = call(&tools, "describe_table", json!({"table": "ORDERS"}))
        .await
        .unwrap();
    assert_eq!(orders["name"], "orders");
    assert_eq!(orders["primary_key"], json!(["order_id"]));
    let status = orders["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "status")
        .unwrap();
    assert_eq!(status["type"], "TEXT");
    assert_eq!(status["not_null"], true);
    assert!(!status["samples"].as_array().unwrap().is_empty());
    let keys = orders["foreign_keys"].as_array().unwrap();
    assert!(
        keys.iter()
            .any(|k| k["ref_table"] == "customers" && k["columns"] == json!(["customer_id"]))
    );
    let referenced_by: Vec<&Json> = orders["referenced_by"].as_array().unwrap().iter().collect();
    for table in ["order_items", "payments", "shipments"] {
        assert!(referenced_by.iter().any(|r| r["table"] == table), "{table}");
    }
    assert!(
        orders["ddl"]
            .as_str()
            .unwrap()
            .starts_with("CREATE TABLE orders (")
    );

    let message =
        invalid_input_message(call(&tools, "describe_table", json!({"table": "custmers"})).await);
    assert!(message.contains("did you mean: customers"), "{message}");
    assert!(
        message.contains("order_items"),
        "lists every table: {message}"
    );
}

#[tokio::test]
async fn sample_values_returns_distinct_values_and_checks_the_column() {
    let (_dir, db) = demo_db();
    let tools = builtin_tools(db);
    let result = call(
        &tools,
        "sample_values",
        json!({"table": "orders", "column": "STATUS", "limit": 20}),
    )
    .await
    .unwrap();
    assert_eq!(result["column"], "status");
    let values: Vec<&str> = result["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for status in ["delivered", "cancelled", "returned", "shipped"] {
        assert!(values.contains(&status), "{status} missing from {values:?}");
    }
    let mut distinct = values.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), values.len());

    let two = call(
        &tools,
        "sample_values",
        json!({"table": "customers", "column": "email", "limit": 2}),
    )
    .await
    .unwrap();
    assert_eq!(two["values"].as_array().unwrap().len(), 2);

    let message = invalid_input_message(
        call(
            &tools,
            "sample_values",
            json!({"table": "orders", "column": "staus"}),
        )
        .await,
    );
    assert!(message.contains("did you mean: status"), "{message}");
    assert!(message.contains("order_date"), "{message}");
}

fn matches(result: &Json) -> Vec<(String, String, String)> {
    result["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["table"].as_str().unwrap().to_string(),
                m["column"].as_str().unwrap().to_string(),
                m["match"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn search_values_links_literals_to_columns_best_match_first() {
    let (_dir, db) = demo_db();
    let tools = builtin_tools(db);

    let london = call(&tools, "search_values", json!({"value": "London"}))
        .await
        .unwrap();
    assert_eq!(london["complete"], true);
    let found = matches(&london);
    assert_eq!(
        found[0],
        ("cities".into(), "name".into(), "exact".into()),
        "{found:?}"
    );

    let lower = call(&tools, "search_values", json!({"value": "london"}))
        .await
        .unwrap();
    assert_eq!(
        matches(&lower)[0],
        ("cities".into(), "name".into(), "case_insensitive".into())
    );

    let part = call(&tools, "search_values", json!({"value": "Smartphone"}))
        .await
        .unwrap();
    let found = matches(&part);
    assert!(
        found.contains(&("products".into(), "name".into(), "contains".into())),
        "{found:?}"
    );
    let examples = part["matches"][0]["examples"].as_array().unwrap();
    assert!(
        examples
            .iter()
            .all(|e| e.as_str().unwrap().contains("Smartphone"))
    );

    // Quotes and LIKE wildcards in the literal are data, not SQL.
    let quoted = call(&tools, "search_values", json!({"value": "O'Brien"}))
        .await
        .unwrap();
    let found = matches(&quoted);
    assert!(
        found
            .iter()
            .any(|(t, c, _)| t == "customers" && c == "last_name"),
        "{found:?}"
    );
    let wildcard = call(&tools, "search_values", json!({"value": "%"}))
        .await
        .unwrap();
    assert!(matches(&wildcard).is_empty(), "{wildcard}");

    let nothing = call(&tools, "search_values", json!({"value": "zzz-not-there"}))
        .await
        .unwrap();
    assert!(matches(&nothing).is_empty());
    assert_eq!(nothing["searched_columns"], nothing["text_columns"]);

    let limited = call(&tools, "search_values", json!({"value": "a", "limit": 2}))
        .await
        .unwrap();
    assert_eq!(matches(&limited).len(), 2);
    let message = invalid_input_message(call(&tools, "search_values", json!({"value": " "})).await);
    assert!(message.contains("non-empty"), "{message}");
}

#[tokio::test]
async fn search_values_stops_at_its_time_budget() {
    let (_dir, db) = demo_db();
    let config = ToolConfig {
        search_budget: Duration::ZERO,
        ..ToolConfig::default()
    };
    let tools = builtin_tools_with(db, config);
    let result = call(&tools, "search_values", json!({"value": "London"}))
        .await
        .unwrap();
    assert_eq!(result["complete"], false);
    assert_eq!(result["searched_columns"], 0);
}
