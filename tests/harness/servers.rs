//! The four servers the login, interop and delivery tests run against
//! (Prosody 0.12 and 13, ejabberd 23.01 and 24.12), and
//! [`on_every_server!`](crate::on_every_server) to run a test on each.

use crate::{skip, Ejabberd, EjabberdVersion, Prosody, ProsodyOptions, ProsodyVersion, Server};

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

    /// Starts a private instance of it (fresh ports, certificates and
    /// data), stopped when dropped; panics if it cannot run here.
    pub fn start(self) -> Box<dyn Server> {
        match self {
            ServerVersion::Prosody(v) => Box::new(Prosody::start_with(ProsodyOptions::of(v))),
            ServerVersion::Ejabberd(v) => Box::new(Ejabberd::start_version(v)),
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

/// Runs `body` on `shared(version)`, or says SKIPPED (a failure with
/// `XMPP_PIPES_REQUIRE_INTEROP=1`, see [`skip`]) when `version` cannot run
/// here. `test` names the test in that line.
pub fn run_on<S: ?Sized + 'static>(
    version: ServerVersion,
    test: &str,
    shared: fn(ServerVersion) -> &'static S,
    body: fn(&'static S),
) {
    match version.unavailable() {
        Some(why) => skip(test, &why),
        None => body(shared(version)),
    }
}

impl ServerVersion {
    /// The shared ejabberd of this version; panics for a Prosody.
    pub fn shared_ejabberd(self) -> &'static Ejabberd {
        match self {
            ServerVersion::Ejabberd(v) => Ejabberd::shared_version(v),
            ServerVersion::Prosody(_) => panic!("{} is not an ejabberd", self.name()),
        }
    }

    /// The shared Prosody of this version; panics for an ejabberd.
    pub fn shared_prosody(self) -> &'static Prosody {
        match self {
            ServerVersion::Prosody(v) => Prosody::shared_version(v),
            ServerVersion::Ejabberd(_) => panic!("{} is not a Prosody", self.name()),
        }
    }
}

/// Defines tests to run on each of the four servers: for each `fn
/// NAME(server) BODY`, a module NAME holding one `#[test]` a server
/// (`prosody_0_12`, `prosody_13`, `ejabberd_23_01`, `ejabberd_24_12`), each
/// calling BODY with that server's shared instance as `server: &'static dyn
/// Server`; a server that cannot run here is skipped ([`run_on`]). Starting
/// with `prosody:` or `ejabberd:`, only that implementation's two versions,
/// `server` then being a `&'static Prosody` or `&'static Ejabberd`. The
/// modules see the test file's items (`use super::*`).
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
    (prosody: $($rest:tt)*) => {
        $crate::on_every_server!(@tests [$crate::Prosody, $crate::ServerVersion::shared_prosody]
            [prosody_0_12 = 0, prosody_13 = 1] $($rest)*);
    };
    (ejabberd: $($rest:tt)*) => {
        $crate::on_every_server!(@tests [$crate::Ejabberd, $crate::ServerVersion::shared_ejabberd]
            [ejabberd_23_01 = 2, ejabberd_24_12 = 3] $($rest)*);
    };
    (@tests [$ty:ty, $shared:path] $servers:tt
        $($(#[$attr:meta])* fn $name:ident($server:ident) $body:block)*) => {$(
        $(#[$attr])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn body($server: &'static $ty) $body

            $crate::on_every_server!(@each $name $shared $servers);
        }
    )*};
    (@each $name:ident $shared:path [$($test:ident = $index:literal),*]) => {$(
        #[test]
        fn $test() {
            $crate::run_on(
                $crate::ServerVersion::ALL[$index],
                concat!(stringify!($name), "::", stringify!($test)),
                $shared,
                body,
            );
        }
    )*};
    ($($rest:tt)*) => {
        $crate::on_every_server!(@tests [dyn $crate::Server, $crate::ServerVersion::shared]
            [prosody_0_12 = 0, prosody_13 = 1, ejabberd_23_01 = 2, ejabberd_24_12 = 3] $($rest)*);
    };
}
