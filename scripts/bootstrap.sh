# Sourced by scripts/run and scripts/test. `orderhub_venv [EXTRA]`: a project virtualenv in .venv with
# OrderHub installed (editable, with the optional EXTRA); re-installs only when pyproject.toml changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

orderhub_venv() {
  local extras=${1:-}
  local python_bin=${PYTHON:-python3}
  if ! "$python_bin" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "OrderHub needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2
    exit 2
  fi
  [ -x .venv/bin/python ] || "$python_bin" -m venv .venv
  local stamp=".venv/.orderhub-installed${extras:+-$extras}"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    # Quiet: pip's output (progress, a machine's index warnings, "new pip available", "running pip as root") goes
    # to a log in .venv, shown only when the install fails; one line says what is happening.
    echo "installing OrderHub${extras:+ [$extras]} into .venv (log: .venv/pip-install.log) …" >&2
    if ! PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_WARN_SCRIPT_LOCATION=1 \
      .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}" >.venv/pip-install.log 2>&1; then
      tail -n 40 .venv/pip-install.log >&2
      echo "pip install failed; the whole log is in .venv/pip-install.log" >&2
      exit 1
    fi
    touch "$stamp"
  fi
}
