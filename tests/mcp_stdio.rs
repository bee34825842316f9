//! End-to-end test of `learnat mcp`: the real binary as an MCP server over stdio, driven with
//! raw JSON-RPC lines the way an MCP client does (initialize, notifications/initialized,
//! tools/list, tools/call), with a recorded cassette as the model.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use learnat_tools::demo::{DEMO_SEED, create_demo_database};
use serde_json::{Value, json};

/// No single reply may take longer than this (the model is a cassette; the database is small).
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// The answers the scripted model gives, in order: a two-step decomposition for the first
/// question, then the final SQL of the London question once its clarification is answered.
fn write_cassette(path: &Path) {
    let cassette = json!({
        "format": "learnat-cassette",
        "version": 1,
        "model": "scripted (mcp test)",
        "mode": "in_order",
        "interactions": [
            {"responses": ["Sub question 1: Which customers have placed an order?\nSubSQL1: ```sql\nSELECT DISTINCT customer_id FROM orders\n```\nSub question 2: How many customers are not among them?"]},
            {"responses": ["Final SQL: ```sql\nSELECT COUNT(*) AS customers_without_orders FROM customers WHERE customer_id NOT IN (SELECT customer_id FROM orders)\n```"]},
            {"responses": ["Final SQL: ```sql\nSELECT COUNT(*) AS london_customers FROM customers AS c JOIN cities AS ci ON ci.city_id = c.city_id WHERE ci.name = 'London' AND ci.region = 'England'\n```"]}
        ]
    });
    std::fs::write(path, serde_json::to_string_pretty(&cassette).expect("json")).expect("cassette");
}

/// A running `learnat mcp` and the lines it writes on stdout.
struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    next_id: u64,
}

impl Server {
    fn spawn(args: &[&str], home: &Path, model: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_learnat"))
            .args(["mcp", "--strategy", "decompose"])
            .args(args)
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("LEARNAT_MODEL", model)
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn learnat mcp");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        // Logs go to stderr; drain it so the server never blocks on a full pipe.
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("[learnat mcp] {line}");
            }
        });
        Server {
            stdin: child.stdin.take(),
            child,
            lines,
            next_id: 1,
        }
    }

    fn send(&mut self, message: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{message}").expect("write to the server");
        stdin.flush().expect("flush");
    }

    /// Send a request and wait for the response with its id (every stdout line must be JSON).
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no reply to {method} within {REPLY_TIMEOUT:?}")
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the server closed stdout before answering {method}")
                }
            };
            let message: Value = serde_json::from_str(&line).unwrap_or_else(|error| {
                panic!("stdout must carry only JSON-RPC, got {line:?}: {error}")
            });
            if message.get("id") == Some(&json!(id)) {
                return message;
            }
        }
    }

    fn call_tool(&mut self, name: &str, arguments: Value) -> Value {
        let response = self.request("tools/call", json!({"name": name, "arguments": arguments}));
        response
            .get("result")
            .cloned()
            .unwrap_or_else(|| panic!("tools/call {name} should have a result: {response}"))
    }

    fn handshake(&mut self) -> Value {
        let response = self.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "learnat-test-client", "version": "0.0.1"}
            }),
        );
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        response
    }

    /// Close stdin and wait for a clean exit.
    fn finish(mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(
                    status.success(),
                    "learnat mcp should exit cleanly on EOF: {status}"
                );
                return;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("learnat mcp did not exit after stdin closed");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_mcp_client_lists_and_calls_the_tools() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("shop.sqlite");
    create_demo_database(&db, DEMO_SEED).expect("demo database");
    let cassette = dir.path().join("cassette.json");
    write_cassette(&cassette);
    let db_arg = db.to_str().expect("utf-8 path").to_string();
    let mut server = Server::spawn(
        &["--db", &db_arg],
        dir.path(),
        &format!("replay:{}", cassette.display()),
    );

    let init = server.handshake();
    let result = &init["result"];
    assert_eq!(result["serverInfo"]["name"], "learnat", "{init}");
    assert_eq!(result["protocolVersion"], "2025-06-18", "{init}");
    assert!(result["capabilities"]["tools"].is_object(), "{init}");

    // tools/list: the four tools with their JSON Schemas.
    let list = server.request("tools/list", json!({}));
    let tools = list["result"]["tools"]
        .as_array()
        .expect("tools array")
        .clone();
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(
        names,
        ["ask", "execute_sql", "list_tables", "describe_table"]
    );
    let tool = |name: &str| {
        tools
            .iter()
            .find(|t| t["name"] == name)
            .expect("tool")
            .clone()
    };
    let execute = tool("execute_sql");
    assert_eq!(execute["inputSchema"]["type"], "object");
    assert_eq!(
        execute["inputSchema"]["properties"]["sql"]["type"],
        "string"
    );
    assert!(
        execute["inputSchema"]["required"]
            .as_array()
            .expect("required")
            .contains(&json!("sql"))
    );
    assert_eq!(execute["annotations"]["readOnlyHint"], true);
    let describe = tool("describe_table");
    assert!(
        describe["inputSchema"]["required"]
            .as_array()
            .expect("required")
            .contains(&json!("table"))
    );
    let ask = tool("ask");
    assert_eq!(ask["inputSchema"]["required"], json!(["question"]));
    assert_eq!(
        ask["inputSchema"]["properties"]["session"]["type"],
        "string"
    );
    // One database: `database` is optional.
    assert!(
        !ask["inputSchema"]["required"]
            .as_array()
            .expect("required")
            .contains(&json!("database"))
    );

    // execute_sql: rows come back.
    let rows = server.call_tool(
        "execute_sql",
        json!({"sql": "SELECT COUNT(*) AS n FROM customers"}),
    );
    assert_eq!(rows["isError"], false, "{rows}");
    let count = rows["structuredContent"]["rows"][0][0]
        .as_i64()
        .expect("a count");
    assert!(
        count > 100,
        "the demo shop has hundreds of customers: {rows}"
    );
    assert_eq!(rows["structuredContent"]["columns"], json!(["n"]));

    // A write is a tool error, not a crash; the server goes on.
    let refused = server.call_tool("execute_sql", json!({"sql": "DELETE FROM customers"}));
    assert_eq!(refused["isError"], true, "{refused}");
    assert_eq!(
        refused["structuredContent"]["error"]["kind"], "refused",
        "{refused}"
    );
    let bad = server.call_tool("execute_sql", json!({"sql": "SELECT nope FROM customers"}));
    assert_eq!(bad["isError"], true, "{bad}");
    let unknown = server.request(
        "tools/call",
        json!({"name": "drop_everything", "arguments": {}}),
    );
    assert!(
        unknown["error"]["message"]
            .as_str()
            .expect("a protocol error")
            .contains("unknown tool"),
        "{unknown}"
    );

    let tables = server.call_tool("list_tables", json!({}));
    let table_names: Vec<&str> = tables["structuredContent"]["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        table_names.contains(&"customers") && table_names.contains(&"orders"),
        "{tables}"
    );
    let customers = server.call_tool("describe_table", json!({"table": "customers"}));
    assert!(
        customers["structuredContent"]["ddl"]
            .as_str()
            .expect("ddl")
            .contains("CREATE TABLE customers"),
        "{customers}"
    );
    let missing = server.call_tool("describe_table", json!({"table": "nowhere"}));
    assert_eq!(missing["isError"], true, "{missing}");

    // ask: one call is one agent turn; the decomposition's steps were executed.
    let answer = server.call_tool(
        "ask",
        json!({"question": "How many customers have never placed an order?"}),
    );
    let content = &answer["structuredContent"];
    assert_eq!(content["status"], "answer", "{answer}");
    assert!(
        content["sql"].as_str().expect("sql").contains("NOT IN"),
        "{answer}"
    );
    assert_eq!(
        content["result"]["columns"],
        json!(["customers_without_orders"]),
        "{answer}"
    );
    assert!(content["result"]["rows"][0][0].is_i64(), "{answer}");
    let steps = content["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 1, "{answer}");
    assert_eq!(
        steps[0]["outcome"]["status"], "rows",
        "the sub-query ran: {answer}"
    );
    let first_session = content["session"]
        .as_str()
        .expect("a session id")
        .to_string();

    // A clarification comes back as a result that says so; the same session continues it.
    let asked = server.call_tool(
        "ask",
        json!({"question": "How many customers do we have in London?"}),
    );
    let asked = &asked["structuredContent"];
    assert_eq!(asked["status"], "clarification", "{asked}");
    assert!(
        asked["clarification"]["question"]
            .as_str()
            .expect("question")
            .contains("London"),
        "{asked}"
    );
    let session = asked["session"].as_str().expect("session").to_string();
    assert_ne!(
        session, first_session,
        "a call without session starts a new one"
    );
    let answered = server.call_tool(
        "ask",
        json!({"question": "London, England", "session": session}),
    );
    let answered = &answered["structuredContent"];
    assert_eq!(answered["status"], "answer", "{answered}");
    assert_eq!(answered["session"], json!(session));
    assert!(
        answered["sql"].as_str().expect("sql").contains("'England'"),
        "{answered}"
    );
    assert_eq!(
        answered["clarifications"][0]["answer"], "London, England",
        "{answered}"
    );

    let empty = server.call_tool("ask", json!({"question": "  "}));
    assert_eq!(empty["isError"], true, "{empty}");

    server.finish();
}

#[test]
fn several_databases_need_a_database_argument() {
    let dir = tempfile::tempdir().expect("temp dir");
    let shop = dir.path().join("shop.sqlite");
    create_demo_database(&shop, DEMO_SEED).expect("demo database");
    let other = dir.path().join("other.sqlite");
    create_demo_database(&other, DEMO_SEED + 1).expect("second demo database");
    let shop_arg = shop.to_str().expect("utf-8").to_string();
    let other_arg = format!("archive={}", other.display());
    // No model is reachable: the SQL tools work anyway, ask says why it cannot answer.
    let mut server = Server::spawn(
        &["--db", &shop_arg, "--db", &other_arg],
        dir.path(),
        "gguf:/nowhere/model.gguf",
    );
    server.handshake();
    let list = server.request("tools/list", json!({}));
    for tool in list["result"]["tools"].as_array().expect("tools") {
        let schema = &tool["inputSchema"];
        assert_eq!(
            schema["properties"]["database"]["enum"],
            json!(["shop", "archive"]),
            "{tool}"
        );
        assert!(
            schema["required"]
                .as_array()
                .expect("required")
                .contains(&json!("database")),
            "{tool}"
        );
    }
    let without = server.call_tool("list_tables", json!({}));
    assert_eq!(without["isError"], true, "{without}");
    assert!(
        without["structuredContent"]["error"]["message"]
            .as_str()
            .expect("message")
            .contains("shop, archive")
    );
    let with = server.call_tool(
        "execute_sql",
        json!({"sql": "SELECT 7 AS x", "database": "archive"}),
    );
    assert_eq!(with["structuredContent"]["rows"], json!([[7]]), "{with}");
    let no_model = server.call_tool(
        "ask",
        json!({"question": "How many customers?", "database": "shop"}),
    );
    assert_eq!(no_model["isError"], true, "{no_model}");
    let message = no_model["structuredContent"]["error"]["message"]
        .as_str()
        .expect("message");
    assert!(message.contains("/nowhere/model.gguf"), "{message}");
    server.finish();
}
