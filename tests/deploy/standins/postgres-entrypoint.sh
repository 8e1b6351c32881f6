#!/bin/sh
# The first start makes the cluster, its superuser and its database from the postgres image's variables.
set -eu
bin=/usr/lib/postgresql/15/bin
data=/var/lib/postgresql/data
if [ ! -s "$data/PG_VERSION" ]; then
  password=$(mktemp)
  printf '%s' "$POSTGRES_PASSWORD" >"$password"
  # UTF8, as the postgres image makes it (its LANG is en_US.utf8); a bare initdb here would pick SQL_ASCII.
  "$bin/initdb" --pgdata="$data" --username="$POSTGRES_USER" --pwfile="$password" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$password"
  "$bin/pg_ctl" --pgdata="$data" --options="-c listen_addresses=''" --wait start >/dev/null
  psql --username="$POSTGRES_USER" --dbname=postgres --quiet --command="CREATE DATABASE \"$POSTGRES_DB\""
  "$bin/pg_ctl" --pgdata="$data" --mode=fast --wait stop >/dev/null
fi
exec "$bin/postgres" -D "$data" -c listen_addresses='*' "$@"
