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
