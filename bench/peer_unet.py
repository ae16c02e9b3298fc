"""The DDPM UNet of src/nn/unet.ts in plain PyTorch, for the benchmark peer (bench/peer_pytorch.py).

Same structure as sdeflow's: sinusoidal timestep embedding → dense → SiLU → dense; residual blocks
(GroupNorm(32) → SiLU → conv, + temb projection, GroupNorm → SiLU → conv, 1×1 shortcut when channels
change); self-attention (1×1 q/k/v, softmax(qᵀk/√C), projection) at 16×16; stride-2 conv down, nearest ×2
+ conv up; skip connections concatenated on the way up. Fixed to 32×32×3 input, channel multipliers
[1, 2], one residual block per level — the benchmark's shape, not a general constructor.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F


def timestep_features(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    frequencies = torch.exp(torch.arange(half, dtype=torch.float32) * (-math.log(10000) / (half - 1)))
    angles = t[:, None] * frequencies[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], 1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, temb: int, cout: int):
        super().__init__()
        self.temb_proj = nn.Linear(temb, cout)
        self.norm1 = nn.GroupNorm(32, cin, eps=1e-6)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(32, cout, eps=1e-6)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x))) + self.temb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.shortcut(x) if self.shortcut is not None else x) + h


class Attention(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.q, self.k, self.v, self.proj = (nn.Conv2d(c, c, 1) for _ in range(4))
        self.norm = nn.GroupNorm(32, c, eps=1e-6)

    def forward(self, x):
        n, c, h, w = x.shape
        normed = self.norm(x)
        q, k, v = (f(normed).reshape(n, c, h * w) for f in (self.q, self.k, self.v))
        weights = torch.softmax(torch.bmm(q.transpose(1, 2), k) * c ** -0.5, -1)
        attended = torch.bmm(v, weights.transpose(1, 2)).reshape(n, c, h, w)
        return x + self.proj(attended)


class UNet(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        temb = 4 * ch
        self.ch = ch
        self.temb = nn.Sequential(nn.Linear(ch, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.begin = nn.Conv2d(3, ch, 3, padding=1)
        self.down0 = ResBlock(ch, temb, ch)  # 32×32
        self.downsample = nn.Conv2d(ch, ch, 3, stride=2, padding=1)
        self.down1, self.down1_attn = ResBlock(ch, temb, 2 * ch), Attention(2 * ch)  # 16×16
        self.mid0, self.mid_attn, self.mid1 = ResBlock(2 * ch, temb, 2 * ch), Attention(2 * ch), ResBlock(2 * ch, temb, 2 * ch)
        self.up1 = nn.ModuleList([ResBlock(4 * ch, temb, 2 * ch), ResBlock(3 * ch, temb, 2 * ch)])
        self.up1_attn = nn.ModuleList([Attention(2 * ch), Attention(2 * ch)])
        self.upsample = nn.Conv2d(2 * ch, 2 * ch, 3, padding=1)
        self.up0 = nn.ModuleList([ResBlock(3 * ch, temb, ch), ResBlock(2 * ch, temb, ch)])
        self.end_norm = nn.GroupNorm(32, ch, eps=1e-6)
        self.end = nn.Conv2d(ch, 3, 3, padding=1)

    def forward(self, x, t):
        temb = self.temb(timestep_features(t, self.ch))
        skips = [self.begin(x)]
        skips.append(self.down0(skips[-1], temb))
        skips.append(self.downsample(skips[-1]))
        skips.append(self.down1_attn(self.down1(skips[-1], temb)))
        h = self.mid1(self.mid_attn(self.mid0(skips[-1], temb)), temb)
        for block, attn in zip(self.up1, self.up1_attn):
            h = attn(block(torch.cat([h, skips.pop()], 1), temb))
        h = self.upsample(F.interpolate(h, scale_factor=2, mode="nearest"))
        for block in self.up0:
            h = block(torch.cat([h, skips.pop()], 1), temb)
        return self.end(F.silu(self.end_norm(h)))
