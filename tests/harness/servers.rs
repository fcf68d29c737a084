//! The four servers the login, interop and delivery tests run against
//! (Prosody 0.12 and 13, ejabberd 23.01 and 24.12), and
//! [`on_every_server!`](crate::on_every_server) to run a test on each.

use crate::{skip, Ejabberd, EjabberdVersion, Prosody, ProsodyVersion, Server};

/// A server implementation and version the harness can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerVersion {
    /// A Prosody.
    Prosody(ProsodyVersion),
    /// An ejabberd.
    Ejabberd(EjabberdVersion),
}

impl ServerVersion {
    /// All four, Prosody first, oldest first.
    pub const ALL: [ServerVersion; 4] = [
        ServerVersion::Prosody(ProsodyVersion::V0_12),
        ServerVersion::Prosody(ProsodyVersion::V13),
        ServerVersion::Ejabberd(EjabberdVersion::V23),
        ServerVersion::Ejabberd(EjabberdVersion::V24),
    ];

    /// `prosody-0.12`, `prosody-13`, `ejabberd-23.01`, `ejabberd-24.12`.
    pub fn name(self) -> &'static str {
        match self {
            ServerVersion::Prosody(v) => v.name(),
            ServerVersion::Ejabberd(v) => v.name(),
        }
    }

    /// Why it cannot run here, if it cannot (not installed, not fetched,
    /// not root for ejabberd).
    pub fn unavailable(self) -> Option<String> {
        match self {
            ServerVersion::Prosody(v) => v.unavailable(),
            ServerVersion::Ejabberd(v) => Ejabberd::unavailable_version(v),
        }
    }

    /// Its shared instance, started on first use (see [`Prosody::shared`],
    /// [`Ejabberd::shared`]).
    pub fn shared(self) -> &'static dyn Server {
        match self {
            ServerVersion::Prosody(v) => Prosody::shared_version(v),
            ServerVersion::Ejabberd(v) => Ejabberd::shared_version(v),
        }
    }

    /// Whether it offers SASL2 (XEP-0388) with Bind2 and FAST: Prosody 13
    /// with the harness's modules, ejabberd 24.12 (to a stream header that
    /// carries `from`).
    pub fn has_sasl2(self) -> bool {
        matches!(
            self,
            ServerVersion::Prosody(ProsodyVersion::V13)
                | ServerVersion::Ejabberd(EjabberdVersion::V24)
        )
    }
}

/// Runs `body` on the shared instance of `version`, or says SKIPPED (a
/// failure with `XMPP_PIPES_REQUIRE_INTEROP=1`, see [`skip`]) when it
/// cannot run here. `test` names the test in that line.
pub fn run_on(version: ServerVersion, test: &str, body: fn(&'static dyn Server)) {
    match version.unavailable() {
        Some(why) => skip(test, &why),
        None => body(version.shared()),
    }
}

/// Defines a test to run on each of the four servers: a module named after
/// the test holding one `#[test]` a server (`prosody_0_12`, `prosody_13`,
/// `ejabberd_23_01`, `ejabberd_24_12`), each calling the body with that
/// server's shared instance as a `&'static dyn Server`; a server that
/// cannot run here is skipped ([`run_on`]). The module sees the test file's
/// items (`use super::*`).
///
/// ```ignore
/// harness::on_every_server! {
///     /// A message gets through.
///     fn delivers(server) {
///         let alice = server.new_account("alice");
///         // …
///     }
/// }
/// ```
#[macro_export]
macro_rules! on_every_server {
    ($($(#[$attr:meta])* fn $name:ident($server:ident) $body:block)*) => {$(
        $(#[$attr])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($server: &'static dyn $crate::Server) $body

            $crate::on_every_server!(@each $name:
                prosody_0_12 = 0, prosody_13 = 1, ejabberd_23_01 = 2, ejabberd_24_12 = 3);
        }
    )*};
    (@each $name:ident: $($test:ident = $index:literal),*) => {$(
        #[test]
        fn $test() {
            $crate::run_on(
                $crate::ServerVersion::ALL[$index],
                concat!(stringify!($name), "::", stringify!($test)),
                body,
            );
        }
    )*};
}
