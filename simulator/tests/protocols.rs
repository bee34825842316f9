//! The protocols end to end on the demo shop, with scripted agents and scripted model
//! responses: rewards, budgets, costs, the three learnat agent variants, resuming a run, and
//! replaying its transcript.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use learnat_agent::model::scripted::ScriptedModel;
use learnat_agent::strategy::{StrategyOptions, build_strategy};
use learnat_simulator::learnat_agent::{AgentVariant, LearnatAgent};
use learnat_simulator::protocol::{
    ActionCosts, AgentMove, DEFAULT_PATIENCE, Episode, EpisodeSetup, Event, InteractiveAgent, Mode,
    Observation, TaskContext, TaskOutcome, run_episode,
};
use learnat_simulator::replay::replay;
use learnat_simulator::run::{
    RunInfo, RunOptions, TRANSCRIPTS_FILE, read_transcripts, run_agents, run_tasks,
};
use learnat_simulator::scoring::GoldChecker;
use learnat_simulator::task::{InteractiveTask, TaskDatabases, demo_tasks};
use learnat_simulator::user_sim::{ActionKind, FunctionDrivenSimulator};
use learnat_tools::demo::{DEMO_SEED, create_demo_database};

struct Shop {
    _dir: tempfile::TempDir,
    gold: GoldChecker,
    tasks: Vec<InteractiveTask>,
}

fn shop() -> Shop {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shop/shop.sqlite");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    create_demo_database(&db, DEMO_SEED).unwrap();
    Shop {
        gold: GoldChecker::new(TaskDatabases::new(dir.path())),
        tasks: demo_tasks().unwrap(),
        _dir: dir,
    }
}

impl Shop {
    fn task(&self, id: &str) -> &InteractiveTask {
        self.tasks.iter().find(|t| t.instance_id == id).unwrap()
    }

    async fn play(&self, mode: Mode, agent: &dyn InteractiveAgent, id: &str) -> TaskOutcome {
        let task = self.task(id);
        let simulator = FunctionDrivenSimulator::rule_based();
        let setup = EpisodeSetup {
            task,
            database: self.gold.databases().open(&task.db_id).unwrap(),
            gold: &self.gold,
            simulator: &simulator,
            patience: DEFAULT_PATIENCE,
            costs: ActionCosts::default(),
        };
        run_episode(mode, agent, &setup).await
    }
}

/// An agent that plays a fixed list of moves and records what it was told.
struct Scripted {
    moves: Vec<AgentMove>,
    seen: Arc<Mutex<Vec<Observation>>>,
    starts: Arc<Mutex<usize>>,
}

impl Scripted {
    fn new(moves: Vec<AgentMove>) -> Scripted {
        Scripted {
            moves,
            seen: Arc::default(),
            starts: Arc::default(),
        }
    }
}

struct ScriptedEpisode {
    moves: std::vec::IntoIter<AgentMove>,
    seen: Arc<Mutex<Vec<Observation>>>,
}

#[async_trait]
impl InteractiveAgent for Scripted {
    fn name(&self) -> String {
        "scripted".into()
    }

    async fn start(&self, _context: TaskContext) -> learnat_simulator::SimResult<Box<dyn Episode>> {
        *self.starts.lock().unwrap() += 1;
        Ok(Box::new(ScriptedEpisode {
            moves: self.moves.clone().into_iter(),
            seen: Arc::clone(&self.seen),
        }))
    }
}

#[async_trait]
impl Episode for ScriptedEpisode {
    async fn next(&mut self, observation: &Observation) -> learnat_simulator::SimResult<AgentMove> {
        self.seen.lock().unwrap().push(observation.clone());
        Ok(self.moves.next().unwrap_or(AgentMove::Invalid {
            reason: "script ended".into(),
        }))
    }
}

fn ask(question: &str) -> AgentMove {
    AgentMove::Ask {
        question: question.into(),
    }
}

fn submit(sql: &str) -> AgentMove {
    AgentMove::Submit { sql: sql.into() }
}

#[tokio::test]
async fn c_interact_asks_debugs_and_follows_up() {
    let shop = shop();
    let task = shop.task("shop_34").clone();
    let follow_up = task.follow_up.clone().unwrap();
    let agent = Scripted::new(vec![
        ask("What do you mean by 'best customers'?"),
        submit("SELECT 1"),
        submit(&task.sol_sql),
        submit(&follow_up.sol_sql),
    ]);
    let outcome = shop.play(Mode::CInteract, &agent, "shop_34").await;
    assert!((outcome.score.reward - 0.8).abs() < 1e-9, "{outcome:?}");
    assert_eq!(outcome.score.first.attempt, Some(1));
    assert_eq!(outcome.score.follow_up.and_then(|p| p.attempt), Some(0));
    let Event::Ask { reply, .. } = &outcome.events[1] else {
        panic!("{:?}", outcome.events);
    };
    assert_eq!(reply.action.kind, ActionKind::Amb);
    assert!(
        reply.text.contains("ORDER BY total_paid DESC"),
        "{}",
        reply.text
    );
    let seen = agent.seen.lock().unwrap();
    assert_eq!(
        seen[0],
        Observation::Question {
            text: task.amb_user_query.clone()
        }
    );
    assert!(matches!(&seen[2], Observation::Feedback { .. }));
    assert_eq!(
        seen[3],
        Observation::Question {
            text: follow_up.query
        }
    );
    assert!(matches!(outcome.events.last(), Some(Event::End { reason }) if reason == "solved"));
}

#[tokio::test]
async fn c_interact_refuses_questions_beyond_the_budget_and_stops_after_two_failures() {
    let shop = shop();
    // shop_34 has 2 annotated ambiguities: budget 2 + 3 = 5.
    let agent = Scripted::new(vec![ask("Which one?"); 7]);
    let outcome = shop.play(Mode::CInteract, &agent, "shop_34").await;
    assert_eq!(outcome.asks, 5);
    assert_eq!(outcome.budget, 5.0);
    let refused = outcome
        .events
        .iter()
        .filter(|e| matches!(e, Event::AskRefused { .. }))
        .count();
    assert_eq!(refused, 2);
    assert_eq!(outcome.score.reward, 0.0);

    let agent = Scripted::new(vec![
        submit("SELECT 1"),
        submit("SELECT 2"),
        submit("SELECT 3"),
    ]);
    let outcome = shop.play(Mode::CInteract, &agent, "shop_34").await;
    let submissions = outcome
        .events
        .iter()
        .filter(|e| matches!(e, Event::Submit { .. }))
        .count();
    assert_eq!(submissions, 2, "one debug retry only");
    assert!(
        matches!(outcome.events.last(), Some(Event::End { reason }) if reason.contains("debug"))
    );
}

#[tokio::test]
async fn a_interact_charges_every_action_within_the_budget() {
    let shop = shop();
    let task = shop.task("shop_34").clone();
    let agent = Scripted::new(vec![
        AgentMove::GetSchema,
        AgentMove::ExecuteSql {
            sql: "SELECT COUNT(*) FROM customers".into(),
        },
        AgentMove::ColumnMeaning {
            table: "orders".into(),
            column: "status".into(),
        },
        AgentMove::Invalid {
            reason: "garbled".into(),
        },
        ask("What do you mean by 'best customers'?"),
        submit(&task.sol_sql),
        submit(&task.follow_up.clone().unwrap().sol_sql),
    ]);
    let outcome = shop.play(Mode::AInteract, &agent, "shop_34").await;
    assert_eq!(outcome.budget, 13.0);
    assert!((outcome.spent - 10.7).abs() < 1e-9, "{}", outcome.spent);
    assert!((outcome.score.reward - 1.0).abs() < 1e-9);
    let tool_outputs: Vec<&str> = outcome
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Tool { output, .. } => Some(output.as_str()),
            _ => None,
        })
        .collect();
    assert!(tool_outputs[0].contains("customers"), "{}", tool_outputs[0]);
    assert!(
        tool_outputs[1]
            .lines()
            .nth(1)
            .is_some_and(|l| l.parse::<i64>().is_ok())
    );
    assert!(
        tool_outputs[2].contains("orders.status"),
        "{}",
        tool_outputs[2]
    );

    // Wrong submissions at 3 each: the fifth would pass 13.
    let agent = Scripted::new(vec![submit("SELECT 1"); 6]);
    let outcome = shop.play(Mode::AInteract, &agent, "shop_34").await;
    assert_eq!(outcome.spent, 12.0);
    assert_eq!(outcome.score.reward, 0.0);
    assert!(
        matches!(outcome.events.last(), Some(Event::End { reason }) if reason.contains("budget"))
    );
}

fn learnat(variant: AgentVariant, responses: Vec<String>) -> (LearnatAgent, Arc<ScriptedModel>) {
    let model = Arc::new(ScriptedModel::in_order(responses));
    let strategy = build_strategy(
        "zero-shot",
        StrategyOptions::defaults_for("zero-shot"),
        None,
    )
    .unwrap();
    (LearnatAgent::new(model.clone(), strategy, variant), model)
}

fn sql_block(sql: &str) -> String {
    format!("```sql\n{sql}\n```")
}

#[tokio::test]
async fn the_learnat_variants_ask_answer_or_get_the_clear_question() {
    let shop = shop();
    let task = shop.task("shop_34").clone();
    let follow_up = task.follow_up.clone().unwrap();
    let answers = vec![sql_block(&task.sol_sql), sql_block(&follow_up.sol_sql)];

    let (agent, _) = learnat(AgentVariant::NoAsk, answers.clone());
    let outcome = shop.play(Mode::CInteract, &agent, "shop_34").await;
    assert_eq!(outcome.asks, 0);
    assert!(
        (outcome.score.reward - 1.0).abs() < 1e-9,
        "{:?}",
        outcome.events
    );

    let (agent, model) = learnat(AgentVariant::Clarify, answers.clone());
    let outcome = shop.play(Mode::CInteract, &agent, "shop_34").await;
    assert!(outcome.asks >= 1, "{:?}", outcome.events);
    let Event::Ask { reply, .. } = &outcome.events[1] else {
        panic!("{:?}", outcome.events);
    };
    assert_eq!(reply.action.kind, ActionKind::Amb, "{reply:?}");
    // The user's answer reaches the model's prompt.
    let prompt: String = model.requests()[0]
        .iter()
        .map(|m| m.content.clone())
        .collect();
    assert!(prompt.contains(&reply.text), "{prompt}");
    assert!(
        (outcome.score.reward - 1.0).abs() < 1e-9,
        "{:?}",
        outcome.events
    );

    let (agent, model) = learnat(AgentVariant::Oracle, answers);
    let outcome = shop.play(Mode::AInteract, &agent, "shop_34").await;
    assert_eq!(
        outcome.events[0],
        Event::UserQuestion {
            phase: 1,
            text: task.clear_question.clone()
        }
    );
    let prompt: String = model.requests()[0]
        .iter()
        .map(|m| m.content.clone())
        .collect();
    assert!(prompt.contains(&task.clear_question));
    assert!(!prompt.contains(&task.amb_user_query));
    assert_eq!(outcome.asks, 0);
}

fn info() -> RunInfo {
    RunInfo {
        mode: Mode::CInteract,
        agent: "scripted".into(),
        user_sim: "rule".into(),
        model: "none".into(),
        strategy: "none".into(),
        relink: true,
        patience: DEFAULT_PATIENCE,
        tasks_file: "demo".into(),
        tasks_sha256: "0".into(),
        databases: "tmp".into(),
    }
}

#[tokio::test]
async fn a_run_resumes_from_its_transcripts_and_replays_to_the_same_numbers() {
    let shop = shop();
    let out = tempfile::tempdir().unwrap();
    let tasks: Vec<InteractiveTask> = shop.tasks.iter().take(4).cloned().collect();
    let first_sql = tasks[0].sol_sql.clone();
    let options = RunOptions {
        mode: Mode::CInteract,
        patience: DEFAULT_PATIENCE,
        costs: ActionCosts::default(),
        jobs: 2,
        out: Some(out.path().to_path_buf()),
        info: info(),
        progress: false,
    };
    let simulator = Arc::new(FunctionDrivenSimulator::rule_based());
    let agent = Arc::new(Scripted::new(vec![
        ask("What do you mean?"),
        submit(&first_sql),
    ]));
    let outcomes = run_tasks(
        &tasks,
        agent.clone(),
        simulator.clone(),
        &shop.gold,
        &options,
    )
    .await
    .unwrap();
    assert_eq!(outcomes.len(), 4);
    assert_eq!(*agent.starts.lock().unwrap(), 4);
    assert!(outcomes[0].score.first.solved);
    assert!(!outcomes[1].score.first.solved);

    let again = Arc::new(Scripted::new(vec![]));
    let resumed = run_tasks(&tasks, again.clone(), simulator, &shop.gold, &options)
        .await
        .unwrap();
    assert_eq!(
        *again.starts.lock().unwrap(),
        0,
        "every task came from the transcript"
    );
    assert_eq!(resumed, outcomes);

    let recorded = read_transcripts(&out.path().join(TRANSCRIPTS_FILE)).unwrap();
    let replayed = replay(&recorded, &tasks, &shop.gold).await;
    assert!(replayed.mismatches.is_empty(), "{:?}", replayed.mismatches);
    assert_eq!(replayed.recorded.nr, replayed.rescored.nr);
    assert_eq!(replayed.recorded.sr_first, replayed.rescored.sr_first);

    // A transcript that claims a wrong submission was right is caught.
    let mut tampered = recorded.clone();
    for outcome in &mut tampered {
        for event in &mut outcome.events {
            if let Event::Submit { correct, .. } = event {
                *correct = true;
            }
        }
        outcome.score =
            learnat_simulator::protocol::score_events(outcome.mode, &outcome.events, true);
    }
    let replayed = replay(&tampered, &tasks, &shop.gold).await;
    assert!(!replayed.mismatches.is_empty());

    // Another run in the same folder is refused.
    let other = RunOptions {
        info: RunInfo {
            agent: "other".into(),
            ..info()
        },
        ..options
    };
    let refused = run_tasks(
        &tasks,
        Arc::new(Scripted::new(vec![])),
        Arc::new(FunctionDrivenSimulator::rule_based()),
        &shop.gold,
        &other,
    )
    .await;
    assert!(refused.is_err());
}

/// An agent that notes which task it starts, under its name, in a shared log.
struct Logging {
    name: &'static str,
    log: Arc<Mutex<Vec<String>>>,
}

#[async_trait]
impl InteractiveAgent for Logging {
    fn name(&self) -> String {
        self.name.into()
    }

    async fn start(&self, context: TaskContext) -> learnat_simulator::SimResult<Box<dyn Episode>> {
        self.log
            .lock()
            .unwrap()
            .push(format!("{} {}", self.name, context.instance_id));
        Ok(Box::new(ScriptedEpisode {
            moves: vec![submit("SELECT 1")].into_iter(),
            seen: Arc::default(),
        }))
    }
}

#[tokio::test]
async fn several_agents_take_turns_task_by_task_each_into_its_own_folder() {
    let shop = shop();
    let out = tempfile::tempdir().unwrap();
    let tasks: Vec<InteractiveTask> = shop.tasks.iter().take(3).cloned().collect();
    let log = Arc::new(Mutex::new(Vec::new()));
    let options = |name: &str| RunOptions {
        mode: Mode::CInteract,
        patience: DEFAULT_PATIENCE,
        costs: ActionCosts::default(),
        jobs: 1,
        out: Some(out.path().join(name)),
        info: RunInfo {
            agent: name.into(),
            ..info()
        },
        progress: false,
    };
    let (first, second) = (options("first"), options("second"));
    let agent = |name: &'static str| -> Arc<dyn InteractiveAgent> {
        Arc::new(Logging {
            name,
            log: Arc::clone(&log),
        })
    };
    let runs = [(agent("first"), first), (agent("second"), second)];
    let simulator = Arc::new(FunctionDrivenSimulator::rule_based());
    let outcomes = run_agents(&tasks, &runs, simulator.clone(), &shop.gold)
        .await
        .unwrap();

    let expected: Vec<String> = tasks
        .iter()
        .flat_map(|t| {
            ["first", "second"]
                .into_iter()
                .map(move |name| format!("{name} {}", t.instance_id))
        })
        .collect();
    assert_eq!(
        *log.lock().unwrap(),
        expected,
        "the agents alternate per task"
    );
    assert_eq!(outcomes.len(), 2);
    for (name, outcomes) in ["first", "second"].into_iter().zip(&outcomes) {
        let ids: Vec<&str> = outcomes.iter().map(|o| o.instance_id.as_str()).collect();
        let wanted: Vec<&str> = tasks.iter().map(|t| t.instance_id.as_str()).collect();
        assert_eq!(ids, wanted);
        assert!(outcomes.iter().all(|o| o.agent == name));
        let recorded = read_transcripts(&out.path().join(name).join(TRANSCRIPTS_FILE)).unwrap();
        assert_eq!(recorded.len(), 3, "{name} wrote its own transcripts");
    }

    // A second pass resumes both runs from their folders and plays nothing.
    log.lock().unwrap().clear();
    let again = run_agents(&tasks, &runs, simulator, &shop.gold)
        .await
        .unwrap();
    assert!(log.lock().unwrap().is_empty());
    assert_eq!(again, outcomes);
}
