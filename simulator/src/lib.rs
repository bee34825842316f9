//! learnat-simulator: interactive task format, the function-driven user simulator and the
//! c-interact / a-interact protocols.
//!
//! Empty so far: the simulator builds on the agent crate, which comes first (see `ARCHITECTURE.md`).
