//! What the search leaves behind: SFT trajectories, step-level preference pairs and one record
//! per question, as append-only JSONL in the output folder, and the TRL exports derived from
//! them.
//!
//! | file | one line per | fields |
//! | --- | --- | --- |
//! | `sft.jsonl` | solved question | `id`, `db_id`, `question`, `messages` (prompt, then one assistant message: the whole student-format completion) |
//! | `pairs.jsonl` | preference pair | `id`, `db_id`, `prompt`, `prefix`, `chosen`, `rejected`, `chosen_reward`, `rejected_reward`, `margin`, `rejected_class` |
//! | `questions.jsonl` | question searched | [`QuestionRecord`]: outcome, cost, classes, the correct trajectory |
//! | `trl_sft.jsonl` | SFT line | `messages` |
//! | `trl_dpo.jsonl` | pair | `prompt`, `chosen`, `rejected` (assistant messages: prefix + step), `margin` |
//!
//! A question's lines are written together, `questions.jsonl` last, so a question counts as
//! done exactly when its record is there; resuming drops any `sft`/`pairs` lines of questions
//! without a record (a run killed mid-write) and skips the questions that have one.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use learnat_agent::model::ChatMessage;
use learnat_agent::student_format::{StudentOutput, StudentStep, format_student_output};
use learnat_tools::sql::StepClass;
use serde::{Deserialize, Serialize};

use super::error::{SynthError, SynthResult};
use super::search::{ClassCounts, SearchOutcome};
use super::teacher::TeacherUsage;

pub const SFT_FILE: &str = "sft.jsonl";
pub const PAIRS_FILE: &str = "pairs.jsonl";
pub const QUESTIONS_FILE: &str = "questions.jsonl";
pub const TRL_SFT_FILE: &str = "trl_sft.jsonl";
pub const TRL_DPO_FILE: &str = "trl_dpo.jsonl";
pub const STATS_FILE: &str = "stats.json";
pub const SETTINGS_FILE: &str = "settings.json";

/// One SFT trajectory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftRecord {
    pub id: String,
    pub db_id: String,
    pub question: String,
    /// The prompt messages, then one assistant message with the completion.
    pub messages: Vec<ChatMessage>,
}

/// Why the rejected step of a pair lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectedClass {
    /// Contained in the gold AST but adds nothing new.
    Redundant,
    /// Does not parse or execute, or leaves the gold AST.
    Invalid,
    /// Progressive, but with a lower reward than the chosen step.
    LowerReward,
}

/// One step-level preference pair: two continuations of the same prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairRecord {
    /// The question's id (a question has several pairs).
    pub id: String,
    pub db_id: String,
    /// The prompt messages (no assistant message).
    pub prompt: Vec<ChatMessage>,
    /// Assistant text of the shared earlier steps ("" at the first step).
    pub prefix: String,
    /// The step on the correct trajectory.
    pub chosen: String,
    /// A sibling step.
    pub rejected: String,
    pub chosen_reward: f64,
    pub rejected_reward: f64,
    /// `chosen_reward − rejected_reward`, always > 0.
    pub margin: f64,
    pub rejected_class: RejectedClass,
}

/// One step of the correct trajectory, as recorded in `questions.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrajectoryStep {
    pub sub_question: String,
    pub sql: String,
    pub is_final: bool,
    pub class: StepClass,
    pub reward: f64,
}

/// What happened to one question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionRecord {
    pub id: String,
    pub db_id: String,
    pub question: String,
    pub gold_sql: String,
    /// Some step execution-matched the gold.
    pub solved: bool,
    /// Steps of the correct trajectory (0 when unsolved).
    pub depth: usize,
    pub simulations: usize,
    pub usage: TeacherUsage,
    /// Distinct candidates by class.
    pub classes: ClassCounts,
    pub duplicates: u64,
    /// Nodes in the search tree, the root included.
    pub nodes: usize,
    pub pairs: usize,
    pub seconds: f64,
    /// The correct trajectory (empty when unsolved).
    pub trajectory: Vec<TrajectoryStep>,
    /// Why the question could not be searched (missing database, failing gold SQL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The student-format completion of the correct trajectory in `outcome`, when there is one:
/// the steps before the solving one, the solving one (unless it was written as the Final SQL),
/// then `Final SQL` with the solving SQL. A trajectory that is only a Final SQL becomes one
/// step whose sub-question is the question itself (the format always has at least one step).
pub fn sft_completion(outcome: &SearchOutcome, question: &str) -> Option<String> {
    let solved = outcome.solved?;
    let mut steps = Vec::new();
    let mut final_sql = None;
    for id in outcome.path_to(solved) {
        let candidate = outcome.nodes[id].candidate.as_ref()?;
        if candidate.is_final {
            final_sql = Some(candidate.sql.clone());
        } else {
            steps.push(StudentStep {
                sub_question: candidate.sub_question.clone(),
                sql: candidate.sql.clone(),
            });
        }
    }
    let final_sql = final_sql.or_else(|| steps.last().map(|s| s.sql.clone()))?;
    if steps.is_empty() {
        steps.push(StudentStep {
            sub_question: question.trim().to_string(),
            sql: final_sql.clone(),
        });
    }
    Some(format_student_output(&StudentOutput {
        steps,
        final_sql: Some(final_sql),
    }))
}

/// The preference pairs of a solved search: at every node on the correct path, the path's
/// step (chosen) against each sibling with a lower reward (rejected), classed by the
/// sibling's pruning class. Siblings that score as high as the chosen step give no pair (the
/// margin must be positive).
pub fn preference_pairs(
    outcome: &SearchOutcome,
    id: &str,
    db_id: &str,
    prompt: &[ChatMessage],
) -> Vec<PairRecord> {
    let Some(solved) = outcome.solved else {
        return Vec::new();
    };
    let mut pairs = Vec::new();
    let mut prefix = String::new();
    for (index, chosen_id) in outcome.path_to(solved).into_iter().enumerate() {
        let number = index + 1;
        let chosen = &outcome.nodes[chosen_id];
        let (Some(parent), Some(chosen_candidate)) = (chosen.parent, &chosen.candidate) else {
            continue;
        };
        let chosen_text = chosen_candidate.text(number);
        for &sibling_id in &outcome.nodes[parent].children {
            let sibling = &outcome.nodes[sibling_id];
            let (Some(candidate), Some(class)) = (&sibling.candidate, sibling.class()) else {
                continue;
            };
            let margin = chosen.reward() - sibling.reward();
            if sibling_id == chosen_id || margin <= 0.0 {
                continue;
            }
            pairs.push(PairRecord {
                id: id.to_string(),
                db_id: db_id.to_string(),
                prompt: prompt.to_vec(),
                prefix: prefix.clone(),
                chosen: chosen_text.clone(),
                rejected: candidate.text(number),
                chosen_reward: chosen.reward(),
                rejected_reward: sibling.reward(),
                margin,
                rejected_class: match class {
                    StepClass::Redundant => RejectedClass::Redundant,
                    StepClass::Invalid => RejectedClass::Invalid,
                    StepClass::Progressive => RejectedClass::LowerReward,
                },
            });
        }
        prefix.push_str(&chosen_text);
    }
    pairs
}

/// The correct trajectory of `outcome` for `questions.jsonl`.
pub fn trajectory(outcome: &SearchOutcome) -> Vec<TrajectoryStep> {
    let Some(solved) = outcome.solved else {
        return Vec::new();
    };
    outcome
        .path_to(solved)
        .into_iter()
        .filter_map(|id| {
            let node = &outcome.nodes[id];
            let candidate = node.candidate.as_ref()?;
            Some(TrajectoryStep {
                sub_question: candidate.sub_question.clone(),
                sql: candidate.sql.clone(),
                is_final: candidate.is_final,
                class: node.class()?,
                reward: node.reward(),
            })
        })
        .collect()
}

/// The three append-only JSONL files of a run, written one question at a time.
pub struct OutputWriter {
    files: Mutex<Files>,
}

struct Files {
    sft: BufWriter<File>,
    pairs: BufWriter<File>,
    questions: BufWriter<File>,
    dir: PathBuf,
}

fn open_append(path: &Path) -> SynthResult<BufWriter<File>> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(BufWriter::new)
        .map_err(|e| SynthError::io("open for appending", path, e))
}

impl OutputWriter {
    /// Opens (creating) the files in `dir` for appending.
    pub fn open(dir: &Path) -> SynthResult<OutputWriter> {
        Ok(OutputWriter {
            files: Mutex::new(Files {
                sft: open_append(&dir.join(SFT_FILE))?,
                pairs: open_append(&dir.join(PAIRS_FILE))?,
                questions: open_append(&dir.join(QUESTIONS_FILE))?,
                dir: dir.to_path_buf(),
            }),
        })
    }

    /// Writes one question's lines and flushes them, the question record last.
    pub fn write_question(
        &self,
        sft: Option<&SftRecord>,
        pairs: &[PairRecord],
        record: &QuestionRecord,
    ) -> SynthResult<()> {
        let mut files = self
            .files
            .lock()
            .map_err(|_| SynthError::InvalidOptions("the output writer is poisoned".into()))?;
        let files = &mut *files;
        let dir = files.dir.clone();
        let write = |writer: &mut BufWriter<File>, name: &str, line: String| {
            writeln!(writer, "{line}")
                .and_then(|()| writer.flush())
                .map_err(|e| SynthError::io("write", dir.join(name), e))
        };
        if let Some(sft) = sft {
            write(&mut files.sft, SFT_FILE, to_line(sft))?;
        }
        for pair in pairs {
            write(&mut files.pairs, PAIRS_FILE, to_line(pair))?;
        }
        write(&mut files.questions, QUESTIONS_FILE, to_line(record))
    }
}

fn to_line<T: Serialize>(value: &T) -> String {
    // Records are plain data (strings, numbers, lists); serialising them cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

/// Reads the JSONL file at `path` (missing: empty). A last line that does not parse is a write
/// cut short by a kill and is dropped (`Ok` with `true`); any other bad line is an error naming
/// it.
pub fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> SynthResult<(Vec<T>, bool)> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok((Vec::new(), false));
        }
        Err(error) => return Err(SynthError::io("read", path, error)),
    };
    let lines: Vec<String> = BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(|e| SynthError::io("read", path, e))?;
    let mut records = Vec::with_capacity(lines.len());
    let mut cut = false;
    for (index, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line) {
            Ok(record) => records.push(record),
            Err(_) if index + 1 == lines.len() => cut = true,
            Err(error) => {
                return Err(SynthError::Data {
                    path: path.to_path_buf(),
                    message: format!("line {}: {error}", index + 1),
                });
            }
        }
    }
    Ok((records, cut))
}

/// Prepares `dir` for a resumed run: keeps the question records that were fully written and
/// the SFT / pair lines of those questions only. Returns the ids already done.
pub fn prepare_resume(dir: &Path) -> SynthResult<HashSet<String>> {
    let (records, _) = read_jsonl::<QuestionRecord>(&dir.join(QUESTIONS_FILE))?;
    let done: HashSet<String> = records.iter().map(|r| r.id.clone()).collect();
    rewrite(&dir.join(QUESTIONS_FILE), &records)?;
    let (sft, _) = read_jsonl::<SftRecord>(&dir.join(SFT_FILE))?;
    let sft: Vec<SftRecord> = sft.into_iter().filter(|r| done.contains(&r.id)).collect();
    rewrite(&dir.join(SFT_FILE), &sft)?;
    let (pairs, _) = read_jsonl::<PairRecord>(&dir.join(PAIRS_FILE))?;
    let pairs: Vec<PairRecord> = pairs.into_iter().filter(|r| done.contains(&r.id)).collect();
    rewrite(&dir.join(PAIRS_FILE), &pairs)?;
    Ok(done)
}

/// Replaces `path` with `records`, one per line (through a temporary file and a rename).
fn rewrite<T: Serialize>(path: &Path, records: &[T]) -> SynthResult<()> {
    let temporary = path.with_extension("jsonl.tmp");
    let mut writer = File::create(&temporary)
        .map(BufWriter::new)
        .map_err(|e| SynthError::io("create", &temporary, e))?;
    for record in records {
        writeln!(writer, "{}", to_line(record))
            .map_err(|e| SynthError::io("write", &temporary, e))?;
    }
    writer
        .flush()
        .map_err(|e| SynthError::io("write", &temporary, e))?;
    drop(writer);
    std::fs::rename(&temporary, path).map_err(|e| SynthError::io("replace", path, e))
}

#[derive(Serialize)]
struct TrlSft<'a> {
    messages: &'a [ChatMessage],
}

#[derive(Serialize)]
struct TrlDpo<'a> {
    prompt: &'a [ChatMessage],
    chosen: [ChatMessage; 1],
    rejected: [ChatMessage; 1],
    margin: f64,
}

/// Writes `trl_sft.jsonl` and `trl_dpo.jsonl` from `sft.jsonl` and `pairs.jsonl` (whole files,
/// so they always agree with the records). Returns the numbers of lines written.
pub fn export_trl(dir: &Path) -> SynthResult<(usize, usize)> {
    let (sft, _) = read_jsonl::<SftRecord>(&dir.join(SFT_FILE))?;
    let lines: Vec<TrlSft<'_>> = sft
        .iter()
        .map(|r| TrlSft {
            messages: &r.messages,
        })
        .collect();
    rewrite(&dir.join(TRL_SFT_FILE), &lines)?;
    let (pairs, _) = read_jsonl::<PairRecord>(&dir.join(PAIRS_FILE))?;
    let lines: Vec<TrlDpo<'_>> = pairs
        .iter()
        .map(|p| TrlDpo {
            prompt: &p.prompt,
            chosen: [ChatMessage::assistant(format!("{}{}", p.prefix, p.chosen))],
            rejected: [ChatMessage::assistant(format!(
                "{}{}",
                p.prefix, p.rejected
            ))],
            margin: p.margin,
        })
        .collect();
    rewrite(&dir.join(TRL_DPO_FILE), &lines)?;
    Ok((sft.len(), pairs.len()))
}
