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
            return Err(Error::usage(format!("unknown option {name} (see --help)")));
        }
    }
    split.operands.extend(iter);
    Ok(split)
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
