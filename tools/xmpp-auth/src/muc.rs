//! The group-chat options of xmpp-auth's command line; the joins themselves
//! are [`xmpp_pipes::session::muc`]'s.

use std::collections::HashSet;
use std::path::PathBuf;
use xmpp_pipes::cli;
use xmpp_pipes::exit::{Error, Result};
use xmpp_pipes::jid::Jid;
use xmpp_pipes::password::{self, Password};

/// The group-chat options of the command line.
#[derive(Debug, Default)]
pub struct RoomOptions {
    /// The rooms to join, as occupant JIDs `ROOM@SERVICE/NICK`, in the order given.
    pub join: Vec<Jid>,
    /// The file with the rooms' password.
    pub password_file: Option<PathBuf>,
    /// Create a room that does not exist yet, accepting the service's default configuration.
    pub create: bool,
}

impl RoomOptions {
    /// Take `--join`, `--room-password-file` and `--create-rooms` from the arguments.
    pub fn parse(args: &mut pico_args::Arguments) -> Result<RoomOptions> {
        let join: Vec<Jid> = args
            .values_from_fn("--join", parse_occupant)
            .map_err(cli::usage_error)?;
        let password_file: Option<PathBuf> = args
            .opt_value_from_str("--room-password-file")
            .map_err(cli::usage_error)?;
        let create = args.contains("--create-rooms");
        let mut rooms = HashSet::new();
        if let Some(twice) = join.iter().find(|jid| !rooms.insert(jid.to_bare())) {
            return Err(Error::usage(format!(
                "--join {twice}: the room {} is joined twice",
                twice.to_bare()
            )));
        }
        if join.is_empty() && (password_file.is_some() || create) {
            return Err(Error::usage(
                "--room-password-file and --create-rooms need a --join ROOM@SERVICE/NICK",
            ));
        }
        Ok(RoomOptions {
            join,
            password_file,
            create,
        })
    }

    /// The rooms' password, read from its file (refused if others may read it).
    pub fn read_password(&self) -> Result<Option<Password>> {
        self.password_file
            .as_ref()
            .map(|file| {
                password::Source {
                    file: Some(file.clone()),
                    ..password::Source::default()
                }
                .read("")
                .map_err(|e| e.context("--room-password-file"))
            })
            .transpose()
    }
}

/// Parse `ROOM@SERVICE/NICK`.
fn parse_occupant(text: &str) -> std::result::Result<Jid, String> {
    let jid = Jid::parse(text).map_err(|e| e.to_string())?;
    if jid.local().is_none() || jid.resource().is_none() {
        return Err(format!(
            "{text:?} is not ROOM@SERVICE/NICK: give the room and the nick to use in it"
        ));
    }
    Ok(jid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_pipes::exit::Status;

    #[test]
    fn occupants_need_a_room_and_a_nick() {
        assert!(parse_occupant("r@muc.example/bot").is_ok());
        assert!(parse_occupant("muc.example/bot").is_err());
        assert!(parse_occupant("r@muc.example").is_err());
    }

    #[test]
    fn command_line() {
        let parse = |args: &[&str]| {
            let mut args = pico_args::Arguments::from_vec(args.iter().map(Into::into).collect());
            RoomOptions::parse(&mut args)
        };
        let rooms = parse(&["--join", "a@m/n", "--join", "b@m/n", "--create-rooms"]).unwrap();
        assert_eq!(rooms.join.len(), 2);
        assert!(rooms.create);
        let twice = parse(&["--join", "a@m/n", "--join", "a@m/o"]).unwrap_err();
        assert_eq!(twice.status(), Status::Usage);
        let alone = parse(&["--create-rooms"]).unwrap_err();
        assert_eq!(alone.status(), Status::Usage);
        assert_eq!(
            parse(&["--join", "nonick@m"]).unwrap_err().status(),
            Status::Usage
        );
    }
}
