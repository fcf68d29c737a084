"""An independent XMPP client for the tests: slixmpp, logged in as JID,
answering (or, with --no-receipts, ignoring) XEP-0184 receipt requests.

    receipt_client.py JID PASSWORD_FILE HOST PORT CAFILE [--no-receipts]

Prints "online" once its session started and "got BODY" for each chat
message; runs until its standard input ends.
"""

import asyncio
import sys

import slixmpp


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, receipts):
        super().__init__(jid, password)
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0184")
        self.plugin["xep_0184"].auto_ack = receipts
        self.plugin["xep_0184"].auto_request = False
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("message", self.message)

    async def start(self, _event):
        self.send_presence()
        print("online", flush=True)

    def message(self, msg):
        if msg["type"] in ("chat", "normal") and msg["body"]:
            print("got " + msg["body"], flush=True)


async def main():
    jid, password_file, host, port, cafile = sys.argv[1:6]
    receipts = "--no-receipts" not in sys.argv[6:]
    with open(password_file) as f:
        password = f.read().strip()
    client = Client(jid, password, receipts)
    client.ca_certs = cafile
    client.connect(host, int(port))
    loop = asyncio.get_running_loop()
    # Until stdin ends (the test drops it).
    await loop.run_in_executor(None, sys.stdin.read)
    client.disconnect()


asyncio.run(main())
