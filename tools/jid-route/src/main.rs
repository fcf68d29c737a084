//! jid-route: route stanza lines to stdout, files, commands and a directory tree. See `jid-route --help`.

fn main() -> std::process::ExitCode {
    xmpp_pipes::exit::run("jid-route", || {
        jid_route::run(std::env::args_os().skip(1).collect())
    })
}
