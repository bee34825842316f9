//! `learnat bench llm`: the local GGUF backend's speed and memory, and, optionally, llama.cpp
//! on the same file, token ids and thread count in the same run, with the ratios; plus the
//! correctness check against llama.cpp (teacher-forced top-1 agreement, greedy Spider SQL).
//!
//! Measurements (learnat in this process, llama.cpp in a child process running
//! `benchmarks/reference/llama_cpp_reference.py` from a virtual environment that
//! `benchmarks/reference/install_llama_cpp.sh` creates on first use, ~8 minutes):
//! - prefill tok/s: one forward pass over a 512-token prompt from an empty cache;
//! - time to first token: prefill plus choosing the first token;
//! - decode tok/s: 128 more greedy tokens, one forward pass each, never stopping early;
//! - peak RSS: `VmHWM` of this process (after load and the runs), against the file size.
//!
//! The prompt is fixed SQL text, tokenized by learnat; llama.cpp receives the same ids.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use learnat_agent::model::gguf::{GgufModel, GgufOptions};
use learnat_agent::{ChatMessage, GenerationParams};
use learnat_tools::compare::Metric;
use learnat_tools::sqlite::SqliteDatabase;
use learnat_tools::{ExecOptions, Value};
use serde::{Deserialize, Serialize};

use crate::machine::Machine;
use crate::{BenchError, BenchResult};

/// The reference script, embedded so the binary needs no source tree.
const REFERENCE_SCRIPT: &str = include_str!("../reference/llama_cpp_reference.py");
/// The installer of the reference.
const INSTALL_SCRIPT: &str = include_str!("../reference/install_llama_cpp.sh");
/// Agreement prompts of the correctness check.
const AGREEMENT_PROMPTS: [&str; 5] = [
    "Write a SQLite query that returns the number of rows in the table users.",
    "Explain what a LEFT JOIN does, with a short example.",
    "Write a Python function that checks whether a string is a palindrome.",
    "List three differences between SQLite and PostgreSQL.",
    "Given tables orders(id, customer_id, total) and customers(id, name), write SQL for the \
     five customers with the highest total spend.",
];

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchLlmOptions {
    /// The GGUF file.
    pub model: PathBuf,
    /// Threads for learnat and llama.cpp.
    pub threads: usize,
    /// Prompt length of the prefill measurement.
    pub prompt_tokens: usize,
    /// Tokens of the decode measurement.
    pub decode_tokens: usize,
    /// Also measure llama.cpp and print ratios.
    pub reference_llama_cpp: bool,
    /// Speed rounds: learnat then llama.cpp, `rounds` times in turn; the ratios reported are
    /// the medians, so that a neighbour's load on a shared machine weighs on both engines.
    pub rounds: usize,
    /// Run the correctness check against llama.cpp.
    pub check_against_llama_cpp: bool,
    /// Spider directory (with dev.json and database/) for the greedy-SQL part of the check.
    pub spider_dir: Option<PathBuf>,
    /// Questions of the greedy-SQL check.
    pub sql_questions: usize,
    /// Virtual environment of llama-cpp-python.
    pub llama_cpp_venv: PathBuf,
}

impl BenchLlmOptions {
    /// The defaults of the issue: 512-token prompt, 128 decode tokens, 20 SQL questions.
    pub fn new(model: PathBuf, threads: usize) -> BenchLlmOptions {
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
        BenchLlmOptions {
            model,
            threads,
            prompt_tokens: 512,
            decode_tokens: 128,
            reference_llama_cpp: false,
            rounds: 1,
            check_against_llama_cpp: false,
            spider_dir: None,
            sql_questions: 20,
            llama_cpp_venv: home.join(".cache/learnat/llama-cpp-venv"),
        }
    }
}

/// Speed of one engine.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LlmSpeed {
    pub load_seconds: f64,
    pub prompt_tokens: usize,
    pub prefill_seconds: f64,
    pub prefill_tokens_per_second: f64,
    pub time_to_first_token_ms: f64,
    pub decode_tokens: usize,
    pub decode_seconds: f64,
    pub decode_tokens_per_second: f64,
    pub peak_rss_bytes: u64,
}

/// learnat / llama.cpp; above 1 learnat is faster (for RSS: uses more).
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct SpeedRatios {
    pub prefill: f64,
    pub decode: f64,
    pub time_to_first_token: f64,
    pub peak_rss: f64,
}

/// The correctness check's numbers.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AgreementReport {
    /// Positions where learnat's top-1 token equals llama.cpp's greedy token.
    pub top1_agreeing: usize,
    pub top1_positions: usize,
    pub top1_agreement: f64,
    /// Spider dev questions whose greedy SQL is identical in text.
    pub sql_identical: usize,
    /// Of the others, those whose results are equal under the Spider scorer.
    pub sql_execution_equivalent: usize,
    pub sql_questions: usize,
    /// Questions where the two differ (index, learnat SQL, llama.cpp SQL).
    pub sql_differences: Vec<(usize, String, String)>,
}

/// Everything `learnat bench llm` measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchLlmReport {
    pub machine: Machine,
    /// `/proc/loadavg` (1, 5, 15 min) before measuring: the machine may be shared.
    pub load_average: String,
    pub model: PathBuf,
    pub file_bytes: u64,
    pub threads: usize,
    /// Matrices on learnat's kernels / on candle's.
    pub learnat_kernel_matrices: usize,
    pub candle_matrices: usize,
    pub learnat: LlmSpeed,
    /// learnat's peak RSS / the file size.
    pub rss_to_file_ratio: f64,
    pub llama_cpp: Option<LlmSpeed>,
    pub llama_cpp_version: Option<String>,
    /// The ratios of each round (learnat and llama.cpp measured in turn), when there were
    /// several; `ratios` is then their median, `learnat` and `llama_cpp` the first round.
    pub round_ratios: Vec<SpeedRatios>,
    pub ratios: Option<SpeedRatios>,
    pub agreement: Option<AgreementReport>,
}

fn invalid(message: impl Into<String>) -> BenchError {
    BenchError::Invalid(message.into())
}

/// Peak resident set of this process (`VmHWM`), in bytes.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_string())
}

/// A deterministic prompt of exactly `tokens` ids (SQL statements over made-up tables).
fn benchmark_prompt(model: &GgufModel, tokens: usize) -> BenchResult<Vec<u32>> {
    let mut text = String::new();
    let mut ids = Vec::new();
    let mut index = 0usize;
    while ids.len() < tokens {
        for _ in 0..16 {
            text.push_str(&format!(
                "SELECT name, COUNT(*) AS orders_{index} FROM customers_{index} JOIN orders ON \
                 orders.customer_id = customers_{index}.id WHERE total > {} GROUP BY name;\n",
                index * 7 % 1000
            ));
            index += 1;
        }
        ids = model
            .tokenizer()
            .encode(&text)
            .map_err(|e| invalid(e.to_string()))?;
    }
    ids.truncate(tokens);
    Ok(ids)
}

/// Measures learnat's speed on the loaded model.
fn measure_learnat(
    model: &GgufModel,
    prompt: &[u32],
    decode_tokens: usize,
    load_seconds: f64,
) -> BenchResult<LlmSpeed> {
    // Warm-up: fault the weights in and size the caches, as llama.cpp's warm-up does.
    model
        .greedy_continuation(&prompt[..8.min(prompt.len())], 2)
        .map_err(|e| invalid(e.to_string()))?;
    model.clear_cache().map_err(|e| invalid(e.to_string()))?;
    let run = model
        .greedy_continuation(prompt, decode_tokens + 1)
        .map_err(|e| invalid(e.to_string()))?;
    let seconds = |d: Duration| d.as_secs_f64();
    Ok(LlmSpeed {
        load_seconds,
        prompt_tokens: prompt.len(),
        prefill_seconds: seconds(run.prefill),
        prefill_tokens_per_second: prompt.len() as f64 / seconds(run.prefill).max(1e-9),
        time_to_first_token_ms: seconds(run.time_to_first_token) * 1000.0,
        decode_tokens,
        decode_seconds: seconds(run.decode),
        decode_tokens_per_second: decode_tokens as f64 / seconds(run.decode).max(1e-9),
        peak_rss_bytes: peak_rss_bytes(),
    })
}

/// The request / answer of the reference script.
#[derive(Serialize)]
struct ReferenceRequest<'a> {
    model: &'a Path,
    threads: usize,
    context: usize,
    speed: Option<ReferenceSpeedRequest<'a>>,
    greedy: Vec<ReferenceGreedyRequest>,
}

#[derive(Serialize)]
struct ReferenceSpeedRequest<'a> {
    prompt: &'a [u32],
    decode_tokens: usize,
}

#[derive(Serialize)]
struct ReferenceGreedyRequest {
    prompt: Vec<u32>,
    max_tokens: usize,
    stop: Vec<u32>,
}

#[derive(Deserialize)]
struct ReferenceAnswer {
    version: String,
    speed: Option<ReferenceSpeed>,
    greedy: Vec<Vec<u32>>,
    peak_rss_bytes: u64,
}

#[derive(Deserialize)]
struct ReferenceSpeed {
    prompt_tokens: usize,
    prefill_seconds: f64,
    time_to_first_token_seconds: f64,
    decode_tokens: usize,
    decode_seconds: f64,
    load_seconds: f64,
}

/// Installs llama-cpp-python into `venv` unless it is there; returns its python.
pub fn ensure_llama_cpp(venv: &Path) -> BenchResult<PathBuf> {
    let python = venv.join("bin/python");
    let importable = Command::new(&python)
        .args(["-c", "import llama_cpp, numpy"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if importable {
        return Ok(python);
    }
    eprintln!(
        "llama-cpp-python is not in {}: installing it (builds llama.cpp, ~8 minutes, once)",
        venv.display()
    );
    let status = Command::new("bash")
        .args(["-c", INSTALL_SCRIPT, "install_llama_cpp.sh"])
        .arg(venv)
        .status()
        .map_err(|e| invalid(format!("cannot run bash to install llama-cpp-python: {e}")))?;
    if !status.success() {
        return Err(invalid(format!(
            "installing llama-cpp-python into {} failed ({status}); see the pip output above",
            venv.display()
        )));
    }
    Ok(python)
}

fn run_reference(python: &Path, request: &ReferenceRequest<'_>) -> BenchResult<ReferenceAnswer> {
    let mut child = Command::new(python)
        .args(["-c", REFERENCE_SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| invalid(format!("cannot start {}: {e}", python.display())))?;
    let body = serde_json::to_vec(request).map_err(|e| invalid(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&body)
            .map_err(|e| invalid(format!("cannot send the request to llama.cpp: {e}")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| invalid(format!("llama.cpp reference failed: {e}")))?;
    if !output.status.success() {
        return Err(invalid(format!(
            "the llama.cpp reference exited with {} (its messages are above)",
            output.status
        )));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| {
        invalid(format!(
            "the llama.cpp reference printed no valid JSON: {e}: {}",
            String::from_utf8_lossy(&output.stdout)
        ))
    })
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

/// One Spider question of the greedy-SQL check, with its prompt.
struct SqlCase {
    database: PathBuf,
    gold: String,
    prompt: Vec<u32>,
}

/// The SQL between ```sql fences (or the whole answer), trimmed.
pub fn extract_sql(answer: &str) -> String {
    let body = match answer.find("```") {
        Some(start) => {
            let rest = &answer[start + 3..];
            let rest = rest.strip_prefix("sql").unwrap_or(rest);
            match rest.find("```") {
                Some(end) => &rest[..end],
                None => rest,
            }
        }
        None => answer,
    };
    body.trim().trim_end_matches(';').trim().to_string()
}

fn schema_ddl(database: &SqliteDatabase) -> BenchResult<String> {
    let result = database
        .execute_blocking(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL",
            &ExecOptions::default(),
        )
        .map_err(BenchError::Tools)?;
    Ok(result
        .rows
        .iter()
        .filter_map(|row| match row.first() {
            Some(Value::Text(sql)) => Some(format!("{sql};")),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

fn sql_cases(model: &GgufModel, spider: &Path, count: usize) -> BenchResult<Vec<SqlCase>> {
    let dataset = crate::dataset::load_spider(spider, "dev")?;
    let mut cases = Vec::new();
    for (index, question) in dataset.questions.iter().enumerate() {
        if cases.len() == count {
            break;
        }
        let file = dataset.database_of(index);
        if !file.present {
            continue;
        }
        let database = SqliteDatabase::open(&file.path).map_err(BenchError::Tools)?;
        let messages = [
            ChatMessage::system(
                "You translate questions into SQLite SQL. Answer with one SQL query in a \
                 ```sql fence and nothing else.",
            ),
            ChatMessage::user(format!(
                "Database schema:\n{}\n\nQuestion: {}",
                schema_ddl(&database)?,
                question.question
            )),
        ];
        let prompt = model
            .prompt_tokens(&messages)
            .map_err(|e| invalid(e.to_string()))?;
        cases.push(SqlCase {
            database: file.path.clone(),
            gold: question.gold_sql.clone(),
            prompt,
        });
    }
    if cases.is_empty() {
        return Err(invalid(format!(
            "no Spider dev question with its database under {}",
            spider.display()
        )));
    }
    Ok(cases)
}

/// Rows of `sql`, or None when it fails.
fn rows_of(database: &SqliteDatabase, sql: &str) -> Option<Vec<Vec<Value>>> {
    let options = ExecOptions {
        timeout: Duration::from_secs(30),
        ..ExecOptions::default()
    };
    database
        .execute_blocking(sql, &options)
        .ok()
        .map(|r| r.rows)
}

fn agreement_check(
    model: &GgufModel,
    python: &Path,
    options: &BenchLlmOptions,
) -> BenchResult<(AgreementReport, String)> {
    const CONTINUATION: usize = 64;
    const SQL_TOKENS: usize = 160;
    let mut greedy = Vec::new();
    let agreement_prompts: Vec<Vec<u32>> = AGREEMENT_PROMPTS
        .iter()
        .map(|text| model.prompt_tokens(&[ChatMessage::user(*text)]))
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(e.to_string()))?;
    for prompt in &agreement_prompts {
        greedy.push(ReferenceGreedyRequest {
            prompt: prompt.clone(),
            max_tokens: CONTINUATION,
            stop: Vec::new(),
        });
    }
    let cases = match &options.spider_dir {
        Some(spider) => sql_cases(model, spider, options.sql_questions)?,
        None => Vec::new(),
    };
    let stop = model.tokenizer().end_of_turn_ids();
    for case in &cases {
        greedy.push(ReferenceGreedyRequest {
            prompt: case.prompt.clone(),
            max_tokens: SQL_TOKENS,
            stop: stop.clone(),
        });
    }
    let answer = run_reference(
        python,
        &ReferenceRequest {
            model: &options.model,
            threads: options.threads,
            context: 4096,
            speed: None,
            greedy,
        },
    )?;
    let mut agreeing = 0;
    let mut positions = 0;
    for (prompt, reference) in agreement_prompts.iter().zip(&answer.greedy) {
        let forced = model
            .teacher_force(prompt, reference)
            .map_err(|e| invalid(e.to_string()))?;
        positions += reference.len();
        agreeing += forced
            .top_tokens
            .iter()
            .zip(reference)
            .filter(|(a, b)| a == b)
            .count();
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| invalid(format!("cannot start a runtime: {e}")))?;
    let mut identical = 0;
    let mut equivalent = 0;
    let mut differences = Vec::new();
    for (index, (case, reference)) in cases
        .iter()
        .zip(answer.greedy.iter().skip(agreement_prompts.len()))
        .enumerate()
    {
        let params = GenerationParams {
            max_tokens: SQL_TOKENS,
            ..GenerationParams::default()
        };
        let ours = runtime
            .block_on(model.generate_tokens(case.prompt.clone(), &params, None))
            .map_err(|e| invalid(e.to_string()))?;
        let ours = extract_sql(&ours[0].text);
        let theirs = extract_sql(&model.tokenizer().decode(reference));
        if ours == theirs {
            identical += 1;
            continue;
        }
        let database = SqliteDatabase::open(&case.database).map_err(BenchError::Tools)?;
        let prepared = Metric::SpiderTestSuite.prepare(&ours, &case.gold);
        let same = match (rows_of(&database, &ours), rows_of(&database, &theirs)) {
            (Some(a), Some(b)) => Metric::SpiderTestSuite.result_eq(&b, &a, prepared.order_matters),
            _ => false,
        };
        if same {
            equivalent += 1;
        } else {
            differences.push((index, ours, theirs));
        }
    }
    Ok((
        AgreementReport {
            top1_agreeing: agreeing,
            top1_positions: positions,
            top1_agreement: ratio(agreeing as f64, positions as f64),
            sql_identical: identical,
            sql_execution_equivalent: equivalent,
            sql_questions: cases.len(),
            sql_differences: differences,
        },
        answer.version,
    ))
}

/// Runs the benchmark.
pub fn run(options: &BenchLlmOptions) -> BenchResult<BenchLlmReport> {
    let file_bytes = std::fs::metadata(&options.model)
        .map_err(|source| BenchError::Read {
            path: options.model.clone(),
            source,
        })?
        .len();
    let load_average = load_average();
    let started = Instant::now();
    let model = GgufModel::load(
        &options.model,
        &GgufOptions {
            threads: Some(options.threads),
            // Room for the SQL prompts of the check (schemas) and the benchmark prompt.
            context_length: Some(4096.max(options.prompt_tokens + options.decode_tokens + 8)),
            ..GgufOptions::default()
        },
    )
    .map_err(|e| invalid(e.to_string()))?;
    let load_seconds = started.elapsed().as_secs_f64();
    let prompt = benchmark_prompt(&model, options.prompt_tokens)?;
    let learnat = measure_learnat(&model, &prompt, options.decode_tokens, load_seconds)?;
    let summary = model.weight_summary().clone();

    let python = if options.reference_llama_cpp || options.check_against_llama_cpp {
        Some(ensure_llama_cpp(&options.llama_cpp_venv)?)
    } else {
        None
    };
    let mut llama_cpp = None;
    let mut llama_cpp_version = None;
    let mut round_ratios = Vec::new();
    if let (true, Some(python)) = (options.reference_llama_cpp, &python) {
        for round in 0..options.rounds.max(1) {
            let ours = if round == 0 {
                learnat.clone()
            } else {
                measure_learnat(&model, &prompt, options.decode_tokens, load_seconds)?
            };
            let (reference, version) = measure_llama_cpp(python, options, &prompt)?;
            round_ratios.push(speed_ratios(&ours, &reference));
            if round == 0 {
                llama_cpp = Some(reference);
                llama_cpp_version = Some(version);
            }
        }
    }
    let ratios = median_ratios(&round_ratios);
    if round_ratios.len() < 2 {
        round_ratios.clear();
    }
    let agreement = match (options.check_against_llama_cpp, &python) {
        (true, Some(python)) => {
            let (report, version) = agreement_check(&model, python, options)?;
            llama_cpp_version.get_or_insert(version);
            Some(report)
        }
        _ => None,
    };
    // The peak RSS reported is the speed measurement's (taken right after it): the check
    // afterwards scores whole sequences, with logits for every position, which is not what the
    // speed figures describe.
    Ok(BenchLlmReport {
        machine: Machine::current(),
        load_average,
        model: options.model.clone(),
        file_bytes,
        threads: options.threads,
        learnat_kernel_matrices: summary.learnat_kernel_matrices,
        candle_matrices: summary.candle_matrices,
        rss_to_file_ratio: ratio(learnat.peak_rss_bytes as f64, file_bytes as f64),
        learnat,
        llama_cpp,
        llama_cpp_version,
        round_ratios,
        ratios,
        agreement,
    })
}

/// One speed measurement of llama.cpp (a fresh reference process) and its version.
fn measure_llama_cpp(
    python: &Path,
    options: &BenchLlmOptions,
    prompt: &[u32],
) -> BenchResult<(LlmSpeed, String)> {
    let answer = run_reference(
        python,
        &ReferenceRequest {
            model: &options.model,
            threads: options.threads,
            context: options.prompt_tokens + options.decode_tokens + 16,
            speed: Some(ReferenceSpeedRequest {
                prompt,
                decode_tokens: options.decode_tokens,
            }),
            greedy: Vec::new(),
        },
    )?;
    let speed = answer
        .speed
        .ok_or_else(|| invalid("the llama.cpp reference returned no speed"))?;
    let measured = LlmSpeed {
        load_seconds: speed.load_seconds,
        prompt_tokens: speed.prompt_tokens,
        prefill_seconds: speed.prefill_seconds,
        prefill_tokens_per_second: ratio(speed.prompt_tokens as f64, speed.prefill_seconds),
        time_to_first_token_ms: speed.time_to_first_token_seconds * 1000.0,
        decode_tokens: speed.decode_tokens,
        decode_seconds: speed.decode_seconds,
        decode_tokens_per_second: ratio(speed.decode_tokens as f64, speed.decode_seconds),
        peak_rss_bytes: answer.peak_rss_bytes,
    };
    Ok((measured, answer.version))
}

/// learnat's speed over llama.cpp's.
fn speed_ratios(learnat: &LlmSpeed, reference: &LlmSpeed) -> SpeedRatios {
    SpeedRatios {
        prefill: ratio(
            learnat.prefill_tokens_per_second,
            reference.prefill_tokens_per_second,
        ),
        decode: ratio(
            learnat.decode_tokens_per_second,
            reference.decode_tokens_per_second,
        ),
        time_to_first_token: ratio(
            reference.time_to_first_token_ms,
            learnat.time_to_first_token_ms,
        ),
        peak_rss: ratio(
            learnat.peak_rss_bytes as f64,
            reference.peak_rss_bytes as f64,
        ),
    }
}

/// Each ratio's median over the rounds (the mean of the middle two for an even count).
fn median_ratios(rounds: &[SpeedRatios]) -> Option<SpeedRatios> {
    let median = |pick: fn(&SpeedRatios) -> f64| {
        let mut values: Vec<f64> = rounds.iter().map(pick).collect();
        values.sort_by(f64::total_cmp);
        let middle = values.len() / 2;
        if values.len() % 2 == 1 {
            values[middle]
        } else {
            (values[middle - 1] + values[middle]) / 2.0
        }
    };
    (!rounds.is_empty()).then(|| SpeedRatios {
        prefill: median(|r| r.prefill),
        decode: median(|r| r.decode),
        time_to_first_token: median(|r| r.time_to_first_token),
        peak_rss: median(|r| r.peak_rss),
    })
}

impl std::fmt::Display for BenchLlmReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        writeln!(f, "learnat bench llm: {}", self.model.display())?;
        writeln!(
            f,
            "machine: {}; load average before: {}; threads: {}",
            self.machine, self.load_average, self.threads
        )?;
        writeln!(
            f,
            "matrices: {} on learnat kernels, {} on candle's",
            self.learnat_kernel_matrices, self.candle_matrices
        )?;
        let row = |f: &mut std::fmt::Formatter<'_>, name: &str, s: &LlmSpeed| {
            writeln!(
                f,
                "{name:<10} prefill {:>7.1} tok/s ({} tokens, {:.2} s)  first token {:>7.1} ms  \
                 decode {:>6.1} tok/s ({} tokens)  peak RSS {:>7.1} MiB  load {:.2} s",
                s.prefill_tokens_per_second,
                s.prompt_tokens,
                s.prefill_seconds,
                s.time_to_first_token_ms,
                s.decode_tokens_per_second,
                s.decode_tokens,
                mib(s.peak_rss_bytes),
                s.load_seconds
            )
        };
        row(f, "learnat", &self.learnat)?;
        if let Some(reference) = &self.llama_cpp {
            let version = self.llama_cpp_version.as_deref().unwrap_or("?");
            row(f, "llama.cpp", reference)?;
            writeln!(f, "(llama-cpp-python {version})")?;
        }
        writeln!(
            f,
            "file {:.1} MiB; learnat peak RSS / file size = {:.2}",
            mib(self.file_bytes),
            self.rss_to_file_ratio
        )?;
        for (round, r) in self.round_ratios.iter().enumerate() {
            writeln!(
                f,
                "round {}: prefill {:.2}x  decode {:.2}x  time to first token {:.2}x",
                round + 1,
                r.prefill,
                r.decode,
                r.time_to_first_token
            )?;
        }
        if let Some(r) = &self.ratios {
            let median = if self.round_ratios.is_empty() {
                String::new()
            } else {
                format!(" (median of {} rounds)", self.round_ratios.len())
            };
            writeln!(
                f,
                "learnat / llama.cpp{median}: prefill {:.2}x  decode {:.2}x  time to first token \
                 {:.2}x (above 1 = learnat faster)  peak RSS {:.2}x",
                r.prefill, r.decode, r.time_to_first_token, r.peak_rss
            )?;
        }
        if let Some(a) = &self.agreement {
            writeln!(
                f,
                "teacher-forced top-1 agreement with llama.cpp: {}/{} = {:.1}%",
                a.top1_agreeing,
                a.top1_positions,
                a.top1_agreement * 100.0
            )?;
            writeln!(
                f,
                "greedy Spider dev SQL: {} identical, {} execution-equivalent, {} different, of {}",
                a.sql_identical,
                a.sql_execution_equivalent,
                a.sql_differences.len(),
                a.sql_questions
            )?;
            for (index, ours, theirs) in &a.sql_differences {
                writeln!(f, "  #{index}: learnat `{ours}` / llama.cpp `{theirs}`")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_is_taken_from_the_fence() {
        assert_eq!(
            extract_sql("Here:\n```sql\nSELECT 1;\n```\nDone"),
            "SELECT 1"
        );
        assert_eq!(
            extract_sql("SELECT count(*) FROM t"),
            "SELECT count(*) FROM t"
        );
        assert_eq!(extract_sql("```\nSELECT 2\n```"), "SELECT 2");
    }

    #[test]
    fn ratios_are_the_median_of_the_rounds() {
        let round = |decode: f64| SpeedRatios {
            prefill: 0.6,
            decode,
            time_to_first_token: 0.6,
            peak_rss: 0.9,
        };
        assert_eq!(median_ratios(&[]), None);
        let odd = median_ratios(&[round(1.2), round(0.8), round(1.0)]).unwrap();
        assert_eq!(odd.decode, 1.0);
        assert_eq!(odd.prefill, 0.6);
        let even = median_ratios(&[round(1.2), round(0.8), round(1.0), round(0.9)]).unwrap();
        assert!((even.decode - 0.95).abs() < 1e-12);
    }

    #[test]
    fn peak_rss_is_read_from_proc() {
        assert!(peak_rss_bytes() > 0);
    }

    #[test]
    fn the_benchmark_on_a_tiny_model_measures_something() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        learnat_agent::model::gguf::tiny::write_tiny_gguf(
            &path,
            learnat_agent::model::gguf::ModelFamily::Qwen2,
            3,
        )
        .unwrap();
        let mut options = BenchLlmOptions::new(path, 2);
        options.prompt_tokens = 64;
        options.decode_tokens = 16;
        let report = run(&options).unwrap();
        assert_eq!(report.learnat.prompt_tokens, 64);
        assert_eq!(report.learnat.decode_tokens, 16);
        assert!(report.learnat.decode_tokens_per_second > 0.0);
        assert!(report.learnat.prefill_tokens_per_second > 0.0);
        assert!(report.to_string().contains("decode"));
    }
}
