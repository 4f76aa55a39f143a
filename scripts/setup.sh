#!/usr/bin/env bash
# Prepares a fresh Debian machine for protege: Docker (engine started when none answers),
# debootstrap (the base image is made from a Debian rootfs when no base image can be pulled),
# the protege binary (one build profile: dev, dependencies optimised), and the mini images.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v git >/dev/null 2>&1 || need+=(git)
command -v patch >/dev/null 2>&1 || need+=(patch)
# Headless Chromium renders the HTML report in its test.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# The trainer client's test runs in a Python venv (clients/python with skyrl-gym from PyPI).
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}" >&2
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
    echo "setup: starting dockerd" >&2
    if command -v systemctl >/dev/null 2>&1 && systemctl start docker 2>/dev/null; then
        :
    else
        sudo_cmd=""
        [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
        $sudo_cmd sh -c 'setsid dockerd >/var/log/protege-dockerd.log 2>&1 &'
    fi
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    docker info >/dev/null 2>&1 || { echo "setup: dockerd did not start; see /var/log/protege-dockerd.log" >&2; exit 1; }
fi

if ! .venv-trainers/bin/python -c "import skyrl_gym, protege_client.skyrl" >/dev/null 2>&1; then
    echo "setup: installing clients/python and skyrl-gym into .venv-trainers" >&2
    python3 -m venv .venv-trainers
    .venv-trainers/bin/pip install -q -e "clients/python[skyrl]"
fi

cargo build --locked --bin protege
./target/debug/protege images build --dataset mini >/dev/null
echo "setup: ready" >&2
