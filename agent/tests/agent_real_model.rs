//! The strategies with the real Qwen2.5-Coder-0.5B-Instruct (Q4_K_M) on the demo database,
//! when the model file is on this machine (`~/.cache/learnat/models` or `$LEARNAT_MODELS`;
//! `learnat model fetch qwen2.5-coder-0.5b` puts it there). Skips with a printed reason
//! otherwise.
//!
//! `measure_demo_accuracy` (ignored; run with `--ignored --nocapture`) prints zero-shot and
//! decompose execution accuracy and seconds per question over the clear wording of every demo
//! question. Set `LEARNAT_DEMO_LIMIT=N` to measure the first N only.

mod agent_common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use agent_common::{demo_db, strategy};
use learnat_agent::ChatModel;
use learnat_agent::model::gguf::{GgufModel, GgufOptions};
use learnat_agent::strategy::StrategyInput;
use learnat_tools::ExecOptions;
use learnat_tools::compare::spider_result_eq;
use learnat_tools::demo::demo_questions;
use learnat_tools::tool::builtin_tools;

const QWEN: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";

fn model_path(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("LEARNAT_MODELS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/learnat/models"))
        })?;
    let path = dir.join(QWEN);
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "skipping {test}: {} is absent (run `learnat model fetch qwen2.5-coder-0.5b`)",
            path.display()
        );
        None
    }
}

fn load(path: &std::path::Path) -> Arc<dyn ChatModel> {
    let options = GgufOptions {
        threads: Some(2),
        context_length: Some(8192),
        ..GgufOptions::default()
    };
    Arc::new(GgufModel::load(path, &options).expect("load the real model"))
}

/// Does `predicted` return the gold result (Spider test-suite semantics)?
async fn execution_match(demo: &agent_common::DemoDb, gold: &str, predicted: &str) -> bool {
    let options = ExecOptions::default();
    let Ok(gold_result) = demo.database.execute(gold, &options).await else {
        panic!("the gold SQL fails: {gold}");
    };
    let Ok(predicted_result) = demo.database.execute(predicted, &options).await else {
        return false;
    };
    let order_matters = gold.to_lowercase().contains("order by");
    spider_result_eq(&gold_result.rows, &predicted_result.rows, order_matters)
}

#[tokio::test]
async fn the_real_model_answers_a_demo_question_zero_shot() {
    let Some(path) = model_path("the_real_model_answers_a_demo_question_zero_shot") else {
        return;
    };
    let demo = demo_db().await;
    let model = load(&path);
    let tools = builtin_tools(Arc::clone(&demo.database));
    let mut input = StrategyInput::new(
        "How many customers does the shop have?",
        &demo.database,
        &demo.schema,
    );
    input.tools = &tools;
    let answer = strategy("zero-shot", |_| {})
        .answer(&model, &input)
        .await
        .expect("an answer");
    assert!(
        execution_match(&demo, "SELECT COUNT(*) FROM customers", &answer.sql).await,
        "wrong SQL: {}",
        answer.sql
    );
}

#[tokio::test]
#[ignore = "a measurement: minutes of CPU; run with --ignored --nocapture"]
async fn measure_demo_accuracy() {
    let Some(path) = model_path("measure_demo_accuracy") else {
        return;
    };
    let demo = demo_db().await;
    let model = load(&path);
    let tools = builtin_tools(Arc::clone(&demo.database));
    let limit: usize = std::env::var("LEARNAT_DEMO_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let questions: Vec<_> = demo_questions()
        .expect("demo questions")
        .into_iter()
        .take(limit)
        .collect();
    for name in ["zero-shot", "decompose"] {
        let strategy = strategy(name, |_| {});
        let started = Instant::now();
        let mut correct = 0;
        let mut failures = 0;
        for question in &questions {
            let mut input =
                StrategyInput::new(&question.clear_question, &demo.database, &demo.schema);
            input.tools = &tools;
            let verdict = match strategy.answer(&model, &input).await {
                Ok(answer) => {
                    let ok = execution_match(&demo, question.sql(), &answer.sql).await;
                    println!(
                        "{name} {} {} steps={} {}",
                        question.instance_id,
                        if ok { "OK " } else { "BAD" },
                        answer.steps.len(),
                        answer.sql
                    );
                    ok
                }
                Err(error) => {
                    failures += 1;
                    println!("{name} {} ERR {error}", question.instance_id);
                    false
                }
            };
            correct += usize::from(verdict);
        }
        let seconds = started.elapsed().as_secs_f64() / questions.len() as f64;
        println!(
            "{name}: EX {correct}/{} = {:.1} %, {failures} without SQL, {seconds:.1} s per question",
            questions.len(),
            100.0 * correct as f64 / questions.len() as f64
        );
    }
}
