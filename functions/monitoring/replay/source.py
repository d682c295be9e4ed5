"""Open a log file, plain or gzip, and read it as numbered text lines."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

from monitoring.replay.model import ReplayInputError

__all__ = ["LogSource"]

_GZIP_MAGIC = b"\x1f\x8b"


class LogSource:
    """A log file read once, front to back.

    Gzip is recognised by its magic bytes, not the file name. Bytes that are not UTF-8 are
    replaced rather than fatal: real logs carry raw bytes from hostile clients. A UTF-8 byte
    order mark (Windows editors and PowerShell's ``Out-File -Encoding utf8`` write one) is
    dropped: left on, it made the first line of every format but nginx unreadable, and a
    one-line log undetectable. ``position``
    is how far into the file on disk (compressed, for gzip) reading has got, for progress.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._raw = open(path, "rb")  # noqa: SIM115 - closed by close()
            self.size = path.stat().st_size
        except OSError as error:
            raise ReplayInputError(f"cannot read {path}: {error.strerror}") from None
        self.compressed = self._raw.read(2) == _GZIP_MAGIC
        self._raw.seek(0)
        binary = gzip.GzipFile(fileobj=self._raw) if self.compressed else self._raw
        self._text = io.TextIOWrapper(
            cast(IO[bytes], binary), encoding="utf-8-sig", errors="replace", newline=""
        )

    @property
    def position(self) -> int:
        return self._raw.tell()

    def lines(self) -> Iterator[str]:
        """Yield each line without its line ending; a corrupt gzip tail ends the file with a
        ``ReplayInputError`` naming it."""
        try:
            for line in self._text:
                yield line.rstrip("\r\n")
        except (OSError, EOFError) as error:
            raise ReplayInputError(f"{self.path} is truncated or corrupt: {error}") from None

    def head(self, count: int) -> list[str]:
        """Return the first ``count`` lines without consuming them (for detection)."""
        with LogSource(self.path) as again:
            sample = []
            for line in again.lines():
                sample.append(line)
                if len(sample) >= count:
                    break
            return sample

    def close(self) -> None:
        self._text.close()
        self._raw.close()

    def __enter__(self) -> LogSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
