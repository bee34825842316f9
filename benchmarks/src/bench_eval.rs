//! `learnat bench eval`: the evaluation runner against a naive execute-and-compare loop, in one
//! run on one machine.
//!
//! Workload: gold vs gold over the evaluable Spider dev questions with test-suite semantics
//! (every prediction is its question's gold query, so every verdict must be correct — checked).
//! Three measurements, each repeated and reported as the median:
//! - **naive**: one thread; per question a new rusqlite connection, the official
//!   pre-processing, both queries executed and collected, [`spider_result_eq`] — what a direct
//!   port of the official loop does;
//! - **cold**: [`evaluate`] with an empty gold-cache directory (database hashing included) and
//!   its report files written;
//! - **warm**: the same with the gold cache filled by the cold run.
//!
//! Wall time, CPU time of the process (getrusage, all threads), and questions per second are
//! printed with the machine and its load average. Loading dev.json (and computing hardness) is
//! timed separately: it is the same for every measurement. The whole command, process start
//! included, is what `hyperfine 'learnat eval …'` measures (see the README).

use std::fmt;
use std::path::Path;
use std::time::Instant;

use learnat_tools::Value;
use learnat_tools::compare::{spider_preprocess, spider_result_eq};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use crate::dataset::{Dataset, Question, load_spider};
use crate::error::{BenchError, BenchResult};
use crate::machine::Machine;
use crate::predictions::{Prediction, PredictionSource};
use crate::report::Verdict;
use crate::runner::{EvalMetric, EvalOptions, Silent, evaluate};

/// Wall and CPU time of one measurement.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Figures {
    /// Wall time in seconds.
    pub wall_s: f64,
    /// User + system CPU time of the process in seconds.
    pub cpu_s: f64,
    /// Questions per wall second.
    pub questions_per_s: f64,
    /// Questions scored correct (must be all of them).
    pub correct: usize,
}

/// The result of `learnat bench eval`.
#[derive(Debug, Clone, Serialize)]
pub struct BenchEvalReport {
    /// Where it ran.
    pub machine: Machine,
    /// `/proc/loadavg` when it started.
    pub load_average: String,
    /// Evaluable questions scored per measurement.
    pub questions: usize,
    /// Repetitions per measurement (medians reported).
    pub repeats: usize,
    /// Concurrency of the runner.
    pub jobs: usize,
    /// Loading dev.json, tables.json and computing hardness, in seconds.
    pub load_s: f64,
    /// The naive single-threaded loop.
    pub naive: Figures,
    /// The runner with an empty gold cache.
    pub cold: Figures,
    /// The runner with a filled gold cache.
    pub warm: Figures,
    /// `naive.wall_s / cold.wall_s`.
    pub speedup_cold: f64,
    /// `naive.wall_s / warm.wall_s`.
    pub speedup_warm: f64,
}

impl fmt::Display for BenchEvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "learnat bench eval: gold vs gold, {} evaluable Spider dev questions, test-suite semantics; median of {} runs",
            self.questions, self.repeats
        )?;
        writeln!(
            f,
            "machine: {}; load average at start: {}",
            self.machine, self.load_average
        )?;
        writeln!(
            f,
            "loading dev.json + tables.json + hardness: {:.3} s (not in the figures below)",
            self.load_s
        )?;
        writeln!(
            f,
            "{:<58} {:>8} {:>8} {:>12} {:>9}",
            "", "wall s", "CPU s", "questions/s", "speed-up"
        )?;
        let row = |f: &mut fmt::Formatter<'_>, name: &str, figures: &Figures, speedup: f64| {
            writeln!(
                f,
                "{:<58} {:>8.3} {:>8.3} {:>12.0} {:>8.2}×",
                name, figures.wall_s, figures.cpu_s, figures.questions_per_s, speedup
            )
        };
        row(
            f,
            "naive loop (1 thread, rusqlite, new connection per question)",
            &self.naive,
            1.0,
        )?;
        row(
            f,
            &format!("learnat cold (empty gold cache, {} jobs)", self.jobs),
            &self.cold,
            self.speedup_cold,
        )?;
        row(
            f,
            &format!("learnat warm (gold cache filled, {} jobs)", self.jobs),
            &self.warm,
            self.speedup_warm,
        )?;
        let all = [self.naive.correct, self.cold.correct, self.warm.correct]
            .iter()
            .all(|&c| c == self.questions);
        write!(
            f,
            "every measurement scored all {} correct: {}",
            self.questions,
            if all {
                "yes"
            } else {
                "NO (a bug: gold vs gold must be all correct)"
            }
        )
    }
}

/// Predictions that are the gold queries themselves.
struct GoldAsPrediction;

impl PredictionSource for GoldAsPrediction {
    fn fingerprint(&self) -> String {
        "gold".to_string()
    }
    fn describe(&self) -> String {
        "the gold queries (gold vs gold)".to_string()
    }
    fn predict(&self, question: &Question) -> Prediction {
        Prediction::Sql(question.gold_sql.clone())
    }
}

/// CPU time (user + system) of this process so far, in seconds.
pub fn process_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct we pass; RUSAGE_SELF is valid.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return 0.0;
        }
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn measure(questions: usize, f: impl FnOnce() -> BenchResult<usize>) -> BenchResult<Figures> {
    let (wall, cpu) = (Instant::now(), process_cpu_seconds());
    let correct = f()?;
    let wall_s = wall.elapsed().as_secs_f64();
    Ok(Figures {
        wall_s,
        cpu_s: process_cpu_seconds() - cpu,
        questions_per_s: questions as f64 / wall_s.max(1e-9),
        correct,
    })
}

fn median_figures(mut runs: Vec<Figures>) -> Figures {
    runs.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
    runs[runs.len() / 2]
}

fn collect_rows(connection: &Connection, sql: &str) -> rusqlite::Result<Vec<Vec<Value>>> {
    crate::sql_overhead::read_rows(&mut connection.prepare(sql)?)
}

/// The naive reference: one thread, a connection per question, execute both, compare.
fn naive_loop(dataset: &Dataset) -> BenchResult<usize> {
    let mut correct = 0;
    for question in &dataset.questions {
        let database = dataset.database_of(question.index);
        if !database.present {
            continue;
        }
        let connection =
            Connection::open_with_flags(&database.path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let prepared = spider_preprocess(&question.gold_sql, &question.gold_sql);
        let (Ok(gold), Ok(predicted)) = (
            collect_rows(&connection, &prepared.gold),
            collect_rows(&connection, &prepared.prediction),
        ) else {
            continue;
        };
        if spider_result_eq(&gold, &predicted, prepared.order_matters) {
            correct += 1;
        }
    }
    Ok(correct)
}

/// Run the benchmark on the Spider folder `spider` with `jobs` workers, `repeats` times each.
pub fn run(spider: &Path, repeats: usize, jobs: usize) -> BenchResult<BenchEvalReport> {
    let repeats = repeats.max(1);
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string());
    let load_start = Instant::now();
    let dataset = load_spider(spider, "dev")?;
    let load_s = load_start.elapsed().as_secs_f64();
    let questions = dataset.evaluable_count();
    if questions == 0 {
        return Err(BenchError::NoData(format!(
            "no Spider dev database found under '{}'",
            spider.display()
        )));
    }
    let scratch = std::env::temp_dir().join(format!("learnat-bench-eval-{}", std::process::id()));
    let evaluate_into = |cache: &Path, out: &Path| -> BenchResult<usize> {
        let mut options = EvalOptions::new(EvalMetric::TestSuite);
        options.jobs = jobs;
        options.skip_missing = true;
        options.gold_cache_dir = Some(cache.to_path_buf());
        options.out_dir = Some(out.to_path_buf());
        let report = evaluate(&dataset, &GoldAsPrediction, &options, &Silent)?;
        Ok(report
            .questions
            .iter()
            .filter(|r| r.verdict == Verdict::Correct)
            .count())
    };
    let (mut naive, mut cold, mut warm) = (Vec::new(), Vec::new(), Vec::new());
    let outcome = (|| -> BenchResult<()> {
        for repeat in 0..repeats {
            let cache = scratch.join(format!("cache-{repeat}"));
            naive.push(measure(questions, || naive_loop(&dataset))?);
            cold.push(measure(questions, || {
                evaluate_into(&cache, &scratch.join(format!("cold-{repeat}")))
            })?);
            warm.push(measure(questions, || {
                evaluate_into(&cache, &scratch.join(format!("warm-{repeat}")))
            })?);
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    outcome?;
    let (naive, cold, warm) = (
        median_figures(naive),
        median_figures(cold),
        median_figures(warm),
    );
    Ok(BenchEvalReport {
        machine: Machine::current(),
        load_average,
        questions,
        repeats,
        jobs,
        load_s,
        speedup_cold: naive.wall_s / cold.wall_s.max(1e-9),
        speedup_warm: naive.wall_s / warm.wall_s.max(1e-9),
        naive,
        cold,
        warm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_advances_with_work() {
        let before = process_cpu_seconds();
        let mut x = 0u64;
        let start = Instant::now();
        while start.elapsed().as_millis() < 30 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(process_cpu_seconds() > before);
    }

    #[test]
    fn gold_vs_gold_on_spider_dev_is_all_correct_in_every_measurement() {
        let Some(data) = learnat_tools::shared_data::shared_data_or_skip("bench eval") else {
            return;
        };
        let report = run(&data.join("spider"), 1, 2).unwrap();
        assert_eq!(report.questions, 972);
        assert_eq!(
            (
                report.naive.correct,
                report.cold.correct,
                report.warm.correct
            ),
            (972, 972, 972)
        );
        let text = report.to_string();
        assert!(text.contains("scored all 972 correct: yes"), "{text}");
    }
}
