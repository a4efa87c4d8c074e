#!/usr/bin/env bash
# Installs what Playcast needs on Debian 12, only what is missing.
#   scripts/setup.sh run    build and run the service
#   scripts/setup.sh test   also the browser, namespaces tools, PostgreSQL and Redis
set -euo pipefail

mode=${1:-run}
run_pkgs=(
  build-essential pkg-config libglib2.0-dev libssl-dev
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  gstreamer1.0-nice gstreamer1.0-x gstreamer1.0-pulseaudio
  xvfb x11-utils pulseaudio
)
test_pkgs=(chromium chromium-driver iproute2 procps postgresql redis-server joystick xclip python3-venv coturn systemd)

pkgs=("${run_pkgs[@]}")
[ "$mode" = test ] && pkgs+=("${test_pkgs[@]}")
# The web app is built with Node.js and npm (18.17 or newer; Debian 12 has
# 18.19). A machine that already has its own node or npm keeps it: Debian's npm
# package conflicts with an npm installed another way.
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  for d in "$HOME/.cargo/bin" /usr/local/cargo/bin; do
    [ -x "$d/cargo" ] && export PATH="$d:$PATH"
  done
fi
command -v cargo >/dev/null 2>&1 || {
  echo "setup: a Rust toolchain (cargo, 1.85 or newer) is needed; install it with rustup" >&2
  exit 1
}

if [ "$mode" = test ]; then
  # The databases the state tests use; start them when they are down.
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    echo "setup: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  fi
  # The tests connect as postgres to database `test` over TCP without a password,
  # as on a test machine; a fresh install needs the database and that access.
  if ! psql -h 127.0.0.1 -U postgres -d test -c 'select 1' >/dev/null 2>&1; then
    cluster=$(ls /etc/postgresql | head -n1)
    hba="/etc/postgresql/$cluster/main/pg_hba.conf"
    if ! grep -q "playcast-test" "$hba"; then
      echo "setup: allowing passwordless local TCP access to PostgreSQL for the tests"
      sed -i '1i host all all 127.0.0.1/32 trust # playcast-test\nhost all all ::1/128 trust # playcast-test' "$hba"
      pg_ctlcluster --skip-systemctl-redirect "$cluster" main reload
    fi
    su postgres -c "psql -tAc \"select 1 from pg_database where datname = 'test'\"" | grep -q 1 \
      || su postgres -c "createdb test"
  fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "setup: starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  fi
fi

if [ "$mode" = test ]; then
  # The deployment files (docker/) are checked with real schema validators from
  # PyPI: the Compose specification and the Kubernetes API schemas.
  tools="$(cd "$(dirname "$0")/.." && pwd)/.tools/venv"
  if [ ! -x "$tools/bin/kubernetes-validate" ] || [ ! -x "$tools/bin/check-jsonschema" ]; then
    echo "setup: installing kubernetes-validate and check-jsonschema into .tools/venv"
    python3 -m venv "$tools"
    "$tools/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==1.37.0" "check-jsonschema==0.39.0"
  fi
fi

if [ "$mode" = test ]; then
  # The Debian package (tests/package.rs) is built by cargo-deb from crates.io;
  # dpkg-deb and systemd-analyze (the systemd package above) check it.
  if ! cargo deb --version >/dev/null 2>&1; then
    echo "setup: installing cargo-deb"
    nice -n 19 cargo install --locked cargo-deb
  fi
fi

if [ "$mode" = test ]; then
  # scripts/deny checks the dependency policy in deny.toml. Pinned: a newer
  # cargo-deny may read the config differently or need a newer Rust.
  deny_version=0.20.2
  if ! cargo deny --version 2>/dev/null | grep -qx "cargo-deny $deny_version"; then
    echo "setup: installing cargo-deny $deny_version"
    nice -n 19 cargo install --locked "cargo-deny@$deny_version"
  fi
fi
