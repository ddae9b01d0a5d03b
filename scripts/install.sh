#!/usr/bin/env bash
# Create the virtual environment and install qtrade into it, taking the fast CPU path for torch where
# there is no CUDA. Usage: scripts/install.sh PYTHON VENV [TORCH_PIP_ARGS]
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}
torch_args=${3:-}

if [ ! -x "$venv/bin/python" ]; then
  # A torch the user already has (a CUDA build, say) is used as it is: the environment sees it.
  if "$python" -c "import torch" >/dev/null 2>&1; then
    echo "install: using the torch of $python ($("$python" -c 'import torch; print(torch.__version__)'))"
    "$python" -m venv --system-site-packages "$venv"
  else
    "$python" -m venv "$venv"
  fi
fi
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)

if ! "$venv/bin/python" -c "import torch" >/dev/null 2>&1; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "install: CUDA found; installing torch with CUDA"
    "${pip[@]}" "torch>=2.4" $torch_args
  else
    echo "install: no CUDA; installing torch 2.13.0 (CPU build)"
    "${pip[@]}" "torch==2.13.0" $torch_args
  fi
fi
# constraints.txt holds the versions the tests last passed with (make upgrade refreshes it); QTRADE_UNCONSTRAINED=1
# installs the newest versions the project's own ranges allow instead.
constraints=()
if [ -f constraints.txt ] && [ -z "${QTRADE_UNCONSTRAINED:-}" ]; then
  constraints=(-c constraints.txt)
  echo "install: qtrade and its dependencies, at the versions in constraints.txt"
else
  echo "install: qtrade and its dependencies, newest versions allowed"
fi
"${pip[@]}" "${constraints[@]}" -e ".[dev]" 2> >(grep -v "^WARNING: Location" >&2)
