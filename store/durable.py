"""fsync helpers for the files finterm must not lose (recordings, label corrections)."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """Make a rename or new file in `folder` durable (best effort: some filesystems refuse)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    """Flush a file written by someone else (polars, pyarrow) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def parquet_target(path: str | Path, what: str) -> Path:
    """The path of a parquet file finterm will keep writing (`what` names it in errors), its
    folder created; an InputError when it cannot be one."""
    from finterm.errors import InputError

    p = Path(path).expanduser()
    if p.suffix.lower() not in (".parquet", ".pq"):
        raise InputError(f"{p}: {what} is parquet; give a name ending in .parquet")
    if p.is_dir():
        raise InputError(f"{p}: is a folder; {what} needs a file name")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{p.parent}: cannot create the folder for {what} ({exc.strerror or exc})") from None
    return p
