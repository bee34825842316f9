//! `learnat bench retrieval`: latency and quality of demonstration retrieval (ADR) over a
//! 10k-demonstration pool.
//!
//! **Pool.** Spider train (`train_spider_min.json`, 7000 items; or `--pool FILE`) padded to
//! [`BenchRetrievalOptions::pool_size`] with synthetic demonstrations, so the index has the size
//! the issue asks about: item `i` of the padding copies pool item `i mod n` under the new id
//! `synthetic#i`, its question reworded by a fixed opening swap when one applies ("What are" →
//! "Show", "How many" → "What is the number of", "List" → "Give", "Show" → "List", "Find" →
//! "Show me") and otherwise kept verbatim (a duplicate). Paraphrases and duplicates make
//! retrieval slightly harder and slower (more near-ties, more postings), never easier.
//!
//! **Queries.** Spider dev questions (the fixed subset `spider_dev_subset_300.txt` when it is
//! there, else the first ones), each masked with its own database's names, excluding its
//! database, k = 5 fixed.
//!
//! **Modes.** `bm25` (no re-rank); `skeleton` (re-rank by the neighbours' consensus skeleton:
//! what an agent without a draft gets; the latency target applies here); `skeleton+gold-draft`
//! (the gold SQL as the draft: an upper bound of what a perfect draft would give, never a
//! real setting); and `hybrid` (embedding re-rank, when the embedding model is present). Each
//! query is timed over the whole `retrieve()` call, after one warm-up pass over all queries.
//!
//! **Quality** (a proxy for usefulness that needs no model): the mean skeleton similarity
//! between the gold SQL of the query and the SQL of the retrieved demonstrations, the share of
//! queries whose first demonstration has exactly the gold skeleton, and the share with at least
//! one such demonstration among the k.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use learnat_agent::retrieval::{
    BuildOptions, Demonstration, DemonstrationIndex, KChoice, Rerank, RetrievalQuery, SchemaWords,
    SentenceEmbedder, load_pool,
};
use learnat_tools::Dialect;
use learnat_tools::sql::{skeleton, skeleton_similarity};
use serde::Serialize;

use crate::dataset::load_spider;
use crate::error::{BenchError, BenchResult};
use crate::machine::Machine;

/// The target for the p50 of BM25 retrieval (with the skeleton re-rank), k = 5, 10k pool.
pub const TARGET_P50_MS: f64 = 2.0;

/// Settings of one run.
#[derive(Debug, Clone)]
pub struct BenchRetrievalOptions {
    /// Spider directory: train_spider_min.json (the default pool), dev.json, tables.json.
    pub spider_dir: PathBuf,
    /// The pool file; `None` is Spider train.
    pub pool: Option<PathBuf>,
    /// Pad the pool with synthetic demonstrations up to this many (no padding when the pool is
    /// larger already).
    pub pool_size: usize,
    /// How many dev questions to query with.
    pub queries: usize,
    /// Demonstrations per query.
    pub k: usize,
    /// The embedding model directory for the hybrid mode; `None` skips it.
    pub embedding_dir: Option<PathBuf>,
    /// Draw progress bars while building.
    pub progress: bool,
}

impl BenchRetrievalOptions {
    /// The settings: Spider train padded to 10 000, 300 queries, k = 5, no hybrid.
    pub fn new(spider_dir: PathBuf) -> BenchRetrievalOptions {
        BenchRetrievalOptions {
            spider_dir,
            pool: None,
            pool_size: 10_000,
            queries: 300,
            k: 5,
            embedding_dir: None,
            progress: false,
        }
    }
}

/// Latency and quality of one retrieval mode.
#[derive(Debug, Clone, Serialize)]
pub struct ModeReport {
    /// `bm25`, `skeleton`, `skeleton+gold-draft` or `hybrid`.
    pub mode: String,
    /// Median latency of one `retrieve()`, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
    /// Mean skeleton similarity of the retrieved demonstrations' SQL to the gold SQL.
    pub mean_skeleton_similarity: f64,
    /// Share of queries whose first demonstration has the gold skeleton.
    pub exact_skeleton_at_1: f64,
    /// Share of queries with the gold skeleton among the k demonstrations.
    pub exact_skeleton_at_k: f64,
    /// Mean number of demonstrations returned.
    pub mean_returned: f64,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct RetrievalBenchReport {
    /// Where it ran.
    pub machine: Machine,
    /// The pool file.
    pub pool_file: PathBuf,
    /// Demonstrations read from it.
    pub pool_read: usize,
    /// Synthetic demonstrations added.
    pub synthetic_added: usize,
    /// Wall time of the BM25 index build (masking, skeletons, tantivy), seconds.
    pub build_seconds: f64,
    /// Wall time of the build with embeddings, seconds (hybrid only).
    pub build_with_embeddings_seconds: Option<f64>,
    /// Opening the built index (reading the demonstrations into memory), ms.
    pub open_ms: f64,
    /// Queries per mode.
    pub queries: usize,
    /// Demonstrations per query.
    pub k: usize,
    /// One entry per mode.
    pub modes: Vec<ModeReport>,
    /// Median of embedding one masked question alone, ms (hybrid only).
    pub embed_question_p50_ms: Option<f64>,
    /// `hybrid` p50 minus `skeleton` p50, ms (hybrid only).
    pub hybrid_added_p50_ms: Option<f64>,
    /// Whether the `skeleton` p50 is under [`TARGET_P50_MS`].
    pub meets_target: bool,
}

/// One query: the dev question, its database's names, its gold SQL and skeleton.
struct BenchQuery {
    question: String,
    db_id: String,
    names: Vec<String>,
    gold_sql: String,
    gold_skeleton: String,
}

/// Run the benchmark (module docs).
pub fn run_bench_retrieval(options: &BenchRetrievalOptions) -> BenchResult<RetrievalBenchReport> {
    let agent_error = |error: learnat_agent::AgentError| BenchError::Invalid(error.to_string());
    let pool_file = options
        .pool
        .clone()
        .unwrap_or_else(|| options.spider_dir.join("train_spider_min.json"));
    let read = load_pool(&pool_file).map_err(agent_error)?;
    let pool_read = read.len();
    let pool = pad_pool(read, options.pool_size);
    let synthetic_added = pool.len() - pool_read;
    let schemas = SchemaWords::from_spider_tables(&options.spider_dir.join("tables.json"))
        .map_err(agent_error)?;
    let queries = bench_queries(options, &schemas)?;
    if queries.is_empty() {
        return Err(BenchError::NoData(
            "no Spider dev question to query with (is dev.json empty?)".into(),
        ));
    }

    let work = tempfile::tempdir().map_err(|source| BenchError::Write {
        path: std::env::temp_dir(),
        source,
    })?;
    let started = Instant::now();
    let built = DemonstrationIndex::build_with(
        &pool,
        &schemas,
        &work.path().join("bm25"),
        &BuildOptions {
            embedder: None,
            progress: options.progress,
        },
    )
    .map_err(agent_error)?;
    let build_seconds = started.elapsed().as_secs_f64();
    drop(built);
    let started = Instant::now();
    let index = DemonstrationIndex::open(&work.path().join("bm25")).map_err(agent_error)?;
    let open_ms = started.elapsed().as_secs_f64() * 1e3;

    let mut modes = vec![
        measure(&index, &queries, options.k, Rerank::Bm25, false)?,
        measure(&index, &queries, options.k, Rerank::Skeleton, false)?,
        measure(&index, &queries, options.k, Rerank::Skeleton, true)?,
    ];
    let skeleton_p50 = modes[1].p50_ms;

    let mut build_with_embeddings_seconds = None;
    let mut embed_question_p50_ms = None;
    let mut hybrid_added_p50_ms = None;
    if let Some(dir) = &options.embedding_dir {
        let embedder = Arc::new(SentenceEmbedder::load(dir).map_err(agent_error)?);
        let started = Instant::now();
        let hybrid_index = DemonstrationIndex::build_with(
            &pool,
            &schemas,
            &work.path().join("hybrid"),
            &BuildOptions {
                embedder: Some(Arc::clone(&embedder)),
                progress: options.progress,
            },
        )
        .map_err(agent_error)?;
        build_with_embeddings_seconds = Some(started.elapsed().as_secs_f64());
        let mut embed_times = Vec::with_capacity(queries.len());
        for query in &queries {
            let masked = learnat_agent::retrieval::mask_question(&query.question, &query.names);
            let started = Instant::now();
            embedder.embed_one(&masked).map_err(agent_error)?;
            embed_times.push(started.elapsed().as_secs_f64() * 1e3);
        }
        embed_question_p50_ms = Some(percentile(&mut embed_times, 0.5));
        let hybrid = measure(&hybrid_index, &queries, options.k, Rerank::Hybrid, false)?;
        hybrid_added_p50_ms = Some(hybrid.p50_ms - skeleton_p50);
        modes.push(hybrid);
    }

    Ok(RetrievalBenchReport {
        machine: Machine::current(),
        pool_file,
        pool_read,
        synthetic_added,
        build_seconds,
        build_with_embeddings_seconds,
        open_ms,
        queries: queries.len(),
        k: options.k,
        modes,
        embed_question_p50_ms,
        hybrid_added_p50_ms,
        meets_target: skeleton_p50 < TARGET_P50_MS,
    })
}

/// Time and score every query under one mode (after one untimed warm-up pass).
fn measure(
    index: &DemonstrationIndex,
    queries: &[BenchQuery],
    k: usize,
    rerank: Rerank,
    gold_draft: bool,
) -> BenchResult<ModeReport> {
    let run = |query: &BenchQuery| {
        index
            .retrieve(&RetrievalQuery {
                schema_words: &query.names,
                exclude_db: Some(&query.db_id),
                k: KChoice::Fixed(k),
                rerank,
                sql_hint: gold_draft.then_some(query.gold_sql.as_str()),
                ..RetrievalQuery::new(&query.question)
            })
            .map_err(|error| BenchError::Invalid(error.to_string()))
    };
    for query in queries {
        run(query)?;
    }
    let mut times = Vec::with_capacity(queries.len());
    let mut similarity_sum = 0.0;
    let mut similarity_count = 0usize;
    let mut exact_first = 0usize;
    let mut exact_any = 0usize;
    let mut returned = 0usize;
    for query in queries {
        let started = Instant::now();
        let results = run(query)?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
        returned += results.len();
        let skeletons: Vec<String> = results
            .iter()
            .map(|item| skeleton(&item.demonstration.sql, Dialect::Sqlite).unwrap_or_default())
            .collect();
        for found in &skeletons {
            similarity_sum += skeleton_similarity(found, &query.gold_skeleton);
            similarity_count += 1;
        }
        if skeletons.first() == Some(&query.gold_skeleton) {
            exact_first += 1;
        }
        if skeletons.contains(&query.gold_skeleton) {
            exact_any += 1;
        }
    }
    let count = queries.len() as f64;
    let mean_ms = times.iter().sum::<f64>() / count;
    let name = match (rerank, gold_draft) {
        (Rerank::Skeleton, true) => "skeleton+gold-draft".to_string(),
        (mode, _) => mode.as_str().to_string(),
    };
    Ok(ModeReport {
        mode: name,
        p50_ms: percentile(&mut times.clone(), 0.5),
        p95_ms: percentile(&mut times, 0.95),
        mean_ms,
        mean_skeleton_similarity: if similarity_count == 0 {
            0.0
        } else {
            similarity_sum / similarity_count as f64
        },
        exact_skeleton_at_1: exact_first as f64 / count,
        exact_skeleton_at_k: exact_any as f64 / count,
        mean_returned: returned as f64 / count,
    })
}

/// The dev questions to query with: the fixed subset when present, else the first ones.
fn bench_queries(
    options: &BenchRetrievalOptions,
    schemas: &SchemaWords,
) -> BenchResult<Vec<BenchQuery>> {
    let dev = load_spider(&options.spider_dir, "dev")?;
    let subset_file = options
        .spider_dir
        .parent()
        .map(|data| data.join("spider_dev_subset_300.txt"));
    let indices: Vec<usize> = match subset_file.filter(|file| file.is_file()) {
        Some(file) => read_subset(&file)?,
        None => (0..dev.questions.len()).collect(),
    };
    let mut queries = Vec::new();
    for index in indices.into_iter().take(options.queries) {
        let Some(question) = dev.questions.get(index) else {
            return Err(BenchError::Invalid(format!(
                "the subset names dev question {index}, but dev.json has {}",
                dev.questions.len()
            )));
        };
        queries.push(BenchQuery {
            question: question.question.clone(),
            db_id: question.db_id.clone(),
            names: schemas.get(&question.db_id).to_vec(),
            gold_skeleton: skeleton(&question.gold_sql, Dialect::Sqlite).unwrap_or_default(),
            gold_sql: question.gold_sql.clone(),
        });
    }
    Ok(queries)
}

fn read_subset(file: &Path) -> BenchResult<Vec<usize>> {
    let text = std::fs::read_to_string(file).map_err(|source| BenchError::read(file, source))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(number, line)| {
            line.trim().parse().map_err(|_| BenchError::Format {
                path: file.to_path_buf(),
                line: number + 1,
                message: format!("'{line}' is not a question index"),
            })
        })
        .collect()
}

/// Pad `pool` to `size` with reworded copies and duplicates (module docs).
pub fn pad_pool(mut pool: Vec<Demonstration>, size: usize) -> Vec<Demonstration> {
    let original = pool.len();
    if original == 0 {
        return pool;
    }
    for index in 0..size.saturating_sub(original) {
        let mut copy = pool[index % original].clone();
        copy.id = format!("synthetic#{index}");
        copy.question = reword(&copy.question);
        pool.push(copy);
    }
    pool
}

/// The fixed opening swaps of the padding.
fn reword(question: &str) -> String {
    const SWAPS: [(&str, &str); 5] = [
        ("What are ", "Show "),
        ("How many ", "What is the number of "),
        ("List ", "Give "),
        ("Show ", "List "),
        ("Find ", "Show me "),
    ];
    SWAPS
        .iter()
        .find_map(|(from, to)| {
            question
                .strip_prefix(from)
                .map(|rest| format!("{to}{rest}"))
        })
        .unwrap_or_else(|| question.to_string())
}

/// The `q` quantile (nearest rank) of `values`, which it sorts.
fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() as f64 * q).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

impl fmt::Display for RetrievalBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "retrieval benchmark on {}", self.machine)?;
        writeln!(
            f,
            "pool: {} from {} + {} synthetic = {} demonstrations; {} Spider dev queries, k = {}",
            self.pool_read,
            self.pool_file.display(),
            self.synthetic_added,
            self.pool_read + self.synthetic_added,
            self.queries,
            self.k
        )?;
        write!(
            f,
            "build {:.1} s, open {:.0} ms",
            self.build_seconds, self.open_ms
        )?;
        if let Some(seconds) = self.build_with_embeddings_seconds {
            write!(f, "; build with embeddings {seconds:.1} s")?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:<20} {:>8} {:>8} {:>8} {:>10} {:>9} {:>9}",
            "mode", "p50 ms", "p95 ms", "mean ms", "skel sim", "exact@1", "exact@k"
        )?;
        for mode in &self.modes {
            writeln!(
                f,
                "{:<20} {:>8.3} {:>8.3} {:>8.3} {:>10.3} {:>8.1}% {:>8.1}%",
                mode.mode,
                mode.p50_ms,
                mode.p95_ms,
                mode.mean_ms,
                mode.mean_skeleton_similarity,
                100.0 * mode.exact_skeleton_at_1,
                100.0 * mode.exact_skeleton_at_k
            )?;
        }
        if let (Some(embed), Some(added)) = (self.embed_question_p50_ms, self.hybrid_added_p50_ms) {
            writeln!(
                f,
                "hybrid re-rank adds {added:.2} ms at p50 (embedding the question alone: \
                 {embed:.2} ms)"
            )?;
        }
        let skeleton_p50 = self
            .modes
            .iter()
            .find(|mode| mode.mode == "skeleton")
            .map_or(f64::NAN, |mode| mode.p50_ms);
        writeln!(
            f,
            "target: skeleton p50 < {TARGET_P50_MS} ms: {} ({skeleton_p50:.3} ms)",
            if self.meets_target { "met" } else { "NOT met" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_rewords_or_duplicates_with_new_ids() {
        let demo = |id: &str, question: &str| Demonstration {
            id: id.into(),
            db_id: "d".into(),
            question: question.into(),
            sql: "SELECT 1".into(),
            steps: Vec::new(),
        };
        let pool = pad_pool(
            vec![demo("a", "How many pets?"), demo("b", "Name the pets.")],
            5,
        );
        let questions: Vec<&str> = pool.iter().map(|item| item.question.as_str()).collect();
        assert_eq!(
            questions,
            [
                "How many pets?",
                "Name the pets.",
                "What is the number of pets?",
                "Name the pets.",
                "What is the number of pets?"
            ]
        );
        assert_eq!(pool[4].id, "synthetic#2");
        assert_eq!(pad_pool(pool.clone(), 3).len(), 5);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut values = vec![5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(percentile(&mut values, 0.5), 3.0);
        assert_eq!(percentile(&mut values, 0.95), 5.0);
        assert_eq!(percentile(&mut [], 0.5), 0.0);
    }
}
