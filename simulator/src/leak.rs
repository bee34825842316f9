//! The simulator's promise, checked: a reply never shows gold SQL beyond the one snippet it
//! is allowed to reveal.
//!
//! The gold SQL (`sol_sql`, and the follow-up's) is cut into lexical tokens (identifiers,
//! numbers, quoted strings, operators); every run of [`LEAK_NGRAM`] consecutive tokens is a
//! fragment. A reply leaks when it contains a fragment that is not inside the snippet it may
//! reveal. Lexical tokens rather than an AST because replies are prose with SQL pieces in
//! them, not SQL.

use std::collections::HashSet;

use crate::task::InteractiveTask;

/// Tokens per fragment: three catches `age > 30` or `ORDER BY name` without flagging a
/// single shared word.
pub const LEAK_NGRAM: usize = 3;

/// Lowercase SQL-ish tokens: words (letters, digits, `_`, `.`), quoted strings as one token,
/// and each operator or punctuation character.
pub fn sql_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() || c == '`' {
            chars.next();
        } else if c.is_alphanumeric() || c == '_' {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_alphanumeric() || c == '_' || c == '.' {
                    word.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            tokens.push(word.trim_end_matches('.').to_lowercase());
        } else if c == '\'' || c == '"' {
            let quote = c;
            chars.next();
            let mut literal = String::from(quote);
            for c in chars.by_ref() {
                literal.push(c);
                if c == quote {
                    break;
                }
            }
            tokens.push(literal.to_lowercase());
        } else {
            tokens.push(c.to_string());
            chars.next();
        }
    }
    tokens
}

fn ngrams(tokens: &[String]) -> HashSet<Vec<String>> {
    tokens.windows(LEAK_NGRAM).map(<[String]>::to_vec).collect()
}

/// The gold fragments in `reply` that none of `allowed` (the snippets it may reveal) covers.
/// Empty when the reply is clean.
pub fn leaked_fragments(reply: &str, task: &InteractiveTask, allowed: &[&str]) -> Vec<String> {
    let mut gold = ngrams(&sql_tokens(&task.sol_sql));
    if let Some(follow_up) = &task.follow_up {
        gold.extend(ngrams(&sql_tokens(&follow_up.sol_sql)));
    }
    // The allowed snippets are cut out first (a separator stands in for each), so a fragment
    // that straddles a snippet and the words around it counts only for what lies outside.
    let mut rest = reply.to_string();
    for snippet in allowed.iter().filter(|s| !s.is_empty()) {
        rest = rest.replace(snippet, " \u{1} ");
    }
    let mut leaks: Vec<String> = ngrams(&sql_tokens(&rest))
        .into_iter()
        .filter(|fragment| gold.contains(fragment))
        .map(|fragment| fragment.join(" "))
        .collect();
    leaks.sort();
    leaks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> InteractiveTask {
        serde_json::from_value(serde_json::json!({
            "instance_id": "t", "db_id": "d", "amb_user_query": "Show old singers.",
            "user_query_ambiguity": {"critical_ambiguity": [
                {"term": "old", "sql_snippet": "age > 30", "is_mask": false,
                 "type": "threshold_ambiguity"}]},
            "clear_question": "Show singers older than 30.",
            "sol_sql": "SELECT name FROM singer WHERE age > 30 ORDER BY name"
        }))
        .unwrap()
    }

    #[test]
    fn tokens_keep_literals_and_operators() {
        assert_eq!(
            sql_tokens("WHERE T1.name = 'New York'"),
            ["where", "t1.name", "=", "'new york'"]
        );
    }

    #[test]
    fn the_allowed_snippet_is_not_a_leak() {
        assert!(leaked_fragments("By 'old' I mean `age > 30`.", &task(), &["age > 30"]).is_empty());
    }

    #[test]
    fn other_gold_fragments_are_leaks() {
        let leaks = leaked_fragments("I mean age > 30, and sort with ORDER BY name", &task(), &[]);
        assert!(leaks.contains(&"age > 30".to_string()), "{leaks:?}");
        assert!(leaks.contains(&"order by name".to_string()), "{leaks:?}");
    }
}
