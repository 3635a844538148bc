//! ixs: an interaction routing server.
//!
//! See `ARCHITECTURE.md` for how the modules fit together.

pub mod directory;
