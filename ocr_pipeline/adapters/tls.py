"""The check both TLS settings share (Kafka's CA file, the S3 CA bundle) before a client is made."""

from __future__ import annotations

from typing import Optional


def pem_file_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a usable PEM certificate file (``"cannot be read: ..."`` or ``"holds no PEM
    certificate"``), or None when it is one."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 20)
    except OSError as error:
        return f"cannot be read: {error.strerror or error}"
    if b"-----BEGIN CERTIFICATE-----" not in head:
        return "holds no PEM certificate"
    return None
