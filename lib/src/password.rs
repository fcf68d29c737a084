//! Where a password may come from: never the command line.
//!
//! In order of precedence: a file (`--password-file FILE`), a file
//! descriptor (`--password-fd N`), a command's output (`--password-command
//! CMD`), the password itself (`XMPP_PASSWORD` or a configuration file, see
//! [`crate::config`], which also fills the other fields), and finally a
//! prompt without echo on the terminal when there is one. A password file
//! readable by group or others is refused, as ssh refuses such keys.

use crate::exit::{Error, Result};
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// The environment variable a password may come from (removed before any program is run).
pub const ENV_PASSWORD: &str = "XMPP_PASSWORD";

/// A password; wiped from memory when dropped, never shown by `Debug`.
pub struct Password(String);

impl Password {
    /// Wrap a password.
    pub fn new(password: String) -> Self {
        Password(password)
    }

    /// The password text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        // SAFETY: zero bytes are valid UTF-8.
        unsafe { self.0.as_bytes_mut() }.fill(0);
    }
}

/// Where to read the password from; see the module documentation.
#[derive(Debug, Default)]
pub struct Source {
    /// `--password-file FILE`.
    pub file: Option<std::path::PathBuf>,
    /// `--password-fd N`.
    pub fd: Option<RawFd>,
    /// `--password-command CMD` (run by `/bin/sh -c`).
    pub command: Option<String>,
    /// The password itself (`XMPP_PASSWORD`, or `password` in a configuration file).
    pub text: Option<Password>,
}

/// Strip one trailing line break (`\n` or `\r\n`), as a file or command leaves it.
fn strip_line_break(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

fn from_bytes(bytes: Vec<u8>, what: &str) -> Result<Password> {
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::config(format!("the password from {what} is not valid UTF-8")))?;
    let text = strip_line_break(text);
    if text.is_empty() {
        return Err(Error::config(format!("the password from {what} is empty")));
    }
    Ok(Password(text))
}

/// Refuse a secret file that is not a plain file, or that its group or
/// others may read or write (mode & 077), with the fix in the message.
pub fn check_private(path: &Path, what: &str) -> Result<()> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::config(format!("cannot read {what} {}: {e}", path.display())))?;
    if meta.is_dir() {
        return Err(Error::config(format!(
            "{what} {} is a directory: name the file that holds the password",
            path.display()
        )));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        let who = match (mode & 0o070 != 0, mode & 0o007 != 0) {
            (true, true) => "its group and others",
            (true, false) => "its group",
            _ => "others",
        };
        return Err(Error::config(format!(
            "{what} {} is open to {who} (mode {mode:03o}); run `chmod 600 {}`",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

impl Source {
    /// Whether any explicit source was given.
    pub fn is_given(&self) -> bool {
        self.file.is_some() || self.fd.is_some() || self.command.is_some()
    }

    /// Refuse more than one explicit source (one would be ignored without a word).
    pub fn check_one(&self) -> Result<()> {
        let given: Vec<&str> = [
            (self.file.is_some(), "--password-file"),
            (self.fd.is_some(), "--password-fd"),
            (self.command.is_some(), "--password-command"),
        ]
        .into_iter()
        .filter_map(|(is, name)| is.then_some(name))
        .collect();
        if given.len() > 1 {
            return Err(Error::usage(format!(
                "{} given together: give one way to read the password",
                given.join(" and ")
            )));
        }
        Ok(())
    }

    /// Read the password, following the precedence of the module documentation.
    /// `prompt` is shown on the terminal when no other source gives one.
    pub fn read(&self, prompt: &str) -> Result<Password> {
        if let Some(path) = &self.file {
            check_private(path, "password file")?;
            let mut bytes = Vec::new();
            File::open(path)
                .and_then(|mut f| f.read_to_end(&mut bytes))
                .map_err(|e| {
                    Error::config(format!("cannot read password file {}: {e}", path.display()))
                })?;
            return from_bytes(bytes, &format!("file {}", path.display()));
        }
        if let Some(fd) = self.fd {
            if fd < 0 || !crate::ucspi::fd_is_open(fd) {
                return Err(Error::config(format!(
                    "--password-fd {fd}: that file descriptor is not open"
                )));
            }
            // SAFETY: the fd is open and was handed to us for this purpose only; reading closes it.
            let mut file = unsafe { File::from_raw_fd(fd) };
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes).map_err(|e| {
                Error::config(format!("cannot read the password from fd {fd}: {e}"))
            })?;
            return from_bytes(bytes, &format!("fd {fd}"));
        }
        if let Some(command) = &self.command {
            let output = Command::new("/bin/sh")
                .arg("-c")
                .arg(command)
                .env_remove(ENV_PASSWORD)
                .stdin(Stdio::inherit())
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| Error::config(format!("cannot run the password command: {e}")))?;
            if !output.status.success() {
                return Err(Error::config(format!(
                    "the password command failed ({})",
                    output.status
                )));
            }
            return from_bytes(output.stdout, "the password command");
        }
        if let Some(text) = &self.text {
            return from_bytes(text.expose().as_bytes().to_vec(), "the configuration");
        }
        prompt_on_terminal(prompt)
    }
}

/// Ask on /dev/tty with echo off.
fn prompt_on_terminal(prompt: &str) -> Result<Password> {
    let no_source = || {
        Error::config(
            "no password given: use --password-file FILE, --password-fd N, --password-command CMD, \
             XMPP_PASSWORD, XMPP_PASSWORD_FILE or password-file in the config file \
             (there is no terminal to ask on)",
        )
    };
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| no_source())?;
    let saved = rustix::termios::tcgetattr(&tty).map_err(|_| no_source())?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
    quiet
        .local_modes
        .insert(rustix::termios::LocalModes::ECHONL);
    write!(tty, "{prompt}")
        .and_then(|()| tty.flush())
        .map_err(|_| no_source())?;
    rustix::termios::tcsetattr(&tty, rustix::termios::OptionalActions::Flush, &quiet)
        .map_err(|_| no_source())?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    let read = loop {
        match tty.read(&mut byte) {
            Ok(0) => break Ok(()),
            Ok(_) if byte[0] == b'\n' => break Ok(()),
            Ok(_) => line.push(byte[0]),
            Err(e) => break Err(e),
        }
    };
    let _ = rustix::termios::tcsetattr(&tty, rustix::termios::OptionalActions::Flush, &saved);
    read.map_err(|e| Error::config(format!("cannot read the password from the terminal: {e}")))?;
    from_bytes(line, "the terminal")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp_file(name: &str, content: &str, mode: u32) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("xp-password-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn file_source_strips_one_line_break_and_refuses_open_modes() {
        let path = temp_file("ok", "s3cret pass\n", 0o600);
        let source = Source {
            file: Some(path),
            ..Source::default()
        };
        assert_eq!(source.read("").unwrap().expose(), "s3cret pass");

        let path = temp_file("open", "x\n", 0o644);
        let err = Source {
            file: Some(path.clone()),
            ..Source::default()
        }
        .read("")
        .unwrap_err();
        assert_eq!(err.status(), crate::exit::Status::Config);
        assert!(err.message().contains("chmod 600"), "{err}");

        let path = temp_file("empty", "\n", 0o600);
        assert!(Source {
            file: Some(path),
            ..Source::default()
        }
        .read("")
        .is_err());
    }

    #[test]
    fn modes_name_who_may_read_and_a_directory_is_named_as_one() {
        let says = |mode| {
            let path = temp_file(&format!("m{mode:o}"), "x\n", mode);
            check_private(&path, "password file")
                .unwrap_err()
                .to_string()
        };
        assert!(says(0o640).contains("is open to its group (mode 640)"));
        assert!(says(0o604).contains("is open to others (mode 604)"));
        assert!(says(0o644).contains("is open to its group and others (mode 644)"));
        let dir = std::env::temp_dir().join(format!("xp-password-dir-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = check_private(&dir, "password file")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is a directory: name the file"), "{err}");
        std::fs::remove_dir(&dir).unwrap();
    }

    #[test]
    fn two_password_sources_are_refused() {
        let source = Source {
            file: Some("/x".into()),
            fd: Some(3),
            ..Source::default()
        };
        let err = source.check_one().unwrap_err();
        assert_eq!(err.status(), crate::exit::Status::Usage);
        assert_eq!(
            err.to_string(),
            "--password-file and --password-fd given together: give one way to read the password"
        );
        assert!(Source::default().check_one().is_ok());
    }

    #[test]
    fn command_source() {
        let source = Source {
            command: Some("printf 'from cmd\\n'".into()),
            ..Source::default()
        };
        assert_eq!(source.read("").unwrap().expose(), "from cmd");
        let failing = Source {
            command: Some("exit 3".into()),
            ..Source::default()
        };
        assert!(failing.read("").unwrap_err().message().contains("failed"));
    }

    #[test]
    fn debug_hides_the_password() {
        assert_eq!(format!("{:?}", Password::new("x".into())), "Password(***)");
    }
}
