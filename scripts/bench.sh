#!/usr/bin/env bash
# The benchmark command: training, sampling and likelihood throughput of the demo's model on this machine, side by
# side with the same work in PyTorch; memory soak, fuzzing, SDE table, NLL curve and real tables as modes.
# Usage: scripts/bench.sh [--quick] [--threads N] [--sde-table | --nll-curve | --memory | --fuzz N | --tables [--seeds K]
#                         | --unet [--preset tiny|small|medium] [--rounds R] [--no-pytorch]
#                         | --image-curve [--data NAME] | --image-memory [--data NAME] [--preset P]
#                         | --image-chunks --checkpoint DIR
#                         | --coupling-speed [--couplings A,B,...] | --coupling-quality [--couplings A,B,...] | --ot-solver
#                         | --mpi | --flow-map [--parts gmm,checkerboard,table,digits] [--steps N] [--map-objective lsd|psd]
#                         | --manifolds | --words | --onnx [--rounds R]]
# --unet trains the U-Net (batches 64 and 128 of 1x28x28 images, 10 classes) beside the same network in PyTorch
# (bench/pytorch/unet_torch.py) on the same initial weights, after checking both compute the same output; one thread
# per side unless --threads is given.
# --image-curve: bits/dim of Fashion-MNIST's test images (or --data NAME) against training CPU time, one run paused at
# 7.5, 15, 30 and 60 CPU-minutes. --image-memory: resident memory over 20,000 image training steps (default 8x8 digits,
# tiny U-Net). Image data sets are fetched from Debian packages into the data cache on first use. --image-chunks: s/image
# and peak memory of an image checkpoint's sampling at chunks of 8-512 images, plain and guided.
# --coupling-speed: training steps/s per coupling (default independent,ot,sinkhorn) at batches 256, 1024, 4096, with the
# pairing time alone; --coupling-quality: each coupling trained with one budget, then quality against solver steps and
# path straightness. Couplings not registered in the build are named and skipped. --ot-solver: exact OT time per
# pairing against batch size, cold and warm.
# --mpi: data-parallel training on this machine: si train and si sample as 1 process x all cores against several ranks
# under MPICH's mpiexec (child processes of si.dll, built with the benchmark), the training step's all-reduce timed from
# inside (MLP 4x256, small U-Net), the all-reduce's latency and bandwidth over localhost, and a labelled projection to
# 2, 8 and 64 processes. SI_BENCH_MPI_SCALE=0.05 cuts every step count for a smoke test.
# --manifolds: data on the sphere and the torus (docs/guides/manifolds.md): vmf-mixture (S^2) and von-mises-mixture (T^2)
# trained and scored against their entropy, the Ramachandran set against a von Mises product fitted to its training residues;
# samples checked to lie on the manifold; training, sampling and likelihood times.
# --words: English words (Debian's wamerican) on the discrete mixture path (docs/guides/sequences.md): MLP and transformer
# posteriors, masked and uniform sources, a longer run and a length-conditional model with guidance, each scored by its
# likelihood bound in bits per character and its generated words (valid, novel and valid, copied) beside a character 5-gram.
# --onnx: sampling speed of an exported model (si export) in ONNX Runtime through StochasticInterpolants.Onnx against
# si sample's sampler on the same checkpoint, count, solver, steps and threads, alternated (checkerboard MLP 10,000 points
# RK4 50; digits small U-Net 100 digits Heun 10 at guidance 2), with the exported file's size.
# --flow-map: issue 24's few-step targets. Per part (gmm: the 8gaussians mixture against its exact flow map; checkerboard;
# table: breast cancer split as --tables splits it; digits: class-conditional, guidance 2) a flow map and a plain velocity
# model are trained on the same wall-clock (s/step of each measured first; the plain model gets the flow map's steps x the
# ratio), then scored on the same noise at 1, 2, 4, 8 jumps beside Euler at the same N, RK4 100 (digits: RK4 20 = 80 NFE)
# and the metric's noise floor, each target printed as met or missed. --steps N: the digits part's flow-map training steps
# (default 4000, si train's image default: tens of minutes on 2 cores); --map-objective lsd|psd replaces the flow map's
# default objective. With --quick every budget is cut to seconds.
# --tables first fetches scikit-learn's tables (scripts/datasets.sh sklearn) and hands their folder to the benchmark
# in SI_BENCH_TABLES; so does --flow-map when its parts include table (the default).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$here/scripts/setup.sh" "$here/bench/StochasticInterpolants.Benchmarks/StochasticInterpolants.Benchmarks.csproj"
# The default run compares with PyTorch: Debian's python3-torch (its BLAS: OpenBLAS, OpenMP build). Installed here
# as root when missing; without it the benchmark prints our side and says why the other is missing.
case " $* " in
  *" --tables "*) SI_BENCH_TABLES="$("$here/scripts/datasets.sh" sklearn)"; export SI_BENCH_TABLES ;;
  *" --flow-map "*)
    # The table part needs the tables: fetched unless --parts leaves it out.
    parts=table
    if [[ " $* " =~ \ --parts\ ([^ ]+) ]]; then parts="${BASH_REMATCH[1]}"; fi
    if [[ ",$parts," == *",table,"* ]]; then SI_BENCH_TABLES="$("$here/scripts/datasets.sh" sklearn)"; export SI_BENCH_TABLES; fi ;;
  *" --sde-table "*|*" --nll-curve "*|*" --memory "*|*" --fuzz "*|*" --coupling-speed "*|*" --coupling-quality "*|*" --ot-solver "*|*" --mpi "*|*" --onnx "*|*" --manifolds "*|*" --words "*) ;;
  *)
    if ! /usr/bin/python3 -c "import torch" >/dev/null 2>&1; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "[bench] installing Debian's python3-torch and libopenblas0-openmp for the PyTorch comparison" >&2
        (apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-torch python3-numpy libopenblas0-openmp >/dev/null) \
          || echo "[bench] warning: could not install python3-torch; the PyTorch column will be empty" >&2
      else
        echo "[bench] warning: python3-torch is missing and this is not root; the PyTorch column will be empty" >&2
      fi
    fi ;;
esac
tc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
if [ -e "$tc" ] && [[ "${LD_PRELOAD:-}" != *tcmalloc* ]]; then export LD_PRELOAD="$tc${LD_PRELOAD:+:$LD_PRELOAD}"; fi
# A 16 MiB young-generation budget for .NET's GC (unless set already): TorchSharp's tensors are small managed objects in
# front of native memory, and with the default budget (sized from the CPU cache) a U-Net run's resident memory climbed
# ~140 MiB over its first few thousand steps before levelling off; with 16 MiB it is flat from the start. The GC reads
# this knob only from the environment (a runtimeconfig.json entry was measured to have no effect).
export DOTNET_GCgen0size="${DOTNET_GCgen0size:-0x1000000}"
exec dotnet "$here/bench/StochasticInterpolants.Benchmarks/bin/Release/net10.0/linux-x64/StochasticInterpolants.Benchmarks.dll" "$@"
