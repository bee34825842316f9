//! Strategies on the demo database with scripted models: zero-shot extraction, the
//! decomposition loop (each SubSQL executed, its outcome fed back), repair turns, voting,
//! demonstrations, and garbage model output.

mod agent_common;

use std::sync::Arc;

use agent_common::{cassette, demo_db, last_user_message, scripted, strategy};
use learnat_agent::model::scripted::{
    Cassette, Interaction, ReplayMode, ScriptedModel, ScriptedResponse,
};
use learnat_agent::strategy::{
    DemonstrationSource, FewShotExample, FixedDemonstrations, StepOutcome, StrategyInput,
    StrategyOptions, build_strategy,
};
use learnat_agent::student_format::StudentStep;
use learnat_agent::{AgentError, ChatModel, Role};
use learnat_tools::{ExecOptions, Value};

async fn count(db: &agent_common::DemoDb, sql: &str) -> i64 {
    let result = db
        .database
        .execute(sql, &ExecOptions::default())
        .await
        .expect("count query");
    match result.rows[0][0] {
        Value::Integer(n) => n,
        ref other => panic!("not a count: {other:?}"),
    }
}

fn row_count(outcome: &StepOutcome) -> usize {
    match outcome {
        StepOutcome::Rows { row_count, .. } => *row_count,
        StepOutcome::Error { message, .. } => panic!("the step failed: {message}"),
    }
}

#[tokio::test]
async fn zero_shot_takes_the_fenced_sql_and_runs_it() {
    let demo = demo_db().await;
    let (model, dynamic) = scripted([
        "Here is the query:\n```sql\nSELECT COUNT(*)\n  FROM customers;\n```\nIt counts them.",
    ]);
    let zero_shot = strategy("zero-shot", |_| {});
    let input = StrategyInput::new(
        "How many customers does the shop have?",
        &demo.database,
        &demo.schema,
    );
    let answer = zero_shot.answer(&dynamic, &input).await.expect("answer");
    assert_eq!(answer.sql, "SELECT COUNT(*) FROM customers");
    assert!(answer.steps.is_empty());
    let expected = count(&demo, "SELECT COUNT(*) FROM customers").await;
    match answer.final_outcome.expect("checked") {
        StepOutcome::Rows { rows, .. } => assert_eq!(rows[0][0], Value::Integer(expected)),
        other => panic!("{other:?}"),
    }
    // The prompt: the baseline's shape, with the demo schema's CREATE TABLE statements.
    let request = &model.requests()[0];
    assert_eq!(request[0].role, Role::System);
    assert!(request[0].content.contains("```sql"));
    assert!(request[1].content.contains("CREATE TABLE customers"));
    assert!(
        request[1]
            .content
            .ends_with("Question: How many customers does the shop have?")
    );
    assert_eq!(answer.usage.requests, 1);
}

#[tokio::test]
async fn zero_shot_takes_unfenced_statements_and_unclosed_fences() {
    let demo = demo_db().await;
    let zero_shot = strategy("zero-shot", |_| {});
    let input = StrategyInput::new("How many orders?", &demo.database, &demo.schema);
    for (text, expected) in [
        (
            "The answer is\nSELECT COUNT(*) FROM orders;",
            "SELECT COUNT(*) FROM orders",
        ),
        (
            "```sql\nSELECT COUNT(*) FROM orders\nWHERE status = 'shipped'",
            "SELECT COUNT(*) FROM orders WHERE status = 'shipped'",
        ),
    ] {
        let (_, model) = scripted([text]);
        let answer = zero_shot.answer(&model, &input).await.expect("answer");
        assert_eq!(answer.sql, expected);
        assert!(!answer.final_outcome.expect("checked").is_error());
    }
}

#[tokio::test]
async fn an_answer_without_sql_is_a_clear_error() {
    let demo = demo_db().await;
    let input = StrategyInput::new("How many orders?", &demo.database, &demo.schema);
    let (_, model) = scripted(["I am sorry, I cannot help with databases."]);
    let error = strategy("zero-shot", |_| {})
        .answer(&model, &input)
        .await
        .expect_err("no SQL");
    assert!(matches!(error, AgentError::NoSql { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("holds no usable SQL"), "{message}");
    assert!(
        message.contains("I am sorry"),
        "the message quotes the answer: {message}"
    );
    assert_eq!(error.kind(), "no_sql");

    // An empty fence, then prose again after the reminder: decompose gives up with the error.
    let (_, model) = scripted(["```sql\n```", "Still no query here."]);
    let error = strategy("decompose", |_| {})
        .answer(&model, &input)
        .await
        .expect_err("no SQL");
    assert!(matches!(error, AgentError::NoSql { .. }), "{error:?}");
}

#[tokio::test]
async fn a_write_statement_is_refused_and_never_executed() {
    let demo = demo_db().await;
    let before = count(&demo, "SELECT COUNT(*) FROM orders").await;
    let input = StrategyInput::new("Delete the orders", &demo.database, &demo.schema);
    let (_, model) = scripted(["```sql\nDELETE FROM orders\n```"]);
    let answer = strategy("zero-shot", |_| {})
        .answer(&model, &input)
        .await
        .expect("the SQL is extracted");
    match answer.final_outcome.expect("checked") {
        StepOutcome::Error { kind, message } => {
            assert_eq!(kind, "refused", "{message}");
        }
        other => panic!("a DELETE ran: {other:?}"),
    }
    // A decomposition step that writes is refused the same way.
    let (_, model) = scripted([
        "Sub question 1: Remove the cancelled orders\nSubSQL1: ```sql DROP TABLE orders ```",
        "Final SQL: ```sql SELECT COUNT(*) FROM orders ```",
    ]);
    let answer = strategy("decompose", |o| o.repair_turns = 0)
        .answer(&model, &input)
        .await
        .expect("answer");
    assert!(
        matches!(&answer.steps[0].outcome, StepOutcome::Error { kind, .. } if kind == "refused")
    );
    assert_eq!(count(&demo, "SELECT COUNT(*) FROM orders").await, before);
}

#[tokio::test]
async fn decompose_executes_each_subsql_and_feeds_the_outcome_back() {
    let demo = demo_db().await;
    let model =
        Arc::new(ScriptedModel::from_file(&cassette("decompose_paris.json")).expect("cassette"));
    let dynamic: Arc<dyn ChatModel> = model.clone();
    let decompose = strategy("decompose", |_| {});
    let question = "How many orders did customers from Paris place?";
    let input = StrategyInput::new(question, &demo.database, &demo.schema);
    let answer = decompose.answer(&dynamic, &input).await.expect("answer");

    assert_eq!(answer.steps.len(), 2, "{:#?}", answer.steps);
    assert_eq!(
        answer.steps[0].sql,
        "SELECT c.customer_id FROM customers AS c JOIN cities AS ci ON ci.city_id = c.city_id WHERE ci.name = 'Paris'"
    );
    let paris_customers = count(
        &demo,
        "SELECT COUNT(*) FROM customers AS c JOIN cities AS ci ON ci.city_id = c.city_id WHERE ci.name = 'Paris'",
    )
    .await;
    assert_eq!(row_count(&answer.steps[0].outcome) as i64, paris_customers);
    let expected = count(
        &demo,
        "SELECT COUNT(*) FROM orders AS o JOIN customers AS c ON c.customer_id = o.customer_id \
         JOIN cities AS ci ON ci.city_id = c.city_id WHERE ci.name = 'Paris'",
    )
    .await;
    match &answer.steps[1].outcome {
        StepOutcome::Rows { rows, .. } => assert_eq!(rows[0][0], Value::Integer(expected)),
        other => panic!("{other:?}"),
    }
    assert!(
        answer
            .sql
            .starts_with("SELECT COUNT(*) FROM orders AS o JOIN customers")
    );

    // One request per step plus one for the final SQL; each later request carries the outcome
    // of the step before, with its rows.
    let requests = model.requests();
    assert_eq!(requests.len(), 3);
    let after_first = last_user_message(&requests[1]);
    assert!(
        after_first.starts_with("Result of SubSQL1:\n| customer_id |"),
        "{after_first}"
    );
    assert!(
        after_first.contains(&format!("{paris_customers} rows")),
        "{after_first}"
    );
    assert!(
        after_first.contains("Continue with Sub question 2"),
        "{after_first}"
    );
    let first_id = match &answer.steps[0].outcome {
        StepOutcome::Rows { rows, .. } => rows[0][0].to_string(),
        other => panic!("{other:?}"),
    };
    assert!(
        after_first.contains(&format!("| {first_id} |")),
        "{after_first}"
    );
    // The assistant turn before it is the first step only: the stop sequence cut the rest.
    let assistant = &requests[1][requests[1].len() - 2];
    assert_eq!(assistant.role, Role::Assistant);
    assert!(
        !assistant.content.contains("Sub question 2"),
        "{}",
        assistant.content
    );
    let after_second = last_user_message(&requests[2]);
    assert!(
        after_second.contains(&format!("| {expected} |")),
        "{after_second}"
    );
    assert_eq!(answer.usage.requests, 3);
}

#[tokio::test]
async fn failing_steps_and_final_sql_get_a_repair_turn() {
    let demo = demo_db().await;
    let (model, dynamic) = scripted([
        "Sub question 1: What are the product names?\nSubSQL1: ```sql SELECT nme FROM products ```",
        "SubSQL1: ```sql SELECT name FROM products ORDER BY name LIMIT 3 ```",
        "Final SQL: ```sql SELECT COUNT(*) FROM product ```",
        "Final SQL: ```sql SELECT COUNT(*) FROM products ```",
    ]);
    let input = StrategyInput::new("How many products are there?", &demo.database, &demo.schema);
    let answer = strategy("decompose", |_| {})
        .answer(&dynamic, &input)
        .await
        .expect("answer");
    assert_eq!(answer.steps.len(), 1);
    assert_eq!(
        answer.steps[0].sql,
        "SELECT name FROM products ORDER BY name LIMIT 3"
    );
    assert_eq!(answer.steps[0].repairs, 1);
    assert_eq!(row_count(&answer.steps[0].outcome), 3);
    assert_eq!(answer.sql, "SELECT COUNT(*) FROM products");
    assert_eq!(answer.repairs, 2);
    let requests = model.requests();
    let repair_request = last_user_message(&requests[1]);
    assert!(
        repair_request.starts_with("SubSQL1 failed: SQL error"),
        "{repair_request}"
    );
    assert!(repair_request.contains("nme"), "{repair_request}");
    let final_repair = last_user_message(&requests[3]);
    assert!(
        final_repair.starts_with("The Final SQL failed"),
        "{final_repair}"
    );
    assert!(final_repair.contains("product"), "{final_repair}");

    // Without repair turns the failing final SQL stays, with its error.
    let (_, dynamic) = scripted(["Final SQL: ```sql SELECT COUNT(*) FROM product ```"]);
    let answer = strategy("decompose", |o| o.repair_turns = 0)
        .answer(&dynamic, &input)
        .await
        .expect("answer");
    assert!(answer.final_outcome.expect("checked").is_error());
    assert_eq!(answer.repairs, 0);
}

#[tokio::test]
async fn decomposition_stops_when_it_stalls_and_repairs_carry_schema_hints() {
    let demo = demo_db().await;
    let input = StrategyInput::new("How many products are there?", &demo.database, &demo.schema);

    // A step that still fails after its repair ends the decomposition: no further step is
    // asked for, and the failing SQL is the answer without another repair.
    let (model, dynamic) = scripted([
        "Sub question 1: How many?\nSubSQL1: ```sql SELECT COUNT(*) FROM product ```",
        "SubSQL1: ```sql SELECT COUNT(*) FROM items ```",
        "Sub question 2: never asked\nSubSQL2: ```sql SELECT 1 ```",
    ]);
    let answer = strategy("decompose", |_| {})
        .answer(&dynamic, &input)
        .await
        .expect("answer");
    assert_eq!(answer.usage.requests, 2, "{:?}", answer.raw_outputs);
    assert_eq!(answer.sql, "SELECT COUNT(*) FROM items");
    assert!(answer.final_outcome.expect("checked").is_error());
    let repair = last_user_message(&model.requests()[1]);
    assert!(
        repair.contains("Hint: there is no table product. The tables are:")
            && repair.contains("products"),
        "{repair}"
    );

    // A step that repeats the previous one ends it too; that step is the answer.
    let (model, dynamic) = scripted([
        "Sub question 1: How many?\nSubSQL1: ```sql SELECT COUNT(*) FROM products ```",
        "Sub question 2: How many?\nSubSQL2: ```sql select count(*)\n from products; ```",
        "Final SQL: ```sql SELECT 1 ```",
    ]);
    let answer = strategy("decompose", |_| {})
        .answer(&dynamic, &input)
        .await
        .expect("answer");
    assert_eq!(model.requests().len(), 2);
    assert_eq!(answer.steps.len(), 1);
    assert_eq!(answer.sql, "SELECT COUNT(*) FROM products");

    // A column on the wrong alias: the zero-shot repair names the table that has it.
    let (model, dynamic) = scripted([
        "```sql\nSELECT T2.first_name FROM orders AS T1 JOIN customers AS T2 ON T1.customer_id = \
         T2.customer_id WHERE T2.order_id = 1\n```",
        "```sql\nSELECT 1\n```",
    ]);
    strategy("zero-shot", |o| o.repair_turns = 1)
        .answer(&dynamic, &input)
        .await
        .expect("answer");
    let repair = last_user_message(&model.requests()[1]);
    assert!(
        repair.contains("Hint: order_id is a column of orders (alias T1)")
            && repair.contains(", not of customers (alias T2)."),
        "{repair}"
    );
}

#[tokio::test]
async fn schema_relinking_fixes_missing_columns_before_any_repair_turn() {
    let demo = demo_db().await;
    let input = StrategyInput::new(
        "How many customers live in Paris?",
        &demo.database,
        &demo.schema,
    );
    let wrong_alias = "SELECT T2.first_name FROM orders AS T1 JOIN customers AS T2 ON \
                       T1.customer_id = T2.customer_id WHERE T2.order_id = 1";
    // The step puts order_id on the wrong alias; the final SQL names a column of cities, a
    // table it does not join. Both are fixed from the schema; no repair turn is spent.
    let (model, dynamic) = scripted([
        format!("Sub question 1: Who placed order 1?\nSubSQL1: ```sql {wrong_alias} ```"),
        "Final SQL: ```sql SELECT COUNT(*) FROM customers WHERE name = 'Paris' ```".to_string(),
    ]);
    let answer = strategy("decompose", |_| {})
        .answer(&dynamic, &input)
        .await
        .expect("answer");
    assert_eq!(answer.usage.requests, 2, "{:?}", answer.raw_outputs);
    assert_eq!(answer.repairs, 0);
    assert_eq!(
        answer.steps[0].sql,
        "SELECT T2.first_name FROM orders AS T1 JOIN customers AS T2 ON T1.customer_id = \
         T2.customer_id WHERE T1.order_id = 1"
    );
    assert_eq!(row_count(&answer.steps[0].outcome), 1);
    assert_eq!(
        answer.sql,
        "SELECT COUNT(*) FROM customers JOIN cities ON customers.city_id = cities.city_id \
         WHERE cities.name = 'Paris'"
    );
    let expected = count(
        &demo,
        "SELECT COUNT(*) FROM customers JOIN cities USING (city_id) WHERE cities.name = 'Paris'",
    )
    .await;
    match answer.final_outcome.expect("checked") {
        StepOutcome::Rows { rows, .. } => assert_eq!(rows[0][0], Value::Integer(expected)),
        other => panic!("{other:?}"),
    }
    assert_eq!(answer.relinks.len(), 2, "{:?}", answer.relinks);
    assert_eq!(answer.relinks[0], "T2.order_id → T1.order_id");
    assert!(
        answer.relinks[1].contains("joined cities"),
        "{:?}",
        answer.relinks
    );
    // The model is told what its step ran as.
    let outcome = last_user_message(&model.requests()[1]);
    assert!(
        outcome.starts_with("SubSQL1 named a column its tables do not have; it ran as:")
            && outcome.contains("WHERE T1.order_id = 1"),
        "{outcome}"
    );

    // The zero-shot baseline does not relink: the model's SQL and its error stay.
    let (_, dynamic) = scripted([format!("```sql\n{wrong_alias}\n```")]);
    let answer = strategy("zero-shot", |_| {})
        .answer(&dynamic, &input)
        .await
        .expect("answer");
    assert!(answer.final_outcome.expect("checked").is_error());
    assert!(answer.relinks.is_empty());
    // Turned on, it does.
    let (_, dynamic) = scripted([format!("```sql\n{wrong_alias}\n```")]);
    let answer = strategy("zero-shot", |o| o.relink = true)
        .answer(&dynamic, &input)
        .await
        .expect("answer");
    assert!(!answer.final_outcome.expect("checked").is_error());
    assert_eq!(answer.relinks, ["T2.order_id → T1.order_id"]);

    // A fix that does not run is not kept: nobody has the column.
    let (_, dynamic) = scripted(["```sql\nSELECT colour FROM products\n```"]);
    let answer = strategy("zero-shot", |o| o.relink = true)
        .answer(&dynamic, &input)
        .await
        .expect("answer");
    assert_eq!(answer.sql, "SELECT colour FROM products");
    assert!(answer.relinks.is_empty());
}

#[tokio::test]
async fn answers_without_markers_get_one_reminder_and_steps_are_bounded() {
    let demo = demo_db().await;
    let input = StrategyInput::new(
        "How many suppliers are there?",
        &demo.database,
        &demo.schema,
    );
    let (model, dynamic) = scripted([
        "Let me think about the suppliers table first.",
        "Final SQL: ```sql SELECT COUNT(*) FROM suppliers ```",
    ]);
    let answer = strategy("decompose", |_| {})
        .answer(&dynamic, &input)
        .await
        .expect("answer");
    assert_eq!(answer.sql, "SELECT COUNT(*) FROM suppliers");
    assert!(last_user_message(&model.requests()[1]).contains("Please answer in the format"));

    // max_steps = 1: after one step the final SQL is asked for.
    let (model, dynamic) = scripted([
        "Sub question 1: Which suppliers are there?\nSubSQL1: ```sql SELECT supplier_id FROM suppliers ```",
        "Final SQL: ```sql SELECT COUNT(*) FROM suppliers ```",
    ]);
    let answer = strategy("decompose", |o| o.max_steps = 1)
        .answer(&dynamic, &input)
        .await
        .expect("answer");
    assert_eq!(answer.steps.len(), 1);
    assert!(last_user_message(&model.requests()[1]).ends_with("Now write the Final SQL."));

    // No Final SQL at all: the last step that ran is the answer.
    let (_, dynamic) = scripted([
        "Sub question 1: How many suppliers?\nSubSQL1: ```sql SELECT COUNT(*) FROM suppliers ```",
        "That is all.",
    ]);
    let answer = strategy("decompose", |o| o.max_steps = 1)
        .answer(&dynamic, &input)
        .await
        .expect("answer");
    assert_eq!(answer.sql, "SELECT COUNT(*) FROM suppliers");
}

fn voting_cassette(responses: &[(&str, f32)]) -> Arc<dyn ChatModel> {
    let mut cassette = Cassette::new("voter", ReplayMode::InOrder);
    cassette.interactions.push(Interaction {
        request_hash: None,
        request: None,
        responses: responses
            .iter()
            .map(|(text, logprob)| ScriptedResponse::WithLogprob {
                text: text.to_string(),
                logprob: *logprob,
            })
            .collect(),
    });
    Arc::new(ScriptedModel::new(cassette))
}

#[tokio::test]
async fn zero_shot_samples_vote_by_execution_result() {
    let demo = demo_db().await;
    let model = voting_cassette(&[
        ("```sql\nSELECT COUNT(*) FROM customers\n```", -0.9),
        ("```sql\nSELECT COUNT(*) FROM orders\n```", -0.1),
        (
            "```sql\nSELECT COUNT(customer_id) FROM customers\n```",
            -0.5,
        ),
    ]);
    let input = StrategyInput::new("How many customers?", &demo.database, &demo.schema);
    let answer = strategy("zero-shot", |o| o.samples = 3)
        .answer(&model, &input)
        .await
        .expect("answer");
    // The two customer counts agree; the more confident orders count is alone.
    assert_eq!(answer.sql, "SELECT COUNT(customer_id) FROM customers");
    let votes: Vec<usize> = answer.candidates.iter().map(|c| c.votes).collect();
    assert_eq!(votes, [2, 1, 2]);
    assert_eq!(answer.candidates.iter().filter(|c| c.chosen).count(), 1);
}

#[tokio::test]
async fn decompose_samples_vote_over_trajectories() {
    let demo = demo_db().await;
    let (model, dynamic) = scripted([
        "Final SQL: ```sql SELECT COUNT(*) FROM employees ```",
        "Final SQL: ```sql SELECT COUNT(*) FROM employee ```",
        "Sub question 1: Who works here?\nSubSQL1: ```sql SELECT employee_id FROM employees ```",
        "Final SQL: ```sql SELECT COUNT(employee_id) FROM employees ```",
    ]);
    let input = StrategyInput::new("How many employees?", &demo.database, &demo.schema);
    let answer = strategy("decompose", |o| {
        o.samples = 3;
        o.repair_turns = 0;
    })
    .answer(&dynamic, &input)
    .await
    .expect("answer");
    assert_eq!(answer.candidates.len(), 3);
    assert_eq!(
        answer.candidates[1].votes, 0,
        "the failing candidate has no group"
    );
    assert!(answer.candidates[1].error.is_some());
    assert_eq!(answer.candidates[0].votes, 2);
    assert_eq!(answer.sql, "SELECT COUNT(*) FROM employees");
    // Each trajectory sampled with its own seed and a temperature above zero.
    assert_eq!(model.requests().len(), 4);
}

struct CountingSource(FixedDemonstrations, std::sync::atomic::AtomicUsize);

#[async_trait::async_trait]
impl DemonstrationSource for CountingSource {
    async fn demonstrations(
        &self,
        request: &learnat_agent::strategy::DemonstrationRequest<'_>,
    ) -> learnat_agent::AgentResult<Vec<FewShotExample>> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(request.db_id, Some("shop"));
        self.0.demonstrations(request).await
    }
}

#[tokio::test]
async fn adr_demonstrations_replace_the_builtin_examples() {
    let demo = demo_db().await;
    let example = FewShotExample {
        question: "How many pilots fly Boeing planes?".into(),
        steps: vec![StudentStep {
            sub_question: "Which planes are Boeings?".into(),
            sql: "SELECT plane_id FROM plane WHERE maker = 'Boeing'".into(),
        }],
        sql: "SELECT COUNT(*) FROM pilot WHERE plane_id IN (SELECT plane_id FROM plane WHERE maker = 'Boeing')".into(),
    };
    let source = Arc::new(CountingSource(
        FixedDemonstrations(vec![example]),
        Default::default(),
    ));
    let options = StrategyOptions {
        adr: true,
        ..StrategyOptions::defaults_for("decompose")
    };
    let decompose = build_strategy("decompose", options, Some(source.clone())).expect("strategy");
    let (model, dynamic) = scripted(["Final SQL: ```sql SELECT COUNT(*) FROM products ```"]);
    let mut input = StrategyInput::new("How many products?", &demo.database, &demo.schema);
    input.db_id = Some("shop");
    decompose.answer(&dynamic, &input).await.expect("answer");
    assert_eq!(source.1.load(std::sync::atomic::Ordering::SeqCst), 1);
    let prompt = &model.requests()[0][1].content;
    assert!(
        prompt.contains("Question: How many pilots fly Boeing planes?"),
        "{prompt}"
    );
    assert!(
        prompt.contains("SubSQL1: ```sql SELECT plane_id FROM plane"),
        "{prompt}"
    );
    assert!(
        !prompt.contains("concert"),
        "built-in examples are replaced: {prompt}"
    );
    // The schema comes first (a prefix shared by every question on this database), then the
    // examples, then the question.
    let schema_at = prompt.find("Database schema:").expect("schema");
    let examples_at = prompt.find("Examples of the format").expect("examples");
    let question_at = prompt
        .find("Question: How many products?")
        .expect("question");
    assert!(
        schema_at < examples_at && examples_at < question_at,
        "{prompt}"
    );

    // ADR off: the built-in examples teach the format.
    let (model, dynamic) = scripted(["Final SQL: ```sql SELECT COUNT(*) FROM products ```"]);
    strategy("decompose", |_| {})
        .answer(&dynamic, &input)
        .await
        .expect("answer");
    assert!(
        model.requests()[0][1]
            .content
            .contains("concerts did singers from France")
    );
}

#[tokio::test]
async fn an_index_serves_examples_from_other_databases_only() {
    use learnat_agent::retrieval::{
        Demonstration, DemonstrationIndex, IndexDemonstrations, Rerank, SchemaWords,
    };
    let demo = demo_db().await;
    let demonstration = |id: &str, db_id: &str, question: &str, sql: &str| Demonstration {
        id: id.into(),
        db_id: db_id.into(),
        question: question.into(),
        sql: sql.into(),
        steps: Vec::new(),
    };
    let pool = vec![
        demonstration(
            "a",
            "shop",
            "How many products are in stock?",
            "SELECT COUNT(*) FROM products WHERE stock > 0",
        ),
        demonstration(
            "b",
            "zoo",
            "How many animals are in the zoo?",
            "SELECT COUNT(*) FROM animals",
        ),
        demonstration(
            "c",
            "zoo",
            "How many keepers are there?",
            "SELECT COUNT(*) FROM keepers",
        ),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    let index_dir = dir.path().join("index");
    DemonstrationIndex::build(&pool, &SchemaWords::empty(), &index_dir).expect("index");
    let index = DemonstrationIndex::open(&index_dir).expect("open");
    let source = IndexDemonstrations::new(Arc::new(index), Rerank::Skeleton, 2).expect("source");
    // k = 2 asks for both of the other database's demonstrations.
    let options = StrategyOptions {
        adr: true,
        k: 2,
        ..StrategyOptions::defaults_for("decompose")
    };
    let decompose = build_strategy("decompose", options, Some(Arc::new(source))).expect("strategy");
    let (model, dynamic) = scripted(["Final SQL: ```sql SELECT COUNT(*) FROM products ```"]);
    let mut input =
        StrategyInput::new("How many products are there?", &demo.database, &demo.schema);
    input.db_id = Some("shop");
    let answer = decompose.answer(&dynamic, &input).await.expect("answer");
    assert_eq!(answer.sql, "SELECT COUNT(*) FROM products");
    let prompt = &model.requests()[0][1].content;
    assert!(
        prompt.contains("Question: How many animals are in the zoo?"),
        "{prompt}"
    );
    assert!(
        prompt.contains("Question: How many keepers are there?"),
        "{prompt}"
    );
    assert!(
        !prompt.contains("in stock"),
        "the question's own database is never retrieved: {prompt}"
    );
}

#[tokio::test]
async fn value_hints_name_the_columns_of_question_literals() {
    let demo = demo_db().await;
    let tools = learnat_tools::tool::builtin_tools(Arc::clone(&demo.database));
    let (model, dynamic) =
        scripted(["```sql\nSELECT COUNT(*) FROM cities WHERE name = 'Lyon'\n```"]);
    let mut input = StrategyInput::new(
        "How many customers live in Lyon?",
        &demo.database,
        &demo.schema,
    );
    input.tools = &tools;
    strategy("zero-shot", |_| {})
        .answer(&dynamic, &input)
        .await
        .expect("answer");
    let prompt = &model.requests()[0][1].content;
    assert!(
        prompt.contains("'Lyon' is stored in cities.name"),
        "{prompt}"
    );
}

#[tokio::test]
async fn auto_decomposition_keeps_a_simple_draft_and_decomposes_the_rest() {
    use learnat_agent::strategy::DecomposeWhen;
    let demo = demo_db().await;
    let auto = strategy("decompose", |o| o.decompose_when = DecomposeWhen::Auto);
    let input = StrategyInput::new(
        "How many customers are there?",
        &demo.database,
        &demo.schema,
    );

    // A simple draft that returns rows is the answer: one request, one step.
    let (model, dynamic) = scripted(["```sql\nSELECT COUNT(*) FROM customers\n```"]);
    let answer = auto.answer(&dynamic, &input).await.expect("answer");
    assert_eq!(answer.sql, "SELECT COUNT(*) FROM customers");
    let draft = answer.draft.as_ref().expect("the draft is reported");
    assert!(
        draft.chosen && draft.decomposed_because.is_none(),
        "{draft:?}"
    );
    assert_eq!(draft.hardness.as_deref(), Some("easy"));
    assert_eq!(answer.steps.len(), 1);
    assert_eq!(
        answer.steps[0].sub_question,
        "How many customers are there?"
    );
    assert_eq!(model.requests().len(), 1);
    // The draft is asked with the zero-shot prompt.
    assert!(
        model.requests()[0][1]
            .content
            .ends_with("Question: How many customers are there?")
    );

    // A draft that returns nothing is decomposed, and the decomposition's answer replaces it.
    let (model, dynamic) = scripted([
        "```sql\nSELECT COUNT(*) FROM customers WHERE name = 'Nobody' GROUP BY name\n```",
        "Sub question 1: How many customers are there?\nSubSQL1: ```sql\nSELECT COUNT(*) FROM customers\n```",
        "Final SQL: ```sql\nSELECT COUNT(*) AS n FROM customers\n```",
    ]);
    let answer = auto.answer(&dynamic, &input).await.expect("answer");
    let draft = answer.draft.as_ref().expect("the draft is reported");
    assert!(!draft.chosen, "{draft:?}");
    assert_eq!(
        draft.decomposed_because.as_deref(),
        Some("the draft returned no rows")
    );
    assert_eq!(answer.sql, "SELECT COUNT(*) AS n FROM customers");
    assert_eq!(answer.steps.len(), 1);
    assert_eq!(answer.steps[0].sql, "SELECT COUNT(*) FROM customers");
    assert_eq!(model.requests().len(), 3);
    assert_eq!(answer.usage.requests, 3);
    // The decomposition is asked in the student format.
    assert!(model.requests()[1][0].content.contains("Sub question"));
    // It is told what the draft was and what running it gave, before the question's start.
    let opening = &model.requests()[1][1].content;
    assert!(
        opening.contains("A direct query was tried first and returned no rows")
            && opening.contains("'Nobody'")
            && opening.ends_with("Start with Sub question 1."),
        "{opening}"
    );
    // An empty step result comes back with a hint to check its conditions.
    assert!(
        !last_user_message(&model.requests()[2]).contains("returned no rows"),
        "the step returned rows"
    );

    // A draft of only NULLs is decomposed; when the decomposition fails, the draft stands.
    let nulls = "SELECT MAX(customer_id) FROM customers WHERE name = 'Nobody'";
    let (_, dynamic) = scripted([
        format!("```sql\n{nulls}\n```"),
        "Sub question 1: Which?\nSubSQL1: ```sql\nSELECT nope FROM nowhere\n```".to_string(),
        "SubSQL1: ```sql\nSELECT still_nope FROM nowhere\n```".to_string(),
        "Final SQL: ```sql\nSELECT still_nope FROM nowhere\n```".to_string(),
    ]);
    let answer = auto.answer(&dynamic, &input).await.expect("answer");
    let draft = answer.draft.as_ref().expect("the draft is reported");
    assert!(draft.chosen, "{draft:?}");
    assert!(
        draft
            .decomposed_because
            .as_deref()
            .is_some_and(|r| r.contains("only NULLs")),
        "{draft:?}"
    );
    assert_eq!(answer.sql, draft.sql);
    assert!(!answer.final_outcome.as_ref().expect("ran").is_error());
    assert!(answer.steps[0].outcome.is_error());
}
