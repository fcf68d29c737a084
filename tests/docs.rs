//! Documentation stays in step with the tools: every tool has a manual page
//! with the sections users look for, and the page documents exactly the
//! options and the exit statuses that `--help` lists.

use harness::{assert_man_sections, long_options, man_text};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The tools that exist in this workspace (a directory under tools/).
fn tools() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(root.join("tools"))
        .expect("tools/")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The section of a manual page that lists options.
fn man_options_section(text: &str) -> String {
    let start = text.find("\n.SH OPTIONS").expect("an OPTIONS section");
    let rest = &text[start + 1..];
    let end = rest[1..].find("\n.SH ").map_or(rest.len(), |e| e + 1);
    rest[..end].to_owned()
}

#[test]
fn every_tool_has_a_complete_manual_page() {
    for tool in tools() {
        assert_man_sections(&tool, &man_text(&tool));
    }
}

#[test]
fn help_and_manual_page_list_the_same_options() {
    for tool in tools() {
        let output = Command::new(harness::tool(&tool))
            .arg("--help")
            .output()
            .unwrap();
        assert!(output.status.success(), "{tool} --help failed");
        let help = long_options(&String::from_utf8_lossy(&output.stdout));
        let man = long_options(&man_options_section(&man_text(&tool)));
        assert!(!help.is_empty(), "{tool} --help lists no option");
        assert_eq!(
            help, man,
            "{tool}: --help (left) and the man page's OPTIONS (right) differ"
        );
    }
}

/// The exit statuses a `--help` lists: the numbers that start a line of its
/// "Exit status:" block (`  75   ...`, `  126  ...; 127 ...`).
fn help_statuses(help: &str) -> BTreeSet<u32> {
    let Some(start) = help.find("Exit status") else {
        return BTreeSet::new();
    };
    let mut found = BTreeSet::new();
    for line in help[start..].lines().skip(1) {
        if line.trim().is_empty() && !found.is_empty() {
            break;
        }
        let mut words = line.split_whitespace();
        if let Some(code) = words.next().and_then(|w| w.parse().ok()) {
            found.insert(code);
            // "126  PROG could not be run; 127 PROG not found"
            let rest: Vec<&str> = words.collect();
            for pair in rest.windows(2) {
                if pair[0].ends_with(';') {
                    if let Ok(code) = pair[1].parse() {
                        found.insert(code);
                    }
                }
            }
        }
    }
    found
}

/// The exit statuses a manual page's EXIT STATUS section lists (`.B 75`, `.B 126, 127`).
fn man_statuses(text: &str) -> BTreeSet<u32> {
    let start = text
        .find("\n.SH EXIT STATUS")
        .expect("an EXIT STATUS section");
    let rest = &text[start + 1..];
    let end = rest[1..].find("\n.SH ").map_or(rest.len(), |e| e + 1);
    rest[..end]
        .lines()
        .filter_map(|line| line.strip_prefix(".B "))
        .flat_map(|codes| {
            codes
                .split(',')
                .map(|c| c.trim().parse::<u32>())
                .collect::<Vec<_>>()
        })
        .filter_map(Result::ok)
        .collect()
}

#[test]
fn help_and_manual_page_list_the_same_exit_statuses() {
    for tool in tools() {
        let output = Command::new(harness::tool(&tool))
            .arg("--help")
            .output()
            .unwrap();
        let help = help_statuses(&String::from_utf8_lossy(&output.stdout));
        let man = man_statuses(&man_text(&tool));
        assert!(
            help.contains(&0) && help.contains(&64),
            "{tool} --help: {help:?}"
        );
        assert_eq!(
            help, man,
            "{tool}: the exit statuses of --help (left) and of the man page (right) differ"
        );
    }
}
