//! Re-ranking the BM25 candidates: how similar is each demonstration's question (lexically, or
//! by sentence embedding) and its SQL shape to the question being answered.
//!
//! Every candidate gets a *question similarity* and, when a target skeleton can be had, a
//! *skeleton similarity*, both in [0, 1]; its score is
//! `(1 − w) · question_similarity + w · skeleton_similarity`.
//!
//! - **Question similarity**: BM25 divided by the best candidate's BM25 ([`Rerank::Bm25`],
//!   [`Rerank::Skeleton`]); for [`Rerank::Hybrid`],
//!   `HYBRID_EMBEDDING_WEIGHT · cosine + (1 − HYBRID_EMBEDDING_WEIGHT) · normalised BM25`, the
//!   cosine taken between the sentence embeddings of the two masked questions (negative cosines
//!   count as 0).
//! - **Skeleton similarity** ([`learnat_tools::sql::skeleton_similarity`]): the question being
//!   answered has no SQL yet, so its skeleton is taken from the caller's draft SQL when there is
//!   one (a cheap zero-shot draft, as DAIL-SQL does with a preliminary model's prediction),
//!   weight [`SKELETON_WEIGHT_WITH_DRAFT`]. Without a draft, the skeleton is *predicted by the
//!   neighbours' consensus*: a candidate's skeleton similarity is its BM25-weighted mean
//!   similarity to the skeletons of the [`CONSENSUS_NEIGHBOURS`] best BM25 candidates (itself
//!   excluded), so shapes shared by many close neighbours rise and one-off shapes sink; this
//!   weaker signal gets weight [`SKELETON_WEIGHT_CONSENSUS`]. Demonstrations whose SQL did not
//!   parse have no skeleton and score 0 on this part.
//! - [`Rerank::Bm25`] uses no skeleton at all (w = 0): plain BM25 order, for ablations.

/// How the BM25 candidates are re-ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rerank {
    /// No re-rank: BM25 order over the masked question.
    Bm25,
    /// BM25 re-ranked by skeleton similarity (the default).
    #[default]
    Skeleton,
    /// Sentence-embedding similarity of the masked questions mixed with BM25, then skeleton
    /// similarity as for `Skeleton`. Needs an index built with embeddings and opened with an
    /// embedder.
    Hybrid,
}

impl Rerank {
    /// The name used on command lines and in reports (`bm25`, `skeleton`, `hybrid`).
    pub fn as_str(self) -> &'static str {
        match self {
            Rerank::Bm25 => "bm25",
            Rerank::Skeleton => "skeleton",
            Rerank::Hybrid => "hybrid",
        }
    }
}

impl std::str::FromStr for Rerank {
    type Err = crate::error::AgentError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "bm25" => Ok(Rerank::Bm25),
            "skeleton" => Ok(Rerank::Skeleton),
            "hybrid" => Ok(Rerank::Hybrid),
            other => Err(crate::error::AgentError::InvalidInput {
                message: format!("unknown re-rank '{other}' (expected bm25, skeleton or hybrid)"),
            }),
        }
    }
}

/// Weight of the skeleton similarity when the caller gave a draft SQL.
pub const SKELETON_WEIGHT_WITH_DRAFT: f32 = 0.5;
/// Weight of the skeleton similarity predicted by the neighbours' consensus.
pub const SKELETON_WEIGHT_CONSENSUS: f32 = 0.3;
/// How many of the best BM25 candidates vote on the consensus skeleton.
pub const CONSENSUS_NEIGHBOURS: usize = 10;
/// Share of the embedding cosine in the hybrid question similarity.
pub const HYBRID_EMBEDDING_WEIGHT: f32 = 0.7;

/// One BM25 candidate, as the re-rank sees it.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// Its BM25 score over the masked question.
    pub bm25: f32,
    /// Its SQL skeleton; empty when its SQL did not parse.
    pub skeleton: &'a str,
    /// Cosine of its masked-question embedding with the query's (hybrid only).
    pub embedding_similarity: Option<f32>,
}

/// The parts of a candidate's score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreParts {
    /// The final score, in [0, 1].
    pub score: f32,
    /// The question similarity it was made of.
    pub question_similarity: f32,
    /// The skeleton similarity, when one took part.
    pub skeleton_similarity: Option<f32>,
}

/// Scores of `candidates` (in BM25 order, best first) under `mode`; `target_skeleton` is the
/// skeleton of the caller's draft SQL, if any. See the module docs.
pub fn score_candidates(
    candidates: &[Candidate<'_>],
    mode: Rerank,
    target_skeleton: Option<&str>,
) -> Vec<ScoreParts> {
    let best_bm25 = candidates
        .iter()
        .map(|candidate| candidate.bm25)
        .fold(0.0f32, f32::max);
    let question_similarities: Vec<f32> = candidates
        .iter()
        .map(|candidate| {
            let lexical = if best_bm25 > 0.0 {
                candidate.bm25 / best_bm25
            } else {
                0.0
            };
            match (mode, candidate.embedding_similarity) {
                (Rerank::Hybrid, Some(cosine)) => {
                    HYBRID_EMBEDDING_WEIGHT * cosine.max(0.0)
                        + (1.0 - HYBRID_EMBEDDING_WEIGHT) * lexical
                }
                _ => lexical,
            }
        })
        .collect();

    let (skeleton_weight, skeleton_similarities) = match mode {
        Rerank::Bm25 => (0.0, None),
        Rerank::Skeleton | Rerank::Hybrid => match target_skeleton {
            Some(target) => (
                SKELETON_WEIGHT_WITH_DRAFT,
                Some(
                    candidates
                        .iter()
                        .map(|candidate| skeleton_similarity_or_zero(candidate.skeleton, target))
                        .collect::<Vec<f32>>(),
                ),
            ),
            None if candidates.len() > 1 => (
                SKELETON_WEIGHT_CONSENSUS,
                Some(consensus_similarities(candidates, &question_similarities)),
            ),
            None => (0.0, None),
        },
    };

    question_similarities
        .iter()
        .enumerate()
        .map(|(index, &question_similarity)| {
            let skeleton_similarity = skeleton_similarities
                .as_ref()
                .map(|similarities| similarities[index]);
            let score = (1.0 - skeleton_weight) * question_similarity
                + skeleton_weight * skeleton_similarity.unwrap_or(0.0);
            ScoreParts {
                score,
                question_similarity,
                skeleton_similarity,
            }
        })
        .collect()
}

/// Each candidate's weighted mean skeleton similarity to the best [`CONSENSUS_NEIGHBOURS`]
/// candidates other than itself, the weights being their question similarities.
fn consensus_similarities(candidates: &[Candidate<'_>], weights: &[f32]) -> Vec<f32> {
    let voters = candidates.len().min(CONSENSUS_NEIGHBOURS);
    candidates
        .iter()
        .enumerate()
        .map(|(index, candidate)| {
            let mut weighted = 0.0f32;
            let mut total = 0.0f32;
            for voter in (0..voters).filter(|&voter| voter != index) {
                let weight = weights[voter];
                weighted += weight
                    * skeleton_similarity_or_zero(candidate.skeleton, candidates[voter].skeleton);
                total += weight;
            }
            if total > 0.0 { weighted / total } else { 0.0 }
        })
        .collect()
}

/// Skeleton similarity, 0 when either side has no skeleton (unparsable SQL).
fn skeleton_similarity_or_zero(a: &str, b: &str) -> f32 {
    if a.is_empty() || b.is_empty() {
        0.0
    } else {
        learnat_tools::sql::skeleton_similarity(a, b) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COUNT: &str = "SELECT count(*) FROM _";
    const FILTER: &str = "SELECT _ FROM _ WHERE _ > ?";
    const GROUP: &str = "SELECT _, count(*) FROM _ GROUP BY _ ORDER BY count(*) DESC LIMIT ?";

    fn candidate(bm25: f32, skeleton: &str) -> Candidate<'_> {
        Candidate {
            bm25,
            skeleton,
            embedding_similarity: None,
        }
    }

    #[test]
    fn bm25_mode_keeps_bm25_order() {
        let candidates = [candidate(10.0, COUNT), candidate(5.0, FILTER)];
        let scores = score_candidates(&candidates, Rerank::Bm25, Some(FILTER));
        assert_eq!(scores[0].score, 1.0);
        assert_eq!(scores[1].score, 0.5);
        assert!(
            scores
                .iter()
                .all(|parts| parts.skeleton_similarity.is_none())
        );
    }

    #[test]
    fn draft_skeleton_lifts_matching_shapes() {
        let candidates = [candidate(10.0, COUNT), candidate(8.0, FILTER)];
        let scores = score_candidates(&candidates, Rerank::Skeleton, Some(FILTER));
        assert!(scores[1].score > scores[0].score, "{scores:?}");
        assert_eq!(scores[1].skeleton_similarity, Some(1.0));
    }

    #[test]
    fn consensus_favours_the_common_shape() {
        // The best BM25 candidate has a one-off shape; three close ones share another.
        let candidates = [
            candidate(10.0, GROUP),
            candidate(9.5, FILTER),
            candidate(9.4, FILTER),
            candidate(9.3, FILTER),
        ];
        let scores = score_candidates(&candidates, Rerank::Skeleton, None);
        assert!(scores[1].score > scores[0].score, "{scores:?}");
        // Unparsable SQL (empty skeleton) gets no skeleton credit.
        let with_empty = [
            candidate(10.0, ""),
            candidate(10.0, FILTER),
            candidate(10.0, FILTER),
        ];
        let scores = score_candidates(&with_empty, Rerank::Skeleton, None);
        assert_eq!(scores[0].skeleton_similarity, Some(0.0));
        assert!(scores[1].score > scores[0].score);
    }

    #[test]
    fn hybrid_mixes_embedding_cosine() {
        let mut near = candidate(5.0, FILTER);
        near.embedding_similarity = Some(0.95);
        let mut far = candidate(10.0, FILTER);
        far.embedding_similarity = Some(-0.2);
        let scores = score_candidates(&[far, near], Rerank::Hybrid, Some(FILTER));
        assert!(scores[1].score > scores[0].score, "{scores:?}");
        let expected = (1.0 - HYBRID_EMBEDDING_WEIGHT) * 1.0;
        assert!((scores[0].question_similarity - expected).abs() < 1e-6);
    }

    #[test]
    fn names_round_trip() {
        for mode in [Rerank::Bm25, Rerank::Skeleton, Rerank::Hybrid] {
            assert_eq!(mode.as_str().parse::<Rerank>().unwrap(), mode);
        }
        assert!("dense".parse::<Rerank>().is_err());
    }
}
