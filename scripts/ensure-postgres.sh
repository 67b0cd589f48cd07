#!/usr/bin/env bash
# Start the machine's PostgreSQL cluster if it is installed but not running. Tests then create
# their own database in it. Where no PostgreSQL is installed this does nothing: the PostgreSQL
# tests are skipped on a newcomer's machine, and fail under CI=true.
set -u
command -v pg_isready >/dev/null 2>&1 || exit 0
pg_isready -q -h 127.0.0.1 -p 5432 && exit 0
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  version=$(ls /etc/postgresql | head -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 1; done
  echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2
fi
exit 0
