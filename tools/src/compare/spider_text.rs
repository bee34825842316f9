//! The text pre-processing the official Spider test-suite scorer applies before it executes a
//! prediction and its gold query (`evaluation.py` + `exec_eval.eval_exec_match` of
//! taoyds/test-suite-sql-eval, default flags).
//!
//! Most of these rules are textual by definition (the official code calls `str.replace` and
//! `re.sub`), so they are reproduced on the text. The one rule defined on tokens, DISTINCT
//! removal, runs on sqlparser's tokenizer, and everything it does not delete is kept byte for
//! byte.

use sqlparser::dialect::SQLiteDialect;
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer, Whitespace};

use super::python::{is_python_space, python_strip};

/// The two texts the Spider test-suite scorer executes for one question, and its ORDER BY rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpiderPrepared {
    /// The prediction as the scorer executes it.
    pub prediction: String,
    /// The gold query as the scorer executes it.
    pub gold: String,
    /// True when row order counts: the processed gold contains `order by` anywhere
    /// (case-insensitive), including inside a subquery.
    pub order_matters: bool,
}

/// Spider test-suite pre-processing of one (prediction, gold) pair, in the official order:
///
/// 1. prediction: surrounding whitespace stripped (Python `str.strip`), cut at the first TAB,
///    every lowercase `value` replaced by `1` (anywhere, also inside identifiers and strings);
///    gold: stripped;
/// 2. both: `> =`, `< =`, `! =` joined into `>=`, `<=`, `!=`;
/// 3. both: every `DISTINCT` token deleted (`COUNT(DISTINCT x)` becomes `COUNT( x)`), and
///    anything after the first statement dropped, as `sqlparse.parse(s)[0]` does;
/// 4. `order_matters` from the lowercased gold containing `order by`;
/// 5. both: `YEAR(CURDATE())` (any case and spacing) replaced by `2020`, as the scorer does
///    just before executing.
///
/// ```
/// use learnat_tools::compare::spider_preprocess;
/// let prepared = spider_preprocess(
///     "  SELECT count(DISTINCT name) FROM t WHERE a > = 'value'\tignored",
///     "SELECT name FROM t ORDER BY name",
/// );
/// assert_eq!(prepared.prediction, "SELECT count( name) FROM t WHERE a >= '1'");
/// assert!(prepared.order_matters);
/// ```
pub fn spider_preprocess(prediction: &str, gold: &str) -> SpiderPrepared {
    let prediction = python_strip(prediction);
    // `str.split('\t')[0]`: the scorer reads "prediction<TAB>anything" lines.
    let prediction = prediction.split('\t').next().unwrap_or_default();
    let prediction = join_spaced_comparisons(&prediction.replace("value", "1"));
    let gold = join_spaced_comparisons(python_strip(gold));

    let prediction = remove_distinct(&prediction);
    let gold = remove_distinct(&gold);
    let order_matters = contains_ascii_case_insensitive(&gold, "order by");

    SpiderPrepared {
        prediction: replace_current_year(&prediction),
        gold: replace_current_year(&gold),
        order_matters,
    }
}

/// `exec_eval.postprocess`: the spaced comparison operators some models emit.
fn join_spaced_comparisons(sql: &str) -> String {
    sql.replace("> =", ">=")
        .replace("< =", "<=")
        .replace("! =", "!=")
}

/// Whether `haystack.lower()` contains `needle` (ASCII). Exact for needles made of ASCII
/// letters other than `i`, `k` and `s` and of spaces: no other character lowercases into those.
fn contains_ascii_case_insensitive(haystack: &str, needle: &str) -> bool {
    let needle = needle.as_bytes();
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
}

/// `parse.remove_distinct`: the text of the first statement with every token spelled
/// `distinct` (any case, unquoted) deleted.
///
/// sqlparse tokenizes the whole text and `parse(s)[0]` keeps the first statement: everything up
/// to the first `;` at parenthesis level 0 (where `END` also lowers the level) or the first
/// upper-case keyword `GO`, plus the spaces, tabs and `--` comments right after it. Where sqlparse's tokens and sqlparser's differ in a way
/// that matters, this follows sqlparse: a character neither can tokenize is kept as it is and
/// tokenizing resumes after it (sqlparse emits a one-character error token), and a `distinct`
/// glued to word characters (`1distinct`, `$distinct`, `distinct$x`) is part of a larger
/// sqlparse token, so it stays.
pub(crate) fn remove_distinct(sql: &str) -> String {
    // A text full of unterminated quotes would otherwise be re-tokenized once per quote.
    const MAX_TOKENIZER_RESTARTS: usize = 64;
    // Without the letters of `distinct`, `;` and `GO` no token can be deleted and no
    // statement cut, so most texts need no tokenizing at all.
    if !sql.contains(';')
        && !sql.contains("GO")
        && find_ascii_case_insensitive(sql, "distinct").is_none()
    {
        return sql.to_owned();
    }
    let dialect = SQLiteDialect {};
    let mut removal = DistinctRemoval {
        sql,
        kept: String::with_capacity(sql.len()),
        copied_until: 0,
        level: 0,
        first_statement_ended: false,
    };
    let mut segment_start = 0;
    for _ in 0..MAX_TOKENIZER_RESTARTS {
        let segment = &sql[segment_start..];
        let mut tokens: Vec<TokenWithSpan> = Vec::new();
        // On error the buffer holds every token before the one that failed.
        let outcome = Tokenizer::new(&dialect, segment)
            .with_unescape(false)
            .tokenize_with_location_into_buf(&mut tokens);
        let mut offsets = ByteOffsets::new(segment);
        let mut tokenized_until = segment_start;
        for (index, token) in tokens.iter().enumerate() {
            let start = segment_start + offsets.byte_offset(token.span.start);
            let end = segment_start + offsets.byte_offset(token.span.end);
            tokenized_until = end;
            if removal.visit(&tokens, index, start, end) == Visit::SecondStatementStarts {
                return removal.finish(start);
            }
        }
        if outcome.is_ok() {
            return removal.finish(sql.len());
        }
        // Tokens are contiguous, so the failing token starts where the last good one ended.
        let Some(failed) = sql[tokenized_until..].chars().next() else {
            return removal.finish(sql.len());
        };
        if removal.first_statement_ended {
            // The failing character is not whitespace: sqlparse starts a second statement there.
            return removal.finish(tokenized_until);
        }
        segment_start = tokenized_until + failed.len_utf8();
    }
    removal.finish(sql.len())
}

/// What one token means for the first statement.
#[derive(Debug, PartialEq, Eq)]
enum Visit {
    Continue,
    SecondStatementStarts,
}

/// State of [`remove_distinct`] across tokenizer restarts.
struct DistinctRemoval<'a> {
    sql: &'a str,
    kept: String,
    /// `sql[..copied_until]` has been copied into `kept`, minus the deleted tokens.
    copied_until: usize,
    /// sqlparse's statement-splitting level: parentheses and `END`.
    level: i64,
    first_statement_ended: bool,
}

impl DistinctRemoval<'_> {
    /// Handles `tokens[index]`, which spans `sql[start..end]`.
    fn visit(&mut self, tokens: &[TokenWithSpan], index: usize, start: usize, end: usize) -> Visit {
        let token = &tokens[index].token;
        if self.first_statement_ended {
            // sqlparse's `--` comment token includes its line break; sqlparser's does not.
            let ends_line_comment = index > 0
                && matches!(token, Token::Whitespace(Whitespace::Newline))
                && matches!(
                    tokens[index - 1].token,
                    Token::Whitespace(Whitespace::SingleLineComment { .. })
                );
            return if is_statement_trailer(token) || ends_line_comment {
                Visit::Continue
            } else {
                Visit::SecondStatementStarts
            };
        }
        match token {
            Token::Word(word) if word.quote_style.is_none() => {
                if word.value.eq_ignore_ascii_case("distinct") && self.stands_alone(start, end) {
                    self.kept.push_str(&self.sql[self.copied_until..start]);
                    self.copied_until = end;
                } else if word.keyword == Keyword::END && !is_name_position(tokens, index) {
                    self.level -= 1;
                } else if &self.sql[start..end] == "GO" && !is_name_position(tokens, index) {
                    // sqlparse ends a statement after the batch separator `GO` (upper case
                    // only, at any level), as it does after `;`.
                    self.first_statement_ended = true;
                }
            }
            Token::LParen => self.level += 1,
            Token::RParen => self.level -= 1,
            Token::SemiColon if self.level <= 0 => self.first_statement_ended = true,
            _ => {}
        }
        Visit::Continue
    }

    /// Whether the word at `sql[start..end]` is a whole sqlparse token: sqlparse's words are
    /// runs of `\w`, `$` and `#`, and `$`, `#`, `@`, `:` or a backslash right before a word make it
    /// a placeholder, variable or command.
    fn stands_alone(&self, start: usize, end: usize) -> bool {
        let is_word_char = |c: char| c.is_alphanumeric() || c == '_';
        let mut preceding = self.sql[..start].chars().rev();
        let before = preceding.next();
        let after = self.sql[end..].chars().next();
        let glued_before = before.is_some_and(|c| match c {
            '$' | '#' | '@' | '\\' => true,
            // `:name` is a placeholder unless the colon belongs to `::` or follows a word.
            ':' => preceding
                .next()
                .is_none_or(|c| !(is_word_char(c) || c == ':')),
            c => is_word_char(c),
        });
        let glued_after = after.is_some_and(|c| is_word_char(c) || matches!(c, '$' | '#'));
        !glued_before && !glued_after
    }

    /// The kept text: everything not deleted, up to `cut` (the end of the first statement).
    fn finish(mut self, cut: usize) -> String {
        if self.copied_until < cut {
            self.kept.push_str(&self.sql[self.copied_until..cut]);
        }
        self.kept
    }
}

/// Tokens sqlparse keeps in a statement after its `;`: spaces, tabs and single-line comments.
/// A newline is a token type of its own there and starts the next statement.
fn is_statement_trailer(token: &Token) -> bool {
    matches!(
        token,
        Token::Whitespace(
            Whitespace::Space | Whitespace::Tab | Whitespace::SingleLineComment { .. }
        )
    )
}

/// sqlparse reads a keyword as a name (which neither changes the statement level nor ends a
/// statement) when `.` precedes it directly, `(` follows it directly, or `.` follows it after
/// optional whitespace.
fn is_name_position(tokens: &[TokenWithSpan], index: usize) -> bool {
    let after_period = index > 0 && tokens[index - 1].token == Token::Period;
    if after_period {
        return true;
    }
    match tokens.get(index + 1).map(|t| &t.token) {
        Some(Token::LParen) | Some(Token::Period) => true,
        Some(Token::Whitespace(_)) => tokens[index + 1..]
            .iter()
            .find(|t| !matches!(t.token, Token::Whitespace(_)))
            .is_some_and(|t| t.token == Token::Period),
        _ => false,
    }
}

/// Turns the tokenizer's (line, column) locations into byte offsets, walking the text once:
/// tokens arrive in order, so each lookup resumes where the previous one stopped.
struct ByteOffsets<'a> {
    text: &'a str,
    line: u64,
    column: u64,
    byte: usize,
}

impl<'a> ByteOffsets<'a> {
    fn new(text: &'a str) -> Self {
        ByteOffsets {
            text,
            line: 1,
            column: 1,
            byte: 0,
        }
    }

    /// The byte offset of `location` (1-based line and column in characters, columns reset
    /// after each `\n`, as sqlparser counts them).
    fn byte_offset(&mut self, location: Location) -> usize {
        let target = (location.line, location.column);
        if target < (self.line, self.column) {
            // Out of order (never for one token stream): restart from the beginning.
            *self = ByteOffsets::new(self.text);
        }
        while (self.line, self.column) < target {
            let Some(c) = self.text[self.byte..].chars().next() else {
                break;
            };
            self.byte += c.len_utf8();
            if c == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
        }
        self.byte
    }
}

/// `exec_eval.replace_cur_year`: `re.sub(r"YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*", "2020",
/// query, flags=re.IGNORECASE)`, matched by hand (the crate has no regex engine).
fn replace_current_year(sql: &str) -> String {
    let mut replaced = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(position) = find_ascii_case_insensitive(rest, "year") {
        match match_current_year_call(&rest[position..]) {
            Some(length) => {
                replaced.push_str(&rest[..position]);
                replaced.push_str("2020");
                rest = &rest[position + length..];
            }
            None => {
                replaced.push_str(&rest[..position + 1]);
                rest = &rest[position + 1..];
            }
        }
    }
    replaced.push_str(rest);
    replaced
}

/// Byte position of the first ASCII-case-insensitive occurrence of `needle`.
fn find_ascii_case_insensitive(haystack: &str, needle: &str) -> Option<usize> {
    let needle = needle.as_bytes();
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|window| window.eq_ignore_ascii_case(needle))
}

/// Length in bytes of `YEAR\s*(\s*CURDATE\s*(\s*)\s*)\s*` at the start of `text`, if it matches.
fn match_current_year_call(text: &str) -> Option<usize> {
    let mut rest = text;
    let skip_space = |s: &str| s.trim_start_matches(is_python_space).len();
    for part in ["year", "(", "curdate", "(", ")", ")"] {
        let head = rest.get(..part.len())?;
        if !head.eq_ignore_ascii_case(part) {
            return None;
        }
        rest = &rest[part.len()..];
        let remaining = skip_space(rest);
        rest = &rest[rest.len() - remaining..];
    }
    Some(text.len() - rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_tokens_are_deleted_and_the_rest_kept_verbatim() {
        assert_eq!(
            remove_distinct("SELECT DISTINCT a FROM t"),
            "SELECT  a FROM t"
        );
        assert_eq!(
            remove_distinct("SELECT count(DISTINCT pettype) FROM pets"),
            "SELECT count( pettype) FROM pets"
        );
        assert_eq!(
            remove_distinct("select\tdistinct(a)  from t"),
            "select\t(a)  from t"
        );
        assert_eq!(
            remove_distinct("SELECT Distinct\n a FROM t"),
            "SELECT \n a FROM t"
        );
    }

    #[test]
    fn distinct_inside_strings_identifiers_and_comments_stays() {
        let kept = [
            "SELECT a FROM t WHERE b = 'distinct'",
            "SELECT \"distinct\", `distinct`, [distinct] FROM t",
            "SELECT distinct_count, nodistinct FROM t",
            "SELECT a FROM t -- distinct\n",
            "SELECT a /* distinct */ FROM t",
            "SELECT 'é' || a FROM t WHERE b = 'dis'",
        ];
        for sql in kept {
            assert_eq!(remove_distinct(sql), sql);
        }
    }

    #[test]
    fn distinct_removal_handles_multibyte_text_before_the_token() {
        assert_eq!(
            remove_distinct("SELECT 'éé', DISTINCT a FROM t WHERE x = '日本'"),
            "SELECT 'éé',  a FROM t WHERE x = '日本'"
        );
        assert_eq!(
            remove_distinct("SELECT 'a\nb'\n, DISTINCT x FROM t"),
            "SELECT 'a\nb'\n,  x FROM t"
        );
    }

    #[test]
    fn only_the_first_statement_is_kept() {
        assert_eq!(remove_distinct("SELECT 1; SELECT 2"), "SELECT 1; ");
        assert_eq!(
            remove_distinct("SELECT 1; -- done\n"),
            "SELECT 1; -- done\n"
        );
        assert_eq!(remove_distinct("SELECT 1;"), "SELECT 1;");
        assert_eq!(remove_distinct("SELECT (1; 2)"), "SELECT (1; 2)");
        assert_eq!(remove_distinct("SELECT 1; /* c */"), "SELECT 1; ");
        // `GO` in upper case is sqlparse's batch separator; `go` and `GO(` are not.
        assert_eq!(remove_distinct("SELECT a AS GO FROM t"), "SELECT a AS GO ");
        assert_eq!(remove_distinct("SELECT go FROM t"), "SELECT go FROM t");
        assert_eq!(
            remove_distinct("SELECT GO(a) FROM t"),
            "SELECT GO(a) FROM t"
        );
        assert_eq!(remove_distinct("SELECT t.GO FROM t"), "SELECT t.GO FROM t");
        assert_eq!(remove_distinct("SELECT GO.a FROM t"), "SELECT GO.a FROM t");
        assert_eq!(remove_distinct("SELECT 1;\n/* c */ SELECT 2"), "SELECT 1;");
        // An unterminated string after the statement cannot be tokenized; sqlparse drops it.
        assert_eq!(remove_distinct("SELECT 1; 'open"), "SELECT 1; ");
    }

    #[test]
    fn untokenizable_characters_are_kept_and_tokenizing_resumes() {
        assert_eq!(
            remove_distinct("SELECT DISTINCT a FROM t WHERE b = 'open DISTINCT"),
            "SELECT  a FROM t WHERE b = 'open "
        );
        // A markdown fence left in a model's answer.
        assert_eq!(
            remove_distinct("```sql SELECT DISTINCT a FROM t"),
            "```sql SELECT  a FROM t"
        );
    }

    #[test]
    fn distinct_glued_to_other_characters_is_part_of_a_larger_token() {
        let kept = [
            "SELECT 1distinct",
            "SELECT $distinct",
            "SELECT a$distinct",
            "SELECT @distinct",
        ];
        for sql in kept {
            assert_eq!(remove_distinct(sql), sql);
        }
        assert_eq!(
            remove_distinct("SELECT t.distinct FROM t"),
            "SELECT t. FROM t"
        );
        assert_eq!(
            remove_distinct("SELECT :distinct, a::distinct"),
            "SELECT :distinct, a::"
        );
    }

    #[test]
    fn preprocessing_follows_the_official_order() {
        let prepared = spider_preprocess(
            " SELECT DISTINCT name FROM t WHERE x ! = 'value' AND y < = 3\tdb_id\n",
            "  SELECT DISTINCT name FROM t  ",
        );
        assert_eq!(
            prepared.prediction,
            "SELECT  name FROM t WHERE x != '1' AND y <= 3"
        );
        assert_eq!(prepared.gold, "SELECT  name FROM t");
        assert!(!prepared.order_matters);
    }

    #[test]
    fn value_replacement_is_lowercase_only_and_prediction_only() {
        let prepared = spider_preprocess(
            "SELECT value, Value, max_value FROM t",
            "SELECT value FROM t",
        );
        assert_eq!(prepared.prediction, "SELECT 1, Value, max_1 FROM t");
        assert_eq!(prepared.gold, "SELECT value FROM t");
    }

    #[test]
    fn strings_containing_distinct_and_value() {
        let prepared = spider_preprocess(
            "SELECT a FROM t WHERE b = 'distinct value'",
            "SELECT a FROM t WHERE b = 'distinct value'",
        );
        assert_eq!(
            prepared.prediction,
            "SELECT a FROM t WHERE b = 'distinct 1'"
        );
        assert_eq!(prepared.gold, "SELECT a FROM t WHERE b = 'distinct value'");
    }

    #[test]
    fn order_matters_is_a_substring_test_on_the_gold() {
        let order = |gold: &str| spider_preprocess("SELECT 1", gold).order_matters;
        assert!(order("SELECT a FROM t ORDER BY a"));
        assert!(order("SELECT a FROM (SELECT a FROM t order by a LIMIT 3)"));
        assert!(!order("SELECT a FROM t ORDER  BY a"));
        assert!(!order("SELECT a FROM t GROUP BY a"));
        // Only the gold decides.
        assert!(!spider_preprocess("SELECT a FROM t ORDER BY a", "SELECT a FROM t").order_matters);
    }

    #[test]
    fn current_year_is_replaced_like_the_official_regex() {
        assert_eq!(
            replace_current_year("SELECT YEAR(CURDATE()) - year FROM t"),
            "SELECT 2020- year FROM t"
        );
        assert_eq!(
            replace_current_year("SELECT year ( curdate ( ) ) \n- 1"),
            "SELECT 2020- 1"
        );
        assert_eq!(
            replace_current_year("SELECT yearyear(curdate())"),
            "SELECT year2020"
        );
        assert_eq!(replace_current_year("SELECT YEAR(x)"), "SELECT YEAR(x)");
        let prepared = spider_preprocess("SELECT YEAR(CURDATE())", "SELECT 1");
        assert_eq!(prepared.prediction, "SELECT 2020");
    }
}
