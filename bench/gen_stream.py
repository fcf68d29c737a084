#!/usr/bin/env python3
"""Write a realistic XMPP server-to-client stream of about N megabytes to stdout.

Usage: gen_stream.py MEGABYTES [SEED]

The stream opens with a header and features, then mixes what a busy client
receives: chat and group-chat messages (entities, non-ASCII text, multi-line
bodies), presence with entity capabilities (XEP-0115) and delay stamps, roster
results, iq pings, and whitespace keepalives between stanzas; it ends with the
stream's close. The same SEED gives the same bytes.
"""
import random
import sys

WORDS = ("backup done disk full grüße ✓ naïve café 😀 ok <warn> & \"quoted\" 'single' "
         "load 0.42 cron nightly release ship it ñandú Ελληνικά 日本語 テスト").split()


def text(rng, n):
    out = " ".join(rng.choice(WORDS) for _ in range(n))
    return out.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def attr(rng, n):
    return text(rng, n).replace("'", "&apos;").replace('"', "&quot;")


def stanzas(rng):
    i = 0
    while True:
        i += 1
        kind = rng.random()
        who = f"user{rng.randrange(500)}@example.org"
        if kind < 0.45:
            body = text(rng, rng.randrange(3, 40))
            if rng.random() < 0.2:
                body += "&#10;" + text(rng, 5)
            yield (f"<message from='{who}/phone' to='me@example.org/pipes' type='chat' id='m{i}'>"
                   f"<body>{body}</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>")
        elif kind < 0.65:
            yield (f"<message from='room@conference.example.org/nick{rng.randrange(50)}' to='me@example.org/pipes' "
                   f"type='groupchat' id='g{i}'><body>{text(rng, rng.randrange(3, 25))}</body>"
                   f"<stanza-id xmlns='urn:xmpp:sid:0' id='sid-{i}' by='room@conference.example.org'/></message>")
        elif kind < 0.85:
            show = rng.choice(["", "<show>away</show>", "<show>dnd</show>", "<show>xa</show>"])
            yield (f"<presence from='{who}/laptop' to='me@example.org/pipes'>{show}<priority>{rng.randrange(10)}</priority>"
                   f"<status>{text(rng, 4)}</status>"
                   f"<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://example.org/client' "
                   f"ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/>"
                   f"<delay xmlns='urn:xmpp:delay' from='example.org' stamp='2026-11-22T10:{i % 60:02d}:00Z'/></presence>")
        elif kind < 0.95:
            items = "".join(
                f"<item jid='friend{rng.randrange(1000)}@example.org' name='{attr(rng, 2)}' subscription='both'>"
                f"<group>{rng.choice(['Friends', 'Work', 'Ops'])}</group></item>"
                for _ in range(rng.randrange(1, 8)))
            yield (f"<iq type='result' id='r{i}' to='me@example.org/pipes'>"
                   f"<query xmlns='jabber:iq:roster' ver='v{i}'>{items}</query></iq>")
        else:
            yield f"<iq from='example.org' to='me@example.org/pipes' id='p{i}' type='get'><ping xmlns='urn:xmpp:ping'/></iq>"


def main():
    megabytes = float(sys.argv[1])
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    limit = int(megabytes * 1_000_000)
    out = sys.stdout.buffer
    head = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
            "xmlns:stream='http://etherx.jabber.org/streams' id='bench' from='example.org' "
            "version='1.0' xml:lang='en'><stream:features><sm xmlns='urn:xmpp:sm:3'/></stream:features>")
    written = 0
    chunk = [head]
    for stanza in stanzas(rng):
        chunk.append(stanza)
        if rng.random() < 0.05:
            chunk.append(" " if rng.random() < 0.5 else "\n")
        written += len(stanza)
        if len(chunk) >= 1000:
            out.write("".join(chunk).encode())
            chunk = []
        if written >= limit:
            break
    chunk.append("</stream:stream>")
    out.write("".join(chunk).encode())


if __name__ == "__main__":
    main()
