#!/usr/bin/env bash
# Validates docker-compose.yml with a real Compose implementation; no Docker engine is needed.
#
#   bash bin/compose-check.sh [FILE]        locate (install if missing) Compose, run `config -q`
#   bash bin/compose-check.sh --install     only make sure a Compose implementation is installed
#   COMPOSE_CHECK_NO_INSTALL=1 ...          never install; fail if none is found
#
# Compose is looked for in this order:
#   1. `docker compose` (Compose v2 as a Docker CLI plugin);
#   2. a standalone Compose v2 `docker-compose` binary;
#   3. the Python Compose v1 `docker-compose` (fallback, older validator).
# When none works and we are root with apt-get, it is installed from Debian:
#   a. `docker-compose-plugin` / `docker-compose-v2` if the configured apt sources have them;
#   b. `docker-compose` from the configured sources when that is already v2 (Debian 13+);
#   c. Debian 12 (bookworm) only has v1, so the v2 package is taken from Debian 13 (trixie)
#      through a temporary apt source list (the machine's sources are not changed); it depends
#      only on libc6 >= 2.34 and installs /usr/libexec/docker/cli-plugins/docker-compose;
#   d. else the configured sources' `docker-compose` (v1) as a fallback.
# Exit 0 when the file is valid; non-zero with a message on stderr otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE=check
FILE="$ROOT/docker-compose.yml"
for arg in "$@"; do
  case "$arg" in
    --install) MODE=install ;;
    -h|--help) sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "compose-check: unknown option $arg" >&2; exit 2 ;;
    *) FILE="$arg" ;;
  esac
done

# The Debian 13 suite that carries Compose v2 as `docker-compose`.
V2_SUITE="${COMPOSE_CHECK_DEBIAN_SUITE:-trixie}"
DEBIAN_MIRROR="${COMPOSE_CHECK_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

log() { echo "compose-check: $*" >&2; }

COMPOSE=()
COMPOSE_KIND=""

# True when "$@ version" works and reports Compose v2 or later.
is_v2() {
  local out
  out="$("$@" version 2>/dev/null)" || return 1
  [[ "$out" =~ [Vv]ersion[[:space:]]v?([0-9]+)\. ]] && (( BASH_REMATCH[1] >= 2 ))
}

# Sets COMPOSE/COMPOSE_KIND to the best working implementation; returns 1 when there is none.
locate() {
  COMPOSE=(); COMPOSE_KIND=""
  if command -v docker >/dev/null 2>&1 && is_v2 docker compose; then
    COMPOSE=(docker compose); COMPOSE_KIND="v2 plugin"; return 0
  fi
  local p
  for p in docker-compose /usr/libexec/docker/cli-plugins/docker-compose \
           /usr/lib/docker/cli-plugins/docker-compose /usr/local/lib/docker/cli-plugins/docker-compose \
           "${HOME:-/root}/.docker/cli-plugins/docker-compose"; do
    if command -v "$p" >/dev/null 2>&1 && is_v2 "$p"; then
      COMPOSE=("$p"); COMPOSE_KIND="v2 standalone"; return 0
    fi
  done
  if command -v docker-compose >/dev/null 2>&1 && docker-compose version >/dev/null 2>&1; then
    COMPOSE=(docker-compose); COMPOSE_KIND="v1 fallback"; return 0
  fi
  return 1
}

APT_UPDATED=0
apt_update_once() {
  if (( APT_UPDATED == 0 )); then
    log "apt-get update"
    apt-get update -qq >&2 || log "apt-get update failed; using the package lists already present"
    APT_UPDATED=1
  fi
}

# Candidate version of a package in the configured apt sources, or empty.
candidate() {
  apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { if ($2 != "(none)") print $2 }'
}

apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# Downloads docker-compose (v2) from $V2_SUITE via a throw-away apt configuration and installs it.
install_v2_from_newer_debian() {
  [[ -r /etc/debian_version && -r /usr/share/keyrings/debian-archive-keyring.gpg ]] || return 1
  local tmp rc=0
  tmp="$(mktemp -d)"
  chmod 755 "$tmp"
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $DEBIAN_MIRROR $V2_SUITE main" >"$tmp/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=-"
              -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache" -o "APT::Sandbox::User=root")
  log "fetching docker-compose (Compose v2) from Debian $V2_SUITE"
  if apt-get "${opts[@]}" update -qq >&2; then
    local ver
    ver="$(apt-cache "${opts[@]}" policy docker-compose | awk '/Candidate:/ { print $2 }')"
    if [[ "$ver" =~ ^([0-9]+:)?([0-9]+)\. ]] && (( BASH_REMATCH[2] >= 2 )); then
      (cd "$tmp" && apt-get "${opts[@]}" download "docker-compose=$ver" >&2) || rc=1
      local deb
      deb="$(ls "$tmp"/docker-compose_*.deb 2>/dev/null | head -n 1 || true)"
      if (( rc == 0 )) && [[ -n "$deb" ]]; then
        # apt resolves the deb's dependencies (libc6) from the machine's own sources.
        apt_install "$deb" || rc=1
      else
        rc=1
      fi
    else
      log "Debian $V2_SUITE has no docker-compose v2 (candidate: ${ver:-none})"; rc=1
    fi
  else
    rc=1
  fi
  rm -rf "$tmp"
  return "$rc"
}

install_compose() {
  if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    log "cannot install: needs root and apt-get"
    return 1
  fi
  apt_update_once
  local pkg v
  for pkg in docker-compose-plugin docker-compose-v2; do
    if [[ -n "$(candidate "$pkg")" ]]; then
      log "installing $pkg"
      apt_install "$pkg" && locate && [[ "$COMPOSE_KIND" == v2* ]] && return 0
    fi
  done
  v="$(candidate docker-compose)"
  if [[ "$v" =~ ^([0-9]+:)?([0-9]+)\. ]] && (( BASH_REMATCH[2] >= 2 )); then
    log "installing docker-compose $v"
    apt_install docker-compose && locate && [[ "$COMPOSE_KIND" == v2* ]] && return 0
  fi
  if install_v2_from_newer_debian && locate && [[ "$COMPOSE_KIND" == v2* ]]; then
    return 0
  fi
  if [[ -n "$v" ]]; then
    log "falling back to Compose v1: installing docker-compose $v"
    apt_install docker-compose && locate && return 0
  fi
  return 1
}

if ! locate || [[ "$COMPOSE_KIND" == "v1 fallback" ]]; then
  if [[ "${COMPOSE_CHECK_NO_INSTALL:-}" == 1 ]]; then
    [[ -n "$COMPOSE_KIND" ]] || { log "no Compose implementation found and COMPOSE_CHECK_NO_INSTALL=1"; exit 1; }
  elif ! install_compose; then
    # A v1 that was already there is still better than nothing.
    locate || { log "no Compose implementation found and it could not be installed (docker compose, docker-compose)"; exit 1; }
  fi
fi

log "using ${COMPOSE[*]} ($COMPOSE_KIND): $("${COMPOSE[@]}" version 2>/dev/null | head -n 1)"
[[ "$MODE" == install ]] && exit 0

if [[ ! -f "$FILE" ]]; then
  log "$FILE does not exist"
  exit 1
fi
if ! "${COMPOSE[@]}" -f "$FILE" config -q; then
  log "$FILE is not a valid Compose file (${COMPOSE[*]} config -q failed)"
  exit 1
fi
log "$FILE is valid"
