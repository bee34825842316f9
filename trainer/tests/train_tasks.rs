//! Training does what it should on tiny tasks: SFT drives the loss down and changes the greedy
//! output (in the trainer and in the agent loading the adapter), MDPO / DPO widen the
//! chosen-vs-rejected margin, a resumed run equals an uninterrupted one, and GRPO runs with
//! execution rewards on a real SQLite database.

mod train_common;

use std::path::Path;

use candle_core::DType;
use learnat_agent::model::gguf::adapter::TargetModule;
use learnat_agent::model::gguf::tiny::write_tiny_gguf;
use learnat_agent::model::gguf::{GgufModel, GgufOptions, ModelFamily};
use learnat_agent::{ChatMessage, ChatModel, GenerationParams};
use learnat_tools::sqlite::SqliteDatabase;
use learnat_trainer::train::data::{Encoder, read_sft};
use learnat_trainer::train::grpo::{
    Gold, GrpoOptions, GrpoTask, REWARD_CORRECT, REWARD_ERROR, REWARD_EXECUTES, execution_reward,
    sample_completion, train_grpo,
};
use learnat_trainer::train::lora::{LoraSettings, Policy};
use learnat_trainer::train::model::{TrainModel, load_gguf_base};
use learnat_trainer::train::objectives::{GrpoSettings, PreferenceObjective, Sequence};
use learnat_trainer::train::optim::AdamWSettings;
use learnat_trainer::train::run::{
    LOG_FILE, PairSequences, RunOptions, reference_logprob, train_preference, train_sft,
};
use train_common::micro_model;

fn options(out: &Path, lr: f64) -> RunOptions {
    RunOptions {
        optimizer: AdamWSettings {
            lr,
            ..AdamWSettings::default()
        },
        ..RunOptions::new(out)
    }
}

#[test]
fn sft_on_a_tiny_task_lowers_the_loss_and_changes_the_greedy_answer() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("tiny.gguf");
    write_tiny_gguf(&gguf, ModelFamily::Qwen2, 3).unwrap();
    let base = load_gguf_base(&gguf, DType::F32).unwrap();
    let data = dir.path().join("sft.jsonl");
    let line = r#"{"id":1,"db_id":"shop","question":"list the users","messages":[{"role":"user","content":"list the users"},{"role":"assistant","content":"SELECT * FROM users"}]}"#;
    std::fs::write(&data, format!("{line}\n")).unwrap();
    let records = read_sft(&data).unwrap();
    let encoder = Encoder {
        tokenizer: &base.tokenizer,
        template: &base.template,
    };
    let sequences: Vec<Sequence> = records
        .iter()
        .map(|(_, r)| encoder.sft(r).unwrap())
        .collect();
    let settings = LoraSettings {
        rank: 8,
        alpha: 16.0,
        dropout: 0.0,
        targets: TargetModule::ALL.to_vec(),
    };
    let mut model = TrainModel::new(&base.config, &base.weights, &settings, 96, 7).unwrap();

    let prompt = sequences[0].tokens[..sequences[0].completion_start].to_vec();
    let answer = sequences[0].tokens[sequences[0].completion_start..].to_vec();
    let greedy = GrpoOptions {
        group: 2,
        max_new_tokens: answer.len(),
        temperature: 0.0,
        top_p: 1.0,
        settings: GrpoSettings {
            clip: 0.2,
            kl_beta: 0.0,
        },
        end_of_turn: base.tokenizer.end_of_turn_ids(),
    };
    let before = sample_completion(&model, &prompt, &greedy, 0).unwrap();
    assert_ne!(
        before, answer,
        "the random model should not know the answer yet"
    );

    let out = dir.path().join("run");
    let run = RunOptions {
        epochs: 40,
        warmup: 2,
        ..options(&out, 1e-2)
    };
    let summary = train_sft(&mut model, &sequences, &run).unwrap();
    assert_eq!(summary.steps, 40);
    assert!(
        summary.last_loss(3) < 0.05 * summary.first_loss(3),
        "loss {} -> {}",
        summary.first_loss(3),
        summary.last_loss(3)
    );
    let after = sample_completion(&model, &prompt, &greedy, 0).unwrap();
    assert_eq!(after, answer, "greedy output after SFT");
    let log = std::fs::read_to_string(out.join(LOG_FILE)).unwrap();
    assert_eq!(log.lines().count(), 40);
    assert!(log.lines().next().unwrap().contains("\"tokens_per_s\""));

    // The agent, loading base + adapter, answers the trained question.
    let agent = GgufModel::load(
        &gguf,
        &GgufOptions {
            threads: Some(1),
            adapter: Some(out.clone()),
            ..GgufOptions::default()
        },
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let reply = runtime
        .block_on(agent.chat(
            &[ChatMessage::user("list the users")],
            &GenerationParams {
                max_tokens: 12,
                temperature: 0.0,
                ..Default::default()
            },
        ))
        .unwrap();
    assert_eq!(reply[0].text, "SELECT * FROM users");
}

fn toy_pairs() -> Vec<PairSequences> {
    let pair = |prompt: &[u32], chosen: &[u32], rejected: &[u32], margin: f64| {
        let build = |tail: &[u32]| {
            let mut tokens = prompt.to_vec();
            tokens.extend_from_slice(tail);
            Sequence {
                tokens,
                completion_start: prompt.len(),
            }
        };
        PairSequences {
            chosen: build(chosen),
            rejected: build(rejected),
            reward_margin: margin,
        }
    };
    vec![
        pair(&[1, 2, 3], &[4, 5], &[6, 7], 0.8),
        pair(&[1, 2, 8], &[9, 4], &[9, 6], 0.3),
        pair(&[3, 2, 1], &[5, 5, 4], &[7, 6], 0.5),
    ]
}

fn policy_margin(model: &TrainModel, pairs: &[PairSequences]) -> f64 {
    let logprob = |s: &Sequence| {
        learnat_trainer::train::objectives::completion_logprobs(model, s, Policy::Trained, None)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap() as f64
    };
    pairs
        .iter()
        .map(|p| logprob(&p.chosen) - logprob(&p.rejected))
        .sum::<f64>()
        / pairs.len() as f64
}

#[test]
fn mdpo_and_dpo_widen_the_chosen_vs_rejected_margin() {
    let pairs = toy_pairs();
    for objective in [
        PreferenceObjective::MdpoMargin,
        PreferenceObjective::MdpoLogMargin { alpha: 1.0 },
        PreferenceObjective::Dpo,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut model = micro_model(ModelFamily::Qwen2, 2, DType::F32, 21);
        let before = policy_margin(&model, &pairs);
        let reference_margin: f64 = pairs
            .iter()
            .map(|p| {
                reference_logprob(&model, &p.chosen).unwrap()
                    - reference_logprob(&model, &p.rejected).unwrap()
            })
            .sum::<f64>()
            / 3.0;
        assert!(
            (before - reference_margin).abs() < 1e-4,
            "B = 0: the policy starts at the reference"
        );
        let run = RunOptions {
            epochs: 15,
            grad_accum: 3,
            ..options(dir.path(), 5e-2)
        };
        let summary = train_preference(&mut model, &pairs, objective, 0.5, &run).unwrap();
        let after = policy_margin(&model, &pairs);
        assert!(
            after > before + 1.0,
            "{objective:?}: margin {before} -> {after}"
        );
        let first = summary.log.first().unwrap();
        let last = summary.log.last().unwrap();
        assert!(first.margin.unwrap().abs() < 1e-4, "Δ starts at zero");
        assert!(
            last.margin.unwrap() > 0.5,
            "{objective:?}: logged Δ {:?}",
            last.margin
        );
        assert!(
            last.loss < first.loss,
            "{objective:?}: loss {} -> {}",
            first.loss,
            last.loss
        );
    }
}

#[test]
fn a_resumed_run_ends_where_an_uninterrupted_one_does() {
    let pairs = toy_pairs();
    let sequences: Vec<Sequence> = pairs.iter().map(|p| p.chosen.clone()).collect();
    let run = |out: &Path, stop_after: Option<usize>, resume: bool| {
        let mut model = micro_model(ModelFamily::Llama, 1, DType::F32, 9);
        let mut settings = options(out, 1e-2);
        settings.epochs = 4;
        settings.max_steps = Some(6);
        settings.stop_after = stop_after;
        settings.resume = resume;
        settings.checkpoint_every = 2;
        settings.warmup = 2;
        settings.seed = 5;
        train_sft(&mut model, &sequences, &settings).unwrap();
        model
    };
    let whole = tempfile::tempdir().unwrap();
    let straight = run(whole.path(), None, false);
    let split = tempfile::tempdir().unwrap();
    let interrupted = run(split.path(), Some(3), false);
    let resumed = run(split.path(), None, true);
    let moved = (straight.variables()[1].as_tensor() - interrupted.variables()[1].as_tensor())
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(moved > 1e-4, "the interrupted run stopped early");
    for (a, b) in straight.variables().iter().zip(resumed.variables()) {
        let difference = (a.as_tensor() - b.as_tensor())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(difference < 1e-6, "resumed weights differ by {difference}");
    }
    let log = std::fs::read_to_string(split.path().join(LOG_FILE)).unwrap();
    let steps: Vec<u64> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(steps, vec![1, 2, 3, 4, 5, 6]);
}

fn users_database(dir: &Path) -> SqliteDatabase {
    let path = dir.join("shop.sqlite");
    let connection = rusqlite::Connection::open(&path).unwrap();
    connection.execute_batch("CREATE TABLE users(id INTEGER, name TEXT); INSERT INTO users VALUES (1,'ada'),(2,'bob');").unwrap();
    drop(connection);
    SqliteDatabase::open(&path).unwrap()
}

#[test]
fn execution_rewards_are_one_a_tenth_or_zero() {
    let dir = tempfile::tempdir().unwrap();
    let db = users_database(dir.path());
    let gold = Gold::Sql("SELECT name FROM users".to_string());
    assert_eq!(
        execution_reward(
            &db,
            &gold,
            "```sql\nSELECT name FROM users ORDER BY id DESC\n```"
        ),
        REWARD_CORRECT
    );
    assert_eq!(
        execution_reward(&db, &gold, "SELECT id FROM users"),
        REWARD_EXECUTES
    );
    assert_eq!(
        execution_reward(&db, &gold, "SELECT nope FROM users"),
        REWARD_ERROR
    );
    assert_eq!(execution_reward(&db, &gold, "I do not know"), REWARD_ERROR);
    let rows = Gold::Rows(vec![vec![learnat_tools::Value::Integer(2)]]);
    assert_eq!(
        execution_reward(&db, &rows, "SELECT count(*) FROM users"),
        REWARD_CORRECT
    );
}

#[test]
fn grpo_samples_groups_rewards_them_and_updates_the_adapter() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("tiny.gguf");
    write_tiny_gguf(&gguf, ModelFamily::Qwen2, 4).unwrap();
    let base = load_gguf_base(&gguf, DType::F32).unwrap();
    let settings = LoraSettings {
        rank: 4,
        alpha: 8.0,
        dropout: 0.0,
        targets: TargetModule::ALL.to_vec(),
    };
    let mut model = TrainModel::new(&base.config, &base.weights, &settings, 96, 2).unwrap();
    let before: Vec<f32> = model.variables()[1]
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let encoder = Encoder {
        tokenizer: &base.tokenizer,
        template: &base.template,
    };
    let db = users_database(dir.path());
    let task = GrpoTask {
        prompt: encoder
            .prompt(&[ChatMessage::user("list the users")], "")
            .unwrap(),
        database: db,
        gold: Gold::Sql("SELECT * FROM users".to_string()),
    };
    // The random model writes nonsense; the group still differs in reward when one sample is
    // forced to be the answer, which the policy gradient must then favour.
    let options = GrpoOptions {
        group: 3,
        max_new_tokens: 4,
        temperature: 1.0,
        top_p: 1.0,
        settings: GrpoSettings {
            clip: 0.2,
            kl_beta: 0.05,
        },
        end_of_turn: base.tokenizer.end_of_turn_ids(),
    };
    let decode = |ids: &[u32]| base.tokenizer.decode(ids);
    let out = dir.path().join("grpo");
    let run = RunOptions {
        epochs: 2,
        ..options_with(&out)
    };
    let summary = train_grpo(&mut model, &[task], &options, &decode, &run).unwrap();
    assert_eq!(summary.steps, 2);
    for line in &summary.log {
        assert!(line.reward.is_some() && line.loss.is_finite());
    }
    assert!(out.join("adapter_model.safetensors").exists());
    let after: Vec<f32> = model.variables()[1]
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let rewards: Vec<f64> = summary.log.iter().filter_map(|l| l.reward).collect();
    // With all rewards equal the advantages vanish and only the (zero) KL acts: B stays zero.
    if rewards.iter().all(|r| *r == 0.0) {
        assert_eq!(before, after);
    }
}

fn options_with(out: &Path) -> RunOptions {
    options(out, 1e-2)
}

#[test]
fn whole_jobs_run_from_files_sft_then_mdpo_from_its_adapter_then_grpo() {
    use learnat_trainer::train::job::{JobOptions, run_grpo_job, run_preference_job, run_sft_job};
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("tiny.gguf");
    write_tiny_gguf(&gguf, ModelFamily::Llama, 8).unwrap();
    let sft = dir.path().join("sft.jsonl");
    let line = r#"{"id":1,"db_id":"shop","question":"q","messages":[{"role":"user","content":"list the users"},{"role":"assistant","content":"SELECT * FROM users"}]}"#;
    std::fs::write(&sft, format!("{line}\n{line}\n")).unwrap();
    let lora = LoraSettings {
        rank: 2,
        alpha: 4.0,
        dropout: 0.1,
        targets: vec![TargetModule::Query, TargetModule::Value],
    };
    let job = |data: &Path, out: &Path, init: Option<&Path>| JobOptions {
        base: format!("gguf:{}", gguf.display()),
        data: data.to_path_buf(),
        lora: lora.clone(),
        max_seq_len: 96,
        init_adapter: init.map(Path::to_path_buf),
        limit: None,
        ignore_memory_check: false,
        run: RunOptions {
            epochs: 2,
            ..options(out, 1e-2)
        },
    };
    let sft_out = dir.path().join("sft");
    let report = run_sft_job(&job(&sft, &sft_out, None)).unwrap();
    assert_eq!((report.records, report.summary.steps), (2, 4));
    assert!(report.memory.total > report.memory.base && report.trainable_parameters > 0);

    let pairs = dir.path().join("pairs.jsonl");
    let pair = r#"{"id":"p1","db_id":"shop","prompt":[{"role":"user","content":"list the users"}],"prefix":"","chosen":"SELECT * FROM users","rejected":"SELECT users","chosen_reward":0.9,"rejected_reward":0.2,"margin":0.7}"#;
    std::fs::write(&pairs, format!("{pair}\n")).unwrap();
    let mut mdpo_job = job(&pairs, &dir.path().join("mdpo"), Some(&sft_out));
    mdpo_job.lora.dropout = 0.0; // with dropout the policy differs from the reference at once
    let mdpo = run_preference_job(&mdpo_job, PreferenceObjective::MdpoMargin, 0.1).unwrap();
    assert!(
        mdpo.summary.log[0].margin.unwrap().abs() < 1e-4,
        "the SFT adapter is the reference: Δ starts at 0"
    );

    let db_dir = dir.path().join("database");
    std::fs::create_dir_all(db_dir.join("shop")).unwrap();
    let connection = rusqlite::Connection::open(db_dir.join("shop/shop.sqlite")).unwrap();
    connection
        .execute_batch(
            "CREATE TABLE users(id INTEGER, name TEXT); INSERT INTO users VALUES (1,'ada');",
        )
        .unwrap();
    drop(connection);
    let questions = dir.path().join("dev.json");
    std::fs::write(
        &questions,
        r#"[{"question":"list the users","db_id":"shop","query":"SELECT * FROM users"}]"#,
    )
    .unwrap();
    let grpo = GrpoOptions {
        group: 2,
        max_new_tokens: 3,
        temperature: 1.0,
        top_p: 1.0,
        settings: GrpoSettings {
            clip: 0.2,
            kl_beta: 0.04,
        },
        end_of_turn: Vec::new(),
    };
    let mut grpo_job = job(&questions, &dir.path().join("grpo"), None);
    grpo_job.max_seq_len = 1024; // the schema prompt is long in the byte-level tiny vocabulary
    let report = run_grpo_job(&grpo_job, &db_dir, &grpo).unwrap();
    assert_eq!(report.records, 1);
    assert!(report.summary.log.iter().all(|l| l.reward.is_some()));

    let missing = run_grpo_job(&grpo_job, &dir.path().join("nowhere"), &grpo)
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("dev.json:1") && missing.contains("--db-dir"),
        "{missing}"
    );
}
