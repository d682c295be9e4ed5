"""Exceptions raised by Firewatch.

    FirewatchError
    ├── ConfigError            a setting is missing or wrong (names the variable or file)
    ├── InputError             a caller sent something we refuse (names the field) -> 400
    │   └── PayloadTooLarge    the body is over the limit                           -> 413
    ├── AuthError              no or bad credentials                                -> 401
    │   └── Forbidden          valid credentials without the right                  -> 403
    ├── RateLimited            too many requests from one client                    -> 429
    ├── NotFound               a named thing does not exist                         -> 404
    ├── RuleError              alerts.yaml does not load (file, line, column)
    ├── DeliveryError          a notifier could not deliver (permanent, retry_after)
    ├── BackupError            a backup, verification or restore step failed
    ├── MitigationError        a mitigation stopped part-way (says what it did)
    └── EmulatorError          the local stack could not start (says how to fix it)

Messages are short, say what to do where there is an obvious fix, and never contain a
secret: callers may show them to users and store them.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BackupError",
    "ConfigError",
    "DeliveryError",
    "EmulatorError",
    "FirewatchError",
    "Forbidden",
    "InputError",
    "MitigationError",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "RuleError",
]


class FirewatchError(Exception):
    """Base class. ``status_code`` is the HTTP status an entry point answers with."""

    status_code = 500


class ConfigError(FirewatchError):
    pass


class InputError(FirewatchError):
    status_code = 400


class PayloadTooLarge(InputError):
    status_code = 413


class AuthError(FirewatchError):
    status_code = 401


class Forbidden(AuthError):
    status_code = 403


class RateLimited(FirewatchError):
    status_code = 429

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotFound(FirewatchError):
    status_code = 404


class RuleError(FirewatchError):
    pass


class DeliveryError(FirewatchError):
    """A notifier failed to deliver.

    ``permanent`` means retrying cannot help (a 404 webhook, a rejected credential);
    ``retry_after`` is the receiver's own hint in seconds (HTTP ``Retry-After``), if any.
    """

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class BackupError(FirewatchError):
    pass


class MitigationError(FirewatchError):
    pass


class EmulatorError(FirewatchError):
    pass
