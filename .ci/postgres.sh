#!/usr/bin/env bash
# Make a local PostgreSQL server available on localhost:5432 (user postgres / password postgres).
# Idempotent; needs no stdin. Does nothing when PGHOST points to another server.
set -euo pipefail

PORT=5432
PASSWORD=postgres

log() { echo "[postgres.sh] $*" >&2; }

case "${PGHOST:-localhost}" in
  localhost | 127.0.0.1) ;;
  *) log "PGHOST=$PGHOST: using that server, nothing to do."; exit 0 ;;
esac

# Already usable (e.g. a CI service container, or a previous run)?
if command -v psql >/dev/null 2>&1 \
  && PGPASSWORD=$PASSWORD PGCONNECT_TIMEOUT=3 psql -h localhost -p $PORT -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
  log "server already reachable on localhost:$PORT."
  exit 0
fi

# Run a command as the postgres OS user (for peer authentication on the local socket).
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -n -u postgres "$@"; fi
}
maybe_sudo() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

if ! command -v pg_lsclusters >/dev/null 2>&1; then
  log "installing PostgreSQL with apt..."
  maybe_sudo apt-get update </dev/null
  maybe_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql </dev/null
fi

# The cluster on our port, as "version name status"; create one if there is none.
cluster() { pg_lsclusters --no-header | awk -v p="$PORT" '$3 == p { print $1, $2, $4; exit }'; }
if [ -z "$(cluster)" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  [ -n "$version" ] || { log "no PostgreSQL server binaries found"; exit 1; }
  log "creating cluster $version/main on port $PORT..."
  maybe_sudo pg_createcluster --port "$PORT" "$version" main >/dev/null
fi
read -r version name status <<<"$(cluster)"

if [ "$status" != online ]; then
  log "starting cluster $version/$name..."
  maybe_sudo pg_ctlcluster "$version" "$name" start
fi

for _ in $(seq 30); do
  pg_isready -q -h localhost -p "$PORT" && break
  sleep 1
done
if ! pg_isready -h localhost -p "$PORT"; then
  log "server did not become ready within 30 s (see /var/log/postgresql/postgresql-$version-$name.log)"
  exit 1
fi

as_postgres psql -p "$PORT" -q -v ON_ERROR_STOP=1 -c "ALTER USER postgres PASSWORD '$PASSWORD'" </dev/null
PGPASSWORD=$PASSWORD psql -h localhost -p "$PORT" -U postgres -d postgres -tAc 'select 1' >/dev/null
log "cluster $version/$name ready on localhost:$PORT (postgres/$PASSWORD)."
