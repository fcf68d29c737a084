//! Every crate of the workspace packages (`cargo package --no-verify`,
//! offline, into a target directory of its own: the suite's is left
//! alone), and each published crate's manifest carries the metadata
//! crates.io shows: description, license, readme, rust-version, at most
//! five keywords, categories, and no placeholder address. (Verifying the
//! packages, which builds each one from its tarball, takes a minute: that
//! is `cargo package --workspace` by hand.)

use harness::{run, TempDir};
use std::process::Command;
use std::time::Duration;

/// The crates meant for crates.io: the library and the six tools.
const CRATES: [&str; 7] = [
    "xmpp-pipes",
    "xmpp-connect",
    "xmpp-auth",
    "stanza-split",
    "stanza-fmt",
    "jid-route",
    "xmpp-upload",
];

/// The values of the array `key = [ ... ]` in a normalized Cargo.toml
/// (one item a line, as cargo writes it).
fn array(manifest: &str, key: &str) -> Vec<String> {
    let start = manifest
        .find(&format!("\n{key} = ["))
        .unwrap_or_else(|| panic!("no {key} in:\n{manifest}"));
    let rest = &manifest[start + 1..];
    let end = rest.find(']').unwrap();
    rest[..end]
        .lines()
        .skip(1)
        .map(|line| {
            line.trim()
                .trim_end_matches(',')
                .trim_matches('"')
                .to_owned()
        })
        .filter(|item| !item.is_empty())
        .collect()
}

#[test]
fn every_crate_packages_with_its_metadata() {
    let temp = TempDir::new("package");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "package",
            "--workspace",
            "--no-verify",
            "--offline",
            "--allow-dirty",
        ])
        .arg("--target-dir")
        .arg(temp.path());
    let output = run(cargo, b"", Duration::from_secs(120));
    output.assert_success();
    let stderr = output.stderr_str();
    for missing in ["no description", "no license"] {
        assert!(!stderr.contains(missing), "{output}");
    }

    let version = env!("CARGO_PKG_VERSION");
    for name in CRATES {
        let tarball = temp.join(format!("package/{name}-{version}.crate"));
        assert!(tarball.is_file(), "no {}: {output}", tarball.display());
        let mut tar = Command::new("tar");
        tar.arg("-xzOf")
            .arg(&tarball)
            .arg(format!("{name}-{version}/Cargo.toml"));
        let manifest = run(tar, b"", Duration::from_secs(30));
        manifest.assert_success();
        let manifest = manifest.stdout_str();
        for line in [
            "\ndescription = \"",
            "\nlicense = \"ISC\"\n",
            "\nreadme = \"README.md\"\n",
            "\nrust-version = \"",
        ] {
            assert!(
                manifest.contains(line),
                "{name}: no {line:?} in:\n{manifest}"
            );
        }
        assert!(
            !manifest.contains("example.invalid"),
            "{name}: a placeholder address:\n{manifest}"
        );
        let keywords = array(&manifest, "keywords");
        assert!(
            (1..=5).contains(&keywords.len()),
            "{name}: keywords {keywords:?}"
        );
        for keyword in &keywords {
            assert!(
                keyword.len() <= 20
                    && keyword.starts_with(|c: char| c.is_ascii_alphabetic())
                    && keyword
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{name}: keyword {keyword:?} is not one crates.io takes"
            );
        }
        let categories = array(&manifest, "categories");
        assert!(
            (1..=5).contains(&categories.len()),
            "{name}: categories {categories:?}"
        );
        // The path dependency on the library became a registry one, with
        // the version to find it by.
        if name != "xmpp-pipes" {
            assert!(
                manifest.contains(&format!(
                    "[dependencies.xmpp-pipes]\nversion = \"{version}\""
                )),
                "{name}: xmpp-pipes has no version:\n{manifest}"
            );
        }
    }
}
