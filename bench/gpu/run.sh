#!/usr/bin/env bash
# The device table in one command on a lent GPU machine, from the pack bench/gpu/pack.sh made:
#   run(command: "bash bench/gpu/run.sh", carry: [".gpu-pack"], timeout_s: 300)
# Unpacks Bun, node_modules and the Vulkan loader, points Vulkan at the NVIDIA driver when it finds no
# other, runs `sdeflow doctor`, then bench/gpu.ts with a time budget so the whole command ends inside
# 4 minutes. Arguments go to bench/gpu.ts (`--quick`, `--only em-64m`, `--peak-gbs 3350`).
# Writes doctor.txt, table.md, gpu.json and log.txt to $OUT (to /tmp/sdeflow-gpu-out where OUT is unset).
set -uo pipefail
began=$SECONDS
total=${SDEFLOW_GPU_SECONDS:-225}
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
pack=$PWD/.gpu-pack
out=${OUT:-/tmp/sdeflow-gpu-out}
mkdir -p "$out"
exec > >(tee -a "$out/log.txt") 2>&1
say() { echo "run.sh [$((SECONDS - began)) s]: $*"; }
[[ -s $pack/bun.xz && -s $pack/node_modules.tar.xz ]] || { say "no pack in $pack: run bash bench/gpu/pack.sh here and carry .gpu-pack"; exit 1; }

# A bare machine may lack the xz program; Python's lzma reads the same files.
unxz_stdout() {
  if command -v xz >/dev/null; then xz -dc "$1"; else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi
}

# The Vulkan loader and the GL dispatch library the NVIDIA Vulkan driver links against. Unpacked into /
# only where they are missing: a machine that has them keeps its own versions.
if ! ldconfig -p | grep -q 'libvulkan\.so\.1 ' || ! ldconfig -p | grep -q 'libGLdispatch\.so\.0 '; then
  say "unpacking the Vulkan loader into /"
  for f in "$pack"/debs/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi

# Bun and node_modules, once per machine (a warm machine keeps them).
version=$(cat "$pack/bun.version" 2>/dev/null || echo unknown)
bun=/tmp/sdeflow-gpu/bun-$version
if [[ ! -x $bun ]]; then
  say "unpacking Bun $version"
  mkdir -p /tmp/sdeflow-gpu
  unxz_stdout "$pack/bun.xz" >"$bun.tmp" && chmod +x "$bun.tmp" && mv "$bun.tmp" "$bun" || { say "could not unpack Bun"; exit 1; }
fi
if [[ ! -d node_modules/bun-webgpu ]]; then
  say "unpacking node_modules"
  unxz_stdout "$pack/node_modules.tar.xz" | tar -xf - || { say "could not unpack node_modules"; exit 1; }
fi
export PATH=/tmp/sdeflow-gpu:$PATH HOME=${HOME:-/root} XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}

# The CLI's entry point is package.json's bin, wherever the source tree keeps it.
cli=$("$bun" -e 'console.log(require("./package.json").bin.sdeflow)')
# The NVIDIA driver ships its Vulkan manifest outside the loader's search path on these machines.
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
use_nvidia_icd() {
  export VK_DRIVER_FILES=$nvidia_icd __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  say "VK_DRIVER_FILES=$VK_DRIVER_FILES"
}
if [[ -z ${VK_DRIVER_FILES:-} && -f $nvidia_icd ]] && ! ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d 2>/dev/null | grep -qi nvidia; then
  use_nvidia_icd
fi
doctor() { timeout 90 "$bun" "$cli" doctor >"$out/doctor.txt" 2>&1; }
say "sdeflow doctor ($cli)"
doctor
rc=$?
if ((rc != 0)) && [[ -z ${VK_DRIVER_FILES:-} && -f $nvidia_icd ]]; then
  say "no adapter (exit $rc); trying the NVIDIA manifest"
  use_nvidia_icd
  doctor
  rc=$?
fi
cat "$out/doctor.txt"
((rc == 0)) || { say "doctor failed (exit $rc): no usable adapter"; exit "$rc"; }
grep -q "expect CPU speeds" "$out/doctor.txt" && say "warning: the adapter runs on the CPU; the table will be CPU numbers"

# What is left of the budget, less a margin for a row that overruns it and for the table itself.
left=$((total - (SECONDS - began)))
((left > 75)) || { say "only $left s left of $total s: nothing measured"; exit 1; }
say "bench/gpu.ts with a budget of $((left - 45)) s (killed at $((left - 5)) s)"
timeout --kill-after=5 $((left - 5)) "$bun" run bench/gpu.ts --budget-s $((left - 45)) --json "$out/gpu.json" "$@" | tee "$out/table.md"
rc=${PIPESTATUS[0]}
if ((rc == 124 || rc == 137)) && [[ -s $out/gpu.json ]]; then
  say "stopped at the time limit; the rows measured until then:"
  "$bun" run bench/gpu.ts --from "$out/gpu.json" | tee "$out/table.md"
fi
say "done (exit $rc)"
exit "$rc"
