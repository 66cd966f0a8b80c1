#!/usr/bin/env python3
"""The PyTorch side of `scripts/bench.sh`: the same training step, samplers and likelihood as the C# benchmark,
written the way a PyTorch user would, on the same weights. Prints one JSON object (last line of stdout).

Run by the C# benchmark (bench/StochasticInterpolants.Benchmarks, the default mode) once per phase, right after the
C# side measured the same phase, with the weights file, the shapes and the repeat counts; it prints both sides with
their ratio. Needs Debian's python3-torch (and numpy)."""
import argparse, json, math, os, statistics, struct, sys, time

import numpy as np
import torch


def peak_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(body[a:b], dtype="<f4").copy()).reshape(e["shape"])
    return out


class Mlp(torch.nn.Module):
    """b(t, x) = MLP([x, t, sin(pi k t), cos(pi k t)]), k = 1..K, SiLU: the C# MlpNetwork."""

    def __init__(self, dim, width, depth, freqs):
        super().__init__()
        layers, fan_in = [], dim + 1 + 2 * freqs
        for _ in range(depth):
            layers += [torch.nn.Linear(fan_in, width), torch.nn.SiLU()]
            fan_in = width
        layers.append(torch.nn.Linear(fan_in, dim))
        self.layers = torch.nn.Sequential(*layers)
        self.register_buffer("frequencies", torch.arange(1, freqs + 1, dtype=torch.float32) * math.pi, persistent=False)

    def forward(self, x, t):
        t = t.reshape(-1, 1).to(x.dtype)
        angles = t * self.frequencies.unsqueeze(0)
        return self.layers(torch.cat([x, t, angles.sin(), angles.cos()], 1))

    def load_si_weights(self, weights):
        # C# names: linear{i}.weight / out.weight; here the Sequential indexes 0, 2, 4, ... and the last.
        linears = [m for m in self.layers if isinstance(m, torch.nn.Linear)]
        names = [f"linear{i}" for i in range(len(linears) - 1)] + ["out"]
        with torch.no_grad():
            for m, n in zip(linears, names):
                m.weight.copy_(weights[f"_layers.{n}.weight"] if f"_layers.{n}.weight" in weights else weights[f"{n}.weight"])
                m.bias.copy_(weights[f"_layers.{n}.bias"] if f"_layers.{n}.bias" in weights else weights[f"{n}.bias"])


def checkerboard(n, g):
    x1 = torch.rand(n, generator=g) * 4 - 2
    x2 = torch.rand(n, generator=g) - torch.randint(0, 2, (n,), generator=g).float() * 2
    x2 = x2 + torch.remainder(torch.floor(x1), 2)
    return torch.stack([x1, x2], 1) * 2


def median_rate(work, units, repeats):
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        rates.append(units / (time.perf_counter() - start))
    return statistics.median(rates)


def bench_matmul(batch, width, repeats):
    a, w, b = torch.randn(batch, width), torch.randn(width, width), torch.randn(width)
    reps = max(1, int(2e9 / (2 * batch * width * width)))
    def work():
        for _ in range(reps):
            torch.nn.functional.linear(a, w, b)
    work()
    return median_rate(work, reps * 2.0 * batch * width * width, repeats) / 1e9


def bench_train(net, batch, steps, warmup, repeats, lr=2e-3, clip=1.0, ema_decay=0.999):
    params = list(net.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    ema = [p.detach().clone() for p in params]
    g = torch.Generator().manual_seed(0)
    k = [0]

    def step():
        x0 = torch.randn(batch, 2, generator=g)
        x1 = checkerboard(batch, g)
        z = torch.randn(batch, 2, generator=g)  # drawn as in the C# step (gamma = 0 for the linear interpolant)
        t = torch.rand(batch, generator=g)
        tc = t.unsqueeze(1)
        xt = (1 - tc) * x0 + tc * x1 + 0.0 * z
        target = x1 - x0
        opt.zero_grad(set_to_none=True)
        loss = (net(xt, t) - target).square().sum(1).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        d = min(ema_decay, (1.0 + k[0]) / (10.0 + k[0]))
        with torch.no_grad():
            for e, p in zip(ema, params):
                e.mul_(d).add_(p, alpha=1 - d)
        k[0] += 1
        return loss.item()

    for _ in range(warmup):
        step()
    reset_peak()
    rate = median_rate(lambda: [step() for _ in range(steps)], steps, repeats)
    return rate, peak_mib()


@torch.inference_mode()
def euler(net, x, steps):
    h = 1.0 / steps
    for i in range(steps):
        t = torch.full((x.shape[0],), i * h)
        x = x + h * net(x, t)
    return x


# Dormand-Prince 5(4) with the C# solver's step control (same tableau, RMS error norm, initial step, 0.9 err^-1/5 in [0.2, 10]).
C = [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1]
A = [[], [1 / 5], [3 / 40, 9 / 40], [44 / 45, -56 / 15, 32 / 9], [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
     [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656], [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]]
E = [71 / 57600, 0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40]


@torch.inference_mode()
def dopri5(net, y, rtol, atol):
    f = lambda t, x: net(x, torch.full((x.shape[0],), t))
    t, t_end = 0.0, 1.0
    k1 = f(t, y)
    nfe = 1
    scale = atol + rtol * y.abs()
    d0 = (y / scale).square().mean().sqrt().item()
    d1 = (k1 / scale).square().mean().sqrt().item()
    h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
    h0 = min(h0, 1.0)
    f1 = f(min(max(t + h0, 0), 1), y + h0 * k1)
    nfe += 1
    d2 = ((f1 - k1) / scale).square().mean().sqrt().item() / h0
    h1 = max(1e-6, h0 * 1e-3) if max(d1, d2) <= 1e-15 else (0.01 / max(d1, d2)) ** 0.2
    h = min(100 * h0, h1)
    while t < t_end:
        landing = h >= t_end - t
        step = t_end - t if landing else h
        k = [k1]
        for s in range(1, 6):
            acc = y
            for j in range(s):
                if A[s][j] != 0:
                    acc = acc + (step * A[s][j]) * k[j]
            k.append(f(t + C[s] * step, acc))
        y5 = y
        for j in range(6):
            if A[6][j] != 0:
                y5 = y5 + (step * A[6][j]) * k[j]
        k.append(f(t + step, y5))
        nfe += 6
        err_vec = torch.zeros_like(y)
        for j in range(7):
            if E[j] != 0:
                err_vec = err_vec + (step * E[j]) * k[j]
        scale = atol + rtol * torch.maximum(y.abs(), y5.abs())
        err = (err_vec / scale).square().mean().sqrt().item()
        if err <= 1:
            t = t_end if landing else t + step
            y, k1 = y5, k[6]
            grow = 10 if err == 0 else min(max(0.9 * err ** -0.2, 0.2), 10)
            h = h if landing and step < h else step * grow
        else:
            h = step * min(max(0.9 * err ** -0.2, 0.2), 1)
    return y, nfe


def log_density(net, x, steps):
    """log rho1(x): RK4 from t = 1 to 0 on [x, int div b], exact divergence (d autograd passes), as FlowLikelihood."""
    d = x.shape[1]

    def field(t, state):
        with torch.enable_grad():
            xg = state[:, :d].detach().requires_grad_(True)
            b = net(xg, torch.full((xg.shape[0],), t))
            div = torch.zeros(xg.shape[0])
            for i in range(d):
                gi = torch.autograd.grad(b[:, i].sum(), xg, retain_graph=True)[0]
                div = div + gi[:, i]
        return torch.cat([b.detach(), div.detach().unsqueeze(1)], 1)

    state = torch.cat([x, torch.zeros(x.shape[0], 1)], 1)
    h = -1.0 / steps
    t = 1.0
    with torch.no_grad():
        for i in range(steps):
            k1 = field(t, state)
            k2 = field(t + h / 2, state + (h / 2) * k1)
            k3 = field(t + h / 2, state + (h / 2) * k2)
            k4 = field(t + h, state + h * k3)
            state = state + (h / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
            t = 1.0 + (i + 1) * h
    x0 = state[:, :d]
    return -0.5 * (x0.square().sum(1)) - 0.5 * d * math.log(2 * math.pi) + state[:, d]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--weights", required=True)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--freqs", type=int, default=8)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--phase", required=True, help="train:B, sample:N or nll")
    p.add_argument("--train-steps", type=int, default=300)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--sample-points", type=int, default=8192)
    p.add_argument("--nll-points", type=int, default=2000)
    p.add_argument("--dopri-tol", type=float, default=1e-4)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    weights = load_safetensors(a.weights)
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_info()}
    net = Mlp(2, a.width, a.depth, a.freqs)
    g = torch.Generator().manual_seed(1)
    kind, _, size = a.phase.partition(":")
    if kind == "train":
        b, s = int(size), a.train_steps
        result[f"matmul_gflops_{b}"] = bench_matmul(b, a.width, a.repeats)
        net.load_si_weights(weights)
        rate, peak = bench_train(net, b, s, warmup=max(5, s // 10), repeats=a.repeats)
        result[f"train_steps_per_s_{b}"] = rate
        result[f"train_peak_mib_{b}"] = peak
    elif kind == "sample":
        n = int(size)
        net.load_si_weights(weights)
        net.eval()
        x = torch.randn(n, 2, generator=g)
        euler(net, x, 5)
        reps = max(1, a.sample_points // n)  # several batches per timing so small batches are timed over similar work
        reset_peak()
        result[f"euler100_points_per_s_{n}"] = median_rate(lambda: [euler(net, x, 100) for _ in range(reps)], reps * n, a.repeats)
        result[f"euler100_peak_mib_{n}"] = peak_mib()
        reset_peak()
        nfe = [0]
        def run_dopri():
            for _ in range(reps):
                nfe[0] = dopri5(net, x, a.dopri_tol, a.dopri_tol)[1]
        result[f"dopri5_points_per_s_{n}"] = median_rate(run_dopri, reps * n, a.repeats)
        result[f"dopri5_nfe_{n}"] = nfe[0]
        result[f"dopri5_peak_mib_{n}"] = peak_mib()
    elif kind == "nll":
        net.load_si_weights(weights)
        net.eval()
        xn = checkerboard(a.nll_points, g)
        log_density(net, xn[:50], 5)
        reset_peak()
        result["nll_points_per_s"] = median_rate(lambda: log_density(net, xn, 100), a.nll_points, max(1, a.repeats // 2))
        result["nll_peak_mib"] = peak_mib()
    else:
        sys.exit(f"unknown --phase {a.phase} (expected train:B, sample:N, nll)")
    print(json.dumps(result))


def blas_info():
    cfg = torch.__config__.show()
    for key in ("BLAS_INFO=", "USE_MKL"):
        for part in cfg.replace("\n", ",").split(","):
            if part.strip().startswith(key):
                return part.strip()
    return "unknown"


if __name__ == "__main__":
    main()
