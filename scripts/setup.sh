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

# Each install below is skipped when its stamp (a hash of what it installs from) is unchanged:
# no network work on a set-up machine.
stamp() { cat "$@" | sha256sum | cut -d' ' -f1; }

python=${PYTHON:-python3.11}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
fi
pip_stamp=$(stamp pyproject.toml)
if [ "$(cat .venv/.ect-setup-stamp 2>/dev/null)" != "$pip_stamp" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[postgresql,odbc,test,bench]"
  echo "$pip_stamp" > .venv/.ect-setup-stamp
fi

# The libraries asv's pages load from CDNs, served from the site itself (ect_perf/site.py).
npm_stamp=$(stamp site_assets/package.json site_assets/package-lock.json)
if [ "$(cat site_assets/node_modules/.ect-setup-stamp 2>/dev/null)" != "$npm_stamp" ]; then
  npm ci --prefix site_assets --no-audit --no-fund --silent
  echo "$npm_stamp" > site_assets/node_modules/.ect-setup-stamp
fi
