//! The tenant's configuration server (`ixs config-server`).
//!
//! - [`settings`]: the server's own settings.

pub mod settings;

pub use settings::Settings;
