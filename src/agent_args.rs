//! The model, strategy and demonstration-retrieval flags shared by the commands that talk to the
//! agent (ask, repl, mcp, demo; eval and interact take [`AdrArgs`] too).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;
use learnat_agent::retrieval::{
    DemonstrationIndex, IndexDemonstrations, Rerank, SentenceEmbedder, default_embedding_dir,
    embedding_model_present,
};
use learnat_agent::strategy::{
    DecomposeWhen, DemonstrationSource, STRATEGY_NAMES, Strategy, StrategyOptions, build_strategy,
};

/// `--model SPEC --strategy NAME` and the ADR flags.
#[derive(Args)]
pub struct AgentArgs {
    /// Model spec: gguf:PATH, gguf:NAME or openai:MODEL[@BASE_URL]. Default: $LEARNAT_MODEL,
    /// the config file, else gguf:qwen2.5-coder-0.5b (`learnat model fetch qwen2.5-coder-0.5b`).
    #[arg(long)]
    pub model: Option<String>,
    /// How questions become SQL: zero-shot (the default of ask, repl and mcp: what an untrained
    /// small model does best) or decompose (LearNAT sub-questions, each sub-query executed and
    /// fed back; with --index its worked examples are retrieved; the default of demo, which
    /// shows it).
    #[arg(long)]
    pub strategy: Option<String>,
    #[command(flatten)]
    pub adr: AdrArgs,
}

/// The strategy of ask, repl and mcp when `--strategy` is not given.
pub const DEFAULT_STRATEGY: &str = "zero-shot";

impl AgentArgs {
    /// The strategy asked for, or [`DEFAULT_STRATEGY`].
    pub fn strategy_name(&self) -> &str {
        self.strategy_or(DEFAULT_STRATEGY)
    }

    /// The strategy asked for, or `default`.
    pub fn strategy_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.strategy.as_deref().unwrap_or(default)
    }

    /// The chosen strategy with `options` (ADR on when `--index` is given).
    pub fn build(&self, options: StrategyOptions) -> Result<Arc<dyn Strategy>> {
        self.adr.build(self.strategy_name(), options)
    }

    /// Strategy `name` with the options for a person asking
    /// ([`StrategyOptions::interactive`]: a failing SQL is relinked and repaired once).
    pub fn build_interactive(&self, name: &str) -> Result<Arc<dyn Strategy>> {
        self.adr.build(name, StrategyOptions::interactive(name))
    }

    /// The chosen strategy with the options for a person asking.
    pub fn build_default(&self) -> Result<Arc<dyn Strategy>> {
        self.build_interactive(self.strategy_name())
    }
}

/// Adaptive demonstration reasoning: `--index DIR [--rerank R] [--k N] [--max-k N]`.
#[derive(Args, Clone, Debug)]
pub struct AdrArgs {
    /// Demonstration index (`learnat index build`): the decompose strategy's worked examples are
    /// retrieved from it (ADR) instead of the two built-in ones. When a question names its
    /// database (eval, interact), demonstrations of that database are never retrieved.
    #[arg(long, value_name = "DIR")]
    pub index: Option<PathBuf>,
    /// With --index: how the BM25 candidates are re-ranked: skeleton (by SQL-skeleton
    /// similarity), bm25 (none), hybrid (sentence embeddings of the masked questions, then
    /// skeleton; the index must be built with --embed).
    #[arg(long, default_value = "skeleton", value_parser = parse_rerank, requires = "index")]
    pub rerank: Rerank,
    /// With --index: demonstrations per prompt; 0 chooses from the question's estimated
    /// hardness (adaptive k, up to --max-k).
    #[arg(long, default_value_t = 0, requires = "index")]
    pub k: usize,
    /// With --index: the most demonstrations adaptive k gives (3: two for easy and medium
    /// questions, three for hard and extra ones).
    #[arg(long, default_value_t = 3, requires = "index")]
    pub max_k: usize,
    /// The decompose strategy: decompose every question (always), or write a direct draft
    /// first and decompose only when it fails, returns no rows or only NULLs (auto).
    #[arg(long, default_value = "always", value_name = "always|auto",
          value_parser = parse_decompose_when)]
    pub decompose_when: DecomposeWhen,
}

fn parse_decompose_when(text: &str) -> Result<DecomposeWhen, String> {
    text.parse()
}

fn parse_rerank(text: &str) -> Result<Rerank, String> {
    text.parse().map_err(|error| format!("{error}"))
}

impl AdrArgs {
    /// The strategy `name` with `options`; with `--index`, ADR is turned on and the index opened
    /// (with the sentence embedder for `--rerank hybrid`).
    pub fn build(&self, name: &str, mut options: StrategyOptions) -> Result<Arc<dyn Strategy>> {
        if !STRATEGY_NAMES.contains(&name) {
            bail!(
                "unknown strategy '{name}' (use --strategy {})",
                STRATEGY_NAMES.join(" or ")
            );
        }
        options.decompose_when = self.decompose_when;
        let source = self.source()?;
        if source.is_some() {
            if name != "decompose" {
                bail!(
                    "--index gives the decompose strategy its worked examples; the {name} \
                     strategy shows none (use --strategy decompose)"
                );
            }
            options.adr = true;
            options.k = self.k;
        }
        Ok(build_strategy(name, options, source)?)
    }

    /// The demonstration source of `--index`, if given.
    pub fn source(&self) -> Result<Option<Arc<dyn DemonstrationSource>>> {
        let Some(dir) = &self.index else {
            return Ok(None);
        };
        if self.max_k == 0 {
            bail!("--max-k must be at least 1");
        }
        let mut index = DemonstrationIndex::open(dir)?;
        if self.rerank == Rerank::Hybrid {
            let embeddings = default_embedding_dir()?;
            if !embedding_model_present(&embeddings) {
                bail!(
                    "--rerank hybrid needs the embedding model in {}; `learnat index build \
                     --embed` fetches it",
                    embeddings.display()
                );
            }
            let embedder = SentenceEmbedder::load(&embeddings).with_context(|| {
                format!(
                    "cannot load the embedding model in {}",
                    embeddings.display()
                )
            })?;
            index.set_embedder(Arc::new(embedder))?;
        }
        let source = IndexDemonstrations::new(Arc::new(index), self.rerank, self.max_k)?;
        Ok(Some(Arc::new(source)))
    }

    /// How retrieval is set up, for run fingerprints and logs (`none` without `--index`).
    pub fn describe(&self) -> String {
        match &self.index {
            None => "none".to_string(),
            Some(dir) => format!(
                "{} rerank {} k {}",
                dir.display(),
                self.rerank.as_str(),
                match self.k {
                    0 => format!("adaptive<={}", self.max_k),
                    k => k.to_string(),
                }
            ),
        }
    }
}
