#!/usr/bin/env bash
# Packs, on this machine, what bench/gpu/run.sh needs on a bare GPU machine (no Bun, no network, no
# Vulkan loader) into .gpu-pack/, which git ignores (.git/info/exclude) and the device call carries:
#   bun.xz               the Bun binary of this checkout (node_modules/bun), xz -9
#   node_modules.tar.xz  package.json's runtime dependencies and theirs, without source maps, typings, docs
#   debs/*.deb           the Vulkan loader and the GL dispatch libraries the NVIDIA Vulkan driver links
# A device call's working tree is at most 64 MiB, repository included: the pack must stay under 60 MiB.
#
#   bash bench/gpu/pack.sh        (again after a dependency or Bun upgrade; unchanged parts are kept)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
pack=.gpu-pack
limit_mib=60
bun=node_modules/.bin/bun
[[ -x $bun ]] || { echo "pack: no $bun here; run npm ci first" >&2; exit 1; }
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")" "$pack/debs"
grep -qxF "/$pack/" "$exclude" 2>/dev/null || echo "/$pack/" >>"$exclude"

# Bun: -9 takes over a minute on two cores for 100 MB, so only when the version changed.
version=$("$bun" --version)
if [[ ! -s $pack/bun.xz || "$(cat "$pack/bun.version" 2>/dev/null)" != "$version" ]]; then
  echo "pack: compressing Bun $version (about a minute) …"
  xz -9 -T2 -c "$(readlink -f "$bun")" >"$pack/bun.xz.tmp"
  mv "$pack/bun.xz.tmp" "$pack/bun.xz"
  echo "$version" >"$pack/bun.version"
fi

# Dependencies, and the optional and peer dependencies that are installed, transitively: Bun links
# every module an entry imports, and @effect/platform-node's index imports redis (a peer). Type-only
# packages stay out.
mapfile -t packages < <("$bun" -e '
  const { existsSync, readFileSync } = require("node:fs")
  const manifest = (name) => JSON.parse(readFileSync(`node_modules/${name}/package.json`, "utf8"))
  const seen = new Set()
  const queue = Object.keys(JSON.parse(readFileSync("package.json", "utf8")).dependencies ?? {})
  while (queue.length > 0) {
    const name = queue.pop()
    if (seen.has(name) || !existsSync(`node_modules/${name}/package.json`)) continue
    if (name.startsWith("@types/") || name === "@webgpu/types" || name === "undici-types") continue
    seen.add(name)
    const m = manifest(name)
    queue.push(...Object.keys({ ...m.dependencies, ...m.optionalDependencies, ...m.peerDependencies }))
  }
  console.log([...seen].sort().join("\n"))
')
echo "pack: node_modules with ${#packages[@]} packages: ${packages[*]}"
tar -cf - --exclude='*.map' --exclude='*.d.ts' --exclude='*.d.mts' --exclude='*.d.cts' --exclude='*.md' \
  --exclude='node_modules/effect/src' --exclude='node_modules/effect/ai-docs' --exclude='node_modules/@effect/*/src' \
  "${packages[@]/#/node_modules/}" | xz -9 -T2 >"$pack/node_modules.tar.xz.tmp"
mv "$pack/node_modules.tar.xz.tmp" "$pack/node_modules.tar.xz"

# The Vulkan loader, downloaded for amd64 whatever this machine is (the device README's recipe).
debs=(libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
missing=()
for d in "${debs[@]}"; do compgen -G "$pack/debs/${d}_*.deb" >/dev/null || missing+=("$d"); done
if ((${#missing[@]} > 0)); then
  echo "pack: downloading ${missing[*]} …"
  apt=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64 -oAPT::Sandbox::User=root)
  mkdir -p /tmp/amd64/partial
  apt-get "${apt[@]}" update -qq
  (cd "$pack/debs" && apt-get "${apt[@]}" download "${missing[@]}")
fi

bytes=$(du -cb "$pack/bun.xz" "$pack/node_modules.tar.xz" "$pack"/debs/*.deb | tail -1 | cut -f1)
repo=$(git ls-files -z | du --files0-from=- -cb 2>/dev/null | tail -1 | cut -f1)
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "pack: $pack is $(mib "$bytes") (Bun $(mib "$(stat -c %s "$pack/bun.xz")"), node_modules $(mib "$(stat -c %s "$pack/node_modules.tar.xz")"), ${#debs[@]} debs); with the tracked files $(mib $((bytes + repo))) of the 64 MiB a call carries"
if ((bytes > limit_mib * 1048576)); then
  echo "pack: over $limit_mib MiB: the device call would refuse the working tree" >&2
  exit 1
fi
