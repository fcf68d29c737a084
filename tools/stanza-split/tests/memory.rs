//! Memory is bounded by the largest stanza, never by the length of the
//! stream: a 2 GiB element (generated as it is written, never held in
//! memory) is refused after a little over --max-stanza bytes, and a long
//! stream of many small stanzas passes; the child's peak RSS is measured with
//! wait4(2).

mod common;
use common::{start, HEADER, LIMIT};
use std::io::{Read, Write};
use std::sync::mpsc;
use std::thread;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// A finished child: exit code, peak RSS (bytes), stdout, stderr, bytes it accepted.
struct Measured {
    code: Option<i32>,
    max_rss: u64,
    stdout: String,
    stderr: String,
    written: u64,
}

/// Run stanza-split with `args`; `feed` writes its stdin (and returns how
/// many bytes were accepted); `sink` consumes its stdout.
fn measure(
    args: &[&str],
    feed: impl FnOnce(&mut dyn Write) -> u64 + Send + 'static,
    sink: impl FnOnce(&mut dyn Read) -> String + Send + 'static,
) -> Measured {
    let mut child = start(args);
    let pid = child.id() as libc::pid_t;
    let mut stdin = child.stdin.take().unwrap();
    let writer = thread::spawn(move || feed(&mut stdin));
    let mut stdout = child.stdout.take().unwrap();
    let reader = thread::spawn(move || sink(&mut stdout));
    let mut stderr = child.stderr.take().unwrap();
    let errors = thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    // Reap the child with wait4 to get its own resource usage (std's
    // Child::wait does not give it); `child` is never waited for by std.
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut status = 0;
        // SAFETY: plain syscall wrapper; rusage is plain old data.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        assert_eq!(rc, pid, "wait4: {}", std::io::Error::last_os_error());
        let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
        let _ = tx.send((code, usage.ru_maxrss as u64 * 1024));
    });
    let (code, max_rss) = rx.recv_timeout(LIMIT * 2).unwrap_or_else(|_| {
        let _ = child.kill();
        panic!("stanza-split did not finish in time");
    });
    drop(child);
    eprintln!(
        "stanza-split {args:?}: exit {code:?}, peak RSS {} KiB",
        max_rss / 1024
    );
    Measured {
        code,
        max_rss,
        stdout: reader.join().unwrap(),
        stderr: errors.join().unwrap(),
        written: writer.join().unwrap(),
    }
}

fn read_all(r: &mut dyn Read) -> String {
    let mut text = String::new();
    r.read_to_string(&mut text).unwrap();
    text
}

/// Write `prefix`, then `size` bytes of `filler`, then `suffix`; stop at the
/// first error (EPIPE once the child has exited). Returns bytes accepted.
fn endless(
    prefix: String,
    filler: u8,
    size: u64,
    suffix: &'static str,
) -> impl FnOnce(&mut dyn Write) -> u64 {
    move |w: &mut dyn Write| {
        let mut written = 0u64;
        if w.write_all(prefix.as_bytes()).is_err() {
            return written;
        }
        written += prefix.len() as u64;
        let block = vec![filler; 64 * 1024];
        let mut left = size;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            match w.write(&block[..n]) {
                Ok(k) => {
                    written += k as u64;
                    left -= k as u64;
                }
                Err(_) => return written,
            }
        }
        let _ = w.write_all(suffix.as_bytes());
        written
    }
}

fn check_refused(m: &Measured, max: u64) {
    eprintln!("{} bytes accepted before the refusal", m.written);
    assert_eq!(m.code, Some(65), "{}", m.stderr);
    assert_eq!(
        m.stdout, "<presence/>\n",
        "the stanza before it was written"
    );
    assert!(
        m.stderr.starts_with("stanza-split: ") && m.stderr.contains("--max-stanza"),
        "{}",
        m.stderr
    );
    assert!(
        m.stderr.contains(&format!("larger than {max} bytes")),
        "{}",
        m.stderr
    );
    assert_eq!(m.stderr.lines().count(), 1, "{}", m.stderr);
    // Read only a little past the limit: the bound, its read buffer, a pipe.
    assert!(m.written < max + 4 * MIB, "{} bytes were read", m.written);
    assert!(m.max_rss < 16 * MIB, "peak RSS {} MiB", m.max_rss / MIB);
}

#[test]
fn a_2_gib_element_is_refused_within_bounded_memory() {
    let m = measure(
        &[],
        endless(
            format!("{HEADER}<presence/><message><body>"),
            b'x',
            2 * GIB,
            "</body></message>",
        ),
        read_all,
    );
    check_refused(&m, MIB);
}

#[test]
fn a_2_gib_multibyte_text_is_refused_with_a_smaller_bound() {
    // "é" is two bytes, so every chunk boundary is a possible split.
    let m = measure(
        &["--max-stanza", "256K"],
        move |w: &mut dyn Write| {
            let mut written = 0u64;
            let start = format!("{HEADER}<presence/><message><body>");
            if w.write_all(start.as_bytes()).is_err() {
                return 0;
            }
            let block = "é".repeat(32 * 1024 + 1).into_bytes();
            let mut left = 2 * GIB;
            while left > 0 {
                // Odd-sized writes cut characters in two.
                match w.write(&block[..(block.len() - 1).min(left as usize)]) {
                    Ok(k) => {
                        written += k as u64;
                        left = left.saturating_sub(k as u64);
                    }
                    Err(_) => break,
                }
            }
            written
        },
        read_all,
    );
    check_refused(&m, 256 * 1024);
}

#[test]
fn a_2_gib_attribute_value_is_refused_within_bounded_memory() {
    let m = measure(
        &[],
        endless(
            format!("{HEADER}<presence/><message to='"),
            b'y',
            2 * GIB,
            "'/>",
        ),
        read_all,
    );
    check_refused(&m, MIB);
}

#[test]
fn a_long_stream_of_small_stanzas_passes_in_bounded_memory() {
    // 8 MiB of small stanzas (with keepalives) through a 4 KiB bound: 8000
    // times the bound, ~100k stanzas; a debug build splits ~4 MB/s, so more
    // would only slow the suite down without showing more.
    const TOTAL: u64 = 8 * MIB;
    let stanza = "<message to='a@b' type='chat'><body>0123456789 ✓</body></message>\n \n";
    let per_block = 1000;
    let block = stanza.repeat(per_block);
    let blocks = TOTAL / block.len() as u64;
    let m = measure(
        &["--max-stanza", "4K"],
        move |w: &mut dyn Write| {
            let mut written = 0;
            w.write_all(HEADER.as_bytes()).unwrap();
            for _ in 0..blocks {
                w.write_all(block.as_bytes()).unwrap();
                written += block.len() as u64;
            }
            w.write_all(b"</stream:stream>").unwrap();
            written
        },
        |r: &mut dyn Read| {
            // Count and check the lines without keeping them.
            let want = "<message to='a@b' type='chat'><body>0123456789 ✓</body></message>";
            let mut lines = 0u64;
            let mut last = String::new();
            for line in std::io::BufRead::lines(std::io::BufReader::new(r)) {
                let line = line.unwrap();
                if line != want {
                    last = line;
                    continue;
                }
                lines += 1;
            }
            format!("{lines} {last}")
        },
    );
    assert_eq!(m.code, Some(0), "{}", m.stderr);
    assert_eq!(
        m.stdout,
        format!("{} </stream:stream>", blocks * per_block as u64)
    );
    assert!(m.written >= TOTAL - MIB);
    assert!(m.max_rss < 16 * MIB, "peak RSS {} MiB", m.max_rss / MIB);
}
