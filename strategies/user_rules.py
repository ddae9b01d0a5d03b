"""Strategies of your own, without editing qtrade: a rules file named on the command line, or an installed package.

A **rules file** is any ``.py`` file whose rules are registered with :func:`strategies.register`, the decorator
of the built-ins (``examples/custom_rules.py`` is one, documented)::

    qtrade strategies --from path/to/rules.py                   # its rules and their settings
    qtrade backtest --strategy path/to/rules.py:name --out DIR  # one of them
    qtrade backtest --strategy path/to/rules.py --out DIR       # the file's only rule

:func:`strategies.get` takes such a reference wherever it takes a name. The file is executed afresh each time it
is loaded, as a module of its own (a name made from its path, so two ``rules.py`` in different folders do not
collide); no bytecode is written beside it, and its folder is not put on ``sys.path`` (a module of your own that
it imports must be installed or on ``PYTHONPATH``). What it registers stays out of the registry that
:func:`strategies.available` lists, so it never joins ``--strategy all``; a name that qtrade already has
(a built-in) is refused, so that a tearsheet's ``kelly`` is always qtrade's.

An **installed package** declares the entry-point group ``qtrade.strategies``; each entry point names a module
(or an object in one) whose import registers its rules, for instance in ``pyproject.toml``::

    [project.entry-points."qtrade.strategies"]
    myrules = "mypackage.rules"

Those rules join the registry the first time a name is not a built-in, or the whole list is asked for
(``qtrade strategies``, ``--strategy all``), and are used by name like the built-ins.

Every problem is one :class:`~forecasting.errors.ConfigError` line that names the file (and the line in it) and
the fix: a missing file, one that is not ``.py``, a syntax error, an exception while importing it, a name it
does not register, a function whose arguments are not its settings, a name that clashes, and, while the
backtest runs, a rule that raises or returns anything but one finite number (or NaN) per ticker.

Examples
--------
>>> path, name = reference("examples/custom_rules.py:hysteresis")
>>> path.as_posix(), name
('examples/custom_rules.py', 'hysteresis')
>>> reference("rules.py")[1] is None, reference("kelly") is None
(True, True)
>>> from strategies import get
>>> get("examples/custom_rules.py:hysteresis").params["enter"].default  # from the repository's root
0.6
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import re
import sys
import sysconfig
import traceback
import types
from collections.abc import Callable
from dataclasses import replace
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import numpy as np

from forecasting.errors import ConfigError, QtradeError
from strategies import registry
from strategies.registry import Bar, StrategySpec

__all__ = ["GROUP", "load_installed", "load_rule", "load_rules", "reference"]

GROUP = "qtrade.strategies"
"""The entry-point group of installed packages' strategies."""

_installed: dict[str, str] | None = None  # the installed strategies' origins, by name, once loaded (a cache)


def reference(text: str) -> tuple[Path, str | None] | None:
    """``(path, name)`` of ``path/rules.py:name`` (``name`` None for a bare ``path/rules.py``); ``None`` when
    ``text`` is a registered strategy's name (no ``:``, ``/`` or ``\\`` and no ``.py`` ending)."""
    if ":" in text:
        path, _, name = text.rpartition(":")
        if not any(c in name for c in "/\\") and not name.endswith(".py"):  # not a Windows drive's colon
            return Path(path), name.strip()
    if text.endswith(".py") or any(c in text for c in "/\\"):
        return Path(text), None
    return None


def load_rule(text: str) -> StrategySpec:
    """The strategy ``path/rules.py:name`` (or the only one of ``path/rules.py``), loading the file afresh."""
    ref = reference(text)
    if ref is None:
        raise ConfigError(f"{text!r} is not a rules file; give path/to/rules.py:name")
    path, name = ref
    if name == "":
        raise ConfigError(
            f"{text}: name the strategy after the colon, as {path}:NAME (qtrade strategies --from {path} lists them)"
        )
    rules = load_rules(path)
    if name is None:
        if len(rules) > 1:
            raise ConfigError(
                f"{path} registers {len(rules)} strategies ({', '.join(rules)}); name one, such as "
                f"{path}:{next(iter(rules))}"
            )
        return next(iter(rules.values()))
    if name not in rules:
        raise ConfigError(
            f"{path} registers no strategy {name!r}; it registers {', '.join(rules)} "
            f"(qtrade strategies --from {path} lists them)"
        )
    return rules[name]


def load_rules(path: str | Path) -> dict[str, StrategySpec]:
    """Execute the rules file ``path`` and return the strategies it registers, by name, in the order it does.

    The registry is left as it was; each rule is wrapped so that an exception in it, or weights of the wrong
    kind, reach the user as one line naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(
            f"{path}: no such rules file; give the path of a .py file of rules, such as examples/custom_rules.py"
        )
    if path.is_dir():
        raise ConfigError(f"{path}: a folder, not a rules file; give the .py file in it, such as {path}/rules.py")
    if path.suffix != ".py":
        raise ConfigError(f"{path}: not a Python file; rules live in a .py file (path/to/rules.py:name)")
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from None
    file = str(path.resolve())
    module = types.ModuleType(_module_name(path, file))
    module.__file__ = file

    def execute() -> None:
        code = compile(source, file, "exec", dont_inherit=True)
        sys.modules[module.__name__] = module  # dataclasses and pickling look modules up here
        exec(code, module.__dict__)

    try:
        rules = _collect(execute, str(path))
    except SyntaxError as exc:
        sys.modules.pop(module.__name__, None)
        where = _shown(exc.filename, path, file)
        raise ConfigError(f"{where}:{exc.lineno}: syntax error: {exc.msg}; fix the file and run again") from None
    except QtradeError:
        sys.modules.pop(module.__name__, None)
        raise
    except Exception as exc:
        sys.modules.pop(module.__name__, None)
        line = _line_in(exc, file)
        raise ConfigError(
            f"{path}{f':{line}' if line else ''}: importing it raised {_said(exc)}; fix the file and run again"
        ) from exc
    if not rules:
        raise ConfigError(
            f"{path} registers no strategy; decorate a rule with @register(name, summary) from strategies "
            "(see examples/custom_rules.py)"
        )
    return {name: _checked(spec, str(path)) for name, spec in rules.items()}


def load_installed() -> dict[str, str]:
    """Load the strategies of installed packages (entry-point group :data:`GROUP`) into the registry, once.

    Returns their origins by name (``entry point NAME = VALUE (distribution VERSION)``). A package that fails to
    load, or registers a name that qtrade or a package loaded before it already has, is one line naming the
    package and the fix.
    """
    global _installed
    if _installed is not None:
        return _installed
    registry._load_builtins()
    found: dict[str, str] = {}
    for point in sorted(entry_points(group=GROUP), key=lambda p: (p.name, p.value)):
        origin = _origin(point)
        try:
            rules = _collect(point.load, origin)
        except QtradeError:
            raise
        except Exception as exc:
            at = _frame_outside_qtrade(exc)
            raise ConfigError(
                f"installed strategies: {origin} failed to load: {_said(exc)}{f' at {at}' if at else ''}; "
                f"fix or uninstall {_distribution(point)}"
            ) from exc
        for name, spec in rules.items():  # a name taken by an earlier package was refused by _collect
            found[name] = origin
            registry._REGISTRY[name] = _checked(spec, origin)
    _installed = found
    return found


def _collect(run: Callable[[], object], where: str) -> dict[str, StrategySpec]:
    """Run ``run`` (an import of ``where``) and return the strategies it registered; the registry is left as it
    was.

    A name the registry already had is refused: a rule of one's own never replaces qtrade's.
    """
    registry._load_builtins()
    table = registry._REGISTRY
    before = dict(table)
    try:
        run()
        after = dict(table)
    finally:
        table.clear()
        table.update(before)
    clash = sorted(k for k, v in after.items() if k in before and v is not before[k])
    if clash:
        many = len(clash) > 1
        raise ConfigError(
            f"{where} registers {', '.join(map(repr, clash))}, the name{'s' if many else ''} of "
            f"{'strategies' if many else 'a strategy'} qtrade already has; rename {'them' if many else 'it'} "
            "(qtrade strategies lists the names taken)"
        )
    return {k: v for k, v in after.items() if k not in before}


def _checked(spec: StrategySpec, where: str) -> StrategySpec:
    """``spec`` whose rule's settings are checked now and whose every call is checked as it runs."""
    rule = spec.rule
    try:
        signature = inspect.signature(rule)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        try:
            signature.bind(None, **spec.defaults())
        except TypeError as exc:
            settings = ", ".join(spec.params) or "none"
            raise ConfigError(
                f"{where}: strategy {spec.name}'s function {signature} does not take its registered settings "
                f"({settings}): {exc}; give it one keyword argument per setting, such as "
                f"def {getattr(rule, '__name__', 'rule')}(bar, *, {', '.join(spec.params) or '...'})"
            ) from None
    source = getattr(getattr(rule, "__code__", None), "co_filename", None)

    @functools.wraps(rule)
    def checked(bar: Bar, **params: Any) -> np.ndarray:
        try:
            returned = rule(bar, **params)
        except QtradeError:
            raise
        except Exception as exc:
            line = _line_in(exc, source)
            raise ConfigError(
                f"strategy {spec.name} ({where}{f', line {line}' if line else ''}) raised {_said(exc)}; fix the rule"
            ) from exc  # the traceback stays on the error for a debugger or a test
        return _weights(returned, bar, spec.name, where)

    return replace(spec, rule=checked)


def _weights(returned: object, bar: Bar, name: str, where: str) -> np.ndarray:
    """``returned`` as one float per ticker, or a one-line error saying what came back instead."""
    n = len(bar.mean)
    fix = f"return one weight per ticker (NaN: keep the position), an array of {n} numbers shaped like bar.mean"
    if returned is None:
        raise ConfigError(f"strategy {name} ({where}) returned None (no return statement?); {fix}")
    try:
        w = np.asarray(returned, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(
            f"strategy {name} ({where}) returned {_brief(returned)}, which is not numbers; {fix}"
        ) from None
    if w.shape != bar.mean.shape:
        raise ConfigError(f"strategy {name} ({where}) returned weights of shape {w.shape} for {n} tickers; {fix}")
    if np.isinf(w).any():
        raise ConfigError(f"strategy {name} ({where}) returned an infinite weight; {fix}")
    return w


def _module_name(path: Path, file: str) -> str:
    stem = re.sub(r"\W", "_", path.stem)
    return f"qtrade_rules_{stem}_{hashlib.sha256(file.encode()).hexdigest()[:10]}"


def _line_in(exc: BaseException, file: str | None) -> int | None:
    """The line of the innermost frame of ``exc``'s traceback in ``file``."""
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if file and frame.filename == file]
    return lines[-1] if lines else None


def _frame_outside_qtrade(exc: BaseException) -> str | None:
    """``file:line`` of the innermost frame of ``exc``'s traceback in neither qtrade nor the standard library."""
    skip = (str(Path(__file__).resolve().parents[1]), sysconfig.get_paths()["stdlib"], "<")
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(skip)]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else None


def _said(exc: BaseException) -> str:
    first = (str(exc).splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _brief(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def _shown(filename: str | None, path: Path, file: str) -> str:
    """The file a syntax error is in: ``path`` as given when it is the rules file itself."""
    return str(path) if filename in (None, file) else str(filename)


def _distribution(point: EntryPoint) -> str:
    dist = getattr(point, "dist", None)
    return f"{dist.name} {dist.version}" if dist is not None else "the package that declares it"


def _origin(point: EntryPoint) -> str:
    return f"entry point {point.name} = {point.value} ({_distribution(point)})"
