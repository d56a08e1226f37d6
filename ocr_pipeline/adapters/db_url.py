"""Postgres connection URLs as people write them, made into the SQLAlchemy URLs this package can use.

SQLAlchemy 2.1 maps ``postgresql://`` to psycopg 3 (not installed) and does not know ``postgres://``
(Heroku's and libpq's spelling) at all; the package ships psycopg2. Every place that turns
``DATABASE_URL`` or ``DAGSTER_PG_URL`` into an engine goes through :func:`psycopg2_url`.
"""

from __future__ import annotations

_PSYCOPG2 = "postgresql+psycopg2"
_SCHEMES_TO_PSYCOPG2 = frozenset({"postgres", "postgresql", "postgres+psycopg2", _PSYCOPG2})


def psycopg2_url(url: str) -> str:
    """``url`` with its scheme made ``postgresql+psycopg2`` when it is ``postgres``, ``postgresql`` or
    already psycopg2 (any letter case); the rest of the URL (credentials, host, query) is kept byte for
    byte. Other schemes are returned unchanged."""
    text = url.strip()
    scheme, separator, rest = text.partition("://")
    if separator and scheme.lower() in _SCHEMES_TO_PSYCOPG2:
        return f"{_PSYCOPG2}://{rest}"
    return url
