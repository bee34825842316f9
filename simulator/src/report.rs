//! Reports of a run folder: `report.json` (the run, its summary and one line per task),
//! `report.md`, and `report.html` (self-contained, no network); and the comparison of the
//! three agents (with clarification, asking disabled, oracle) with the share of the gap
//! between no-ask and oracle that asking closes.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use serde_json::json;

use crate::error::{SimResult, SimulatorError};
use crate::protocol::TaskOutcome;
use crate::run::{RunInfo, Summary};

fn write(path: &Path, text: &str) -> SimResult<()> {
    std::fs::write(path, text).map_err(|e| SimulatorError::io("cannot write the report", path, e))
}

/// The Markdown summary of one run.
pub fn markdown(info: &RunInfo, summary: &Summary) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "# {} — agent {}, user simulator {}\n\nModel `{}`, strategy {}, schema relinking {}, \
         patience {}, tasks `{}` ({} tasks).\n",
        info.mode.name(),
        info.agent,
        info.user_sim,
        info.model,
        info.strategy,
        if info.relink { "on" } else { "off" },
        info.patience,
        info.tasks_file,
        summary.tasks
    );
    let _ = writeln!(text, "| metric | value |\n|---|---|");
    let rows = [
        (
            "SR (first question)",
            format!("{:.1}%", 100.0 * summary.sr_first),
        ),
        (
            "SR (follow-up)",
            format!("{:.1}%", 100.0 * summary.sr_follow_up),
        ),
        ("NR", format!("{:.2}", summary.nr)),
        (
            "solved at the first try / after debug",
            format!("{} / {}", summary.first_try, summary.after_debug),
        ),
        (
            "tasks with a question asked",
            summary.tasks_with_asks.to_string(),
        ),
        (
            "questions per task",
            format!("{:.2}", summary.asks_per_task),
        ),
        ("agent errors", summary.errors.to_string()),
        (
            "seconds per task",
            format!("{:.1}", summary.seconds_per_task),
        ),
    ];
    for (name, value) in rows {
        let _ = writeln!(text, "| {name} | {value} |");
    }
    text
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The HTML page of one run: the summary and a row per task, with a reward bar.
pub fn html(info: &RunInfo, summary: &Summary, outcomes: &[TaskOutcome]) -> String {
    let mut rows = String::new();
    for o in outcomes {
        let share = if o.max_reward > 0.0 {
            o.score.reward / o.max_reward
        } else {
            0.0
        };
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td><div class=bar style=\"width:{:.0}px\"></div> {:.1}</td></tr>",
            html_escape(&o.instance_id),
            html_escape(&o.db_id),
            o.asks,
            if o.score.first.solved { "yes" } else { "no" },
            match o.score.follow_up {
                Some(p) if p.solved => "yes",
                Some(_) => "no",
                None => "-",
            },
            100.0 * share,
            o.score.reward
        );
    }
    format!(
        "<!doctype html><html><head><meta charset=utf-8><title>{mode} {agent}</title><style>\
         body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:2px 6px}}.bar{{display:inline-block;height:10px;\
         background:#4a7}}</style></head><body><h1>{mode}: {agent}</h1><p>model {model}, \
         user simulator {sim}, {tasks} tasks</p><p><b>SR</b> first {sr1:.1}% · follow-up \
         {sr2:.1}% · <b>NR {nr:.2}</b> · {secs:.1} s per task</p><table><tr><th>task</th>\
         <th>db</th><th>asks</th><th>first</th><th>follow-up</th><th>reward</th></tr>{rows}\
         </table></body></html>\n",
        mode = info.mode.name(),
        agent = html_escape(&info.agent),
        model = html_escape(&info.model),
        sim = html_escape(&info.user_sim),
        tasks = summary.tasks,
        sr1 = 100.0 * summary.sr_first,
        sr2 = 100.0 * summary.sr_follow_up,
        nr = summary.nr,
        secs = summary.seconds_per_task,
    )
}

#[derive(Serialize)]
struct TaskLine<'a> {
    instance_id: &'a str,
    db_id: &'a str,
    reward: f64,
    first_solved: bool,
    follow_up_solved: Option<bool>,
    asks: usize,
    seconds: f64,
    error: Option<&'a str>,
}

/// Write report.json, report.md and report.html into `out`.
pub fn write_reports(
    out: &Path,
    info: &RunInfo,
    summary: &Summary,
    outcomes: &[TaskOutcome],
) -> SimResult<()> {
    let lines: Vec<TaskLine> = outcomes
        .iter()
        .map(|o| TaskLine {
            instance_id: &o.instance_id,
            db_id: &o.db_id,
            reward: o.score.reward,
            first_solved: o.score.first.solved,
            follow_up_solved: o.score.follow_up.map(|p| p.solved),
            asks: o.asks,
            seconds: o.seconds,
            error: o.error.as_deref(),
        })
        .collect();
    let report = json!({"run": info, "summary": summary, "tasks": lines});
    write(
        &out.join("report.json"),
        &serde_json::to_string_pretty(&report).unwrap_or_default(),
    )?;
    write(&out.join("report.md"), &markdown(info, summary))?;
    write(&out.join("report.html"), &html(info, summary, outcomes))
}

/// The share of the NR gap between no-ask and oracle that the asking agent closes:
/// (clarify − no-ask) / (oracle − no-ask); None when the oracle is no better than no-ask.
pub fn gap_closed(clarify: f64, no_ask: f64, oracle: f64) -> Option<f64> {
    (oracle - no_ask > 1e-9).then(|| (clarify - no_ask) / (oracle - no_ask))
}

/// The Markdown comparison of several agents' summaries (same mode and tasks).
pub fn comparison_markdown(mode: &str, runs: &[(String, Summary)]) -> String {
    let mut text = format!(
        "# {mode}: agents compared\n\n| agent | tasks | SR first | SR follow-up | NR | asks/task | s/task |\n|---|---|---|---|---|---|---|\n"
    );
    for (agent, s) in runs {
        let _ = writeln!(
            text,
            "| {agent} | {} | {:.1}% | {:.1}% | {:.2} | {:.2} | {:.1} |",
            s.tasks,
            100.0 * s.sr_first,
            100.0 * s.sr_follow_up,
            s.nr,
            s.asks_per_task,
            s.seconds_per_task
        );
    }
    let nr = |name: &str| runs.iter().find(|(a, _)| a == name).map(|(_, s)| s.nr);
    if let (Some(c), Some(n), Some(o)) = (nr("clarify"), nr("no-ask"), nr("oracle")) {
        let _ = writeln!(
            text,
            "\nGap closed by asking, (clarify − no-ask) / (oracle − no-ask) in NR: {}",
            gap_closed(c, n, o).map_or(
                "n/a (the oracle is no better than no-ask)".to_string(),
                |g| format!("{:.0}%", 100.0 * g)
            )
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gap_share() {
        assert_eq!(gap_closed(30.0, 20.0, 40.0), Some(0.5));
        assert_eq!(gap_closed(30.0, 20.0, 20.0), None);
    }
}
