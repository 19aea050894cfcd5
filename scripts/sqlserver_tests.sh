#!/usr/bin/env bash
# The tests that run on every database, against SQL Server through pyodbc: what
# .github/workflows/sqlserver.yml runs on GitHub's Ubuntu runners, next to a SQL Server service
# container. This project's own machines have no SQL Server, so it is not exercised there.
# Needs: scripts/setup.sh done, sudo (for Microsoft's ODBC driver), ECT_DB_PASSWORD (the server's
# password; never on the command line), and optionally ECT_TEST_MSSQL_URL (default: sa on 127.0.0.1:1433).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ECT_DB_PASSWORD:?set ECT_DB_PASSWORD to the SQL Server password}"

if ! odbcinst -q -d -n "ODBC Driver 18 for SQL Server" >/dev/null 2>&1; then
    source /etc/os-release
    curl -fsSL https://packages.microsoft.com/keys/microsoft.asc | sudo gpg --dearmor --yes -o /usr/share/keyrings/microsoft-prod.gpg
    echo "deb [arch=amd64 signed-by=/usr/share/keyrings/microsoft-prod.gpg] https://packages.microsoft.com/${ID}/${VERSION_ID}/prod ${VERSION_CODENAME} main" \
        | sudo tee /etc/apt/sources.list.d/mssql-release.list >/dev/null
    sudo apt-get update -q
    sudo ACCEPT_EULA=Y apt-get install -y -q msodbcsql18 unixodbc
fi

export ECT_TEST_MSSQL_URL="${ECT_TEST_MSSQL_URL:-mssql+pyodbc://sa@127.0.0.1:1433/test?driver=ODBC+Driver+18+for+SQL+Server&TrustServerCertificate=yes}"
export ECT_REQUIRE_MSSQL=1
.venv/bin/python scripts/sqlserver_database.py  # waits for the server, creates the database
.venv/bin/python -m pytest -k mssql tests/
