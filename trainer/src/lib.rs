//! learnat-trainer: decomposition synthesis (MCTS with AST-guided pruning), preference pairs and
//! SFT / MDPO / GRPO on LoRA adapters.
//!
//! Empty so far: see `ARCHITECTURE.md` for what lands here.
