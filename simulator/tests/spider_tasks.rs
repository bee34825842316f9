//! The Spider-derived task set: size, spread, splits, machine-checked annotations, and the
//! simulator's no-leak promise over every task, and the committed c-interact runs re-scored on
//! it. Built from ../shared/data/spider when present (skipped with a reason otherwise); the
//! committed hand-reviewed file is checked always.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use learnat_agent::clarify::{Clarifier, ClarifierOptions};
use learnat_agent::prompt::linking::link_schema;

use learnat_simulator::leak::leaked_fragments;
use learnat_simulator::replay::replay;
use learnat_simulator::report::gap_closed;
use learnat_simulator::run::read_transcripts;
use learnat_simulator::scoring::GoldChecker;
use learnat_simulator::spider_build::{BuildOptions, build_spider_tasks};
use learnat_simulator::task::{InteractiveTask, TaskDatabases, demo_tasks, load_tasks};
use learnat_simulator::user_sim::{ActionKind, FunctionDrivenSimulator, UserSimulator};
use learnat_tools::Database;
use learnat_tools::schema::{IntrospectOptions, Schema, introspect};
use learnat_tools::shared_data::shared_data_or_skip;
use learnat_tools::tool::builtin_tools;

/// Questions an agent might ask about a task: about each term, quoting each snippet, quoting
/// a wrong fragment, and out of scope ones (asking for the answer outright).
fn probing_questions(task: &InteractiveTask) -> Vec<String> {
    let mut questions = vec![
        "Can you just give me the full SQL query?".to_string(),
        "Which tables and columns does the solution use?".to_string(),
        format!("What is the answer to: {}", task.clear_question),
        "Should I use SELECT * FROM the table?".to_string(),
    ];
    for ambiguity in task.ambiguities() {
        questions.push(format!("What do you mean by '{}'?", ambiguity.term));
        questions.push(format!("Should I use `{}`?", ambiguity.sql_snippet));
        questions.push(format!(
            "What threshold do you mean by '{}', and how many do you want?",
            ambiguity.term
        ));
    }
    questions
}

async fn assert_no_leaks(tasks: &[InteractiveTask]) -> usize {
    let simulator = FunctionDrivenSimulator::rule_based();
    let mut replies = 0;
    for task in tasks {
        let ambiguities = task.ambiguities();
        for question in probing_questions(task) {
            let reply = simulator.reply(task, &question).await.unwrap();
            let allowed: Vec<&str> = reply
                .action
                .ambiguity
                .filter(|_| reply.action.kind != ActionKind::Una)
                .map(|i| ambiguities[i].sql_snippet.as_str())
                .into_iter()
                .collect();
            let leaks = leaked_fragments(&reply.text, task, &allowed);
            assert!(
                leaks.is_empty(),
                "task {}: the reply to {question:?} leaks {leaks:?}: {}",
                task.instance_id,
                reply.text
            );
            assert!(!reply.text.contains(&task.sol_sql), "{}", task.instance_id);
            replies += 1;
        }
    }
    replies
}

/// The Spider folder and the task set built from it with the default options, or `None` (with
/// the reason printed) when ../shared has no Spider data.
async fn spider_tasks_or_skip(test: &str) -> Option<(PathBuf, Vec<InteractiveTask>)> {
    let spider = shared_data_or_skip(test)?.join("spider");
    if !spider.join("dev.json").is_file() {
        eprintln!("skipping {test}: no Spider data in {}", spider.display());
        return None;
    }
    let (tasks, summary) = build_spider_tasks(&BuildOptions::new(&spider))
        .await
        .unwrap();
    eprintln!("{summary:?}");
    Some((spider, tasks))
}

#[tokio::test]
async fn the_spider_set_is_large_spread_checked_and_never_leaks() {
    let Some((spider, tasks)) =
        spider_tasks_or_skip("the_spider_set_is_large_spread_checked_and_never_leaks").await
    else {
        return;
    };
    assert!(tasks.len() >= 300, "{} tasks", tasks.len());
    let databases: HashSet<&str> = tasks.iter().map(|t| t.db_id.as_str()).collect();
    assert!(databases.len() >= 40, "{} databases", databases.len());
    let dev_dbs: HashSet<&str> = tasks
        .iter()
        .filter(|t| t.split.as_deref() == Some("dev"))
        .map(|t| t.db_id.as_str())
        .collect();
    let train_dbs: HashSet<&str> = tasks
        .iter()
        .filter(|t| t.split.as_deref() == Some("train"))
        .map(|t| t.db_id.as_str())
        .collect();
    assert!(!dev_dbs.is_empty() && !train_dbs.is_empty());
    assert!(
        dev_dbs.is_disjoint(&train_dbs),
        "the splits share databases"
    );
    let kinds: HashSet<&str> = tasks
        .iter()
        .filter_map(|t| t.source.as_deref()?.rsplit(": ").next())
        .collect();
    assert!(kinds.len() >= 4, "{kinds:?}");
    let replies = assert_no_leaks(&tasks).await;
    eprintln!(
        "{} tasks, {} replies checked for leaks",
        tasks.len(),
        replies
    );

    // The same seed gives the same set.
    let (again, _) = build_spider_tasks(&BuildOptions::new(&spider))
        .await
        .unwrap();
    assert_eq!(tasks, again);
}

#[tokio::test]
async fn the_committed_reviewed_set_loads_and_never_leaks() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tasks/spider_reviewed.jsonl");
    let tasks = load_tasks(&path).unwrap();
    let reviewed = tasks.iter().filter(|t| t.reviewed).count();
    assert!(reviewed >= 30, "{reviewed} reviewed tasks");
    assert!(tasks.iter().all(|t| t.review_note.is_some() || !t.reviewed));
    assert_no_leaks(&tasks).await;
    assert_no_leaks(&demo_tasks().unwrap()).await;
}

/// What learnat's clarifier asks first about `question` on `database`, if anything.
async fn first_clarification(
    question: &str,
    database: Arc<dyn Database>,
    schema: &Schema,
) -> Option<String> {
    let tools = builtin_tools(Arc::clone(&database));
    let links = link_schema(question, None, schema, &tools, 4).await;
    let clarifier = Clarifier::new(ClarifierOptions::default());
    clarifier
        .clarify(question, schema, &links, database.as_ref(), None, &[])
        .await
        .map(|request| request.question)
}

/// The clarifier against the Spider-derived tasks, without a model: on how many ambiguous
/// questions does its first question get the user to explain the hidden piece (an AMB or LOC
/// reply), and how often does it ask about the clear question.
#[tokio::test]
async fn the_clarifier_asks_about_what_most_spider_tasks_hide() {
    let Some((spider, tasks)) =
        spider_tasks_or_skip("the_clarifier_asks_about_what_most_spider_tasks_hide").await
    else {
        return;
    };
    let databases = TaskDatabases::new(spider.join("database"));
    let simulator = FunctionDrivenSimulator::rule_based();
    let mut schemas: HashMap<String, (Arc<dyn Database>, Schema)> = HashMap::new();
    let mut per_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut answered, mut clear_asked) = (0, 0);
    for task in &tasks {
        if !schemas.contains_key(&task.db_id) {
            let database: Arc<dyn Database> = databases.open(&task.db_id).unwrap();
            let schema = introspect(database.as_ref(), &IntrospectOptions::default())
                .await
                .unwrap();
            schemas.insert(task.db_id.clone(), (database, schema));
        }
        let (database, schema) = &schemas[&task.db_id];
        let kind = task.source.as_deref().unwrap_or("").rsplit(": ").next();
        let entry = per_kind.entry(kind.unwrap_or("").to_string()).or_default();
        entry.1 += 1;
        if let Some(question) =
            first_clarification(&task.amb_user_query, Arc::clone(database), schema).await
        {
            let reply = simulator.reply(task, &question).await.unwrap();
            if reply.action.kind != ActionKind::Una {
                answered += 1;
                entry.0 += 1;
            }
        }
        if first_clarification(&task.clear_question, Arc::clone(database), schema)
            .await
            .is_some()
        {
            clear_asked += 1;
        }
    }
    let total = tasks.len();
    eprintln!(
        "first clarification answered on {answered}/{total} ambiguous questions \
         (by rewrite: {per_kind:?}); asked about {clear_asked}/{total} clear questions"
    );
    assert!(
        answered * 100 >= total * 85,
        "only {answered}/{total} first clarifications were about the hidden piece ({per_kind:?})"
    );
    assert!(
        clear_asked * 100 <= total * 15,
        "asked about {clear_asked}/{total} clear questions"
    );
}

/// The committed c-interact runs under `benchmarks/runs/` re-score, without a model, to the NR
/// the README's tables give, and asking closes at least half of the no-ask-to-oracle gap in them.
#[tokio::test]
async fn the_committed_c_interact_runs_rescore_to_the_reported_figures() {
    let Some((spider, tasks)) =
        spider_tasks_or_skip("the_committed_c_interact_runs_rescore_to_the_reported_figures").await
    else {
        return;
    };
    let gold = GoldChecker::new(TaskDatabases::new(spider.join("database")));
    let runs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benchmarks/runs");
    // (run folder, NR of clarify, no-ask and oracle) as the README reports them.
    let reported = [
        ("c-interact-0.5b-100", [45.03, 12.74, 52.29]),
        ("c-interact-1.5b-100", [57.43, 23.35, 69.83]),
    ];
    for (run, expected) in reported {
        let mut nr = [0.0; 3];
        for (i, agent) in ["clarify", "no-ask", "oracle"].into_iter().enumerate() {
            let path = runs.join(run).join(agent).join("transcripts.jsonl");
            let outcomes = read_transcripts(&path).unwrap();
            assert_eq!(outcomes.len(), 100, "{}", path.display());
            let replayed = replay(&outcomes, &tasks, &gold).await;
            assert!(
                replayed.mismatches.is_empty(),
                "{run}/{agent} re-scores differently: {:?}",
                replayed.mismatches
            );
            nr[i] = replayed.rescored.nr;
            assert!(
                (nr[i] - expected[i]).abs() < 0.006,
                "{run}/{agent}: NR {:.2}, the README says {:.2}",
                nr[i],
                expected[i]
            );
        }
        let gap = gap_closed(nr[0], nr[1], nr[2]).unwrap();
        eprintln!("{run}: asking closes {:.0}% of the gap", 100.0 * gap);
        assert!(gap >= 0.5, "{run}: asking closes only {gap:.2} of the gap");
    }
}
