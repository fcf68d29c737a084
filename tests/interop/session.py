"""What the interop clients share: log in as JID from the command line
(JID PASSWORD_FILE HOST PORT CAFILE, then the client's own arguments), the
certificate checked against CAFILE, and run until standard input ends."""

import asyncio
import sys


def run(make_client):
    """make_client(jid, password, cafile, extra_args) -> a slixmpp client."""

    async def main():
        jid, password_file, host, port, cafile = sys.argv[1:6]
        with open(password_file) as f:
            password = f.read().strip()
        client = make_client(jid, password, cafile, sys.argv[6:])
        client.ca_certs = cafile
        client.connect(host, int(port))
        loop = asyncio.get_running_loop()
        # Until stdin ends (the test drops it).
        await loop.run_in_executor(None, sys.stdin.read)
        client.disconnect()

    asyncio.run(main())


def run_lines(make_client, line, online="online"):
    """Log in as run() does, send presence, print ONLINE (with the bound JID
    after it when ONLINE ends in a blank) once the session started, then
    call line(client, text) for each line of standard input, until it ends.
    make_client(jid, password) -> a slixmpp client."""

    async def main():
        jid, password_file, host, port, cafile = sys.argv[1:6]
        with open(password_file) as f:
            password = f.read().strip()
        client = make_client(jid, password)
        client.ca_certs = cafile
        started = asyncio.Event()

        async def start(_event):
            client.send_presence()
            bound = client.boundjid.full if online.endswith(" ") else ""
            print(online + bound, flush=True)
            started.set()

        client.add_event_handler("session_start", start)
        client.connect(host, int(port))
        await started.wait()
        loop = asyncio.get_running_loop()
        while True:
            text = await loop.run_in_executor(None, sys.stdin.readline)
            if not text:
                break
            line(client, text.rstrip("\n"))
        client.disconnect()
        await client.disconnected

    asyncio.run(main())
