"""One exception tree for everything tyk-migrate refuses or fails at.

    MigrateError                       root: the CLI turns any of these into one line, exit 2
    ├── InputError                     an export or mapping file we cannot use
    │   ├── UnknownFormatError         the format is not recognised or not supported
    │   └── MissingColumnsError        required canonical columns are absent (names what was found)
    ├── ConfigError                    settings: missing token, bad URL, plain http to a remote host
    ├── PortalError                    talking to the portal failed; carries method, path, status, errors
    │   ├── PortalConnectionError      no answer: connect error, reset, timeout (``sent``: a write may have landed)
    │   ├── PortalResponseError        the portal answered with a non-2xx status
    │   │   ├── AuthError              401 / 403
    │   │   ├── NotFound               404
    │   │   ├── Rejected               400 / 409 / 422: the portal refused the request as invalid
    │   │   ├── RateLimited            429, with retry_after seconds when the portal said
    │   │   └── PortalServerError      5xx
    │   └── UnexpectedAnswer           a 2xx whose body is not what the API promises
    ├── JournalError                   the journal file is unusable or belongs to another input
    │   ├── JournalLocked              another run or rollback holds the journal (names pid, host, start)
    │   └── PortalLocked               another run on this machine writes to the same portal (names it, its journal)
    ├── CredentialMismatch             a created credential read back differs from what was asked
    ├── DashboardError                 a Tyk Dashboard call failed (the message starts with its host)
    └── NotReady                       a workbook step run too early (Run All before Start): one line in IPython

Messages never hold a token or a raw key: portal errors name the method and path only, and key values
appear as fingerprints or masks.
"""

from __future__ import annotations

from collections.abc import Sequence

from .scrub import looks_like_key
from .secrets import mask


class MigrateError(Exception):
    """Root of every error tyk-migrate raises on purpose."""


class InputError(MigrateError):
    """An input file, mapping or frame that cannot be used as given."""


class UnknownFormatError(InputError):
    pass


# the key shape has one home (scrub.py); sources import it from here under its old name
looks_like_token = looks_like_key


def safe_names(names: Sequence[str], *, mask_all: bool = False) -> list[str]:
    """Column names fit for an error message: key-shaped ones (or, with ``mask_all``, every one) masked."""
    return [mask(n) if mask_all or looks_like_token(n) else n for n in names]


def show_names(names: Sequence[str], limit: int = 20) -> str:
    return ", ".join(names[:limit]) + (" …" if len(names) > limit else "")


class MissingColumnsError(InputError):
    """Required columns are absent. ``found`` holds the names as shown: key-shaped ones masked.

    ``first_line_is_data``: the "names" are the first record of a file without a header line, so every one
    is masked (a key can have any shape; the email beside it gives the row away) and the message says so.
    """

    def __init__(
        self, missing: Sequence[str], found: Sequence[str], source: str = "input", *, first_line_is_data: bool = False
    ) -> None:
        self.missing = list(missing)
        self.found = safe_names([str(n) for n in found], mask_all=first_line_is_data)
        shown = show_names(self.found)
        if first_line_is_data:
            message = (
                f"{source}: the first line looks like data, not column names ({shown}); add a header line "
                f"naming the columns, e.g. key,email,plan,products (if it is one, map its names with --mapping)"
            )
        else:
            needed = ", ".join(self.missing)
            message = f"{source}: missing required column(s) {needed}; columns found: {shown or 'none'}"
        super().__init__(message)


class ConfigError(MigrateError):
    pass


class PortalError(MigrateError):
    """A call to the portal failed. ``method`` and ``path`` say which; the token is never included."""

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        path: str = "",
        status: int | None = None,
        errors: Sequence[str] = (),
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.errors = list(errors)
        where = f"{method} {path}".strip()
        detail = f": {'; '.join(self.errors)}" if self.errors else ""
        super().__init__(f"{where} -> {message}{detail}" if where else f"{message}{detail}")


class PortalConnectionError(PortalError):
    """No usable answer arrived. For a write, the portal may or may not have applied it, unless ``sent`` is
    False: the connection was never made (refused, DNS, TLS handshake, no free connection in time), so no
    byte of the request can have reached the portal. Default True: whoever cannot tell says "maybe sent"."""

    def __init__(self, message: str, *, sent: bool = True, **kw: object) -> None:
        self.sent = sent
        super().__init__(message, **kw)  # type: ignore[arg-type]


class PortalResponseError(PortalError):
    pass


class AuthError(PortalResponseError):
    pass


class NotFound(PortalResponseError):
    pass


class Rejected(PortalResponseError):
    pass


class RateLimited(PortalResponseError):
    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)  # type: ignore[arg-type]


class PortalServerError(PortalResponseError):
    pass


class UnexpectedAnswer(PortalError):
    pass


class JournalError(MigrateError):
    pass


class JournalLocked(JournalError):
    """Another run or rollback has the journal open (``tyk_migrate.lock``); the message names the holder."""


class PortalLocked(JournalError):
    """Another run on this machine is writing to the same portal with another journal (``portal_lock``); the
    message names the holder (pid, host, program, start, its journal) and what to do."""


class CredentialMismatch(MigrateError):
    pass


class DashboardError(MigrateError):
    """A call to the Tyk Dashboard failed; the message starts with the Dashboard's host, the cause is chained."""

    def __init__(self, message: str, *, host: str = "") -> None:
        self.host = host
        super().__init__(message)


class NotReady(MigrateError):
    """A notebook step that needs an earlier one done (a finished run). IPython shows its message only.

    ``_render_traceback_`` is IPython's hook for exceptions that draw themselves: *Run All* before Start
    stops at the guard with this one line instead of a red traceback through the library's frames.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]
