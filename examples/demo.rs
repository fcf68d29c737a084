//! The newcomer's first run: a throwaway Prosody on 127.0.0.1, a message
//! from alice@localhost to bob@localhost through the tools, and what
//! arrived in bob's directory tree; everything removed at the end.
//!
//! `./demo` installs Prosody when it is missing, builds the tools and runs
//! this; `cargo run --example demo` runs it once the tools are built
//! (`cargo build --workspace --bins`). The steps are in `harness::demo`,
//! which a test runs too.

use std::process::ExitCode;

fn main() -> ExitCode {
    match harness::demo::run(&mut std::io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("demo: {why}");
            ExitCode::FAILURE
        }
    }
}
