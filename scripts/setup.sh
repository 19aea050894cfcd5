#!/usr/bin/env bash
# Set up a fresh machine, idempotently: Debian packages (ODBC drivers; Chromium for the site test;
# valgrind for the instruction counts; openssl for the TLS test's certificate),
# a virtualenv in .venv with this project and every extra, and the site's JavaScript libraries
# (npm). Called by `make test` and `make run`; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=(unixodbc odbc-mariadb chromium chromium-driver valgrind openssl)
missing=()
for package in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "setup: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[postgresql,odbc,test,bench]"

# The libraries asv's pages load from CDNs, served from the site itself (ect_perf/site.py).
npm ci --prefix ect_perf/site_assets --no-audit --no-fund --silent
