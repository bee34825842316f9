//! Deriving ambiguous interactive tasks from Spider (`learnat interact build`).
//!
//! Each Spider (question, gold SQL) pair is parsed (sqlparser); the gold SQL is re-printed from
//! its AST so that every annotated snippet (an AST node printed the same way) occurs in it
//! literally. Then at most one rewrite is applied, chosen by a seeded RNG among those that fit:
//!
//! - **vague threshold** (`threshold_ambiguity`): `age > 30` with "older than 30" in the
//!   question becomes "older than a certain threshold" (or "several students" / "only a few
//!   students" when a noun follows the number);
//! - **hidden fact** (knowledge ambiguity): the same number becomes "the age limit", and the
//!   fact "The age limit is 30." is recorded;
//! - **masked limit** (`threshold_ambiguity`, `is_mask`): "the top 3 countries" loses its
//!   number, so `LIMIT 3` must be asked for;
//! - **masked sort direction** (`sort_ambiguity`, `is_mask`): "in descending order" is
//!   dropped, so `ORDER BY … DESC` must be asked for;
//! - **vague value** (`value_ambiguity`): `country = 'France'` with "France" in the question
//!   becomes "a certain country".
//!
//! The follow-up is derived from the gold: "And only the first one?" (`LIMIT 1`) after a
//! ranked list, else "How many rows is that?" over the gold as a subquery.
//!
//! Machine checks, each task: the re-printed gold returns what Spider's gold returns (test-suite
//! comparison) and is not empty; the hidden value no longer occurs in the ambiguous question;
//! a masked limit really cuts rows; the follow-up executes; [`validate_task`] holds. Tasks from
//! dev databases get `split: "dev"`, the others `split: "train"`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use learnat_tools::compare::spider_result_eq;
use learnat_tools::database::Database;
use learnat_tools::sql::parse_query;
use learnat_tools::{Dialect, QueryResult};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use sqlparser::ast::{
    BinaryOperator, Expr, LimitClause, OrderByKind, OrderBySort, Query, Value, visit_expressions,
};

use crate::error::{SimResult, SimulatorError};
use crate::task::{
    Ambiguity, InteractiveTask, TaskDatabases, scoring_limits, validate_task, verify_task_sql,
};
use learnat_tools::demo::{FollowUp, KnowledgeAmbiguity, UserQueryAmbiguity};

/// Options of [`build_spider_tasks`].
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The Spider folder: dev.json, train_spider.json (or train_spider_min.json), database/.
    pub data: PathBuf,
    /// Seed of the rewrite choice and the order of questions.
    pub seed: u64,
    /// Most tasks per database (spreads the set over many databases).
    pub per_database: usize,
    /// Most tasks in all (dev first, then train).
    pub max_tasks: usize,
}

impl BuildOptions {
    /// Defaults: seed 0, 8 tasks per database, 420 in all.
    pub fn new(data: impl Into<PathBuf>) -> BuildOptions {
        BuildOptions {
            data: data.into(),
            seed: 0,
            per_database: 8,
            max_tasks: 420,
        }
    }
}

/// What a build produced and what it left out.
#[derive(Debug, Clone, Default)]
pub struct BuildSummary {
    /// Tasks per split.
    pub per_split: BTreeMap<String, usize>,
    /// Tasks per rewrite kind.
    pub per_kind: BTreeMap<String, usize>,
    /// Distinct databases.
    pub databases: usize,
    /// Spider questions looked at.
    pub examined: usize,
    /// Candidates rejected by the machine checks, by reason.
    pub rejected: BTreeMap<String, usize>,
}

#[derive(Deserialize)]
struct SpiderExample {
    db_id: String,
    question: String,
    query: String,
}

fn read_examples(path: &Path) -> SimResult<Vec<SpiderExample>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| SimulatorError::io("cannot read the Spider file", path, e))?;
    serde_json::from_str(&text).map_err(|e| SimulatorError::TaskFormat {
        path: path.to_path_buf(),
        line: e.line(),
        message: format!("not a Spider question file: {e}"),
    })
}

/// The candidate rewrites of one question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Rewrite {
    VagueThreshold,
    HiddenFact,
    MaskedLimit,
    MaskedSort,
    VagueValue,
}

impl Rewrite {
    fn name(self) -> &'static str {
        match self {
            Rewrite::VagueThreshold => "vague_threshold",
            Rewrite::HiddenFact => "hidden_fact",
            Rewrite::MaskedLimit => "masked_limit",
            Rewrite::MaskedSort => "masked_sort",
            Rewrite::VagueValue => "vague_value",
        }
    }
}

/// Comparison phrases of questions, for `>`/`>=` (true) or `<`/`<=` (false).
const COMPARATORS: &[(&str, bool)] = &[
    ("more than", true),
    ("greater than", true),
    ("larger than", true),
    ("bigger than", true),
    ("higher than", true),
    ("older than", true),
    ("longer than", true),
    ("heavier than", true),
    ("at least", true),
    ("over", true),
    ("above", true),
    ("less than", false),
    ("fewer than", false),
    ("smaller than", false),
    ("lower than", false),
    ("younger than", false),
    ("shorter than", false),
    ("at most", false),
    ("below", false),
    ("under", false),
];

/// Words after a number that are not the noun it counts.
const NOT_NOUNS: &[&str] = &[
    "and", "or", "in", "of", "the", "with", "for", "from", "to", "by", "on", "at", "as", "is",
    "are", "or", "than", "order", "sorted", "ordered", "who", "which", "that", "and/or",
];

/// Find `phrase` in `text` (case-insensitive, on word boundaries); exactly one occurrence.
fn find_phrase(text: &str, phrase: &str) -> Option<(usize, usize)> {
    let lower = text.to_lowercase();
    let needle = phrase.to_lowercase();
    if lower.len() != text.len() {
        return None; // non-ASCII case folding changes offsets; skip such questions
    }
    let boundary = |i: usize| {
        i == 0
            || i >= lower.len()
            || !lower.as_bytes()[i].is_ascii_alphanumeric() && lower.as_bytes()[i] != b'_'
    };
    let hits: Vec<usize> = lower
        .match_indices(&needle)
        .map(|(i, _)| i)
        .filter(|&i| (i == 0 || boundary(i - 1)) && boundary(i + needle.len()))
        .collect();
    match hits.as_slice() {
        [start] => Some((*start, *start + needle.len())),
        _ => None,
    }
}

fn replace_span(text: &str, (start, end): (usize, usize), with: &str) -> String {
    let joined = format!("{}{with}{}", &text[..start], &text[end..]);
    tidy(&joined)
}

fn tidy(text: &str) -> String {
    let mut out = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for (from, to) in [
        (" ,", ","),
        (" .", "."),
        (" ?", "?"),
        ("( ", "("),
        (" )", ")"),
    ] {
        out = out.replace(from, to);
    }
    out
}

fn column_words(expr: &Expr) -> Option<String> {
    let name = match expr {
        Expr::Identifier(ident) => ident.value.clone(),
        Expr::CompoundIdentifier(parts) => parts.last()?.value.clone(),
        _ => return None,
    };
    // CountryName -> country name, degree_summary_name -> degree summary name.
    let mut spaced = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() && previous_lower {
            spaced.push(' ');
        }
        previous_lower = c.is_ascii_lowercase();
        spaced.push(if c == '_' { ' ' } else { c });
    }
    let words = spaced.to_lowercase();
    let words = words.split_whitespace().collect::<Vec<_>>();
    if words.is_empty()
        || !words
            .iter()
            .all(|w| w.chars().all(|c| c.is_ascii_alphabetic()))
    {
        return None;
    }
    // "course name" -> "course"; "directed by" -> a person.
    let words = match words.as_slice() {
        [.., "by"] => vec!["person"],
        [rest @ .., "name"] if !rest.is_empty() => rest.to_vec(),
        _ => words,
    };
    Some(words.join(" "))
}

struct Comparison {
    snippet: String,
    number: String,
    greater: bool,
    column: Option<String>,
}

struct Equality {
    snippet: String,
    value: String,
    column: String,
}

fn comparisons(query: &Query) -> (Vec<Comparison>, Vec<Equality>) {
    let mut found = Vec::new();
    let mut equalities = Vec::new();
    let _ = visit_expressions(query, |expr| {
        if let Expr::BinaryOp { left, op, right } = expr
            && let Expr::Value(value) = right.as_ref()
        {
            match (op, &value.value) {
                (
                    BinaryOperator::Gt
                    | BinaryOperator::GtEq
                    | BinaryOperator::Lt
                    | BinaryOperator::LtEq,
                    Value::Number(number, _),
                ) => found.push(Comparison {
                    snippet: expr.to_string(),
                    number: number.to_string(),
                    greater: matches!(op, BinaryOperator::Gt | BinaryOperator::GtEq),
                    column: column_words(left),
                }),
                (
                    BinaryOperator::Eq,
                    Value::SingleQuotedString(text) | Value::DoubleQuotedString(text),
                ) => {
                    if let Some(column) = column_words(left) {
                        equalities.push(Equality {
                            snippet: expr.to_string(),
                            value: text.clone(),
                            column,
                        });
                    }
                }
                _ => {}
            }
        }
        ControlFlow::<()>::Continue(())
    });
    (found, equalities)
}

fn limit_of(query: &Query) -> Option<(String, u64)> {
    match &query.limit_clause {
        Some(
            clause @ LimitClause::LimitOffset {
                limit: Some(Expr::Value(value)),
                offset: None,
                limit_by,
            },
        ) if limit_by.is_empty() => match &value.value {
            Value::Number(n, _) => n
                .parse()
                .ok()
                .map(|n| (clause.to_string().trim().to_string(), n)),
            _ => None,
        },
        _ => None,
    }
}

fn descending_order(query: &Query) -> Option<String> {
    let order_by = query.order_by.as_ref()?;
    match &order_by.kind {
        OrderByKind::Expressions(list)
            if list.len() == 1 && list[0].options.sort == Some(OrderBySort::Desc) =>
        {
            Some(order_by.to_string())
        }
        _ => None,
    }
}

/// A rewritten question and its annotation.
struct Candidate {
    rewrite: Rewrite,
    amb_user_query: String,
    critical: Vec<Ambiguity>,
    knowledge: Vec<KnowledgeAmbiguity>,
    /// Text that must no longer be in the ambiguous question.
    hidden: String,
}

fn ambiguity(term: &str, snippet: &str, is_mask: bool, kind: &str) -> Ambiguity {
    Ambiguity {
        term: term.to_string(),
        sql_snippet: snippet.to_string(),
        is_mask,
        kind: kind.to_string(),
    }
}

fn threshold_candidates(question: &str, query: &Query, out: &mut Vec<Candidate>) {
    let (found, _) = comparisons(query);
    if found.len() != 1 {
        return; // several thresholds: one rewrite would leave the others ambiguous to annotate
    }
    let comparison = &found[0];
    for &(comparator, greater) in COMPARATORS {
        if greater != comparison.greater {
            continue;
        }
        let phrase = format!("{comparator} {}", comparison.number);
        let Some(span) = find_phrase(question, &phrase) else {
            continue;
        };
        let next_word = question[span.1..]
            .split(|c: char| !c.is_ascii_alphabetic())
            .find(|w| !w.is_empty())
            .map(str::to_lowercase);
        let counts_a_noun = question[span.1..].starts_with(' ')
            && next_word
                .as_deref()
                .is_some_and(|w| !NOT_NOUNS.contains(&w) && w.len() >= 2);
        let vague = if counts_a_noun {
            if greater { "several" } else { "only a few" }
        } else {
            "a certain threshold"
        };
        let replacement = if counts_a_noun {
            vague.to_string()
        } else {
            format!("{comparator} {vague}")
        };
        out.push(Candidate {
            rewrite: Rewrite::VagueThreshold,
            amb_user_query: replace_span(question, span, &replacement),
            critical: vec![ambiguity(
                vague,
                &comparison.snippet,
                false,
                "threshold_ambiguity",
            )],
            knowledge: Vec::new(),
            hidden: comparison.number.clone(),
        });
        if let Some(column) = &comparison.column
            && !counts_a_noun
        {
            let term = format!("the {column} limit");
            out.push(Candidate {
                rewrite: Rewrite::HiddenFact,
                amb_user_query: replace_span(question, span, &format!("{comparator} {term}")),
                critical: Vec::new(),
                knowledge: vec![KnowledgeAmbiguity {
                    term: term.clone(),
                    description: format!("{} is {}.", capitalise(&term), comparison.number),
                    sql_snippet: comparison.snippet.clone(),
                }],
                hidden: comparison.number.clone(),
            });
        }
        return;
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

const NUMBER_WORDS: &[&str] = &[
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
];

fn limit_candidate(question: &str, query: &Query, out: &mut Vec<Candidate>) {
    let Some((snippet, n)) = limit_of(query) else {
        return;
    };
    if n < 2 || query.order_by.is_none() {
        return;
    }
    let spelled = [
        n.to_string(),
        NUMBER_WORDS
            .get(n as usize)
            .map(|w| w.to_string())
            .unwrap_or_default(),
    ];
    for number in spelled.iter().filter(|s| !s.is_empty()) {
        let Some(span) = find_phrase(question, number) else {
            continue;
        };
        let amb = replace_span(question, span, "");
        if amb.split_whitespace().count() < 4 {
            return;
        }
        out.push(Candidate {
            rewrite: Rewrite::MaskedLimit,
            amb_user_query: amb,
            critical: vec![ambiguity("how many", &snippet, true, "threshold_ambiguity")],
            knowledge: Vec::new(),
            hidden: number.clone(),
        });
        return;
    }
}

const DESCENDING_PHRASES: &[&str] = &[
    "in descending order of",
    "in descending order by",
    "in descending order",
    "in decreasing order of",
    "in decreasing order",
    "by descending order",
    "in the descending order of",
    "in the descending order",
    "descending order of",
    "descending",
    "in descending",
    "from highest to lowest",
    "from high to low",
    "from largest to smallest",
    "from most to least",
];

fn sort_candidate(question: &str, query: &Query, out: &mut Vec<Candidate>) {
    let Some(snippet) = descending_order(query) else {
        return;
    };
    if limit_of(query).is_some() {
        return; // with a LIMIT the direction is usually implied by "most" / "highest"
    }
    for &phrase in DESCENDING_PHRASES {
        let Some(span) = find_phrase(question, phrase) else {
            continue;
        };
        // "in descending order of X" keeps "ordered by X"; a bare "descending" just goes.
        let replacement = if phrase.ends_with(" of") || phrase.ends_with(" by") {
            "ordered by"
        } else {
            ""
        };
        let amb = replace_span(question, span, replacement);
        out.push(Candidate {
            rewrite: Rewrite::MaskedSort,
            amb_user_query: amb,
            critical: vec![ambiguity(
                "sort direction",
                &snippet,
                true,
                "sort_ambiguity",
            )],
            knowledge: Vec::new(),
            hidden: "descending".into(),
        });
        return;
    }
}

fn value_candidate(question: &str, query: &Query, out: &mut Vec<Candidate>) {
    let (_, equalities) = comparisons(query);
    if equalities.len() != 1 {
        return;
    }
    let equality = &equalities[0];
    if equality.value.len() < 3 || equality.value.chars().any(|c| c.is_ascii_digit()) {
        return; // short codes and dates read badly as "a certain ..."
    }
    for quoted in [
        format!("\"{}\"", equality.value),
        format!("'{}'", equality.value),
        equality.value.clone(),
    ] {
        let Some((start, end)) = find_phrase_loose(question, &quoted) else {
            continue;
        };
        // A value used as a modifier ("a cat pet", "math courses") does not read well as
        // "a certain ..."; only values that stand as a noun phrase are rewritten.
        let next_word = question[end..]
            .split(|c: char| !c.is_ascii_alphabetic())
            .find(|w| !w.is_empty())
            .map(str::to_lowercase);
        if question[end..].starts_with(' ')
            && next_word
                .as_deref()
                .is_some_and(|w| !NOT_NOUNS.contains(&w))
        {
            return;
        }
        // "in the usa" -> "in a certain country": the article goes with the value.
        let before = question[..start].trim_end();
        let start = ["the", "a", "an"]
            .iter()
            .find_map(|article| {
                let cut = before.len().checked_sub(article.len())?;
                (before.get(cut..)?.eq_ignore_ascii_case(article)
                    && (cut == 0 || before.as_bytes()[cut - 1] == b' '))
                    .then_some(cut)
            })
            .unwrap_or(start);
        let term = format!("a certain {}", equality.column);
        out.push(Candidate {
            rewrite: Rewrite::VagueValue,
            amb_user_query: replace_span(question, (start, end), &term),
            critical: vec![ambiguity(
                &term,
                &equality.snippet,
                false,
                "value_ambiguity",
            )],
            knowledge: Vec::new(),
            hidden: equality.value.clone(),
        });
        return;
    }
}

/// [`find_phrase`], where the phrase may start or end with a quote (no word boundary there).
fn find_phrase_loose(text: &str, phrase: &str) -> Option<(usize, usize)> {
    if phrase.starts_with(['"', '\'']) {
        let lower = text.to_lowercase();
        let needle = phrase.to_lowercase();
        let hits: Vec<usize> = lower.match_indices(&needle).map(|(i, _)| i).collect();
        return match hits.as_slice() {
            [start] if lower.len() == text.len() => Some((*start, *start + needle.len())),
            _ => None,
        };
    }
    find_phrase(text, phrase)
}

fn follow_up(query: &Query, sol_sql: &str, rows: usize) -> Option<FollowUp> {
    if let Some((_, n)) = limit_of(query)
        && n >= 2
        && query.order_by.is_some()
    {
        let mut first = query.clone();
        if let Some(LimitClause::LimitOffset { limit, .. }) = &mut first.limit_clause {
            *limit = Some(Expr::value(sqlparser::ast::Value::Number(
                "1".into(),
                false,
            )));
        }
        return Some(FollowUp {
            query: "And only the first one?".into(),
            sol_sql: first.to_string(),
        });
    }
    (rows > 1).then(|| FollowUp {
        query: "How many rows is that?".into(),
        sol_sql: format!("SELECT COUNT(*) FROM ({sol_sql}) AS previous_answer"),
    })
}

/// Build tasks from the Spider folder in `options`, checked against its databases.
pub async fn build_spider_tasks(
    options: &BuildOptions,
) -> SimResult<(Vec<InteractiveTask>, BuildSummary)> {
    let dev_path = options.data.join("dev.json");
    let train_path = ["train_spider.json", "train_spider_min.json"]
        .iter()
        .map(|name| options.data.join(name))
        .find(|p| p.is_file());
    if !dev_path.is_file() {
        return Err(SimulatorError::InvalidInput {
            message: format!(
                "no dev.json in {} (pass --data with the Spider folder)",
                options.data.display()
            ),
        });
    }
    let databases = TaskDatabases::new(options.data.join("database"));
    let mut sources: Vec<(&str, Vec<SpiderExample>)> = vec![("dev", read_examples(&dev_path)?)];
    if let Some(train) = &train_path {
        sources.push(("train", read_examples(train)?));
    }
    let dev_dbs: HashSet<String> = sources[0].1.iter().map(|e| e.db_id.clone()).collect();

    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut tasks = Vec::new();
    let mut summary = BuildSummary::default();
    let mut per_db: HashMap<String, usize> = HashMap::new();
    let mut seen_questions = HashSet::new();
    let progress = indicatif::ProgressBar::new(options.max_tasks as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} tasks")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    progress.set_message("deriving tasks from Spider");
    for (split, examples) in &sources {
        let mut order: Vec<usize> = (0..examples.len()).collect();
        order.shuffle(&mut rng);
        for index in order {
            if tasks.len() >= options.max_tasks {
                break;
            }
            let example = &examples[index];
            // Train questions on dev databases would mix the splits.
            if *split == "train" && dev_dbs.contains(&example.db_id) {
                continue;
            }
            if per_db.get(&example.db_id).copied().unwrap_or(0) >= options.per_database
                || !seen_questions.insert(example.question.clone())
            {
                continue;
            }
            summary.examined += 1;
            match derive_task(split, index, example, &databases, &mut rng).await {
                Ok(task) => {
                    *per_db.entry(example.db_id.clone()).or_default() += 1;
                    tasks.push(task);
                    progress.inc(1);
                }
                Err(reason) => {
                    *summary.rejected.entry(reason.to_string()).or_default() += 1;
                }
            }
        }
    }
    progress.finish_and_clear();
    for task in &tasks {
        *summary
            .per_split
            .entry(task.split.clone().unwrap_or_default())
            .or_default() += 1;
        let kind = task
            .source
            .as_deref()
            .and_then(|s| s.rsplit(": ").next())
            .unwrap_or("unknown");
        *summary.per_kind.entry(kind.to_string()).or_default() += 1;
    }
    summary.databases = per_db.len();
    Ok((tasks, summary))
}

/// One Spider example to a task, or the reason it was rejected.
async fn derive_task(
    split: &str,
    index: usize,
    example: &SpiderExample,
    databases: &TaskDatabases,
    rng: &mut ChaCha8Rng,
) -> Result<InteractiveTask, &'static str> {
    let database = databases
        .open(&example.db_id)
        .map_err(|_| "database missing")?;
    let query = parse_query(&example.query, Dialect::Sqlite).map_err(|_| "gold does not parse")?;
    let question = tidy(&example.question);
    let mut candidates = Vec::new();
    threshold_candidates(&question, &query, &mut candidates);
    limit_candidate(&question, &query, &mut candidates);
    sort_candidate(&question, &query, &mut candidates);
    value_candidate(&question, &query, &mut candidates);
    if candidates.is_empty() {
        return Err("no rewrite fits");
    }
    let candidate = candidates.swap_remove(rng.random_range(0..candidates.len()));

    let sol_sql = query.to_string();
    let original = database
        .execute(&example.query, &scoring_limits())
        .await
        .map_err(|_| "spider gold fails")?;
    let reprinted: QueryResult = database
        .execute(&sol_sql, &scoring_limits())
        .await
        .map_err(|_| "re-printed gold fails")?;
    let ordered = query.order_by.is_some();
    if !spider_result_eq(&original.rows, &reprinted.rows, ordered) {
        return Err("re-printed gold differs");
    }
    if reprinted.rows.is_empty() {
        return Err("gold result is empty");
    }
    if candidate
        .amb_user_query
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| w == candidate.hidden.to_lowercase())
        || candidate
            .amb_user_query
            .to_lowercase()
            .contains(&candidate.hidden.to_lowercase())
            && candidate.hidden.len() > 3
    {
        return Err("hidden value still in the question");
    }
    if candidate.rewrite == Rewrite::MaskedLimit {
        let mut unlimited = query.clone();
        unlimited.limit_clause = None;
        let all = database
            .execute(&unlimited.to_string(), &scoring_limits())
            .await
            .map_err(|_| "query without its limit fails")?;
        if all.rows.len() <= reprinted.rows.len() {
            return Err("the limit cuts no rows");
        }
    }
    let source = format!("spider {split} #{index}: {}", candidate.rewrite.name());
    let task = InteractiveTask {
        instance_id: format!("spider_{split}_{index:04}"),
        db_id: example.db_id.clone(),
        amb_user_query: candidate.amb_user_query,
        user_query_ambiguity: UserQueryAmbiguity {
            critical_ambiguity: candidate.critical,
            non_critical_ambiguity: Vec::new(),
        },
        knowledge_ambiguity: candidate.knowledge,
        clear_question: question,
        follow_up: follow_up(&query, &sol_sql, reprinted.rows.len()),
        sol_sql,
        difficulty: None,
        split: Some(split.to_string()),
        source: Some(source),
        reviewed: false,
        review_note: None,
    };
    validate_task(&task).map_err(|_| "annotation check fails")?;
    verify_task_sql(&task, databases)
        .await
        .map_err(|_| "follow-up does not execute")?;
    Ok(task)
}

/// Keep the review marks of `reviewed` (by instance_id, when the question and gold are the
/// same) in `tasks`: a rebuild does not lose the hand review.
pub fn carry_reviews(tasks: &mut [InteractiveTask], reviewed: &[InteractiveTask]) -> usize {
    let marks: HashMap<&str, &InteractiveTask> = reviewed
        .iter()
        .filter(|t| t.reviewed)
        .map(|t| (t.instance_id.as_str(), t))
        .collect();
    let mut carried = 0;
    for task in tasks.iter_mut() {
        if let Some(old) = marks.get(task.instance_id.as_str())
            && old.amb_user_query == task.amb_user_query
            && old.sol_sql == task.sol_sql
        {
            task.reviewed = true;
            task.review_note = old.review_note.clone();
            carried += 1;
        }
    }
    carried
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(sql: &str) -> Query {
        parse_query(sql, Dialect::Sqlite).unwrap()
    }

    #[test]
    fn a_threshold_becomes_vague_or_a_hidden_fact() {
        let mut out = Vec::new();
        threshold_candidates(
            "Show the names of singers older than 30.",
            &query("SELECT name FROM singer WHERE age > 30"),
            &mut out,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0].amb_user_query,
            "Show the names of singers older than a certain threshold."
        );
        assert_eq!(out[0].critical[0].sql_snippet, "age > 30");
        assert_eq!(
            out[1].amb_user_query,
            "Show the names of singers older than the age limit."
        );
        assert_eq!(out[1].knowledge[0].description, "The age limit is 30.");
    }

    #[test]
    fn a_counted_noun_gets_a_vague_quantifier() {
        let mut out = Vec::new();
        threshold_candidates(
            "Which courses have more than 2 students?",
            &query("SELECT course FROM t GROUP BY course HAVING COUNT(*) > 2"),
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].amb_user_query,
            "Which courses have several students?"
        );
        assert_eq!(out[0].critical[0].sql_snippet, "COUNT(*) > 2");
    }

    #[test]
    fn limits_sorts_and_values_are_masked() {
        let mut out = Vec::new();
        limit_candidate(
            "What are the names of the top 3 stadiums by capacity?",
            &query("SELECT name FROM stadium ORDER BY capacity DESC LIMIT 3"),
            &mut out,
        );
        assert_eq!(
            out[0].amb_user_query,
            "What are the names of the top stadiums by capacity?"
        );
        assert_eq!(out[0].critical[0].sql_snippet, "LIMIT 3");
        sort_candidate(
            "List the ages of all singers in descending order.",
            &query("SELECT age FROM singer ORDER BY age DESC"),
            &mut out,
        );
        assert_eq!(out[1].amb_user_query, "List the ages of all singers.");
        assert_eq!(out[1].critical[0].sql_snippet, "ORDER BY age DESC");
        value_candidate(
            "How many singers are from France?",
            &query("SELECT count(*) FROM singer WHERE country = 'France'"),
            &mut out,
        );
        assert_eq!(
            out[2].amb_user_query,
            "How many singers are from a certain country?"
        );
        assert_eq!(out[2].critical[0].sql_snippet, "country = 'France'");
    }
}
