//! Command lines of chain-loading tools.
//!
//! `xmpp-connect [OPTIONS] DOMAIN PROG...` must not touch PROG's own options,
//! even where PROG knows a flag of the same name: options end at the first
//! operand. pico-args searches the whole argv, so [`split_options`] cuts argv
//! at the first operand before pico-args sees the front part.

use crate::exit::{Error, Result};
use std::ffi::OsString;

/// Describes a tool's options well enough to split its argv.
pub struct OptionSpec {
    /// Options that take a value (`--host HOST`); `--opt=value` is also accepted.
    pub with_value: &'static [&'static str],
    /// Options that are plain switches (`--direct-tls`).
    pub switches: &'static [&'static str],
}

/// The result of [`split_options`].
#[derive(Debug, Default)]
pub struct Split {
    /// The options, in order, ready for pico-args.
    pub options: Vec<OsString>,
    /// The operands: the first operand and everything after it, untouched.
    pub operands: Vec<OsString>,
}

/// Split `args` (without argv\[0\]) at the first operand.
///
/// `--` ends the options explicitly. An unknown option is a usage error here,
/// so that a typo is reported instead of being taken for an operand.
pub fn split_options(args: Vec<OsString>, spec: &OptionSpec) -> Result<Split> {
    let mut split = Split::default();
    let mut iter = args.into_iter();
    while let Some(arg) = iter.next() {
        let text = arg.to_string_lossy();
        if text == "--" {
            break;
        }
        if !text.starts_with('-') || text == "-" {
            split.operands.push(arg);
            break;
        }
        let name = text.split('=').next().unwrap_or_default().to_owned();
        if spec.with_value.contains(&name.as_str()) {
            // `--opt=value` is handed to pico-args as `--opt value`: without its
            // `eq-separator` feature, pico-args knows only the second form.
            let inline = inline_value(&arg);
            split.options.push(OsString::from(&name));
            match inline.or_else(|| iter.next()) {
                Some(value) => split.options.push(value),
                None => return Err(Error::usage(format!("option {name} needs a value"))),
            }
        } else if spec.switches.contains(&name.as_str()) {
            split.options.push(arg);
        } else {
            return Err(unknown_option(&name, spec));
        }
    }
    split.operands.extend(iter);
    Ok(split)
}

/// The error for an unknown option: what to use for a password given on the
/// command line, else the nearest known option, if one is near.
fn unknown_option(name: &str, spec: &OptionSpec) -> Error {
    if matches!(name, "-p" | "--password" | "--pass" | "--passwd" | "-P") {
        return Error::usage(format!(
            "{name}: a password is never taken from the command line (other users \
             can read it with ps): use --password-file FILE, --password-fd N, \
             --password-command CMD or the config file (see --help)"
        ));
    }
    let known = spec.with_value.iter().chain(spec.switches).copied();
    let nearest = known
        .filter(|option| option.starts_with("--"))
        .map(|option| (edit_distance(name, option), option))
        .filter(|&(distance, option)| distance <= 2 || option.starts_with(name) && name.len() > 3)
        .min();
    match nearest {
        Some((_, option)) => Error::usage(format!(
            "unknown option {name}: did you mean {option}? (see --help)"
        )),
        None => Error::usage(format!("unknown option {name} (see --help)")),
    }
}

/// Levenshtein distance (bytes), for suggestions among a few dozen options.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &x) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &y) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(x != y));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// For tools of the form `TOOL [OPTIONS] OPERAND PROG...`: refuse a command
/// line whose options went after the operand (`DOMAIN --cafile F PROG`: PROG
/// would be `--cafile`), or whose operand is a program's name where the
/// `what` (DOMAIN, JID) belongs (`xmpp-connect xmpp-auth @`, the first `@`
/// forgotten). `path` is `$PATH`, read at the edge.
pub fn check_operands(
    operands: &[OsString],
    spec: &OptionSpec,
    what: &str,
    path: Option<&std::ffi::OsStr>,
) -> Result<()> {
    let Some(operand) = operands.first().map(|o| o.to_string_lossy()) else {
        return Ok(());
    };
    if let Some(next) = operands.get(1).map(|o| o.to_string_lossy()) {
        let name = next.split('=').next().unwrap_or_default();
        if spec.with_value.contains(&name) || spec.switches.contains(&name) {
            return Err(Error::usage(format!(
                "{next} after {what} {operand}: options go before {what} \
                 (everything after it is the program to run and its arguments)"
            )));
        }
    }
    if operand != "@" && looks_like_program(&operand, path) {
        return Err(Error::usage(format!(
            "{operand:?} is a program, not a {what}: the {what} goes first \
             (@ for the configured account's), then the program"
        )));
    }
    Ok(())
}

/// Whether `word` names a program: a path, or a name without a dot that an
/// executable on `path` has (`localhost` and other one-label domains have no
/// program of their name, as a rule).
fn looks_like_program(word: &str, path: Option<&std::ffi::OsStr>) -> bool {
    use std::os::unix::fs::PermissionsExt;
    if word.contains('/') {
        return true;
    }
    if word.contains('.') || word.contains('@') || word.is_empty() || word == "localhost" {
        return false;
    }
    let Some(path) = path else { return false };
    std::env::split_paths(path).any(|dir| {
        std::fs::metadata(dir.join(word))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// The value of `--opt=value` (everything after the first `=`), bytes kept as they are.
fn inline_value(arg: &OsString) -> Option<OsString> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = arg.as_bytes();
    let at = bytes.iter().position(|&b| b == b'=')?;
    Some(std::ffi::OsStr::from_bytes(&bytes[at + 1..]).to_owned())
}

/// Turn a pico-args error into a usage error.
pub fn usage_error(err: pico_args::Error) -> Error {
    Error::usage(err.to_string())
}

/// Finish parsing: anything pico-args did not consume is a usage error.
pub fn finish(args: pico_args::Arguments) -> Result<()> {
    let rest = args.finish();
    match rest.first() {
        None => Ok(()),
        Some(extra) => Err(Error::usage(format!(
            "unexpected argument {} (see --help)",
            extra.to_string_lossy()
        ))),
    }
}

/// Parse a number of seconds (`--timeout 2.5`) into a duration.
pub fn parse_seconds(text: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if !(secs.is_finite() && secs > 0.0 && secs <= 1e9) {
        return Err(format!("{text:?} is not a positive number of seconds"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// Parse a byte count (`--max-stanza 64K`): a whole number, optionally with
/// a K, M or G suffix (powers of 1024).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let (digits, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_uppercase()),
        _ => (text, 'B'),
    };
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        _ => return Err(format!("{text:?}: unknown unit (use K, M or G)")),
    };
    let number: usize = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size in bytes"))?;
    number
        .checked_mul(1 << shift)
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{text:?} is not a usable size"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: OptionSpec = OptionSpec {
        with_value: &["--host", "--timeout"],
        switches: &["--direct-tls", "-h", "--help"],
    };

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn options_end_at_the_first_operand() {
        let split = split_options(
            args(&[
                "--timeout",
                "5",
                "--direct-tls",
                "example.org",
                "xmpp-auth",
                "--timeout",
                "9",
            ]),
            &SPEC,
        )
        .unwrap();
        assert_eq!(split.options, args(&["--timeout", "5", "--direct-tls"]));
        assert_eq!(
            split.operands,
            args(&["example.org", "xmpp-auth", "--timeout", "9"])
        );
    }

    #[test]
    fn inline_values_and_double_dash() {
        let split = split_options(args(&["--host=a:1=2", "--", "-weird", "x"]), &SPEC).unwrap();
        assert_eq!(split.options, args(&["--host", "a:1=2"]));
        assert_eq!(split.operands, args(&["-weird", "x"]));
        let split = split_options(args(&["--host=", "x"]), &SPEC).unwrap();
        assert_eq!(split.options, args(&["--host", ""]));
        assert_eq!(split.operands, args(&["x"]));
    }

    #[test]
    fn unknown_option_and_missing_value_are_usage_errors() {
        let err = split_options(args(&["--hots", "x"]), &SPEC).unwrap_err();
        assert_eq!(err.status(), crate::exit::Status::Usage);
        assert!(err.message().contains("--hots"));
        let err = split_options(args(&["--host"]), &SPEC).unwrap_err();
        assert!(err.message().contains("needs a value"));
    }

    #[test]
    fn unknown_options_suggest_the_nearest_and_passwords_say_where_they_go() {
        let err = |a: &[&str]| split_options(args(a), &SPEC).unwrap_err().to_string();
        assert_eq!(
            err(&["--hots", "x"]),
            "unknown option --hots: did you mean --host? (see --help)"
        );
        assert_eq!(
            err(&["--direct"]),
            "unknown option --direct: did you mean --direct-tls? (see --help)"
        );
        assert_eq!(err(&["--zzzzzz"]), "unknown option --zzzzzz (see --help)");
        assert!(err(&["-p", "secret"]).contains("never taken from the command line"));
        assert!(err(&["--password=secret"]).contains("--password-file FILE"));
    }

    #[test]
    fn options_after_the_operand_and_programs_in_its_place_are_refused() {
        let check = |a: &[&str], path: Option<&str>| {
            check_operands(&args(a), &SPEC, "DOMAIN", path.map(std::ffi::OsStr::new))
        };
        let err = check(&["example.org", "--host", "h", "prog"], None).unwrap_err();
        assert_eq!(err.status(), crate::exit::Status::Usage);
        assert!(
            err.to_string()
                .starts_with("--host after DOMAIN example.org: options go before DOMAIN"),
            "{err}"
        );
        assert!(check(&["example.org", "--timeout=3"], None).is_err());
        assert!(
            check(&["example.org", "prog", "--host", "h"], None).is_ok(),
            "PROG's own"
        );
        assert!(check(&["example.org"], None).is_ok());
        let bin = std::env::temp_dir().join(format!("xp-cli-{}", std::process::id()));
        std::fs::create_dir_all(&bin).unwrap();
        let prog = bin.join("some-tool");
        std::fs::write(&prog, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&prog, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let path = bin.to_str().unwrap();
        let err = check(&["some-tool", "@"], Some(path)).unwrap_err();
        assert!(
            err.to_string().contains("is a program, not a DOMAIN"),
            "{err}"
        );
        assert!(check(&["./some-tool"], None).is_err());
        assert!(check(&["localhost", "prog"], Some(path)).is_ok());
        assert!(check(&["example.org", "prog"], Some(path)).is_ok());
        assert!(check(&["@", "some-tool"], Some(path)).is_ok());
        assert!(check(&["other-name", "prog"], Some(path)).is_ok());
        std::fs::remove_dir_all(&bin).unwrap();
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("10M"), Ok(10 << 20));
        assert_eq!(parse_size("2k"), Ok(2048));
        assert!(parse_size("0").is_err());
        assert!(parse_size("10X").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("99999999999G").is_err());
    }

    #[test]
    fn seconds() {
        assert_eq!(parse_seconds("2.5").unwrap().as_millis(), 2500);
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("inf").is_err());
        assert!(parse_seconds("x").is_err());
    }
}
