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
    /// Once per process, first removes such directories left behind by
    /// test processes that no longer exist (e.g. killed or aborted).
    pub fn new(prefix: &str) -> TempDir {
        static SWEEP: std::sync::Once = std::sync::Once::new();
        SWEEP.call_once(sweep_stale);
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

/// Removes `xmpp-pipes-<prefix>-<pid>x…` directories whose process is gone.
fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("xmpp-pipes-")) else {
            continue;
        };
        let pid = rest
            .rsplit('-')
            .next()
            .and_then(|s| s.split('x').next())
            .and_then(|s| s.parse::<u32>().ok());
        if let Some(pid) = pid {
            if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}
