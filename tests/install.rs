//! `make install` puts the five tools and their manual pages under PREFIX
//! (or DESTDIR/PREFIX), where they run and `man` finds the pages, and
//! `make uninstall` takes them away again. `make install` is `make build`
//! (cargo) then `make install-built`; the tests run the second part on the
//! build the suite already has (`PROFILE=debug`), since a cargo build with
//! other targets selected would replace the tools other tests are running,
//! and check the first part's plan with `make -n`.

use harness::{find_program, repo_root, run, tools_dir, Output, TempDir};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const TOOLS: [&str; 5] = [
    "xmpp-connect",
    "xmpp-auth",
    "stanza-split",
    "stanza-fmt",
    "jid-route",
];
const LIMIT: Duration = Duration::from_secs(300);

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

/// Every tool in `root/bin` runs and says its version; every page is in
/// `root/share/man/man1`.
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
        let page = root.join("share/man/man1").join(format!("{tool}.1"));
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
    for tool in TOOLS {
        assert!(
            !prefix.join("bin").join(tool).exists(),
            "{tool} is still there"
        );
        let page = prefix.join("share/man/man1").join(format!("{tool}.1"));
        assert!(!page.exists(), "{} is still there", page.display());
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
