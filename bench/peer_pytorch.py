#!/usr/bin/python3
"""PyTorch eager on the CPU: the peer of sdeflow's fusion benchmark (bench/fusion.ts spawns it).

Reads a JSON list of tasks on stdin ({"id", "kind", sizes…, "warmup", "reps", "budget_ms"}), runs each
in plain eager PyTorch with as many threads as there are cores, and prints one JSON object on stdout:
{"available": true, "torch": …, "threads": …, "blas": …, "results": {id: {"ms": median, "reps": n}}}.
Without torch it prints {"available": false, "reason": …} and exits 0: the peer is optional.

Every task mirrors the sdeflow program of the same id (bench/workloads.ts) op for op, at the same sizes.
"""
import json
import math
import os
import statistics
import sys
import time


def main() -> None:
    tasks = json.load(sys.stdin)
    try:
        import torch  # noqa: F401
    except ImportError:
        print(json.dumps({"available": False, "reason": "python3-torch not installed"}))
        return
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    results = {}
    for task in tasks:
        try:
            step = build(task)
            results[task["id"]] = timed(step, task["warmup"], task["reps"], task["budget_ms"])
        except Exception as e:  # report, keep going: one broken task must not hide the others
            results[task["id"]] = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps({"available": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas(), "results": results}))


def blas() -> str:
    """Which BLAS serves sgemm (Debian's reference BLAS is ~50× slower than OpenBLAS)."""
    for path in ("/etc/alternatives/libblas.so.3-x86_64-linux-gnu", "/etc/alternatives/libblas.so.3-aarch64-linux-gnu"):
        if os.path.exists(path):
            return os.path.realpath(path)
    return "unknown"


def timed(step, warmup: int, reps: int, budget_ms: float) -> dict:
    """Median wall time of step() after warm-up; stops early past the budget (never below 3 runs)."""
    for _ in range(warmup):
        step()
    samples = []
    began = time.perf_counter()
    while len(samples) < reps and (len(samples) < 3 or (time.perf_counter() - began) * 1e3 < budget_ms):
        start = time.perf_counter()
        step()
        samples.append((time.perf_counter() - start) * 1e3)
    return {"ms": statistics.median(samples), "reps": len(samples)}


# ---- the VP SDE: β(t) = 0.1 + 19.9 t, as dsl/library/vp.ts ----
BETA_MIN, BETA_MAX = 0.1, 20.0


def vp_beta(t):
    return BETA_MIN + (BETA_MAX - BETA_MIN) * t


def vp_integral(t):
    return BETA_MIN * t + 0.5 * (BETA_MAX - BETA_MIN) * t * t


def vp_mean_weight(t):
    import torch
    return torch.exp(-0.5 * vp_integral(t))


def vp_std(t):
    import torch
    return torch.sqrt(-torch.expm1(-vp_integral(t)))


def swissroll(n: int):
    """src/data/toy.ts: the 2-D swiss roll / 5 with noise 0.1."""
    import torch
    angle = (torch.rand(n) * 2 + 1) * (1.5 * math.pi)
    points = torch.stack([angle * torch.cos(angle), angle * torch.sin(angle)], 1)
    return points * 0.2 + torch.randn(n, 2) * 0.1


def toy_mlp(hidden: int):
    """src/nn/mlp.ts: concat(x, t) → 3 → h → h → h → 2 with SiLU."""
    import torch
    return torch.nn.Sequential(
        torch.nn.Linear(3, hidden), torch.nn.SiLU(),
        torch.nn.Linear(hidden, hidden), torch.nn.SiLU(),
        torch.nn.Linear(hidden, hidden), torch.nn.SiLU(),
        torch.nn.Linear(hidden, 2),
    )


def build(task: dict):
    """A zero-argument function doing one run of the task's work."""
    import torch
    kind = task["kind"]
    if kind == "em":
        x = torch.randn(task["states"])
        t, dt = torch.tensor(0.5), torch.tensor(0.001)

        def em():
            # The README tour's step, op for op: eager materialises every intermediate.
            beta = t * 19.9 + 0.1
            drift = x * (beta * -0.5) - (-x) * beta
            return x - drift * dt + torch.randn_like(x) * torch.sqrt(beta * dt)
        return em
    if kind == "mlp-dsm-train":
        return mlp_dsm_train(task["batch"], task["hidden"])
    if kind == "mlp-elbo":
        return mlp_elbo(task["batch"], task["hidden"])
    if kind == "unet-train":
        return unet_train(task["batch"], task["ch"])
    if kind == "matmul":
        a, b = torch.randn(task["n"], task["n"]), torch.randn(task["n"], task["n"])
        return lambda: a @ b
    if kind == "conv":
        n, c, s = task["batch"], task["channels"], task["size"]
        x, w, bias = torch.randn(n, c, s, s), torch.randn(c, c, 3, 3), torch.randn(c)
        return lambda: torch.nn.functional.conv2d(x, w, bias, padding=1)
    raise ValueError(f"unknown task kind {kind!r}")


def mlp_dsm_train(batch: int, hidden: int):
    """src/train/programs.ts trainStep: DSM (uniform t, a-parameterisation) → clip 1 → Adam → EMA 0.999."""
    import torch
    net = toy_mlp(hidden)
    ema = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    eps = 1e-5

    def step():
        x0 = swissroll(batch)
        t = torch.rand(batch) * (1 - eps) + eps
        z = torch.randn(batch, 2)
        std = vp_std(t)[:, None]
        xt = vp_mean_weight(t)[:, None] * x0 + std * z
        a = net(torch.cat([xt, t[:, None]], 1))
        g = torch.sqrt(vp_beta(t))[:, None]
        loss = ((a * std / g + z) ** 2).sum(1).mul(0.5).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema, net.parameters()):
                e.mul_(0.999).add_(p, alpha=0.001)
        return loss
    return step


def mlp_elbo(batch: int, hidden: int):
    """dsl/objectives.ts elbo: plug-in reverse SDE, Hutchinson ∇·a with one Rademacher probe, mean over the batch."""
    import torch
    net = toy_mlp(hidden)
    for p in net.parameters():
        p.requires_grad_(False)
    eps_t = 1e-5
    prior_var = math.exp(-vp_integral(1.0)) + -math.expm1(-vp_integral(1.0))

    def step():
        x = swissroll(batch)
        t = torch.rand(batch) * (1 - eps_t) + eps_t
        y = (vp_mean_weight(t)[:, None] * x + vp_std(t)[:, None] * torch.randn(batch, 2)).requires_grad_(True)
        a = net(torch.cat([y, t[:, None]], 1))
        probe = torch.randint(0, 2, (batch, 2)).float() * 2 - 1
        (jt_probe,) = torch.autograd.grad(a, y, probe)
        g = torch.sqrt(vp_beta(t))
        divergence = (jt_probe * probe).sum(1) * g - (-0.5 * vp_beta(t)) * 2
        kinetic = 0.5 * (a.detach() ** 2).sum(1)
        y_end = vp_mean_weight(torch.ones(batch))[:, None] * x + vp_std(torch.ones(batch))[:, None] * torch.randn(batch, 2)
        prior = -0.5 * (y_end ** 2).sum(1) / prior_var - math.log(2 * math.pi * prior_var)
        return (prior - (divergence + kinetic) * (1 - eps_t)).mean()
    return step


def unet_train(batch: int, ch: int):
    """src/nn/unet.ts at ch_mult [1, 2], 1 res block, attention at 16: loss mean((net(x, t) − x)²), backward."""
    import torch
    from peer_unet import UNet  # a sibling file: one network per file, as in src/nn
    net = UNet(ch)
    x = torch.randn(batch, 3, 32, 32)
    t = torch.rand(batch)

    def step():
        for p in net.parameters():
            p.grad = None
        loss = ((net(x, t) - x) ** 2).mean()
        loss.backward()
        return loss
    return step


if __name__ == "__main__":
    sys.dont_write_bytecode = True  # no __pycache__ left in the checkout
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
