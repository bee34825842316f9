//! learnat-trainer: decomposition synthesis (MCTS with AST-guided pruning), preference pairs and
//! SFT / MDPO / GRPO on LoRA adapters.

pub mod train;
