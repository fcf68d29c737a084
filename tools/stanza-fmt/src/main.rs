//! stanza-fmt: text in, stanza lines out. See `stanza-fmt --help`.

fn main() -> std::process::ExitCode {
    xmpp_pipes::exit::run("stanza-fmt", || {
        stanza_fmt::run(std::env::args_os().skip(1).collect())
    })
}
