//! The demonstration index on disk: a tantivy index over the masked questions (BM25), the
//! demonstrations themselves with their skeletons and hardness, and optionally their sentence
//! embeddings.
//!
//! Layout of an index directory:
//!
//! ```text
//! DIR/learnat-index.json   manifest: format, version, counts, embedding model (IndexManifest)
//! DIR/tantivy/             the tantivy index: fields id, db_id (raw terms, for exclusion),
//!                          masked_question (English stemming, BM25) and record (stored JSON)
//! DIR/embeddings.f32       optional: one row of `dimension` little-endian f32 per
//!                          demonstration, in pool order (the masked questions' embeddings)
//! ```
//!
//! An index is built once per pool ([`DemonstrationIndex::build`]) into a temporary sibling
//! directory that is renamed into place when complete, so a half-built directory never looks like
//! an index. [`DemonstrationIndex::open`] reads the demonstrations into memory (a few MB for ten
//! thousand), so a query costs one BM25 search plus the re-rank.

use std::collections::HashSet;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use learnat_tools::Dialect;
use learnat_tools::hardness::{Hardness, spider_hardness};
use learnat_tools::sql::skeleton;
use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, Term};

use super::adaptive::{KChoice, adaptive_k, estimate_hardness};
use super::embedding::{EMBEDDING_MODEL_NAME, SentenceEmbedder, cosine};
use super::mask::mask_question;
use super::pool::{Demonstration, SchemaWords};
use super::rerank::{Candidate, Rerank, score_candidates};
use crate::error::{AgentError, AgentResult};

/// The manifest's file name inside an index directory.
pub const MANIFEST_FILE: &str = "learnat-index.json";
/// The value of [`IndexManifest::format`].
pub const INDEX_FORMAT: &str = "learnat-demonstration-index";
/// The layout version this code writes and reads.
pub const INDEX_VERSION: u32 = 1;

const TANTIVY_DIR: &str = "tantivy";
const EMBEDDINGS_FILE: &str = "embeddings.f32";
/// tantivy's stemming English analyzer (lower-casing, long-token removal, Porter stemmer).
const MASKED_QUESTION_TOKENIZER: &str = "en_stem";
/// Indexing memory budget: ten thousand short questions fit one segment many times over, and
/// one segment with one writer thread gives the same doc order, hence the same ties, every build.
const WRITER_MEMORY_BYTES: usize = 50_000_000;
/// The fewest BM25 candidates the re-rank sees, and how many per demonstration asked for.
const MIN_CANDIDATES: usize = 50;
const CANDIDATES_PER_RESULT: usize = 10;

/// What the manifest of an index directory records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexManifest {
    /// Always [`INDEX_FORMAT`].
    pub format: String,
    /// The layout version ([`INDEX_VERSION`]).
    pub version: u32,
    /// How many demonstrations the index holds.
    pub demonstrations: usize,
    /// How many distinct databases they are about.
    pub databases: usize,
    /// How many were masked with their database's schema words (the others for values only).
    pub masked_with_schema: usize,
    /// How many have SQL that does not parse (no skeleton, no hardness).
    pub unparsable_sql: usize,
    /// How many carry a decomposition.
    pub with_steps: usize,
    /// The embeddings stored beside the index, if it was built with an embedder.
    pub embedding: Option<EmbeddingManifest>,
}

/// The embeddings part of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingManifest {
    /// The model's name.
    pub model: String,
    /// [`SentenceEmbedder::fingerprint`] of the model that computed them.
    pub fingerprint: String,
    /// Floats per row.
    pub dimension: usize,
}

/// A demonstration as stored: with what retrieval computed from it at build time.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IndexedDemonstration {
    ordinal: usize,
    demonstration: Demonstration,
    masked_question: String,
    /// Empty when the SQL does not parse.
    skeleton: String,
    hardness: Option<Hardness>,
}

/// What one retrieval asks for. Build one with [`RetrievalQuery::new`] and set the fields that
/// differ from the defaults.
///
/// ```
/// use learnat_agent::retrieval::{KChoice, Rerank, RetrievalQuery};
/// let names = vec!["singer".to_string(), "age".to_string()];
/// let excluded = vec!["dev#17".to_string()];
/// let query = RetrievalQuery {
///     schema_words: &names,
///     exclude_db: Some("concert_singer"),
///     exclude_ids: &excluded,
///     k: KChoice::Fixed(3),
///     ..RetrievalQuery::new("How many singers are older than 30?")
/// };
/// assert_eq!(query.rerank, Rerank::Skeleton);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RetrievalQuery<'a> {
    /// The question being answered.
    pub question: &'a str,
    /// Table and column names of the target database, for masking the question.
    pub schema_words: &'a [String],
    /// Never return demonstrations of this database (the one being evaluated).
    pub exclude_db: Option<&'a str>,
    /// Never return these demonstration ids (the question being answered, when it is in the
    /// pool).
    pub exclude_ids: &'a [String],
    /// How many demonstrations to return.
    pub k: KChoice,
    /// How the BM25 candidates are re-ranked.
    pub rerank: Rerank,
    /// A draft SQL for the question (a zero-shot attempt, say): its skeleton drives the skeleton
    /// re-rank and its hardness the adaptive k. Without one, both come from the neighbours.
    pub sql_hint: Option<&'a str>,
}

impl<'a> RetrievalQuery<'a> {
    /// A query for `question` with no schema words, no exclusion, adaptive k up to 5, skeleton
    /// re-rank and no draft SQL.
    pub fn new(question: &'a str) -> RetrievalQuery<'a> {
        RetrievalQuery {
            question,
            schema_words: &[],
            exclude_db: None,
            exclude_ids: &[],
            k: KChoice::default(),
            rerank: Rerank::default(),
            sql_hint: None,
        }
    }

    /// Whether this is an evaluation query (something is excluded): then a demonstration whose
    /// question is the same text as the one being answered is excluded too, whatever its id.
    fn is_evaluation(&self) -> bool {
        self.exclude_db.is_some() || !self.exclude_ids.is_empty()
    }
}

/// One retrieved demonstration and why it ranked where it did.
#[derive(Debug, Clone, PartialEq)]
pub struct Retrieved {
    /// The demonstration.
    pub demonstration: Demonstration,
    /// Its BM25 score over the masked question.
    pub bm25: f32,
    /// Its final score after the re-rank, in [0, 1]; results are sorted by it, best first.
    pub score: f32,
    /// Its skeleton similarity to the draft or the neighbours' consensus, when that took part.
    pub skeleton_similarity: Option<f32>,
    /// The cosine of the masked questions' embeddings (hybrid re-rank only).
    pub embedding_similarity: Option<f32>,
}

/// Options of [`DemonstrationIndex::build_with`].
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Compute and store the embeddings of the masked questions with this encoder (the built
    /// index keeps it for hybrid retrieval).
    pub embedder: Option<Arc<SentenceEmbedder>>,
    /// Draw progress bars on stderr.
    pub progress: bool,
}

/// The tantivy fields.
#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    db_id: Field,
    masked_question: Field,
    record: Field,
}

impl Fields {
    fn schema() -> (Schema, Fields) {
        let mut builder = Schema::builder();
        let id = builder.add_text_field("id", STRING);
        let db_id = builder.add_text_field("db_id", STRING);
        let masked_question = builder.add_text_field(
            "masked_question",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(MASKED_QUESTION_TOKENIZER)
                    .set_index_option(IndexRecordOption::WithFreqs),
            ),
        );
        let record = builder.add_text_field("record", STORED);
        let fields = Fields {
            id,
            db_id,
            masked_question,
            record,
        };
        (builder.build(), fields)
    }

    fn from_schema(schema: &Schema, dir: &Path) -> AgentResult<Fields> {
        let field = |name: &str| {
            schema.get_field(name).map_err(|_| AgentError::Index {
                path: dir.to_path_buf(),
                message: format!(
                    "the tantivy index has no field '{name}'; it was not built by learnat \
                     (rebuild it with `learnat index build`)"
                ),
            })
        };
        Ok(Fields {
            id: field("id")?,
            db_id: field("db_id")?,
            masked_question: field("masked_question")?,
            record: field("record")?,
        })
    }
}

/// A demonstration index opened from disk; cheap to share across threads (`Arc` it).
pub struct DemonstrationIndex {
    dir: PathBuf,
    manifest: IndexManifest,
    reader: IndexReader,
    analyzer: TextAnalyzer,
    fields: Fields,
    /// By ordinal (pool order).
    records: Vec<IndexedDemonstration>,
    /// `records` ordinal of each document, per tantivy segment.
    ordinals_by_segment: Vec<Vec<usize>>,
    /// Row-major, `records.len() × dimension`.
    embeddings: Option<Vec<f32>>,
    embedder: Option<Arc<SentenceEmbedder>>,
}

impl std::fmt::Debug for DemonstrationIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemonstrationIndex")
            .field("dir", &self.dir)
            .field("manifest", &self.manifest)
            .field("embedder", &self.embedder.is_some())
            .finish_non_exhaustive()
    }
}

impl DemonstrationIndex {
    /// Build an index over `pool` into `dir` (which must not exist, or be empty), masking each
    /// question with its database's names from `schemas`, and open it. No embeddings, no
    /// progress bars: see [`DemonstrationIndex::build_with`].
    pub fn build(pool: &[Demonstration], schemas: &SchemaWords, dir: &Path) -> AgentResult<Self> {
        Self::build_with(pool, schemas, dir, &BuildOptions::default())
    }

    /// [`DemonstrationIndex::build`] with options: embeddings of the masked questions (stored
    /// beside the index) and progress bars.
    ///
    /// Fails when `dir` exists and is not empty (remove it first, see [`remove_index_dir`]),
    /// when the pool is empty or has duplicate ids, or on any write error.
    pub fn build_with(
        pool: &[Demonstration],
        schemas: &SchemaWords,
        dir: &Path,
        options: &BuildOptions,
    ) -> AgentResult<Self> {
        let index_error = |message: String| AgentError::Index {
            path: dir.to_path_buf(),
            message,
        };
        if pool.is_empty() {
            return Err(index_error(
                "cannot build an index over an empty pool".to_string(),
            ));
        }
        if dir_has_entries(dir)? {
            return Err(index_error(
                "already exists and is not empty; remove it or pass --force to rebuild".to_string(),
            ));
        }
        let mut seen = HashSet::new();
        if let Some(duplicate) = pool.iter().find(|demo| !seen.insert(demo.id.as_str())) {
            return Err(index_error(format!(
                "the pool has the id '{}' twice; ids must be unique (exclusion works by id)",
                duplicate.id
            )));
        }

        let records = analyse_pool(pool, schemas, options.progress);
        let staging = staging_dir(dir)?;
        // Everything is written into `staging`; only a complete index is renamed to `dir`.
        let built = write_index(&staging, &records, schemas, options).and_then(|manifest| {
            if dir.exists() {
                std::fs::remove_dir(dir).map_err(|source| AgentError::Io {
                    what: "cannot replace the empty index directory",
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            std::fs::rename(&staging, dir).map_err(|source| AgentError::Io {
                what: "cannot move the built index into place at",
                path: dir.to_path_buf(),
                source,
            })?;
            Ok(manifest)
        });
        if built.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        built?;
        let mut index = Self::open(dir)?;
        if let Some(embedder) = &options.embedder {
            index.set_embedder(Arc::clone(embedder))?;
        }
        Ok(index)
    }

    /// Open the index in `dir` (no embedder: hybrid retrieval needs
    /// [`DemonstrationIndex::set_embedder`]).
    ///
    /// Fails with [`AgentError::Index`] when `dir` is missing, is not a learnat index, has
    /// another layout version, or its parts disagree (a corrupt or truncated index).
    pub fn open(dir: &Path) -> AgentResult<Self> {
        let index_error = |message: String| AgentError::Index {
            path: dir.to_path_buf(),
            message,
        };
        if !dir.is_dir() {
            return Err(index_error(
                "not found; build it with `learnat index build --pool FILE --out DIR`".to_string(),
            ));
        }
        let manifest_path = dir.join(MANIFEST_FILE);
        let manifest_text = std::fs::read_to_string(&manifest_path).map_err(|_| {
            index_error(format!(
                "has no readable {MANIFEST_FILE}: not a learnat demonstration index (build one \
                 with `learnat index build`)"
            ))
        })?;
        let manifest: IndexManifest = serde_json::from_str(&manifest_text).map_err(|error| {
            index_error(format!(
                "{MANIFEST_FILE} is corrupt ({error}); rebuild the index"
            ))
        })?;
        if manifest.format != INDEX_FORMAT || manifest.version != INDEX_VERSION {
            return Err(index_error(format!(
                "is format '{}' version {}, this learnat reads '{INDEX_FORMAT}' version \
                 {INDEX_VERSION}; rebuild the index",
                manifest.format, manifest.version
            )));
        }

        let corrupt = |what: String| {
            index_error(format!(
                "the tantivy index is corrupt or incomplete ({what}); rebuild the index"
            ))
        };
        let index = Index::open_in_dir(dir.join(TANTIVY_DIR))
            .map_err(|error| corrupt(error.to_string()))?;
        let fields = Fields::from_schema(&index.schema(), dir)?;
        let analyzer = index
            .tokenizer_for_field(fields.masked_question)
            .map_err(|error| corrupt(error.to_string()))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|error: tantivy::TantivyError| corrupt(error.to_string()))?;

        let searcher = reader.searcher();
        let mut records: Vec<Option<IndexedDemonstration>> = vec![None; manifest.demonstrations];
        let mut ordinals_by_segment = Vec::new();
        for segment in searcher.segment_readers() {
            let store = segment
                .get_store_reader(16)
                .map_err(|error| corrupt(error.to_string()))?;
            let mut ordinals = Vec::with_capacity(segment.num_docs() as usize);
            for document in store.iter::<TantivyDocument>(segment.alive_bitset()) {
                let document = document.map_err(|error| corrupt(error.to_string()))?;
                let text = document
                    .get_first(fields.record)
                    .and_then(|value| value.as_str())
                    .ok_or_else(|| corrupt("a document has no record".to_string()))?;
                let record: IndexedDemonstration = serde_json::from_str(text)
                    .map_err(|error| corrupt(format!("a record does not parse: {error}")))?;
                let ordinal = record.ordinal;
                let slot = records.get_mut(ordinal).ok_or_else(|| {
                    corrupt(format!(
                        "record {ordinal} is beyond the manifest's {} demonstrations",
                        manifest.demonstrations
                    ))
                })?;
                *slot = Some(record);
                ordinals.push(ordinal);
            }
            ordinals_by_segment.push(ordinals);
        }
        let records: Vec<IndexedDemonstration> = records
            .into_iter()
            .enumerate()
            .map(|(ordinal, record)| {
                record.ok_or_else(|| corrupt(format!("demonstration {ordinal} is missing")))
            })
            .collect::<AgentResult<_>>()?;

        let embeddings = match &manifest.embedding {
            None => None,
            Some(embedding) => Some(read_embeddings(dir, records.len(), embedding.dimension)?),
        };
        Ok(DemonstrationIndex {
            dir: dir.to_path_buf(),
            manifest,
            reader,
            analyzer,
            fields,
            records,
            ordinals_by_segment,
            embeddings,
            embedder: None,
        })
    }

    /// [`DemonstrationIndex::open`] and [`DemonstrationIndex::set_embedder`] in one call.
    pub fn open_with_embedder(dir: &Path, embedder: Arc<SentenceEmbedder>) -> AgentResult<Self> {
        let mut index = Self::open(dir)?;
        index.set_embedder(embedder)?;
        Ok(index)
    }

    /// Use `embedder` for hybrid retrieval. Fails unless the index was built with embeddings
    /// from the same model (same fingerprint and dimension).
    pub fn set_embedder(&mut self, embedder: Arc<SentenceEmbedder>) -> AgentResult<()> {
        let index_error = |message: String| AgentError::Index {
            path: self.dir.clone(),
            message,
        };
        match &self.manifest.embedding {
            None => Err(index_error(
                "was built without embeddings; rebuild it with `learnat index build --embed` \
                 for hybrid retrieval"
                    .to_string(),
            )),
            Some(stored)
                if stored.fingerprint != embedder.fingerprint()
                    || stored.dimension != embedder.dimension() =>
            {
                Err(index_error(format!(
                    "its embeddings come from model {} ({}), not from the loaded encoder ({}); \
                     rebuild the index with this encoder or load the original one",
                    stored.model,
                    stored.fingerprint,
                    embedder.fingerprint()
                )))
            }
            Some(_) => {
                self.embedder = Some(embedder);
                Ok(())
            }
        }
    }

    /// The manifest: counts and the embedding model.
    pub fn manifest(&self) -> &IndexManifest {
        &self.manifest
    }

    /// The directory the index was opened from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many demonstrations the index holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the index holds no demonstration (never true for a built index).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Whether hybrid retrieval is possible (embeddings stored and an embedder set).
    pub fn supports_hybrid(&self) -> bool {
        self.embeddings.is_some() && self.embedder.is_some()
    }

    /// The demonstrations for `query`, best first: BM25 over the masked question (excluding
    /// `exclude_db` and `exclude_ids`), re-ranked, at most k (see the module docs of
    /// [`super::rerank`] and [`super::adaptive`]). In evaluation (anything excluded) a
    /// demonstration with the very question being answered is dropped too, and among
    /// demonstrations with the same question text only the best is kept. A question with no
    /// searchable word gives no demonstrations. Deterministic: the same index and query give
    /// the same list.
    ///
    /// Fails when hybrid re-rank is asked without an embedder, or when the search itself fails.
    pub fn retrieve(&self, query: &RetrievalQuery<'_>) -> AgentResult<Vec<Retrieved>> {
        let max_k = query.k.max();
        if max_k == 0 {
            return Ok(Vec::new());
        }
        let query_embedding = match query.rerank {
            Rerank::Hybrid => Some(self.query_embedding(query)?),
            _ => None,
        };
        let masked = mask_question(query.question, query.schema_words);
        let wanted = MIN_CANDIDATES.max(max_k * CANDIDATES_PER_RESULT);
        let mut candidates = self.bm25_candidates(&masked, query, wanted)?;
        if query.is_evaluation() {
            let asked = normalized_question(query.question);
            candidates.retain(|(ordinal, _)| {
                normalized_question(&self.records[*ordinal].demonstration.question) != asked
            });
        }
        if candidates.is_empty() {
            return Ok(Vec::new());
        }

        let k = match query.k {
            KChoice::Fixed(k) => k,
            KChoice::Adaptive { max } => {
                let neighbour_levels: Vec<Option<Hardness>> = candidates
                    .iter()
                    .map(|(ordinal, _)| self.records[*ordinal].hardness)
                    .collect();
                adaptive_k(
                    estimate_hardness(query.question, query.sql_hint, &neighbour_levels),
                    max,
                )
            }
        };

        let target_skeleton = query
            .sql_hint
            .and_then(|sql| skeleton(sql, Dialect::Sqlite).ok());
        let rerank_input: Vec<Candidate<'_>> = candidates
            .iter()
            .map(|&(ordinal, bm25)| Candidate {
                bm25,
                skeleton: &self.records[ordinal].skeleton,
                embedding_similarity: query_embedding
                    .as_deref()
                    .and_then(|embedding| self.embedding_similarity(ordinal, embedding)),
            })
            .collect();
        let scores = score_candidates(&rerank_input, query.rerank, target_skeleton.as_deref());

        let mut ranked: Vec<usize> = (0..candidates.len()).collect();
        // Ties (equal score) go to the higher BM25, then to pool order: deterministic.
        ranked.sort_by(|&a, &b| {
            scores[b]
                .score
                .total_cmp(&scores[a].score)
                .then(candidates[b].1.total_cmp(&candidates[a].1))
                .then(candidates[a].0.cmp(&candidates[b].0))
        });
        let mut seen_questions = HashSet::new();
        let mut results = Vec::with_capacity(k);
        for position in ranked {
            if results.len() == k {
                break;
            }
            let (ordinal, bm25) = candidates[position];
            let record = &self.records[ordinal];
            if !seen_questions.insert(normalized_question(&record.demonstration.question)) {
                continue;
            }
            results.push(Retrieved {
                demonstration: record.demonstration.clone(),
                bm25,
                score: scores[position].score,
                skeleton_similarity: scores[position].skeleton_similarity,
                embedding_similarity: rerank_input[position].embedding_similarity,
            });
        }
        Ok(results)
    }

    /// The embedding of the masked query question, or why there is none.
    fn query_embedding(&self, query: &RetrievalQuery<'_>) -> AgentResult<Vec<f32>> {
        let embedder = match (&self.embedder, &self.embeddings) {
            (Some(embedder), Some(_)) => embedder,
            (_, None) => {
                return Err(AgentError::InvalidInput {
                    message: format!(
                        "hybrid retrieval needs embeddings, and the index at '{}' was built \
                         without them (rebuild it with `learnat index build --embed`)",
                        self.dir.display()
                    ),
                });
            }
            (None, Some(_)) => {
                return Err(AgentError::InvalidInput {
                    message: format!(
                        "hybrid retrieval needs an embedder: open the index at '{}' with \
                         DemonstrationIndex::open_with_embedder",
                        self.dir.display()
                    ),
                });
            }
        };
        embedder.embed_one(&mask_question(query.question, query.schema_words))
    }

    fn embedding_similarity(&self, ordinal: usize, query_embedding: &[f32]) -> Option<f32> {
        let embeddings = self.embeddings.as_ref()?;
        let dimension = query_embedding.len();
        let row = embeddings.get(ordinal * dimension..(ordinal + 1) * dimension)?;
        Some(cosine(row, query_embedding))
    }

    /// Up to `wanted` (ordinal, BM25) pairs, best first, for the masked question.
    fn bm25_candidates(
        &self,
        masked: &str,
        query: &RetrievalQuery<'_>,
        wanted: usize,
    ) -> AgentResult<Vec<(usize, f32)>> {
        let mut analyzer = self.analyzer.clone();
        let mut terms = Vec::new();
        let mut seen = HashSet::new();
        let mut stream = analyzer.token_stream(masked);
        while let Some(token) = stream.next() {
            if seen.insert(token.text.clone()) {
                terms.push(Term::from_field_text(
                    self.fields.masked_question,
                    &token.text,
                ));
            }
        }
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = terms
            .into_iter()
            .map(|term| {
                let clause: Box<dyn Query> =
                    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs));
                (Occur::Should, clause)
            })
            .collect();
        if let Some(db_id) = query.exclude_db {
            clauses.push((Occur::MustNot, exact_term_query(self.fields.db_id, db_id)));
        }
        for id in query.exclude_ids {
            clauses.push((Occur::MustNot, exact_term_query(self.fields.id, id)));
        }
        let searcher = self.reader.searcher();
        let hits = searcher
            .search(
                &BooleanQuery::new(clauses),
                &TopDocs::with_limit(wanted).order_by_score(),
            )
            .map_err(|error| AgentError::Index {
                path: self.dir.clone(),
                message: format!("the BM25 search failed: {error}"),
            })?;
        hits.into_iter()
            .map(|(bm25, address)| {
                self.ordinals_by_segment
                    .get(address.segment_ord as usize)
                    .and_then(|ordinals| ordinals.get(address.doc_id as usize))
                    .map(|&ordinal| (ordinal, bm25))
                    .ok_or_else(|| AgentError::Index {
                        path: self.dir.clone(),
                        message: "a search hit names an unknown document; rebuild the index"
                            .to_string(),
                    })
            })
            .collect()
    }
}

/// Remove an index directory built by learnat (for `--force` rebuilds). Refuses a directory
/// that is neither empty nor holds a [`MANIFEST_FILE`], so a mistyped `--out` cannot delete
/// unrelated files. A missing directory is not an error.
pub fn remove_index_dir(dir: &Path) -> AgentResult<()> {
    if !dir.exists() {
        return Ok(());
    }
    if dir_has_entries(dir)? && !dir.join(MANIFEST_FILE).is_file() {
        return Err(AgentError::Index {
            path: dir.to_path_buf(),
            message: format!(
                "is not empty and holds no {MANIFEST_FILE}: not a learnat index, so it is not \
                 removed (choose another --out)"
            ),
        });
    }
    std::fs::remove_dir_all(dir).map_err(|source| AgentError::Io {
        what: "cannot remove the old index directory",
        path: dir.to_path_buf(),
        source,
    })
}

fn exact_term_query(field: Field, text: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::Basic,
    ))
}

/// Lower-case words only: "How many pets?" and "how many  pets" are the same question.
fn normalized_question(question: &str) -> String {
    question
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Mask, skeleton and hardness of every demonstration (the slow part of a build: parsing SQL).
fn analyse_pool(
    pool: &[Demonstration],
    schemas: &SchemaWords,
    progress: bool,
) -> Vec<IndexedDemonstration> {
    let bar = progress_bar(progress, pool.len() as u64, "analysing");
    let records = pool
        .iter()
        .enumerate()
        .map(|(ordinal, demonstration)| {
            let masked_question =
                mask_question(&demonstration.question, schemas.get(&demonstration.db_id));
            let record = IndexedDemonstration {
                ordinal,
                masked_question,
                skeleton: skeleton(&demonstration.sql, Dialect::Sqlite).unwrap_or_default(),
                hardness: spider_hardness(&demonstration.sql).ok(),
                demonstration: demonstration.clone(),
            };
            bar.inc(1);
            record
        })
        .collect();
    bar.finish_and_clear();
    records
}

/// Write the tantivy index, the embeddings and the manifest into `dir` (a fresh staging dir).
fn write_index(
    dir: &Path,
    records: &[IndexedDemonstration],
    schemas: &SchemaWords,
    options: &BuildOptions,
) -> AgentResult<IndexManifest> {
    let index_error = |message: String| AgentError::Index {
        path: dir.to_path_buf(),
        message,
    };
    let tantivy_dir = dir.join(TANTIVY_DIR);
    std::fs::create_dir_all(&tantivy_dir).map_err(|source| AgentError::Io {
        what: "cannot create the index directory",
        path: tantivy_dir.clone(),
        source,
    })?;
    let (schema, fields) = Fields::schema();
    let index = Index::create_in_dir(&tantivy_dir, schema)
        .map_err(|error| index_error(format!("cannot create the tantivy index: {error}")))?;
    let mut writer = index
        .writer_with_num_threads::<TantivyDocument>(1, WRITER_MEMORY_BYTES)
        .map_err(|error| index_error(format!("cannot open the index writer: {error}")))?;
    let bar = progress_bar(options.progress, records.len() as u64, "indexing");
    for record in records {
        let stored = serde_json::to_string(record).map_err(|error| {
            index_error(format!(
                "cannot serialise demonstration '{}': {error}",
                record.demonstration.id
            ))
        })?;
        let mut document = TantivyDocument::new();
        document.add_text(fields.id, &record.demonstration.id);
        document.add_text(fields.db_id, &record.demonstration.db_id);
        document.add_text(fields.masked_question, &record.masked_question);
        document.add_text(fields.record, &stored);
        writer
            .add_document(document)
            .map_err(|error| index_error(format!("cannot add a document: {error}")))?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    writer
        .commit()
        .map_err(|error| index_error(format!("cannot commit the index: {error}")))?;
    writer
        .wait_merging_threads()
        .map_err(|error| index_error(format!("cannot finish the index: {error}")))?;

    let embedding = match &options.embedder {
        None => None,
        Some(embedder) => Some(write_embeddings(dir, records, embedder, options.progress)?),
    };
    let databases: HashSet<&str> = records
        .iter()
        .map(|record| record.demonstration.db_id.as_str())
        .collect();
    let manifest = IndexManifest {
        format: INDEX_FORMAT.to_string(),
        version: INDEX_VERSION,
        demonstrations: records.len(),
        databases: databases.len(),
        masked_with_schema: records
            .iter()
            .filter(|record| schemas.contains(&record.demonstration.db_id))
            .count(),
        unparsable_sql: records
            .iter()
            .filter(|record| record.skeleton.is_empty())
            .count(),
        with_steps: records
            .iter()
            .filter(|record| !record.demonstration.steps.is_empty())
            .count(),
        embedding,
    };
    let manifest_path = dir.join(MANIFEST_FILE);
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|error| index_error(format!("cannot serialise the manifest: {error}")))?;
    std::fs::write(&manifest_path, text).map_err(|source| AgentError::Io {
        what: "cannot write the index manifest",
        path: manifest_path,
        source,
    })?;
    Ok(manifest)
}

/// Embed every masked question and write the rows to [`EMBEDDINGS_FILE`].
fn write_embeddings(
    dir: &Path,
    records: &[IndexedDemonstration],
    embedder: &SentenceEmbedder,
    progress: bool,
) -> AgentResult<EmbeddingManifest> {
    let texts: Vec<&str> = records
        .iter()
        .map(|record| record.masked_question.as_str())
        .collect();
    let bar = progress_bar(progress, texts.len() as u64, "embedding");
    let embeddings = embedder.embed_all(&texts, &mut |done| bar.inc(done as u64))?;
    bar.finish_and_clear();
    let path = dir.join(EMBEDDINGS_FILE);
    let io_error = |source| AgentError::Io {
        what: "cannot write the embeddings",
        path: path.clone(),
        source,
    };
    let file = std::fs::File::create(&path).map_err(io_error)?;
    let mut writer = BufWriter::new(file);
    for embedding in &embeddings {
        for value in embedding {
            writer.write_all(&value.to_le_bytes()).map_err(io_error)?;
        }
    }
    writer.flush().map_err(io_error)?;
    Ok(EmbeddingManifest {
        model: EMBEDDING_MODEL_NAME.to_string(),
        fingerprint: embedder.fingerprint().to_string(),
        dimension: embedder.dimension(),
    })
}

/// Read [`EMBEDDINGS_FILE`], checking it holds exactly `rows × dimension` floats.
fn read_embeddings(dir: &Path, rows: usize, dimension: usize) -> AgentResult<Vec<f32>> {
    let path = dir.join(EMBEDDINGS_FILE);
    let bytes = std::fs::read(&path).map_err(|source| AgentError::Io {
        what: "cannot read the index's embeddings (rebuild the index with --embed)",
        path: path.clone(),
        source,
    })?;
    let expected = rows * dimension * 4;
    if bytes.len() != expected {
        return Err(AgentError::Index {
            path: dir.to_path_buf(),
            message: format!(
                "{EMBEDDINGS_FILE} holds {} bytes, expected {expected} ({rows} rows of \
                 {dimension} floats); rebuild the index",
                bytes.len()
            ),
        });
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect())
}

fn dir_has_entries(dir: &Path) -> AgentResult<bool> {
    if !dir.exists() {
        return Ok(false);
    }
    let mut entries = std::fs::read_dir(dir).map_err(|source| AgentError::Io {
        what: "cannot read the index directory",
        path: dir.to_path_buf(),
        source,
    })?;
    Ok(entries.next().is_some())
}

/// A fresh hidden directory beside `dir` for building into.
fn staging_dir(dir: &Path) -> AgentResult<PathBuf> {
    let parent = match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|source| AgentError::Io {
        what: "cannot create the parent of the index directory",
        path: parent.clone(),
        source,
    })?;
    let name = dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "index".to_string());
    let staging = parent.join(format!(".{name}.building-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|source| AgentError::Io {
            what: "cannot clear a stale staging directory",
            path: staging.clone(),
            source,
        })?;
    }
    std::fs::create_dir_all(&staging).map_err(|source| AgentError::Io {
        what: "cannot create the staging directory",
        path: staging.clone(),
        source,
    })?;
    Ok(staging)
}

fn progress_bar(enabled: bool, length: u64, message: &'static str) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_questions_ignore_case_and_punctuation() {
        assert_eq!(normalized_question("How many  pets?"), "how many pets");
        assert_eq!(
            normalized_question("how many pets"),
            normalized_question("How many pets ?")
        );
    }

    #[test]
    fn remove_index_dir_refuses_foreign_directories() {
        let dir = tempfile::tempdir().unwrap();
        let foreign = dir.path().join("notes");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("keep.txt"), "mine").unwrap();
        let error = remove_index_dir(&foreign).unwrap_err().to_string();
        assert!(error.contains("not a learnat index"), "{error}");
        assert!(foreign.join("keep.txt").exists());
        remove_index_dir(&dir.path().join("absent")).unwrap();
    }
}
