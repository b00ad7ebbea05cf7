#!/usr/bin/python3
# slixmpp side of the 1,000-message test: logs in (STARTTLS, certificate not verified), prints
# "ready FULLJID", answers each numbered message from PEER with its own numbered one, checks order.
import asyncio
import ssl
import sys

from slixmpp import ClientXMPP

TIMEOUT_S = 90


class Peer(ClientXMPP):
    def __init__(self, jid, password, n, peer):
        super().__init__(jid, password, sasl_mech='SCRAM-SHA-256')
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.n = n
        self.peer = peer
        self.received = 0
        self.error = None
        self.add_event_handler('session_start', self.on_session)
        self.add_event_handler('message', self.on_message)
        self.add_event_handler('failed_all_auth', self.on_auth_failed)
        # slixmpp only binds with tls-unique (undefined in TLS 1.3) and otherwise sends the "y"
        # flag, which a server offering -PLUS must refuse (RFC 5802): claim no binding at all.
        mechs = self['feature_mechanisms']
        default_credentials = mechs.sasl_callback

        def credentials(required, optional):
            creds = default_credentials(required, optional)
            if 'channel_binding' in creds:
                creds['channel_binding'] = None
            return creds
        mechs.sasl_callback = credentials

    def on_session(self, _event):
        print('ready %s' % self.boundjid.full, flush=True)

    def on_auth_failed(self, _event):
        self.error = 'authentication failed'
        self.disconnect(wait=0)

    def on_message(self, msg):
        if self.error:
            return
        if msg['type'] == 'error':
            self.error = 'message of type error after %d' % self.received
        elif msg['from'].bare != self.peer:
            self.error = 'message from a stranger'
        elif msg['body'] != 'msg %d' % self.received:
            self.error = 'message %d out of order' % self.received
        if self.error:
            self.disconnect()
            return
        self.send_message(mto=msg['from'], mbody='msg %d' % self.received, mtype='chat')
        self.received += 1
        if self.received == self.n:
            self.disconnect(wait=5)


def main():
    if len(sys.argv) != 7:
        sys.exit('usage: slix_peer.py JID PASSWORD HOST PORT N PEER_BARE_JID')
    jid, password, host, port, n, peer = sys.argv[1:]
    xmpp = Peer(jid, password, int(n), peer)
    xmpp.connect(address=(host, int(port)), force_starttls=True)
    try:
        xmpp.loop.run_until_complete(asyncio.wait_for(xmpp.disconnected, TIMEOUT_S))
    except asyncio.TimeoutError:
        xmpp.error = xmpp.error or 'timed out after %d received' % xmpp.received
    if xmpp.error or xmpp.received != xmpp.n:
        print('slix_peer: %s' % (xmpp.error or 'disconnected after %d' % xmpp.received),
              file=sys.stderr)
        sys.exit(1)
    print('ok %d' % xmpp.received, flush=True)


if __name__ == '__main__':
    main()
