//! Schema linking: which tables, columns and stored values a question talks about.
//!
//! [`lexical_links`] matches the question's words against table and column names (split into
//! words: `order_items` → order, item; `StuID` → stu, id) and against the sample values of the
//! schema, all after a light plural stemming. [`link_schema`] adds the hits of the
//! `search_values` tool for the literals of the question (quoted text, capitalised names), so
//! "London" links to `cities.name` even when no sample shows it. [`SchemaLinks::relevant_tables`]
//! then adds the tables that join the linked ones (foreign-key bridges) and the tables they
//! reference, which is what a prompt for a large schema keeps.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use learnat_tools::schema::Schema;
use learnat_tools::tool::{Tool, find_tool};
use learnat_tools::value::Value;
use serde::{Deserialize, Serialize};

/// How a value was found in a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueMatch {
    /// The stored value equals the mention.
    Exact,
    /// Equal ignoring case.
    IgnoringCase,
    /// The stored value contains the mention.
    Contains,
}

/// A mention of the question found as a stored value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValueLink {
    /// The words of the question, as written.
    pub mention: String,
    /// Where the value is stored.
    pub table: String,
    /// Its column.
    pub column: String,
    /// How it matched.
    pub matched: ValueMatch,
    /// Stored values that matched (a few).
    pub examples: Vec<String>,
}

/// A column whose name the question uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnLink {
    /// The table of the column.
    pub table: String,
    /// The column.
    pub column: String,
    /// The question word (stemmed) that matched.
    pub word: String,
}

/// Everything [`lexical_links`] / [`link_schema`] found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchemaLinks {
    /// Tables with a positive score, best first: `(table, score)`.
    pub table_scores: Vec<(String, f32)>,
    /// Columns named by the question.
    pub columns: Vec<ColumnLink>,
    /// Literals of the question found in the data.
    pub values: Vec<ValueLink>,
}

impl SchemaLinks {
    /// The score of `table` (0 when it is not linked).
    pub fn score(&self, table: &str) -> f32 {
        self.table_scores
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(table))
            .map_or(0.0, |(_, score)| *score)
    }

    /// The linked tables, plus the tables on the shortest foreign-key path between any two of
    /// them (bridges such as `order_items` between `orders` and `products`) and the tables a
    /// linked table references directly (lookups). In schema order. Empty when nothing links.
    pub fn relevant_tables(&self, schema: &Schema) -> Vec<String> {
        let linked: Vec<&str> = self
            .table_scores
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        let mut keep: BTreeSet<usize> = BTreeSet::new();
        let index_of = |name: &str| {
            schema
                .tables
                .iter()
                .position(|table| table.name.eq_ignore_ascii_case(name))
        };
        let linked_indices: Vec<usize> = linked.iter().filter_map(|name| index_of(name)).collect();
        keep.extend(linked_indices.iter().copied());
        let graph = ForeignKeyGraph::new(schema);
        for (i, &from) in linked_indices.iter().enumerate() {
            for &to in &linked_indices[i + 1..] {
                if let Some(path) = graph.shortest_path(from, to) {
                    keep.extend(path);
                }
            }
            for key in &schema.tables[from].foreign_keys {
                if let Some(target) = index_of(&key.ref_table) {
                    keep.insert(target);
                }
            }
        }
        keep.into_iter()
            .map(|index| schema.tables[index].name.clone())
            .collect()
    }
}

/// Tables as nodes, foreign keys as undirected edges.
struct ForeignKeyGraph {
    neighbours: Vec<Vec<usize>>,
}

impl ForeignKeyGraph {
    fn new(schema: &Schema) -> ForeignKeyGraph {
        let mut neighbours = vec![Vec::new(); schema.tables.len()];
        for (from, table) in schema.tables.iter().enumerate() {
            for key in &table.foreign_keys {
                if let Some(to) = schema
                    .tables
                    .iter()
                    .position(|t| t.name.eq_ignore_ascii_case(&key.ref_table))
                    && to != from
                {
                    neighbours[from].push(to);
                    neighbours[to].push(from);
                }
            }
        }
        ForeignKeyGraph { neighbours }
    }

    /// The tables of a shortest path from `from` to `to`, both included.
    fn shortest_path(&self, from: usize, to: usize) -> Option<Vec<usize>> {
        let mut previous: HashMap<usize, usize> = HashMap::new();
        let mut queue = VecDeque::from([from]);
        let mut seen = HashSet::from([from]);
        while let Some(node) = queue.pop_front() {
            if node == to {
                let mut path = vec![to];
                let mut current = to;
                while let Some(&before) = previous.get(&current) {
                    path.push(before);
                    current = before;
                }
                path.reverse();
                return Some(path);
            }
            for &next in &self.neighbours[node] {
                if seen.insert(next) {
                    previous.insert(next, node);
                    queue.push_back(next);
                }
            }
        }
        None
    }
}

/// The words of an identifier: `order_items` → [order, items]; `StuID` → [stu, id];
/// `firstName` → [first, name]. Lower-cased, not stemmed.
pub fn identifier_words(identifier: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = identifier.chars().collect();
    for (index, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        let previous = index.checked_sub(1).map(|i| chars[i]);
        let next = chars.get(index + 1).copied();
        // A new word starts at a lower→upper change, or at the last upper of an acronym
        // followed by a lower ("HTTPServer" → http, server).
        let boundary = c.is_uppercase()
            && previous.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
            });
        if boundary && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// A light English stem, enough to match "orders" with `order` and "categories" with
/// `category`: plural endings only.
pub fn stem(word: &str) -> String {
    let word = word.to_lowercase();
    if word.len() > 4 && word.ends_with("ies") {
        return format!("{}y", &word[..word.len() - 3]);
    }
    for ending in ["sses", "shes", "ches", "xes"] {
        if word.len() > ending.len() + 1 && word.ends_with(ending) {
            return word[..word.len() - 2].to_string();
        }
    }
    if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") && !word.ends_with("us") {
        return word[..word.len() - 1].to_string();
    }
    word
}

/// The words of a question, lower-cased, in order (letters and digits; `e-mail` → e, mail).
pub fn question_words(question: &str) -> Vec<String> {
    question
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Words too common to link anything by themselves.
pub(crate) fn is_stop_word(word: &str) -> bool {
    const STOP: &[&str] = &[
        "a", "an", "the", "of", "in", "on", "at", "to", "for", "by", "with", "from", "and", "or",
        "not", "no", "is", "are", "was", "were", "be", "been", "do", "does", "did", "have", "has",
        "had", "what", "which", "who", "whom", "whose", "how", "many", "much", "when", "where",
        "why", "that", "this", "these", "those", "there", "their", "they", "them", "it", "its",
        "each", "every", "all", "any", "some", "list", "show", "give", "find", "me", "us", "we",
        "our", "you", "your", "i", "my", "as", "than", "then", "more", "most", "less", "least",
        "one", "ones", "only", "also", "per", "into", "over", "under", "between", "about", "if",
        "so", "such", "same", "other", "s", "t", "can", "could", "would", "should", "will",
        "please", "tell", "return", "display", "get", "number", "count", "total", "average",
    ];
    STOP.contains(&word)
}

/// Lexical schema linking: scores every table by its name's words, its columns' names and its
/// sample values found in `question` (and `evidence`). Pure; no database access.
pub fn lexical_links(question: &str, evidence: Option<&str>, schema: &Schema) -> SchemaLinks {
    let text = match evidence {
        Some(evidence) => format!("{question} {evidence}"),
        None => question.to_string(),
    };
    let words: Vec<String> = question_words(&text);
    let stems: HashSet<String> = words
        .iter()
        .filter(|word| !is_stop_word(word))
        .map(|word| stem(word))
        .collect();
    let lower_text = format!(" {} ", words.join(" "));

    // Column-name words shared by many tables ("id", "name") say little about which table.
    let mut word_tables: HashMap<String, usize> = HashMap::new();
    for table in &schema.tables {
        let mut seen = HashSet::new();
        for column in &table.columns {
            for word in identifier_words(&column.name) {
                let stemmed = stem(&word);
                if seen.insert(stemmed.clone()) {
                    *word_tables.entry(stemmed).or_default() += 1;
                }
            }
        }
    }

    let mut links = SchemaLinks::default();
    for table in &schema.tables {
        let mut score = 0.0f32;
        let name_words: Vec<String> = identifier_words(&table.name)
            .iter()
            .map(|w| stem(w))
            .collect();
        let matched = name_words.iter().filter(|w| stems.contains(*w)).count();
        if matched > 0 {
            score += 3.0 * matched as f32 / name_words.len() as f32;
        }
        for column in &table.columns {
            let column_words: Vec<String> = identifier_words(&column.name)
                .iter()
                .map(|w| stem(w))
                .filter(|w| !is_stop_word(w))
                .collect();
            for word in &column_words {
                if stems.contains(word) && word.len() > 2 && word != "id" {
                    let spread = word_tables.get(word).copied().unwrap_or(1).max(1) as f32;
                    score += 1.0 / spread;
                    links.columns.push(ColumnLink {
                        table: table.name.clone(),
                        column: column.name.clone(),
                        word: word.clone(),
                    });
                }
            }
            for sample in &column.samples {
                if let Value::Text(sample) = sample
                    && sample_in_text(sample, &lower_text)
                {
                    score += 2.0;
                    links.values.push(ValueLink {
                        mention: sample.clone(),
                        table: table.name.clone(),
                        column: column.name.clone(),
                        matched: ValueMatch::IgnoringCase,
                        examples: vec![sample.clone()],
                    });
                }
            }
        }
        if score > 0.0 {
            links.table_scores.push((table.name.clone(), score));
        }
    }
    sort_scores(&mut links.table_scores);
    links
}

/// True when the words of `sample` appear, in order and contiguous, in `padded_words` (the
/// question's words joined by spaces with a space at both ends). Very short or numeric samples
/// are ignored: they match by accident.
fn sample_in_text(sample: &str, padded_words: &str) -> bool {
    let words = question_words(sample);
    if words.is_empty() || words.iter().all(|w| w.chars().all(|c| c.is_ascii_digit())) {
        return false;
    }
    let joined = words.join(" ");
    if joined.len() < 3 || (words.len() == 1 && is_stop_word(&joined)) {
        return false;
    }
    padded_words.contains(&format!(" {joined} "))
}

fn sort_scores(scores: &mut [(String, f32)]) {
    scores.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
}

/// The literals of a question worth looking up in the data: quoted text, and runs of
/// capitalised words that are not the sentence's first word (or are, when not a question
/// word). At most `limit`, in order of appearance.
pub fn question_literals(question: &str, limit: usize) -> Vec<String> {
    let mut literals: Vec<String> = Vec::new();
    let push = |literal: &str, literals: &mut Vec<String>| {
        let literal = literal.trim_matches(|c: char| !c.is_alphanumeric());
        if !literal.is_empty() && !literals.iter().any(|l| l.eq_ignore_ascii_case(literal)) {
            literals.push(literal.to_string());
        }
    };
    // Quoted text first: the user marked it as a value.
    for quote in ['\'', '"', '“'] {
        let closing = if quote == '“' { '”' } else { quote };
        let mut rest = question;
        while let Some(open) = rest.find(quote) {
            let after = &rest[open + quote.len_utf8()..];
            let Some(close) = after.find(closing) else {
                break;
            };
            // An apostrophe inside a word ("customer's") is not a quote.
            let before_is_letter = rest[..open]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric);
            if !(quote == '\'' && before_is_letter) {
                push(&after[..close], &mut literals);
            }
            rest = &after[close + closing.len_utf8()..];
        }
    }
    let tokens: Vec<&str> = question.split_whitespace().collect();
    let mut run: Vec<&str> = Vec::new();
    let mut sentence_start = true;
    for token in tokens {
        let word = token.trim_matches(|c: char| !c.is_alphanumeric());
        let capitalised = word.chars().next().is_some_and(char::is_uppercase);
        let question_word = is_stop_word(&word.to_lowercase());
        if capitalised && !(sentence_start && question_word) && !word.is_empty() {
            run.push(word);
        } else if !run.is_empty() {
            push(&run.join(" "), &mut literals);
            run.clear();
        }
        sentence_start = token.ends_with(['.', '?', '!']);
        if token.ends_with([',', '.', '?', '!', ';', ':']) && !run.is_empty() {
            push(&run.join(" "), &mut literals);
            run.clear();
        }
    }
    if !run.is_empty() {
        push(&run.join(" "), &mut literals);
    }
    literals.truncate(limit);
    literals
}

/// [`lexical_links`] plus the `search_values` hits of the question's literals (at most
/// `max_literals`), when `tools` holds a `search_values` tool. A failing search is logged and
/// skipped: linking only helps the prompt.
pub async fn link_schema(
    question: &str,
    evidence: Option<&str>,
    schema: &Schema,
    tools: &[Arc<dyn Tool>],
    max_literals: usize,
) -> SchemaLinks {
    let mut links = lexical_links(question, evidence, schema);
    let Some(search) = find_tool(tools, "search_values") else {
        return links;
    };
    for literal in question_literals(question, max_literals) {
        let hits = match search
            .call(serde_json::json!({"value": literal, "limit": 8}))
            .await
        {
            Ok(hits) => hits,
            Err(error) => {
                tracing::debug!(%literal, %error, "search_values failed during linking");
                continue;
            }
        };
        for hit in value_links_from_search(&literal, &hits) {
            let bonus = match hit.matched {
                ValueMatch::Exact | ValueMatch::IgnoringCase => 3.0,
                ValueMatch::Contains => 1.0,
            };
            add_score(&mut links.table_scores, &hit.table, bonus);
            if !links
                .values
                .iter()
                .any(|v| v.table == hit.table && v.column == hit.column && v.mention == hit.mention)
            {
                links.values.push(hit);
            }
        }
    }
    sort_scores(&mut links.table_scores);
    links
}

fn add_score(scores: &mut Vec<(String, f32)>, table: &str, bonus: f32) {
    match scores.iter_mut().find(|(name, _)| name == table) {
        Some((_, score)) => *score += bonus,
        None => scores.push((table.to_string(), bonus)),
    }
}

/// The matches of a `search_values` answer as [`ValueLink`]s.
pub fn value_links_from_search(mention: &str, hits: &serde_json::Value) -> Vec<ValueLink> {
    let Some(matches) = hits.get("matches").and_then(|m| m.as_array()) else {
        return Vec::new();
    };
    matches
        .iter()
        .filter_map(|hit| {
            let table = hit.get("table")?.as_str()?.to_string();
            let column = hit.get("column")?.as_str()?.to_string();
            let matched = match hit.get("match")?.as_str()? {
                "exact" => ValueMatch::Exact,
                "case_insensitive" => ValueMatch::IgnoringCase,
                _ => ValueMatch::Contains,
            };
            let examples = hit
                .get("examples")
                .and_then(|e| e.as_array())
                .map(|values| {
                    values
                        .iter()
                        .map(|v| match v {
                            serde_json::Value::String(text) => text.clone(),
                            other => other.to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(ValueLink {
                mention: mention.to_string(),
                table,
                column,
                matched,
                examples,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use learnat_tools::schema::{Column, ForeignKey, Table};

    fn column(name: &str, samples: &[&str]) -> Column {
        Column {
            name: name.into(),
            data_type: "TEXT".into(),
            not_null: false,
            samples: samples.iter().map(|s| Value::Text(s.to_string())).collect(),
        }
    }

    fn table(name: &str, columns: Vec<Column>, keys: &[(&str, &str)]) -> Table {
        Table {
            name: name.into(),
            columns,
            primary_key: vec![],
            foreign_keys: keys
                .iter()
                .map(|(column, target)| ForeignKey {
                    columns: vec![column.to_string()],
                    ref_table: target.to_string(),
                    ref_columns: vec![],
                })
                .collect(),
            row_count: None,
        }
    }

    fn shop() -> Schema {
        Schema {
            tables: vec![
                table(
                    "countries",
                    vec![column("name", &["France", "Canada"])],
                    &[],
                ),
                table(
                    "cities",
                    vec![
                        column("name", &["Paris", "Lyon"]),
                        column("country_id", &[]),
                    ],
                    &[("country_id", "countries")],
                ),
                table(
                    "customers",
                    vec![column("first_name", &[]), column("city_id", &[])],
                    &[("city_id", "cities")],
                ),
                table(
                    "orders",
                    vec![column("order_date", &[]), column("customer_id", &[])],
                    &[("customer_id", "customers")],
                ),
                table("products", vec![column("unit_price", &[])], &[]),
                table(
                    "order_items",
                    vec![column("order_id", &[]), column("product_id", &[])],
                    &[("order_id", "orders"), ("product_id", "products")],
                ),
                table("suppliers", vec![column("contact_email", &[])], &[]),
            ],
            ..Schema::default()
        }
    }

    #[test]
    fn identifiers_split_into_words() {
        assert_eq!(identifier_words("order_items"), ["order", "items"]);
        assert_eq!(identifier_words("StuID"), ["stu", "id"]);
        assert_eq!(identifier_words("firstName"), ["first", "name"]);
        assert_eq!(identifier_words("HTTPServer2"), ["http", "server2"]);
        assert_eq!(stem("categories"), "category");
        assert_eq!(stem("orders"), "order");
        assert_eq!(stem("addresses"), "address");
        assert_eq!(stem("status"), "status");
    }

    #[test]
    fn tables_link_by_name_column_and_sample() {
        let links = lexical_links(
            "How many customers from Paris ordered products?",
            None,
            &shop(),
        );
        let linked: Vec<&str> = links.table_scores.iter().map(|(t, _)| t.as_str()).collect();
        assert!(linked.contains(&"customers"), "{linked:?}");
        assert!(linked.contains(&"products"), "{linked:?}");
        assert!(
            linked.contains(&"cities"),
            "Paris is a sample of cities.name: {linked:?}"
        );
        assert!(!linked.contains(&"suppliers"), "{linked:?}");
        assert_eq!(links.values[0].table, "cities");
    }

    #[test]
    fn relevant_tables_add_bridges_and_lookups() {
        let links = lexical_links("Which customers bought products?", None, &shop());
        let relevant = links.relevant_tables(&shop());
        // customers → orders → order_items → products, and cities as customers' lookup.
        for expected in ["customers", "orders", "order_items", "products", "cities"] {
            assert!(
                relevant.iter().any(|t| t == expected),
                "{expected}: {relevant:?}"
            );
        }
        assert!(!relevant.iter().any(|t| t == "suppliers"), "{relevant:?}");
    }

    #[test]
    fn literals_are_quoted_text_and_capitalised_runs() {
        assert_eq!(
            question_literals("How many customers live in New York or 'san jose'?", 5),
            ["san jose", "New York"]
        );
        assert_eq!(
            question_literals("Which singers are from France? List their names.", 5),
            ["France"]
        );
        assert_eq!(
            question_literals("What is the customer's name?", 5),
            Vec::<String>::new()
        );
        assert_eq!(question_literals("Portland orders", 5), ["Portland"]);
    }

    #[test]
    fn search_answers_become_value_links() {
        let hits = serde_json::json!({"matches": [
            {"table": "cities", "column": "name", "match": "exact", "examples": ["London"]},
            {"table": "streets", "column": "name", "match": "contains", "examples": ["London Road"]}
        ]});
        let links = value_links_from_search("London", &hits);
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].matched, ValueMatch::Exact);
        assert_eq!(links[1].examples, ["London Road"]);
        assert!(value_links_from_search("x", &serde_json::json!({})).is_empty());
    }
}
