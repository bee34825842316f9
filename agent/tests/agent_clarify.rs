//! Clarification on the demo database: the detectors against the annotated demo questions
//! (recall on the ambiguous ones, false alarms on the clear ones), and the agent's ask → answer
//! → SQL flow in the simulator's ask / submit terms.

mod agent_common;

use std::sync::Arc;

use agent_common::{agent, demo_db, last_user_message, scripted, strategy};
use learnat_agent::agent::{AgentAction, AgentTurn};
use learnat_agent::clarify::{AmbiguityKind, detect_ambiguities};
use learnat_agent::prompt::linking::link_schema;
use learnat_agent::session::Session;
use learnat_tools::Value;
use learnat_tools::demo::demo_questions;
use learnat_tools::tool::builtin_tools;

/// Does a finding's term overlap an annotated critical term ("best" in "best customers")?
fn overlaps(finding: &str, annotated: &str) -> bool {
    let finding = finding.to_lowercase();
    let annotated = annotated.to_lowercase();
    finding
        .split_whitespace()
        .any(|word| annotated.split_whitespace().any(|a| a == word))
}

#[tokio::test]
async fn the_detectors_flag_the_ambiguous_demo_questions_and_few_clear_ones() {
    let demo = demo_db().await;
    let tools = builtin_tools(Arc::clone(&demo.database));
    let questions = demo_questions().expect("demo questions");
    let (mut ambiguous, mut flagged, mut on_term) = (0, 0, 0);
    let (mut clear, mut false_alarms) = (0, Vec::new());
    let mut missed = Vec::new();
    for question in &questions {
        let text = &question.amb_user_query;
        let links = link_schema(text, None, &demo.schema, &tools, 4).await;
        let findings = detect_ambiguities(text, &demo.schema, &links, demo.database.as_ref()).await;
        if question.is_ambiguous() {
            ambiguous += 1;
            if findings.is_empty() {
                missed.push(text.clone());
            } else {
                flagged += 1;
                let critical = &question.user_query_ambiguity.critical_ambiguity;
                if critical
                    .iter()
                    .any(|c| overlaps(&findings[0].term, &c.term))
                {
                    on_term += 1;
                }
            }
        } else {
            clear += 1;
            if let Some(finding) = findings.first() {
                false_alarms.push(format!("{text} → {:?} '{}'", finding.kind, finding.term));
            }
        }
    }
    println!(
        "clarification detectors on the demo questions: {flagged}/{ambiguous} ambiguous flagged \
         ({on_term} on an annotated term), {}/{clear} clear ones flagged",
        false_alarms.len()
    );
    println!("missed: {missed:?}");
    println!("false alarms: {false_alarms:#?}");
    assert_eq!(ambiguous, 16);
    assert!(
        flagged >= 15,
        "recall {flagged}/{ambiguous}; missed {missed:?}"
    );
    assert!(
        on_term >= 13,
        "only {on_term} findings were about the annotated term"
    );
    assert!(false_alarms.len() <= 2, "false alarms: {false_alarms:#?}");
}

#[tokio::test]
async fn value_ambiguity_names_the_candidates() {
    let demo = demo_db().await;
    let tools = builtin_tools(Arc::clone(&demo.database));
    let text = "What was the revenue of Accessories in 2024?";
    let links = link_schema(text, None, &demo.schema, &tools, 4).await;
    let findings = detect_ambiguities(text, &demo.schema, &links, demo.database.as_ref()).await;
    let first = &findings[0];
    assert_eq!(first.kind, AmbiguityKind::ValueAmbiguity);
    assert_eq!(first.term, "Accessories");
    assert!(first.question.contains("Electronics"), "{}", first.question);
    assert!(first.question.contains("Clothing"), "{}", first.question);
}

#[tokio::test]
async fn the_agent_asks_once_then_answers_with_the_clarification() {
    let demo = demo_db().await;
    let (model, dynamic) = scripted([
        "```sql\nSELECT COUNT(*) FROM customers AS c JOIN cities AS ci ON ci.city_id = c.city_id \
         WHERE ci.name = 'London' AND ci.region = 'England'\n```",
    ]);
    let agent = agent(&demo, dynamic, strategy("zero-shot", |_| {}), true);
    let mut session = Session::new(Some("shop".into()));

    let turn = agent
        .respond(&mut session, "How many customers do we have in London?")
        .await
        .expect("turn");
    let AgentTurn::Clarification(request) = &turn else {
        panic!("expected a clarification, got {turn:?}");
    };
    assert_eq!(request.kind, AmbiguityKind::ValueAmbiguity);
    assert!(
        request.question.contains("2 cities named 'London'")
            && request.question.contains("London (England"),
        "{}",
        request.question
    );
    assert!(
        request.question.contains("London (Ontario"),
        "{}",
        request.question
    );
    assert_eq!(turn.action(), AgentAction::Ask(request.question.clone()));
    assert!(
        model.requests().is_empty(),
        "no model call before the user answers"
    );
    assert!(session.pending().is_some());

    let turn = agent
        .respond(&mut session, "London in England")
        .await
        .expect("turn");
    let AgentTurn::Answer(answered) = &turn else {
        panic!("expected an answer, got {turn:?}");
    };
    assert_eq!(
        answered.question,
        "How many customers do we have in London?"
    );
    assert_eq!(answered.clarifications.len(), 1);
    assert_eq!(answered.clarifications[0].answer, "London in England");
    let prompt = last_user_message(&model.requests()[0]);
    assert!(
        prompt.contains("The user clarified:\n- There are 2 cities named 'London'"),
        "{prompt}"
    );
    assert!(prompt.contains("→ London in England"), "{prompt}");
    // The chosen row's key goes with the answer, so the model need not guess how to select it.
    let english = demo
        .database
        .execute(
            "SELECT city_id FROM cities WHERE name = 'London' AND region = 'England'",
            &learnat_tools::ExecOptions::default(),
        )
        .await
        .expect("the English London");
    let Value::Integer(english) = english.rows[0][0] else {
        panic!("city_id is an integer");
    };
    assert!(
        prompt.contains(&format!("(in SQL: cities.city_id = {english})")),
        "{prompt}"
    );
    assert_eq!(
        answered.clarifications[0].meaning.as_deref(),
        Some(format!("cities.city_id = {english}").as_str())
    );
    assert!(
        prompt.ends_with("Question: How many customers do we have in London?"),
        "{prompt}"
    );
    let result = answered.result.as_ref().expect("the SQL ran");
    assert!(matches!(result.rows[0][0], Value::Integer(n) if n > 0));
    assert!(matches!(turn.action(), AgentAction::Submit(sql) if sql.contains("England")));

    // The session remembers the exchange with the turn, and waits for nothing.
    assert!(session.pending().is_none());
    let recorded = &session.turns()[0];
    assert_eq!(recorded.clarifications[0].term, "London");
    assert_eq!(recorded.result.as_ref().expect("summary").row_count, 1);
}

#[tokio::test]
async fn two_unclear_terms_get_two_questions_then_an_answer() {
    let demo = demo_db().await;
    let (_, dynamic) = scripted(["```sql\nSELECT COUNT(*) FROM orders\n```"]);
    let agent = agent(&demo, dynamic, strategy("zero-shot", |_| {}), true);
    let mut session = Session::new(None);
    let first = agent
        .respond(&mut session, "How many big orders did we have last year?")
        .await
        .expect("turn");
    let AgentTurn::Clarification(first) = first else {
        panic!("expected a clarification");
    };
    let second = agent
        .respond(&mut session, "Orders with an item total above 1000")
        .await
        .expect("turn");
    let AgentTurn::Clarification(second) = second else {
        panic!("expected a second clarification");
    };
    assert_ne!(first.term, second.term);
    let third = agent.respond(&mut session, "2024").await.expect("turn");
    assert!(
        matches!(third, AgentTurn::Answer(_)),
        "the budget of two questions is spent"
    );
    assert_eq!(session.turns()[0].clarifications.len(), 2);
}

#[tokio::test]
async fn clear_questions_and_disabled_clarification_answer_directly() {
    let demo = demo_db().await;
    let (_, dynamic) = scripted([
        "```sql\nSELECT COUNT(*) FROM orders WHERE strftime('%Y', order_date) = '2024'\n```",
        "```sql\nSELECT COUNT(*) FROM customers\n```",
    ]);
    let agent_on = agent(
        &demo,
        Arc::clone(&dynamic),
        strategy("zero-shot", |_| {}),
        true,
    );
    let mut session = Session::new(None);
    let turn = agent_on
        .respond(&mut session, "How many orders were placed in 2024?")
        .await
        .expect("turn");
    assert!(matches!(turn, AgentTurn::Answer(_)), "{turn:?}");
    let agent_off = agent(&demo, dynamic, strategy("zero-shot", |_| {}), false);
    let turn = agent_off
        .respond(&mut session, "Who are our best customers?")
        .await
        .expect("turn");
    assert!(matches!(turn, AgentTurn::Answer(_)), "{turn:?}");
}

#[tokio::test]
async fn a_superlative_the_schema_measures_is_not_asked_about() {
    let demo = demo_db().await;
    let tools = builtin_tools(Arc::clone(&demo.database));
    let detect = |text: &'static str| {
        let demo = &demo;
        let tools = &tools;
        async move {
            let links = link_schema(text, None, &demo.schema, tools, 4).await;
            detect_ambiguities(text, &demo.schema, &links, demo.database.as_ref()).await
        }
    };
    // customers.date_of_birth measures "youngest"; products.weight does not exist.
    let findings = detect("Who is the youngest customer?").await;
    assert!(findings.is_empty(), "{findings:?}");
    let findings = detect("Which young customers ordered in May?").await;
    assert!(
        findings.iter().any(|f| f.term.contains("young")),
        "a bare adjective still needs a cut-off: {findings:?}"
    );
    let findings = detect("What is the heaviest product?").await;
    assert!(
        findings.iter().any(|f| f.term.contains("heaviest")),
        "nothing measures weight here: {findings:?}"
    );
}
