"""A second device of an account, for the tree tests: slixmpp logged in as
JID (a resource of its own), sending a chat message for each line
"TO BODY" on its standard input, and printing "online" once its session
started and "got FROM BODY" for each chat message it receives.

    phone.py JID PASSWORD_FILE HOST PORT CAFILE

Runs until its standard input ends.
"""

import asyncio
import sys

import slixmpp


async def main():
    jid, password_file, host, port, cafile = sys.argv[1:6]
    with open(password_file) as f:
        password = f.read().strip()
    client = slixmpp.ClientXMPP(jid, password)
    client.ca_certs = cafile
    started = asyncio.Event()

    async def start(_event):
        client.send_presence()
        print("online", flush=True)
        started.set()

    def message(msg):
        if msg["type"] == "chat" and msg["body"]:
            print("got %s %s" % (msg["from"].bare, msg["body"]), flush=True)

    client.add_event_handler("session_start", start)
    client.add_event_handler("message", message)
    client.connect(host, int(port))
    await started.wait()
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        to, body = line.rstrip("\n").split(" ", 1)
        client.send_message(mto=to, mbody=body, mtype="chat")
    client.disconnect()
    await client.disconnected


asyncio.run(main())
