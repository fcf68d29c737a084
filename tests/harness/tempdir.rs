//! A temporary directory removed on drop.

use std::path::{Path, PathBuf};

/// A fresh directory under `std::env::temp_dir()`, removed with its contents
/// when dropped.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Makes a new directory named `xmpp-pipes-<prefix>-<unique>`.
    pub fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(crate::unique(&format!("xmpp-pipes-{prefix}-")));
        std::fs::create_dir(&path)
            .unwrap_or_else(|e| panic!("create temp dir {}: {e}", path.display()));
        TempDir { path }
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `self.path().join(name)`.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
