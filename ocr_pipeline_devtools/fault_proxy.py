"""A small HTTP proxy in front of a loopback server (moto_server) that injects faults, for retry tests.

Faults are planned per HTTP method and used up in order; once a method's plan is empty its requests are
forwarded unchanged::

    with FaultProxy(s3_server.endpoint_url, plan={"GET": ["500", "reset", "ok"]}) as proxy:
        client = s3_client(proxy.endpoint_url)

Actions: ``ok`` (forward), ``403`` (AccessDenied), ``500`` (InternalError), ``503`` (SlowDown), ``reset``
(TCP RST, no answer), ``truncate`` (half the body, then RST), ``short_body`` (half the body, then a clean
close), ``corrupt`` (same length, one byte changed), ``delay`` (sleep
``delay_seconds`` before forwarding), ``shrink_length`` (forward, but report Content-Length 1: a HEAD
that lies about the size; HEAD only). The proxy listens on 127.0.0.1 only, forwards only to a loopback upstream,
and refuses to serve more than ``max_requests`` requests.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional

ACTIONS = ("ok", "403", "500", "503", "reset", "truncate", "short_body", "corrupt", "delay", "shrink_length")
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade"}


@dataclass
class ProxiedRequest:
    method: str
    path: str
    action: str


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:  # injected resets end in socket errors
        pass


class FaultProxy:
    """Fault-injecting HTTP/1.1 proxy; use as a context manager (starts and stops its thread)."""

    def __init__(self, upstream_url: str, plan: Optional[dict[str, list[str]]] = None, *,
                 delay_seconds: float = 2.0, max_requests: int = 500,
                 on_request: Optional[Callable[[str, str], None]] = None):
        """``on_request(method, path)`` runs for each request before the client gets the answer
        (after the upstream answered, for forwarded requests)."""
        parsed = urllib.parse.urlsplit(upstream_url)
        if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the fault proxy only forwards to loopback, not {parsed.hostname!r}")
        for actions in (plan or {}).values():
            unknown = set(actions) - set(ACTIONS)
            if unknown:
                raise ValueError(f"unknown fault action(s) {unknown}; known: {ACTIONS}")
        self.upstream = (parsed.hostname, parsed.port or 80)
        self.plan = {method.upper(): deque(actions) for method, actions in (plan or {}).items()}
        self.delay_seconds = min(delay_seconds, 30.0)
        self.max_requests = max_requests
        self.on_request = on_request
        self.requests: list[ProxiedRequest] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: Optional[threading.Thread] = None

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def count(self, method: Optional[str] = None) -> int:
        """Requests seen so far (of one method, or all)."""
        with self._lock:
            return sum(1 for r in self.requests if method is None or r.method == method)

    def __enter__(self) -> "FaultProxy":
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fault-proxy", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def _next_action(self, method: str, path: str) -> Optional[str]:
        with self._lock:
            if len(self.requests) >= self.max_requests:
                return None
            queue = self.plan.get(method)
            action = queue.popleft() if queue else "ok"
            self.requests.append(ProxiedRequest(method, path, action))
            return action

    def _handler_class(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = proxy._next_action(self.command, self.path)
                if action is None:
                    self._error(429, "SlowDown", "fault proxy request limit reached")
                    return
                if action not in ("ok", "truncate", "short_body", "corrupt", "delay", "shrink_length"):
                    self._hook()
                if action == "403":
                    self._error(403, "AccessDenied", "injected access denied")
                elif action == "500":
                    self._error(500, "InternalError", "injected internal error")
                elif action == "503":
                    self._error(503, "SlowDown", "injected throttling")
                elif action == "reset":
                    self._reset()
                else:
                    if action == "delay":
                        time.sleep(proxy.delay_seconds)
                    self._forward(body, action)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _handle

            def _hook(self) -> None:
                if proxy.on_request is not None:
                    proxy.on_request(self.command, self.path)

            def _error(self, status: int, code: str, message: str) -> None:
                payload = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                           f"<Message>{message}</Message></Error>").encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            def _reset(self) -> None:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            def _forward(self, body: bytes, action: str) -> None:
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                    response_headers = [(k, v) for k, v in response.getheaders()
                                        if k.lower() not in _HOP_HEADERS and k.lower() != "content-length"]
                    length = response.getheader("Content-Length") or str(len(payload))
                finally:
                    upstream.close()
                self._hook()
                if action == "corrupt" and payload:
                    payload = bytes([payload[0] ^ 0xFF]) + payload[1:]
                if action == "shrink_length" and self.command == "HEAD":
                    length = "1"
                self.send_response(response.status, response.reason)
                for key, value in response_headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", length)
                self.end_headers()
                if self.command == "HEAD":
                    return
                if action in ("truncate", "short_body"):
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    if action == "truncate":
                        self._reset()
                    else:
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_WR)
                    return
                self.wfile.write(payload)

        return Handler
