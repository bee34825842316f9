//! The function-driven user simulator of BIRD-Interact, in two stages.
//!
//! 1. A [`QuestionParser`] maps the agent's clarification question to one [`UserAction`]:
//!    `AMB(i)` (it asks what annotated ambiguity *i* means), `LOC(i)` (it asks about a concrete
//!    SQL fragment that matches annotated snippet *i*), or `UNA` (anything else: the user
//!    politely declines). [`RuleParser`] (lexical overlap with the annotated terms and
//!    snippets) is the deterministic default; [`LlmParser`] asks a [`ChatModel`] and falls
//!    back to the rules when the model's answer does not parse.
//! 2. [`generate_reply`] writes the user's answer from the *annotation alone*: its signature
//!    takes the annotated ambiguities, never the task, so the gold SQL cannot reach a reply.
//!
//! ```
//! use learnat_simulator::user_sim::{FunctionDrivenSimulator, UserSimulator};
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let task = &learnat_simulator::task::demo_tasks().unwrap()[0];
//! let simulator = FunctionDrivenSimulator::rule_based();
//! let reply = simulator.reply(task, "What do you mean by 'best customers'?").await.unwrap();
//! assert_eq!(reply.action.kind, learnat_simulator::user_sim::ActionKind::Amb);
//! # });
//! ```

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use learnat_agent::{ChatMessage, ChatModel, GenerationParams};
use serde::{Deserialize, Serialize};

use crate::error::SimResult;
use crate::task::{AnnotatedAmbiguity, InteractiveTask};

/// The parser's three actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ActionKind {
    /// The question is about an annotated ambiguity.
    Amb,
    /// The question is about a concrete SQL fragment the user may reveal.
    Loc,
    /// Unanswerable or out of scope.
    Una,
}

/// What the parser decided, and which annotation it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAction {
    /// AMB, LOC or UNA.
    pub kind: ActionKind,
    /// Index into [`InteractiveTask::ambiguities`] (AMB and LOC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambiguity: Option<usize>,
    /// Which parser decided (`rule`, `llm`, or `llm->rule` when the model's answer was unusable).
    pub parser: String,
}

impl UserAction {
    /// `UNA`, decided by `parser`.
    pub fn unanswerable(parser: &str) -> UserAction {
        UserAction {
            kind: ActionKind::Una,
            ambiguity: None,
            parser: parser.to_string(),
        }
    }
}

/// One reply of the simulated user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimulatorReply {
    /// How the question was understood.
    pub action: UserAction,
    /// What the user says.
    pub text: String,
}

/// The simulated user: answers the agent's clarification questions about one task.
#[async_trait]
pub trait UserSimulator: Send + Sync {
    /// `rule` or `llm` (recorded in transcripts and reports).
    fn name(&self) -> &str;

    /// The user's answer to the agent's `question` about `task`.
    async fn reply(&self, task: &InteractiveTask, question: &str) -> SimResult<SimulatorReply>;
}

/// Stage 1: the agent's question to an action.
#[async_trait]
pub trait QuestionParser: Send + Sync {
    /// `rule` or `llm`.
    fn name(&self) -> &str;

    /// The action for `question`, given the task's annotated ambiguities.
    async fn parse(&self, ambiguities: &[AnnotatedAmbiguity], question: &str) -> UserAction;
}

/// The two-stage simulator: any [`QuestionParser`], then [`generate_reply`].
pub struct FunctionDrivenSimulator {
    parser: Arc<dyn QuestionParser>,
}

impl FunctionDrivenSimulator {
    /// With `parser`.
    pub fn new(parser: Arc<dyn QuestionParser>) -> FunctionDrivenSimulator {
        FunctionDrivenSimulator { parser }
    }

    /// The deterministic default: [`RuleParser`].
    pub fn rule_based() -> FunctionDrivenSimulator {
        FunctionDrivenSimulator::new(Arc::new(RuleParser))
    }

    /// [`LlmParser`] over `model`.
    pub fn llm(model: Arc<dyn ChatModel>) -> FunctionDrivenSimulator {
        FunctionDrivenSimulator::new(Arc::new(LlmParser::new(model)))
    }
}

#[async_trait]
impl UserSimulator for FunctionDrivenSimulator {
    fn name(&self) -> &str {
        self.parser.name()
    }

    async fn reply(&self, task: &InteractiveTask, question: &str) -> SimResult<SimulatorReply> {
        let ambiguities = task.ambiguities();
        let action = self.parser.parse(&ambiguities, question).await;
        let text = generate_reply(&ambiguities, &action);
        Ok(SimulatorReply { action, text })
    }
}

/// What the user says when a question is out of scope.
pub const DECLINE_REPLY: &str =
    "Sorry, I can't help with that. I can only explain what I meant in my question.";

/// Stage 2: the user's words for `action`, from the annotation alone. AMB explains the term
/// (the hidden fact's description for knowledge ambiguities) with its snippet; LOC confirms the
/// snippet; UNA declines. Nothing but the chosen annotation's own snippet is revealed.
pub fn generate_reply(ambiguities: &[AnnotatedAmbiguity], action: &UserAction) -> String {
    let chosen = action.ambiguity.and_then(|i| ambiguities.get(i));
    match (action.kind, chosen) {
        (ActionKind::Amb, Some(a)) => match &a.description {
            Some(description) => format!("{description} (in SQL: `{}`)", a.sql_snippet),
            None => format!("By '{}' I mean `{}`.", a.term, a.sql_snippet),
        },
        (ActionKind::Loc, Some(a)) => {
            format!("For that part, use `{}`.", a.sql_snippet)
        }
        _ => DECLINE_REPLY.to_string(),
    }
}

/// Words of the agent's question that say nothing about which ambiguity it is about.
const QUESTION_STOP_WORDS: &[&str] = &[
    "a", "an", "the", "of", "in", "on", "for", "to", "with", "by", "is", "are", "be", "and", "or",
    "do", "does", "you", "i", "me", "my", "your", "what", "which", "that", "this", "it", "should",
    "mean", "want", "would", "like", "please", "can", "could", "there", "here", "exactly",
];

/// SQL keywords, written in capitals, that mark a question as quoting a fragment (LOC).
const SQL_MARKERS: &[&str] = &[
    "SELECT", "WHERE", "LIMIT", "ORDER", "DESC", "ASC", "GROUP", "HAVING", "JOIN", "LIKE",
];

/// Lowercase word tokens (letters, digits, `_`, `.` inside identifiers), singular-ish.
fn word_tokens(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
        .map(|w| w.trim_matches('.'))
        .filter(|w| !w.is_empty())
        .map(|w| {
            if w.len() > 3 && w.ends_with('s') && !w.ends_with("ss") {
                w[..w.len() - 1].to_string()
            } else {
                w.to_string()
            }
        })
        .collect()
}

/// Content words: no stop words.
fn content_words(text: &str) -> HashSet<String> {
    word_tokens(text)
        .into_iter()
        .filter(|w| !QUESTION_STOP_WORDS.contains(&w.as_str()))
        .collect()
}

/// The deterministic parser: lexical overlap with the annotated terms (AMB) and, for questions
/// that quote SQL, with the annotated snippets (LOC).
#[derive(Debug, Clone, Copy, Default)]
pub struct RuleParser;

/// Overlap needed with a term's content words (or a snippet's tokens) to match it.
const MATCH_THRESHOLD: f64 = 0.5;

impl RuleParser {
    /// The decision, synchronously (the rules need no I/O).
    pub fn decide(ambiguities: &[AnnotatedAmbiguity], question: &str) -> UserAction {
        let lower = question.to_lowercase();
        let question_words = content_words(question);
        let all_tokens: HashSet<String> = word_tokens(question).into_iter().collect();
        let quotes_sql = question.contains('`')
            || question.contains(['>', '<', '='])
            || question
                .split(|c: char| !c.is_ascii_alphabetic())
                .any(|word| SQL_MARKERS.contains(&word));

        let overlap = |needle: &HashSet<String>, hay: &HashSet<String>| {
            if needle.is_empty() {
                0.0
            } else {
                needle.intersection(hay).count() as f64 / needle.len() as f64
            }
        };
        let best = |score: &dyn Fn(&AnnotatedAmbiguity) -> f64| {
            ambiguities
                .iter()
                .map(|a| (score(a), a.index))
                // Ties go to the earlier annotation (critical before the others).
                .fold(None::<(f64, usize)>, |acc, (s, i)| match acc {
                    Some((best, _)) if best >= s => acc,
                    _ => Some((s, i)),
                })
                .filter(|(s, _)| *s >= MATCH_THRESHOLD)
        };
        let amb = |index: usize| UserAction {
            kind: ActionKind::Amb,
            ambiguity: Some(index),
            parser: "rule".into(),
        };
        // The term itself, quoted or not, names the ambiguity best.
        if let Some(a) = ambiguities
            .iter()
            .find(|a| lower.contains(&a.term.to_lowercase()))
        {
            return amb(a.index);
        }
        if quotes_sql {
            let snippet_score = |a: &AnnotatedAmbiguity| {
                let tokens: HashSet<String> = word_tokens(&a.sql_snippet).into_iter().collect();
                overlap(&tokens, &all_tokens)
            };
            if let Some((_, index)) = best(&snippet_score) {
                return UserAction {
                    kind: ActionKind::Loc,
                    ambiguity: Some(index),
                    parser: "rule".into(),
                };
            }
        }
        let term_score = |a: &AnnotatedAmbiguity| overlap(&content_words(&a.term), &question_words);
        match best(&term_score) {
            Some((_, index)) => amb(index),
            None => UserAction::unanswerable("rule"),
        }
    }
}

#[async_trait]
impl QuestionParser for RuleParser {
    fn name(&self) -> &str {
        "rule"
    }

    async fn parse(&self, ambiguities: &[AnnotatedAmbiguity], question: &str) -> UserAction {
        RuleParser::decide(ambiguities, question)
    }
}

/// The LLM parser: the model reads the annotated terms and snippets and answers `AMB <n>`,
/// `LOC <n>` or `UNA`. Greedy decoding; an unusable answer falls back to [`RuleParser`].
pub struct LlmParser {
    model: Arc<dyn ChatModel>,
}

impl LlmParser {
    /// Over `model`.
    pub fn new(model: Arc<dyn ChatModel>) -> LlmParser {
        LlmParser { model }
    }

    /// The messages sent to the model.
    pub fn prompt(ambiguities: &[AnnotatedAmbiguity], question: &str) -> Vec<ChatMessage> {
        let listed: Vec<String> = ambiguities
            .iter()
            .map(|a| {
                format!(
                    "{}. term: \"{}\"; SQL fragment: {}",
                    a.index + 1,
                    a.term,
                    a.sql_snippet
                )
            })
            .collect();
        vec![
            ChatMessage::system(
                "You classify a clarification question that an assistant asked a user about \
                 their database question. Reply with exactly one line: `AMB <n>` when it asks \
                 what the user meant by annotated term n, `LOC <n>` when it asks about a \
                 concrete SQL fragment that matches fragment n, or `UNA` when it is about \
                 anything else.",
            ),
            ChatMessage::user(format!(
                "Annotated ambiguities:\n{}\n\nThe assistant asked: {question}",
                listed.join("\n")
            )),
        ]
    }

    /// The action in the model's answer, if it is one.
    pub fn parse_answer(text: &str, count: usize) -> Option<(ActionKind, Option<usize>)> {
        let line = text.trim().lines().next()?.trim().trim_matches('`');
        let mut words = line.split_whitespace();
        let kind = match words.next()?.to_uppercase().as_str() {
            "AMB" => ActionKind::Amb,
            "LOC" => ActionKind::Loc,
            "UNA" => return Some((ActionKind::Una, None)),
            _ => return None,
        };
        let number: usize = words
            .next()?
            .trim_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .ok()?;
        (1..=count)
            .contains(&number)
            .then_some((kind, Some(number - 1)))
    }
}

#[async_trait]
impl QuestionParser for LlmParser {
    fn name(&self) -> &str {
        "llm"
    }

    async fn parse(&self, ambiguities: &[AnnotatedAmbiguity], question: &str) -> UserAction {
        let params = GenerationParams {
            max_tokens: 8,
            temperature: 0.0,
            ..GenerationParams::default()
        };
        let messages = LlmParser::prompt(ambiguities, question);
        let answer = match self.model.chat(&messages, &params).await {
            Ok(mut completions) => completions.pop().map(|c| c.text),
            Err(error) => {
                tracing::warn!(%error, "the LLM parser failed; using the rule parser");
                None
            }
        };
        match answer.and_then(|text| LlmParser::parse_answer(&text, ambiguities.len())) {
            Some((kind, ambiguity)) => UserAction {
                kind,
                ambiguity,
                parser: "llm".into(),
            },
            None => UserAction {
                parser: "llm->rule".into(),
                ..RuleParser::decide(ambiguities, question)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ambiguities() -> Vec<AnnotatedAmbiguity> {
        vec![
            AnnotatedAmbiguity {
                index: 0,
                term: "several students".into(),
                sql_snippet: "COUNT(*) > 3".into(),
                description: None,
                group: "critical",
                kind: "threshold_ambiguity".into(),
            },
            AnnotatedAmbiguity {
                index: 1,
                term: "the order".into(),
                sql_snippet: "ORDER BY age DESC".into(),
                description: None,
                group: "critical",
                kind: "sort_ambiguity".into(),
            },
            AnnotatedAmbiguity {
                index: 2,
                term: "the age limit".into(),
                sql_snippet: "30".into(),
                description: Some("The age limit is 30.".into()),
                group: "knowledge",
                kind: "knowledge".into(),
            },
        ]
    }

    #[test]
    fn a_question_about_a_term_is_amb() {
        let action = RuleParser::decide(&ambiguities(), "What threshold do you mean by 'several'?");
        assert_eq!((action.kind, action.ambiguity), (ActionKind::Amb, Some(0)));
        let action = RuleParser::decide(&ambiguities(), "What is the age limit?");
        assert_eq!((action.kind, action.ambiguity), (ActionKind::Amb, Some(2)));
    }

    #[test]
    fn a_question_quoting_sql_is_loc() {
        let action = RuleParser::decide(&ambiguities(), "Should I use ORDER BY age ASC?");
        assert_eq!((action.kind, action.ambiguity), (ActionKind::Loc, Some(1)));
    }

    #[test]
    fn anything_else_is_una() {
        let action = RuleParser::decide(&ambiguities(), "Can you give me the whole query?");
        assert_eq!(action.kind, ActionKind::Una);
        assert_eq!(generate_reply(&ambiguities(), &action), DECLINE_REPLY);
    }

    #[test]
    fn replies_reveal_only_their_snippet() {
        let amb = UserAction {
            kind: ActionKind::Amb,
            ambiguity: Some(2),
            parser: "rule".into(),
        };
        assert_eq!(
            generate_reply(&ambiguities(), &amb),
            "The age limit is 30. (in SQL: `30`)"
        );
        let loc = UserAction {
            kind: ActionKind::Loc,
            ambiguity: Some(1),
            parser: "rule".into(),
        };
        assert_eq!(
            generate_reply(&ambiguities(), &loc),
            "For that part, use `ORDER BY age DESC`."
        );
    }

    #[test]
    fn llm_answers_parse_or_are_refused() {
        assert_eq!(
            LlmParser::parse_answer("AMB 2\n", 3),
            Some((ActionKind::Amb, Some(1)))
        );
        assert_eq!(
            LlmParser::parse_answer("`LOC 1`", 3),
            Some((ActionKind::Loc, Some(0)))
        );
        assert_eq!(
            LlmParser::parse_answer("UNA", 3),
            Some((ActionKind::Una, None))
        );
        assert_eq!(LlmParser::parse_answer("AMB 7", 3), None);
        assert_eq!(LlmParser::parse_answer("I think", 3), None);
    }

    #[tokio::test]
    async fn the_llm_parser_falls_back_to_rules_on_garbage() {
        use learnat_agent::model::scripted::ScriptedModel;
        let model = Arc::new(ScriptedModel::in_order(["LOC 2", "no idea"]));
        let parser = LlmParser::new(model);
        let first = parser.parse(&ambiguities(), "anything").await;
        assert_eq!((first.kind, first.ambiguity), (ActionKind::Loc, Some(1)));
        assert_eq!(first.parser, "llm");
        let second = parser
            .parse(&ambiguities(), "What do you mean by several students?")
            .await;
        assert_eq!((second.kind, second.ambiguity), (ActionKind::Amb, Some(0)));
        assert_eq!(second.parser, "llm->rule");
    }
}
