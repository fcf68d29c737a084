//! The example streams of RFC 6120 (section 9.1, client to server, both
//! sides, with the restarts after STARTTLS and SASL) and RFC 6121 stanzas,
//! laid out over several lines and indented as the RFCs print them (without
//! the "C:"/"S:" marks): white space between stanzas is dropped, white space
//! inside them is kept (a newline as &#10;), double quotes become single.

mod common;
use common::{run, run_chunked, Rng};
use xmpp_pipes::xml::Element;

/// RFC 6120 section 9.1, what the server sends.
const SERVER: &str = "<?xml version='1.0'?>
<stream:stream
    from='im.example.com'
    id='t7AMCin9zjMNwQKDnplntZPIDEI='
    to='juliet@im.example.com'
    version='1.0'
    xml:lang='en'
    xmlns='jabber:client'
    xmlns:stream='http://etherx.jabber.org/streams'>

<stream:features>
  <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>
    <required/>
  </starttls>
</stream:features>

<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>

<?xml version='1.0'?>
<stream:stream
    from='im.example.com'
    id='vgKi/bkYME8OAj4rlXMkpucAqe4='
    to='juliet@im.example.com'
    version='1.0'
    xml:lang='en'
    xmlns='jabber:client'
    xmlns:stream='http://etherx.jabber.org/streams'>

<stream:features>
  <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>
    <mechanism>SCRAM-SHA-1-PLUS</mechanism>
    <mechanism>SCRAM-SHA-1</mechanism>
    <mechanism>PLAIN</mechanism>
  </mechanisms>
</stream:features>

<challenge xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\">
cj1vTXNUQUF3QUFBQU1BQUFBTlAwVEFBQUFBQUJQVTBBQSwzcmZjTkhZSlkxWlZ2V1ZzN2oscz1RU1hDUitRNnNlazhiZjkyLGk9NDA5Ng==
</challenge>

<success xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\">
dj1wTk5ERlZFUXh1WHhDb1NFaVc4R0VaKzFSU289
</success>

<?xml version='1.0'?>
<stream:stream
    from='im.example.com'
    id='gPybzaOzBmaADgxKXu9UClbprp0='
    to='juliet@im.example.com'
    version='1.0'
    xml:lang='en'
    xmlns='jabber:client'
    xmlns:stream='http://etherx.jabber.org/streams'>

<stream:features>
  <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>
</stream:features>

<iq id='yhc13a95' type='result'>
  <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>
    <jid>
      juliet@im.example.com/4db06f06-1ea4-11dc-aca3-000bcd821bfb
    </jid>
  </bind>
</iq>

<message from='romeo@example.net/orchard'
         id='sl3nx51f'
         to='juliet@im.example.com/balcony'
         type='chat'
         xml:lang='en'>
  <body>Neither, fair saint, if either thee dislike.</body>
</message>

</stream:stream>
";

const SERVER_LINES: &str = "\
<stream:features xmlns:stream='http://etherx.jabber.org/streams'>&#10;  \
<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>&#10;    <required/>&#10;  </starttls>&#10;</stream:features>
<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>
<stream:features xmlns:stream='http://etherx.jabber.org/streams'>&#10;  \
<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>&#10;    \
<mechanism>SCRAM-SHA-1-PLUS</mechanism>&#10;    <mechanism>SCRAM-SHA-1</mechanism>&#10;    \
<mechanism>PLAIN</mechanism>&#10;  </mechanisms>&#10;</stream:features>
<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>&#10;\
cj1vTXNUQUF3QUFBQU1BQUFBTlAwVEFBQUFBQUJQVTBBQSwzcmZjTkhZSlkxWlZ2V1ZzN2oscz1RU1hDUitRNnNlazhiZjkyLGk9NDA5Ng==\
&#10;</challenge>
<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>&#10;dj1wTk5ERlZFUXh1WHhDb1NFaVc4R0VaKzFSU289&#10;</success>
<stream:features xmlns:stream='http://etherx.jabber.org/streams'>&#10;  \
<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>&#10;</stream:features>
<iq id='yhc13a95' type='result'>&#10;  <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>&#10;    \
<jid>&#10;      juliet@im.example.com/4db06f06-1ea4-11dc-aca3-000bcd821bfb&#10;    </jid>&#10;  \
</bind>&#10;</iq>
<message from='romeo@example.net/orchard' id='sl3nx51f' to='juliet@im.example.com/balcony' \
type='chat' xml:lang='en'>&#10;  <body>Neither, fair saint, if either thee dislike.</body>&#10;</message>
</stream:stream>
";

/// RFC 6120 section 9.1, what the client sends (up to resource binding),
/// then a message and the close.
const CLIENT: &str = "<?xml version='1.0'?>
<stream:stream
    from='juliet@im.example.com'
    to='im.example.com'
    version='1.0'
    xml:lang='en'
    xmlns='jabber:client'
    xmlns:stream='http://etherx.jabber.org/streams'>
<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>
<stream:stream
    from='juliet@im.example.com'
    to='im.example.com'
    version='1.0'
    xml:lang='en'
    xmlns='jabber:client'
    xmlns:stream='http://etherx.jabber.org/streams'>
<auth xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\"
      mechanism=\"SCRAM-SHA-1-PLUS\">
biwsbj1qdWxpZXQscj1vTXNUQUF3QUFBQU1BQUFBTlAwVEFBQUFBQUJQVTBBQQ==
</auth>
<response xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\">
Yz1jRzR5YzNSeVpXRnRNVEl6TkRVMk56ZzVNR0ZpWTJSbFpnPT0scj1vTXNUQUF3QUFBQU1BQUFBTlAwVEFBQUFBQUJQVTBBQSwzcmZjTkhZSlkxWlZ2V1ZzN2oscD1VQTU3dE0vU3ZwQVRCa0gyRlhzMFdEWHZKWXc9
</response>
<stream:stream
    from='juliet@im.example.com'
    to='im.example.com'
    version='1.0'
    xml:lang='en'
    xmlns='jabber:client'
    xmlns:stream='http://etherx.jabber.org/streams'>
<iq id='yhc13a95' type='set'>
  <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>
    <resource>balcony</resource>
  </bind>
</iq>
<presence/>
</stream:stream>
";

const CLIENT_LINES: &str = "\
<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>
<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1-PLUS'>&#10;\
biwsbj1qdWxpZXQscj1vTXNUQUF3QUFBQU1BQUFBTlAwVEFBQUFBQUJQVTBBQQ==&#10;</auth>
<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>&#10;\
Yz1jRzR5YzNSeVpXRnRNVEl6TkRVMk56ZzVNR0ZpWTJSbFpnPT0scj1vTXNUQUF3QUFBQU1BQUFBTlAwVEFBQUFBQUJQVTBBQSwzcmZjTkhZSlkxWlZ2V1ZzN2oscD1VQTU3dE0vU3ZwQVRCa0gyRlhzMFdEWHZKWXc9\
&#10;</response>
<iq id='yhc13a95' type='set'>&#10;  <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>&#10;    \
<resource>balcony</resource>&#10;  </bind>&#10;</iq>
<presence/>
</stream:stream>
";

/// RFC 6121 stanzas (sections 2.1.3, 4.2.2, 4.7, 5.2.2) as a stream after
/// xmpp-auth: no header, the jabber:client namespace implied.
const STANZAS_6121: &str = "
<iq id='hu2bac18' to='juliet@example.com/balcony' type='result'>
  <query xmlns='jabber:iq:roster' ver='ver11'>
    <item jid='romeo@example.net' name='Romeo' subscription='both'>
      <group>Friends</group>
    </item>
    <item jid='mercutio@example.com' name='Mercutio' subscription='from'/>
  </query>
</iq>
<presence from='juliet@example.com/balcony' xml:lang='en'>
  <show>away</show>
  <status>be right back</status>
  <status xml:lang='es'>estoy ausente</status>
  <priority>0</priority>
</presence>
<presence from='romeo@example.net' to='juliet@example.com' type='subscribe'/>
<message from='juliet@example.com/balcony'
         id='ktx72v49'
         to='romeo@example.net'
         type='chat'
         xml:lang='en'>
  <body>Art thou not Romeo, and a Montague?</body>
  <thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread>
</message>
";

const STANZAS_6121_LINES: &str = "\
<iq id='hu2bac18' to='juliet@example.com/balcony' type='result'>&#10;  \
<query xmlns='jabber:iq:roster' ver='ver11'>&#10;    \
<item jid='romeo@example.net' name='Romeo' subscription='both'>&#10;      <group>Friends</group>&#10;    \
</item>&#10;    <item jid='mercutio@example.com' name='Mercutio' subscription='from'/>&#10;  </query>&#10;</iq>
<presence from='juliet@example.com/balcony' xml:lang='en'>&#10;  <show>away</show>&#10;  \
<status>be right back</status>&#10;  <status xml:lang='es'>estoy ausente</status>&#10;  \
<priority>0</priority>&#10;</presence>
<presence from='romeo@example.net' to='juliet@example.com' type='subscribe'/>
<message from='juliet@example.com/balcony' id='ktx72v49' to='romeo@example.net' type='chat' xml:lang='en'>\
&#10;  <body>Art thou not Romeo, and a Montague?</body>&#10;  \
<thread>e0ffe42b28561960c6b12b944a092794b9683a38</thread>&#10;</message>
";

fn check(input: &str, expected: &str) {
    let whole = run(&[], input);
    assert_eq!(whole.status.code(), Some(0), "{whole}");
    assert_eq!(whole.stderr, "");
    assert_eq!(whole.stdout, expected);
    for seed in 1..=3 {
        let mut rng = Rng::new(seed);
        let chunked = run_chunked(&[], input.into(), move || rng.range(1, 7));
        assert_eq!(chunked.stdout, expected, "seed {seed}: {chunked}");
    }
    // Every line is standalone XML, and splitting the lines again changes nothing.
    for line in expected.lines().filter(|l| *l != "</stream:stream>") {
        Element::parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
    assert_eq!(
        run(&[], expected).stdout,
        expected,
        "lines split to themselves"
    );
}

#[test]
fn rfc6120_server_side_with_restarts() {
    check(SERVER, SERVER_LINES);
}

#[test]
fn rfc6120_client_side_with_restarts() {
    check(CLIENT, CLIENT_LINES);
}

#[test]
fn rfc6121_stanzas_without_a_header() {
    check(STANZAS_6121, STANZAS_6121_LINES);
    let message = Element::parse(STANZAS_6121_LINES.lines().nth(3).unwrap()).unwrap();
    assert!(message.is("message", "jabber:client"));
    assert_eq!(
        message
            .child("body", "jabber:client")
            .map(Element::text)
            .as_deref(),
        Some("Art thou not Romeo, and a Montague?")
    );
}

#[test]
fn rfc6120_stream_error_and_close() {
    // RFC 6120 section 4.9.1.1, with the application-specific condition of 4.9.4.
    let input = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
                 xmlns:app='urn:example:app'>\
                 <stream:error>\n  <not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\n  \
                 <text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>Some special application diagnostic information!</text>\n  \
                 <escape-your-data xmlns='urn:example:app'/>\n</stream:error>\n</stream:stream>";
    check(
        input,
        "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>&#10;  \
         <not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>&#10;  \
         <text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>Some special application \
         diagnostic information!</text>&#10;  <escape-your-data xmlns='urn:example:app'/>&#10;</stream:error>\n\
         </stream:stream>\n",
    );
}
