# Sourced by the gpu/scripts/device-*.sh on the GPU machine: makes what the device call carried ready to use.
# - wheels in .whl/ (fastjsonschema, which the GPU machines lack; tritonclient's for its test) into /tmp/site, first
#   on PYTHONPATH;
# - the CLI bundle (.device/eclip.tar.xz, scripts/device-bundle.sh) unpacked afresh: the bundle carried this call
#   wins over one an earlier call left there (ignored outputs stay on the machine); likewise .device/before.tar.xz;
# - Node (.device/node.xz: an xz-compressed linux-x64 `node` binary, see scripts/device-bundle.sh) as /tmp/node;
# - gpu_short_name: the GPU's name as profiles/<gpu>/ spells it ("NVIDIA H100 80GB HBM3" -> h100).
[ -d .whl ] && python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/*.whl 2>/dev/null
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 ECLIP_HOME=$PWD ECLIP_PYTHON=${ECLIP_PYTHON:-python3}
[ -f .device/eclip.tar.xz ] && rm -rf .device/eclip && tar -xJf .device/eclip.tar.xz -C .device
# a second bundle to compare with (BEFORE=<commit> scripts/device-bundle.sh): .device/before/eclip.mjs
[ -f .device/before.tar.xz ] && rm -rf .device/before && tar -xJf .device/before.tar.xz -C .device
if [ -f .device/node.xz ] && [ ! -x /tmp/node ]; then
  python3 -c "import lzma,shutil;shutil.copyfileobj(lzma.open('.device/node.xz'),open('/tmp/node','wb'))" && chmod +x /tmp/node
fi
gpu_short_name() {
  nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | sed -E 's/NVIDIA //; s/ .*//' | tr 'A-Z' 'a-z'
}
