//! `make install` puts the six tools, the user commands made of the
//! example scripts (xmpp-notify, ...) and their manual pages under PREFIX
//! (or DESTDIR/PREFIX), where they run and `man` finds the pages, and
//! `make uninstall` takes them away again. `make install` is `make build`
//! (cargo) then `make install-built`; the tests run the second part on the
//! build the suite already has (`PROFILE=debug`), since a cargo build with
//! other targets selected would replace the tools other tests are running,
//! and check the first part's plan with `make -n`. The installed commands
//! find the tools beside themselves: with cron's bare environment
//! (`env -i PATH=/usr/bin:/bin`) xmpp-notify delivers, and xmpp-room-notify
//! finds xmpp-notify. `make deb` is `make build` then `make deb-built`,
//! whose package is checked with `dpkg-deb` (not installed).

use harness::long_options;
use harness::{
    find_program, online, repo_root, run, skip, tools_dir, unique, Output, Prosody, TempDir,
};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const TOOLS: [&str; 6] = [
    "xmpp-connect",
    "xmpp-auth",
    "stanza-split",
    "stanza-fmt",
    "jid-route",
    "xmpp-upload",
];
/// The scripts of examples/ as they are installed.
const COMMANDS: [(&str, &str); 5] = [
    ("notify", "xmpp-notify"),
    ("room-notify", "xmpp-room-notify"),
    ("watch-log", "xmpp-watch-log"),
    ("echo-bot", "xmpp-echo-bot"),
    ("ii-client", "xmpp-ii"),
];
const LIMIT: Duration = Duration::from_secs(300);
/// Cron's environment: nothing but its default PATH (and what a test adds).
const CRON_PATH: &str = "/usr/bin:/bin";

/// `make [FLAG] TARGET VARIABLE=VALUE...` in the repository, for the
/// build the tests use (its target directory and profile).
fn make(target: &str, variables: &[(&str, &Path)]) -> Output {
    let tools = tools_dir();
    let mut command = Command::new("make");
    command
        .current_dir(repo_root())
        .arg("--no-print-directory")
        .args(target.split(' '))
        .arg(format!("TARGET_DIR={}", tools.parent().unwrap().display()))
        .arg(format!(
            "PROFILE={}",
            tools.file_name().unwrap().to_string_lossy()
        ));
    for (name, value) in variables {
        command.arg(format!("{name}={}", value.display()));
    }
    let output = run(command, b"", LIMIT);
    output.assert_success();
    output
}

/// The mode bits of a file.
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Every name in `root/bin` and `root/share/man/man1` that `make install`
/// puts there: the tools, the commands and a page for each.
fn installed_names() -> impl Iterator<Item = &'static str> {
    TOOLS
        .into_iter()
        .chain(COMMANDS.map(|(_, command)| command))
}

/// `program args...` with cron's environment: nothing but PATH=/usr/bin:/bin.
fn cron(program: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(program);
    command.args(args).env_clear().env("PATH", CRON_PATH);
    command
}

/// Every tool in `root/bin` runs and says its version, every command runs
/// and prints its description on --help (with cron's PATH); every page is
/// in `root/share/man/man1`.
fn assert_installed(root: &Path) {
    for tool in TOOLS {
        let binary = root.join("bin").join(tool);
        assert_eq!(mode(&binary), 0o755, "{}", binary.display());
        let mut version = Command::new(&binary);
        version.arg("--version");
        let output = run(version, b"", LIMIT);
        output.assert_success();
        assert!(
            output.stdout_str().starts_with(&format!("{tool} ")),
            "{output}"
        );
    }
    for (script, command) in COMMANDS {
        let installed = root.join("bin").join(command);
        assert_eq!(mode(&installed), 0o755, "{}", installed.display());
        let output = run(cron(&installed, &["--help"]), b"", LIMIT);
        output.assert_success();
        assert!(
            output.stdout_str().starts_with(&format!("{script}: ")),
            "{command} --help: {output}"
        );
    }
    for name in installed_names() {
        let page = root.join("share/man/man1").join(format!("{name}.1"));
        assert_eq!(mode(&page), 0o644, "{}", page.display());
    }
}

#[test]
fn make_install_puts_tools_and_pages_under_prefix_and_uninstall_removes_them() {
    let temp = TempDir::new("install");
    let prefix = temp.join("usr local");
    make("install-built", &[("PREFIX", &prefix)]);
    assert_installed(&prefix);

    // `man` finds and renders the pages there (groff if man is missing).
    let manpath = prefix.join("share/man");
    let rendered = if find_program("man").is_file() {
        let mut man = Command::new("man");
        man.arg("-M").arg(&manpath).arg("xmpp-connect");
        man.env("MANPAGER", "cat").env("MANWIDTH", "80");
        Some(run(man, b"", LIMIT))
    } else if find_program("groff").is_file() {
        let mut groff = Command::new("groff");
        groff
            .args(["-man", "-Tutf8"])
            .arg(manpath.join("man1/xmpp-connect.1"));
        Some(run(groff, b"", LIMIT))
    } else {
        eprintln!("neither man nor groff is installed: the rendering of the pages is not checked");
        None
    };
    if let Some(output) = rendered {
        output.assert_success();
        let text = output.stdout_str();
        assert!(
            text.contains("SYNOPSIS") && text.contains("xmpp-connect"),
            "{output}"
        );
    }

    make("uninstall", &[("PREFIX", &prefix)]);
    for name in installed_names() {
        assert!(
            !prefix.join("bin").join(name).exists(),
            "{name} is still there"
        );
        let page = prefix.join("share/man/man1").join(format!("{name}.1"));
        assert!(!page.exists(), "{} is still there", page.display());
    }
    assert_eq!(
        std::fs::read_dir(prefix.join("bin")).unwrap().count(),
        0,
        "make uninstall left something in bin"
    );
}

#[test]
fn installed_commands_find_the_tools_beside_them_with_crons_path() {
    let prosody = Prosody::shared();
    let temp = TempDir::new("install");
    let prefix = temp.join("home/my .local");
    make("install-built", &[("PREFIX", &prefix)]);
    let notify = prefix.join("bin/xmpp-notify");
    let (alice, bob) = (prosody.new_account("alice"), prosody.new_account("bob"));
    let home = temp.join("home");
    let host = format!("127.0.0.1:{}", prosody.starttls_port());
    // The account from the environment, as a crontab would set it.
    let account = |mut command: Command| {
        command
            .env("HOME", &home)
            .env("XMPP_JID", &alice.jid)
            .env("XMPP_PASSWORD_FILE", &alice.password_file)
            .env("XMPP_CAFILE", prosody.ca_pem())
            .env("XMPP_HOST", &host);
        command
    };

    // A real delivery: the crontab line `... | $HOME/.local/bin/xmpp-notify bob@...`.
    let mut bob_online = online(prosody, &bob);
    let tag = unique("cron");
    let output = run(
        account(cron(&notify, &["--timeout", "20", &bob.jid])),
        format!("{tag} from cron\n").as_bytes(),
        LIMIT,
    );
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(output.stdout_str(), "", "{output}");
    assert_eq!(output.stderr_str(), "", "{output}");
    let line = bob_online.expect_line(Duration::from_secs(30), |line| line.contains(&tag));
    assert!(line.contains(&format!("from='{}/", alice.jid)), "{line}");

    // Through a symlink elsewhere, the tools are still found beside the target.
    let link_dir = temp.join("bin");
    std::fs::create_dir(&link_dir).unwrap();
    std::os::unix::fs::symlink(&notify, link_dir.join("xmpp-notify")).unwrap();
    let output = run(
        cron(&link_dir.join("xmpp-notify"), &["--print", &bob.jid]),
        b"printed\n",
        LIMIT,
    );
    output.assert_success();
    assert!(
        output.stdout_str().contains("<body>printed</body>"),
        "{output}"
    );

    // xmpp-room-notify finds the installed xmpp-notify (and the tools).
    let room = format!("{}@{}", unique("room").to_lowercase(), prosody.muc_domain());
    let mut command = cron(&prefix.join("bin/xmpp-room-notify"), &[]);
    command
        .env("HOME", &home)
        .args(["--create-room", "--timeout", "20", &room, &alice.jid])
        .arg(&alice.password_file)
        .args(["--host", &host, "--cafile"])
        .arg(prosody.ca_pem());
    let output = run(command, b"to the room\n", LIMIT);
    assert_eq!(output.code(), Some(0), "{output}");
    assert_eq!(output.stderr_str(), "", "{output}");
}

#[test]
fn make_deb_packages_the_tools_commands_pages_and_docs() {
    if !find_program("dpkg-deb").is_file() {
        skip(
            "make_deb_packages_the_tools_commands_pages_and_docs",
            "dpkg-deb is not installed (apt-get install dpkg)",
        );
        return;
    }
    let temp = TempDir::new("deb");
    // Uncompressed: the suite's build is the debug one, large even stripped.
    let output = make(
        "deb-built",
        &[
            ("DEB_DIR", &temp.join("out")),
            ("DEB_STAGE", &temp.join("stage")),
            ("DEB_COMPRESS", Path::new("none")),
        ],
    );
    let version = env!("CARGO_PKG_VERSION");
    let arch = run(
        {
            let mut dpkg = Command::new("dpkg");
            dpkg.arg("--print-architecture");
            dpkg
        },
        b"",
        LIMIT,
    )
    .stdout_str()
    .trim()
    .to_owned();
    let deb = temp.join(format!("out/xmpp-pipes_{version}_{arch}.deb"));
    assert!(deb.is_file(), "no {}: {output}", deb.display());

    let dpkg_deb = |args: &[&str]| {
        let mut command = Command::new(find_program("dpkg-deb"));
        command.args(args).arg(&deb);
        let output = run(command, b"", LIMIT);
        output.assert_success();
        output.stdout_str()
    };
    let fields = dpkg_deb(&["--field"]);
    for field in [
        "Package: xmpp-pipes".to_owned(),
        format!("Version: {version}"),
        format!("Architecture: {arch}"),
        "Depends: libc6".to_owned(),
        "Maintainer: ".to_owned(),
        "Description: ".to_owned(),
    ] {
        assert!(fields.contains(&field), "no {field:?} in:\n{fields}");
    }

    // Each line of --contents: "MODE OWNER SIZE DATE TIME ./PATH".
    let contents = dpkg_deb(&["--contents"]);
    let entries: Vec<(&str, &str, &str)> = contents
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields[0], fields[1], *fields.last().unwrap())
        })
        .collect();
    let entry = |path: &str| {
        entries
            .iter()
            .find(|(_, _, p)| p.strip_prefix('.') == Some(path))
            .unwrap_or_else(|| panic!("{path} is not in the package:\n{contents}"))
    };
    for name in installed_names() {
        assert_eq!(entry(&format!("/usr/bin/{name}")).0, "-rwxr-xr-x");
        assert_eq!(
            entry(&format!("/usr/share/man/man1/{name}.1.gz")).0,
            "-rw-r--r--"
        );
    }
    for doc in [
        "README.md.gz",
        "DESIGN.md.gz",
        "copyright",
        "changelog.Debian.gz",
    ] {
        assert_eq!(
            entry(&format!("/usr/share/doc/xmpp-pipes/{doc}")).0,
            "-rw-r--r--"
        );
    }
    for (_, owner, path) in &entries {
        assert_eq!(*owner, "root/root", "{path}");
        assert!(
            path.starts_with("./usr/bin/") || path.starts_with("./usr/share/") || {
                ["./", "./usr/"].contains(path)
            },
            "{path} is out of place"
        );
    }
    let files = entries.iter().filter(|(mode, _, _)| !mode.starts_with('d'));
    assert_eq!(
        files.count(),
        2 * installed_names().count() + 4,
        "{contents}"
    );
}

/// The header comment of each script is what its page says: the page has
/// the sections users look for, and its OPTIONS are the options of the
/// usage lines in the header (`  notify [--timeout S] ...`), and --help.
#[test]
fn every_command_has_a_manual_page_with_the_options_of_its_usage() {
    for (script, command) in COMMANDS {
        let mut help = Command::new("bash");
        help.arg(repo_root().join("examples").join(script))
            .arg("--help");
        let help = run(help, b"", LIMIT);
        help.assert_success();
        let mut usage = String::new();
        let mut in_usage = false;
        for line in help.stdout_str().lines() {
            let trimmed = line.trim_start();
            in_usage = if line.starts_with("  ") && trimmed.starts_with(&format!("{script} ")) {
                true
            } else {
                in_usage && trimmed.starts_with('[')
            };
            if in_usage {
                usage.push_str(line);
                usage.push('\n');
            }
        }
        assert!(
            !usage.is_empty(),
            "no usage lines in {script} --help:\n{help}"
        );

        let page = harness::man_text(command);
        harness::assert_man_sections(command, &page);
        assert!(
            page.contains(&format!(".SH NAME\n{command} -")),
            "man/{command}.1: NAME"
        );
        let options = &page[page.find("\n.SH OPTIONS").unwrap()..];
        let options = &options[..options[1..].find("\n.SH ").map_or(options.len(), |e| e + 1)];
        let mut expected = long_options(&usage);
        expected.insert("--help".to_owned());
        assert_eq!(
            expected,
            long_options(options),
            "{script}'s usage lines and --help (left) and man/{command}.1's OPTIONS (right) differ"
        );
    }
}

#[test]
fn make_install_stages_under_destdir() {
    let temp = TempDir::new("install");
    let destdir = temp.join("stage");
    make(
        "install-built",
        &[
            ("DESTDIR", &destdir),
            ("PREFIX", Path::new("/opt/xmpp-pipes")),
        ],
    );
    assert_installed(&destdir.join("opt/xmpp-pipes"));
    assert!(
        !Path::new("/opt/xmpp-pipes").exists(),
        "installed outside DESTDIR"
    );
}

#[test]
fn make_install_builds_with_cargo_then_installs() {
    let temp = TempDir::new("install");
    let plan = make("-n install", &[("PREFIX", &temp.join("prefix"))]).stdout_str();
    let build = plan
        .find("cargo build --locked --profile dev")
        .unwrap_or_else(|| panic!("no cargo build in the plan:\n{plan}"));
    let install = plan
        .find("install -m 755")
        .unwrap_or_else(|| panic!("no install in the plan:\n{plan}"));
    assert!(build < install, "{plan}");
    assert!(
        std::fs::read_dir(temp.path()).unwrap().next().is_none(),
        "make -n installed something"
    );
}
