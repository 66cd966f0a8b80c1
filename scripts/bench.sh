#!/usr/bin/env bash
# The benchmark command: training and sampling throughput and memory of the demo's model on this machine.
# Usage: scripts/bench.sh [--quick] [--threads N] [--sde-table | --nll-curve | --memory | --fuzz N]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$here/scripts/setup.sh" "$here/bench/StochasticInterpolants.Benchmarks/StochasticInterpolants.Benchmarks.csproj"
tc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
if [ -e "$tc" ] && [[ "${LD_PRELOAD:-}" != *tcmalloc* ]]; then export LD_PRELOAD="$tc${LD_PRELOAD:+:$LD_PRELOAD}"; fi
exec dotnet "$here/bench/StochasticInterpolants.Benchmarks/bin/Release/net10.0/linux-x64/StochasticInterpolants.Benchmarks.dll" "$@"
