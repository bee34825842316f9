//! Sessions: follow-ups build on the previous SQL and result; sessions save, load and continue
//! across agents (as `learnat ask --session FILE` does); bad files give clear errors.

mod agent_common;

use agent_common::{agent, demo_db, last_user_message, scripted, strategy};
use learnat_agent::AgentError;
use learnat_agent::agent::AgentTurn;
use learnat_agent::session::Session;
use learnat_tools::Value;

#[tokio::test]
async fn a_follow_up_sees_the_previous_question_sql_and_result() {
    let demo = demo_db().await;
    let first_sql = "SELECT COUNT(*) FROM orders WHERE strftime('%Y', order_date) = '2024'";
    let (model, dynamic) = scripted([
        format!("```sql\n{first_sql}\n```"),
        format!("```sql\n{first_sql} AND status = 'cancelled'\n```"),
    ]);
    let agent = agent(&demo, dynamic, strategy("zero-shot", |_| {}), true);
    let mut session = Session::new(Some("shop".into()));
    let first = agent
        .respond(&mut session, "How many orders were placed in 2024?")
        .await
        .expect("first turn");
    let AgentTurn::Answer(first) = first else {
        panic!("expected an answer");
    };
    let Value::Integer(orders_2024) = first.result.as_ref().expect("ran").rows[0][0] else {
        panic!("not a count");
    };

    let second = agent
        .respond(&mut session, "And how many of those were cancelled?")
        .await
        .expect("second turn");
    let AgentTurn::Answer(second) = second else {
        panic!("expected an answer");
    };
    let prompt = last_user_message(&model.requests()[1]);
    assert!(
        prompt.contains(
            "Earlier in this conversation:\nQuestion: How many orders were placed in 2024?\n"
        ),
        "{prompt}"
    );
    assert!(prompt.contains(&format!("SQL: {first_sql}\n")), "{prompt}");
    assert!(
        prompt.contains(&format!("| {orders_2024} |\n(1 row)")),
        "{prompt}"
    );
    assert!(prompt.contains("modify the last SQL"), "{prompt}");
    assert!(
        prompt.ends_with("Question: And how many of those were cancelled?"),
        "{prompt}"
    );
    assert!(second.answer.sql.ends_with("AND status = 'cancelled'"));
    let Value::Integer(cancelled) = second.result.as_ref().expect("ran").rows[0][0] else {
        panic!("not a count");
    };
    assert!(cancelled < orders_2024);
    assert_eq!(session.turns().len(), 2);
    // The first request had no history.
    assert!(!last_user_message(&model.requests()[0]).contains("Earlier in this conversation"));
}

#[tokio::test]
async fn a_saved_session_continues_in_another_agent() {
    let demo = demo_db().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("session.json");

    // Call 1: the question; the agent asks back; the session is saved with the open question.
    let (_, first_model) = scripted(Vec::<String>::new());
    let first_agent = agent(&demo, first_model, strategy("zero-shot", |_| {}), true);
    let mut session = Session::new(Some("shop".into()));
    let turn = first_agent
        .respond(&mut session, "How many orders do we have from Portland?")
        .await
        .expect("turn");
    assert!(matches!(turn, AgentTurn::Clarification(_)), "{turn:?}");
    session.save(&path).expect("save");

    // Call 2: a new agent loads it; the text answers the pending question.
    let mut restored = Session::load(&path).expect("load");
    assert_eq!(restored, session);
    assert!(restored.pending().is_some());
    let (model, second_model) = scripted([
        "```sql\nSELECT COUNT(*) FROM orders AS o JOIN cities AS ci ON ci.city_id = o.ship_city_id \
         WHERE ci.name = 'Portland' AND ci.region = 'Oregon'\n```",
    ]);
    let second_agent = agent(&demo, second_model, strategy("zero-shot", |_| {}), true);
    let mut turn = second_agent
        .respond(&mut restored, "Portland, Oregon")
        .await
        .expect("turn");
    // The path question may follow the city question; answer it too.
    if let AgentTurn::Clarification(request) = &turn {
        assert_ne!(request.term, "Portland");
        turn = second_agent
            .respond(&mut restored, "the shipping city")
            .await
            .expect("turn");
    }
    let AgentTurn::Answer(answered) = turn else {
        panic!("expected an answer");
    };
    assert!(answered.clarifications[0].answer.contains("Oregon"));
    assert!(last_user_message(&model.requests()[0]).contains("→ Portland, Oregon"));
    restored.save(&path).expect("save again");
    let reloaded = Session::load(&path).expect("reload");
    assert_eq!(reloaded.turns().len(), 1);
    assert_eq!(reloaded.turns()[0].sql, Some(answered.answer.sql.clone()));
}

#[tokio::test]
async fn bad_session_files_are_clear_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("broken.json");
    std::fs::write(
        &path,
        "{\"format\": \"learnat-session\", \"version\": 1, \"turns\": {}}",
    )
    .expect("write");
    let error = Session::load(&path).expect_err("bad shape");
    assert!(matches!(error, AgentError::SessionFile { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("broken.json"), "{message}");
    assert!(message.contains("wrong shape"), "{message}");
    assert_eq!(error.kind(), "session_file");

    std::fs::write(&path, "not json").expect("write");
    assert!(
        Session::load(&path)
            .unwrap_err()
            .to_string()
            .contains("not valid JSON")
    );
    let missing = Session::load(&dir.path().join("absent.json")).unwrap_err();
    assert!(matches!(missing, AgentError::Io { .. }), "{missing:?}");
}
