"""A hostile contact for the tree tests: slixmpp logged in as JID (which
may carry a resource of its choosing, such as "boss@localhost"), writing
each line of its standard input to the stream as it is (raw XML: forged
carbon copies, archive results, room presences, planted iq answers),
printing "online FULL-JID" once its session started and "got FROM TYPE
BODY" for each message with a body it receives.

    hostile.py JID PASSWORD_FILE HOST PORT CAFILE

Runs until its standard input ends.
"""

import slixmpp

import session


def make_client(jid, password):
    client = slixmpp.ClientXMPP(jid, password)

    def message(msg):
        if msg["body"]:
            print("got %s %s %s" % (msg["from"].bare, msg["type"], msg["body"]), flush=True)

    client.add_event_handler("message", message)
    return client


session.run_lines(make_client, lambda client, text: client.send_raw(text), online="online ")
