//! xmpp-auth: log in on the stream on fds 6/7 and hand it on. See `xmpp-auth --help`.

fn main() -> std::process::ExitCode {
    xmpp_pipes::exit::run("xmpp-auth", || {
        xmpp_auth::run(std::env::args_os().skip(1).collect())
    })
}
