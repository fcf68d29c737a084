//! The benchmark suite works: `bench/run --quick` (tiny sizes, one run each)
//! with the tools this test run built completes and prints its table. No
//! timing is asserted: the figures of a quick run mean nothing, and the
//! targets are judged by the full run (docs/PERFORMANCE.md).

use harness::{find_program, repo_root, run, tools_dir, TempDir};
use std::process::Command;
use std::time::Duration;

/// Far more than a quick run takes (seconds), for a loaded machine.
const LIMIT: Duration = Duration::from_secs(180);

#[test]
fn the_quick_bench_runs_every_case_and_prints_the_table() {
    // bench/run installs what is missing as root; a test does not.
    let missing: Vec<&str> = ["hyperfine", "go-sendxmpp", "prosody", "python3"]
        .into_iter()
        .filter(|program| !find_program(program).is_file())
        .collect();
    if !missing.is_empty() {
        eprintln!(
            "skipped: bench/run --quick needs {} (apt-get install {})",
            missing.join(", "),
            missing.join(" ")
        );
        return;
    }
    let bin = tools_dir();
    for built in [
        "examples/bench_server",
        "examples/bench_time",
        "stanza-split",
    ] {
        assert!(
            bin.join(built).is_file(),
            "{built} is not built in {}: cargo build --workspace --all-targets",
            bin.display()
        );
    }
    let out = TempDir::new("bench-quick");
    let mut command = Command::new("bash");
    command
        .arg(repo_root().join("bench/run"))
        .arg("--quick")
        .arg("--bin-dir")
        .arg(&bin)
        .arg("--out")
        .arg(out.path());
    let output = run(command, b"", LIMIT);
    let (stdout, stderr) = (output.stdout_str(), output.stderr_str());
    assert!(
        output.status.success(),
        "bench/run --quick failed ({:?})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.code()
    );
    for heading in [
        "### 1. stanza-split throughput",
        "### 2. Send one message and confirm",
        "### 3. Sustained: 100 messages",
        "### 4. Memory",
        "### Targets (issue 5)",
        "| stanza-split ≥ 0.5 × cat's throughput |",
        "| sustained: none lost | 0 lost | holds |",
        // The round-trip case, or why it was skipped (not root).
        "## Round trips on a 50 ms link",
    ] {
        assert!(
            stdout.contains(heading),
            "no {heading:?} in the table:\n{stdout}\n--- stderr ---\n{stderr}"
        );
    }
    // The results file holds the same table, with the machine.
    let results = std::fs::read_to_string(out.path().join("results.md")).unwrap();
    assert_eq!(results.trim(), stdout.trim());
    assert!(results.contains("- machine: "), "{results}");
}
