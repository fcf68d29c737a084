//! xmpp-connect: connect to an XMPP server and hand the stream on. See `xmpp-connect --help`.

fn main() -> std::process::ExitCode {
    xmpp_pipes::exit::run("xmpp-connect", || {
        xmpp_connect::run(std::env::args_os().skip(1).collect())
    })
}
