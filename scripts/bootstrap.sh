#!/usr/bin/env bash
# Installs what the project needs beyond the Rust toolchain, into the project where it can:
#   - .venv: moto's server (the AWS emulator), cfn-lint and the SAM CLI (template checks),
#     cargo-lambda (the Lambda runtime emulator);
#   - Chromium and ChromeDriver from Debian's packages, for the browser test (needs root).
# Safe to run again: it does nothing when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing Python tools into .venv"
  "$python" -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

if [ "${SKIP_BROWSER_TEST:-0}" != "1" ] && { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; }; then
  if [ "$(id -u)" = "0" ]; then
    echo "bootstrap: installing chromium and chromium-driver (Debian packages)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  elif command -v sudo >/dev/null 2>&1; then
    echo "bootstrap: installing chromium and chromium-driver with sudo"
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "bootstrap: Chromium is missing and this user cannot install it." >&2
    echo "           apt-get install chromium chromium-driver, or set SKIP_BROWSER_TEST=1" >&2
    exit 1
  fi
fi
echo "bootstrap: ready"
