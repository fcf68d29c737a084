"""A second device of an account, for the tree tests: slixmpp logged in as
JID (a resource of its own), sending a chat message for each line
"TO BODY" on its standard input, and printing "online" once its session
started and "got FROM BODY" for each chat message it receives.

    phone.py JID PASSWORD_FILE HOST PORT CAFILE

Runs until its standard input ends.
"""

import slixmpp

import session


def make_client(jid, password):
    client = slixmpp.ClientXMPP(jid, password)

    def message(msg):
        if msg["type"] == "chat" and msg["body"]:
            print("got %s %s" % (msg["from"].bare, msg["body"]), flush=True)

    client.add_event_handler("message", message)
    return client


def line(client, text):
    to, body = text.split(" ", 1)
    client.send_message(mto=to, mbody=body, mtype="chat")


session.run_lines(make_client, line)
