"""An independent XMPP client for the tests: slixmpp, logged in as JID,
downloading each file it is sent as out-of-band data (XEP-0066).

    oob_downloader.py JID PASSWORD_FILE HOST PORT CAFILE

Prints "online" once its session started; for each message with an
out-of-band URL, fetches it with Python's own HTTPS client (urllib, the
certificate checked against CAFILE) and prints
"file SHA256 SIZE BODY_IS_URL DESC" (BODY_IS_URL: "yes" when the body is
the URL, as clients that show files inline want), or "failed WHY". Runs until its
standard input ends.
"""

import asyncio
import hashlib
import ssl
import urllib.request

import slixmpp

import session


def fetch(url, context):
    digest, size = hashlib.sha256(), 0
    with urllib.request.urlopen(url, context=context, timeout=30) as answer:
        while True:
            chunk = answer.read(64 * 1024)
            if not chunk:
                return digest.hexdigest(), size
            digest.update(chunk)
            size += len(chunk)


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, context):
        super().__init__(jid, password)
        self.context = context
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0066")
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("message", self.message)

    async def start(self, _event):
        self.send_presence()
        print("online", flush=True)

    async def message(self, msg):
        url = msg["oob"]["url"]
        if not url:
            return
        try:
            loop = asyncio.get_running_loop()
            digest, size = await loop.run_in_executor(None, fetch, url, self.context)
        except Exception as e:  # reported to the test, which fails on it
            print("failed " + repr(e), flush=True)
            return
        same = "yes" if msg["body"] == url else "no"
        print(f"file {digest} {size} {same} {msg['oob']['desc']}", flush=True)


session.run(
    lambda jid, password, cafile, _extra: Client(
        jid, password, ssl.create_default_context(cafile=cafile)
    )
)
