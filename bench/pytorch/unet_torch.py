#!/usr/bin/env python3
"""The PyTorch side of `scripts/bench.sh --unet`: the library's U-Net (src/StochasticInterpolants/Models/UNet.cs) written
in plain PyTorch, loaded with the C# network's initial weights (parameter names map one to one), checked to compute the
same function, then timed on the same training step. Needs Debian's python3-torch (1.13) and numpy; run it with
OPENBLAS_CORETYPE=Haswell (the C# side sets it).

Persistent worker (`--serve`): newline-delimited JSON, one command object per stdin line, one reply object per stdout
line (flushed); nothing else goes to stdout (logs go to stderr). A failing command replies {"error": "message"} and the
worker keeps serving; end of input exits 0.
  {"op":"setup","weights":PATH,"config":{UNetConfig as JSON},"images":PATH,"levels":256,"threads":1}
      builds the network from the config (camelCase fields of UNetConfig), copies every tensor of the safetensors file
      PATH into the parameter of the same name (a missing or extra name, or a shape mismatch, is an error), loads the
      training images (safetensors: "pixels" [N, c, h, w] as float32 values 0..levels-1, "labels" [N]) and sets
      torch.set_num_threads; forgets earlier training state.
      -> {"ok":true,"torch":VERSION,"threads":N,"blas":INFO,"parameters":COUNT}
  {"op":"check","input":PATH}
      PATH (safetensors) holds "x" [n, c, h, w], "t" [n], "labels" [n] (float values; < 0 = no class) and "output", the C#
      network's output on them; -> {"max_abs_diff": max |ours - theirs|, "max_abs": max |theirs|}
  {"op":"train","batch":B,"steps":K}
      K training steps at batch B: draw B images with replacement, dequantise (x1 = 2 (k + u) / L - 1, u ~ U[0,1)),
      x0 ~ N(0, I), z ~ N(0, I) (drawn as the C# step draws it; gamma = 0), t ~ U[0, 1) in float64; linear interpolant
      x_t = (1 - t) x0 + t x1, target x1 - x0; loss = mean squared error over all elements; backward;
      clip_grad_norm_ 1; Adam lr 2e-4; moving average 0.999 (warm-up min(d, (1 + k) / (10 + k)), as the C# library).
      State per batch size: the first use of B copies the set-up network, creates its Adam, average and generator
      (seed 0) and runs 2 untimed warm-up steps. -> {"seconds": wall time of the K steps, "loss": last loss}
  {"op":"split","batch":B,"steps":K}
      K more steps of the `train` state for B, each timed in three parts: forward (data draw, interpolant, network,
      loss), backward, optimiser (clip, Adam, average, zero_grad);
      -> {"forward_ms":…, "backward_ms":…, "optimizer_ms":…} (medians)
  {"op":"quit"}  -> {"ok":true}, then exit 0."""
import copy, json, math, statistics, sys, time

import torch
import torch.nn.functional as F

from bench_torch import blas_info, load_safetensors  # the MLP comparison's worker, beside this file


class ResidualBlock(torch.nn.Module):
    """h = conv1(silu(norm1(x))) + embedding(a) per channel; out = skip(x) + conv2(silu(norm2(h)))."""

    def __init__(self, cin, cout, emb, groups):
        super().__init__()
        self.norm1 = torch.nn.GroupNorm(groups, cin)
        self.conv1 = torch.nn.Conv2d(cin, cout, 3, padding=1)
        self.embedding = torch.nn.Linear(emb, cout)
        self.norm2 = torch.nn.GroupNorm(groups, cout)
        self.conv2 = torch.nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = torch.nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, a):
        h = self.conv1(F.silu(self.norm1(x))) + self.embedding(a)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (x if self.skip is None else self.skip(x))


class SelfAttention(torch.nn.Module):
    """x + projection(softmax(q^T k / sqrt(d)) v) per head, q, k, v from a 1x1 conv of norm(x)."""

    def __init__(self, channels, heads, groups):
        super().__init__()
        self.heads = heads
        self.norm = torch.nn.GroupNorm(groups, channels)
        self.qkv = torch.nn.Conv2d(channels, 3 * channels, 1)
        self.projection = torch.nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        n, c, h, w = x.shape
        d = c // self.heads
        qkv = self.qkv(self.norm(x)).view(n, 3, self.heads, d, h * w)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]
        weights = (q.transpose(2, 3) @ k * (1.0 / math.sqrt(d))).softmax(-1)
        return self.projection((v @ weights.transpose(2, 3)).reshape(n, c, h, w)) + x


class Level(torch.nn.Module):
    def __init__(self, blocks, attentions, resample):
        super().__init__()
        self.blocks = torch.nn.ModuleList(blocks)
        if attentions:
            self.attentions = torch.nn.ModuleList(attentions)
        else:
            self.attentions = None
        if resample is not None:
            self.resample = resample
        else:
            self.resample = None


class UNet(torch.nn.Module):
    """The C# UNet, layer for layer (see its XML documentation for the formulas)."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        c, b, mults, blocks_per_level = cfg["channels"], cfg["baseChannels"], cfg["channelMultipliers"], cfg["blocksPerLevel"]
        g, heads, classes = cfg["groups"], cfg["attentionHeads"], cfg["classes"]
        e, levels = 4 * b, len(mults)
        size = max(cfg["height"], cfg["width"])
        attention = lambda l: cfg["attentionBelow"] > 0 and (size >> l) <= cfg["attentionBelow"]
        self.classes_count = classes
        self.time_in = torch.nn.Linear(b, e)
        self.time_out = torch.nn.Linear(e, e)
        self.classes = torch.nn.Embedding(classes + 1, e) if classes > 0 else None
        self.input = torch.nn.Conv2d(c, b, 3, padding=1)
        skips, ch_in, down = [b], b, []
        for l in range(levels):
            ch = b * mults[l]
            blocks = []
            for _ in range(blocks_per_level):
                blocks.append(ResidualBlock(ch_in, ch, e, g))
                ch_in = ch
                skips.append(ch)
            resample = torch.nn.Conv2d(ch, ch, 3, stride=2, padding=1) if l < levels - 1 else None
            if resample is not None:
                skips.append(ch)
            down.append(Level(blocks, [SelfAttention(ch, heads, g) for _ in blocks] if attention(l) else [], resample))
        self.down = torch.nn.ModuleList(down)
        self.mid1 = ResidualBlock(ch_in, ch_in, e, g)
        self.mid_attention = SelfAttention(ch_in, heads, g) if attention(levels - 1) else None
        self.mid2 = ResidualBlock(ch_in, ch_in, e, g)
        up = [None] * levels
        for l in reversed(range(levels)):
            ch = b * mults[l]
            blocks = []
            for _ in range(blocks_per_level + 1):
                blocks.append(ResidualBlock(ch_in + skips.pop(), ch, e, g))
                ch_in = ch
            up[l] = Level(blocks, [SelfAttention(ch, heads, g) for _ in blocks] if attention(l) else [],
                          torch.nn.Conv2d(ch, ch, 3, padding=1) if l > 0 else None)
        self.up = torch.nn.ModuleList(up)
        self.out_norm = torch.nn.GroupNorm(g, ch_in)
        self.output = torch.nn.Conv2d(ch_in, c, 3, padding=1)
        k = b // 2
        frequencies = (torch.exp(torch.arange(k, dtype=torch.float64) * (-math.log(10000.0) / k)) * 1000.0).float()
        self.register_buffer("feature_scale", torch.cat([frequencies, frequencies]).unsqueeze(0), persistent=False)
        self.register_buffer("feature_phase", torch.cat([torch.zeros(k), torch.full((k,), math.pi / 2)]).unsqueeze(0), persistent=False)

    def forward(self, x, t, labels):
        n = x.shape[0]
        t = t.to(x.dtype).reshape(n, 1) if t.dim() == 1 else t.to(x.dtype).expand(n, 1)
        e = self.time_out(F.silu(self.time_in(torch.sin(t * self.feature_scale + self.feature_phase))))
        if self.classes is not None:
            if labels is None:
                labels = torch.full((n,), self.classes_count, dtype=torch.long)
            else:
                labels = torch.where(labels < 0, torch.full_like(labels, self.classes_count), labels)
            e = e + self.classes(labels)
        a = F.silu(e)
        h = self.input(x)
        skips = [h]
        for level in self.down:
            for i, block in enumerate(level.blocks):
                h = block(h, a)
                if level.attentions is not None:
                    h = level.attentions[i](h)
                skips.append(h)
            if level.resample is not None:
                h = level.resample(h)
                skips.append(h)
        h = self.mid1(h, a)
        if self.mid_attention is not None:
            h = self.mid_attention(h)
        h = self.mid2(h, a)
        for level in reversed(self.up):
            for i, block in enumerate(level.blocks):
                h = block(torch.cat([h, skips.pop()], 1), a)
                if level.attentions is not None:
                    h = level.attentions[i](h)
            if level.resample is not None:
                h = level.resample(F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.output(F.silu(self.out_norm(h)))

    def load_si_weights(self, weights):
        own = dict(self.named_parameters())
        missing, extra = sorted(set(own) - set(weights)), sorted(set(weights) - set(own))
        if missing or extra:
            raise ValueError(f"weights do not map one to one: missing {missing[:3]}, extra {extra[:3]}")
        with torch.no_grad():
            for name, p in own.items():
                if tuple(weights[name].shape) != tuple(p.shape):
                    raise ValueError(f"'{name}' has shape {list(weights[name].shape)}, expected {list(p.shape)}")
                p.copy_(weights[name])


class Trainer:
    """The library's training step on one U-Net (see the module docstring, op train)."""

    def __init__(self, net, pixels, labels, levels, batch, lr=2e-4, clip=1.0, ema_decay=0.999, seed=0):
        self.net, self.pixels, self.labels, self.levels, self.batch = net, pixels, labels, levels, batch
        self.clip, self.ema_decay = clip, ema_decay
        self.params = list(net.parameters())
        self.opt = torch.optim.Adam(self.params, lr=lr)
        self.ema = [p.detach().clone() for p in self.params]
        self.g = torch.Generator().manual_seed(seed)
        self.k = 0

    def forward_loss(self):
        n = self.batch
        index = torch.randint(0, self.pixels.shape[0], (n,), generator=self.g)
        pixels, labels = self.pixels.index_select(0, index), self.labels.index_select(0, index)
        x0 = torch.randn(n, self.pixels[0].numel(), generator=self.g).view(pixels.shape)
        x1 = (pixels + torch.rand(pixels.shape, generator=self.g)) * (2.0 / self.levels) - 1.0
        torch.randn(x1.shape, generator=self.g)  # z, drawn as the C# step draws it (gamma = 0 for the linear interpolant)
        t = torch.rand(n, dtype=torch.float64, generator=self.g)
        tc = t.float().view(n, 1, 1, 1)
        xt = (1 - tc) * x0 + tc * x1
        return F.mse_loss(self.net(xt, t, labels), x1 - x0)

    def optimise(self):
        torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        self.opt.step()
        d = min(self.ema_decay, (1.0 + self.k) / (10.0 + self.k))
        with torch.no_grad():
            torch._foreach_mul_(self.ema, d)
            torch._foreach_add_(self.ema, self.params, alpha=1 - d)
        self.opt.zero_grad(set_to_none=True)
        self.k += 1

    def step(self):
        loss = self.forward_loss()
        loss.backward()
        self.optimise()
        return loss.item()


class Worker:
    def __init__(self):
        self.net = None
        self.trainers = {}

    def setup(self, cmd):
        torch.set_num_threads(int(cmd.get("threads", 1)))
        net = UNet(cmd["config"])
        net.load_si_weights(load_safetensors(cmd["weights"]))
        images = load_safetensors(cmd["images"])
        self.net, self.trainers = net, {}
        self.pixels, self.labels, self.levels = images["pixels"], images["labels"].long(), int(cmd.get("levels", 256))
        return {"ok": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_info(),
                "parameters": sum(p.numel() for p in net.parameters())}

    def check(self, cmd):
        data = load_safetensors(cmd["input"])
        with torch.no_grad():
            out = self.net(data["x"], data["t"], data["labels"].long())
        return {"max_abs_diff": (out - data["output"]).abs().max().item(), "max_abs": out.abs().max().item()}

    def trainer(self, batch):
        if batch not in self.trainers:
            tr = Trainer(copy.deepcopy(self.net), self.pixels, self.labels, self.levels, batch)
            for _ in range(2):
                tr.step()
            self.trainers[batch] = tr
        return self.trainers[batch]

    def train(self, cmd):
        tr = self.trainer(int(cmd["batch"]))
        start = time.perf_counter()
        loss = float("nan")
        for _ in range(int(cmd["steps"])):
            loss = tr.step()
        return {"seconds": time.perf_counter() - start, "loss": loss}

    def split(self, cmd):
        tr = self.trainer(int(cmd["batch"]))
        fwd, bwd, opt = [], [], []
        for _ in range(int(cmd["steps"])):
            a = time.perf_counter()
            loss = tr.forward_loss()
            b = time.perf_counter()
            loss.backward()
            c = time.perf_counter()
            tr.optimise()
            d = time.perf_counter()
            fwd.append(b - a); bwd.append(c - b); opt.append(d - c)
        ms = lambda v: 1000 * statistics.median(v)
        return {"forward_ms": ms(fwd), "backward_ms": ms(bwd), "optimizer_ms": ms(opt)}


def serve():
    worker = Worker()
    ops = {"setup": worker.setup, "check": worker.check, "train": worker.train, "split": worker.split}
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
            if cmd.get("op") == "quit":
                print(json.dumps({"ok": True}), flush=True)
                return
            if cmd.get("op") not in ops:
                raise ValueError(f"unknown op '{cmd.get('op')}'")
            if cmd["op"] != "setup" and worker.net is None:
                raise ValueError("setup first")
            reply = ops[cmd["op"]](cmd)
        except Exception as e:  # noqa: BLE001 - every failure becomes a reply; the worker keeps serving
            reply = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    if sys.argv[1:] != ["--serve"]:
        print("usage: unet_torch.py --serve (driven by scripts/bench.sh --unet)", file=sys.stderr)
        sys.exit(2)
    serve()
