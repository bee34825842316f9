//! Deciding when a question is too ambiguous to answer, and what to ask back.
//!
//! [`detect_ambiguities`] runs deterministic detectors over the question, the schema, the
//! [`SchemaLinks`] and (for value ambiguity) a few read-only lookups in the database. Each
//! detector reports [`Ambiguity`] findings, best first:
//!
//! 0. **left out** — "a certain country", "a certain threshold", "older than the age limit":
//!    the user has a value or cut-off in mind and did not give it;
//! 1. **value** — a literal names several rows ("London": London, England and London, Ontario;
//!    two categories called "Accessories" under different parents);
//! 2. **schema linking** — one mention fits several columns: a bare measure noun ("price") that
//!    several tables have; a place reached along several foreign-key paths ("orders from
//!    Portland": the shipping city or the customer's city); a date ("from December 2024") when
//!    the entity has several date columns;
//! 3. **vague quantifier or threshold** — "recent", "big", "best", "top" without a number,
//!    "popular", "expensive", "young", "late", …, unless the question pins it down (a number
//!    next to it, "by <measure>", a measure right after "best", or the word being a column or a
//!    stored value);
//! 4. **relative time** — "last year", "this month", "today": the data's "now" is unknown;
//! 5. **undefined measure** — "sales", "revenue", "order value", "spent" without a definition;
//! 6. **unknown qualifier** — an adjective on an entity ("active products") that links to no
//!    column or value;
//! 7. **unstated direction or count** — "ordered by years of work" with no direction word, and
//!    "the most populated countries" (a ranking of several rows) with no number.
//!
//! "several flights" and "only a few cylinders" are vague quantifiers (3) whatever noun follows.
//!
//! [`Clarifier::clarify`] turns the best finding into one concise [`ClarificationRequest`]
//! ("By 'best customers', do you mean by total payments or by number of orders?"); with
//! [`ClarifierOptions::model_check`] the model is asked too when no detector fires. Terms already
//! clarified in the conversation are not asked about again.

use std::collections::HashSet;
use std::sync::Arc;

use learnat_tools::schema::{Schema, Table, quote_identifier, quote_string};
use learnat_tools::{Database, ExecOptions, Value};
use serde::{Deserialize, Serialize};

use crate::model::{ChatMessage, ChatModel, GenerationParams};
use crate::prompt::linking::{SchemaLinks, ValueMatch, identifier_words, is_stop_word, stem};

/// The kinds of ambiguity the detectors know, named as in the interactive-task annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmbiguityKind {
    /// A literal matches several rows or entities.
    ValueAmbiguity,
    /// One mention fits several columns or join paths.
    SchemaLinkingAmbiguity,
    /// A vague quantifier, threshold or ranking ("big", "recent", "best").
    ThresholdAmbiguity,
    /// "last year", "today": relative to a "now" the data does not define.
    RelativeTime,
    /// A business measure without a definition ("sales", "revenue", "order value").
    IntentAmbiguity,
    /// A word that links to nothing in the database.
    UnknownTerm,
    /// The model judged the question ambiguous.
    ModelJudgement,
}

/// One finding of a detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ambiguity {
    /// What kind of ambiguity.
    pub kind: AmbiguityKind,
    /// The words of the question it is about.
    pub term: String,
    /// The meanings it could have (columns, rows, measures), when known.
    pub options: Vec<String>,
    /// For each option, the SQL condition that selects it (a row's key), when known; empty
    /// otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
    /// The question to ask the user.
    pub question: String,
}

/// What the agent asks the user instead of guessing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClarificationRequest {
    /// One concise question for the user.
    pub question: String,
    /// Why it asks.
    pub kind: AmbiguityKind,
    /// The words of the user's question it is about.
    pub term: String,
    /// Candidate meanings, when known (a client may offer them as choices).
    #[serde(default)]
    pub options: Vec<String>,
    /// For each option, the SQL condition that selects it, when known: an answer that picks an
    /// option is passed to the model with its condition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
}

impl ClarificationRequest {
    /// The SQL condition of the option `answer` picks: its number ("2"), or the one option
    /// sharing the most words with it ("London, England"). `None` without conditions, or when
    /// the answer picks no single option.
    pub fn condition_for(&self, answer: &str) -> Option<String> {
        if self.conditions.len() != self.options.len() || self.conditions.is_empty() {
            return None;
        }
        let words = |text: &str| -> HashSet<String> {
            text.split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty() && !is_stop_word(&w.to_lowercase()))
                .map(str::to_lowercase)
                .collect()
        };
        let answer_words = words(answer);
        let numbers: Vec<usize> = answer_words
            .iter()
            .filter_map(|w| w.parse::<usize>().ok())
            .filter(|n| (1..=self.options.len()).contains(n))
            .collect();
        if let [number] = numbers[..]
            && answer_words.len() <= 2
        {
            return Some(self.conditions[number - 1].clone());
        }
        let scores: Vec<usize> = self
            .options
            .iter()
            .map(|option| words(option).intersection(&answer_words).count())
            .collect();
        let best = *scores.iter().max()?;
        let mut at_best = scores.iter().enumerate().filter(|(_, s)| **s == best);
        let (index, _) = at_best.next()?;
        (best > 0 && at_best.next().is_none()).then(|| self.conditions[index].clone())
    }
}

impl From<Ambiguity> for ClarificationRequest {
    fn from(finding: Ambiguity) -> ClarificationRequest {
        ClarificationRequest {
            question: finding.question,
            kind: finding.kind,
            term: finding.term,
            options: finding.options,
            conditions: finding.conditions,
        }
    }
}

/// How the [`Clarifier`] behaves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClarifierOptions {
    /// Ask at all (false: always answer, e.g. for single-turn evaluation).
    pub enabled: bool,
    /// When no detector fires, ask the model whether the question is ambiguous.
    pub model_check: bool,
    /// At most this many clarification questions about one user question.
    pub max_questions: usize,
}

impl Default for ClarifierOptions {
    fn default() -> Self {
        ClarifierOptions {
            enabled: true,
            model_check: false,
            max_questions: 2,
        }
    }
}

/// Decides whether to ask, and what.
#[derive(Debug, Clone, Default)]
pub struct Clarifier {
    options: ClarifierOptions,
}

impl Clarifier {
    /// A clarifier with these options.
    pub fn new(options: ClarifierOptions) -> Clarifier {
        Clarifier { options }
    }

    /// Its options.
    pub fn options(&self) -> &ClarifierOptions {
        &self.options
    }

    /// The one question to ask about `question`, or `None` to answer it. `already_asked` are the
    /// terms clarified so far for this question (never asked again); after
    /// [`ClarifierOptions::max_questions`] of them it answers.
    pub async fn clarify(
        &self,
        question: &str,
        schema: &Schema,
        links: &SchemaLinks,
        database: &dyn Database,
        model: Option<&Arc<dyn ChatModel>>,
        already_asked: &[String],
    ) -> Option<ClarificationRequest> {
        if !self.options.enabled || already_asked.len() >= self.options.max_questions {
            return None;
        }
        let asked: HashSet<String> = already_asked.iter().map(|t| t.to_lowercase()).collect();
        let findings = detect_ambiguities(question, schema, links, database).await;
        if let Some(finding) = findings
            .into_iter()
            .find(|finding| !asked.contains(&finding.term.to_lowercase()))
        {
            return Some(finding.into());
        }
        if self.options.model_check
            && already_asked.is_empty()
            && let Some(model) = model
        {
            return model_judgement(question, schema, model).await;
        }
        None
    }
}

/// Asks the model whether the question is ambiguous; `ASK: <question>` means yes.
async fn model_judgement(
    question: &str,
    schema: &Schema,
    model: &Arc<dyn ChatModel>,
) -> Option<ClarificationRequest> {
    let messages = [
        ChatMessage::system(
            "You check questions about a database before they are answered. If answering the \
             question needs a guess about what a word means (a vague threshold, several \
             possible columns or values), reply `ASK: ` followed by one short question to the \
             user. Otherwise reply `CLEAR`.",
        ),
        ChatMessage::user(format!(
            "Database schema:\n{}\nQuestion: {question}",
            schema.to_compact()
        )),
    ];
    let params = GenerationParams {
        max_tokens: 64,
        ..GenerationParams::default()
    };
    let completion = match model.chat(&messages, &params).await {
        Ok(mut completions) => completions.pop()?,
        Err(error) => {
            tracing::debug!(%error, "the model check of the clarifier failed");
            return None;
        }
    };
    let text = completion.text.trim();
    let asked = text.strip_prefix("ASK:")?.trim();
    (!asked.is_empty()).then(|| ClarificationRequest {
        question: asked.to_string(),
        kind: AmbiguityKind::ModelJudgement,
        term: String::new(),
        options: Vec::new(),
        conditions: Vec::new(),
    })
}

/// A word of the question with its position; hyphenated compounds stay one token.
#[derive(Debug, Clone)]
struct Token {
    /// Lower-cased.
    lower: String,
    /// Stemmed (plural endings).
    stem: String,
}

fn tokens(question: &str) -> Vec<Token> {
    question
        .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\''))
        .map(|word| word.trim_matches(|c: char| c == '-' || c == '\''))
        .filter(|word| !word.is_empty())
        .map(|word| {
            let lower = word.to_lowercase();
            let lower = lower.strip_suffix("'s").unwrap_or(&lower).to_string();
            Token {
                stem: stem(&lower),
                lower,
            }
        })
        .collect()
}

/// The words of `run`, lower-cased, as one phrase ("the pet age limit").
fn spoken(run: &[Token]) -> String {
    run.iter()
        .map(|w| w.lower.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the schema offers to resolve words: stemmed table-name words, column-name words (all
/// and numeric only) and sample values.
struct Vocabulary {
    table_words: HashSet<String>,
    column_words: HashSet<String>,
    /// Stemmed one-word sample values.
    sample_words: HashSet<String>,
}

impl Vocabulary {
    fn new(schema: &Schema) -> Vocabulary {
        let mut vocabulary = Vocabulary {
            table_words: HashSet::new(),
            column_words: HashSet::new(),
            sample_words: HashSet::new(),
        };
        for table in &schema.tables {
            for word in identifier_words(&table.name) {
                vocabulary.table_words.insert(stem(&word));
            }
            for column in &table.columns {
                for word in identifier_words(&column.name) {
                    vocabulary.column_words.insert(stem(&word));
                }
                // Whole stored values only ('active', 'late'): a word inside a free text (a
                // review title) defines nothing.
                for sample in &column.samples {
                    if let Value::Text(text) = sample
                        && !text.trim().is_empty()
                        && !text.trim().contains(char::is_whitespace)
                    {
                        vocabulary.sample_words.insert(stem(text.trim()));
                    }
                }
            }
        }
        vocabulary
    }

    fn links(&self, stemmed: &str) -> bool {
        self.table_words.contains(stemmed)
            || self.column_words.contains(stemmed)
            || self.sample_words.contains(stemmed)
    }

    /// A superlative ("youngest", "tallest") whose measure is a column of the schema (age,
    /// height): the data defines the ranking, nothing to ask.
    fn defines_extreme(&self, word: &str) -> bool {
        MEASURED_EXTREMES
            .iter()
            .filter(|(words, _)| words.contains(&word))
            .flat_map(|(_, measures)| measures.iter())
            .any(|measure| self.column_words.contains(&stem(measure)))
    }
}

/// Superlatives, with the column words that measure them. (Comparatives and bare adjectives
/// stay vague: "young customers" needs a cut-off; "the youngest customer" does not. "Newest"
/// and "latest" stay vague too: how many of the newest?)
const MEASURED_EXTREMES: &[(&[&str], &[&str])] = &[
    (
        &["youngest", "oldest"],
        &["age", "birth", "born", "dob", "birthday"],
    ),
    (&["tallest"], &["height"]),
    (&["heaviest", "lightest"], &["weight"]),
    (&["cheapest"], &["price", "cost", "fee"]),
    (&["longest", "shortest"], &["length", "duration", "height"]),
    (
        &["largest", "biggest", "smallest"],
        &["size", "capacity", "area", "population"],
    ),
];

fn is_numeric_type(data_type: &str) -> bool {
    let upper = data_type.to_ascii_uppercase();
    ["INT", "REAL", "NUM", "DEC", "FLOA", "DOUB", "MONEY"]
        .iter()
        .any(|t| upper.contains(t))
}

fn is_date_column(name: &str, data_type: &str) -> bool {
    let upper = data_type.to_ascii_uppercase();
    upper.contains("DATE")
        || upper.contains("TIME")
        || identifier_words(name)
            .iter()
            .any(|w| matches!(w.as_str(), "date" | "time" | "timestamp" | "day"))
}

fn is_key_column(table: &Table, column: &str) -> bool {
    table.primary_key.iter().any(|c| c == column)
        || table
            .foreign_keys
            .iter()
            .any(|k| k.columns.iter().any(|c| c == column))
        || identifier_words(column).last().is_some_and(|w| w == "id")
}

fn is_number_word(word: &str) -> bool {
    word.chars().all(|c| c.is_ascii_digit())
        || [
            "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
            "eleven", "twelve", "fifteen", "twenty", "fifty", "hundred", "thousand", "dozen",
        ]
        .contains(&word)
}

const AGGREGATE_WORDS: &[&str] = &[
    "average", "avg", "mean", "total", "sum", "number", "count", "maximum", "minimum", "max",
    "min", "median",
];

/// Words before a noun that do not qualify it ("the average price", "our price").
fn is_neutral_modifier(word: &str) -> bool {
    AGGREGATE_WORDS.contains(&word)
        || [
            "the", "a", "an", "of", "our", "their", "its", "his", "her", "my", "your", "each",
            "every", "all", "highest", "lowest", "what", "which", "is", "are", "and", "or",
        ]
        .contains(&word)
}

/// Prepositions: before a noun they do not qualify it.
const PREPOSITIONS: &[&str] = &[
    "by", "of", "in", "on", "at", "for", "with", "from", "per", "to", "into", "over", "under",
    "between", "about", "than",
];

/// Words that open a noun phrase: an adjective right after one qualifies the noun that follows
/// ("our active products", "how many big orders").
const DETERMINERS: &[&str] = &[
    "the", "a", "an", "our", "their", "my", "your", "its", "many", "which", "what", "all", "any",
    "some", "these", "those", "every", "each", "no",
];

/// Vague words: (word, what it is usually about), with their kind.
const VAGUE_TERMS: &[(&str, AmbiguityKind)] = &[
    ("best", AmbiguityKind::ThresholdAmbiguity),
    ("worst", AmbiguityKind::ThresholdAmbiguity),
    ("top", AmbiguityKind::ThresholdAmbiguity),
    ("popular", AmbiguityKind::ThresholdAmbiguity),
    ("favorite", AmbiguityKind::ThresholdAmbiguity),
    ("favourite", AmbiguityKind::ThresholdAmbiguity),
    ("loyal", AmbiguityKind::ThresholdAmbiguity),
    ("important", AmbiguityKind::ThresholdAmbiguity),
    ("valuable", AmbiguityKind::ThresholdAmbiguity),
    ("successful", AmbiguityKind::ThresholdAmbiguity),
    ("big", AmbiguityKind::ThresholdAmbiguity),
    ("bigger", AmbiguityKind::ThresholdAmbiguity),
    ("large", AmbiguityKind::ThresholdAmbiguity),
    ("huge", AmbiguityKind::ThresholdAmbiguity),
    ("small", AmbiguityKind::ThresholdAmbiguity),
    ("expensive", AmbiguityKind::ThresholdAmbiguity),
    ("cheap", AmbiguityKind::ThresholdAmbiguity),
    ("high", AmbiguityKind::ThresholdAmbiguity),
    ("low", AmbiguityKind::ThresholdAmbiguity),
    ("few", AmbiguityKind::ThresholdAmbiguity),
    ("several", AmbiguityKind::ThresholdAmbiguity),
    ("frequent", AmbiguityKind::ThresholdAmbiguity),
    ("young", AmbiguityKind::ThresholdAmbiguity),
    ("old", AmbiguityKind::ThresholdAmbiguity),
    ("new", AmbiguityKind::ThresholdAmbiguity),
    ("newest", AmbiguityKind::ThresholdAmbiguity),
    ("latest", AmbiguityKind::ThresholdAmbiguity),
    ("oldest", AmbiguityKind::ThresholdAmbiguity),
    ("recent", AmbiguityKind::ThresholdAmbiguity),
    ("recently", AmbiguityKind::ThresholdAmbiguity),
    ("late", AmbiguityKind::ThresholdAmbiguity),
    ("early", AmbiguityKind::ThresholdAmbiguity),
    ("negative", AmbiguityKind::ThresholdAmbiguity),
    ("positive", AmbiguityKind::ThresholdAmbiguity),
    ("good", AmbiguityKind::ThresholdAmbiguity),
    ("bad", AmbiguityKind::ThresholdAmbiguity),
    ("active", AmbiguityKind::ThresholdAmbiguity),
    ("inactive", AmbiguityKind::ThresholdAmbiguity),
];

/// Business measures that need a definition.
const MEASURE_TERMS: &[&str] = &[
    "sales",
    "revenue",
    "value",
    "performance",
    "spend",
    "spent",
    "spending",
    "profit",
    "income",
    "turnover",
];

/// Words that show the question defines its measure ("revenue, counting quantity times ...").
const DEFINITION_CUES: &[&str] = &[
    "counting", "over", "times", "defined", "meaning", "i.e", "namely", "computed", "sum",
];

/// Relative-time phrases: (words, phrase shown).
const RELATIVE_TIME: &[&[&str]] = &[
    &["last", "year"],
    &["last", "month"],
    &["last", "week"],
    &["this", "year"],
    &["this", "month"],
    &["this", "week"],
    &["past", "year"],
    &["past", "month"],
    &["today"],
    &["yesterday"],
    &["lately"],
    &["nowadays"],
];

/// Event verbs that tie a date to a column ("placed", "shipped"): a date next to one is clear.
const DATE_EVENT_VERBS: &[&str] = &[
    "placed",
    "ordered",
    "made",
    "shipped",
    "delivered",
    "paid",
    "signed",
    "joined",
    "hired",
    "launched",
    "reviewed",
    "born",
    "created",
    "registered",
    "sent",
    "received",
    "written",
    "arrived",
    "released",
    "founded",
    "opened",
    "started",
    "ended",
    "published",
];

const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// All findings for `question`, best first. Reads the database only to tell whether a name is
/// shared by several rows (value ambiguity), through the read-only `execute`.
pub async fn detect_ambiguities(
    question: &str,
    schema: &Schema,
    links: &SchemaLinks,
    database: &dyn Database,
) -> Vec<Ambiguity> {
    let words = tokens(question);
    let vocabulary = Vocabulary::new(schema);
    let mut findings = Vec::new();
    // A value or cut-off the user has in mind and left out is the surest thing to ask about.
    findings.extend(unspecified_mentions(&words));
    findings.extend(unstated_cutoffs(&words, &vocabulary));
    findings.extend(value_ambiguities(schema, links, database).await);
    findings.extend(join_path_ambiguities(&words, schema, links));
    findings.extend(measure_column_ambiguities(&words, schema));
    findings.extend(date_column_ambiguities(&words, schema));
    findings.extend(vague_terms(&words, schema, &vocabulary));
    findings.extend(unstated_sort_direction(&words));
    findings.extend(unstated_count(&words, &vocabulary));
    findings.extend(relative_times(&words, schema, database).await);
    findings.extend(undefined_measures(question, &words, &vocabulary));
    findings.extend(unknown_qualifiers(&words, &vocabulary));
    // One finding per term: the first (most specific) detector wins.
    let mut seen = HashSet::new();
    findings.retain(|finding: &Ambiguity| seen.insert(finding.term.to_lowercase()));
    findings
}

/// Is `column` a name-like column (`name`, `*_name`, `title`)?
fn is_name_column(column: &str) -> bool {
    identifier_words(column)
        .last()
        .is_some_and(|w| matches!(w.as_str(), "name" | "title" | "label"))
}

/// Several rows share the name the question uses: "London" is a city in England and one in
/// Ontario.
async fn value_ambiguities(
    schema: &Schema,
    links: &SchemaLinks,
    database: &dyn Database,
) -> Vec<Ambiguity> {
    let mut findings = Vec::new();
    let mut checked = HashSet::new();
    for link in &links.values {
        if !matches!(link.matched, ValueMatch::Exact | ValueMatch::IgnoringCase)
            || !is_name_column(&link.column)
            || !checked.insert((
                link.table.clone(),
                link.column.clone(),
                link.mention.clone(),
            ))
        {
            continue;
        }
        let Some(table) = schema.table(&link.table) else {
            continue;
        };
        let value = link
            .examples
            .first()
            .cloned()
            .unwrap_or(link.mention.clone());
        let sql = format!(
            "SELECT * FROM {} WHERE {} = {} LIMIT 6",
            quote_identifier(&table.name),
            quote_identifier(&link.column),
            quote_string(&value)
        );
        let options = ExecOptions {
            timeout: std::time::Duration::from_secs(2),
            max_rows: 6,
            ..ExecOptions::default()
        };
        let Ok(rows) = database.execute(&sql, &options).await else {
            continue;
        };
        if rows.rows.len() < 2 {
            continue;
        }
        let mut described: Vec<(String, Option<String>)> = Vec::new();
        for row in &rows.rows {
            let description =
                describe_row(schema, table, &rows.columns, row, &link.column, database).await;
            if described
                .last()
                .is_none_or(|(last, _)| *last != description)
            {
                described.push((description, key_condition(table, &rows.columns, row)));
            }
        }
        if described.len() < 2 {
            continue;
        }
        let conditions: Vec<String> = described.iter().filter_map(|(_, c)| c.clone()).collect();
        let conditions = if conditions.len() == described.len() {
            conditions
        } else {
            Vec::new()
        };
        let descriptions: Vec<String> = described.into_iter().map(|(d, _)| d).collect();
        findings.push(Ambiguity {
            kind: AmbiguityKind::ValueAmbiguity,
            conditions,
            term: link.mention.clone(),
            question: format!(
                "There are {} {} named '{value}': {}. Which one do you mean?",
                rows.rows.len(),
                plural_noun(&table.name),
                join_options(&descriptions)
            ),
            options: descriptions,
        });
    }
    findings
}

/// `table.key = value` for a row of `table`, when the table has a one-column primary key and the
/// row holds it.
fn key_condition(table: &Table, columns: &[String], row: &[Value]) -> Option<String> {
    let [key] = &table.primary_key[..] else {
        return None;
    };
    let position = columns.iter().position(|c| c.eq_ignore_ascii_case(key))?;
    let value = match row.get(position)? {
        Value::Integer(n) => n.to_string(),
        Value::Text(text) => quote_string(text),
        Value::Real(x) => x.to_string(),
        _ => return None,
    };
    Some(format!("{}.{} = {value}", table.name, key))
}

/// The table's name as a plural noun: `cities` → `cities`, `order_items` → `order items`,
/// `singer` → `singers`.
fn plural_noun(table: &str) -> String {
    let mut words = identifier_words(table);
    if let Some(last) = words.last_mut()
        && !last.ends_with('s')
    {
        last.push('s');
    }
    words.join(" ")
}

fn join_options(options: &[String]) -> String {
    match options {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// A row told apart from its namesakes: its name, then its other text values and the names of
/// the rows its foreign keys point to ("London (England)", "Accessories (parent category:
/// Electronics)").
async fn describe_row(
    schema: &Schema,
    table: &Table,
    columns: &[String],
    row: &[Value],
    name_column: &str,
    database: &dyn Database,
) -> String {
    let mut name = String::new();
    let mut details = Vec::new();
    for (column, value) in columns.iter().zip(row) {
        if column == name_column {
            name = value.to_string();
            continue;
        }
        if matches!(value, Value::Null) {
            continue;
        }
        if let Some(key) = table
            .foreign_keys
            .iter()
            .find(|k| k.columns.len() == 1 && &k.columns[0] == column)
        {
            if let Some(target) = schema.table(&key.ref_table)
                && let Some(label) = target.columns.iter().find(|c| is_name_column(&c.name))
            {
                let target_key = key
                    .ref_columns
                    .first()
                    .filter(|c| !c.is_empty())
                    .cloned()
                    .or_else(|| target.primary_key.first().cloned());
                if let Some(target_key) = target_key {
                    let sql = format!(
                        "SELECT {} FROM {} WHERE {} = {}",
                        quote_identifier(&label.name),
                        quote_identifier(&target.name),
                        quote_identifier(&target_key),
                        sql_literal(value)
                    );
                    let options = ExecOptions {
                        timeout: std::time::Duration::from_secs(2),
                        max_rows: 1,
                        ..ExecOptions::default()
                    };
                    if let Ok(result) = database.execute(&sql, &options).await
                        && let Some(found) = result.rows.first().and_then(|r| r.first())
                    {
                        let role = identifier_words(column)
                            .into_iter()
                            .filter(|w| w != "id")
                            .collect::<Vec<_>>()
                            .join(" ");
                        details.push(format!("{role}: {found}"));
                    }
                }
            }
            continue;
        }
        if is_key_column(table, column) {
            continue;
        }
        if let Value::Text(text) = value
            && text.chars().count() <= 40
        {
            details.push(text.clone());
        }
    }
    details.truncate(2);
    if details.is_empty() {
        name
    } else {
        format!("{name} ({})", details.join(", "))
    }
}

fn sql_literal(value: &Value) -> String {
    match value {
        Value::Text(text) => quote_string(text),
        other => other.to_string(),
    }
}

/// A table the question names by a word of its name ("orders" → `orders`).
fn entity_tables<'a>(words: &[Token], schema: &'a Schema) -> Vec<&'a Table> {
    schema
        .tables
        .iter()
        .filter(|table| {
            let name_words: Vec<String> = identifier_words(&table.name)
                .iter()
                .map(|w| stem(w))
                .collect();
            // The table's last word is its head noun ("order_items" is about items).
            name_words
                .last()
                .is_some_and(|head| words.iter().any(|w| &w.stem == head))
                && name_words
                    .iter()
                    .all(|nw| words.iter().any(|w| &w.stem == nw))
        })
        .collect()
}

/// A value's table is reached from the entity along several foreign-key paths: "orders from
/// Portland" may be the shipping city or the customer's city.
fn join_path_ambiguities(words: &[Token], schema: &Schema, links: &SchemaLinks) -> Vec<Ambiguity> {
    let mut findings = Vec::new();
    for link in &links.values {
        if !matches!(link.matched, ValueMatch::Exact | ValueMatch::IgnoringCase) {
            continue;
        }
        let Some(target) = schema.table(&link.table) else {
            continue;
        };
        for entity in entity_tables(words, schema) {
            if entity.name == target.name {
                continue;
            }
            let paths = foreign_key_paths(schema, entity, &target.name);
            if paths.len() < 2 {
                continue;
            }
            // A word of the question that names one path's key ("shipped" ~ ship_city_id)
            // settles it.
            let settled = paths.iter().any(|path| {
                path.key_words.iter().any(|key_word| {
                    key_word.len() > 2
                        && words.iter().any(|w| w.lower.starts_with(key_word.as_str()))
                })
            });
            if settled {
                continue;
            }
            let options: Vec<String> = paths.iter().map(|p| p.description.clone()).collect();
            let entity_noun = plural_noun(&entity.name);
            findings.push(Ambiguity {
                kind: AmbiguityKind::SchemaLinkingAmbiguity,
                conditions: Vec::new(),
                term: link.mention.clone(),
                question: format!(
                    "For {entity_noun} and '{}', which link do you mean: {}?",
                    link.mention,
                    join_options(&options)
                ),
                options,
            });
        }
    }
    findings
}

/// One way from an entity table to a target table.
struct KeyPath {
    /// Words of the foreign-key columns that make the first hop (not `id`).
    key_words: Vec<String>,
    /// "orders.ship_city_id → cities" or "orders.customer_id → customers.city_id → cities".
    description: String,
}

/// Foreign-key paths of one or two hops from `entity` to `target`, following key direction.
fn foreign_key_paths(schema: &Schema, entity: &Table, target: &str) -> Vec<KeyPath> {
    let mut paths = Vec::new();
    let words_of = |column: &str| -> Vec<String> {
        identifier_words(column)
            .into_iter()
            .filter(|w| w != "id" && !target.to_lowercase().contains(w.as_str()))
            .collect()
    };
    for key in &entity.foreign_keys {
        let first = key.columns.join(", ");
        if key.ref_table.eq_ignore_ascii_case(target) {
            paths.push(KeyPath {
                key_words: words_of(&first),
                description: format!("{}.{first} → {target}", entity.name),
            });
            continue;
        }
        let Some(middle) = schema.table(&key.ref_table) else {
            continue;
        };
        if middle.name == entity.name {
            continue;
        }
        for second in &middle.foreign_keys {
            if second.ref_table.eq_ignore_ascii_case(target) {
                let mut key_words = words_of(&first);
                key_words.extend(words_of(&second.columns.join(", ")));
                key_words.extend(identifier_words(&middle.name).iter().map(|w| stem(w)));
                paths.push(KeyPath {
                    key_words,
                    description: format!(
                        "{}.{first} → {}.{} → {target}",
                        entity.name,
                        middle.name,
                        second.columns.join(", ")
                    ),
                });
            }
        }
    }
    paths
}

/// A bare measure noun ("price") that numeric columns of several tables carry, with no
/// qualifier on any of its mentions ("list price" is qualified).
fn measure_column_ambiguities(words: &[Token], schema: &Schema) -> Vec<Ambiguity> {
    let mut findings = Vec::new();
    let mut done = HashSet::new();
    for word in words {
        if is_stop_word(&word.lower) || word.stem.len() < 3 || !done.insert(word.stem.clone()) {
            continue;
        }
        let mut candidates: Vec<(String, String)> = Vec::new();
        for table in &schema.tables {
            for column in &table.columns {
                if !is_numeric_type(&column.data_type) || is_key_column(table, &column.name) {
                    continue;
                }
                // The column's head word ("price" of unit_price), not a modifier ("unit").
                if identifier_words(&column.name)
                    .last()
                    .is_some_and(|head| stem(head) == word.stem)
                {
                    candidates.push((table.name.clone(), column.name.clone()));
                }
            }
        }
        let tables: HashSet<&str> = candidates.iter().map(|(t, _)| t.as_str()).collect();
        if tables.len() < 2 {
            continue;
        }
        // Any qualified mention (a modifier that is not an article or aggregate) settles it.
        let qualified = words.iter().enumerate().any(|(i, w)| {
            w.stem == word.stem
                && i > 0
                && !is_neutral_modifier(&words[i - 1].lower)
                && !PREPOSITIONS.contains(&words[i - 1].lower.as_str())
        });
        if qualified {
            continue;
        }
        let options: Vec<String> = candidates.iter().map(|(t, c)| format!("{t}.{c}")).collect();
        findings.push(Ambiguity {
            kind: AmbiguityKind::SchemaLinkingAmbiguity,
            conditions: Vec::new(),
            term: word.lower.clone(),
            question: format!(
                "By '{}', do you mean {}?",
                word.lower,
                join_options(&options)
            ),
            options,
        });
    }
    findings
}

/// "from December 2024": a date tied to no event while the entity (and the tables recording
/// events about it) have several date columns.
fn date_column_ambiguities(words: &[Token], schema: &Schema) -> Vec<Ambiguity> {
    let Some(position) = words.iter().enumerate().position(|(i, w)| {
        w.lower == "from"
            && words
                .get(i + 1)
                .is_some_and(|next| MONTHS.contains(&next.lower.as_str()) || is_year(&next.lower))
    }) else {
        return Vec::new();
    };
    if words
        .iter()
        .any(|w| DATE_EVENT_VERBS.contains(&w.lower.as_str()))
    {
        return Vec::new();
    }
    let date_words: Vec<&str> = words[position + 1..]
        .iter()
        .take_while(|w| {
            MONTHS.contains(&w.lower.as_str())
                || is_year(&w.lower)
                || w.lower.chars().all(|c| c.is_ascii_digit())
        })
        .map(|w| w.lower.as_str())
        .collect();
    let term = format!("from {}", date_words.join(" "));
    let mut findings = Vec::new();
    for entity in entity_tables(words, schema) {
        let mut columns: Vec<String> = entity
            .columns
            .iter()
            .filter(|c| is_date_column(&c.name, &c.data_type))
            .map(|c| format!("{}.{}", entity.name, c.name))
            .collect();
        // Tables that record events about the entity (shipments of an order, its payments).
        for table in &schema.tables {
            if table
                .foreign_keys
                .iter()
                .any(|k| k.ref_table.eq_ignore_ascii_case(&entity.name))
                && table.name != entity.name
            {
                columns.extend(
                    table
                        .columns
                        .iter()
                        .filter(|c| is_date_column(&c.name, &c.data_type))
                        .map(|c| format!("{}.{}", table.name, c.name)),
                );
            }
        }
        if columns.len() >= 2 {
            columns.truncate(4);
            findings.push(Ambiguity {
                kind: AmbiguityKind::SchemaLinkingAmbiguity,
                conditions: Vec::new(),
                term: term.clone(),
                question: format!(
                    "Which date should '{}' apply to: {}?",
                    date_words.join(" "),
                    join_options(&columns)
                ),
                options: columns,
            });
            break;
        }
    }
    findings
}

fn is_year(word: &str) -> bool {
    word.len() == 4
        && word.chars().all(|c| c.is_ascii_digit())
        && (word.starts_with("19") || word.starts_with("20"))
}

/// Vague quantifiers, thresholds and rankings that the question does not pin down.
fn vague_terms(words: &[Token], schema: &Schema, vocabulary: &Vocabulary) -> Vec<Ambiguity> {
    let numeric_words: HashSet<String> = schema
        .tables
        .iter()
        .flat_map(|t| t.columns.iter())
        .filter(|c| is_numeric_type(&c.data_type))
        .flat_map(|c| identifier_words(&c.name))
        .map(|w| stem(&w))
        .filter(|w| w != "id")
        .collect();
    let mut findings = Vec::new();
    for (index, word) in words.iter().enumerate() {
        let Some(&(_, kind)) = VAGUE_TERMS.iter().find(|(term, _)| *term == word.lower) else {
            continue;
        };
        // "how long", "how old": a question about the quantity, not a threshold.
        if index > 0 && words[index - 1].lower == "how" {
            continue;
        }
        // The word is a column or a stored value ("active" flag, status 'late'): the data
        // defines it.
        if vocabulary.column_words.contains(&word.stem)
            || vocabulary.sample_words.contains(&word.stem)
        {
            continue;
        }
        // "the oldest singer" with an age column: the data defines it.
        if vocabulary.defines_extreme(&word.lower) {
            continue;
        }
        let window = |from: usize, to: usize| {
            words[from.min(words.len())..to.min(words.len())]
                .iter()
                .any(|w| is_number_word(&w.lower))
        };
        if window(index.saturating_sub(2), index + 3) {
            continue;
        }
        // "several flights", "only a few cylinders": a count without its number, whatever
        // follows.
        if matches!(word.lower.as_str(), "several" | "few") {
            findings.push(vague_quantity(words, index, kind));
            continue;
        }
        let next = words.get(index + 1).map(|w| w.stem.as_str());
        // "best average rating", "highest price": a named measure ranks.
        if next.is_some_and(|n| AGGREGATE_WORDS.contains(&n) || numeric_words.contains(n)) {
            continue;
        }
        // "... by list price": an explicit criterion.
        if words[index + 1..].iter().any(|w| w.lower == "by") {
            continue;
        }
        let phrase = match words.get(index + 1) {
            Some(next)
                if !is_stop_word(&next.lower) && vocabulary.table_words.contains(&next.stem) =>
            {
                format!("{} {}", word.lower, next.lower)
            }
            _ => word.lower.clone(),
        };
        let question = match kind {
            _ if [
                "best",
                "worst",
                "top",
                "popular",
                "favorite",
                "favourite",
                "loyal",
                "important",
                "valuable",
                "successful",
                "good",
                "bad",
            ]
            .contains(&word.lower.as_str()) =>
            {
                format!(
                    "By '{phrase}', which measure should rank them (for example a total amount \
                     or a number of orders), and how many do you want?"
                )
            }
            _ if [
                "recent", "recently", "new", "newest", "latest", "oldest", "old", "young", "late",
                "early",
            ]
            .contains(&word.lower.as_str()) =>
            {
                format!("What exactly counts as '{phrase}' (which date, and which cut-off)?")
            }
            _ => format!("What threshold do you mean by '{phrase}'?"),
        };
        findings.push(Ambiguity {
            kind,
            conditions: Vec::new(),
            term: phrase,
            options: Vec::new(),
            question,
        });
    }
    findings
}

/// "several flights", "only a few students": how many count, with the words before the
/// quantifier that belong to it ("only a few").
fn vague_quantity(words: &[Token], index: usize, kind: AmbiguityKind) -> Ambiguity {
    let start = match index {
        2.. if words[index - 2].lower == "only" && words[index - 1].lower == "a" => index - 2,
        1.. if words[index - 1].lower == "a" => index - 1,
        _ => index,
    };
    let phrase = spoken(&words[start..=index]);
    let question = match words.get(index + 1) {
        Some(noun) if !is_stop_word(&noun.lower) => {
            format!("How many {} count as '{phrase}'?", noun.lower)
        }
        _ => format!("What threshold do you mean by '{phrase}'?"),
    };
    Ambiguity {
        kind,
        term: phrase,
        options: Vec::new(),
        conditions: Vec::new(),
        question,
    }
}

/// "last year", "today": relative to a date the data does not define. The question names the
/// last date in the data when an entity's date column shows it.
async fn relative_times(
    words: &[Token],
    schema: &Schema,
    database: &dyn Database,
) -> Vec<Ambiguity> {
    let lower: Vec<&str> = words.iter().map(|w| w.lower.as_str()).collect();
    for phrase in RELATIVE_TIME {
        if !lower.windows(phrase.len()).any(|window| window == *phrase) {
            continue;
        }
        let shown = phrase.join(" ");
        let latest = latest_date(words, schema, database).await;
        let question = match latest {
            Some((column, date)) => format!(
                "The data in {column} runs until {date}. Which dates do you mean by '{shown}'?"
            ),
            None => format!("Which dates do you mean by '{shown}'?"),
        };
        return vec![Ambiguity {
            kind: AmbiguityKind::RelativeTime,
            conditions: Vec::new(),
            term: shown,
            options: Vec::new(),
            question,
        }];
    }
    Vec::new()
}

/// The latest value of the first date column of an entity the question names.
async fn latest_date(
    words: &[Token],
    schema: &Schema,
    database: &dyn Database,
) -> Option<(String, String)> {
    for entity in entity_tables(words, schema) {
        let Some(column) = entity
            .columns
            .iter()
            .find(|c| is_date_column(&c.name, &c.data_type))
        else {
            continue;
        };
        let sql = format!(
            "SELECT MAX({}) FROM {}",
            quote_identifier(&column.name),
            quote_identifier(&entity.name)
        );
        let options = ExecOptions {
            timeout: std::time::Duration::from_secs(2),
            max_rows: 1,
            ..ExecOptions::default()
        };
        if let Ok(result) = database.execute(&sql, &options).await
            && let Some(value) = result.rows.first().and_then(|r| r.first())
            && !matches!(value, Value::Null)
        {
            return Some((
                format!("{}.{}", entity.name, column.name),
                value.to_string(),
            ));
        }
    }
    None
}

/// A business measure the question uses without defining it, and that no column is named
/// after.
fn undefined_measures(question: &str, words: &[Token], vocabulary: &Vocabulary) -> Vec<Ambiguity> {
    // A parenthesis explains ("2024 revenue (items of orders neither cancelled nor returned)").
    if question.contains('(')
        || words
            .iter()
            .any(|w| DEFINITION_CUES.contains(&w.lower.as_str()))
    {
        return Vec::new();
    }
    for (index, word) in words.iter().enumerate() {
        if !MEASURE_TERMS.contains(&word.lower.as_str())
            || vocabulary.column_words.contains(&word.stem)
        {
            continue;
        }
        // "sales channel": the word modifies a column noun, it is not the measure asked for.
        if words.get(index + 1).is_some_and(|next| {
            vocabulary.column_words.contains(&next.stem) && !is_stop_word(&next.lower)
        }) {
            continue;
        }
        let phrase = match index.checked_sub(1).map(|i| &words[i]) {
            Some(previous) if vocabulary.table_words.contains(&previous.stem) => {
                format!("{} {}", previous.lower, word.lower)
            }
            _ => word.lower.clone(),
        };
        return vec![Ambiguity {
            kind: AmbiguityKind::IntentAmbiguity,
            conditions: Vec::new(),
            term: phrase.clone(),
            options: Vec::new(),
            question: format!(
                "How should '{phrase}' be computed (which amounts, and which orders or rows \
                 count)?"
            ),
        }];
    }
    Vec::new()
}

/// "a certain …", "a particular …": the user knows which one and has not said it.
const UNSPECIFIED_OPENERS: &[(&str, &str)] = &[
    ("a", "certain"),
    ("a", "particular"),
    ("a", "specific"),
    ("one", "particular"),
    ("some", "specific"),
];

/// Nouns after "a certain" that stand for a number (a cut-off), not for a row.
const QUANTITY_NOUNS: &[&str] = &[
    "threshold",
    "amount",
    "number",
    "value",
    "level",
    "limit",
    "count",
    "quantity",
    "percentage",
    "rate",
    "size",
];

/// Nouns that name a cut-off the question takes as known ("the age limit").
const CUTOFF_NOUNS: &[&str] = &["limit", "threshold", "cutoff", "cut-off", "quota"];

/// Words that state a sort direction (or imply one: "largest first", "alphabetical").
const DIRECTION_WORDS: &[&str] = &[
    "ascending",
    "descending",
    "asc",
    "desc",
    "increasing",
    "decreasing",
    "alphabetical",
    "alphabetically",
    "alphabetic",
    "lexicographic",
    "lexicographically",
    "chronological",
    "chronologically",
    "reverse",
    "reversed",
    "first",
    "last",
];

/// Words that ask for an ordering.
const SORT_WORDS: &[&str] = &[
    "ordered", "order", "sorted", "sort", "ranked", "rank", "arranged", "arrange",
];

/// Superlatives: a ranking, which needs a count when several rows are asked for.
const SUPERLATIVES: &[&str] = &[
    "most", "least", "fewest", "highest", "lowest", "largest", "smallest", "biggest", "greatest",
    "top", "best", "worst", "longest", "shortest", "oldest", "youngest", "newest", "latest",
    "earliest", "cheapest", "heaviest", "lightest", "tallest", "richest", "poorest",
];

/// Words that already say how many rows, or that rank within groups.
const COUNT_WORDS: &[&str] = &[
    "first", "single", "all", "each", "every", "per", "only", "both",
];

/// "a certain country", "a certain threshold": the user has a value in mind and did not say
/// it.
fn unspecified_mentions(words: &[Token]) -> Vec<Ambiguity> {
    let mut findings = Vec::new();
    for (index, window) in words.windows(3).enumerate() {
        let opener = (window[0].lower.as_str(), window[1].lower.as_str());
        if !UNSPECIFIED_OPENERS.contains(&opener) || is_stop_word(&window[2].lower) {
            continue;
        }
        let noun = &words[index + 2].lower;
        let phrase = format!("{} {} {noun}", window[0].lower, window[1].lower);
        let (kind, question) = if QUANTITY_NOUNS.contains(&noun.as_str()) {
            (
                AmbiguityKind::ThresholdAmbiguity,
                format!("What value do you mean by '{phrase}'?"),
            )
        } else {
            (
                AmbiguityKind::ValueAmbiguity,
                format!("Which {noun} do you mean by '{phrase}'?"),
            )
        };
        findings.push(Ambiguity {
            kind,
            term: phrase,
            options: Vec::new(),
            conditions: Vec::new(),
            question,
        });
    }
    findings
}

/// "older than the age limit": a cut-off the question names but never gives, unless it is a
/// column ("credit_limit") or a number follows it.
fn unstated_cutoffs(words: &[Token], vocabulary: &Vocabulary) -> Vec<Ambiguity> {
    let mut findings = Vec::new();
    for (index, word) in words.iter().enumerate() {
        if !CUTOFF_NOUNS.contains(&word.lower.as_str())
            || vocabulary.column_words.contains(&word.stem)
            || words[index + 1..]
                .iter()
                .take(3)
                .any(|w| is_number_word(&w.lower))
        {
            continue;
        }
        // Back to "the" over at most three words that are not stop words.
        let Some(start) = (index.saturating_sub(4)..index)
            .rev()
            .take_while(|&i| words[i].lower == "the" || !is_stop_word(&words[i].lower))
            .find(|&i| words[i].lower == "the")
        else {
            continue;
        };
        let phrase = spoken(&words[start..=index]);
        findings.push(Ambiguity {
            kind: AmbiguityKind::ThresholdAmbiguity,
            term: phrase.clone(),
            options: Vec::new(),
            conditions: Vec::new(),
            question: format!("What is {phrase}? Please give me its value."),
        });
    }
    findings
}

/// "ordered by years of work": an ordering without a direction (ascending is only SQL's
/// default, not necessarily the user's).
fn unstated_sort_direction(words: &[Token]) -> Option<Ambiguity> {
    let orders = words.iter().enumerate().any(|(index, word)| {
        SORT_WORDS.contains(&word.lower.as_str())
            && words[index + 1..].iter().take(6).any(|w| {
                w.lower == "by" || (w.lower == "of" && index > 0 && words[index - 1].lower == "in")
            })
    });
    let directed = words.iter().any(|w| {
        DIRECTION_WORDS.contains(&w.lower.as_str()) || SUPERLATIVES.contains(&w.lower.as_str())
    });
    (orders && !directed).then(|| Ambiguity {
        kind: AmbiguityKind::ThresholdAmbiguity,
        term: "sort direction".into(),
        options: vec!["ascending".into(), "descending".into()],
        conditions: Vec::new(),
        question: "Which sort direction do you want: ascending or descending?".into(),
    })
}

/// "the most populated countries": a ranking of several rows with no count. Only when the
/// question asks for a plural (names, countries) and says no number.
fn unstated_count(words: &[Token], vocabulary: &Vocabulary) -> Option<Ambiguity> {
    let superlative = words
        .iter()
        .position(|w| SUPERLATIVES.contains(&w.lower.as_str()))?;
    if words.first().is_some_and(|w| w.lower == "how")
        || words
            .iter()
            .any(|w| is_number_word(&w.lower) || COUNT_WORDS.contains(&w.lower.as_str()))
    {
        return None;
    }
    // What is listed comes before the superlative, in the plural: a table's rows
    // ("countries") or else a column ("names").
    let plurals: Vec<&Token> = words[..superlative]
        .iter()
        .filter(|w| !is_stop_word(&w.lower) && w.lower != w.stem)
        .collect();
    let listed = plurals
        .iter()
        .find(|w| vocabulary.table_words.contains(&w.stem))
        .or_else(|| {
            plurals
                .iter()
                .find(|w| vocabulary.column_words.contains(&w.stem))
        })?;
    Some(Ambiguity {
        kind: AmbiguityKind::ThresholdAmbiguity,
        term: "how many".into(),
        options: Vec::new(),
        conditions: Vec::new(),
        question: format!(
            "How many {} do you want: only the top one, or the top N (which N)?",
            listed.lower
        ),
    })
}

/// Neutral adjectives that qualify an entity without needing a definition.
const NEUTRAL_QUALIFIERS: &[&str] = &[
    "first",
    "last",
    "next",
    "previous",
    "full",
    "current",
    "different",
    "distinct",
    "unique",
    "individual",
    "separate",
    "given",
    "both",
    "same",
    "other",
    "such",
    "many",
    "much",
    "more",
    "most",
    "fewer",
    "least",
    "no",
    "any",
    "top-level",
];

/// An adjective on an entity ("active products") that links to no column, value or table.
fn unknown_qualifiers(words: &[Token], vocabulary: &Vocabulary) -> Vec<Ambiguity> {
    let mut findings = Vec::new();
    for (index, pair) in words.windows(2).enumerate() {
        let (qualifier, noun) = (&pair[0], &pair[1]);
        // Only at the start of a noun phrase: "orders contain products" is a verb, "in
        // alphabetical order" an idiom.
        let opens_phrase = index == 0 || DETERMINERS.contains(&words[index - 1].lower.as_str());
        if !opens_phrase
            || !vocabulary.table_words.contains(&noun.stem)
            || is_stop_word(&qualifier.lower)
            || is_neutral_modifier(&qualifier.lower)
            || NEUTRAL_QUALIFIERS.contains(&qualifier.lower.as_str())
            || qualifier.lower.contains('-')
            || is_number_word(&qualifier.lower)
            || vocabulary.links(&qualifier.stem)
            || vocabulary.defines_extreme(&qualifier.lower)
            || MONTHS.contains(&qualifier.lower.as_str())
        {
            continue;
        }
        let phrase = format!("{} {}", qualifier.lower, noun.lower);
        findings.push(Ambiguity {
            kind: AmbiguityKind::UnknownTerm,
            conditions: Vec::new(),
            term: phrase.clone(),
            options: Vec::new(),
            question: format!(
                "What makes a {} '{}' here? Which column or condition should I use?",
                stem(&noun.lower),
                qualifier.lower
            ),
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn london() -> ClarificationRequest {
        ClarificationRequest {
            question: "There are 2 cities named 'London'. Which one do you mean?".into(),
            kind: AmbiguityKind::ValueAmbiguity,
            term: "London".into(),
            options: vec![
                "London (Ontario, country: Canada)".into(),
                "London (England, country: United Kingdom)".into(),
            ],
            conditions: vec!["cities.city_id = 7".into(), "cities.city_id = 12".into()],
        }
    }

    #[test]
    fn an_answer_picks_an_option_by_number_or_by_its_words() {
        let request = london();
        assert_eq!(
            request.condition_for("London, England").as_deref(),
            Some("cities.city_id = 12")
        );
        assert_eq!(
            request.condition_for("the one in Canada").as_deref(),
            Some("cities.city_id = 7")
        );
        assert_eq!(
            request.condition_for("2").as_deref(),
            Some("cities.city_id = 12")
        );
        // Both share "London"; neither is picked. Nor without conditions.
        assert_eq!(request.condition_for("London"), None);
        let mut plain = london();
        plain.conditions.clear();
        assert_eq!(plain.condition_for("London, England"), None);
    }
}
