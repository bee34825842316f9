//! Training data: `sft.jsonl`, `pairs.jsonl` and GRPO question files, and their tokenization.
//!
//! - `sft.jsonl`: `{"id","db_id","question","messages":[{"role","content"},...]}`; the last
//!   message is the assistant's completion, the only part with a loss. It is followed by the
//!   end-of-turn token so the model learns to stop.
//! - `pairs.jsonl`: `{"id","db_id","prompt":[messages],"prefix","chosen","rejected",
//!   "chosen_reward","rejected_reward","margin"}`: the chosen / rejected step continues
//!   `prompt` (rendered with the generation prompt) followed by the assistant's `prefix`.
//! - GRPO questions: a Spider-style JSON array or JSONL of `{"question","db_id"}` with the gold
//!   as `query` / `gold_sql` (SQL) or `gold_rows` (rows), and optionally `messages` (the prompt).
//!
//! Prompts are rendered with the model's own chat template and tokenized with its tokenizer
//! (the agent's), so training sees the token ids inference will.

use std::path::Path;

use learnat_agent::ChatMessage;
use learnat_agent::model::gguf::{ChatTemplate, GgufTokenizer};
use serde::Deserialize;

use super::objectives::Sequence;
use super::{TrainError, TrainResult, io_error};

/// One SFT example.
#[derive(Debug, Clone, Deserialize)]
pub struct SftExample {
    /// Example id.
    #[serde(default)]
    pub id: Option<serde_json::Value>,
    /// The database.
    #[serde(default)]
    pub db_id: Option<String>,
    /// The question.
    #[serde(default)]
    pub question: Option<String>,
    /// The conversation; the last message is the assistant completion.
    pub messages: Vec<ChatMessage>,
}

/// One preference pair.
#[derive(Debug, Clone, Deserialize)]
pub struct PreferencePair {
    /// Pair id.
    #[serde(default)]
    pub id: Option<serde_json::Value>,
    /// The database.
    #[serde(default)]
    pub db_id: Option<String>,
    /// The conversation before the assistant turn.
    pub prompt: Vec<ChatMessage>,
    /// The assistant's text before the step (earlier steps).
    #[serde(default)]
    pub prefix: String,
    /// The preferred continuation.
    pub chosen: String,
    /// The dispreferred continuation.
    pub rejected: String,
    /// Reward of `chosen`.
    #[serde(default)]
    pub chosen_reward: Option<f64>,
    /// Reward of `rejected`.
    #[serde(default)]
    pub rejected_reward: Option<f64>,
    /// `chosen_reward − rejected_reward` (computed from the rewards when absent).
    #[serde(default)]
    pub margin: Option<f64>,
}

impl PreferencePair {
    /// Δr, from `margin` or the two rewards.
    pub fn reward_margin(&self) -> Option<f64> {
        self.margin
            .or(match (self.chosen_reward, self.rejected_reward) {
                (Some(c), Some(r)) => Some(c - r),
                _ => None,
            })
    }
}

/// One GRPO question.
#[derive(Debug, Clone, Deserialize)]
pub struct GrpoQuestion {
    /// The question.
    pub question: String,
    /// The database (`DIR/db_id/db_id.sqlite`).
    pub db_id: String,
    /// Gold SQL (Spider's `query`).
    #[serde(default, alias = "query", alias = "SQL")]
    pub gold_sql: Option<String>,
    /// Gold result rows, for question–answer pairs without SQL.
    #[serde(default)]
    pub gold_rows: Option<Vec<Vec<serde_json::Value>>>,
    /// The prompt; built from the schema (the agent's zero-shot prompt) when absent.
    #[serde(default)]
    pub messages: Option<Vec<ChatMessage>>,
    /// BIRD evidence.
    #[serde(default)]
    pub evidence: Option<String>,
}

fn data_error(file: &Path, line: usize, reason: impl Into<String>) -> TrainError {
    TrainError::Data {
        file: file.to_path_buf(),
        line,
        reason: reason.into(),
    }
}

/// Reads a JSONL file of `T`; blank lines are skipped; a bad line is an error naming the file
/// and the (1-based) line. `check` validates each record.
pub fn read_jsonl<T: for<'de> Deserialize<'de>>(
    path: &Path,
    check: impl Fn(&T) -> Result<(), String>,
) -> TrainResult<Vec<(usize, T)>> {
    let text =
        std::fs::read_to_string(path).map_err(io_error("cannot read the data file", path))?;
    let mut records = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: T = serde_json::from_str(line)
            .map_err(|e| data_error(path, index + 1, format!("not a valid record: {e}")))?;
        check(&record).map_err(|reason| data_error(path, index + 1, reason))?;
        records.push((index + 1, record));
    }
    if records.is_empty() {
        return Err(data_error(path, 0, "the file has no records"));
    }
    Ok(records)
}

/// Reads `sft.jsonl`.
pub fn read_sft(path: &Path) -> TrainResult<Vec<(usize, SftExample)>> {
    read_jsonl(path, |example: &SftExample| match example.messages.last() {
        None => Err("\"messages\" is empty".to_string()),
        Some(last) if last.role != learnat_agent::Role::Assistant => Err(format!(
            "the last message is from the {:?}, not the assistant (it is the completion trained on)",
            last.role
        )),
        Some(last) if last.content.trim().is_empty() => {
            Err("the assistant completion is empty".to_string())
        }
        Some(_) if example.messages.len() < 2 => {
            Err("there is no prompt before the completion".to_string())
        }
        Some(_) => Ok(()),
    })
}

/// Reads `pairs.jsonl`; `needs_margin` requires Δr > 0 (both MDPO variants).
pub fn read_pairs(path: &Path, needs_margin: bool) -> TrainResult<Vec<(usize, PreferencePair)>> {
    read_jsonl(path, |pair: &PreferencePair| {
        if pair.prompt.is_empty() {
            return Err("\"prompt\" is empty".to_string());
        }
        if pair.chosen.is_empty() || pair.rejected.is_empty() {
            return Err("\"chosen\" and \"rejected\" must not be empty".to_string());
        }
        if needs_margin {
            match pair.reward_margin() {
                None => {
                    return Err(
                        "MDPO needs \"margin\" (or \"chosen_reward\" and \"rejected_reward\")"
                            .to_string(),
                    );
                }
                Some(m) if m.is_nan() || m <= 0.0 => {
                    return Err(format!(
                        "the margin is {m}; MDPO needs chosen_reward > rejected_reward"
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    })
}

/// Reads GRPO questions from a JSON array (Spider's `dev.json`) or JSONL.
pub fn read_questions(path: &Path) -> TrainResult<Vec<(usize, GrpoQuestion)>> {
    let check = |q: &GrpoQuestion| {
        if q.gold_sql.is_none() && q.gold_rows.is_none() {
            Err("a question needs gold SQL (\"query\" / \"gold_sql\") or \"gold_rows\"".to_string())
        } else {
            Ok(())
        }
    };
    let text =
        std::fs::read_to_string(path).map_err(io_error("cannot read the questions file", path))?;
    if text.trim_start().starts_with('[') {
        let questions: Vec<GrpoQuestion> = serde_json::from_str(&text).map_err(|e| {
            data_error(
                path,
                e.line(),
                format!("not a JSON array of questions: {e}"),
            )
        })?;
        let mut records = Vec::new();
        for (index, question) in questions.into_iter().enumerate() {
            check(&question).map_err(|reason| {
                data_error(path, 0, format!("question {}: {reason}", index + 1))
            })?;
            records.push((index + 1, question));
        }
        return Ok(records);
    }
    read_jsonl(path, check)
}

/// Renders and tokenizes with one model's tokenizer and template.
pub struct Encoder<'a> {
    /// The tokenizer.
    pub tokenizer: &'a GgufTokenizer,
    /// The chat template.
    pub template: &'a ChatTemplate,
}

impl Encoder<'_> {
    /// The end-of-turn token appended to SFT completions (`<|im_end|>`, else EOS).
    pub fn end_of_turn(&self) -> Option<u32> {
        self.tokenizer
            .special_token_id("<|im_end|>")
            .or_else(|| self.tokenizer.eos_token_id())
    }

    /// The prompt ids of `messages`, ending with the opening of an assistant turn, plus `prefix`.
    pub fn prompt(&self, messages: &[ChatMessage], prefix: &str) -> Result<Vec<u32>, String> {
        let mut text = self.template.render(messages, true)?;
        text.push_str(prefix);
        self.tokenizer.encode(&text).map_err(|e| e.to_string())
    }

    /// `prompt` followed by `completion` (and the end-of-turn token when `end_turn`).
    pub fn sequence(
        &self,
        prompt: Vec<u32>,
        completion: &str,
        end_turn: bool,
    ) -> Result<Sequence, String> {
        let mut tokens = prompt;
        if tokens.is_empty() {
            return Err("the prompt renders to no tokens".to_string());
        }
        let completion_start = tokens.len();
        tokens.extend(
            self.tokenizer
                .encode(completion)
                .map_err(|e| e.to_string())?,
        );
        if end_turn && let Some(end) = self.end_of_turn() {
            tokens.push(end);
        }
        if tokens.len() == completion_start {
            return Err("the completion has no tokens".to_string());
        }
        Ok(Sequence {
            tokens,
            completion_start,
        })
    }

    /// An SFT example as a sequence.
    pub fn sft(&self, example: &SftExample) -> Result<Sequence, String> {
        let (last, prompt) = example.messages.split_last().ok_or("no messages")?;
        self.sequence(self.prompt(prompt, "")?, &last.content, true)
    }

    /// A pair as (chosen, rejected) sequences sharing the prompt and prefix.
    pub fn pair(&self, pair: &PreferencePair) -> Result<(Sequence, Sequence), String> {
        let prompt = self.prompt(&pair.prompt, &pair.prefix)?;
        Ok((
            self.sequence(prompt.clone(), &pair.chosen, false)?,
            self.sequence(prompt, &pair.rejected, false)?,
        ))
    }
}

/// Tokenized records with their source lines; records longer than `max_len` are dropped and
/// counted (a warning says how many).
pub struct Tokenized<T> {
    /// `(line, value)`.
    pub items: Vec<(usize, T)>,
    /// Records dropped for length.
    pub too_long: usize,
}

/// Tokenizes every record with `encode`; an encoding error names the file and line.
pub fn tokenize_all<R, T>(
    file: &Path,
    records: &[(usize, R)],
    max_len: usize,
    encode: impl Fn(&R) -> Result<T, String>,
    length: impl Fn(&T) -> usize,
) -> TrainResult<Tokenized<T>> {
    let mut items = Vec::new();
    let mut too_long = 0;
    for (line, record) in records {
        let value = encode(record).map_err(|reason| data_error(file, *line, reason))?;
        if length(&value) > max_len {
            too_long += 1;
            continue;
        }
        items.push((*line, value));
    }
    if too_long > 0 {
        tracing::warn!(file = %file.display(), too_long, max_len, "records longer than --max-seq-len were skipped");
    }
    if items.is_empty() {
        return Err(data_error(
            file,
            0,
            format!("all {too_long} records are longer than --max-seq-len {max_len} tokens"),
        ));
    }
    Ok(Tokenized { items, too_long })
}
