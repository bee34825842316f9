//! [`Repl::handle`] on the demo shop with scripted models: what a person would see, without a
//! terminal.

use std::sync::Arc;

use learnat_tools::database::open_database;
use learnat_tools::demo::{DEMO_SEED, create_demo_database};

use super::{CANCELLED_LINE, Flow, HELP_TEXT, Repl, WORKING_LINE};
use crate::ChatModel;
use crate::agent::{Agent, AgentOptions};
use crate::model::scripted::ScriptedModel;
use crate::session::Session;
use crate::strategy::{StrategyOptions, build_strategy};

const STEP_ANSWER: &str = "Sub question 1: Which customers have placed an order?\nSubSQL1: \
    ```sql\nSELECT DISTINCT customer_id FROM orders\n```\nSub question 2: And the others?";
const FINAL_ANSWER: &str = "Final SQL: ```sql\nSELECT COUNT(*) AS customers_without_orders FROM \
    customers WHERE customer_id NOT IN (SELECT customer_id FROM orders)\n```";
const LONDON_ANSWER: &str = "Final SQL: ```sql\nSELECT COUNT(*) AS london_customers FROM \
    customers AS c JOIN cities AS ci ON ci.city_id = c.city_id WHERE ci.name = 'London' AND \
    ci.region = 'England'\n```";

struct Fixture {
    _dir: tempfile::TempDir,
    dir_path: std::path::PathBuf,
    repl: Repl,
    model: Arc<ScriptedModel>,
}

async fn fixture(answers: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("shop.sqlite");
    create_demo_database(&path, DEMO_SEED).expect("demo database");
    let database = open_database(path.to_str().expect("utf-8"))
        .await
        .expect("open");
    let model = Arc::new(ScriptedModel::in_order(answers.iter().copied()));
    let dynamic: Arc<dyn ChatModel> = model.clone();
    let strategy = build_strategy(
        "decompose",
        StrategyOptions::defaults_for("decompose"),
        None,
    )
    .expect("strategy");
    let agent = Agent::new(dynamic, database, strategy, AgentOptions::default())
        .await
        .expect("agent");
    let repl = Repl::new(
        agent,
        Session::new(Some("shop.sqlite".into())),
        "replay:test",
        "test",
    );
    Fixture {
        dir_path: dir.path().to_path_buf(),
        _dir: dir,
        repl,
        model,
    }
}

/// Handle `input` (never interrupted) and return what was printed.
async fn screen(repl: &mut Repl, input: &str) -> String {
    let mut out = Vec::new();
    let flow = repl
        .handle(input, std::future::pending(), &mut out)
        .await
        .expect("handle");
    assert_eq!(flow, Flow::Continue, "{input}");
    String::from_utf8(out).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_shows_its_steps_sql_and_result_then_sql_and_plan_recall_them() {
    let mut fixture = fixture(&[STEP_ANSWER, FINAL_ANSWER]).await;
    let repl = &mut fixture.repl;
    let shown = screen(repl, "How many customers have never placed an order?").await;
    assert!(shown.starts_with(WORKING_LINE), "{shown}");
    assert!(
        shown.contains("Step 1: Which customers have placed an order?\n  SELECT DISTINCT"),
        "{shown}"
    );
    assert!(shown.contains("  first 5 of "), "{shown}");
    assert!(
        shown.contains("SQL:\n  SELECT COUNT(*) AS customers_without_orders"),
        "{shown}"
    );
    assert!(shown.contains("1 row"), "{shown}");
    assert_eq!(repl.session().turns().len(), 1);

    let sql = screen(repl, ":sql").await;
    assert!(
        sql.starts_with("SELECT COUNT(*) AS customers_without_orders"),
        "{sql}"
    );
    let plan = screen(repl, ":plan").await;
    assert!(plan.starts_with("Step 1: Which customers"), "{plan}");
    assert!(plan.contains("Final SQL:\n  SELECT COUNT(*)"), "{plan}");
    assert_eq!(fixture.model.remaining(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clarification_is_answered_by_the_next_input_or_its_number() {
    let mut fixture = fixture(&[LONDON_ANSWER]).await;
    let repl = &mut fixture.repl;
    let asked = screen(repl, "How many customers do we have in London?").await;
    assert!(asked.contains("? "), "{asked}");
    assert!(asked.contains("  2) London (England"), "{asked}");
    assert!(asked.contains("your next input is the answer"), "{asked}");
    assert!(repl.session().pending().is_some());
    let answered = screen(repl, "2").await;
    assert!(answered.contains("> London (England"), "{answered}");
    assert!(answered.contains("london_customers"), "{answered}");
    assert!(repl.session().pending().is_none());
    let turn = &repl.session().turns()[0];
    assert!(
        turn.clarifications[0].answer.starts_with("London (England"),
        "{:?}",
        turn.clarifications[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_cancels_and_leaves_the_conversation_as_it_was() {
    let mut fixture = fixture(&[STEP_ANSWER, FINAL_ANSWER]).await;
    let repl = &mut fixture.repl;
    let mut out = Vec::new();
    // The interrupt is already there: the turn (which waits on the database) loses the race.
    let flow = repl
        .handle(
            "How many customers have never placed an order?",
            async {},
            &mut out,
        )
        .await
        .expect("handle");
    assert_eq!(flow, Flow::Continue);
    let shown = String::from_utf8(out).expect("utf-8");
    assert!(shown.trim_end().ends_with(CANCELLED_LINE), "{shown}");
    assert!(
        repl.session().turns().is_empty(),
        "a cancelled turn leaves no trace"
    );
    // The next question is answered normally.
    let answered = screen(repl, "How many customers have never placed an order?").await;
    assert!(answered.contains("customers_without_orders"), "{answered}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_run_sql_show_the_schema_and_manage_the_session() {
    let mut fixture = fixture(&[LONDON_ANSWER]).await;
    let saved = fixture.dir_path.join("saved.json");
    let repl = &mut fixture.repl;

    let run = screen(repl, ":run SELECT 40 + 2 AS answer").await;
    assert!(
        run.contains("answer") && run.contains("42") && run.contains("1 row"),
        "{run}"
    );
    let refused = screen(repl, ":run DELETE FROM customers").await;
    assert!(refused.starts_with("error: "), "{refused}");
    assert_eq!(refused.trim_end().lines().count(), 1, "one line: {refused}");

    let schema = screen(repl, ":schema").await;
    assert!(
        schema.contains("customers") && schema.contains("orders"),
        "{schema}"
    );
    let table = screen(repl, ":schema CUSTOMERS").await;
    assert!(table.starts_with("CREATE TABLE customers"), "{table}");
    let unknown = screen(repl, ":schema nowhere").await;
    assert!(unknown.contains("no table 'nowhere'"), "{unknown}");
    assert!(unknown.contains("customers"), "{unknown}");

    assert!(screen(repl, ":sql").await.contains("no SQL yet"));
    assert!(screen(repl, ":plan").await.contains("no plan yet"));
    assert!(screen(repl, ":help").await.starts_with(&HELP_TEXT[..40]));
    let model = screen(repl, ":model").await;
    assert!(
        model.contains("scripted") && model.contains("replay:test"),
        "{model}"
    );
    let bad_model = screen(repl, ":model llama:x").await;
    assert!(
        bad_model.starts_with("error: cannot open the model 'llama:x'"),
        "{bad_model}"
    );
    assert!(bad_model.contains("still using replay:test"), "{bad_model}");
    let unknown = screen(repl, ":nope").await;
    assert!(unknown.contains("unknown command ':nope'"), "{unknown}");

    // A pending clarification is saved and loaded with the session.
    screen(repl, "How many customers do we have in London?").await;
    let saved_text = screen(repl, &format!(":save {}", saved.display())).await;
    assert!(saved_text.starts_with("saved 0 turns"), "{saved_text}");
    assert!(screen(repl, ":reset").await.contains("forgotten"));
    assert!(repl.session().pending().is_none());
    let loaded = screen(repl, &format!(":load {}", saved.display())).await;
    assert!(loaded.contains("It was waiting for an answer"), "{loaded}");
    let answered = screen(repl, "London, England").await;
    assert!(answered.contains("london_customers"), "{answered}");
    let missing = screen(repl, ":load /nowhere/session.json").await;
    assert!(missing.starts_with("error: "), "{missing}");

    let mut out = Vec::new();
    let flow = repl
        .handle(":quit", std::future::pending(), &mut out)
        .await
        .expect("quit");
    assert_eq!(flow, Flow::Quit);
}
