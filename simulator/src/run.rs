//! Running a task set under a protocol with one agent, or several taking turns: bounded
//! parallelism, one transcript line per finished task (so a killed run resumes where it
//! stopped), and the summary: success rate per phase (SR) and normalised reward (NR).
//!
//! Output folder layout: `run.json` (what was run: its fingerprint), `transcripts.jsonl` (one
//! [`TaskOutcome`] per line, written only once the task is fully scored), and the reports of
//! [`crate::report`].

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{SimResult, SimulatorError};
use crate::protocol::{
    ActionCosts, EpisodeSetup, InteractiveAgent, Mode, TaskOutcome, run_episode,
};
use crate::scoring::GoldChecker;
use crate::task::InteractiveTask;
use crate::user_sim::UserSimulator;

/// The transcript file of a run folder.
pub const TRANSCRIPTS_FILE: &str = "transcripts.jsonl";
/// The description of a run folder.
pub const RUN_FILE: &str = "run.json";

/// What identifies a run: a resumed run must match it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub mode: Mode,
    pub agent: String,
    pub user_sim: String,
    /// The model spec and strategy, as given.
    pub model: String,
    pub strategy: String,
    /// Whether failing SQL was relinked to the schema (runs from before the flag did not).
    #[serde(default)]
    pub relink: bool,
    pub patience: usize,
    /// The task file and the sha256 of its content.
    pub tasks_file: String,
    pub tasks_sha256: String,
    /// The databases folder.
    pub databases: String,
}

/// sha256 of a file's bytes, hex.
pub fn file_sha256(path: &Path) -> SimResult<String> {
    let bytes =
        std::fs::read(path).map_err(|e| SimulatorError::io("cannot read the file", path, e))?;
    Ok(Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// SR and NR of a set of outcomes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub tasks: usize,
    /// Tasks whose first question was solved, over all tasks.
    pub sr_first: f64,
    /// Follow-ups solved, over the tasks that have one.
    pub sr_follow_up: f64,
    /// 100 × total reward / total reward available.
    pub nr: f64,
    /// Mean reward per task (0..1).
    pub mean_reward: f64,
    /// First phase solved at the first submission / after the debug retry.
    pub first_try: usize,
    pub after_debug: usize,
    /// Tasks with a clarification question asked, and questions per task.
    pub tasks_with_asks: usize,
    pub asks_per_task: f64,
    /// Simulator actions over all asks: AMB, LOC, UNA.
    pub parsed: HashMap<String, usize>,
    /// Tasks the agent failed on (model errors).
    pub errors: usize,
    /// Mean wall seconds per task.
    pub seconds_per_task: f64,
}

/// The summary of `outcomes`.
pub fn summarise(outcomes: &[TaskOutcome]) -> Summary {
    let n = outcomes.len().max(1) as f64;
    let with_follow_up: Vec<_> = outcomes.iter().filter_map(|o| o.score.follow_up).collect();
    let reward: f64 = outcomes.iter().map(|o| o.score.reward).sum();
    let available: f64 = outcomes.iter().map(|o| o.max_reward).sum();
    let mut parsed = HashMap::new();
    for outcome in outcomes {
        for event in &outcome.events {
            if let crate::protocol::Event::Ask { reply, .. } = event {
                let kind = serde_json::to_value(reply.action.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                *parsed.entry(kind).or_default() += 1;
            }
        }
    }
    Summary {
        tasks: outcomes.len(),
        sr_first: outcomes.iter().filter(|o| o.score.first.solved).count() as f64 / n,
        sr_follow_up: if with_follow_up.is_empty() {
            0.0
        } else {
            with_follow_up.iter().filter(|p| p.solved).count() as f64 / with_follow_up.len() as f64
        },
        nr: if available > 0.0 {
            100.0 * reward / available
        } else {
            0.0
        },
        mean_reward: reward / n,
        first_try: outcomes
            .iter()
            .filter(|o| o.score.first.attempt == Some(0))
            .count(),
        after_debug: outcomes
            .iter()
            .filter(|o| o.score.first.attempt.is_some_and(|a| a > 0))
            .count(),
        tasks_with_asks: outcomes.iter().filter(|o| o.asks > 0).count(),
        asks_per_task: outcomes.iter().map(|o| o.asks).sum::<usize>() as f64 / n,
        parsed,
        errors: outcomes.iter().filter(|o| o.error.is_some()).count(),
        seconds_per_task: outcomes.iter().map(|o| o.seconds).sum::<f64>() / n,
    }
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub mode: Mode,
    pub patience: usize,
    pub costs: ActionCosts,
    /// Tasks at once.
    pub jobs: usize,
    /// Output folder (resumable); None writes nothing.
    pub out: Option<PathBuf>,
    /// Recorded in run.json.
    pub info: RunInfo,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// Read a transcript file: one outcome per line.
pub fn read_transcripts(path: &Path) -> SimResult<Vec<TaskOutcome>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SimulatorError::io("cannot read the transcripts", path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line).map_err(|e| SimulatorError::Transcript {
                path: path.to_path_buf(),
                line: index + 1,
                message: format!("not a transcript record: {e}"),
            })
        })
        .collect()
}

fn prepare_out(out: &Path, info: &RunInfo) -> SimResult<Vec<TaskOutcome>> {
    std::fs::create_dir_all(out)
        .map_err(|e| SimulatorError::io("cannot create the output folder", out, e))?;
    let run_file = out.join(RUN_FILE);
    if run_file.is_file() {
        let text = std::fs::read_to_string(&run_file)
            .map_err(|e| SimulatorError::io("cannot read", &run_file, e))?;
        let recorded: RunInfo =
            serde_json::from_str(&text).map_err(|e| SimulatorError::Transcript {
                path: run_file.clone(),
                line: e.line(),
                message: format!("not a run description: {e}"),
            })?;
        if &recorded != info {
            return Err(SimulatorError::InvalidInput {
                message: format!(
                    "{} holds another run ({} / {} / {} on {}); pass a fresh --out to start a \
                     new one",
                    out.display(),
                    recorded.mode.name(),
                    recorded.agent,
                    recorded.model,
                    recorded.tasks_file
                ),
            });
        }
    } else {
        let text = serde_json::to_string_pretty(info).unwrap_or_default();
        std::fs::write(&run_file, text)
            .map_err(|e| SimulatorError::io("cannot write", &run_file, e))?;
    }
    let transcripts = out.join(TRANSCRIPTS_FILE);
    if transcripts.is_file() {
        read_transcripts(&transcripts)
    } else {
        Ok(Vec::new())
    }
}

/// Run `tasks` under `options.mode` with `agent` and `simulator`, resuming from the output
/// folder's transcripts. Returns every outcome (resumed and new) in task order.
pub async fn run_tasks(
    tasks: &[InteractiveTask],
    agent: Arc<dyn InteractiveAgent>,
    simulator: Arc<dyn UserSimulator>,
    gold: &GoldChecker,
    options: &RunOptions,
) -> SimResult<Vec<TaskOutcome>> {
    let mut outcomes = run_agents(tasks, &[(agent, options.clone())], simulator, gold).await?;
    Ok(outcomes.pop().unwrap_or_default())
}

/// Run `tasks` with several agents, each under its own options and into its own output
/// folder, task by task: every agent plays a task before the next task starts. Consecutive
/// episodes then share a database, so a local model reuses the schema's prompt prefix from
/// its KV cache instead of encoding it again for each agent. Tasks at once: the largest
/// `jobs` of the runs; a progress bar when any run asks for one. Returns, per run, every
/// outcome (resumed and new) in task order.
pub async fn run_agents(
    tasks: &[InteractiveTask],
    runs: &[(Arc<dyn InteractiveAgent>, RunOptions)],
    simulator: Arc<dyn UserSimulator>,
    gold: &GoldChecker,
) -> SimResult<Vec<Vec<TaskOutcome>>> {
    let mut done: Vec<HashMap<String, TaskOutcome>> = Vec::with_capacity(runs.len());
    let mut writers = Vec::with_capacity(runs.len());
    for (_, options) in runs {
        let resumed = match &options.out {
            Some(out) => prepare_out(out, &options.info)?,
            None => Vec::new(),
        };
        done.push(
            resumed
                .into_iter()
                .map(|o| (o.instance_id.clone(), o))
                .collect(),
        );
        writers.push(match &options.out {
            Some(out) => {
                let path = out.join(TRANSCRIPTS_FILE);
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|e| SimulatorError::io("cannot open the transcripts", &path, e))?;
                Some((path, file))
            }
            None => None,
        });
    }
    // Task-major order: the agents take turns on one task.
    let pending: Vec<(usize, &InteractiveTask)> = tasks
        .iter()
        .flat_map(|task| (0..runs.len()).map(move |run| (run, task)))
        .filter(|(run, task)| !done[*run].contains_key(&task.instance_id))
        .collect();
    let resumed: usize = done.iter().map(HashMap::len).sum();
    if resumed > 0 {
        tracing::info!(resumed, pending = pending.len(), "resuming");
    }
    let progress = if runs.iter().any(|(_, options)| options.progress) {
        indicatif::ProgressBar::new(pending.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} {bar:30} {pos}/{len} episodes ({elapsed}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let names: Vec<String> = runs.iter().map(|(agent, _)| agent.name()).collect();
    progress.set_message(names.join("+"));
    let jobs = runs.iter().map(|(_, o)| o.jobs).max().unwrap_or(1).max(1);
    let mut stream = futures::stream::iter(pending.into_iter().map(|(run, task)| {
        let (agent, options) = &runs[run];
        let agent = Arc::clone(agent);
        let simulator = Arc::clone(&simulator);
        async move {
            let database = gold.databases().open(&task.db_id)?;
            let setup = EpisodeSetup {
                task,
                database,
                gold,
                simulator: simulator.as_ref(),
                patience: options.patience,
                costs: options.costs,
            };
            Ok::<_, SimulatorError>((run, run_episode(options.mode, agent.as_ref(), &setup).await))
        }
    }))
    .buffer_unordered(jobs);
    while let Some(finished) = stream.next().await {
        let (run, outcome) = finished?;
        if let Some((path, file)) = &mut writers[run] {
            let line = serde_json::to_string(&outcome).unwrap_or_default();
            writeln!(file, "{line}")
                .and_then(|()| file.flush())
                .map_err(|e| SimulatorError::io("cannot write the transcripts", path.clone(), e))?;
        }
        progress.inc(1);
        done[run].insert(outcome.instance_id.clone(), outcome);
    }
    progress.finish_and_clear();
    Ok(done
        .into_iter()
        .map(|mut done| {
            tasks
                .iter()
                .filter_map(|t| done.remove(&t.instance_id))
                .collect()
        })
        .collect())
}
