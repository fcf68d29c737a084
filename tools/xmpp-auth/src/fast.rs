//! Where FAST tokens (XEP-0484) are kept between runs: one directory per
//! account under `$XDG_STATE_HOME/xmpp-pipes/fast/` (default
//! `~/.local/state/...`, mode 0700), with numbered slots.
//!
//! A slot is a client installation as the server sees it: its own
//! user-agent id (a UUID v4) and token, in the file `N` (mode 0600,
//! replaced atomically), and a lock `N.lock` that a running xmpp-auth
//! holds (flock) for its whole life. Runs one after another reuse slot 0;
//! runs at the same time (a cron job beside a long-lived session) each
//! take a free slot, so that no two sessions share an id, which a server
//! may hold for one session only (Bind2 lets it end the earlier one).
//!
//! A token stands for the password it was obtained with, no more: the file
//! keeps `salt=` and `check=` (PBKDF2-SHA-256 of that password, 4096
//! rounds, as SCRAM stores it), and a login whose password is another (a
//! typo, a changed password) does not use the token: the server checks
//! that password, as without FAST.
//!
//! The file holds `id=`, `mechanism=`, `token=` and `expiry=` lines, and
//! `features=`: the server's first stream features as the last login saw
//! them (base64; no secret), so that the next one can send its SASL2
//! `<authenticate/>` with the stream header. The token is never printed. A file that cannot be read or parsed is
//! started afresh: the worst case is one login with the password.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use xmpp_pipes::jid::Jid;
use xmpp_pipes::password::Password;
use xmpp_pipes::sasl::{HtMechanism, ScramHash};
use xmpp_pipes::session::sasl2::{Fast, Token, TokenUpdate};

/// How many sessions of one account may use FAST at the same time.
pub const SLOTS: usize = 8;

/// A slot, locked for this process.
pub struct Store {
    path: PathBuf,
    /// The lock, held while this lives.
    _lock: File,
    client_id: String,
    token: Option<Token>,
    features: Option<String>,
    /// The salt and check of the stored token's password.
    salt: Vec<u8>,
    check: Vec<u8>,
    /// The check of this run's password ([`Store::bind_password`]).
    check_now: Vec<u8>,
}

/// PBKDF2 rounds of the password check (SCRAM's usual count).
const CHECK_ROUNDS: u32 = 4096;

/// The directory of the account's slots, from the environment's values.
pub fn account_dir(jid: &Jid, xdg_state_home: Option<&str>, home: Option<&str>) -> Option<PathBuf> {
    let base = match xdg_state_home.filter(|d| Path::new(d).is_absolute()) {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(home.filter(|h| Path::new(h).is_absolute())?).join(".local/state"),
    };
    // A bare JID is a valid name: no '/', and not "." or "..".
    Some(base.join("xmpp-pipes/fast").join(jid.to_bare().to_string()))
}

impl Store {
    /// Take the first free slot in `dir`, making the directories as needed.
    /// `None` when every slot is in use or the directory cannot be made;
    /// the login then goes without FAST.
    pub fn open(dir: &Path) -> std::io::Result<Option<Store>> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        for slot in 0..SLOTS {
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .open(dir.join(format!("{slot}.lock")))?;
            match rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(rustix::io::Errno::WOULDBLOCK) => continue,
                Err(err) => return Err(err.into()),
            }
            let path = dir.join(slot.to_string());
            let slot = read(&path).unwrap_or_default();
            let mut store = Store {
                path,
                _lock: lock,
                client_id: slot.id,
                token: slot.token,
                features: slot.features,
                salt: slot.salt,
                check: slot.check,
                check_now: Vec::new(),
            };
            if store.client_id.is_empty() {
                store.client_id = uuid_v4()?;
                store.save()?;
            }
            return Ok(Some(store));
        }
        Ok(None)
    }

    /// Compute this run's password check (a token obtained now is kept
    /// with it); whether the stored token was obtained with this password.
    pub fn bind_password(&mut self, password: &str) -> std::io::Result<bool> {
        if self.salt.is_empty() {
            self.salt = vec![0; 16];
            getrandom::fill(&mut self.salt).map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        self.check_now = ScramHash::Sha256.hi(password.as_bytes(), &self.salt, CHECK_ROUNDS);
        Ok(!self.check.is_empty() && self.check == self.check_now)
    }

    /// FAST for the login: the stored token unless it expired by `now`
    /// (seconds since the epoch) or was obtained with another password
    /// ([`Store::bind_password`] said).
    pub fn fast(&self, now: i64, invalidate: bool, same_password: bool) -> Fast {
        let token = self
            .token
            .clone()
            .filter(|_| same_password)
            .filter(|t| expires_after(&t.expiry, now));
        Fast {
            client_id: self.client_id.clone(),
            token,
            invalidate,
        }
    }

    /// The server's first features as the last login saw them.
    pub fn cached_features(&self) -> Option<String> {
        self.features.clone()
    }

    /// Keep (or forget) the server's first features.
    pub fn remember_features(&mut self, features: Option<String>) -> std::io::Result<()> {
        if self.features == features {
            return Ok(());
        }
        self.features = features;
        self.save()
    }

    /// Keep what the login said.
    pub fn apply(&mut self, update: &TokenUpdate) -> std::io::Result<()> {
        self.token = match update {
            TokenUpdate::Store(token) => {
                self.check.clone_from(&self.check_now);
                Some(token.clone())
            }
            TokenUpdate::Forget => None,
        };
        self.save()
    }

    fn save(&self) -> std::io::Result<()> {
        let mut text = format!("id={}\n", self.client_id);
        if let Some(features) = &self.features {
            text.push_str(&format!("features={}\n", B64.encode(features)));
        }
        if let Some(token) = self.token.as_ref().filter(|_| !self.check.is_empty()) {
            text.push_str(&format!(
                "salt={}\ncheck={}\n",
                B64.encode(&self.salt),
                B64.encode(&self.check)
            ));
            text.push_str(&format!(
                "mechanism={}\ntoken={}\nexpiry={}\n",
                token.mechanism.name(),
                token.secret.expose(),
                token.expiry
            ));
        }
        let tmp = self.path.with_extension("tmp");
        let result = (|| {
            let mut file = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            fs::rename(&tmp, &self.path)
        })();
        let mut bytes = text.into_bytes();
        bytes.fill(0);
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

/// What a slot file holds.
#[derive(Default)]
struct Slot {
    id: String,
    token: Option<Token>,
    features: Option<String>,
    salt: Vec<u8>,
    check: Vec<u8>,
}

/// The contents of a slot file.
fn read(path: &Path) -> Option<Slot> {
    let mut text = String::new();
    File::open(path).ok()?.read_to_string(&mut text).ok()?;
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::trim)
    };
    let id = value("id").filter(|id| valid_uuid(id))?.to_owned();
    let token = (|| {
        Some(Token {
            mechanism: HtMechanism::from_name(value("mechanism")?)?,
            secret: Password::new(value("token").filter(|t| !t.is_empty())?.to_owned()),
            expiry: value("expiry").unwrap_or_default().to_owned(),
        })
    })();
    let decoded = |key: &str| value(key).and_then(|v| B64.decode(v).ok());
    let slot = Slot {
        id,
        token,
        features: decoded("features").and_then(|f| String::from_utf8(f).ok()),
        salt: decoded("salt").unwrap_or_default(),
        check: decoded("check").unwrap_or_default(),
    };
    let mut bytes = std::mem::take(&mut text).into_bytes();
    bytes.fill(0);
    Some(slot)
}

/// Whether `expiry` (RFC 3339, as XEP-0082 has it) is after `now`; a token
/// without a readable expiry is tried (the server decides).
fn expires_after(expiry: &str, now: i64) -> bool {
    match expiry.parse::<jiff::Timestamp>() {
        Ok(at) => at.as_second() > now,
        Err(_) => true,
    }
}

/// A random UUID v4 (RFC 9562).
fn uuid_v4() -> std::io::Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| std::io::Error::other(e.to_string()))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

fn valid_uuid(id: &str) -> bool {
    id.len() == 36
        && id.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xa-fast-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn token(secret: &str, expiry: &str) -> Token {
        Token {
            mechanism: HtMechanism::Sha256None,
            secret: Password::new(secret.into()),
            expiry: expiry.into(),
        }
    }

    #[test]
    fn a_token_is_kept_privately_and_read_back_by_the_next_run() {
        let dir = tempdir("keep").join("user@example.org");
        let mut store = Store::open(&dir).unwrap().unwrap();
        let id = store.client_id.clone();
        assert!(valid_uuid(&id), "{id}");
        assert!(!store.bind_password("pencil").unwrap(), "no token yet");
        store
            .apply(&TokenUpdate::Store(token("s3cret", "2100-01-01T00:00:00Z")))
            .unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("0")), 0o600);
        drop(store);
        let mut again = Store::open(&dir).unwrap().unwrap();
        assert!(again.bind_password("pencil").unwrap());
        let fast = again.fast(0, false, true);
        assert_eq!(fast.client_id, id);
        assert_eq!(fast.token, Some(token("s3cret", "2100-01-01T00:00:00Z")));
        let text = fs::read_to_string(dir.join("0")).unwrap();
        assert!(!text.contains("pencil"), "{text}");
        // Expired: not offered to the server.
        assert_eq!(again.fast(i64::from(u32::MAX) * 2, false, true).token, None);
        // Another password: the token is not used.
        assert!(!again.bind_password("pencil2").unwrap());
        assert_eq!(again.fast(0, false, false).token, None);
        let _ = fs::remove_dir_all(dir.parent().unwrap());
    }

    #[test]
    fn sessions_at_the_same_time_get_slots_of_their_own() {
        let dir = tempdir("slots");
        let first = Store::open(&dir).unwrap().unwrap();
        let second = Store::open(&dir).unwrap().unwrap();
        assert_ne!(first.client_id, second.client_id);
        assert!(first.path.ends_with("0") && second.path.ends_with("1"));
        let mut held = Vec::new();
        for _ in 2..SLOTS {
            held.push(Store::open(&dir).unwrap().unwrap());
        }
        assert!(Store::open(&dir).unwrap().is_none(), "all slots taken");
        drop(first);
        assert!(Store::open(&dir).unwrap().unwrap().path.ends_with("0"));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_forgotten_or_garbled_token_is_gone() {
        let dir = tempdir("forget");
        let mut store = Store::open(&dir).unwrap().unwrap();
        store.bind_password("pw").unwrap();
        store.apply(&TokenUpdate::Store(token("t", ""))).unwrap();
        store
            .remember_features(Some("<stream:features a='1'/>".into()))
            .unwrap();
        store.apply(&TokenUpdate::Forget).unwrap();
        drop(store);
        let store = Store::open(&dir).unwrap().unwrap();
        assert_eq!(
            store.cached_features().as_deref(),
            Some("<stream:features a='1'/>")
        );
        assert!(!fs::read_to_string(dir.join("0"))
            .unwrap()
            .contains("token="));
        drop(store);
        fs::write(dir.join("0"), "garbage\n").unwrap();
        let fresh = Store::open(&dir).unwrap().unwrap();
        assert!(valid_uuid(&fresh.client_id));
        assert_eq!(fresh.token, None);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_directory_follows_xdg_state_home_else_home() {
        let jid = Jid::parse("User@Example.org/res").unwrap();
        assert_eq!(
            account_dir(&jid, Some("/s"), Some("/h")).unwrap(),
            Path::new("/s/xmpp-pipes/fast/user@example.org")
        );
        assert_eq!(
            account_dir(&jid, Some("relative"), Some("/h")).unwrap(),
            Path::new("/h/.local/state/xmpp-pipes/fast/user@example.org")
        );
        assert_eq!(account_dir(&jid, None, None), None);
    }
}
