"""A hostile contact for the tree tests: slixmpp logged in as JID (which
may carry a resource of its choosing, such as "boss@localhost"), writing
each line of its standard input to the stream as it is (raw XML: forged
carbon copies, archive results, room presences, planted iq answers),
printing "online" once its session started and "got FROM TYPE BODY" for
each message with a body it receives.

    hostile.py JID PASSWORD_FILE HOST PORT CAFILE

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
        print("online %s" % client.boundjid.full, flush=True)
        started.set()

    def message(msg):
        if msg["body"]:
            print("got %s %s %s" % (msg["from"].bare, msg["type"], msg["body"]), flush=True)

    client.add_event_handler("session_start", start)
    client.add_event_handler("message", message)
    client.connect(host, int(port))
    await started.wait()
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        client.send_raw(line.rstrip("\n"))
    client.disconnect()
    await client.disconnected


asyncio.run(main())
