#!/usr/bin/env bash
# Make sure a PostgreSQL server runs on loopback for learnat's `postgres`-feature tests, with a
# test database `learnat_test` (the same tables as the SQLite adversarial fixture plus a table of
# typed values), and print its URL as the LAST line of stdout.
#
# Idempotent: a running server is reused; the test database is recreated each time so every run
# starts from the same rows. Installs the Debian `postgresql` package when no server binaries
# exist (needs root and network, as on the CI machine). Diagnostics go to stderr.
#
#   LEARNAT_PG_PORT   port to listen on (default 54329)
#   LEARNAT_PG_DIR    data and socket directory (default /tmp/learnat-postgres-$PORT)
set -euo pipefail

PORT="${LEARNAT_PG_PORT:-54329}"
BASE="${LEARNAT_PG_DIR:-/tmp/learnat-postgres-$PORT}"
DATA="$BASE/data"
SOCKET="$BASE/socket"
LOG="$BASE/server.log"
URL="postgres://learnat:learnat@127.0.0.1:$PORT/learnat_test"
FIXTURE_ROWS=3000

say() { echo "start-postgres: $*" >&2; }

find_bin() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$dir" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; fi
}

BIN="$(find_bin)"
if [ -z "$BIN" ]; then
  say "no PostgreSQL server binaries; installing the Debian postgresql package"
  if [ "$(id -u)" -ne 0 ]; then
    say "error: installing needs root; install postgresql yourself and rerun"
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  BIN="$(find_bin)"
  [ -n "$BIN" ] || { say "error: postgresql installed but no pg_ctl found"; exit 1; }
fi

# The server refuses to run as root: run it as the `postgres` user the package creates (or as
# the current user when that is not root).
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir "$BASE" --shell /bin/sh postgres
  as_server() { su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; }
  SERVER_USER=postgres
else
  as_server() { "$@"; }
  SERVER_USER="$(id -un)"
fi

mkdir -p "$BASE" "$SOCKET"
if [ "$(id -u)" -eq 0 ]; then chown -R "$SERVER_USER" "$BASE"; fi

if [ ! -f "$DATA/PG_VERSION" ]; then
  say "initialising a cluster in $DATA"
  as_server "$BIN/initdb" --pgdata="$DATA" --username=postgres --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >&2
fi

if as_server "$BIN/pg_ctl" status --pgdata="$DATA" >/dev/null 2>&1; then
  say "server already running on port $PORT"
else
  say "starting the server on 127.0.0.1:$PORT (log: $LOG)"
  as_server "$BIN/pg_ctl" start --pgdata="$DATA" --log="$LOG" --wait --timeout=60 \
    --options="-p $PORT -k $SOCKET -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" >&2 || {
    say "error: the server did not start; last lines of $LOG:"
    tail -n 20 "$LOG" >&2 || true
    exit 1
  }
fi

admin() { as_server "$BIN/psql" --no-psqlrc --quiet -v ON_ERROR_STOP=1 -h "$SOCKET" -p "$PORT" -U postgres "$@"; }

admin -d postgres >&2 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'learnat') THEN
    CREATE ROLE learnat LOGIN PASSWORD 'learnat';
  END IF;
END \$\$;
DROP DATABASE IF EXISTS learnat_test WITH (FORCE);
CREATE DATABASE learnat_test OWNER learnat;
SQL

# The tables belong to `learnat`, so the server alone would let it write: the tests check that
# learnat's own layers (gate, READ ONLY transaction) are what stops writes.
admin -d learnat_test >&2 <<SQL
SET ROLE learnat;
CREATE TABLE customers (id integer PRIMARY KEY, name text NOT NULL, city text);
CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer REFERENCES customers(id),
                     amount double precision, note text);
CREATE TABLE items (id integer PRIMARY KEY, label text, data bytea);
CREATE TABLE audit (what text);
CREATE INDEX orders_customer ON orders (customer_id);
CREATE SEQUENCE customers_id_seq;
CREATE VIEW big_spenders AS
  SELECT c.name, sum(o.amount) AS total FROM customers c JOIN orders o ON o.customer_id = c.id
  GROUP BY c.id, c.name HAVING sum(o.amount) > 100;
INSERT INTO customers SELECT i, 'customer ' || i, 'city ' || (i % 17)
  FROM generate_series(1, $FIXTURE_ROWS) AS i;
INSERT INTO orders SELECT id, (id * 7) % $FIXTURE_ROWS + 1, id * 1.25, 'note ' || id FROM customers;
INSERT INTO items SELECT id, 'item ' || id, decode(md5(id::text), 'hex') FROM customers;
CREATE TABLE typed (
  id integer PRIMARY KEY, flag boolean, small smallint, big bigint, ratio real, precise double precision,
  amount numeric(12, 2), huge numeric, label varchar(20), code char(5), tag name, raw bytea,
  day date, moment timestamp, moment_tz timestamptz, clock time, ident uuid, doc json, docb jsonb,
  span interval, numbers integer[]
);
INSERT INTO typed VALUES
  (1, true, 7, 9000000000, 1.5, 2.25, 1234.50, 123456789012345678901234567890.5, 'héllo', 'ab',
   'pg_name', '\\x0001ff', '2024-02-29', '2024-02-29 13:45:30.25', '2024-02-29 13:45:30+00',
   '08:30:00', '123e4567-e89b-12d3-a456-426614174000', '{"a": 1}', '{"b": [1, 2]}',
   '1 day 02:00:00', '{1,2,3}'),
  (2, false, -1, -5, -0.5, 0, -0.01, 0, '', 'x', 'n', '', '1999-12-31', '1999-12-31 23:59:59',
   '1999-12-31 23:59:59+00', '00:00:00', '00000000-0000-0000-0000-000000000000', 'null', '[]',
   '-3 hours', '{}'),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL);
RESET ROLE;
ANALYZE;
SQL

say "test database learnat_test ready"
echo "$URL"
