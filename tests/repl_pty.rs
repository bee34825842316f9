//! End-to-end test of `learnat repl` through a real pseudo-terminal (rexpect): the line editor
//! runs in raw mode as it does for a person, Ctrl-C and Ctrl-D are the real control bytes.
//! The model is a recorded cassette; for Ctrl-C during a generation the REPL is switched
//! (`:model`) to an OpenAI-compatible "server" on loopback that accepts the request and never
//! answers, so the generation is slow for as long as the test wants.

#![cfg(unix)]

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use learnat_tools::demo::{DEMO_SEED, create_demo_database};
use rexpect::reader::Options;
use rexpect::session::{PtySession, spawn_with_options};
use serde_json::json;

/// Every expectation fails after this long instead of hanging.
const EXPECT_TIMEOUT_MS: u64 = 60_000;

fn write_cassette(path: &Path) {
    let cassette = json!({
        "format": "learnat-cassette",
        "version": 1,
        "model": "scripted (repl test)",
        "mode": "in_order",
        "interactions": [
            {"responses": ["Sub question 1: Which customers have placed an order?\nSubSQL1: ```sql\nSELECT DISTINCT customer_id FROM orders ORDER BY customer_id\n```\nSub question 2: How many customers are not among them?"]},
            {"responses": ["Final SQL: ```sql\nSELECT COUNT(*) AS customers_without_orders FROM customers WHERE customer_id NOT IN (SELECT customer_id FROM orders)\n```"]},
            {"responses": ["Final SQL: ```sql\nSELECT COUNT(*) AS london_customers FROM customers AS c JOIN cities AS ci ON ci.city_id = c.city_id WHERE ci.name = 'London' AND ci.region = 'England'\n```"]}
        ]
    });
    std::fs::write(path, serde_json::to_string_pretty(&cassette).expect("json")).expect("cassette");
}

/// A loopback HTTP "model server" that reads requests and never answers; its base URL.
fn silent_model_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut buffer = [0u8; 4096];
            let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = stream.read(&mut buffer);
            // Keep the connection open and silent: the client waits until it gives up.
            held.push(stream);
        }
    });
    format!("http://{address}/v1")
}

fn expect(session: &mut PtySession, needle: &str) -> String {
    session
        .exp_string(needle)
        .unwrap_or_else(|error| panic!("the REPL never printed {needle:?}: {error}"))
}

#[test]
fn a_person_at_a_terminal_asks_clarifies_runs_sql_and_cancels() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("shop.sqlite");
    create_demo_database(&db, DEMO_SEED).expect("demo database");
    let cassette = dir.path().join("cassette.json");
    write_cassette(&cassette);
    let data_home = dir.path().join("data");
    let saved = dir.path().join("saved-session.json");

    let mut command = Command::new(env!("CARGO_BIN_EXE_learnat"));
    command
        .args(["repl", "--strategy", "decompose", "--db"])
        .arg(&db)
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", &data_home)
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .env("LEARNAT_MODEL", format!("replay:{}", cassette.display()))
        .env("TERM", "xterm")
        .env_remove("RUST_LOG");
    let options = Options::new()
        .timeout_ms(Some(EXPECT_TIMEOUT_MS))
        .strip_ansi_escape_codes(true);
    let mut repl = spawn_with_options(command, options).expect("spawn learnat repl in a pty");

    expect(&mut repl, "Ctrl-D leaves.");
    expect(&mut repl, "learnat> ");

    // A question: its decomposition step with the executed sub-query's rows, then the answer.
    repl.send_line("How many customers have never placed an order?")
        .expect("type");
    expect(&mut repl, "Step 1: Which customers have placed an order?");
    expect(&mut repl, "customer_id");
    expect(&mut repl, "first 5 of");
    expect(&mut repl, "SQL:");
    expect(&mut repl, "customers_without_orders");
    expect(&mut repl, "1 row");
    expect(&mut repl, "learnat> ");

    repl.send_line(":sql").expect("type");
    expect(&mut repl, "NOT IN (SELECT customer_id FROM orders)");
    expect(&mut repl, "learnat> ");

    repl.send_line(":plan").expect("type");
    expect(&mut repl, "Final SQL:");
    expect(&mut repl, "learnat> ");

    repl.send_line(":run SELECT 1 AS one").expect("type");
    expect(&mut repl, "one");
    expect(&mut repl, "1 row");
    expect(&mut repl, "learnat> ");

    // Multi-line input: an open parenthesis continues on the next line.
    repl.send_line(":run SELECT COUNT(*) AS n FROM (SELECT 1")
        .expect("type");
    expect(&mut repl, "...> ");
    repl.send_line("UNION ALL SELECT 2)").expect("type");
    // rexpect reads the table's box-drawing bytes one by one: match the ASCII part.
    expect(&mut repl, " 2 ");
    expect(&mut repl, "1 row");
    expect(&mut repl, "learnat> ");

    // A write is refused with one line, and the REPL goes on.
    repl.send_line(":run DELETE FROM customers").expect("type");
    expect(&mut repl, "error: ");
    expect(&mut repl, "learnat> ");

    repl.send_line(":schema customers").expect("type");
    expect(&mut repl, "CREATE TABLE customers");
    expect(&mut repl, "loyalty_tier");
    expect(&mut repl, "learnat> ");

    // A clarification round trip: the question, then the answer (by its number).
    repl.send_line("How many customers do we have in London?")
        .expect("type");
    expect(&mut repl, "? ");
    expect(&mut repl, "London");
    expect(&mut repl, "2) London (England");
    expect(&mut repl, "your next input is the answer");
    expect(&mut repl, "learnat> ");
    repl.send_line("2").expect("type");
    expect(&mut repl, "> London (England");
    expect(&mut repl, "london_customers");
    expect(&mut repl, "learnat> ");

    repl.send_line(&format!(":save {}", saved.display()))
        .expect("type");
    expect(&mut repl, "saved 2 turns");
    expect(&mut repl, "learnat> ");

    // Ctrl-C while idle clears the line and stays.
    repl.send("a half-typed question").expect("type");
    repl.send_control('c').expect("ctrl-c");
    expect(&mut repl, "learnat> ");

    // Ctrl-C during a slow generation cancels it and returns to the prompt.
    let silent = silent_model_server();
    repl.send_line(&format!(":model openai:slow-model@{silent}"))
        .expect("type");
    expect(&mut repl, "model: slow-model");
    expect(&mut repl, "learnat> ");
    repl.send_line("How many products are there?")
        .expect("type");
    expect(&mut repl, "working");
    std::thread::sleep(Duration::from_millis(500));
    repl.send_control('c').expect("ctrl-c");
    expect(&mut repl, "cancelled");
    expect(&mut repl, "learnat> ");
    // Still alive and working.
    repl.send_line(":run SELECT 41 + 1 AS answer")
        .expect("type");
    expect(&mut repl, "42");
    expect(&mut repl, "learnat> ");

    repl.send_line(":frobnicate").expect("type");
    expect(&mut repl, "unknown command ':frobnicate'");
    expect(&mut repl, "learnat> ");

    // Ctrl-D leaves.
    repl.send_control('d').expect("ctrl-d");
    repl.exp_eof().expect("the REPL should exit on Ctrl-D");

    let history = std::fs::read_to_string(data_home.join("learnat/history")).expect("history file");
    assert!(history.contains(":run SELECT 1 AS one"), "{history}");
    assert!(
        history.contains("How many customers do we have in London?"),
        "{history}"
    );
    let session = std::fs::read_to_string(&saved).expect("saved session");
    assert!(session.contains("\"learnat-session\""), "{session}");
    assert!(session.contains("London (England"), "{session}");
}
