"""Print the constraints file of the environment the tests just passed in: every installed distribution at its
version, less qtrade itself and torch with its own requirements (the install script chooses torch for the machine:
a CPU build here, a CUDA build elsewhere, and a CUDA build pins some of those requirements itself).

Usage: python scripts/freeze_constraints.py > constraints.txt (``make upgrade`` does it after the tests pass).
"""

from __future__ import annotations

import contextlib
import re
import sys
from importlib import metadata


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def main() -> None:
    left_out = {"qtrade", "torch", "pip", "setuptools", "wheel"}
    with contextlib.suppress(metadata.PackageNotFoundError):
        left_out |= {_name(re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0]) for r in metadata.requires("torch") or []}
    pins = sorted(
        {
            _name(d.metadata["Name"]): d.version
            for d in metadata.distributions()
            if d.metadata["Name"] and _name(d.metadata["Name"]) not in left_out
        }.items()
    )
    version = ".".join(map(str, sys.version_info[:2]))
    print(f"# The versions `make test` passed with (Python {version}); `make install` installs within them and")
    print("# `make upgrade` refreshes them. torch and its own requirements are left to scripts/install.sh.")
    for name, ver in pins:
        if not name.startswith("nvidia-"):
            print(f"{name}=={ver}")


if __name__ == "__main__":
    main()
