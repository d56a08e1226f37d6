"""A TCP proxy in front of a loopback server (the Kafka broker) that can be switched to fail, for fault tests.

Modes, switched at any time with :meth:`TcpProxy.set_mode`:

- ``forward``: bytes are relayed both ways.
- ``drop``: a black hole. New connections are accepted but nothing is relayed; bytes on open connections
  are read and discarded, so clients wait for answers until their own timeouts (a network partition).
- ``refuse``: the listening socket is closed (new connections get ECONNREFUSED) and open connections
  are reset (RST), as when the broker's host is up but the broker process is gone.

Going back to ``forward`` listens again on the same port; connections opened during ``drop`` stay dead
(they are closed), as after a real partition. The proxy listens on 127.0.0.1 only and forwards only to
a loopback upstream::

    with TcpProxy(("127.0.0.1", broker_port)) as proxy:
        ...  # clients use proxy.address
        proxy.set_mode("drop")
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
import time
from typing import Optional

MODES = ("forward", "drop", "refuse")
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class TcpProxy:
    """A switchable TCP relay; use as a context manager (starts and stops its thread)."""

    def __init__(self, upstream: tuple[str, int], port: int = 0):
        """``port`` 0 picks a free one; the chosen port is kept when the proxy listens again."""
        if upstream[0] not in _LOOPBACK_HOSTS:
            raise ValueError(f"the TCP proxy only forwards to loopback, not {upstream[0]!r}")
        self.upstream = upstream
        self.port = port
        self.mode = "forward"
        self.connections_accepted = 0
        self.connections_dropped = 0
        self.mode_changes: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._listener: Optional[socket.socket] = None
        self._pairs: dict[socket.socket, Optional[socket.socket]] = {}
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread: Optional[threading.Thread] = None

    @property
    def address(self) -> str:
        """``host:port`` clients connect to."""
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> "TcpProxy":
        self._listen()
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread = threading.Thread(target=self._loop, name="tcp-proxy", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(5)
        with self._lock:
            for sock in list(self._pairs):
                self._close(sock)
            if self._listener is not None:
                self._listener.close()
                self._listener = None
        self._wake_r.close()
        self._wake_w.close()
        self._selector.close()

    def set_mode(self, mode: str) -> None:
        """Switch to ``forward``, ``drop`` or ``refuse`` (see the module docstring)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; known: {MODES}")
        with self._lock:
            previous, self.mode = self.mode, mode
            self.mode_changes.append((time.time(), mode))
            if mode == "refuse":
                if self._listener is not None:
                    self._selector.unregister(self._listener)
                    self._listener.close()
                    self._listener = None
                for sock in list(self._pairs):
                    self._close(sock, reset=True)
            elif previous == "refuse":
                self._listen()
            if mode == "forward" and previous == "drop":
                for sock in list(self._pairs):
                    self._close(sock, reset=True)
        self._wake()

    # -------------------------------------------------------------------------------------- internals

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                listener.bind(("127.0.0.1", self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    listener.close()
                    raise
                time.sleep(0.1)
        listener.listen(128)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._selector.register(listener, selectors.EVENT_READ, "accept")

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _close(self, sock: socket.socket, reset: bool = False) -> None:
        """Close ``sock`` and its peer (caller holds the lock)."""
        peer = self._pairs.pop(sock, None)
        for s in (sock, peer):
            if s is None:
                continue
            self._pairs.pop(s, None)
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(s)
            if reset:
                with contextlib.suppress(OSError):
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                s.close()

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except (BlockingIOError, OSError):
            return
        client.setblocking(False)
        self.connections_accepted += 1
        if self.mode == "drop":
            self.connections_dropped += 1
            self._pairs[client] = None
            self._selector.register(client, selectors.EVENT_READ, "conn")
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            self._close(client, reset=True)
            return
        upstream.setblocking(False)
        self._pairs[client] = upstream
        self._pairs[upstream] = client
        self._selector.register(client, selectors.EVENT_READ, "conn")
        self._selector.register(upstream, selectors.EVENT_READ, "conn")

    def _relay(self, sock: socket.socket) -> None:
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(sock)
            return
        peer = self._pairs.get(sock)
        if self.mode == "drop" or peer is None:
            return  # the black hole: bytes read and discarded
        try:
            peer.setblocking(True)
            peer.settimeout(10)
            peer.sendall(data)
            peer.setblocking(False)
        except OSError:
            self._close(sock, reset=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            events = self._selector.select(timeout=0.5)
            with self._lock:
                for key, _ in events:
                    if key.data == "wake":
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    elif key.data == "accept":
                        if self._listener is not None and key.fileobj is self._listener:
                            self._accept()
                    elif key.fileobj in self._pairs:
                        self._relay(key.fileobj)
