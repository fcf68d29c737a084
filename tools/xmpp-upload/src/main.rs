//! xmpp-upload: send a file with HTTP upload (XEP-0363). See `xmpp-upload --help`.

fn main() -> std::process::ExitCode {
    xmpp_pipes::exit::run("xmpp-upload", || {
        xmpp_upload::run(std::env::args_os().skip(1).collect())
    })
}
