"""Atomic writes: an interrupted run leaves the previous complete file or the new one, never half of one; a new
folder whole or not at all; a folder lock for processes that write one folder's files together."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_folder", "atomic_path", "folder_lock", "write_text"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only if the block succeeds.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
    ('done', ['out.txt'])
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; the result should be an ordinary file
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a hidden temporary folder beside ``path``; rename it to ``path``, which must not exist, only if the
    block succeeds, so that ``path`` appears with every file written in the block or not at all.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "2024-05-17"
    >>> with atomic_folder(target) as tmp:
    ...     _ = (tmp / "a.txt").write_text("done")
    >>> sorted(p.name for p in target.iterdir()), sorted(p.name for p in target.parent.iterdir())
    (['a.txt'], ['2024-05-17'])
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; the result should be an ordinary folder
    try:
        yield tmp
        os.rename(tmp, target)  # refused where target exists (a non-empty folder, or a file)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str], name: str = ".qtrade.lock") -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (a hidden file in it) for the block: processes that write one
    folder's outputs, such as the workers of one study, then write them one after the other.

    The lock is ``flock``, which holds between processes of one machine and, on Linux, over NFS; where there is
    no ``fcntl`` (Windows) or the file system refuses locks, the block runs unlocked, and each file is still
    written whole.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with folder_lock(folder):
    ...     write_text(folder / "out.txt", "done")
    >>> (folder / "out.txt").read_text()
    'done'
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    with open(path / name, "a", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError as e:  # a file system without locks (ENOLCK, EOPNOTSUPP): unlocked, as on Windows
            warnings.warn(
                f"{path}: the file system refused a lock ({e.strerror}); writing without it, so qtrade processes "
                "sharing this folder may interleave their outputs (each file is still whole)",
                stacklevel=3,
            )
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
