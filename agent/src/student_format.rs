//! The LearNAT student format, and getting SQL out of free-form model text.
//!
//! A student answer decomposes a question into steps, each a sub-question and the SQL that
//! answers it, and ends with the final SQL:
//!
//! ```text
//! Sub question 1: Which customers live in London?
//! SubSQL1: ```sql SELECT customer_id FROM customers WHERE city = 'London' ```
//! Sub question 2: How many orders did they place?
//! SubSQL2: ```sql SELECT COUNT(*) FROM orders WHERE customer_id IN (...) ```
//! Final SQL: ```sql SELECT COUNT(*) FROM orders WHERE customer_id IN (...) ```
//! ```
//!
//! [`parse_student_output`] reads that format leniently (markdown emphasis, `Sub-question`,
//! `SubSQL 1`, SQL on the marker's line or in a fenced block below it, a missing closing fence);
//! [`format_student_output`] writes it, for demonstrations and training data.
//! [`extract_sql`] finds the one SQL statement of a zero-shot answer.
//!
//! ```
//! use learnat_agent::student_format::{extract_sql, parse_student_output};
//! let answer = "Sub question 1: How many rows?\nSubSQL1: ```sql SELECT COUNT(*) FROM t; ```\n\
//!               Final SQL: ```sql\nSELECT COUNT(*)\nFROM t\n```";
//! let parsed = parse_student_output(answer);
//! assert_eq!(parsed.steps[0].sql, "SELECT COUNT(*) FROM t");
//! assert_eq!(parsed.final_sql.as_deref(), Some("SELECT COUNT(*) FROM t"));
//! assert_eq!(extract_sql("It is:\n```sql\nSELECT 1;\n```").unwrap(), "SELECT 1");
//! ```

use serde::{Deserialize, Serialize};

/// One decomposition step: a sub-question and the SQL that answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudentStep {
    /// The sub-question in plain language.
    pub sub_question: String,
    /// Its SQL, cleaned by [`clean_sql`]; empty when the model wrote none.
    pub sql: String,
}

/// A parsed student answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudentOutput {
    /// The steps in the order written.
    pub steps: Vec<StudentStep>,
    /// The final SQL, when the answer has a `Final SQL:` part with SQL in it.
    pub final_sql: Option<String>,
}

/// Why no SQL could be taken from a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlExtractionFailure {
    /// The text is empty or blank.
    Empty,
    /// A code fence is opened but holds nothing.
    EmptyFence,
    /// Neither a fenced block nor a SELECT / WITH statement appears.
    NoStatement,
}

impl std::fmt::Display for SqlExtractionFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SqlExtractionFailure::Empty => "the answer is empty",
            SqlExtractionFailure::EmptyFence => "the answer's code block is empty",
            SqlExtractionFailure::NoStatement => {
                "the answer has neither a ```sql block nor a SELECT / WITH statement"
            }
        })
    }
}

/// The SQL of a model's answer: the first non-empty fenced code block (an unclosed fence runs to
/// the end of the text), else the first statement starting with SELECT, WITH or VALUES; cleaned
/// by [`clean_sql`] (first statement only, no trailing `;`, whitespace collapsed outside quotes).
pub fn extract_sql(text: &str) -> Result<String, SqlExtractionFailure> {
    if text.trim().is_empty() {
        return Err(SqlExtractionFailure::Empty);
    }
    let mut saw_empty_fence = false;
    for block in fenced_blocks(text) {
        let cleaned = clean_sql(block);
        if !cleaned.is_empty() {
            return Ok(cleaned);
        }
        saw_empty_fence = true;
    }
    // Unfenced answers: the statement starts at the first SELECT / WITH / VALUES keyword that
    // begins a line or follows a label such as "SQL:".
    if let Some(start) = statement_start(text) {
        let cleaned = clean(&text[start..], true);
        if !cleaned.is_empty() {
            return Ok(cleaned);
        }
    }
    Err(if saw_empty_fence {
        SqlExtractionFailure::EmptyFence
    } else {
        SqlExtractionFailure::NoStatement
    })
}

/// The contents of the code blocks of `text`, in order. A block opens with three backticks and
/// an optional language tag (`sql`, `sqlite`), and closes with three backticks or the end of the
/// text.
fn fenced_blocks(text: &str) -> Vec<&str> {
    const FENCE: &str = "```";
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(FENCE) {
        let after = &rest[open + FENCE.len()..];
        let body_start = language_tag_len(after);
        let body = &after[body_start..];
        match body.find(FENCE) {
            Some(close) => {
                blocks.push(&body[..close]);
                rest = &body[close + FENCE.len()..];
            }
            None => {
                blocks.push(body);
                break;
            }
        }
    }
    blocks
}

/// Length of the language tag right after an opening fence (`sql`, `SQLite`, `postgresql`):
/// letters directly after the backticks, only when a space or line break follows them (so
/// "```SELECT 1```" keeps its SELECT).
fn language_tag_len(after_fence: &str) -> usize {
    let letters = after_fence
        .char_indices()
        .find(|(_, c)| !c.is_ascii_alphanumeric())
        .map_or(after_fence.len(), |(index, _)| index);
    let tag = &after_fence[..letters];
    let is_language = ["sql", "sqlite", "postgresql", "postgres", "psql", "mysql"]
        .iter()
        .any(|known| tag.eq_ignore_ascii_case(known));
    let followed_by_break = after_fence[letters..]
        .chars()
        .next()
        .is_none_or(char::is_whitespace);
    if is_language && followed_by_break {
        letters
    } else {
        0
    }
}

/// Byte offset of the first SELECT / WITH / VALUES keyword that starts a line (after optional
/// indentation) or follows a colon.
fn statement_start(text: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let candidates = std::iter::once(0)
            .chain(line.match_indices(':').map(|(index, _)| index + 1))
            .collect::<Vec<_>>();
        for candidate in candidates {
            let tail = &line[candidate..];
            let trimmed = tail.trim_start();
            let word_end = trimmed
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(trimmed.len());
            let word = &trimmed[..word_end];
            let is_keyword = ["select", "with", "values"]
                .iter()
                .any(|keyword| word.eq_ignore_ascii_case(keyword));
            let next = trimmed[word_end..].chars().next();
            if is_keyword && next.is_some_and(|c| c.is_whitespace() || c == '(' || c == '*') {
                return Some(offset + candidate + (tail.len() - trimmed.len()));
            }
        }
        offset += line.len();
    }
    None
}

/// The first statement of `sql`, without a trailing `;`, with runs of whitespace outside
/// string literals and quoted identifiers collapsed to one space.
pub fn clean_sql(sql: &str) -> String {
    clean(sql, false)
}

/// [`clean_sql`]; with `stop_at_blank_line` (unfenced answers) a blank line also ends the
/// statement, since what follows it is commentary.
fn clean(sql: &str, stop_at_blank_line: bool) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut pending_space = false;
    let mut newlines_in_gap = 0;
    for c in sql.chars() {
        if let Some(open) = quote {
            out.push(c);
            if c == closing_quote(open) {
                quote = None;
            }
            continue;
        }
        if c.is_whitespace() {
            pending_space = true;
            if c == '\n' {
                newlines_in_gap += 1;
            }
            continue;
        }
        if stop_at_blank_line && newlines_in_gap >= 2 && !out.is_empty() {
            break;
        }
        if c == ';' {
            break;
        }
        if pending_space && !out.is_empty() {
            out.push(' ');
        }
        pending_space = false;
        newlines_in_gap = 0;
        if matches!(c, '\'' | '"' | '`' | '[') {
            quote = Some(c);
        }
        out.push(c);
    }
    out.trim().to_string()
}

fn closing_quote(open: char) -> char {
    match open {
        '[' => ']',
        other => other,
    }
}

/// One marker line of the student format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    SubQuestion,
    SubSql,
    FinalSql,
}

/// If `line` starts with a marker (after markdown decoration), the marker and the byte offset
/// where the text after its colon begins.
fn marker_of(line: &str) -> Option<(Marker, usize)> {
    let decoration = line
        .find(|c: char| !(c.is_whitespace() || matches!(c, '*' | '#' | '-' | '>' | '_')))
        .unwrap_or(line.len());
    let body = &line[decoration..];
    let lower = body.to_ascii_lowercase();
    let (marker, name_len) = if let Some(len) = ["sub question", "sub-question", "subquestion"]
        .iter()
        .find(|name| lower.starts_with(*name))
        .map(|name| name.len())
    {
        (Marker::SubQuestion, len)
    } else if lower.starts_with("subsql") || lower.starts_with("sub sql") {
        (
            Marker::SubSql,
            if lower.starts_with("subsql") { 6 } else { 7 },
        )
    } else if lower.starts_with("final sql") {
        (Marker::FinalSql, 9)
    } else {
        return None;
    };
    // Then an optional step number, optional emphasis, and the colon.
    let after_name = &body[name_len..];
    let colon = after_name.find(':')?;
    let between = &after_name[..colon];
    let only_number = between
        .chars()
        .all(|c| c.is_ascii_digit() || c.is_whitespace() || matches!(c, '*' | '_'));
    if !only_number {
        return None;
    }
    let mut start = decoration + name_len + colon + 1;
    // Emphasis closing after the colon ("**Final SQL:** ...").
    let rest = &line[start..];
    start += rest.len() - rest.trim_start_matches(['*', '_']).len();
    Some((marker, start))
}

/// Read a student answer. Steps without SQL keep an empty `sql`; a `SubSQL` without a preceding
/// sub-question gets an empty `sub_question`.
pub fn parse_student_output(text: &str) -> StudentOutput {
    let mut output = StudentOutput::default();
    // (marker, text after the marker up to the next marker)
    let mut parts: Vec<(Marker, String)> = Vec::new();
    for line in text.lines() {
        match marker_of(line) {
            Some((marker, start)) => parts.push((marker, line[start..].to_string())),
            None => {
                if let Some((_, body)) = parts.last_mut() {
                    body.push('\n');
                    body.push_str(line);
                }
            }
        }
    }
    for (marker, body) in parts {
        match marker {
            Marker::SubQuestion => output.steps.push(StudentStep {
                sub_question: first_paragraph(&body),
                sql: String::new(),
            }),
            Marker::SubSql => {
                let sql = extract_sql(&body).unwrap_or_default();
                match output.steps.last_mut() {
                    Some(step) if step.sql.is_empty() => step.sql = sql,
                    _ => output.steps.push(StudentStep {
                        sub_question: String::new(),
                        sql,
                    }),
                }
            }
            Marker::FinalSql => {
                if let Ok(sql) = extract_sql(&body) {
                    output.final_sql = Some(sql);
                }
            }
        }
    }
    output
}

/// The text up to the first blank line, whitespace collapsed.
fn first_paragraph(text: &str) -> String {
    let paragraph = text.split("\n\n").next().unwrap_or_default();
    paragraph.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Write `output` in the student format, one `Sub question i:` / `SubSQLi:` pair per step and
/// the `Final SQL:` line when there is one.
pub fn format_student_output(output: &StudentOutput) -> String {
    let mut text = String::new();
    for (index, step) in output.steps.iter().enumerate() {
        text.push_str(&format_step(index + 1, step));
        text.push('\n');
    }
    if let Some(sql) = &output.final_sql {
        text.push_str(&format_final_sql(sql));
        text.push('\n');
    }
    text
}

/// `Sub question N: ...` and `SubSQLN: ```sql ... ```` on two lines (no final newline).
pub fn format_step(number: usize, step: &StudentStep) -> String {
    format!(
        "Sub question {number}: {}\nSubSQL{number}: ```sql {} ```",
        step.sub_question, step.sql
    )
}

/// `Final SQL: ```sql ... ```` (no final newline).
pub fn format_final_sql(sql: &str) -> String {
    format!("Final SQL: ```sql {sql} ```")
}

/// Stop sequences that end a generation after one step, so that its SubSQL can be executed
/// before the model writes the next one. They need a line break before the next marker, so an
/// answer that starts with `Sub question` or `Final SQL` is not stopped at once.
pub fn step_stop_sequences() -> Vec<String> {
    [
        "\nSub question",
        "\nSub-question",
        "\n**Sub question",
        "\nFinal SQL",
        "\n**Final SQL",
    ]
    .iter()
    .map(|stop| stop.to_string())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fenced_blocks_win_and_are_cleaned() {
        assert_eq!(
            extract_sql(
                "Sure!\n```sql\nSELECT name\n  FROM t   WHERE x = 'a  b';\n```\nThat's it."
            )
            .unwrap(),
            "SELECT name FROM t WHERE x = 'a  b'"
        );
        assert_eq!(extract_sql("```SQLite\nSELECT 2\n```").unwrap(), "SELECT 2");
        assert_eq!(extract_sql("```\nSELECT 3\n```").unwrap(), "SELECT 3");
        assert_eq!(extract_sql("```SELECT 4```").unwrap(), "SELECT 4");
        // The first non-empty block is taken.
        assert_eq!(
            extract_sql("```sql\n```\n```sql\nSELECT 5\n```").unwrap(),
            "SELECT 5"
        );
    }

    #[test]
    fn an_unclosed_fence_runs_to_the_end() {
        assert_eq!(
            extract_sql("```sql\nSELECT a FROM t\nWHERE b > 1").unwrap(),
            "SELECT a FROM t WHERE b > 1"
        );
        assert_eq!(
            extract_sql("```sql\n   \n"),
            Err(SqlExtractionFailure::EmptyFence)
        );
    }

    #[test]
    fn unfenced_statements_are_found_after_prose_or_labels() {
        assert_eq!(
            extract_sql("The query is:\nselect count(*) from singer;\nIt counts singers.").unwrap(),
            "select count(*) from singer"
        );
        assert_eq!(
            extract_sql("SQL: WITH x AS (SELECT 1) SELECT * FROM x").unwrap(),
            "WITH x AS (SELECT 1) SELECT * FROM x"
        );
        assert_eq!(
            extract_sql("SELECT a\nFROM t\n\nThis returns a.").unwrap(),
            "SELECT a FROM t"
        );
        // "selection" is not a keyword.
        assert_eq!(
            extract_sql("No selection is possible."),
            Err(SqlExtractionFailure::NoStatement)
        );
        assert_eq!(extract_sql("  \n"), Err(SqlExtractionFailure::Empty));
    }

    #[test]
    fn only_the_first_statement_is_kept() {
        assert_eq!(
            clean_sql("SELECT 'a;b' FROM t; DROP TABLE t;"),
            "SELECT 'a;b' FROM t"
        );
        assert_eq!(
            clean_sql("SELECT \"a  b\"\n\n FROM t"),
            "SELECT \"a  b\" FROM t"
        );
    }

    #[test]
    fn the_student_format_parses_with_variations() {
        let text = "**Sub question 1:** Which products are books?\n\
                    SubSQL1: ```sql\nSELECT product_id\nFROM products\n```\n\
                    Sub-question 2: How many reviews do they have?\n\
                    SubSQL 2: ```sql SELECT COUNT(*) FROM reviews WHERE product_id IN \
                    (SELECT product_id FROM products) ```\n\
                    Final SQL: ```sql SELECT COUNT(*) FROM reviews;```";
        let parsed = parse_student_output(text);
        assert_eq!(parsed.steps.len(), 2);
        assert_eq!(parsed.steps[0].sub_question, "Which products are books?");
        assert_eq!(parsed.steps[0].sql, "SELECT product_id FROM products");
        assert_eq!(
            parsed.steps[1].sub_question,
            "How many reviews do they have?"
        );
        assert!(
            parsed.steps[1]
                .sql
                .starts_with("SELECT COUNT(*) FROM reviews WHERE")
        );
        assert_eq!(
            parsed.final_sql.as_deref(),
            Some("SELECT COUNT(*) FROM reviews")
        );
    }

    #[test]
    fn incomplete_student_answers_keep_what_is_there() {
        let parsed = parse_student_output("Sub question 1: Count them\nSubSQL1: ```sql\n");
        assert_eq!(parsed.steps.len(), 1);
        assert_eq!(parsed.steps[0].sql, "");
        assert_eq!(parsed.final_sql, None);
        let parsed = parse_student_output("SubSQL1: ```sql SELECT 1 ```");
        assert_eq!(parsed.steps[0].sub_question, "");
        assert_eq!(parsed.steps[0].sql, "SELECT 1");
        assert_eq!(parse_student_output("no markers"), StudentOutput::default());
    }

    #[test]
    fn formatting_round_trips() {
        let output = StudentOutput {
            steps: vec![
                StudentStep {
                    sub_question: "Which orders are from 2024?".into(),
                    sql: "SELECT order_id FROM orders WHERE order_date LIKE '2024%'".into(),
                },
                StudentStep {
                    sub_question: "How many are there?".into(),
                    sql: "SELECT COUNT(*) FROM orders WHERE order_date LIKE '2024%'".into(),
                },
            ],
            final_sql: Some("SELECT COUNT(*) FROM orders WHERE order_date LIKE '2024%'".into()),
        };
        let text = format_student_output(&output);
        assert!(text.starts_with("Sub question 1: Which orders are from 2024?\nSubSQL1: ```sql "));
        assert_eq!(parse_student_output(&text), output);
    }

    #[test]
    fn stop_sequences_do_not_fire_on_the_first_marker() {
        let stops = step_stop_sequences();
        let first = format_step(
            1,
            &StudentStep {
                sub_question: "q".into(),
                sql: "SELECT 1".into(),
            },
        );
        assert!(stops.iter().all(|stop| !first.contains(stop.as_str())));
        let two = format!("{first}\nSub question 2: r");
        assert!(stops.iter().any(|stop| two.contains(stop.as_str())));
    }
}
