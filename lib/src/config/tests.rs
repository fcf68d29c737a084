//! Unit tests of the configuration: the file format, the environment,
//! precedence, and which account the file's settings apply to.

use super::*;
use crate::exit::Status;
use std::collections::HashMap;

fn layer(text: &str) -> Result<Layer> {
    file::parse(
        text,
        Path::new("/etc/x/config"),
        Scope::Login,
        Some(Path::new("/home/u")),
    )
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
    let map: HashMap<String, OsString> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
    move |name| map.get(name).cloned()
}

fn env_layer(pairs: &[(&str, &str)], scope: Scope) -> Result<Layer> {
    env::read(&env_of(pairs), scope)
}

fn host(layer: &Layer) -> Option<&str> {
    layer.server.as_ref().map(|s| s.host.value.as_str())
}

fn config_error(result: Result<Layer>) -> String {
    let err = result.unwrap_err();
    assert_eq!(err.status(), Status::Config, "{err}");
    err.message().to_owned()
}

#[test]
fn our_format_with_both_separators_comments_and_quotes() {
    let l = layer(
        "# the bot\n\n  jid = Bot@Example.org\npassword-file: ~/bot.pass\nhost = xmpp.example.org:5223\n\
         direct-tls = yes\ncafile = ca.pem\nresource: cron\ntimeout = 20\n",
    )
    .unwrap();
    assert_eq!(l.jid.as_ref().unwrap().value.to_string(), "bot@example.org");
    assert_eq!(host(&l), Some("xmpp.example.org:5223"));
    assert!(l.server.unwrap().direct_tls);
    match l.trust {
        Some(Trust::CaFile(f)) => assert_eq!(f.value, Path::new("/etc/x/ca.pem")),
        other => panic!("{other:?}"),
    }
    match l.password.unwrap().value {
        Secret::File(f) => assert_eq!(f, Path::new("/home/u/bot.pass")),
        other => panic!("{other:?}"),
    }
    assert_eq!(l.resource.unwrap().value, "cron");
    assert_eq!(l.timeout.unwrap().value, "20");

    let l = layer("password = \"a # b = c\"\n").unwrap();
    match l.password.unwrap().value {
        Secret::Text(p) => assert_eq!(p.expose(), "a # b = c"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn go_sendxmpp_format() {
    let l = layer(
        "username: bot@example.org\njserver: xmpp.example.org\nport: 5222\n\
         eval_password: pass show xmpp/bot\nalias: Bot\nallow_plain: false\n",
    )
    .unwrap();
    assert_eq!(l.jid.as_ref().unwrap().value.to_string(), "bot@example.org");
    assert_eq!(host(&l), Some("xmpp.example.org:5222"));
    match l.password.unwrap().value {
        Secret::Command(c) => assert_eq!(c, "pass show xmpp/bot"),
        other => panic!("{other:?}"),
    }
    // A port alone goes to the JID's domain; an IPv6 server gets brackets.
    let l = layer("username: bot@example.org\nport: 5223\n").unwrap();
    assert_eq!(host(&l), Some("example.org:5223"));
    let l = layer("jserver: ::1\nport: 5222\n").unwrap();
    assert_eq!(host(&l), Some("[::1]:5222"));
    // As go-sendxmpp reads it, a quoted password keeps its quotes.
    let l = layer("username: bot@example.org\npassword: \"s3cret\"\n").unwrap();
    match l.password.unwrap().value {
        Secret::Text(p) => assert_eq!(p.expose(), "\"s3cret\""),
        other => panic!("{other:?}"),
    }
    // The original sendxmpp's one line.
    let l = layer("bot@example.org s3cret\n").unwrap();
    assert_eq!(l.jid.as_ref().unwrap().value.to_string(), "bot@example.org");
    match l.password.unwrap().value {
        Secret::Text(p) => assert_eq!(p.expose(), "s3cret"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_lines_and_unknown_keys_name_the_file_and_line() {
    let msg = config_error(layer("jid = a@b\n\nserver = x\n"));
    assert!(
        msg.starts_with("/etc/x/config:3: unknown key `server`"),
        "{msg}"
    );
    assert!(msg.contains("known keys: jid,"), "{msg}");
    let msg = config_error(layer("# c\njust some words here\n"));
    assert!(msg.starts_with("/etc/x/config:2: not a setting"), "{msg}");
    let msg = config_error(layer("jid = a@b\nusername: c@d\n"));
    assert!(
        msg.contains(":2: jid is set twice (also at /etc/x/config:1)"),
        "{msg}"
    );
    let msg = config_error(layer("host =\n"));
    assert!(msg.contains(":1: `host` has no value"), "{msg}");
    let msg = config_error(layer("jid = example.org\n"));
    assert!(msg.contains(":1:") && msg.contains("localpart"), "{msg}");
    let msg = config_error(layer("jid = a@b/res\n"));
    assert!(msg.contains("resource"), "{msg}");
    let msg = config_error(layer("password-file = x\npassword = y\n"));
    assert!(msg.contains("one password source"), "{msg}");
    let msg = config_error(layer("cafile = x\npin = sha256:y\n"));
    assert!(
        msg.contains(":2: cafile and pin exclude each other"),
        "{msg}"
    );
    let msg = config_error(layer("direct-tls = yes\n"));
    assert!(msg.contains("direct-tls needs host"), "{msg}");
    let msg = config_error(layer("host = h\ndirect-tls = maybe\n"));
    assert!(msg.contains(":2:") && msg.contains("yes or no"), "{msg}");
    let msg = config_error(layer("jserver: h:5222\nport: 5223\n"));
    assert!(msg.contains("port is given twice"), "{msg}");
}

#[test]
fn the_connection_scope_never_keeps_a_password() {
    let text = "jid = a@b\npassword = secret\nhost = h\n";
    let l = file::parse(text, Path::new("/c"), Scope::Connection, None).unwrap();
    assert!(l.password.is_none());
    assert_eq!(host(&l), Some("h"));
    let l = file::parse("a@b secret\n", Path::new("/c"), Scope::Connection, None).unwrap();
    assert!(l.password.is_none() && l.jid.is_some());
    let l = env_layer(
        &[("XMPP_PASSWORD", "secret"), ("XMPP_HOST", "h")],
        Scope::Connection,
    )
    .unwrap();
    assert!(l.password.is_none());
    assert_eq!(host(&l), Some("h"));
}

#[test]
fn environment_variables() {
    let l = env_layer(
        &[
            ("XMPP_JID", "bot@example.org/parent-session"),
            ("XMPP_PASSWORD_COMMAND", "pass bot"),
            ("XMPP_HOST", "127.0.0.1:5222"),
            ("XMPP_PIN", "sha256:x"),
            ("XMPP_RESOURCE", ""),
        ],
        Scope::Login,
    )
    .unwrap();
    assert_eq!(l.jid.as_ref().unwrap().value.to_string(), "bot@example.org");
    assert_eq!(l.jid.unwrap().origin, Origin::Env("XMPP_JID"));
    assert!(matches!(l.password.unwrap().value, Secret::Command(_)));
    assert!(matches!(l.trust, Some(Trust::Pin(_))));
    assert!(l.resource.is_none(), "an empty variable is unset");
    let err = env_layer(
        &[("XMPP_PASSWORD", "x"), ("XMPP_PASSWORD_FILE", "/f")],
        Scope::Login,
    )
    .unwrap_err();
    assert!(
        err.message()
            .contains("XMPP_PASSWORD_FILE and XMPP_PASSWORD:"),
        "{err}"
    );
}

#[test]
fn environment_beats_file_group_by_group() {
    let env = env_layer(
        &[("XMPP_HOST", "env-host"), ("XMPP_RESOURCE", "env")],
        Scope::Login,
    )
    .unwrap();
    let file =
        layer("jid = a@b\nhost = file-host\ndirect-tls = yes\npin = sha256:p\npassword = pw\n")
            .unwrap();
    let config = Config::new(env, Some(("/etc/x/config".into(), file)));
    assert_eq!(config.account().unwrap().to_string(), "a@b");
    let jid = Jid::parse("a@b").unwrap();
    let s = config.settings_for(Target::Jid(&jid));
    let server = s.server.unwrap();
    assert_eq!(server.host.value, "env-host");
    assert!(!server.direct_tls, "direct-tls goes with the file's host");
    assert!(matches!(s.trust, Some(Trust::Pin(_))));
    assert!(matches!(s.password.unwrap().value, Secret::Text(_)));
    assert_eq!(s.resource.unwrap().value, "env");
}

#[test]
fn the_files_settings_are_for_its_account_only() {
    let file = || layer("jid = a@b\nhost = h\npassword = pw\n").unwrap();
    let config = |env: Layer| Config::new(env, Some(("/c".into(), file())));
    let other = Jid::parse("x@evil").unwrap();
    let s = config(Layer::default()).settings_for(Target::Jid(&other));
    assert!(s.password.is_none() && s.server.is_none());
    let s = config(Layer::default()).settings_for(Target::Domain("evil"));
    assert!(s.server.is_none());
    let same = Jid::parse("A@B/res").unwrap();
    let s = config(Layer::default()).settings_for(Target::Jid(&same));
    assert!(s.password.is_some());
    let s = config(Layer::default()).settings_for(Target::Domain("B"));
    assert!(s.server.is_some());
    // XMPP_JID names another account: `@` is that one, and the file is not for it.
    let env = env_layer(&[("XMPP_JID", "c@d")], Scope::Login).unwrap();
    let c = config(env);
    let jid = c.account().unwrap();
    assert_eq!(jid.to_string(), "c@d");
    assert!(c.settings_for(Target::Jid(&jid)).password.is_none());
    // A file without a jid is for any account.
    let c = Config::new(
        Layer::default(),
        Some(("/c".into(), layer("host = h\n").unwrap())),
    );
    assert!(c.settings_for(Target::Domain("any")).server.is_some());
}

#[test]
fn no_configured_account() {
    let err = Config::default().account().unwrap_err();
    assert_eq!(err.status(), Status::Config);
    assert!(err.message().contains("XMPP_JID"), "{err}");
}

#[test]
fn candidate_files_in_order() {
    let paths = locate::candidates(&env_of(&[("HOME", "/h"), ("XDG_CONFIG_HOME", "/x")]));
    let expected: Vec<PathBuf> = [
        "/x/xmpp-pipes/config",
        "/x/go-sendxmpp/config",
        "/x/go-sendxmpp/sendxmpprc",
        "/h/.sendxmpprc",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    assert_eq!(paths, expected);
    let paths = locate::candidates(&env_of(&[("HOME", "/h"), ("XDG_CONFIG_HOME", "rel")]));
    assert_eq!(paths[0], Path::new("/h/.config/xmpp-pipes/config"));
    assert!(locate::candidates(&env_of(&[])).is_empty());
}

#[test]
fn load_refuses_a_file_others_may_read_and_finds_the_first_candidate() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("xp-config-test-{}", std::process::id()));
    let sendxmpp = dir.join("go-sendxmpp");
    std::fs::create_dir_all(&sendxmpp).unwrap();
    let file = sendxmpp.join("config");
    std::fs::write(&file, "username: a@b\npassword: pw\n").unwrap();
    let set_mode =
        |mode| std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
    let xdg = dir.to_str().unwrap().to_owned();
    let env = env_of(&[("XDG_CONFIG_HOME", &xdg)]);

    set_mode(0o644);
    let err = Config::load(None, Scope::Connection, &env).unwrap_err();
    assert_eq!(err.status(), Status::Config);
    assert!(
        err.message()
            .contains(&format!("run `chmod 600 {}`", file.display())),
        "{err}"
    );

    set_mode(0o600);
    let config = Config::load(None, Scope::Login, &env).unwrap();
    assert_eq!(config.file(), Some(file.as_path()));
    assert_eq!(config.account().unwrap().to_string(), "a@b");

    let missing = dir.join("missing");
    let err = Config::load(Some(&missing), Scope::Login, &env).unwrap_err();
    assert_eq!(err.status(), Status::Config);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_timeout_is_reported_with_its_line_whatever_overrides_it() {
    let message = config_error(layer("jid = bot@example.org\ntimeout = 10s\n"));
    assert!(
        message.contains(":2:") && message.contains("10s"),
        "{message}"
    );
}
