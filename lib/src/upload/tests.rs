use super::*;

fn jid(s: &str) -> Jid {
    Jid::parse(s).unwrap()
}

fn file(size: u64) -> FileInfo {
    FileInfo {
        name: "report.pdf".into(),
        size,
        content_type: "application/pdf".into(),
    }
}

/// The id of the `n`th request in `lines` (its `id='…'`).
fn id_of(line: &str) -> String {
    Element::parse(line).unwrap().attr("id").unwrap().to_owned()
}

fn info_result(from: &str, id: &str, max: Option<u64>) -> String {
    let form = max.map_or(String::new(), |max| {
        format!(
            "<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE' type='hidden'>\
             <value>urn:xmpp:http:upload:0</value></field><field var='max-file-size'>\
             <value>{max}</value></field></x>"
        )
    });
    format!(
        "<iq type='result' from='{from}' id='{id}'><query xmlns='http://jabber.org/protocol/disco#info'>\
         <identity category='store' type='file'/><feature var='urn:xmpp:http:upload:0'/>{form}</query></iq>"
    )
}

fn plain_info(from: &str, id: &str) -> String {
    format!(
        "<iq type='result' from='{from}' id='{id}'><query xmlns='http://jabber.org/protocol/disco#info'>\
         <feature var='http://jabber.org/protocol/disco#info'/></query></iq>"
    )
}

fn items_result(from: &str, id: &str, items: &[&str]) -> String {
    let items: String = items.iter().map(|i| format!("<item jid='{i}'/>")).collect();
    format!(
        "<iq type='result' from='{from}' id='{id}'><query xmlns='http://jabber.org/protocol/disco#items'>{items}</query></iq>"
    )
}

fn slot_result(from: &str, id: &str, put: &str) -> String {
    format!(
        "<iq type='result' from='{from}' id='{id}'><slot xmlns='urn:xmpp:http:upload:0'>\
         <put url='{put}'><header name='Authorization'>Bearer abc</header>\
         <header name='Host'>evil</header><header name='cookie'>c=1</header></put>\
         <get url='https://up.example.org/f/report.pdf'/></slot></iq>"
    )
}

/// Discovery through the items to a service; returns the machine and the slot request line.
fn discover(size: u64, max: Option<u64>) -> (Upload, Step) {
    let (mut up, lines) =
        Upload::start(file(size), jid("example.org"), None, "xu-s3cr3t", false).unwrap();
    assert_eq!(lines.len(), 2);
    assert!(
        lines[0].contains("disco#info") && lines[0].contains("to='example.org'"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("disco#items"), "{}", lines[1]);
    let (info, items) = (id_of(&lines[0]), id_of(&lines[1]));
    assert_eq!(
        up.on_line(&plain_info("example.org", &info)).unwrap(),
        Step::Wait
    );
    let step = up
        .on_line(&items_result(
            "example.org",
            &items,
            &["conference.example.org", "upload.example.org"],
        ))
        .unwrap();
    let Step::Send(asks) = step else {
        panic!("{step:?}")
    };
    assert_eq!(asks.len(), 2);
    assert_eq!(
        up.on_line(&plain_info("conference.example.org", &id_of(&asks[0])))
            .unwrap(),
        Step::Wait
    );
    let step = up.on_line(&info_result("upload.example.org", &id_of(&asks[1]), max));
    (
        up,
        step.unwrap_or_else(|e| Step::Send(vec![format!("error {} {}", e.status().code(), e)])),
    )
}

#[test]
fn the_service_is_found_among_the_items_and_the_slot_asked_with_the_file() {
    let (mut up, step) = discover(1000, Some(5000));
    let Step::Send(lines) = step else {
        panic!("{step:?}")
    };
    let request = Element::parse(&lines[0]).unwrap();
    assert_eq!(request.attr("to"), Some("upload.example.org"));
    let r = request.child("request", NS_UPLOAD).unwrap();
    assert_eq!(r.attr("filename"), Some("report.pdf"));
    assert_eq!(r.attr("size"), Some("1000"));
    assert_eq!(r.attr("content-type"), Some("application/pdf"));
    let id = id_of(&lines[0]);
    // From anyone else, or with another id, it is not ours.
    let forged = slot_result("evil.example.org", &id, "https://evil/");
    assert_eq!(up.on_line(&forged).unwrap(), Step::NotOurs);
    let other = slot_result("upload.example.org", "xu-s3cr3t-99", "https://evil/");
    assert_eq!(up.on_line(&other).unwrap(), Step::NotOurs);
    let step = up
        .on_line(&slot_result(
            "upload.example.org",
            &id,
            "https://up.example.org/f/report.pdf",
        ))
        .unwrap();
    let Step::Put(slot) = step else {
        panic!("{step:?}")
    };
    assert_eq!(slot.put, "https://up.example.org/f/report.pdf");
    assert_eq!(
        slot.headers,
        [
            ("Authorization".to_owned(), "Bearer abc".to_owned()),
            ("Cookie".to_owned(), "c=1".to_owned())
        ],
        "Host is not one the XEP allows"
    );
    assert_eq!(
        up.on_line(&slot_result("upload.example.org", &id, "https://x/"))
            .unwrap(),
        Step::NotOurs
    );
}

#[test]
fn answers_from_elsewhere_or_to_other_ids_are_not_taken() {
    let (mut up, lines) = Upload::start(file(1), jid("example.org"), None, "xu-k", false).unwrap();
    let info = id_of(&lines[0]);
    for line in [
        info_result("mallory@example.org", &info, None),
        info_result("example.org", "xu-k-77", None),
        "<message from='example.org'><body>hi</body></message>".into(),
        "not xml".into(),
    ] {
        assert_eq!(up.on_line(&line).unwrap(), Step::NotOurs, "{line}");
    }
}

#[test]
fn a_file_over_the_announced_limit_is_refused_before_the_slot() {
    let (_, step) = discover(6000, Some(5000));
    let Step::Send(lines) = step else {
        panic!("{step:?}")
    };
    assert!(lines[0].starts_with("error 65 "), "{}", lines[0]);
    assert!(
        lines[0].contains("more than the 5000 bytes (4.9 KiB)"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("upload.example.org"), "{}", lines[0]);
}

#[test]
fn no_service_is_69_and_names_who_was_asked() {
    let (mut up, lines) = Upload::start(file(1), jid("example.org"), None, "xu-k", false).unwrap();
    up.on_line(&plain_info("example.org", &id_of(&lines[0])))
        .unwrap();
    let err = up
        .on_line(&items_result("example.org", &id_of(&lines[1]), &[]))
        .unwrap_err();
    assert_eq!(err.status(), Status::Unavailable);
    assert!(err.message().contains("no HTTP upload service"), "{err}");
    assert!(err.message().contains("asked example.org"), "{err}");
}

#[test]
fn a_named_service_is_asked_directly_and_an_error_answer_counts_as_none() {
    let (mut up, lines) = Upload::start(
        file(1),
        jid("example.org"),
        Some(jid("up.example.org")),
        "xu-k",
        false,
    )
    .unwrap();
    assert_eq!(lines.len(), 1);
    let error = format!(
        "<iq type='error' from='up.example.org' id='{}'><error type='cancel'>\
         <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
        id_of(&lines[0])
    );
    assert_eq!(
        up.on_line(&error).unwrap_err().status(),
        Status::Unavailable
    );
}

fn granted(put: &str, get: &str, allow_plain_http: bool) -> Result<Slot> {
    let service = Service {
        jid: jid("up.example.org"),
        max_file_size: None,
    };
    let answer = Element::parse(&format!(
        "<iq type='result' from='up.example.org' id='1'><slot xmlns='urn:xmpp:http:upload:0'>\
         <put url='{put}'/><get url='{get}'/></slot></iq>"
    ))
    .unwrap();
    slot::parse_answer(&answer, &file(1), &service, allow_plain_http)
}

#[test]
fn slot_urls_must_be_https_unless_plaintext_was_asked_for() {
    assert!(granted("https://a/x", "https://a/y", false).is_ok());
    let err = granted("http://a/x", "https://a/y", false).unwrap_err();
    assert_eq!(err.status(), Status::Protocol);
    assert!(
        err.message().contains("put URL http://a/x is not https"),
        "{err}"
    );
    assert!(err.message().contains("--plaintext"), "{err}");
    assert!(granted("https://a/x", "http://a/y", false).is_err());
    assert!(granted("http://a/x", "http://a/y", true).is_ok());
    assert!(granted("ftp://a/x", "https://a/y", true).is_err());
    assert!(granted("https://a/x y", "https://a/y", false).is_err());
}

#[test]
fn refusals_have_their_statuses() {
    let service = Service {
        jid: jid("up.example.org"),
        max_file_size: None,
    };
    let refuse = |error: &str| {
        let answer = Element::parse(&format!(
            "<iq type='error' from='up.example.org' id='1'>{error}</iq>"
        ))
        .unwrap();
        slot::parse_answer(&answer, &file(9000), &service, false).unwrap_err()
    };
    let too_large = refuse(
        "<error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
         <file-too-large xmlns='urn:xmpp:http:upload:0'><max-file-size>4096</max-file-size></file-too-large></error>",
    );
    assert_eq!(too_large.status(), Status::DataErr);
    assert!(
        too_large.message().contains("more than the 4096 bytes"),
        "{too_large}"
    );
    let quota = refuse(
        "<error type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
         <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Quota reached</text></error>",
    );
    assert_eq!(quota.status(), Status::TempFail);
    assert!(
        quota
            .message()
            .contains("resource-constraint (Quota reached)"),
        "{quota}"
    );
    let denied = refuse(
        "<error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>",
    );
    assert_eq!(denied.status(), Status::NoPerm);
}

#[test]
fn the_message_carries_the_url_as_body_and_as_out_of_band_data() {
    let line = oob_message(&OobMessage {
        to: "bob@example.org",
        kind: "chat",
        url: "https://up.example.org/f/a&b.png",
        desc: Some("the <graph>"),
    })
    .unwrap();
    assert_eq!(
        line,
        "<message to='bob@example.org' type='chat'><body>https://up.example.org/f/a&amp;b.png</body>\
         <x xmlns='jabber:x:oob'><url>https://up.example.org/f/a&amp;b.png</url><desc>the &lt;graph&gt;</desc></x></message>"
    );
    let parsed = Element::parse(&line).unwrap();
    assert_eq!(
        parsed
            .child("x", NS_OOB)
            .unwrap()
            .child("url", NS_OOB)
            .unwrap()
            .text(),
        "https://up.example.org/f/a&b.png"
    );
}

#[test]
fn sizes_for_people() {
    assert_eq!(human_size(12), "12 bytes");
    assert_eq!(human_size(20 << 20), "20.0 MiB");
    assert_eq!(human_size(1536), "1.5 KiB");
}
