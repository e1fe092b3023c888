#!/bin/sh
# Prints the path of a Python interpreter for the Lambda target runtime (3.12).
#   find-python.sh          3.12 if there is one, else python3 >= 3.10 with a warning
#   find-python.sh --strict 3.12 or fail (packaging and deploying must match the runtime)
# pyenv's `python3.12` shim refuses to run unless pyenv is told to, so look behind it.
target=3.12
works() { [ -x "$1" ] && "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 12) else 1)' 2>/dev/null; }
for root in "${PYENV_ROOT:-}" "$(pyenv root 2>/dev/null)" "$HOME/.pyenv"; do
  [ -n "$root" ] || continue
  for candidate in $(ls -d "$root"/versions/$target.*/bin/python$target 2>/dev/null | sort -V -r); do
    if works "$candidate"; then echo "$candidate"; exit 0; fi
  done
done
for candidate in "$(command -v python$target 2>/dev/null)" /usr/bin/python$target /usr/local/bin/python$target; do
  if [ -n "$candidate" ] && works "$candidate"; then echo "$candidate"; exit 0; fi
done
if [ "${1:-}" = "--strict" ]; then
  echo "error: Python $target (the Lambda runtime) was not found. Install it, e.g. 'pyenv install $target'." >&2
  exit 1
fi
fallback=$(command -v python3 2>/dev/null)
if [ -n "$fallback" ] && "$fallback" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
  echo "warning: Python $target not found; using $("$fallback" --version 2>&1) for run/test. Install $target (pyenv install $target) to match Lambda." >&2
  echo "$fallback"; exit 0
fi
echo "error: no Python $target (nor python3 >= 3.10) found. Install Python $target, e.g. 'pyenv install $target'." >&2
exit 1
