//! Noticing that the tenant's files changed.
//!
//! Every poll interval the `*.toml` files the loader would read are listed
//! with their sizes, modification times and a SHA-256 of their contents (a
//! modification time alone misses two edits within its resolution). A change
//! is reloaded once the files look the same on two polls in a row, so that a
//! file caught half-written by an editor is not reported as an error.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::revisions::{Revisions, Trigger};

/// The state of the directory's files at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fingerprint {
    Files(BTreeMap<String, FileStamp>),
    /// The directory or one of its files could not be read.
    Unreadable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    sha256: [u8; 32],
}

impl Fingerprint {
    /// Reads the fingerprint of the files [`Directory::load`] reads in `dir`.
    ///
    /// [`Directory::load`]: crate::directory::Directory::load
    pub fn read(dir: &Path) -> Fingerprint {
        match files(dir) {
            Ok(files) => Fingerprint::Files(files),
            Err(e) => Fingerprint::Unreadable(e.to_string()),
        }
    }
}

fn files(dir: &Path) -> std::io::Result<BTreeMap<String, FileStamp>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.ends_with(".toml") || name.starts_with('.') || !path.is_file() {
            continue;
        }
        let meta = std::fs::metadata(&path)?;
        let text = std::fs::read(&path)?;
        files.insert(
            name.to_owned(),
            FileStamp {
                len: meta.len(),
                modified: meta.modified().ok(),
                sha256: Sha256::digest(&text).into(),
            },
        );
    }
    Ok(files)
}

/// Reloads `revisions` whenever its files change and then settle, until
/// `stop`.
pub async fn poll_files(revisions: Arc<Revisions>, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut settling: Option<Fingerprint> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let path = revisions.path().to_path_buf();
        let Ok(now) = tokio::task::spawn_blocking(move || Fingerprint::read(&path)).await else {
            continue;
        };
        if !revisions.files_changed(&now).await {
            settling = None;
        } else if settling.as_ref() == Some(&now) {
            settling = None;
            revisions.reload(Trigger::FileChange).await;
        } else {
            settling = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_sees_content_names_and_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), "x = 1").unwrap();
        std::fs::write(dir.path().join("notes.md"), "ignored").unwrap();
        let first = Fingerprint::read(dir.path());
        std::fs::write(dir.path().join("notes.md"), "still ignored").unwrap();
        std::fs::write(dir.path().join(".a.toml.swp"), "ignored").unwrap();
        assert_eq!(Fingerprint::read(dir.path()), first);

        // Same size, possibly the same modification time: the hash differs.
        std::fs::write(dir.path().join("a.toml"), "x = 2").unwrap();
        let second = Fingerprint::read(dir.path());
        assert_ne!(second, first);

        std::fs::write(dir.path().join("b.toml"), "").unwrap();
        assert_ne!(Fingerprint::read(dir.path()), second);

        let gone = dir.path().join("gone");
        assert!(matches!(
            Fingerprint::read(&gone),
            Fingerprint::Unreadable(_)
        ));
    }
}
