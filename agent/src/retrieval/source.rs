//! The index as the decomposition strategy's [`DemonstrationSource`]: retrieved demonstrations
//! become the prompt's worked examples.

use std::sync::Arc;

use async_trait::async_trait;

use super::adaptive::KChoice;
use super::index::{DemonstrationIndex, RetrievalQuery};
use super::pool::SchemaWords;
use super::rerank::Rerank;
use crate::error::{AgentError, AgentResult};
use crate::strategy::{DemonstrationRequest, DemonstrationSource, FewShotExample};
use crate::student_format::StudentStep;

/// A [`DemonstrationIndex`] with the retrieval settings the strategy does not choose: the
/// re-rank and the most demonstrations an adaptive k may give.
///
/// A request names its database when it is evaluated: demonstrations of that database are left
/// out. `request.k = 0` asks for adaptive k up to `max_k`; any other k is taken as fixed.
#[derive(Debug, Clone)]
pub struct IndexDemonstrations {
    index: Arc<DemonstrationIndex>,
    rerank: Rerank,
    max_k: usize,
}

impl IndexDemonstrations {
    /// Retrieval from `index` with `rerank`, adaptive k up to `max_k`. Hybrid re-rank needs an
    /// index with an embedder ([`DemonstrationIndex::open_with_embedder`]).
    pub fn new(index: Arc<DemonstrationIndex>, rerank: Rerank, max_k: usize) -> AgentResult<Self> {
        if rerank == Rerank::Hybrid && !index.supports_hybrid() {
            return Err(AgentError::InvalidInput {
                message: format!(
                    "hybrid retrieval needs the index at '{}' built with --embed and opened with \
                     an embedder",
                    index.dir().display()
                ),
            });
        }
        Ok(IndexDemonstrations {
            index,
            rerank,
            max_k,
        })
    }

    /// The index.
    pub fn index(&self) -> &Arc<DemonstrationIndex> {
        &self.index
    }
}

#[async_trait]
impl DemonstrationSource for IndexDemonstrations {
    async fn demonstrations(
        &self,
        request: &DemonstrationRequest<'_>,
    ) -> AgentResult<Vec<FewShotExample>> {
        let index = Arc::clone(&self.index);
        let question = request.question.to_string();
        let schema_words = SchemaWords::names_of_schema(request.schema);
        let exclude_db = request.db_id.map(str::to_string);
        let k = match request.k {
            0 => KChoice::Adaptive { max: self.max_k },
            fixed => KChoice::Fixed(fixed),
        };
        let rerank = self.rerank;
        let draft = request.draft_sql.map(str::to_string);
        // BM25 and the re-rank are CPU work (and the hybrid re-rank a forward pass): off the
        // async executor.
        let retrieved = tokio::task::spawn_blocking(move || {
            index.retrieve(&RetrievalQuery {
                schema_words: &schema_words,
                exclude_db: exclude_db.as_deref(),
                k,
                rerank,
                sql_hint: draft.as_deref(),
                ..RetrievalQuery::new(&question)
            })
        })
        .await
        .map_err(|error| AgentError::InvalidInput {
            message: format!("demonstration retrieval stopped: {error}"),
        })??;
        Ok(retrieved
            .into_iter()
            .map(|retrieved| {
                let demonstration = retrieved.demonstration;
                FewShotExample {
                    question: demonstration.question,
                    steps: demonstration
                        .steps
                        .into_iter()
                        .map(|step| StudentStep {
                            sub_question: step.sub_question,
                            sql: step.sql,
                        })
                        .collect(),
                    sql: demonstration.sql,
                }
            })
            .collect())
    }
}
