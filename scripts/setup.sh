#!/usr/bin/env bash
# Installs what ocr_pipeline needs, idempotently: Debian packages (Tesseract with rus/kaz/osd data,
# fonts for the test documents, chromium for the review page's browser tests and the screenshots) and a
# virtual environment with the package and its test extras.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
APT_PACKAGES="tesseract-ocr tesseract-ocr-rus tesseract-ocr-kaz tesseract-ocr-osd fonts-liberation2 fonts-dejavu-core postgresql-client redis-server time chromium"

missing_apt=""
for pkg in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing_apt="$missing_apt $pkg"
done
if [ -n "$missing_apt" ]; then
    echo "setup: installing Debian packages:$missing_apt"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing_apt >/dev/null
fi

stamp="$VENV/.installed"
if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
if [ ! -f "$stamp" ] || [ setup.py -nt "$stamp" ]; then
    echo "setup: installing the package into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e '.[test]'
    touch "$stamp"
fi
