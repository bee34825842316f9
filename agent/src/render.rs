//! Agent turns as text for people: what the REPL and `learnat demo` print (and `learnat ask`
//! can): each decomposition step with its SQL and the executed sub-query's first rows as a
//! table, the clarifications, the final SQL and its result.
//!
//! ```text
//! Step 1: Which customers live in Paris?
//!   SELECT c.customer_id FROM customers AS c JOIN cities AS ci ON ...
//!   ┌─────────────┐
//!   │ customer_id │
//!   ╞═════════════╡
//!   │ 17          │
//!   └─────────────┘
//!   first 1 of 4 rows (0.1 ms)
//! SQL:
//!   SELECT COUNT(*) FROM orders AS o JOIN ...
//! ┌──────────┐
//! │ COUNT(*) │
//! ...
//! 1 row (0.3 ms)
//! ```

use learnat_tools::QueryResult;
use learnat_tools::render::render_table;

use crate::agent::AnsweredTurn;
use crate::clarify::ClarificationRequest;
use crate::strategy::{Step, StepOutcome};

/// Every line of `text` with `prefix` in front.
pub fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|line| format!("{prefix}{line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `1 row` / `N rows`.
fn rows_text(count: usize) -> String {
    if count == 1 {
        "1 row".to_string()
    } else {
        format!("{count} rows")
    }
}

/// Milliseconds the way [`render_table`]'s footer writes them.
fn millis_text(ms: f64) -> String {
    if ms < 1.0 {
        format!("{ms:.3} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// A step's outcome: the preview rows as a table with a footer that says how many rows the
/// sub-query returned in all, or the error.
pub fn render_step_outcome(outcome: &StepOutcome) -> String {
    match outcome {
        StepOutcome::Rows {
            columns,
            rows,
            row_count,
            truncated,
            elapsed_ms,
        } => {
            let preview = QueryResult {
                columns: columns.clone(),
                rows: rows.clone(),
                elapsed: std::time::Duration::try_from_secs_f64(elapsed_ms / 1000.0)
                    .unwrap_or_default(),
                truncated: false,
            };
            // render_table ends with its own "N rows (T ms)" line, which would count only the
            // preview; the footer here tells the whole count instead.
            let rendered = render_table(&preview);
            let table = rendered
                .rsplit_once('\n')
                .map_or(rendered.as_str(), |(table, _)| table);
            let at_least = if *truncated { "at least " } else { "" };
            let footer = if rows.len() < *row_count {
                format!(
                    "first {} of {at_least}{} ({})",
                    rows.len(),
                    rows_text(*row_count),
                    millis_text(*elapsed_ms)
                )
            } else {
                format!(
                    "{at_least}{} ({})",
                    rows_text(*row_count),
                    millis_text(*elapsed_ms)
                )
            };
            format!("{table}\n{footer}")
        }
        StepOutcome::Error { kind, message } => format!("failed ({kind}): {message}"),
    }
}

/// One decomposition step: `Step N: sub-question`, its SQL, and its outcome, indented.
pub fn render_step(number: usize, step: &Step) -> String {
    let mut text = format!("Step {number}: {}\n", step.sub_question);
    text.push_str(&indent(&step.sql, "  "));
    text.push('\n');
    if step.repairs > 0 {
        text.push_str(&format!(
            "  (repaired {} time{})\n",
            step.repairs,
            if step.repairs == 1 { "" } else { "s" }
        ));
    }
    text.push_str(&indent(&render_step_outcome(&step.outcome), "  "));
    text
}

/// All steps of a decomposition, one after the other; empty for none.
pub fn render_steps(steps: &[Step]) -> String {
    steps
        .iter()
        .enumerate()
        .map(|(index, step)| render_step(index + 1, step))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A clarification question: `? question`, then the candidate meanings numbered (the REPL
/// accepts the number as the answer).
pub fn render_clarification(request: &ClarificationRequest) -> String {
    let mut text = format!("? {}", request.question);
    for (index, option) in request.options.iter().enumerate() {
        text.push_str(&format!("\n  {}) {option}", index + 1));
    }
    text
}

/// An answered turn: the clarifications exchanged, the steps, `SQL:` with the final SQL, and
/// the result table (or the error that kept it from running).
pub fn render_answer(answered: &AnsweredTurn) -> String {
    let mut parts = Vec::new();
    for exchange in &answered.clarifications {
        parts.push(format!("? {}\n> {}", exchange.question, exchange.answer));
    }
    if !answered.answer.steps.is_empty() {
        parts.push(render_steps(&answered.answer.steps));
    }
    parts.push(format!("SQL:\n{}", indent(&answered.answer.sql, "  ")));
    if !answered.answer.relinks.is_empty() {
        let mut fixes: Vec<&str> = Vec::new();
        for fix in &answered.answer.relinks {
            if !fixes.contains(&fix.as_str()) {
                fixes.push(fix);
            }
        }
        parts.push(format!("  (schema fix: {})", fixes.join("; ")));
    }
    match (&answered.result, &answered.error) {
        (Some(result), _) => parts.push(render_table(result)),
        (None, Some(error)) => parts.push(format!("error: {error}")),
        (None, None) => {}
    }
    parts.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use learnat_tools::Value;

    fn rows_outcome(shown: usize, total: usize) -> StepOutcome {
        StepOutcome::Rows {
            columns: vec!["customer_id".into()],
            rows: (0..shown).map(|i| vec![Value::Integer(i as i64)]).collect(),
            row_count: total,
            truncated: false,
            elapsed_ms: 0.25,
        }
    }

    #[test]
    fn step_previews_say_how_many_rows_there_were_in_all() {
        let text = render_step_outcome(&rows_outcome(2, 40));
        assert!(text.contains("customer_id"), "{text}");
        assert!(text.ends_with("first 2 of 40 rows (0.250 ms)"), "{text}");
        assert!(!text.contains("truncated"), "{text}");
        let all = render_step_outcome(&rows_outcome(1, 1));
        assert!(all.ends_with("\n1 row (0.250 ms)"), "{all}");
    }

    #[test]
    fn steps_show_question_sql_and_outcome_indented() {
        let steps = vec![
            Step {
                sub_question: "Which customers live in Paris?".into(),
                sql: "SELECT customer_id FROM customers".into(),
                outcome: rows_outcome(1, 3),
                repairs: 0,
            },
            Step {
                sub_question: "How many orders?".into(),
                sql: "SELECT nope FROM orders".into(),
                outcome: StepOutcome::Error {
                    kind: "sql".into(),
                    message: "no such column: nope".into(),
                },
                repairs: 1,
            },
        ];
        let text = render_steps(&steps);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Step 1: Which customers live in Paris?");
        assert_eq!(lines[1], "  SELECT customer_id FROM customers");
        assert!(text.contains("\nStep 2: How many orders?\n"), "{text}");
        assert!(text.contains("  (repaired 1 time)"), "{text}");
        assert!(
            text.ends_with("  failed (sql): no such column: nope"),
            "{text}"
        );
    }

    #[test]
    fn clarifications_number_their_options() {
        let request = ClarificationRequest {
            question: "Which London do you mean?".into(),
            kind: crate::clarify::AmbiguityKind::ValueAmbiguity,
            term: "London".into(),
            options: vec!["London, England".into(), "London, Ontario".into()],
            conditions: Vec::new(),
        };
        assert_eq!(
            render_clarification(&request),
            "? Which London do you mean?\n  1) London, England\n  2) London, Ontario"
        );
    }
}
