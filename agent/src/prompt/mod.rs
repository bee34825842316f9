//! Prompts: the schema as the model sees it, fitted to a token budget, and the messages of the
//! zero-shot and decomposition strategies.
//!
//! - [`linking`]: which tables, columns and values a question talks about.
//! - [`fit_schema`]: the schema's DDL (CREATE TABLE statements with sample values) within a
//!   token budget: everything when it fits; otherwise without sample values, then only the
//!   relevant tables (linked ones, their foreign-key bridges and lookups), then dropping the
//!   least relevant of those, until it fits. Schemas with more than
//!   [`SchemaBudget::large_schema_tables`] tables start from the relevant tables.
//! - [`PromptInput`] and [`zero_shot_messages`] / [`decompose_messages`]: the conversation a
//!   strategy sends, with BIRD evidence verbatim, the user's clarifications, the previous turns
//!   of the session (for follow-ups) and, for decomposition, worked examples in the LearNAT
//!   student format.
//!
//! - [`explain_error`]: execution feedback for repair turns: a missing table or column, or an
//!   ambiguous one, gets a hint from the schema.
//!
//! The zero-shot prompt follows the llama.cpp baseline it is compared with (a system prompt
//! asking for one SQLite query in a sql block; the CREATE TABLE statements and the question).

pub mod linking;
mod repair;

pub use repair::explain_error;

use learnat_tools::Dialect;
use learnat_tools::schema::Schema;

use crate::model::{ChatMessage, ChatModel};
use crate::session::{ClarificationExchange, Turn};
use crate::strategy::{FewShotExample, StepOutcome};
use crate::student_format::{StudentOutput, StudentStep, format_student_output};
use linking::{SchemaLinks, ValueMatch};

/// Tokens of `text` for `model`: the backend's own count when it has one, else an estimate.
pub fn count_tokens(model: &dyn ChatModel, text: &str) -> usize {
    model
        .count_tokens(text)
        .unwrap_or_else(|| estimate_tokens(text))
}

/// About three characters per token: SQL and identifiers tokenise worse than English prose,
/// so this errs on the long side.
pub fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(3)
}

/// How much room the schema has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaBudget {
    /// Tokens the schema text may take.
    pub max_tokens: usize,
    /// Schemas with more tables than this are cut to the relevant tables even when they fit.
    pub large_schema_tables: usize,
}

/// The schema text of a prompt and how it was cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FittedSchema {
    /// DDL text.
    pub text: String,
    /// The tables it shows, in schema order.
    pub tables: Vec<String>,
    /// Whether sample values are shown.
    pub with_samples: bool,
    /// Tokens it takes (by the counter given to [`fit_schema`]).
    pub tokens: usize,
    /// True when not even the most relevant table fitted and the text is the smallest
    /// rendering anyway (the prompt may then exceed the context).
    pub over_budget: bool,
}

/// A copy of `schema` without sample values.
fn without_samples(schema: &Schema) -> Schema {
    let mut bare = schema.clone();
    for table in &mut bare.tables {
        for column in &mut table.columns {
            column.samples.clear();
        }
    }
    bare
}

/// The schema DDL that fits `budget` (see the module documentation for the order of cuts).
pub fn fit_schema(
    schema: &Schema,
    links: &SchemaLinks,
    budget: SchemaBudget,
    count: &dyn Fn(&str) -> usize,
) -> FittedSchema {
    let bare = without_samples(schema);
    let all: Vec<String> = schema.tables.iter().map(|t| t.name.clone()).collect();
    let render = |source: &Schema, tables: &[String], with_samples: bool| {
        let names: Vec<&str> = tables.iter().map(String::as_str).collect();
        let text = source.to_ddl_tables(&names);
        let tokens = count(&text);
        FittedSchema {
            text,
            tables: tables.to_vec(),
            with_samples,
            tokens,
            over_budget: false,
        }
    };
    let large = schema.tables.len() > budget.large_schema_tables;
    if !large {
        for (source, with_samples) in [(schema, true), (&bare, false)] {
            let fitted = render(source, &all, with_samples);
            if fitted.tokens <= budget.max_tokens {
                return fitted;
            }
        }
    }
    let mut relevant = links.relevant_tables(schema);
    if relevant.is_empty() {
        relevant = all.clone();
    }
    for (source, with_samples) in [(schema, true), (&bare, false)] {
        let fitted = render(source, &relevant, with_samples);
        if fitted.tokens <= budget.max_tokens {
            return fitted;
        }
    }
    // Drop the least relevant tables (unlinked bridges first, then by score) until it fits.
    let mut ranked = relevant.clone();
    ranked.sort_by(|a, b| {
        links
            .score(b)
            .total_cmp(&links.score(a))
            .then_with(|| position(schema, a).cmp(&position(schema, b)))
    });
    while ranked.len() > 1 {
        ranked.pop();
        let mut kept: Vec<String> = ranked.clone();
        kept.sort_by_key(|name| position(schema, name));
        let fitted = render(&bare, &kept, false);
        if fitted.tokens <= budget.max_tokens {
            return fitted;
        }
    }
    let mut smallest = render(&bare, &ranked, false);
    smallest.over_budget = smallest.tokens > budget.max_tokens;
    smallest
}

fn position(schema: &Schema, table: &str) -> usize {
    schema
        .tables
        .iter()
        .position(|t| t.name == *table)
        .unwrap_or(usize::MAX)
}

/// The SQL dialect's name as prompts say it.
pub fn dialect_name(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "SQLite",
        Dialect::Postgres => "PostgreSQL",
    }
}

/// Everything a prompt is made of, besides the strategy's instructions.
#[derive(Debug, Clone, Copy)]
pub struct PromptInput<'a> {
    /// The user's question.
    pub question: &'a str,
    /// BIRD-style evidence, included verbatim.
    pub evidence: Option<&'a str>,
    /// The fitted schema text.
    pub schema_text: &'a str,
    /// The database's dialect.
    pub dialect: Dialect,
    /// Linking results; exact value matches become hints.
    pub links: Option<&'a SchemaLinks>,
    /// Clarifications the user gave for this question.
    pub clarifications: &'a [ClarificationExchange],
    /// Earlier turns of the session (the last [`HISTORY_TURNS`] with SQL are shown).
    pub history: &'a [Turn],
}

/// Earlier turns a follow-up prompt shows. One: a follow-up ("and how many of them ...")
/// refers to the turn just before, and a small model shown two earlier queries often edits the
/// wrong one.
pub const HISTORY_TURNS: usize = 1;

/// `Values found in the database: 'London' is stored in cities.name; ...` for exact matches.
fn value_hints(links: &SchemaLinks) -> Option<String> {
    let mut hints: Vec<String> = Vec::new();
    for link in &links.values {
        if !matches!(link.matched, ValueMatch::Exact | ValueMatch::IgnoringCase) {
            continue;
        }
        let stored = link.examples.first().unwrap_or(&link.mention);
        let hint = format!("'{stored}' is stored in {}.{}", link.table, link.column);
        if !hints.contains(&hint) {
            hints.push(hint);
        }
        if hints.len() == 6 {
            break;
        }
    }
    (!hints.is_empty()).then(|| format!("Values found in the database: {}.", hints.join("; ")))
}

/// The part of the user message after the schema: hints, evidence, history, clarifications
/// and the question.
fn question_section(input: &PromptInput<'_>) -> String {
    let mut text = String::new();
    if let Some(hints) = input.links.and_then(value_hints) {
        text.push_str(&hints);
        text.push_str("\n\n");
    }
    let earlier: Vec<&Turn> = input
        .history
        .iter()
        .filter(|turn| turn.sql.is_some())
        .collect();
    let earlier = &earlier[earlier.len().saturating_sub(HISTORY_TURNS)..];
    if !earlier.is_empty() {
        text.push_str("Earlier in this conversation:\n");
        for turn in earlier {
            text.push_str(&format!("Question: {}\n", turn.question));
            for exchange in &turn.clarifications {
                let meaning = exchange
                    .meaning
                    .as_ref()
                    .map(|m| format!(" (in SQL: {m})"))
                    .unwrap_or_default();
                text.push_str(&format!(
                    "(Clarified: {} → {}{meaning})\n",
                    exchange.question, exchange.answer
                ));
            }
            if let Some(sql) = &turn.sql {
                text.push_str(&format!("SQL: {sql}\n"));
            }
            if let Some(result) = &turn.result {
                text.push_str(&format!("Result:\n{}\n", result.to_prompt_text()));
            }
        }
        text.push_str(
            "The new question may build on the last one (\"those\", \"and the average?\", \
             \"only ...\"): if so, modify the last SQL; otherwise write a new query.\n\n",
        );
    }
    if let Some(evidence) = input.evidence.filter(|e| !e.trim().is_empty()) {
        text.push_str(&format!("Evidence: {}\n", evidence.trim()));
    }
    if !input.clarifications.is_empty() {
        text.push_str("The user clarified:\n");
        for exchange in input.clarifications {
            match &exchange.meaning {
                Some(meaning) => text.push_str(&format!(
                    "- {} → {} (in SQL: {meaning})\n",
                    exchange.question, exchange.answer
                )),
                None => text.push_str(&format!("- {} → {}\n", exchange.question, exchange.answer)),
            }
        }
    }
    text.push_str(&format!("Question: {}", input.question.trim()));
    text
}

/// The zero-shot conversation: one query in a sql block.
pub fn zero_shot_messages(input: &PromptInput<'_>) -> Vec<ChatMessage> {
    let dialect = dialect_name(input.dialect);
    vec![
        ChatMessage::system(format!(
            "You are a {dialect} expert. Given a database schema and a question, write one \
             {dialect} query that answers the question. Reply with only the SQL in a ```sql \
             code block."
        )),
        ChatMessage::user(format!(
            "Database schema:\n{}\n{}",
            input.schema_text.trim_end(),
            question_section(input)
        )),
    ]
}

/// The system message of the decomposition strategy: the student format and how the loop
/// works.
pub fn decompose_system_prompt(dialect: Dialect) -> String {
    let dialect = dialect_name(dialect);
    format!(
        "You are a {dialect} expert who solves a question step by step. Break the question \
         into simple sub questions. For each one write one line `Sub question N: ...` and then \
         `SubSQLN: ```sql ...```` with a {dialect} query that answers it; each step may build \
         on the previous ones. After each SubSQL you are shown its result. When the steps \
         answer the question, write `Final SQL: ```sql ...```` with the one query that answers \
         the whole question. Simple questions need a single step."
    )
}

/// Worked examples in the student format, as prompt text. An example without a decomposition
/// (a Spider train question, say) is shown as a single step answering the whole question, so
/// every example shows the full format: a model shown only `Final SQL` after `Question` writes
/// its SQL in place of the first sub-question.
pub fn format_examples(examples: &[FewShotExample]) -> String {
    let mut text = String::new();
    for (index, example) in examples.iter().enumerate() {
        text.push_str(&format!(
            "Example {}:\nQuestion: {}\n",
            index + 1,
            example.question
        ));
        let steps = if example.steps.is_empty() {
            vec![StudentStep {
                sub_question: example.question.clone(),
                sql: example.sql.clone(),
            }]
        } else {
            example.steps.clone()
        };
        text.push_str(&format_student_output(&StudentOutput {
            steps,
            final_sql: Some(example.sql.clone()),
        }));
        text.push('\n');
    }
    text
}

/// The first messages of a decomposition: the system prompt, then the schema, the examples and
/// the question. The schema comes first so that questions on one database share the longest
/// possible prompt prefix (the local backend reuses its KV cache across them); the examples,
/// which differ per question with ADR, come after it.
pub fn decompose_messages(
    input: &PromptInput<'_>,
    examples: &[FewShotExample],
) -> Vec<ChatMessage> {
    let mut user = format!("Database schema:\n{}\n\n", input.schema_text.trim_end());
    if !examples.is_empty() {
        user.push_str(
            "Examples of the format, from other databases (their tables are not in the schema \
             above):\n\n",
        );
        user.push_str(&format_examples(examples));
        user.push_str(
            "Now the real question, about the schema above: use only its tables and columns.\n\n",
        );
    }
    user.push_str(&format!(
        "{}\nStart with Sub question 1.",
        question_section(input)
    ));
    vec![
        ChatMessage::system(decompose_system_prompt(input.dialect)),
        ChatMessage::user(user),
    ]
}

/// The note a decomposition opens with when a direct query was tried first and execution shows
/// it wrong: what it was and what running it gave, so that the steps look for the mistake
/// instead of repeating it.
pub fn failed_draft_note(sql: &str, outcome: &StepOutcome) -> String {
    let what = match outcome {
        StepOutcome::Error { message, .. } => format!("failed: {message}"),
        StepOutcome::Rows { row_count: 0, .. } => "returned no rows".to_string(),
        StepOutcome::Rows { .. } => "returned only NULL values".to_string(),
    };
    format!(
        "A direct query was tried first and {what}:\n```sql\n{sql}\n```\nDo not repeat it: \
         find the part that is wrong, step by step, checking tables, joins, conditions and values \
         against the schema.\n"
    )
}

/// What the model is told after one of its SubSQLs ran.
pub fn step_outcome_message(
    step_number: usize,
    outcome: &StepOutcome,
    steps_left: usize,
) -> String {
    let mut text = match outcome {
        StepOutcome::Rows { .. } => format!(
            "Result of SubSQL{step_number}:\n{}\n",
            outcome.preview_text()
        ),
        StepOutcome::Error { message, .. } => {
            format!("SubSQL{step_number} failed: {message}\n")
        }
    };
    if matches!(outcome, StepOutcome::Rows { row_count: 0, .. }) {
        text.push_str(&format!(
            "SubSQL{step_number} returned no rows. If the question expects an answer, one of its \
             conditions or values is wrong: compare them with the sample values in the schema.\n"
        ));
    }
    if steps_left == 0 {
        text.push_str("Now write the Final SQL.");
    } else {
        text.push_str(&format!(
            "Continue with Sub question {}, or write the Final SQL if the steps so far answer \
             the question.",
            step_number + 1
        ));
    }
    text
}

/// Tells the model that SubSQL `step_number` ran as `sql` after a schema fix (it named a column
/// its tables do not have), so later steps build on the corrected query.
pub fn corrected_step_note(step_number: usize, sql: &str) -> String {
    format!(
        "SubSQL{step_number} named a column its tables do not have; it ran as:\n```sql\n{sql}\n```\n"
    )
}

/// Asks for a corrected SubSQL after an error.
pub fn step_repair_message(step_number: usize, error: &str) -> String {
    format!(
        "SubSQL{step_number} failed: {error}\nWrite a corrected SubSQL{step_number} in the same \
         format (`SubSQL{step_number}: ```sql ...````), using only tables and columns of the \
         schema."
    )
}

/// Asks for a corrected final query after an error.
pub fn final_repair_message(error: &str, decomposed: bool) -> String {
    if decomposed {
        format!(
            "The Final SQL failed: {error}\nWrite a corrected `Final SQL: ```sql ...````, using \
             only tables and columns of the schema."
        )
    } else {
        format!(
            "That query failed: {error}\nReply with a corrected query in a ```sql code block, \
             using only tables and columns of the schema."
        )
    }
}

/// Asked when an answer followed no format at all.
pub fn format_reminder_message() -> String {
    "Please answer in the format: `Sub question 1: ...`, `SubSQL1: ```sql ...````, and finally \
     `Final SQL: ```sql ...````."
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use learnat_tools::Value;
    use learnat_tools::schema::{Column, Table};

    fn schema(tables: usize) -> Schema {
        Schema {
            tables: (0..tables)
                .map(|i| Table {
                    name: format!("table{i}"),
                    columns: vec![Column {
                        name: format!("value{i}"),
                        data_type: "TEXT".into(),
                        not_null: false,
                        samples: vec![Value::Text("a fairly long sample value".into())],
                    }],
                    primary_key: vec![],
                    foreign_keys: vec![],
                    row_count: None,
                })
                .collect(),
            ..Schema::default()
        }
    }

    fn links_to(table: &str) -> SchemaLinks {
        SchemaLinks {
            table_scores: vec![(table.to_string(), 3.0)],
            ..SchemaLinks::default()
        }
    }

    #[test]
    fn a_schema_that_fits_is_shown_whole_with_samples() {
        let fitted = fit_schema(
            &schema(3),
            &SchemaLinks::default(),
            SchemaBudget {
                max_tokens: 10_000,
                large_schema_tables: 16,
            },
            &estimate_tokens,
        );
        assert!(fitted.with_samples);
        assert_eq!(fitted.tables.len(), 3);
        assert!(fitted.text.contains("-- e.g."));
    }

    #[test]
    fn samples_go_first_then_unrelated_tables() {
        let schema = schema(6);
        let full = estimate_tokens(&schema.to_ddl());
        let bare = estimate_tokens(&without_samples(&schema).to_ddl());
        let budget = |max_tokens| SchemaBudget {
            max_tokens,
            large_schema_tables: 16,
        };
        let fitted = fit_schema(
            &schema,
            &links_to("table2"),
            budget(full - 1),
            &estimate_tokens,
        );
        assert!(!fitted.with_samples);
        assert_eq!(fitted.tables.len(), 6);
        let fitted = fit_schema(
            &schema,
            &links_to("table2"),
            budget(bare - 1),
            &estimate_tokens,
        );
        assert_eq!(fitted.tables, ["table2"]);
        assert!(fitted.with_samples, "one table with samples fits");
        let fitted = fit_schema(&schema, &links_to("table2"), budget(1), &estimate_tokens);
        assert!(fitted.over_budget);
        assert_eq!(fitted.tables, ["table2"]);
    }

    #[test]
    fn large_schemas_start_from_the_relevant_tables() {
        let fitted = fit_schema(
            &schema(20),
            &links_to("table7"),
            SchemaBudget {
                max_tokens: 100_000,
                large_schema_tables: 16,
            },
            &estimate_tokens,
        );
        assert_eq!(fitted.tables, ["table7"]);
    }

    #[test]
    fn the_zero_shot_prompt_has_schema_evidence_and_question() {
        let input = PromptInput {
            question: "How many singers?",
            evidence: Some("singer refers to table singer"),
            schema_text: "CREATE TABLE singer (id INTEGER);\n",
            dialect: Dialect::Sqlite,
            links: None,
            clarifications: &[ClarificationExchange {
                term: "singers".into(),
                question: "Which singers?".into(),
                answer: "All of them".into(),
                meaning: None,
            }],
            history: &[],
        };
        let messages = zero_shot_messages(&input);
        assert!(messages[0].content.contains("```sql"));
        let user = &messages[1].content;
        assert!(
            user.starts_with("Database schema:\nCREATE TABLE singer"),
            "{user}"
        );
        assert!(
            user.contains("Evidence: singer refers to table singer\n"),
            "{user}"
        );
        assert!(user.contains("- Which singers? → All of them"), "{user}");
        assert!(user.ends_with("Question: How many singers?"), "{user}");
    }
}
