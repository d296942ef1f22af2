#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432, trust auth) and RabbitMQ (127.0.0.1:5672, guest/guest) answer,
# and that Debian's Chromium is there for the console's browser tests (Playwright drives
# /usr/bin/chromium; it never downloads a browser). Starts the services with the machine's own commands
# when installed but stopped; on Debian as root installs what is absent with apt; otherwise says
# exactly what is missing.
set -euo pipefail

PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
AMQP_PORT=${AMQP_PORT:-5672}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && exec 3>&- 3<&-; }

wait_port() {
  local host=$1 port=$2 name=$3 tries=${4:-60}
  for _ in $(seq "$tries"); do
    port_open "$host" "$port" && return 0
    sleep 1
  done
  echo "ensure-services: $name did not start listening on $host:$port" >&2
  return 1
}

can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

apt_install() {
  echo "ensure-services: installing $* with apt-get" >&2
  if [ ! -f /tmp/.billing-apt-updated ]; then apt-get update -qq && touch /tmp/.billing-apt-updated; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  port_open "$PG_HOST" "$PG_PORT" && return 0
  if ! command -v pg_ctlcluster >/dev/null && ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    if can_apt; then apt_install postgresql; else
      echo "ensure-services: PostgreSQL is not running on $PG_HOST:$PG_PORT and not installed;" \
           "install it or set DATABASE_URL/TEST_DATABASE_ADMIN_URL" >&2
      return 1
    fi
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -1)
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  # Tests connect as postgres over TCP without a password, as on the reference machine.
  if [ -w "$hba" ] && ! grep -q "billing-trust" "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust # billing-trust\nhost all all ::1/128 trust # billing-trust\nlocal all all trust # billing-trust' "$hba"
  fi
  echo "ensure-services: starting PostgreSQL $version" >&2
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster "$version" main start
  wait_port "$PG_HOST" "$PG_PORT" PostgreSQL
}

ensure_rabbitmq() {
  port_open 127.0.0.1 "$AMQP_PORT" && return 0
  if ! command -v rabbitmq-server >/dev/null; then
    if can_apt; then apt_install rabbitmq-server; else
      echo "ensure-services: RabbitMQ is not running on 127.0.0.1:$AMQP_PORT and not installed;" \
           "install it or set TEST_RABBITMQ_URL" >&2
      return 1
    fi
  fi
  echo "ensure-services: starting RabbitMQ" >&2
  rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_port 127.0.0.1 "$AMQP_PORT" RabbitMQ 120
}

ensure_chromium() {
  local chromium=${BILLING_TEST_CHROMIUM:-/usr/bin/chromium}
  [ -x "$chromium" ] && return 0
  if can_apt; then apt_install chromium; else
    echo "ensure-services: $chromium is missing (the console's browser tests need it);" \
         "install Debian's chromium package or set BILLING_TEST_CHROMIUM" >&2
    return 1
  fi
}

ensure_postgres
ensure_rabbitmq
ensure_chromium
echo "ensure-services: PostgreSQL, RabbitMQ and Chromium are ready" >&2
