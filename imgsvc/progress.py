"""Progress bars for uploads, one per file, on stderr (rich), so --json output stays clean."""

import sys
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)


class Bar:
    def __init__(self, progress: Progress | None, task: Any):
        self._progress, self._task = progress, task

    def update(self, sent: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=sent)

    def done(self, status: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, status=status)


class Bars:
    """Bars on a terminal; on a pipe or file (a script, a CI log), a line per file and
    milestone instead of redrawn bars."""

    def __init__(self, *, enabled: bool = True):
        self._enabled = enabled
        console = Console(file=sys.stderr)
        self._progress = (
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TextColumn("{task.fields[status]}"),
                console=console,
            )
            if enabled and console.is_terminal
            else None
        )

    def __enter__(self) -> "Bars":
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._progress is not None:
            self._progress.stop()

    def add(self, name: str, size: int) -> Bar:
        if self._progress is None:
            return _LineBar(name, size) if self._enabled else Bar(None, None)
        task = self._progress.add_task(name, total=size, status="uploading")
        return Bar(self._progress, task)


class _LineBar(Bar):
    """Without a terminal: `photo.jpg: 25% 50% 75% 100%`, then the verdict, on stderr."""

    def __init__(self, name: str, size: int):
        super().__init__(None, None)
        self._name, self._size, self._shown = name, max(size, 1), 0
        print(f"{name}: uploading {size} bytes", file=sys.stderr, flush=True)

    def update(self, sent: int) -> None:
        quarter = sent * 4 // self._size
        if quarter > self._shown:
            self._shown = quarter
            print(f"{self._name}: {quarter * 25}%", file=sys.stderr, flush=True)

    def done(self, status: str) -> None:
        print(f"{self._name}: {status}", file=sys.stderr, flush=True)
