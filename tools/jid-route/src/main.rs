//! jid-route: route stanza lines to stdout, files, commands and a directory tree. See `jid-route --help`.

fn main() -> std::process::ExitCode {
    // Over RLIMIT_FSIZE a write fails with EFBIG, which is reported and
    // ends the run (74), instead of SIGXFSZ killing us without a word.
    // SAFETY: setting a signal to SIG_IGN before any thread exists.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    xmpp_pipes::exit::run("jid-route", || {
        jid_route::run(std::env::args_os().skip(1).collect())
    })
}
