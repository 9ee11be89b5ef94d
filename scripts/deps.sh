#!/usr/bin/env bash
# Installs the Debian 12 packages hims-engine needs to build, test and run, if any is missing.
# Idempotent and quick when everything is there. Usage: scripts/deps.sh [build|test]
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config ccache git openssl ca-certificates python3
  libboost1.81-dev libboost-url1.81-dev libssl-dev libyaml-cpp-dev libfmt-dev libspdlog-dev
  libcli11-dev rapidjson-dev libpugixml-dev libsqlite3-dev libpqxx-dev libzmq3-dev cppzmq-dev
  libgoogle-perftools-dev
)
if [[ "${1:-build}" == test ]]; then
  packages+=(googletest libgtest-dev libgmock-dev libbenchmark-dev clang clang-format lld
             libclang-rt-14-dev postgresql postgresql-contrib)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "deps: installing ${missing[*]}" >&2
sudo_cmd=()
if [[ $(id -u) != 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
