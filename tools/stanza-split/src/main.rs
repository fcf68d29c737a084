//! stanza-split: an XMPP stream in, one stanza a line out. See `stanza-split --help`.

fn main() -> std::process::ExitCode {
    xmpp_pipes::exit::run("stanza-split", || {
        stanza_split::run(std::env::args_os().skip(1).collect())
    })
}
