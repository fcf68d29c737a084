#!/usr/bin/env python3
"""A straightforward stanza splitter in Python, the baseline a user would
otherwise write: xml.etree.ElementTree.XMLPullParser fed in 64 KiB chunks,
each top-level element printed as one line."""
import sys
import xml.etree.ElementTree as ET

STREAM = "{http://etherx.jabber.org/streams}stream"


def main():
    parser = ET.XMLPullParser(events=("start", "end"))
    depth = 0
    out = sys.stdout
    stream = None
    read = sys.stdin.buffer.read
    while True:
        data = read(65536)
        if not data:
            break
        parser.feed(data)
        for event, element in parser.read_events():
            if event == "start":
                depth += 1
                if depth == 1:
                    stream = element
            else:
                depth -= 1
                if depth == 1:
                    out.write(ET.tostring(element, encoding="unicode").replace("\n", "&#10;") + "\n")
                    stream.remove(element)
    out.flush()


if __name__ == "__main__":
    main()
