#!/bin/sh
# Debian's Postgres 15 (apt install postgresql-15) run as a skiff process accessory. The cluster lives in the
# `data` volume and is made on the first start, with the password from POSTGRES_PASSWORD (a secret); it listens
# on the address and port skiff gives (HOST, PORT) and on no Unix socket. Stop it with SIGINT (stop_signal).
set -eu
BIN=/usr/lib/postgresql/15/bin
if [ ! -s data/PG_VERSION ]; then
  umask 077
  printf '%s' "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}" > .pwfile
  "$BIN/initdb" -D data -U postgres --pwfile=.pwfile --auth-host=scram-sha-256 --auth-local=peer -E UTF8 --locale=C.UTF-8 > /dev/null
  rm -f .pwfile
fi
exec "$BIN/postgres" -D data -h "$HOST" -p "$PORT" -k "" -c logging_collector=off
