#!/usr/bin/env bash
# The project's virtual environment, from a fresh Debian machine up:
# installs python3-venv when the interpreter cannot make one, then the project.
set -euo pipefail
source "$(dirname "$0")/env.sh"

PYTHON="${PYTHON:-python3}"
command -v "$PYTHON" >/dev/null || apt_install python3 python3-venv
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || die "$PYTHON is $("$PYTHON" --version); passaparola needs Python 3.11 or newer"

if [ ! -x "$ROOT/.venv/bin/python" ]; then
  if ! "$PYTHON" -m venv "$ROOT/.venv" >/dev/null 2>&1; then
    rm -rf "$ROOT/.venv"
    apt_install python3-venv
    "$PYTHON" -m venv "$ROOT/.venv"
  fi
fi
# PyICU (Unicode confusables and transliteration for company names) builds
# against the system's ICU: its headers and pkg-config, and a C++ compiler.
if ! pkg-config --exists icu-i18n 2>/dev/null || ! command -v c++ >/dev/null; then
  apt_install libicu-dev pkg-config g++
fi
say "installing passaparola and its development tools into .venv"
"$ROOT/.venv/bin/python" -m pip install -q --upgrade pip >/dev/null
"$ROOT/.venv/bin/python" -m pip install -q -e "$ROOT[dev]" 2>&1 | grep -v -i "warning" >&2 || true
# Headless Chromium for the tests of the members' link pages (Playwright drives
# Debian's browser; the project never downloads browsers with `playwright install`).
command -v chromium >/dev/null || apt_install chromium
"$ROOT/.venv/bin/passaparola" --help >/dev/null || die "the installation failed; see the pip output above"
