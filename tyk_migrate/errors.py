"""One exception tree for everything tyk-migrate refuses or fails at.

    MigrateError                       root: the CLI turns any of these into one line, exit 2
    ├── InputError                     an export or mapping file we cannot use
    │   ├── UnknownFormatError         the format is not recognised or not supported
    │   └── MissingColumnsError        required canonical columns are absent (names what was found)
    ├── ConfigError                    settings: missing token, bad URL, plain http to a remote host
    ├── PortalError                    talking to the portal failed; carries method, path, status, errors
    │   ├── PortalConnectionError      no answer: connect error, reset, timeout (outcome of a write unknown)
    │   ├── PortalResponseError        the portal answered with a non-2xx status
    │   │   ├── AuthError              401 / 403
    │   │   ├── NotFound               404
    │   │   ├── Rejected               400 / 409 / 422: the portal refused the request as invalid
    │   │   ├── RateLimited            429, with retry_after seconds when the portal said
    │   │   └── PortalServerError      5xx
    │   └── UnexpectedAnswer           a 2xx whose body is not what the API promises
    ├── JournalError                   the journal file is unusable or belongs to another input
    └── CredentialMismatch             a created credential read back differs from what was asked

Messages never hold a token or a raw key: portal errors name the method and path only, and key values
appear as fingerprints or masks.
"""

from __future__ import annotations

from collections.abc import Sequence


class MigrateError(Exception):
    """Root of every error tyk-migrate raises on purpose."""


class InputError(MigrateError):
    """An input file, mapping or frame that cannot be used as given."""


class UnknownFormatError(InputError):
    pass


class MissingColumnsError(InputError):
    def __init__(self, missing: Sequence[str], found: Sequence[str], source: str = "input") -> None:
        self.missing = list(missing)
        self.found = list(found)
        shown = ", ".join(self.found[:20]) + (" …" if len(self.found) > 20 else "")
        super().__init__(
            f"{source}: missing required column(s) {', '.join(self.missing)}; columns found: {shown or 'none'}"
        )


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
    """No usable answer arrived. For a write, the portal may or may not have applied it."""


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


class CredentialMismatch(MigrateError):
    pass
