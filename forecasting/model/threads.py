"""CPU threads for torch when several qtrade processes share a machine.

torch takes every core by default; three forecasts on two cores then fight over six threads (measured: one
thread each ran 1.8x faster). Each qtrade process that trains or forecasts registers itself in a folder of
process ids under the system's temporary folder, counts the live ones and gives torch its share of the cores
it may run on: ``max(1, cores // processes)``, set again at every epoch so that a process started earlier
yields cores to later ones and takes them back when they end. ``--threads N`` (or ``QTRADE_THREADS``) fixes
the count instead.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["cores", "share", "shared_threads", "use_threads"]

_REGISTRY = Path(tempfile.gettempdir()) / "qtrade-processes"


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _processes(registry: Path) -> int:
    live = 0
    for entry in registry.glob("*.pid"):
        try:
            pid = int(entry.stem)
        except ValueError:
            continue
        if pid == os.getpid() or _alive(pid):
            live += 1
        else:
            with contextlib.suppress(OSError):  # OSError: another user's entry in a shared registry
                entry.unlink(missing_ok=True)  # a process that died without cleaning up
    return max(live, 1)


def share(registry: Path | None = None) -> int:
    """This process's share of the cores: ``max(1, cores() // live qtrade processes)``."""
    return max(1, cores() // _processes(registry or _REGISTRY))


def use_threads(threads: int | None = None, registry: Path | None = None) -> int:
    """Set torch's intra-op threads to ``threads``, else ``QTRADE_THREADS``, else :func:`share`; return it."""
    import torch

    fixed = threads if threads is not None else _env_threads()
    n = fixed if fixed is not None else share(registry)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def _env_threads() -> int | None:
    value = os.environ.get("QTRADE_THREADS", "").strip()
    if not value:
        return None
    try:
        n = int(value)
    except ValueError:
        from forecasting.errors import ConfigError

        raise ConfigError(f"QTRADE_THREADS={value!r} is not a whole number; set it to 1 or more, or unset it") from None
    return max(1, n)


@contextlib.contextmanager
def shared_threads(threads: int | None = None, registry: Path | None = None) -> Iterator[int]:
    """Register this process for the duration and give torch its threads; yields the count set at entry."""
    registry = registry or _REGISTRY
    entry: Path | None = None
    try:
        registry.mkdir(parents=True, exist_ok=True)
        entry = registry / f"{os.getpid()}.pid"
        entry.touch()
    except OSError:  # a read-only temporary folder: no sharing, torch's own default stays
        entry = None
    try:
        yield use_threads(threads, registry)
    finally:
        if entry is not None:
            entry.unlink(missing_ok=True)
