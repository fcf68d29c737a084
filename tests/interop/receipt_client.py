"""An independent XMPP client for the tests: slixmpp, logged in as JID,
answering (or, with --no-receipts, ignoring) XEP-0184 receipt requests.

    receipt_client.py JID PASSWORD_FILE HOST PORT CAFILE [--no-receipts]

Prints "online" once its session started and "got BODY" for each chat
message; runs until its standard input ends.
"""

import slixmpp

import session


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


session.run(lambda jid, password, _cafile, extra: Client(jid, password, "--no-receipts" not in extra))
