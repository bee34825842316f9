//! End-to-end tests of `learnat demo`: the multi-turn conversation with a recorded model
//! (decomposition with an executed sub-query, a clarification answered by the script, a
//! follow-up), and the tour without a model.

use std::path::Path;

use assert_cmd::Command;
use serde_json::json;

/// The model's side of the demo conversation, in the order the agent asks.
fn write_cassette(path: &Path) {
    let cassette = json!({
        "format": "learnat-cassette",
        "version": 1,
        "model": "scripted (demo test)",
        "mode": "in_order",
        "interactions": [
            {"responses": ["Sub question 1: How many customers live in each city?\nSubSQL1: ```sql\nSELECT city_id, COUNT(*) AS customers FROM customers GROUP BY city_id ORDER BY customers DESC\n```\nSub question 2: Which city and country is the first one?"]},
            {"responses": ["Final SQL: ```sql\nSELECT ci.name AS city, co.name AS country, COUNT(*) AS customers FROM customers AS c JOIN cities AS ci ON ci.city_id = c.city_id JOIN countries AS co ON co.country_id = ci.country_id GROUP BY ci.city_id ORDER BY customers DESC LIMIT 1\n```"]},
            {"responses": ["Final SQL: ```sql\nSELECT COUNT(*) AS london_customers FROM customers AS c JOIN cities AS ci ON ci.city_id = c.city_id WHERE ci.name = 'London' AND ci.region = 'England'\n```"]},
            {"responses": ["Final SQL: ```sql\nSELECT COUNT(*) AS gold_or_silver FROM customers AS c JOIN cities AS ci ON ci.city_id = c.city_id WHERE ci.name = 'London' AND ci.region = 'England' AND c.loyalty_tier IN ('gold', 'silver')\n```"]}
        ]
    });
    std::fs::write(path, serde_json::to_string_pretty(&cassette).expect("json")).expect("cassette");
}

fn demo(home: &Path) -> Command {
    let mut command = Command::cargo_bin("learnat").expect("the learnat binary");
    command
        .arg("demo")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("LEARNAT_MODEL")
        .timeout(std::time::Duration::from_secs(120));
    command
}

#[test]
fn the_demo_converses_with_a_model() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cassette = dir.path().join("cassette.json");
    write_cassette(&cassette);
    let db = dir.path().join("shop.sqlite");
    let output = demo(dir.path())
        .arg("--db")
        .arg(&db)
        .env("LEARNAT_MODEL", format!("replay:{}", cassette.display()))
        .output()
        .expect("run learnat demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(db.exists(), "the demo database is created on first use");

    // Without --strategy, turn 1 decomposes and the others are zero-shot.
    assert!(
        stdout.contains("strategy decompose for turn 1, zero-shot for the others"),
        "{stdout}"
    );
    // Decomposition with an executed sub-query, shown as a table.
    let step = stdout
        .find("Step 1: How many customers live in each city?")
        .expect(&stdout);
    let step_rows = stdout[step..]
        .find("first 5 of")
        .expect("the sub-query's first rows");
    assert!(
        stdout[step..step + step_rows].contains("city_id"),
        "{stdout}"
    );
    // A clarification, the script's answer, the answer that uses it.
    let asked = stdout.find("learnat> ? ").expect(&stdout);
    assert!(
        stdout[asked..].starts_with("learnat> ? There are"),
        "{stdout}"
    );
    let replied = stdout.find("you> London, England").expect(&stdout);
    assert!(asked < replied, "{stdout}");
    assert!(stdout[replied..].contains("london_customers"), "{stdout}");
    // The follow-up.
    let follow_up = stdout
        .find("you> And how many of them are gold or silver members?")
        .expect(&stdout);
    assert!(follow_up > replied, "{stdout}");
    assert!(stdout[follow_up..].contains("gold_or_silver"), "{stdout}");
    assert!(!stdout.contains("error:"), "no turn failed: {stdout}");
    assert!(stdout.contains("A write is refused"), "{stdout}");
}

#[test]
fn without_a_model_the_demo_says_how_to_get_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("shop.sqlite");
    let output = demo(dir.path())
        .arg("--db")
        .arg(&db)
        .arg("--model")
        .arg("gguf:qwen2.5-coder-0.5b")
        .env("LEARNAT_MODELS", dir.path().join("models"))
        .output()
        .expect("run learnat demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("learnat model fetch qwen2.5-coder-0.5b"),
        "{stdout}"
    );
    assert!(stdout.contains("bundled demo questions"), "{stdout}");
    assert!(stdout.contains("A write is refused"), "{stdout}");
}
