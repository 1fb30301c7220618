#!/usr/bin/env bash
# Packs Triton Inference Server for the GPU machine (no network there) as .device/triton.tar.xz (git-ignored): the
# outside anchor of serve-bench (docs/serve-bench.md#triton-side-by-side). The only pip-installable Triton server is
# the one inside NVIDIA's PyTriton wheel; from it this keeps the tritonserver binary, its libraries, the Python backend
# and that backend's stub for Python 3.12 (the GPU machine's), and drops the rest (stubs and libpython of other
# Pythons, PyTriton's own Python code), so that it fits the carried tree (64 MiB) beside Node and the CLI bundle.
# The layout keeps the wheel's relative RPATHs: pytriton/tritonserver/{bin,backends} beside nvidia_pytriton.libs/.
# Needs network here; PYTRITON_VERSION picks the wheel (default 0.7.0), PYTHON_MINOR the stub (default 3.12).
set -euo pipefail
cd "$(dirname "$0")/.."
version=${PYTRITON_VERSION:-0.7.0}
minor=${PYTHON_MINOR:-3.12}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux_2_35_x86_64 --python-version "$minor" \
  "nvidia-pytriton==$version" -d "$tmp/wheel"
mkdir -p "$tmp/x" "$tmp/keep/pytriton/tritonserver"
python3 -c "import sys,zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" "$tmp"/wheel/*.whl "$tmp/x"
server=$tmp/x/pytriton/tritonserver
stub=$server/python_backend_stubs/$minor/triton_python_backend_stub
[ -f "$stub" ] || { echo "triton-bundle: the wheel has no Python backend stub for $minor" >&2; exit 1; }
cp -a "$server/bin" "$server/backends" "$tmp/keep/pytriton/tritonserver/"
cp "$stub" "$tmp/keep/pytriton/tritonserver/backends/python/"
# zip extraction drops the executable bits the wheel's RECORD does not carry
chmod +x "$tmp"/keep/pytriton/tritonserver/bin/* "$tmp/keep/pytriton/tritonserver/backends/python/triton_python_backend_stub"
cp -a "$tmp/x/nvidia_pytriton.libs" "$tmp/keep/"
rm -f "$tmp"/keep/nvidia_pytriton.libs/libpython3-*  # the 3.13 stub's; the 3.12 stub links the system's
echo "nvidia-pytriton $version, Python backend stub $minor" >"$tmp/keep/VERSION"
mkdir -p .device
tar -cJf .device/triton.tar.xz -C "$tmp/keep" .
ls -l .device/triton.tar.xz
