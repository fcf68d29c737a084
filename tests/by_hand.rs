//! A server for a walk-through by hand, as a new user would take one
//! (ignored: it waits for you). `cargo test --test by_hand -- --ignored
//! --nocapture` starts the harness Prosody (carbons, the archive, group
//! chat with its archive, HTTP upload; its own ports and CA) with four
//! throwaway accounts, writes the shell variables that reach them to
//! `$WALK_DIR/env` (default `/tmp/xmpp-pipes-walk`), and keeps the server
//! until `$WALK_DIR/done` exists (or an hour has passed):
//!
//! ```text
//! . /tmp/xmpp-pipes-walk/env
//! ii-client run ~/xmpp "$BOB" "$BOB_PW" --host "127.0.0.1:$PORT" --cafile "$CA" &
//! touch /tmp/xmpp-pipes-walk/done
//! ```

use harness::{wait_for_file, Prosody};
use std::path::PathBuf;
use std::time::Duration;

#[test]
#[ignore = "by hand: a server for a walk-through; see the module documentation"]
fn a_server_for_a_walk_through_by_hand() {
    let dir = PathBuf::from(
        std::env::var_os("WALK_DIR").unwrap_or_else(|| "/tmp/xmpp-pipes-walk".into()),
    );
    std::fs::create_dir_all(&dir).expect("the walk's directory");
    let _ = std::fs::remove_file(dir.join("done"));
    let prosody = Prosody::start();
    let mut env = format!(
        "PORT={}\nDIRECT_PORT={}\nCA='{}'\nMUC={}\n",
        prosody.starttls_port(),
        prosody.direct_tls_port(),
        prosody.ca_pem().display(),
        prosody.muc_domain()
    );
    for name in ["alice", "bob", "eve", "carol"] {
        let account = prosody.new_account(name);
        let upper = name.to_uppercase();
        env.push_str(&format!(
            "{upper}={}\n{upper}_PW='{}'\n",
            account.jid,
            account.password_file.display()
        ));
    }
    std::fs::write(dir.join("env"), &env).expect("the walk's env");
    eprintln!("by hand: . {}/env\n{env}", dir.display());
    let done = dir.join("done");
    wait_for_file(&done, Duration::from_secs(3600), |_| done.exists());
}
