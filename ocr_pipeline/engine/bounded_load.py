"""``load_document`` in a separate decoder process with an address-space limit and a wall-time limit.

Pattern checks in ``load`` refuse the bombs they recognise; this bounds the ones they do not (a Flate
filter named through an indirect object or an escaped name, JPX, JBIG2, whatever pdfium or Pillow
will decode next). The decoder is a plain ``python -m ocr_pipeline.engine.bounded_load`` child
(``subprocess``, so it also starts from Celery's daemonic prefork processes) that imports the loaders
once, then lowers its own ``RLIMIT_AS`` to what it uses after the imports plus
``settings.max_decode_bytes``. It serves one document at a time and stays warm for the next; idle
decoders are kept for reuse (one per caller thread at most, ``_MAX_IDLE`` in all).

A document whose decoding hits the limit gets ``MemoryError`` (Python) or kills its decoder (pdfium
aborts when an allocation fails); one that takes longer than ``settings.max_decode_seconds`` has its
decoder killed. Either ends in ``FILE_TOO_LARGE``; a decoder killed by a memory-access signal (a crash
in a native library) in ``CORRUPT_FILE``. The next document gets a new decoder; the caller's process
never holds more than the decoded pages.
"""

from __future__ import annotations

import logging
import os
import pickle
import resource
import signal
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any, Optional

from .models import DocumentError, EngineSettings, ErrorCode, Page

log = logging.getLogger(__name__)

_MAX_IDLE = max(2, os.cpu_count() or 1)
_TRIM_ABOVE_BYTES = 256 * 1024 * 1024  # an idle decoder gives back what a big document left it
_PIXEL_FILE_KEEP_BYTES = 64 * 1024 * 1024
_DOCUMENTS_PER_DECODER = 200  # then a fresh decoder: no slow growth from fragmentation or leaks
_CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE}


def load_document_bounded(data: bytes, settings: EngineSettings) -> list[Page]:
    """``load.load_document(data, settings)`` in a decoder process limited to
    ``settings.max_decode_bytes`` more memory and ``settings.max_decode_seconds``: same pages, same
    ``DocumentError``s, and ``FILE_TOO_LARGE`` (or ``CORRUPT_FILE``) for what breaks the decoder."""
    if len(data) > settings.max_file_bytes:  # not worth a trip to the decoder
        raise DocumentError(ErrorCode.FILE_TOO_LARGE,
                            f"file has {len(data)} bytes, the limit is {settings.max_file_bytes}")
    decoder = _POOL.take(settings.max_decode_bytes)
    reusable = False
    try:
        pages, reusable = decoder.load(data, settings)
        return pages
    finally:
        if reusable:
            _POOL.give_back(decoder)
        else:
            decoder.stop()


class _Decoder:
    """One decoder process, the two pipes to it and the memory file the pixels come back in."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        to_child_read, to_child_write = os.pipe()
        from_child_read, from_child_write = os.pipe()
        _widen(to_child_write)
        _widen(from_child_write)
        self.pixels = os.memfd_create("ocr-decoder-pixels")
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(to_child_read), str(from_child_write), str(max_bytes),
                 str(self.pixels)],
                pass_fds=(to_child_read, from_child_write, self.pixels), stdin=subprocess.DEVNULL,
            )
        except BaseException:
            for fd in (to_child_write, from_child_read, self.pixels):
                os.close(fd)
            raise
        finally:
            os.close(to_child_read)
            os.close(from_child_write)
        self.requests = Connection(to_child_write, readable=False)
        self.replies = Connection(from_child_read, writable=False)
        self.documents = 0

    def alive(self) -> bool:
        return self.process.poll() is None and self.documents < _DOCUMENTS_PER_DECODER

    def load(self, data: bytes, settings: EngineSettings) -> tuple[list[Page], bool]:
        """The pages (or the ``DocumentError``) for ``data``, and whether this decoder may be reused."""
        self.documents += 1
        deadline = time.monotonic() + settings.max_decode_seconds
        try:
            self.requests.send(settings)
            self.requests.send_bytes(data)
            if not self.replies.poll(max(0.0, deadline - time.monotonic())):
                self.stop()
                raise DocumentError(ErrorCode.FILE_TOO_LARGE,
                                    f"decoding the file took more than {settings.max_decode_seconds:g} s")
            reply = _receive(self.replies, self.pixels)
        except (EOFError, OSError):
            raise self._died() from None
        kind, value, reusable = reply
        if kind == "pages":
            return value, reusable
        if kind == "document_error":
            raise DocumentError(ErrorCode(value[0]), value[1])
        raise value  # an unexpected exception of the loader, as load_document would have raised it

    def _died(self) -> DocumentError:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.stop()
            code = self.process.returncode
        log.warning("decoder process ended while decoding (exit status %s)", code)
        if code is not None and code < 0 and -code in _CRASH_SIGNALS:
            return DocumentError(ErrorCode.CORRUPT_FILE,
                                 f"the file crashed the decoder ({signal.Signals(-code).name})")
        return DocumentError(ErrorCode.FILE_TOO_LARGE,
                             f"decoding the file needed more than {self.max_bytes / 2**20:.0f} MB of memory")

    def stop(self) -> None:
        """Kill the process (a no-op once it has ended) and close the pipes."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.forget()

    def forget(self) -> None:
        """Close this process's ends (in a forked copy of the owner: only those, the process lives on)."""
        self.requests.close()
        self.replies.close()
        if self.pixels >= 0:
            os.close(self.pixels)
            self.pixels = -1


class _Pool:
    """Idle decoders by memory limit, owned by one process (a fork starts with none of its own)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.idle: list[_Decoder] = []
        self.owner = os.getpid()

    def take(self, max_bytes: int) -> _Decoder:
        with self.lock:
            if self.owner != os.getpid():
                for decoder in self.idle:
                    decoder.forget()
                self.idle, self.owner = [], os.getpid()
            while self.idle:
                decoder = self.idle.pop()
                if decoder.max_bytes == max_bytes and decoder.alive():
                    return decoder
                decoder.stop()
        return _Decoder(max_bytes)

    def give_back(self, decoder: _Decoder) -> None:
        with self.lock:
            if self.owner == os.getpid() and len(self.idle) < _MAX_IDLE and decoder.alive():
                self.idle.append(decoder)
                return
        decoder.stop()

    def close(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for decoder in idle:
            decoder.stop() if self.owner == os.getpid() else decoder.forget()


_POOL = _Pool()


# ------------------------------------------------------------------------------ the decoder process

def _exit_with_parent() -> None:
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _status_bytes(field: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` (``VmSize:``, ``VmRSS:``) in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


def _limit_address_space(extra_bytes: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _status_bytes("VmSize:") + extra_bytes
    for inherited in (soft, hard):
        if inherited != resource.RLIM_INFINITY:
            limit = min(limit, inherited)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _release_free_memory() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _send(connection: Connection, value: Any, pixels: int) -> None:
    """``value`` pickled, its arrays' memory (pickle's out-of-band buffers) written as it is into the
    memory file ``pixels``, one after the other: a pipe would pass 26 MB of a colour A4 page in 1 MiB
    turns, each waiting for both processes to be scheduled (measured: 70-150 ms on a busy machine)."""
    buffers: list[pickle.PickleBuffer] = []
    header = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    sizes, offset = [], 0
    for buffer in buffers:
        raw = buffer.raw()
        written = 0
        while written < raw.nbytes:
            written += os.pwrite(pixels, raw[written:], offset + written)
        sizes.append(raw.nbytes)
        offset += raw.nbytes
    connection.send((header, sizes))


def _receive(connection: Connection, pixels: int) -> Any:
    """What ``_send`` sent, the arrays backed by writable buffers read from the memory file. The file
    keeps the pages of ordinary documents (rewriting them is cheaper than allocating them again) and
    is emptied after bigger ones."""
    header, sizes = connection.recv()
    buffers, offset = [], 0
    try:
        for size in sizes:
            buffer = bytearray(size)
            view, done = memoryview(buffer), 0
            while done < size:
                got = os.preadv(pixels, [view[done:]], offset + done)
                if got <= 0:
                    raise EOFError("the decoder's pixels are incomplete")
                done += got
            buffers.append(buffer)
            offset += size
    finally:
        if os.fstat(pixels).st_size > _PIXEL_FILE_KEEP_BYTES:
            os.ftruncate(pixels, 0)
    return pickle.loads(header, buffers=buffers)


def _widen(fd: int) -> None:
    """A 1 MiB pipe buffer (Linux allows that much by default): fewer turns for an uploaded file."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1024 * 1024)
    except OSError:
        pass


def _serve(requests: Connection, replies: Connection, max_bytes: int, pixels: int) -> None:
    from .load import load_document

    _exit_with_parent()
    _limit_address_space(max_bytes)
    resident_at_start = _status_bytes("VmRSS:")
    while True:
        try:
            settings = requests.recv()
            data = requests.recv_bytes()
        except EOFError:
            return
        reply: tuple[str, Any, bool]
        try:
            reply = ("pages", load_document(data, settings), True)
        except DocumentError as error:
            reply = ("document_error", (error.code.value, error.message), True)
        except MemoryError:
            reply = ("document_error", (ErrorCode.FILE_TOO_LARGE.value,
                                        f"decoding the file needed more than {max_bytes / 2**20:.0f} MB of memory"),
                     False)
        except Exception as error:
            reply = ("exception", error, False)
        del data
        reusable = reply[2]
        try:
            _send(replies, reply, pixels)
        except MemoryError:
            _send(replies, ("document_error", (ErrorCode.FILE_TOO_LARGE.value,
                                               "the decoded pages do not fit in the decoder's memory"), False), pixels)
            return
        except (pickle.PicklingError, TypeError, AttributeError) as error:  # an exception that does not pickle
            _send(replies, ("exception", RuntimeError(f"{type(error).__name__}: {error}"), False), pixels)
        del reply
        if not reusable:  # after a MemoryError or an unknown failure: a fresh decoder for the next file
            return
        if _status_bytes("VmRSS:") > resident_at_start + _TRIM_ABOVE_BYTES:
            _release_free_memory()


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point of a decoder process: ``<request fd> <reply fd> <max decode bytes> <pixels fd>``."""
    args = argv if argv is not None else sys.argv[1:]
    requests = Connection(int(args[0]), writable=False)
    replies = Connection(int(args[1]), readable=False)
    try:
        _serve(requests, replies, int(args[2]), int(args[3]))
    except (BrokenPipeError, KeyboardInterrupt):
        pass


if __name__ == "__main__":
    main()
