//! Adaptive Demonstration Reasoning (ADR): retrieving the few worked examples a prompt shows the
//! model, from a pool of (question, SQL, decomposition) demonstrations.
//!
//! The method (LearNAT's ADR, with DAIL-SQL's masked-question similarity):
//!
//! 1. **Mask** ([`mask`]): the question's table / column names become `<mask>` and its values
//!    `<unk>`, so questions over different databases that ask the same kind of thing look alike.
//! 2. **BM25** ([`index`]): a tantivy index over the masked questions of the pool finds the
//!    candidates, never from the database being evaluated nor the question itself.
//! 3. **Re-rank** ([`rerank`]): by SQL skeleton similarity to a draft SQL (or, without one, to the
//!    skeleton the nearest neighbours agree on); optionally ([`Rerank::Hybrid`]) mixing in the
//!    cosine of all-MiniLM-L6-v2 sentence embeddings computed in candle ([`embedding`]).
//! 4. **Adaptive k** ([`adaptive`]): fewer demonstrations for simple questions, more for hard
//!    ones, from the draft's or the neighbours' Spider hardness.
//!
//! [`IndexDemonstrations`] ([`source`]) plugs an index into the decompose strategy as its
//! [`crate::strategy::DemonstrationSource`].
//!
//! Pools ([`pool`]) are Spider's train JSON or JSONL of [`Demonstration`]s with decompositions
//! (what the decomposition synthesis writes). An index is built once
//! (`learnat index build --pool FILE --out DIR [--embed]`) and opened from disk.
//!
//! ```no_run
//! use std::path::Path;
//! use learnat_agent::retrieval::{
//!     DemonstrationIndex, KChoice, RetrievalQuery, SchemaWords, load_pool,
//! };
//! # fn main() -> learnat_agent::AgentResult<()> {
//! let spider = Path::new("../shared/data/spider");
//! let pool = load_pool(&spider.join("train_spider_min.json"))?;
//! let schemas = SchemaWords::from_spider_tables(&spider.join("tables.json"))?;
//! let index = DemonstrationIndex::build(&pool, &schemas, Path::new("/tmp/spider-train-index"))?;
//! // Later, in another process: DemonstrationIndex::open(Path::new("/tmp/spider-train-index"))
//! let names = schemas.get("concert_singer").to_vec();
//! let demonstrations = index.retrieve(&RetrievalQuery {
//!     schema_words: &names,
//!     exclude_db: Some("concert_singer"),
//!     k: KChoice::Adaptive { max: 5 },
//!     ..RetrievalQuery::new("How many singers are older than 40?")
//! })?;
//! for retrieved in &demonstrations {
//!     println!("{:.2} {}", retrieved.score, retrieved.demonstration.sql);
//! }
//! # Ok(())
//! # }
//! ```

pub mod adaptive;
pub mod embedding;
pub mod index;
pub mod mask;
pub mod pool;
pub mod rerank;
pub mod source;

pub use adaptive::{KChoice, adaptive_k, estimate_hardness};
pub use embedding::{
    SentenceEmbedder, default_embedding_dir, embedding_model_present, fetch_embedding_model,
};
pub use index::{
    BuildOptions, DemonstrationIndex, IndexManifest, RetrievalQuery, Retrieved, remove_index_dir,
};
pub use mask::mask_question;
pub use pool::{DemoStep, Demonstration, SchemaWords, load_pool};
pub use rerank::Rerank;
pub use source::IndexDemonstrations;
