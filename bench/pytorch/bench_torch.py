#!/usr/bin/env python3
"""The PyTorch side of `scripts/bench.sh`: the same training step, samplers and likelihood as the C# benchmark,
written the way a PyTorch user would, on the same weights. Needs Debian's python3-torch (and numpy). Two modes:

One-shot (`--phase train:B | sample:N | nll` with `--weights`, the shapes and the repeat counts): run by the C#
benchmark (bench/StochasticInterpolants.Benchmarks, the default mode) once per phase, right after the C# side measured
the same phase; prints one JSON object (last line of stdout), which the C# side prints beside its own with the ratio.
Its training loss is the squared error summed over the 2 coordinates, averaged over rows.

Persistent worker (`--serve`, no other option needed): one long-lived process the C# benchmark drives in many short
rounds alternating with its own step. Newline-delimited JSON: one command object per stdin line, one reply object per
stdout line (flushed); nothing else is written to stdout (logs go to stderr). Blank lines are ignored; end of input
exits 0. A command that fails replies {"error": "message"} and the worker keeps serving.
  {"op":"setup","weights":PATH,"width":256,"depth":4,"freqs":8,"threads":2}
      loads the weights (width/depth/freqs/threads default as the one-shot options), sets torch.set_num_threads and
      forgets any earlier training state; -> {"ok":true,"torch":VERSION,"threads":N,"blas":INFO}
  {"op":"train","batch":B,"steps":K}
      K full training steps (draw x0 ~ N(0,I), checkerboard x1, z, t ~ U(0,1); linear interpolant; forward; loss
      (net(xt,t) - target)^2 averaged per element (.mean(1).mean(), as the C# library); backward; clip_grad_norm_ 1.0;
      Adam lr 2e-3; EMA). State is kept per batch size: the first use of B deep-copies the set-up network and creates
      its Adam, EMA and generator (seed 0), then runs 5 untimed warm-up steps; later calls continue it.
      -> {"seconds": wall time of the K steps, "loss": last step's loss}
  {"op":"matmul","batch":B,"width":W,"reps":R}
      R calls of torch.nn.functional.linear(a [B,W], w [W,W], bias [W]) (tensors made once per (B, W), one untimed
      warm-up call then); -> {"seconds": wall time of the R calls}
  {"op":"profile","batch":B,"repeats":N}
      one training step at batch B taken apart, on a copy of the `train` state for B (created, with its warm-up, if
      needed; the copy keeps profiling from moving that state): each piece run 3 times untimed then N times timed;
      -> {"ms": {piece: median milliseconds}} with pieces data, interpolant, features, linear{i}.forward,
      linear{i}.backward (i = 0..depth, the last the output layer; backward alone, on a fixed upstream gradient),
      silu.forward, silu.backward (one [B, width] activation), loss, forward, backward (loss.backward() after a fresh
      forward), clip, adam, ema, zero_grad, step (the whole training step as in `train`).
  {"op":"quit"}  -> {"ok":true}, then exit 0."""
import argparse, copy, json, math, os, statistics, struct, sys, time

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

    def features(self, x, t):
        t = t.reshape(-1, 1).to(x.dtype)
        angles = t * self.frequencies.unsqueeze(0)
        return torch.cat([x, t, angles.sin(), angles.cos()], 1)

    def forward(self, x, t):
        return self.layers(self.features(x, t))

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


class Trainer:
    """The training step of the C# library on one network: data draw, linear interpolant, loss, backward, gradient
    clipping, Adam, EMA. per_element: loss averaged over coordinates and rows (the C# library's); else summed over
    the coordinates and averaged over rows (the one-shot mode's)."""

    def __init__(self, net, batch, per_element, lr=2e-3, clip=1.0, ema_decay=0.999, seed=0):
        self.net, self.batch, self.per_element, self.clip, self.ema_decay = net, batch, per_element, clip, ema_decay
        self.params = list(net.parameters())
        self.opt = torch.optim.Adam(self.params, lr=lr)
        self.ema = [p.detach().clone() for p in self.params]
        self.g = torch.Generator().manual_seed(seed)
        self.k = 0

    def draw(self):
        x0 = torch.randn(self.batch, 2, generator=self.g)
        x1 = checkerboard(self.batch, self.g)
        z = torch.randn(self.batch, 2, generator=self.g)  # drawn as in the C# step (gamma = 0 for the linear interpolant)
        t = torch.rand(self.batch, generator=self.g)
        return x0, x1, z, t

    @staticmethod
    def interpolant(x0, x1, z, t):
        tc = t.unsqueeze(1)
        return (1 - tc) * x0 + tc * x1 + 0.0 * z, x1 - x0

    def loss(self, out, target):
        sq = (out - target).square()
        return sq.mean(1).mean() if self.per_element else sq.sum(1).mean()

    def ema_update(self):
        d = min(self.ema_decay, (1.0 + self.k) / (10.0 + self.k))
        with torch.no_grad():
            for e, p in zip(self.ema, self.params):
                e.mul_(d).add_(p, alpha=1 - d)

    def step(self):
        x0, x1, z, t = self.draw()
        xt, target = self.interpolant(x0, x1, z, t)
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(self.net(xt, t), target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        self.opt.step()
        self.ema_update()
        self.k += 1
        return loss.item()

    def clone(self):
        """An independent copy: network, Adam state, EMA, generator state and step count."""
        other = Trainer(copy.deepcopy(self.net), self.batch, self.per_element, clip=self.clip, ema_decay=self.ema_decay)
        other.opt.load_state_dict(self.opt.state_dict())  # deep-copies the moments; lr comes from the state dict
        other.ema = [e.clone() for e in self.ema]
        other.g.set_state(self.g.get_state())
        other.k = self.k
        return other


def bench_train(net, batch, steps, warmup, repeats, lr=2e-3, clip=1.0, ema_decay=0.999):
    trainer = Trainer(net, batch, per_element=False, lr=lr, clip=clip, ema_decay=ema_decay)
    for _ in range(warmup):
        trainer.step()
    reset_peak()
    rate = median_rate(lambda: [trainer.step() for _ in range(steps)], steps, repeats)
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


class ServeError(Exception):
    """A bad command: its message is the error reply."""


def _int_arg(cmd, key, default=None, minimum=1):
    v = cmd.get(key, default)
    if v is None:
        raise ServeError(f"missing \"{key}\"")
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise ServeError(f"\"{key}\" must be an integer >= {minimum}, got {json.dumps(v)}")
    return v


def _median_ms(work, repeats, warmup=3, before=None):
    """Median milliseconds of work() over `repeats` timed runs after `warmup` untimed ones; before() (untimed) precedes each."""
    times = []
    for i in range(warmup + repeats):
        if before is not None:
            before()
        start = time.perf_counter()
        work()
        elapsed = time.perf_counter() - start
        if i >= warmup:
            times.append(elapsed)
    return statistics.median(times) * 1e3


def _finite_or_none(v):
    return v if math.isfinite(v) else None


class Worker:
    """The --serve mode's state: the set-up network, one Trainer per batch size, matmul operands per (batch, width)."""

    WARMUP_STEPS = 5

    def __init__(self):
        self.net = None
        self.trainers = {}
        self.matmul_operands = {}

    def handle(self, cmd):
        if not isinstance(cmd, dict):
            raise ServeError("a command must be a JSON object")
        op = cmd.get("op")
        handler = {"setup": self.setup, "train": self.train, "matmul": self.matmul, "profile": self.profile}.get(op)
        if handler is None:
            raise ServeError(f"unknown op {json.dumps(op)} (expected setup, train, matmul, profile or quit)")
        if op != "setup" and op != "matmul" and self.net is None:
            raise ServeError(f"\"{op}\" before \"setup\"")
        return handler(cmd)

    def setup(self, cmd):
        weights = cmd.get("weights")
        if not isinstance(weights, str) or not weights:
            raise ServeError("\"weights\" must be a path")
        width, depth = _int_arg(cmd, "width", 256), _int_arg(cmd, "depth", 4, minimum=0)
        freqs, threads = _int_arg(cmd, "freqs", 8, minimum=0), _int_arg(cmd, "threads", os.cpu_count())
        net = Mlp(2, width, depth, freqs)
        net.load_si_weights(load_safetensors(weights))
        torch.set_num_threads(threads)
        self.net, self.trainers, self.matmul_operands = net, {}, {}
        log(f"setup: {weights}, width {width}, depth {depth}, freqs {freqs}, threads {torch.get_num_threads()}")
        return {"ok": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_info()}

    def trainer(self, batch):
        trainer = self.trainers.get(batch)
        if trainer is None:
            trainer = Trainer(copy.deepcopy(self.net), batch, per_element=True)
            for _ in range(self.WARMUP_STEPS):
                trainer.step()
            self.trainers[batch] = trainer
            log(f"train state for batch {batch} created ({self.WARMUP_STEPS} warm-up steps)")
        return trainer

    def train(self, cmd):
        batch, steps = _int_arg(cmd, "batch"), _int_arg(cmd, "steps")
        trainer = self.trainer(batch)
        loss = float("nan")
        start = time.perf_counter()
        for _ in range(steps):
            loss = trainer.step()
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "loss": _finite_or_none(loss)}

    def matmul(self, cmd):
        batch, width, reps = _int_arg(cmd, "batch"), _int_arg(cmd, "width"), _int_arg(cmd, "reps")
        operands = self.matmul_operands.get((batch, width))
        if operands is None:
            operands = torch.randn(batch, width), torch.randn(width, width), torch.randn(width)
            torch.nn.functional.linear(*operands)
            self.matmul_operands[(batch, width)] = operands
        a, w, b = operands
        start = time.perf_counter()
        for _ in range(reps):
            torch.nn.functional.linear(a, w, b)
        return {"seconds": time.perf_counter() - start}

    def profile(self, cmd):
        batch, repeats = _int_arg(cmd, "batch"), _int_arg(cmd, "repeats")
        tr = self.trainer(batch).clone()  # profiling runs Adam and whole steps: keep them off the `train` state
        net, params, ms = tr.net, tr.params, {}
        time_it = lambda work, before=None: _median_ms(work, repeats, before=before)

        ms["data"] = time_it(tr.draw)
        x0, x1, z, t = tr.draw()
        ms["interpolant"] = time_it(lambda: tr.interpolant(x0, x1, z, t))
        xt, target = tr.interpolant(x0, x1, z, t)
        ms["features"] = time_it(lambda: net.features(xt, t))

        # The input of every layer in one forward pass, saved for the per-layer timings.
        linears = [m for m in net.layers if isinstance(m, torch.nn.Linear)]
        inputs = []
        with torch.no_grad():
            h = net.features(xt, t)
            for m in net.layers:
                if isinstance(m, torch.nn.Linear):
                    inputs.append(h)
                h = m(h)

        def clear_grads(*tensors):
            def clear():
                for x in tensors:
                    x.grad = None
            return clear

        def layer_pieces(name, module, saved, input_grad):
            # forward as in the training step (autograd recording); the first layer's input (the features of the data)
            # needs no gradient there, so its backward computes only the weight and bias gradients, as in the step.
            x = saved.detach().requires_grad_(input_grad)
            ms[f"{name}.forward"] = time_it(lambda: module(x))
            out = module(x)
            grad_out = torch.randn_like(out)
            ms[f"{name}.backward"] = time_it(lambda: torch.autograd.backward(out, grad_out, retain_graph=True),
                                             before=clear_grads(x, *module.parameters()))

        for i, lin in enumerate(linears):
            layer_pieces(f"linear{i}", lin, inputs[i], input_grad=i > 0)
        silus = [m for m in net.layers if isinstance(m, torch.nn.SiLU)]
        if silus:
            with torch.no_grad():
                pre = linears[0](inputs[0])  # a [batch, width] pre-activation
            layer_pieces("silu", silus[0], pre, input_grad=True)

        out = net(xt, t).detach().requires_grad_(True)
        ms["loss"] = time_it(lambda: tr.loss(out, target))
        ms["forward"] = time_it(lambda: net(xt, t))

        loss_box = [None]
        def fresh_forward():
            tr.opt.zero_grad(set_to_none=True)
            loss_box[0] = tr.loss(net(xt, t), target)
        ms["backward"] = time_it(lambda: loss_box[0].backward(), before=fresh_forward)
        # The gradients of the last backward stay populated for clip and adam (clip rescales them in place, as in a step).
        ms["clip"] = time_it(lambda: torch.nn.utils.clip_grad_norm_(params, tr.clip))
        ms["adam"] = time_it(tr.opt.step)
        ms["ema"] = time_it(tr.ema_update)
        grads = [p.grad.clone() for p in params]
        def repopulate():
            for p, g in zip(params, grads):
                p.grad = g.clone()
        ms["zero_grad"] = time_it(lambda: tr.opt.zero_grad(set_to_none=True), before=repopulate)
        ms["step"] = time_it(tr.step)
        return {"ms": ms}


def log(message):
    print(f"bench_torch --serve: {message}", file=sys.stderr, flush=True)


def serve():
    # Replies go to the original stdout; everything else written to fd 1 (Python prints, native libraries) goes to stderr.
    sys.stdout.flush()
    reply_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    worker = Worker()

    def reply(obj):
        reply_out.write(json.dumps(obj, allow_nan=False) + "\n")
        reply_out.flush()

    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            cmd = json.loads(line)
        except ValueError as e:
            reply({"error": f"bad JSON: {e}"})
            continue
        if isinstance(cmd, dict) and cmd.get("op") == "quit":
            reply({"ok": True})
            break
        try:
            reply(worker.handle(cmd))
        except ServeError as e:
            reply({"error": str(e)})
        except Exception as e:  # a failing command (bad path, bad weights, out of memory, ...) must not end the worker
            log(f"{type(e).__name__} on {line.strip()}")
            reply({"error": f"{type(e).__name__}: {e}"})
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--serve", action="store_true", help="persistent worker: JSON commands on stdin (see the module docstring)")
    p.add_argument("--weights")
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--freqs", type=int, default=8)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--phase", help="train:B, sample:N or nll")
    p.add_argument("--train-steps", type=int, default=300)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--sample-points", type=int, default=8192)
    p.add_argument("--nll-points", type=int, default=2000)
    p.add_argument("--dopri-tol", type=float, default=1e-4)
    a = p.parse_args()
    if a.serve:
        sys.exit(serve())
    if a.weights is None or a.phase is None:
        p.error("the following arguments are required: --weights, --phase (or --serve)")
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
    for key in ("BLAS_INFO=", "USE_MKL="):
        for part in cfg.replace("\n", ",").split(","):
            if key in part:  # (the first setting follows "Build settings: " on its line)
                return part[part.index(key):].strip()
    return "unknown"


if __name__ == "__main__":
    main()
