//! learnat-trainer: turns training questions into training data for the student model, and
//! trains it.
//!
//! - [`synth`]: LearNAT's decomposition synthesis procedure. A teacher model proposes
//!   decomposition steps, Monte Carlo tree search with AST-guided pruning (against the gold SQL,
//!   which the teacher never sees) finds trajectories that execute to the gold result, and the
//!   search tree yields SFT trajectories and step-level preference pairs (JSONL, with TRL
//!   exports).
//! - [`train`]: LoRA training on candle: SFT, DPO, MDPO and execution-reward GRPO, with PEFT
//!   adapters that the agent loads back and a merge into a re-quantized GGUF.

pub mod synth;
pub mod train;
