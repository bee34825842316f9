//! SQL skeletons (literals and identifiers masked) and their similarity, for demonstration
//! retrieval: two questions whose queries have the same shape get the same skeleton whatever
//! their tables, columns and constants.

use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, Ident, ObjectName, Query, Select, SelectItem, SelectItemQualifiedWildcardKind,
    TableFactor, Value, ValueWithSpan, VisitMut, VisitorMut,
};

use super::normalize::normalize_statements;
use super::parse;
use crate::database::Dialect;
use crate::error::ToolsResult;

/// The mask written for an identifier (table, column, alias).
const IDENTIFIER_MASK: &str = "_";
/// The mask written for a literal.
const LITERAL_MASK: &str = "?";

/// The skeleton of `sql`: the normal form of [`super::normalize`] with every table and column
/// name written `_` (qualified columns too), every literal written `?` and aliases left out (CTE
/// names are `_`). Keywords, operators and function names stay. Several statements are joined
/// with `"; "`. Skeletons are for comparing shapes; they are not meant to run.
///
/// ```
/// use learnat_tools::Dialect;
/// use learnat_tools::sql::skeleton;
/// let sql = "select T1.name from singer as T1 where T1.age = 30 order by T1.name desc limit 3";
/// assert_eq!(
///     skeleton(sql, Dialect::Sqlite).unwrap(),
///     "SELECT _ FROM _ WHERE _ = ? ORDER BY _ DESC LIMIT ?"
/// );
/// ```
pub fn skeleton(sql: &str, dialect: Dialect) -> ToolsResult<String> {
    let mut statements = parse(sql, dialect)?;
    normalize_statements(&mut statements, dialect);
    let texts: Vec<String> = statements
        .iter_mut()
        .map(|statement| {
            let _ = statement.visit(&mut Masker);
            statement.to_string()
        })
        .collect();
    Ok(texts.join("; "))
}

/// Similarity of two skeleton strings in [0, 1]: `1 − levenshtein(tokens_a, tokens_b) /
/// max(len_a, len_b)` over their tokens, where a token is a run of letters, digits and `_`, or
/// any other single non-space character (`count(_)` is `count`, `(`, `_`, `)`). Two empty
/// skeletons are 1.0. Symmetric; 1.0 exactly for equal token sequences.
///
/// ```
/// use learnat_tools::sql::skeleton_similarity;
/// let a = "SELECT _ FROM _ WHERE _ = ?";
/// assert_eq!(skeleton_similarity(a, a), 1.0);
/// // One token of 8 differs.
/// assert_eq!(skeleton_similarity(a, "SELECT _ FROM _ WHERE _ > ?"), 1.0 - 1.0 / 8.0);
/// ```
pub fn skeleton_similarity(a: &str, b: &str) -> f64 {
    let a = skeleton_tokens(a);
    let b = skeleton_tokens(b);
    let longer = a.len().max(b.len());
    if longer == 0 {
        return 1.0;
    }
    1.0 - levenshtein(&a, &b) as f64 / longer as f64
}

fn skeleton_tokens(text: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    let mut word_start: Option<usize> = None;
    for (index, c) in text.char_indices() {
        let is_word = c.is_alphanumeric() || c == '_';
        match (is_word, word_start) {
            (true, None) => word_start = Some(index),
            (true, Some(_)) => {}
            (false, start) => {
                if let Some(start) = start {
                    tokens.push(&text[start..index]);
                    word_start = None;
                }
                if !c.is_whitespace() {
                    tokens.push(&text[index..index + c.len_utf8()]);
                }
            }
        }
    }
    if let Some(start) = word_start {
        tokens.push(&text[start..]);
    }
    tokens
}

/// Edit distance between token sequences (insert, delete, substitute: 1 each), two rows.
fn levenshtein(a: &[&str], b: &[&str]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, token_a) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, token_b) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(token_a != token_b);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

/// Masks names and literals in place.
struct Masker;

impl VisitorMut for Masker {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
            *expr = Expr::Identifier(Ident::new(IDENTIFIER_MASK));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_value(&mut self, value: &mut ValueWithSpan) -> ControlFlow<()> {
        value.value = Value::Placeholder(LITERAL_MASK.to_string());
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &mut ObjectName) -> ControlFlow<()> {
        *relation = ObjectName::from(vec![Ident::new(IDENTIFIER_MASK)]);
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Table { alias, .. }
            | TableFactor::Derived { alias, .. }
            | TableFactor::NestedJoin { alias, .. } => *alias = None,
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        for item in &mut select.projection {
            match item {
                SelectItem::ExprWithAlias { expr, .. } => {
                    let expr = std::mem::replace(expr, Expr::value(Value::Null));
                    *item = SelectItem::UnnamedExpr(expr);
                }
                SelectItem::QualifiedWildcard(
                    SelectItemQualifiedWildcardKind::ObjectName(name),
                    _,
                ) => *name = ObjectName::from(vec![Ident::new(IDENTIFIER_MASK)]),
                _ => {}
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let Some(with) = &mut query.with {
            for cte in &mut with.cte_tables {
                cte.alias.name = Ident::new(IDENTIFIER_MASK);
                cte.alias.columns.clear();
            }
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skel(sql: &str) -> String {
        skeleton(sql, Dialect::Sqlite).unwrap()
    }

    #[test]
    fn names_and_literals_are_masked() {
        assert_eq!(
            skel("SELECT count(*) FROM singer WHERE country = \"France\" AND age > 30"),
            "SELECT count(*) FROM _ WHERE _ = ? AND _ > ?"
        );
        assert_eq!(
            skel(
                "SELECT T1.name, avg(T2.x) AS a FROM s AS T1 JOIN c AS T2 ON T1.id = T2.sid \
                 GROUP BY T1.name HAVING count(*) > 1"
            ),
            "SELECT _, avg(_) FROM _ JOIN _ ON _ = _ GROUP BY _ HAVING count(*) > ?"
        );
        assert_eq!(
            skel("SELECT x FROM (SELECT a AS x FROM t) AS sub WHERE x IN (SELECT b FROM u)"),
            "SELECT _ FROM (SELECT _ FROM _) WHERE _ IN (SELECT _ FROM _)"
        );
    }

    #[test]
    fn same_shape_same_skeleton() {
        assert_eq!(
            skel("SELECT name FROM singer WHERE age > 30"),
            skel("select title from Song where Year > 1990")
        );
        assert_ne!(
            skel("SELECT name FROM singer WHERE age > 30"),
            skel("SELECT name FROM singer WHERE age > 30 ORDER BY name")
        );
    }

    #[test]
    fn similarity_bounds_symmetry_and_monotonicity() {
        let base = skel("SELECT name FROM singer WHERE age > 30");
        let near = skel("SELECT name FROM singer WHERE age > 30 ORDER BY name");
        let far = skel(
            "SELECT count(*), a FROM t JOIN u ON t.k = u.k GROUP BY a HAVING count(*) > 2 \
             ORDER BY count(*) DESC LIMIT 1",
        );
        assert_eq!(skeleton_similarity(&base, &base), 1.0);
        assert_eq!(skeleton_similarity("", ""), 1.0);
        assert_eq!(skeleton_similarity(&base, ""), 0.0);
        let base_near = skeleton_similarity(&base, &near);
        let base_far = skeleton_similarity(&base, &far);
        assert_eq!(base_near, skeleton_similarity(&near, &base));
        assert!(0.0 < base_far && base_far < base_near && base_near < 1.0);
    }

    #[test]
    fn tokens_split_words_and_punctuation() {
        assert_eq!(
            skeleton_tokens("count(_) >= ?"),
            ["count", "(", "_", ")", ">", "=", "?"]
        );
        assert_eq!(levenshtein(&["a", "b", "c"], &["a", "c"]), 1);
        assert_eq!(levenshtein(&[], &["a"]), 1);
    }
}
