"""The local gateway answers a kept-alive connection without waiting on Nagle's algorithm:
a reply's body is not held back until the client acknowledges its headers."""

import http.client
import socket
import threading

from devserver.gateway import GatewayServer, make_handler


class _Answering:
    def handle_request(self, method, path, headers, body):
        return {"statusCode": 200, "headers": {}, "body": '{"ok": true}'}


def test_every_gateway_connection_sends_without_nagles_delay():
    seen = []

    class Recording(make_handler(_Answering())):
        def setup(self):
            super().setup()
            seen.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    server = GatewayServer(("127.0.0.1", 0), Recording)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
        for _ in range(2):  # one kept-alive connection, two requests
            connection.request("GET", "/health")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b'{"ok": true}')
        connection.close()
    finally:
        server.shutdown()
        server.server_close()
    assert seen and all(seen)
