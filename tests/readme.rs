//! Every command block of README.md runs: the ones a test elsewhere covers
//! say so in a `<!-- tested by: FILE -->` line above them (and FILE must
//! exist), all the others run here, as written, against a Prosody of their
//! own. The only changes are the ones a reader makes for their own site:
//! example.org is the test server (`localhost`, reached through `XMPP_HOST`
//! and trusted through `XMPP_CAFILE`), the accounts the README names exist
//! there with those names, HOME holds the password files at the paths the
//! README uses, and endless inputs (`sleep infinity`, `tail -f`) end.

use harness::{login, run, tool, Prosody, Spawned, TempDir, Transport};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(60);

/// One ```sh block of the README.
struct Block {
    /// Where it starts (1-based line number of the fence).
    line: usize,
    /// The `tested by:` note above it, if any.
    tested_by: Option<String>,
    /// Its text.
    text: String,
}

fn readme_blocks() -> Vec<Block> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    let mut blocks = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        if lines[index].trim() == "```sh" {
            let tested_by = index
                .checked_sub(1)
                .and_then(|above| lines[above].trim().strip_prefix("<!-- tested by:"))
                .map(|note| note.trim_end_matches("-->").trim().to_owned());
            let start = index;
            let mut text = String::new();
            index += 1;
            while index < lines.len() && lines[index].trim() != "```" {
                text.push_str(lines[index]);
                text.push('\n');
                index += 1;
            }
            blocks.push(Block {
                line: start + 1,
                tested_by,
                text,
            });
        }
        index += 1;
    }
    blocks
}

#[test]
fn blocks_tested_elsewhere_name_a_test_that_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let blocks = readme_blocks();
    assert!(blocks.len() >= 10, "found only {} blocks", blocks.len());
    for block in blocks {
        if let Some(note) = block.tested_by {
            let file = note.split_whitespace().next().unwrap_or_default();
            assert!(
                file == "CI" || root.join(file).is_file(),
                "README.md:{}: 'tested by: {note}' names no file",
                block.line
            );
        }
    }
}

/// The reader's site: a private Prosody with the README's accounts.
struct Site {
    prosody: Prosody,
    home: TempDir,
    work: TempDir,
    pin: String,
}

impl Site {
    fn new() -> Site {
        let prosody = Prosody::start();
        let home = TempDir::new("readme-home");
        let work = TempDir::new("readme-work");
        let pass_dir = home.join(".config/xmpp");
        std::fs::create_dir_all(&pass_dir).unwrap();
        for user in ["bot", "admin", "boss", "alice", "bob"] {
            let account = prosody.account(user);
            std::fs::copy(
                &account.password_file,
                pass_dir.join(format!("{user}.pass")),
            )
            .unwrap();
        }
        std::fs::write(
            work.join("message.xml"),
            "<message to='admin@localhost'><body>from the README</body></message>\n",
        )
        .unwrap();
        std::fs::write(work.join("backup.log"), "backup done\n").unwrap();
        // The README's relative paths (examples/notify) are from a checkout.
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        std::os::unix::fs::symlink(examples, work.join("examples")).unwrap();
        let pin = prosody.pki().pin.clone();
        Site {
            prosody,
            home,
            work,
            pin,
        }
    }

    /// What a reader would change in a README command for this site.
    fn localise(&self, text: &str) -> String {
        text.replace("sha256:BASE64OFTHEKEY", &self.pin)
            .replace(
                "/etc/ssl/my-ca.pem",
                &self.prosody.ca_pem().display().to_string(),
            )
            .replace("sleep infinity", "sleep 1")
            .replace("tail -f /var/log/alerts", "printf 'disk full\\n'")
            .replace("example.org", "localhost")
    }

    /// Run one block with bash (errexit, pipefail), tools and examples on PATH.
    fn run_block(&self, block: &Block) {
        let script = self.localise(&block.text);
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let tools: PathBuf = tool("xmpp-connect").parent().unwrap().to_owned();
        let path = std::env::join_paths([tools, root.to_owned()].into_iter().chain(
            std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
        ))
        .unwrap();
        let mut command = Command::new("bash");
        command
            .args(["-euo", "pipefail", "-c", &script])
            .current_dir(self.work.path())
            .env("PATH", path)
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env(
                "XMPP_HOST",
                format!("127.0.0.1:{}", self.prosody.starttls_port()),
            )
            .env("XMPP_CAFILE", self.prosody.ca_pem())
            .env("XMPP_JID", "bot@localhost")
            .env(
                "XMPP_PASSWORD_FILE",
                self.home.join(".config/xmpp/bot.pass"),
            );
        let output = run(command, b"", LIMIT);
        assert_eq!(
            output.code(),
            Some(0),
            "README.md:{}: the block failed:\n{script}\n{output}",
            block.line
        );
    }
}

#[test]
fn every_other_block_runs_as_written() {
    let site = Site::new();
    // The room the README posts to exists, with someone in it.
    let watcher = site.prosody.account("watcher");
    let mut room = Spawned::start(login(
        &site.prosody,
        &watcher,
        Transport::StartTls,
        &[
            "--join",
            "ops@conference.localhost/watcher",
            "--create-rooms",
        ],
    ));
    room.expect_line(LIMIT, |line| line.contains("status code='110'"));

    let blocks: Vec<Block> = readme_blocks()
        .into_iter()
        .filter(|block| block.tested_by.is_none())
        .collect();
    assert!(blocks.len() >= 6, "only {} blocks to run", blocks.len());
    for block in &blocks {
        site.run_block(block);
    }
    // The room notifier's post arrived.
    room.expect_line(LIMIT, |line| {
        line.contains("backup done") && line.contains("/backup'")
    });
}
