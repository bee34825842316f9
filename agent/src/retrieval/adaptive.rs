//! Choosing how many demonstrations to show (ADR's adaptive k): fewer for simple questions, so
//! an easy question is not buried under long examples, more for hard ones, which gain the most
//! from seeing a similar decomposition.
//!
//! The rule, in two parts:
//!
//! 1. **Estimated hardness** of the question being answered ([`estimate_hardness`]): the Spider
//!    hardness of the caller's draft SQL when there is one and it parses; otherwise the median
//!    hardness of the gold SQL of the nearest neighbours by BM25 (up to
//!    [`NEIGHBOURS_FOR_HARDNESS`]), whose SQL answers questions worded like this one. A long
//!    question (more than [`LONG_QUESTION_WORDS`] words) is raised one level: long questions
//!    carry more conditions.
//! 2. **k from the level** ([`adaptive_k`]): with `max` the most the caller allows,
//!    `k = ceil(max · (level + 2) / 5)` for level 0 (easy) to 3 (extra), so `max = 5` gives
//!    easy 2, medium 3, hard 4, extra 5; never below 1 nor above `max`.

use learnat_tools::hardness::{Hardness, spider_hardness};

/// How many of the best BM25 neighbours vote on the hardness when there is no draft SQL.
pub const NEIGHBOURS_FOR_HARDNESS: usize = 5;

/// Questions longer than this (in whitespace-separated words) are estimated one level harder.
pub const LONG_QUESTION_WORDS: usize = 25;

/// How many demonstrations to retrieve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KChoice {
    /// Exactly this many (fewer only when the pool has fewer matching demonstrations).
    Fixed(usize),
    /// Chosen from the question's estimated hardness, at most `max` (see the module docs).
    Adaptive {
        /// The most demonstrations the caller allows (the prompt budget).
        max: usize,
    },
}

impl Default for KChoice {
    /// `Adaptive { max: 5 }`.
    fn default() -> Self {
        KChoice::Adaptive { max: 5 }
    }
}

impl KChoice {
    /// The largest k this choice can give (how many candidates retrieval must keep).
    pub fn max(self) -> usize {
        match self {
            KChoice::Fixed(k) => k,
            KChoice::Adaptive { max } => max,
        }
    }
}

/// The number of demonstrations for a question of `level`, at most `max` (module docs, part 2).
///
/// ```
/// use learnat_agent::retrieval::adaptive_k;
/// use learnat_tools::hardness::Hardness;
/// let ks: Vec<usize> = Hardness::ALL.iter().map(|&level| adaptive_k(level, 5)).collect();
/// assert_eq!(ks, [2, 3, 4, 5]);
/// assert_eq!(adaptive_k(Hardness::Easy, 1), 1);
/// ```
pub fn adaptive_k(level: Hardness, max: usize) -> usize {
    if max == 0 {
        return 0;
    }
    let rank = level_rank(level);
    (max * (rank + 2)).div_ceil(5).clamp(1, max)
}

/// The estimated hardness of the question being answered (module docs, part 1).
///
/// `draft_sql` is the caller's draft; `neighbour_levels` the hardness of the gold SQL of the
/// nearest demonstrations, best first (`None` where it did not parse: no vote; only the first
/// [`NEIGHBOURS_FOR_HARDNESS`] count). With neither, the question is taken as medium.
/// `question` is only measured for its length.
pub fn estimate_hardness(
    question: &str,
    draft_sql: Option<&str>,
    neighbour_levels: &[Option<Hardness>],
) -> Hardness {
    let from_draft = draft_sql.and_then(|sql| spider_hardness(sql).ok());
    let base = from_draft.unwrap_or_else(|| {
        let mut votes: Vec<Hardness> = neighbour_levels
            .iter()
            .take(NEIGHBOURS_FOR_HARDNESS)
            .flatten()
            .copied()
            .collect();
        votes.sort();
        // The lower median: with an even count, the easier of the two middle levels.
        votes
            .get(votes.len().saturating_sub(1) / 2)
            .copied()
            .unwrap_or(Hardness::Medium)
    });
    if question.split_whitespace().count() > LONG_QUESTION_WORDS {
        harder(base)
    } else {
        base
    }
}

/// 0 for easy up to 3 for extra.
fn level_rank(level: Hardness) -> usize {
    Hardness::ALL
        .iter()
        .position(|&candidate| candidate == level)
        .unwrap_or(Hardness::ALL.len() - 1)
}

/// One level harder, extra stays extra.
fn harder(level: Hardness) -> Hardness {
    Hardness::ALL
        .get(level_rank(level) + 1)
        .copied()
        .unwrap_or(Hardness::Extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_grows_with_hardness_and_respects_max() {
        assert_eq!(adaptive_k(Hardness::Easy, 8), 4);
        assert_eq!(adaptive_k(Hardness::Extra, 8), 8);
        assert_eq!(adaptive_k(Hardness::Hard, 3), 3);
        assert_eq!(adaptive_k(Hardness::Easy, 3), 2);
        assert_eq!(adaptive_k(Hardness::Extra, 0), 0);
        for max in 1..12 {
            let ks: Vec<usize> = Hardness::ALL.iter().map(|&l| adaptive_k(l, max)).collect();
            assert!(
                ks.windows(2).all(|pair| pair[0] <= pair[1]),
                "{max}: {ks:?}"
            );
            assert!(ks.iter().all(|&k| (1..=max).contains(&k)), "{max}: {ks:?}");
        }
    }

    #[test]
    fn draft_sql_decides_before_neighbours() {
        let easy_sql = "SELECT count(*) FROM singer";
        let extra_sql = "SELECT a FROM t WHERE b IN (SELECT b FROM u) UNION SELECT a FROM v \
                         WHERE c > (SELECT avg(c) FROM v)";
        assert_eq!(spider_hardness(extra_sql).unwrap(), Hardness::Extra);
        let (easy, extra) = (Some(Hardness::Easy), Some(Hardness::Extra));
        let question = "How many singers?";
        assert_eq!(
            estimate_hardness(question, Some(easy_sql), &[extra, extra]),
            Hardness::Easy
        );
        assert_eq!(
            estimate_hardness(question, Some(extra_sql), &[easy]),
            Hardness::Extra
        );
        assert_eq!(
            estimate_hardness(question, None, &[extra, extra, easy]),
            Hardness::Extra
        );
        // The lower median of an even vote; unparsable neighbours do not vote.
        assert_eq!(
            estimate_hardness(question, None, &[extra, easy, None]),
            Hardness::Easy
        );
        // An unparsable draft falls back to the neighbours; no neighbours: medium.
        assert_eq!(
            estimate_hardness("q", Some("SELEC"), &[easy]),
            Hardness::Easy
        );
        assert_eq!(estimate_hardness("q", None, &[None]), Hardness::Medium);
    }

    #[test]
    fn long_questions_are_one_level_harder() {
        let easy = "SELECT count(*) FROM singer";
        let long = "word ".repeat(LONG_QUESTION_WORDS + 1);
        assert_eq!(estimate_hardness(&long, Some(easy), &[]), Hardness::Medium);
        assert_eq!(harder(Hardness::Extra), Hardness::Extra);
    }
}
