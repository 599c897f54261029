#!/usr/bin/env bash
# Run the test suite on every Python 3.9-3.13 found: pyenv's (~/.pyenv/versions) and python3.X on PATH, each in
# its own uv environment (.venv-3.X). One line per version; fails if a version fails or none is found.
set -uo pipefail
cd "$(dirname "$0")/.."
uv=${UV:-uv}
export UV_PYTHON_DOWNLOADS=${UV_PYTHON_DOWNLOADS:-never} UV_SYSTEM_CERTS=${UV_SYSTEM_CERTS:-1}

# The newest interpreter of 3.$1, as a real path (pyenv shims resolved), or nothing.
find_python() {
  local candidate
  for candidate in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3."$1".*/bin/python 2>/dev/null | sort -rV) \
    $(command -v "python3.$1"); do
    "$candidate" -c "import sys; assert sys.version_info[:2] == (3, $1); print(sys.executable)" 2>/dev/null && return
  done
}

passed=0
failed=0
for minor in 9 10 11 12 13; do
  python=$(find_python "$minor")
  if [ -z "$python" ]; then
    echo "matrix: 3.$minor not found, skipped"
    continue
  fi
  log=$(mktemp)
  if UV_PROJECT_ENVIRONMENT=".venv-3.$minor" "$uv" run --locked -q -p "$python" pytest -q -p no:cacheprovider \
    >"$log" 2>&1; then
    passed=$((passed + 1))
    echo "matrix: 3.$minor ($python) ok: $(tail -n 1 "$log")"
  else
    failed=$((failed + 1))
    tail -n 40 "$log"
    echo "matrix: 3.$minor ($python) FAILED: $(tail -n 1 "$log")"
  fi
  rm -f "$log"
done
echo "matrix: $passed passed, $failed failed"
[ "$passed" -gt 0 ] && [ "$failed" -eq 0 ]
