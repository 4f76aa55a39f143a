#!/usr/bin/env bash
# Prepares a fresh Debian machine for protege: Docker (engine started when none answers),
# debootstrap (the base image is made from a Debian rootfs when no base image can be pulled),
# the official graders (Python venvs), the protege binary (one build profile: dev, dependencies
# optimised), and the mini images.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v git >/dev/null 2>&1 || need+=(git)
command -v patch >/dev/null 2>&1 || need+=(patch)
# Test venvs (the official `openai` client, the official graders) need python3 with venv.
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3 python3-venv)
# The image pipeline's tests pull from a loopback registry (Debian's docker-registry), and the
# Podman test drives Podman's Docker-compatible API.
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v podman >/dev/null 2>&1 || need+=(podman)
# Headless Chromium renders the HTML report in its test.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# The trainer client's test runs in a Python venv (clients/python with skyrl-gym from PyPI).
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need+=(python3-venv)
# llama.cpp (feature `llamacpp`, built by the llama-cpp-sys-2 crate): cmake, a C++ compiler,
# and libclang for its bindgen step.
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v c++ >/dev/null 2>&1 || need+=(g++)
compgen -G "/usr/lib/llvm-*/lib/libclang.so*" >/dev/null || need+=(libclang-dev)
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

# The official `openai` Python client, which the tests drive `protege lm serve` with.
venvs="${PROTEGE_CACHE:-$HOME/.cache/protege}/venvs"
if ! "$venvs/openai/bin/python" -c "import openai" >/dev/null 2>&1; then
    echo "setup: installing openai into $venvs/openai" >&2
    python3 -m venv "$venvs/openai"
    "$venvs/openai/bin/pip" install -q openai==3.51.0
fi

# The official graders, for harness/tests/oracle.rs: swebench 4.1.0 and 5.0.2, each in its own
# venv, without their dependencies (docker, datasets, modal, ...): only the grading modules are
# used, and the test's driver gives missing imports inert stand-ins.
oracle="${PROTEGE_CACHE:-$HOME/.cache/protege}/oracle"
for v in 4.1.0 5.0.2; do
    venv="$oracle/swebench-$v"
    if ! "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('swebench') == '$v'" 2>/dev/null; then
        echo "setup: installing swebench==$v into $venv" >&2
        # without PyPI the rest of protege still works; the oracle test then skips, saying so
        if ! { python3 -m venv "$venv" &&
            "$venv/bin/pip" install -q --disable-pip-version-check --no-deps "swebench==$v"; }; then
            echo "setup: could not install swebench==$v; harness/tests/oracle.rs will skip" >&2
            rm -rf "$venv"
        fi
    fi
done

if ! .venv-trainers/bin/python -c "import skyrl_gym, protege_client.skyrl" >/dev/null 2>&1; then
    echo "setup: installing clients/python and skyrl-gym into .venv-trainers" >&2
    python3 -m venv .venv-trainers
    .venv-trainers/bin/pip install -q -e "clients/python[skyrl]"
fi

cargo build --locked --bin protege
./target/debug/protege images build --dataset mini >/dev/null
echo "setup: ready" >&2
