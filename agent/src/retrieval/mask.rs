//! Masking a question's schema words and values, so that questions from different databases
//! that ask the same *kind* of thing look alike (DAIL-SQL's and LearNAT's masked question
//! similarity).
//!
//! "How many pets are older than 3?" over a database with a table `Pets` and a column `pet_age`
//! becomes "How many <mask> are older than <unk>?". The rules, in order, over the question's
//! words:
//!
//! 1. **Values** become [`VALUE_MASK`]: quoted text (`"..."`, `'...'`, `“...”`), numbers
//!    (anything starting with a digit: `3`, `3.5`, `1990s`, `2nd`), and capitalised words
//!    inside a sentence that are not schema names (proper nouns such as "France", "New York").
//!    Consecutive value masks collapse into one.
//! 2. **Schema words** become [`SCHEMA_MASK`]: the longest run of words that spells a table or
//!    column name. A name is split into words at `_`, spaces, digits and camel-case boundaries
//!    (`pet_type`, `PetType` → `pet type`; `StuID` → `stu id`); words match case-insensitively
//!    with plural / singular folding (`pets` ~ `pet`, `countries` ~ `country`, `people` ~
//!    `person`), and a run also matches when its words written together spell the name
//!    (`first name` ~ `firstname`). Names that are a single function word (`in`, `of`, `a`, ...)
//!    are never masked.
//!
//! Everything else is kept verbatim, so the masked question still reads as a sentence (it is
//! also what the sentence embedder sees).

/// What a table or column name becomes.
pub const SCHEMA_MASK: &str = "<mask>";
/// What a value (number, quoted text, proper noun) becomes.
pub const VALUE_MASK: &str = "<unk>";

/// The longest name, in words, a run of question words is compared against.
const MAX_NAME_WORDS: usize = 6;

/// Function words that are never masked even when a database has a column spelled that way.
const NEVER_MASKED: &[&str] = &[
    "a", "an", "the", "of", "in", "on", "at", "to", "by", "for", "and", "or", "is", "are", "was",
    "were", "be", "as", "with", "from", "what", "which", "who", "how", "all", "each", "it", "its",
    "that", "this", "do", "does", "not", "no", "than", "there", "their", "they", "has", "have",
];

/// Plural forms that do not follow the suffix rules of [`plural_matches`].
const IRREGULAR_PLURALS: &[(&str, &str)] = &[
    ("person", "people"),
    ("man", "men"),
    ("woman", "women"),
    ("child", "children"),
    ("foot", "feet"),
    ("tooth", "teeth"),
    ("mouse", "mice"),
    ("goose", "geese"),
    ("criterion", "criteria"),
    ("medium", "media"),
];

/// `question` with its schema words and values masked; see the module docs for the rules.
///
/// ```
/// use learnat_agent::retrieval::mask_question;
/// let names = ["Pets".to_string(), "pet_age".to_string(), "PetType".to_string()];
/// assert_eq!(
///     mask_question("How many pets of pet type 'dog' are older than 3?", &names),
///     "How many <mask> of <mask> <unk> are older than <unk>?"
/// );
/// ```
pub fn mask_question(question: &str, schema_names: &[String]) -> String {
    let names: Vec<SchemaName> = schema_names
        .iter()
        .filter_map(|name| SchemaName::new(name))
        .collect();
    let tokens = tokenize(question);
    let mut replacements: Vec<(usize, usize, &'static str)> = Vec::new();
    let mut index = 0;
    while index < tokens.len() {
        let token = &tokens[index];
        match token.kind {
            TokenKind::Quoted | TokenKind::Number => {
                replacements.push((token.start, token.end, VALUE_MASK));
                index += 1;
            }
            TokenKind::Punctuation => index += 1,
            TokenKind::Word => {
                let run = word_run(&tokens, index);
                if let Some(length) = longest_name_match(&run, &names) {
                    let last = &tokens[index + length - 1];
                    replacements.push((token.start, last.end, SCHEMA_MASK));
                    index += length;
                } else {
                    if token.is_proper_noun(&tokens, index) {
                        replacements.push((token.start, token.end, VALUE_MASK));
                    }
                    index += 1;
                }
            }
        }
    }
    apply_replacements(question, &replacements)
}

/// Writes `question` with the replacements (sorted, non-overlapping byte ranges) applied;
/// consecutive value masks separated only by spaces collapse into one, and runs of whitespace
/// become one space.
fn apply_replacements(question: &str, replacements: &[(usize, usize, &'static str)]) -> String {
    let mut pieces: Vec<Piece> = Vec::new();
    let mut cursor = 0;
    for &(start, end, mask) in replacements {
        if cursor < start {
            pieces.push(Piece::Text(&question[cursor..start]));
        }
        let follows_value_mask = matches!(
            pieces.as_slice(),
            [.., Piece::Mask(VALUE_MASK), Piece::Text(gap)] if gap.trim().is_empty()
        ) || matches!(pieces.last(), Some(Piece::Mask(VALUE_MASK)));
        if mask == VALUE_MASK && follows_value_mask {
            // "New York" is one value, not two.
            if let Some(Piece::Text(_)) = pieces.last() {
                pieces.pop();
            }
        } else {
            pieces.push(Piece::Mask(mask));
        }
        cursor = end;
    }
    pieces.push(Piece::Text(&question[cursor..]));
    let joined: String = pieces
        .iter()
        .map(|piece| match piece {
            Piece::Text(text) => *text,
            Piece::Mask(mask) => mask,
        })
        .collect();
    joined.split_whitespace().collect::<Vec<_>>().join(" ")
}

enum Piece<'a> {
    Text(&'a str),
    Mask(&'static str),
}

/// A table or column name, split into lower-case words.
struct SchemaName {
    words: Vec<String>,
    joined: String,
}

impl SchemaName {
    fn new(name: &str) -> Option<SchemaName> {
        let words = split_name(name);
        if words.is_empty() || words.len() > MAX_NAME_WORDS {
            return None;
        }
        if words.len() == 1 && NEVER_MASKED.contains(&words[0].as_str()) {
            return None;
        }
        let joined = words.concat();
        Some(SchemaName { words, joined })
    }

    /// Whether the lower-case question words `run` spell this name.
    fn matches(&self, run: &[String]) -> bool {
        if run.len() == self.words.len() && words_match(run, &self.words) {
            return true;
        }
        // "first name" ~ "firstname": the run written together, the last word folded.
        if run.len() > 1 && self.words.len() < run.len() {
            let (last, init) = match run.split_last() {
                Some(split) => split,
                None => return false,
            };
            let prefix = init.concat();
            if let Some(rest) = self.joined.strip_prefix(prefix.as_str()) {
                return !rest.is_empty() && same_word(last, rest);
            }
        }
        false
    }
}

/// Same words in order, the last one folded for number (`pet types` ~ `pet_type`); earlier words
/// must match exactly or by plural too (`students courses` is rare, but `people ids` happens).
fn words_match(run: &[String], name: &[String]) -> bool {
    run.iter().zip(name).all(|(a, b)| same_word(a, b))
}

/// Equal, or one is a plural of the other.
fn same_word(a: &str, b: &str) -> bool {
    a == b || plural_matches(a, b) || plural_matches(b, a)
}

/// Whether `plural` is a plural of `singular` by the usual English suffix rules or the table of
/// irregular plurals.
fn plural_matches(singular: &str, plural: &str) -> bool {
    if IRREGULAR_PLURALS.contains(&(singular, plural)) {
        return true;
    }
    let Some(stem) = plural.strip_suffix('s') else {
        return false;
    };
    if stem == singular && !singular.ends_with('s') {
        return true;
    }
    // boxes, classes, churches, wishes, heroes
    if let Some(es_stem) = stem.strip_suffix('e')
        && es_stem == singular
        && (singular.ends_with(['s', 'x', 'z', 'o'])
            || singular.ends_with("ch")
            || singular.ends_with("sh"))
    {
        return true;
    }
    // countries ~ country (but not days ~ daies)
    if let Some(ie_stem) = stem.strip_suffix("ie")
        && let Some(y_stem) = singular.strip_suffix('y')
    {
        return ie_stem == y_stem && !y_stem.ends_with(['a', 'e', 'i', 'o', 'u']);
    }
    false
}

/// Lower-case words of a database name: split at `_`, spaces, `-`, `.`, letter/digit changes and
/// camel-case boundaries (`StuID` → `stu`, `id`; `HTMLPage` → `html`, `page`; `pet_type2` →
/// `pet`, `type`, `2`).
fn split_name(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (index, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        if let Some(&previous) = index.checked_sub(1).and_then(|i| chars.get(i)) {
            let next = chars.get(index + 1).copied();
            let camel_boundary = previous.is_lowercase() && c.is_uppercase();
            // The last capital of an acronym starts the next word: "HTMLPage".
            let acronym_end =
                previous.is_uppercase() && c.is_uppercase() && next.is_some_and(char::is_lowercase);
            let digit_boundary =
                previous.is_ascii_digit() != c.is_ascii_digit() && previous.is_alphanumeric();
            if (camel_boundary || acronym_end || digit_boundary) && !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        }
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// The longest run of words, starting at the run's first, that spells one of `names`.
fn longest_name_match(run: &[String], names: &[SchemaName]) -> Option<usize> {
    (1..=run.len().min(MAX_NAME_WORDS))
        .rev()
        .find(|&length| names.iter().any(|name| name.matches(&run[..length])))
}

/// The lower-case words from `start` on, up to the first non-word token (names do not span
/// punctuation) or [`MAX_NAME_WORDS`].
fn word_run(tokens: &[Token], start: usize) -> Vec<String> {
    tokens[start..]
        .iter()
        .take_while(|token| token.kind == TokenKind::Word)
        .take(MAX_NAME_WORDS)
        .map(|token| token.lower.clone())
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    /// A run of letters (and digits after the first letter).
    Word,
    /// A run starting with a digit.
    Number,
    /// Text between quotes, quotes included.
    Quoted,
    /// Any other single character that is not whitespace.
    Punctuation,
}

#[derive(Debug)]
struct Token {
    kind: TokenKind,
    /// Byte range in the question.
    start: usize,
    end: usize,
    /// The token's text, lower-cased.
    lower: String,
    /// Whether the token's first character is upper-case.
    capitalised: bool,
}

impl Token {
    /// A capitalised word that does not start a sentence and is not "I" (the schema-name check
    /// has already failed when this is asked).
    fn is_proper_noun(&self, tokens: &[Token], index: usize) -> bool {
        if !self.capitalised || self.lower == "i" {
            return false;
        }
        let previous = tokens[..index]
            .iter()
            .rev()
            .find(|token| token.kind != TokenKind::Quoted);
        match previous {
            None => false,
            Some(token) => {
                !(token.kind == TokenKind::Punctuation
                    && matches!(token.lower.as_str(), "." | "?" | "!" | ":" | ";"))
            }
        }
    }
}

/// Splits a question into words, numbers, quoted spans and punctuation, with byte offsets.
fn tokenize(question: &str) -> Vec<Token> {
    let chars: Vec<(usize, char)> = question.char_indices().collect();
    let end_of = |position: usize| {
        chars
            .get(position)
            .map_or(question.len(), |&(offset, _)| offset)
    };
    let mut tokens = Vec::new();
    let mut position = 0;
    while position < chars.len() {
        let (start, c) = chars[position];
        if c.is_whitespace() {
            position += 1;
            continue;
        }
        if let Some(closing) = closing_quote(c)
            && quote_opens(&chars, position)
            && let Some(close_position) = (position + 1..chars.len())
                .find(|&i| chars[i].1 == closing && quote_closes(&chars, i))
        {
            let end = end_of(close_position + 1);
            tokens.push(Token {
                kind: TokenKind::Quoted,
                start,
                end,
                lower: question[start..end].to_lowercase(),
                capitalised: false,
            });
            position = close_position + 1;
            continue;
        }
        if c.is_alphanumeric() {
            let mut next = position + 1;
            while next < chars.len()
                && (chars[next].1.is_alphanumeric() || is_inner_number_mark(&chars, next, c))
            {
                next += 1;
            }
            let end = end_of(next);
            let text = &question[start..end];
            tokens.push(Token {
                kind: if c.is_ascii_digit() {
                    TokenKind::Number
                } else {
                    TokenKind::Word
                },
                start,
                end,
                lower: text.to_lowercase(),
                capitalised: c.is_uppercase(),
            });
            position = next;
            continue;
        }
        let end = end_of(position + 1);
        tokens.push(Token {
            kind: TokenKind::Punctuation,
            start,
            end,
            lower: question[start..end].to_string(),
            capitalised: false,
        });
        position += 1;
    }
    tokens
}

/// A `.` or `,` between digits inside a number (`3.5`, `1,000`).
fn is_inner_number_mark(chars: &[(usize, char)], index: usize, first: char) -> bool {
    first.is_ascii_digit()
        && matches!(chars[index].1, '.' | ',')
        && chars
            .get(index + 1)
            .is_some_and(|&(_, c)| c.is_ascii_digit())
        && chars[index - 1].1.is_ascii_digit()
}

fn closing_quote(opening: char) -> Option<char> {
    match opening {
        '"' => Some('"'),
        '\'' => Some('\''),
        '“' => Some('”'),
        '‘' => Some('’'),
        _ => None,
    }
}

/// A quote opens only at the start of a word (so the apostrophe of "singer's" does not).
fn quote_opens(chars: &[(usize, char)], index: usize) -> bool {
    index == 0 || !chars[index - 1].1.is_alphanumeric()
}

/// A quote closes only at the end of a word ("'dog's toy'" is not closed at "dog's").
fn quote_closes(chars: &[(usize, char)], index: usize) -> bool {
    chars
        .get(index + 1)
        .is_none_or(|&(_, c)| !c.is_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn names_split_at_case_digits_and_separators() {
        assert_eq!(split_name("pet_type"), ["pet", "type"]);
        assert_eq!(split_name("PetType"), ["pet", "type"]);
        assert_eq!(split_name("StuID"), ["stu", "id"]);
        assert_eq!(split_name("HTMLPage"), ["html", "page"]);
        assert_eq!(split_name("address_line2"), ["address", "line", "2"]);
        assert_eq!(split_name("Name"), ["name"]);
    }

    #[test]
    fn plural_folding_rules() {
        for (singular, plural) in [
            ("pet", "pets"),
            ("country", "countries"),
            ("class", "classes"),
            ("box", "boxes"),
            ("church", "churches"),
            ("person", "people"),
            ("day", "days"),
        ] {
            assert!(same_word(singular, plural), "{singular} ~ {plural}");
            assert!(same_word(plural, singular), "{plural} ~ {singular}");
        }
        assert!(!same_word("day", "daies"));
        assert!(same_word("bus", "buses"));
        // A singular ending in s takes -es: "clas" is no singular of "class".
        assert!(!same_word("class", "clas"));
        assert!(!same_word("pet", "petss"));
    }

    #[test]
    fn multi_word_names_mask_as_one() {
        let schema = names(&["Pets", "pet_type", "weight"]);
        assert_eq!(
            mask_question("List the pet types and weights of all pets.", &schema),
            "List the <mask> and <mask> of all <mask>."
        );
    }

    #[test]
    fn joined_names_match_split_words() {
        let schema = names(&["firstname", "lastname"]);
        assert_eq!(
            mask_question("What are the first names and last names?", &schema),
            "What are the <mask> and <mask>?"
        );
    }

    #[test]
    fn values_are_masked_and_collapse() {
        assert_eq!(
            mask_question(
                "Which singers are from New York or \"Paris\" since 1990?",
                &[]
            ),
            "Which singers are from <unk> or <unk> since <unk>?"
        );
        assert_eq!(
            mask_question("Find flights costing more than 3,500.5 dollars", &[]),
            "Find flights costing more than <unk> dollars"
        );
        // An apostrophe is not a quote.
        assert_eq!(
            mask_question(
                "What is the singer's age in 'rock' songs?",
                &names(&["age"])
            ),
            "What is the singer's <mask> in <unk> songs?"
        );
    }

    #[test]
    fn sentence_starts_and_function_words_are_kept() {
        let schema = names(&["in", "of", "Name"]);
        assert_eq!(
            mask_question("Show the Name of people in the club. What is it?", &schema),
            "Show the <mask> of people in the club. What is it?"
        );
    }
}
