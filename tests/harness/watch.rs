//! Waiting for a file to say something, woken by inotify: no sleeps, no
//! polling loop. The tests of the directory tree wait on what jid-route and
//! stanza-fmt write, the way a user's `tail -f` would.

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use std::path::Path;
use std::time::{Duration, Instant};

/// How many directories above the file are watched for it (and its parents) to appear.
const ANCESTORS: usize = 3;

/// Wait until the file at `path` exists and its text satisfies `ready`;
/// returns that text. Panics with what the file held after `timeout`.
pub fn wait_for_file(path: &Path, timeout: Duration, ready: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        // Watch first, look second: a change between the two still wakes us.
        let inotify =
            inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).expect("inotify_init");
        let dir_events = WatchFlags::CREATE
            | WatchFlags::MOVED_TO
            | WatchFlags::MODIFY
            | WatchFlags::CLOSE_WRITE;
        for dir in path.ancestors().skip(1).take(ANCESTORS) {
            let _ = inotify::add_watch(&inotify, dir, dir_events);
        }
        let _ = inotify::add_watch(&inotify, path, WatchFlags::MODIFY | WatchFlags::CLOSE_WRITE);
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if ready(&text) {
            return text;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            panic!(
                "timed out after {timeout:?} waiting for {} to be ready; it holds:\n{text}",
                path.display()
            );
        }
        let mut fds = [PollFd::new(&inotify, PollFlags::IN)];
        let limit = Timespec::try_from(left).expect("timeout fits a timespec");
        let _ = poll(&mut fds, Some(&limit));
    }
}

/// Wait until `path` exists (a file, a directory or a named pipe).
pub fn wait_for_path(path: &Path, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let inotify =
            inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).expect("inotify_init");
        for dir in path.ancestors().skip(1).take(ANCESTORS) {
            let _ = inotify::add_watch(&inotify, dir, WatchFlags::CREATE | WatchFlags::MOVED_TO);
        }
        if path.symlink_metadata().is_ok() {
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "timed out waiting for {} to appear",
            path.display()
        );
        let mut fds = [PollFd::new(&inotify, PollFlags::IN)];
        let limit = Timespec::try_from(left).expect("timeout fits a timespec");
        let _ = poll(&mut fds, Some(&limit));
    }
}
