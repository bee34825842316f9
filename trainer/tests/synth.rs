//! The synthesis procedure with a scripted teacher (recorded answers): search, pruning classes,
//! rewards, the ablation, the output files and resuming, all deterministic and offline.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use indicatif::ProgressBar;
use learnat_agent::model::scripted::{
    Cassette, Interaction, ReplayMode, ScriptedModel, ScriptedResponse,
};
use learnat_agent::model::{ChatModel, Role};
use learnat_agent::strategy::{StrategyInput, build_strategy};
use learnat_tools::schema::{IntrospectOptions, introspect};
use learnat_tools::sql::{StepClass, sql_tree, step_reward};
use learnat_tools::{Database, Dialect};
use learnat_trainer::synth::output::{QuestionRecord, read_jsonl};
use learnat_trainer::synth::search::{SearchInput, search};
use learnat_trainer::synth::{
    PairRecord, RejectedClass, SearchOptions, SftRecord, SynthOptions, SynthStats, Teacher,
    decompose_prompt, judge::Judge, run_synthesis, student_options,
};

const GOLD: &str = "SELECT name FROM singer WHERE country = 'France' AND age > 30";
const QUESTION: &str = "What are the names of the singers from France who are older than 30?";

/// Steps the scripted teacher proposes.
const FRANCE: &str = "Sub question 1: Which singers are from France?\nSubSQL1: ```sql SELECT name \
                      FROM singer WHERE country = 'France'```";
const GERMANY: &str = "Sub question 1: Which singers are from Germany?\nSubSQL1: ```sql SELECT \
                       name FROM singer WHERE country = 'Germany'```";
/// Close to the gold, but the column does not exist: invalid, with a high reward.
const TYPO: &str = "Sub question 1: Which French singers are over 30?\nSubSQL1: ```sql SELECT \
                    name FROM singer WHERE country = 'France' AND agee > 30```";
const AGAIN: &str = "Sub question 2: Which singers are from France?\nSubSQL2: ```sql SELECT name \
                     FROM singer WHERE country = 'France'```";
const ANSWER: &str = "Sub question 2: Which of them are older than 30?\nSubSQL2: ```sql SELECT \
                      name FROM singer WHERE country = 'France' AND age > 30```";

/// A Spider-like folder: `database/music/music.sqlite` and `train_spider.json` with the
/// question above and one on a database that is missing.
fn spider_folder(dir: &Path) {
    let db_dir = dir.join("database/music");
    std::fs::create_dir_all(&db_dir).unwrap();
    let connection = rusqlite::Connection::open(db_dir.join("music.sqlite")).unwrap();
    connection
        .execute_batch(
            "CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, country TEXT, \
             age INTEGER);
             INSERT INTO singer VALUES (1, 'Ana', 'France', 25), (2, 'Jo', 'France', 41),
               (3, 'Max', 'Germany', 35), (4, 'Lea', 'France', 52);",
        )
        .unwrap();
    let items = serde_json::json!([
        {"question": QUESTION, "query": GOLD, "db_id": "music"},
        {"question": "How many rows?", "query": "SELECT count(*) FROM t", "db_id": "absent"},
    ]);
    std::fs::write(dir.join("train_spider.json"), items.to_string()).unwrap();
}

/// A teacher that answers the i-th request with the i-th list of k texts.
fn teacher_script(requests: &[&[&str]]) -> Arc<ScriptedModel> {
    let mut cassette = Cassette::new("scripted teacher", ReplayMode::InOrder);
    cassette.interactions = requests
        .iter()
        .map(|texts| Interaction {
            request_hash: None,
            request: None,
            responses: texts
                .iter()
                .map(|t| ScriptedResponse::Text(t.to_string()))
                .collect(),
        })
        .collect();
    Arc::new(ScriptedModel::new(cassette))
}

fn options(ast_pruning: bool) -> SearchOptions {
    SearchOptions {
        simulations: 10,
        k: 3,
        ast_pruning,
        ..SearchOptions::default()
    }
}

async fn open(dir: &Path) -> (Arc<dyn Database>, learnat_tools::schema::Schema) {
    let path = dir.join("database/music/music.sqlite");
    let database = learnat_tools::database::open_database(&path.to_string_lossy())
        .await
        .unwrap();
    let schema = introspect(database.as_ref(), &IntrospectOptions::default())
        .await
        .unwrap();
    (database, schema)
}

/// What [`run_search`] leaves for a test to look at.
struct SearchRun {
    outcome: learnat_trainer::synth::search::SearchOutcome,
    script: Arc<ScriptedModel>,
    database: Arc<dyn Database>,
    schema: learnat_tools::schema::Schema,
}

/// One search for [`QUESTION`] on a Spider folder written into `dir`, with a teacher that
/// answers `answers` (one list per request).
async fn run_search(
    dir: &Path,
    answers: &[&[&str]],
    options: SearchOptions,
    id: &str,
) -> SearchRun {
    spider_folder(dir);
    let (database, schema) = open(dir).await;
    let script = teacher_script(answers);
    let model: Arc<dyn ChatModel> = script.clone();
    let teacher = Teacher::new(Arc::clone(&model), 1, 0.8, 256);
    let judge = Judge::new(Arc::clone(&database), GOLD, 0.5, Duration::from_secs(5))
        .await
        .unwrap();
    let prompt = decompose_prompt(&model, &database, &schema, QUESTION, "music", &options)
        .await
        .unwrap();
    let outcome = search(SearchInput {
        id,
        prompt: &prompt,
        teacher: &teacher,
        judge: &judge,
        options: &options,
    })
    .await
    .unwrap();
    SearchRun {
        outcome,
        script,
        database,
        schema,
    }
}

fn reward(sql: &str) -> f64 {
    let tree = |s| sql_tree(s, Dialect::Sqlite).unwrap();
    step_reward(&tree(sql), &tree(GOLD), 0.5)
}

#[tokio::test]
async fn the_search_prunes_and_stops_at_the_execution_match() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_search(
        dir.path(),
        &[&[FRANCE, GERMANY, TYPO], &[AGAIN, ANSWER, ANSWER]],
        options(true),
        "train_00000",
    )
    .await;
    let SearchRun {
        outcome,
        script,
        database,
        schema,
    } = run;
    let options = options(true);

    // Root children: France (progressive), Germany (invalid: not in the gold AST), the typo
    // (invalid: does not execute, though it scores highest). Pruning expands France only.
    let root = &outcome.nodes[0];
    let classes: Vec<StepClass> = root
        .children
        .iter()
        .map(|&c| outcome.nodes[c].class().unwrap())
        .collect();
    assert_eq!(
        classes,
        [
            StepClass::Progressive,
            StepClass::Invalid,
            StepClass::Invalid
        ]
    );
    let typo = &outcome.nodes[root.children[2]];
    assert!(typo.reward() > outcome.nodes[root.children[0]].reward());
    assert!(
        !typo.expanded,
        "an invalid step is never expanded with pruning"
    );
    assert!(outcome.nodes[root.children[0]].expanded);

    // Second expansion: the repeat is redundant, the answer matches, the copy is dropped.
    let solved = outcome.solved.expect("solved");
    assert_eq!(outcome.path_to(solved), vec![root.children[0], solved]);
    assert_eq!(
        outcome.usage.calls, 2,
        "the search stops at the first match"
    );
    assert_eq!(outcome.simulations, 2);
    assert_eq!(outcome.duplicates, 1);
    assert_eq!(
        (
            outcome.classes.progressive,
            outcome.classes.redundant,
            outcome.classes.invalid
        ),
        (2, 1, 2)
    );
    // Rewards are LearNAT's α·node + (1 − α)·TED similarity to the gold; the match is 1.
    let france = &outcome.nodes[root.children[0]];
    let france_sql = "SELECT name FROM singer WHERE country = 'France'";
    assert!((france.reward() - reward(france_sql)).abs() < 1e-12);
    assert!((outcome.nodes[solved].reward() - 1.0).abs() < 1e-12);
    // UCT bookkeeping: the root was visited twice; each expansion added its best kept value
    // (the pruned typo's higher reward does not count).
    assert_eq!(outcome.nodes[0].visits, 2);
    assert!((outcome.nodes[0].value - (france.reward() + 1.0)).abs() < 1e-9);

    // The teacher never sees the gold SQL, and the second request carries step 1's result.
    let requests = script.requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        for message in request {
            assert!(!message.content.contains("age > 30"), "{}", message.content);
        }
    }
    let second = &requests[1];
    assert_eq!(second.len(), 4);
    assert_eq!(second[2].role, Role::Assistant);
    assert!(
        second[2]
            .content
            .starts_with("Sub question 1: Which singers are from France?")
    );
    assert!(
        second[3].content.starts_with("Result of SubSQL1:"),
        "{}",
        second[3].content
    );
    assert!(second[3].content.contains("Continue with Sub question 2"));

    // The teacher's first request is exactly what the decompose strategy sends the student.
    let student = Arc::new(ScriptedModel::in_order([ANSWER.replace('2', "1")]));
    let student_model: Arc<dyn ChatModel> = student.clone();
    let strategy = build_strategy("decompose", student_options(&options), None).unwrap();
    let mut input = StrategyInput::new(QUESTION, &database, &schema);
    input.db_id = Some("music");
    let _ = strategy.answer(&student_model, &input).await;
    assert_eq!(student.requests()[0], requests[0]);
}

#[tokio::test]
async fn without_pruning_the_highest_reward_step_expands_even_when_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_search(
        dir.path(),
        &[&[FRANCE, GERMANY, TYPO], &[AGAIN, ANSWER, ANSWER]],
        options(false),
        "train_00000",
    )
    .await;
    let SearchRun {
        outcome, script, ..
    } = run;
    let typo = outcome.nodes[0].children[2];
    assert!(outcome.nodes[typo].expanded, "UCT picked the best reward");
    let solved = outcome.solved.expect("solved");
    assert_eq!(outcome.path_to(solved), vec![typo, solved]);
    // The teacher was shown the failure of the invalid step.
    let second = &script.requests()[1];
    assert!(
        second[3].content.starts_with("SubSQL1 failed:"),
        "{}",
        second[3].content
    );
}

#[tokio::test]
async fn pruning_ends_the_search_when_nothing_is_progressive() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_search(
        dir.path(),
        &[&[GERMANY, TYPO, "I do not know."]],
        SearchOptions {
            simulations: 50,
            ..options(true)
        },
        "q",
    )
    .await;
    let outcome = run.outcome;
    assert!(outcome.solved.is_none());
    assert_eq!(
        outcome.usage.calls, 1,
        "one expansion, then nothing is open"
    );
    assert_eq!(outcome.classes.invalid, 3);
    assert!(outcome.nodes[0].dead);
    // An answer with no SQL is an invalid step with reward 0.
    assert_eq!(outcome.nodes[outcome.nodes[0].children[2]].reward(), 0.0);
}

fn synth_options(dir: &Path, ast_pruning: bool) -> SynthOptions {
    SynthOptions {
        data: dir.to_path_buf(),
        split: "train".into(),
        out: dir.join("out"),
        limit: None,
        jobs: 2,
        teacher_concurrency: 1,
        teacher_spec: "replay:test".into(),
        search: options(ast_pruning),
        step_timeout: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn a_run_writes_sft_pairs_trl_exports_and_stats_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    spider_folder(dir.path());
    let options = synth_options(dir.path(), true);
    let script = teacher_script(&[&[FRANCE, GERMANY, TYPO], &[AGAIN, ANSWER, ANSWER]]);
    let stats = run_synthesis(&options, script.clone(), &ProgressBar::hidden())
        .await
        .unwrap();
    let out = &options.out;

    // One solved question, one whose database is missing.
    assert_eq!((stats.questions, stats.errors, stats.solved), (2, 1, 1));
    assert_eq!(stats.solved_fraction, 1.0);
    assert_eq!(stats.mean_depth, 2.0);
    assert_eq!(stats.teacher_totals.calls, 2);
    assert_eq!(stats.candidates, 5);
    assert!((stats.pruned_fraction.invalid - 0.4).abs() < 1e-12);
    assert!((stats.pruned_fraction.redundant - 0.2).abs() < 1e-12);

    let (sft, _) = read_jsonl::<SftRecord>(&out.join("sft.jsonl")).unwrap();
    assert_eq!(sft.len(), 1);
    let messages = &sft[0].messages;
    assert_eq!(
        messages.iter().map(|m| m.role).collect::<Vec<_>>(),
        [Role::System, Role::User, Role::Assistant]
    );
    assert_eq!(
        messages[2].content,
        "Sub question 1: Which singers are from France?\n\
         SubSQL1: ```sql SELECT name FROM singer WHERE country = 'France' ```\n\
         Sub question 2: Which of them are older than 30?\n\
         SubSQL2: ```sql SELECT name FROM singer WHERE country = 'France' AND age > 30 ```\n\
         Final SQL: ```sql SELECT name FROM singer WHERE country = 'France' AND age > 30 ```\n"
    );

    // Pairs: step 1 against the two invalid siblings that score lower (the typo scores
    // higher than the chosen step, so it gives no pair), step 2 against the redundant repeat.
    let (pairs, _) = read_jsonl::<PairRecord>(&out.join("pairs.jsonl")).unwrap();
    let summary: Vec<(RejectedClass, bool)> = pairs
        .iter()
        .map(|p| (p.rejected_class, p.prefix.is_empty()))
        .collect();
    assert_eq!(
        summary,
        [
            (RejectedClass::Invalid, true),
            (RejectedClass::Redundant, false)
        ]
    );
    for pair in &pairs {
        assert!(pair.margin > 0.0);
        assert!((pair.margin - (pair.chosen_reward - pair.rejected_reward)).abs() < 1e-12);
        assert_eq!(pair.prompt, messages[..2].to_vec());
        assert!(
            messages[2]
                .content
                .starts_with(&format!("{}{}", pair.prefix, pair.chosen))
        );
    }
    assert!(pairs[0].rejected.contains("'Germany'"));
    assert!(
        pairs[1]
            .prefix
            .starts_with("Sub question 1: Which singers are from France?")
    );

    // TRL exports.
    let trl_sft = std::fs::read_to_string(out.join("trl_sft.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(trl_sft.trim()).unwrap();
    assert_eq!(line["messages"].as_array().unwrap().len(), 3);
    let trl_dpo = std::fs::read_to_string(out.join("trl_dpo.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = trl_dpo
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["chosen"][0]["role"], "assistant");
    assert_eq!(
        lines[1]["chosen"][0]["content"].as_str().unwrap(),
        format!("{}{}", pairs[1].prefix, pairs[1].chosen)
    );
    assert_eq!(lines[1]["prompt"].as_array().unwrap().len(), 2);
    assert!(lines[1]["margin"].as_f64().unwrap() > 0.0);
    let on_disk: SynthStats =
        serde_json::from_str(&std::fs::read_to_string(out.join("stats.json")).unwrap()).unwrap();
    assert_eq!(on_disk.solved, 1);

    // A kill mid-write leaves a cut line and lines of a question without a record: resuming
    // drops them and skips the done questions (a teacher with no answers is never called).
    let mut sft_text = std::fs::read_to_string(out.join("sft.jsonl")).unwrap();
    sft_text.push_str(
        &serde_json::to_string(&SftRecord {
            id: "train_99999".into(),
            ..sft[0].clone()
        })
        .unwrap(),
    );
    sft_text.push('\n');
    std::fs::write(out.join("sft.jsonl"), sft_text).unwrap();
    let mut questions = std::fs::read_to_string(out.join("questions.jsonl")).unwrap();
    questions.push_str("{\"id\": \"train_99");
    std::fs::write(out.join("questions.jsonl"), questions).unwrap();
    let silent = teacher_script(&[]);
    let again = run_synthesis(&options, silent.clone(), &ProgressBar::hidden())
        .await
        .unwrap();
    assert!(silent.requests().is_empty());
    assert_eq!(again.skipped_done, 2);
    assert_eq!((again.questions, again.solved, again.pairs), (2, 1, 2));
    let (sft, _) = read_jsonl::<SftRecord>(&out.join("sft.jsonl")).unwrap();
    assert_eq!(sft.len(), 1);
    let (records, cut) = read_jsonl::<QuestionRecord>(&out.join("questions.jsonl")).unwrap();
    assert_eq!((records.len(), cut), (2, false));
    let missing = records.iter().find(|r| r.id == "train_00001").unwrap();
    assert!(missing.error.as_deref().unwrap().contains("absent.sqlite"));

    // Another setting is not mixed into the same folder.
    let other = SynthOptions {
        search: SearchOptions {
            alpha: 0.3,
            ..options.search.clone()
        },
        ..options.clone()
    };
    let error = run_synthesis(&other, teacher_script(&[]), &ProgressBar::hidden())
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("other settings"), "{error}");
}

#[tokio::test]
async fn the_ablation_records_no_pruning() {
    let dir = tempfile::tempdir().unwrap();
    spider_folder(dir.path());
    let options = SynthOptions {
        limit: Some(1),
        ..synth_options(dir.path(), false)
    };
    let script = teacher_script(&[&[FRANCE, GERMANY, TYPO], &[AGAIN, ANSWER, ANSWER]]);
    let stats = run_synthesis(&options, script, &ProgressBar::hidden())
        .await
        .unwrap();
    assert!(!stats.ast_pruning);
    assert_eq!(stats.solved, 1);
    assert_eq!(stats.pruned_fraction.invalid, 0.0);
    assert!(stats.class_fractions.invalid > 0.0);
    // The correct trajectory went through the invalid typo step.
    let (records, _) = read_jsonl::<QuestionRecord>(&options.out.join("questions.jsonl")).unwrap();
    assert_eq!(records[0].trajectory[0].class, StepClass::Invalid);
}
