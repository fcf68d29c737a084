#!/usr/bin/env python3
"""Write an XMPP stream holding one message of about N megabytes to stdout.

Usage: gen_big_stanza.py MEGABYTES

For stanza-split's memory case: its peak RSS must be bounded by the largest
stanza (here the only one), not by the stream. The body mixes ASCII,
non-ASCII text, entities and newlines, as a pasted log would.
"""
import sys


def main():
    size = int(float(sys.argv[1]) * 1_000_000)
    out = sys.stdout.buffer
    out.write(b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
              b"xmlns:stream='http://etherx.jabber.org/streams' id='big' from='example.org' "
              b"version='1.0' xml:lang='en'>"
              b"<message from='ops@example.org/cron' to='me@example.org/pipes' type='chat' id='big'><body>")
    line = "2026-11-22 02:00 backup: grüße ✓ naïve 日本語 &lt;ok&gt; &amp; done 😀\n".encode()
    out.write(line * (size // len(line) + 1))
    out.write(b"</body></message></stream:stream>")


if __name__ == "__main__":
    main()
