#!/usr/bin/env bash
# Re-pins the Python tools: every transitive dependency, with the hashes of all its published
# files (so the same file installs on any platform), from scripts/requirements/*.in into
# requirements-*.txt. Needs pip-tools (installed into a throwaway venv) and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools"
"$tools/bin/pip" install --quiet --disable-pip-version-check pip-tools
for name in pip dev checkov; do
  # --strip-extras: hash-checking pip cannot match `boto3[crt]==` to a plain `boto3` need.
  "$tools/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-find-links \
    --output-file "requirements-$name.txt" "scripts/requirements/requirements-$name.in"
  sed -i 's|^#    pip-compile .*|#    scripts/pin-requirements.sh|' "requirements-$name.txt"
done
