"""The one error tree of paperboy, all of it here:

    PaperboyError                 anything a user, an operator or a server can cause
    ├── ConfigError               a setting is missing, malformed or out of range (exit 2)
    │   └── MailSetupError        mail cannot go out at all as configured (login, TLS, sender)
    ├── SourceError               an input cannot be read or holds no papers (exit 1)
    │   └── NotDecodable          not valid in the encoding tried (read again as Windows-1252)
    ├── StoreError                the database cannot be reached, migrated or written
    │   ├── StoreUnavailable      it cannot be reached, or stayed locked past the busy timeout
    │   ├── StoreConflict         a unique constraint refused a row another writer added first
    │   └── StoreRefused          a value it will not take (too long, out of range, wrong type)
    ├── EditionError              an edition cannot be built as asked
    ├── AddressError              an address or a list of topics or keywords as given
    ├── TransientError            worth retrying later (a dropped connection, an SMTP 4xx)
    │   └── UncertainError        the server had the whole message but never said so
    └── PermanentError            will not go away by retrying (an SMTP 5xx)
        └── HeaderError           a header value that would break out of its header

Each carries a one-line message written for the operator; the CLI turns them into exit codes and
the web into pages at one boundary each. Transient and permanent failures are separate classes
because retry logic depends on the difference.
"""

from __future__ import annotations


class PaperboyError(Exception):
    """Root of every error paperboy reports to its operator."""


class ConfigError(PaperboyError):
    """A setting is missing, malformed or out of range; names the key and the file."""

    def __init__(self, key: str, problem: str, source: str | None = None) -> None:
        where = f" in {source}" if source else ""
        super().__init__(f"{key}{where}: {problem}")
        self.key = key
        self.problem = problem
        self.source = source


class SourceError(PaperboyError):
    """An input (a dump file, later a feed) cannot be read or has no papers in it."""

    def __init__(self, source: str, problem: str) -> None:
        super().__init__(f"{source}: {problem}")
        self.source = source
        self.problem = problem


class NotDecodable(SourceError):
    """The bytes are not valid in the encoding tried."""

    def __init__(self, source: str, encoding: str, offset: int) -> None:
        super().__init__(source, f"is not {encoding} text (bad byte at offset {offset})")
        self.encoding = encoding
        self.offset = offset


class AddressError(PaperboyError):
    """An address that cannot receive mail as written, or a list of topics or keywords that
    cannot be read."""


class StoreError(PaperboyError):
    """The database cannot be reached, migrated or written. The store raises these at its
    boundary (``Database.read``/``write``), never the driver's own errors."""


class StoreUnavailable(StoreError):
    """The database cannot be reached, or stayed locked past the busy timeout: try again later."""


class StoreConflict(StoreError):
    """A unique constraint refused a row: another writer added it first (theirs stands)."""


class StoreRefused(StoreError):
    """A value the database will not take (a string too long, a number out of range)."""


class EditionError(PaperboyError):
    """An edition cannot be built as asked (a later one exists, or a race lost its papers)."""


class TransientError(PaperboyError):
    """A failure worth retrying later (a dropped connection, a 4xx SMTP reply)."""


class PermanentError(PaperboyError):
    """A failure that will not go away by retrying (a 5xx SMTP reply, a rejected address)."""


class MailSetupError(ConfigError):
    """Mail cannot go out at all as configured (login refused, TLS failed, sender refused):
    the run stops and its claimed deliveries go back to the queue untried."""


class UncertainError(TransientError):
    """The server had the whole message but its reply never came (the connection dropped or the
    deadline passed after the final dot): it may have been delivered. Resent once, later."""


class HeaderError(PermanentError):
    """A header value that would break out of its header (CR or LF), refused before sending."""
