"""PyTorch reference of AASIST for the Rust port's parity test.

A re-statement of the released model (clovaai/aasist, models/AASIST.py, MIT)
in eval mode: same module names, so the released checkpoints load with
strict=True (which checks every tensor name and shape), and the same
operations in the same order, including upstream's quirks (the residual
block's bn1 output is discarded; graph pooling scales nodes by their score;
the sinc filterbank is computed from the config, not loaded).

Usage (from the repository root, after scripts/spoof/setup-venv.sh):
  .venv-spoof/bin/python scripts/spoof/aasist_reference.py CONF PTH WAV...
prints one JSON line per file with the logits [spoof, bona fide] of its first
window (64,600 samples; shorter audio is tiled, as upstream's loader does).
"""

import json
import sys

import numpy as np
import soundfile as sf
import torch
import torch.nn as nn
import torch.nn.functional as F


def sinc_bank(out_channels, kernel_size, sample_rate=16000):
    to_mel = lambda hz: 2595 * np.log10(1 + hz / 700)
    to_hz = lambda mel: 700 * (10 ** (mel / 2595) - 1)
    if kernel_size % 2 == 0:
        kernel_size += 1
    f = int(sample_rate / 2) * np.linspace(0, 1, 257)
    fmel = to_mel(f)
    edges = to_hz(np.linspace(fmel.min(), fmel.max(), out_channels + 1))
    support = torch.arange(-(kernel_size - 1) / 2, (kernel_size - 1) / 2 + 1)
    bank = torch.zeros(out_channels, kernel_size)
    for i in range(out_channels):
        lo, hi = edges[i], edges[i + 1]
        ideal = (2 * hi / sample_rate) * np.sinc(2 * hi * support / sample_rate) - (
            2 * lo / sample_rate
        ) * np.sinc(2 * lo * support / sample_rate)
        bank[i, :] = torch.Tensor(np.hamming(kernel_size)) * torch.Tensor(ideal)
    return bank


class GraphAttentionLayer(nn.Module):
    def __init__(self, in_dim, out_dim, temperature):
        super().__init__()
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_weight = nn.Parameter(torch.zeros(out_dim, 1))
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.temp = temperature

    def forward(self, x):
        n = x.size(1)
        pair = x.unsqueeze(2).expand(-1, -1, n, -1)
        att = torch.tanh(self.att_proj(pair * pair.transpose(1, 2)))
        att = F.softmax(torch.matmul(att, self.att_weight) / self.temp, dim=-2)
        x = self.proj_with_att(torch.matmul(att.squeeze(-1), x)) + self.proj_without_att(x)
        shape = x.size()
        x = self.bn(x.view(-1, shape[-1])).view(shape)
        return F.selu(x)


class HtrgGraphAttentionLayer(nn.Module):
    def __init__(self, in_dim, out_dim, temperature):
        super().__init__()
        self.proj_type1 = nn.Linear(in_dim, in_dim)
        self.proj_type2 = nn.Linear(in_dim, in_dim)
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_projM = nn.Linear(in_dim, out_dim)
        for name in ("att_weight11", "att_weight22", "att_weight12", "att_weightM"):
            setattr(self, name, nn.Parameter(torch.zeros(out_dim, 1)))
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.proj_with_attM = nn.Linear(in_dim, out_dim)
        self.proj_without_attM = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.temp = temperature

    def forward(self, x1, x2, master):
        n1, n2 = x1.size(1), x2.size(1)
        x = torch.cat([self.proj_type1(x1), self.proj_type2(x2)], dim=1)
        n = x.size(1)
        pair = x.unsqueeze(2).expand(-1, -1, n, -1)
        att = torch.tanh(self.att_proj(pair * pair.transpose(1, 2)))
        board = torch.zeros_like(att[:, :, :, 0]).unsqueeze(-1)
        board[:, :n1, :n1, :] = torch.matmul(att[:, :n1, :n1, :], self.att_weight11)
        board[:, n1:, n1:, :] = torch.matmul(att[:, n1:, n1:, :], self.att_weight22)
        board[:, :n1, n1:, :] = torch.matmul(att[:, :n1, n1:, :], self.att_weight12)
        board[:, n1:, :n1, :] = torch.matmul(att[:, n1:, :n1, :], self.att_weight12)
        att = F.softmax(board / self.temp, dim=-2)
        # master node
        m_att = torch.tanh(self.att_projM(x * master))
        m_att = F.softmax(torch.matmul(m_att, self.att_weightM) / self.temp, dim=-2)
        master = self.proj_with_attM(
            torch.matmul(m_att.squeeze(-1).unsqueeze(1), x)
        ) + self.proj_without_attM(master)
        x = self.proj_with_att(torch.matmul(att.squeeze(-1), x)) + self.proj_without_att(x)
        shape = x.size()
        x = F.selu(self.bn(x.view(-1, shape[-1])).view(shape))
        return x.narrow(1, 0, n1), x.narrow(1, n1, n2), master


class GraphPool(nn.Module):
    def __init__(self, k, in_dim):
        super().__init__()
        self.k = k
        self.proj = nn.Linear(in_dim, 1)

    def forward(self, h):
        scores = torch.sigmoid(self.proj(h))
        _, n, d = h.size()
        keep = max(int(n * self.k), 1)
        _, idx = torch.topk(scores, keep, dim=1)
        return torch.gather(h * scores, 1, idx.expand(-1, -1, d))


class Residual_block(nn.Module):
    def __init__(self, nb_filts, first=False):
        super().__init__()
        self.first = first
        if not first:
            self.bn1 = nn.BatchNorm2d(nb_filts[0])
        self.conv1 = nn.Conv2d(nb_filts[0], nb_filts[1], (2, 3), padding=(1, 1))
        self.bn2 = nn.BatchNorm2d(nb_filts[1])
        self.conv2 = nn.Conv2d(nb_filts[1], nb_filts[1], (2, 3), padding=(0, 1))
        self.downsample = nb_filts[0] != nb_filts[1]
        if self.downsample:
            self.conv_downsample = nn.Conv2d(nb_filts[0], nb_filts[1], (1, 3), padding=(0, 1))

    def forward(self, x):
        # Upstream computes selu(bn1(x)) here and then convolves x itself.
        out = F.selu(self.bn2(self.conv1(x)))
        out = self.conv2(out)
        identity = self.conv_downsample(x) if self.downsample else x
        return F.max_pool2d(out + identity, (1, 3))


class Model(nn.Module):
    def __init__(self, d):
        super().__init__()
        filts, gat, pool, temp = d["filts"], d["gat_dims"], d["pool_ratios"], d["temperatures"]
        self.register_buffer("sinc", sinc_bank(filts[0], d["first_conv"]).unsqueeze(1), persistent=False)
        self.first_bn = nn.BatchNorm2d(1)
        self.encoder = nn.Sequential(
            nn.Sequential(Residual_block(filts[1], first=True)),
            nn.Sequential(Residual_block(filts[2])),
            nn.Sequential(Residual_block(filts[3])),
            nn.Sequential(Residual_block(filts[4])),
            nn.Sequential(Residual_block(filts[4])),
            nn.Sequential(Residual_block(filts[4])),
        )
        self.pos_S = nn.Parameter(torch.zeros(1, 23, filts[-1][-1]))
        self.master1 = nn.Parameter(torch.zeros(1, 1, gat[0]))
        self.master2 = nn.Parameter(torch.zeros(1, 1, gat[0]))
        self.GAT_layer_S = GraphAttentionLayer(filts[-1][-1], gat[0], temp[0])
        self.GAT_layer_T = GraphAttentionLayer(filts[-1][-1], gat[0], temp[1])
        self.HtrgGAT_layer_ST11 = HtrgGraphAttentionLayer(gat[0], gat[1], temp[2])
        self.HtrgGAT_layer_ST12 = HtrgGraphAttentionLayer(gat[1], gat[1], temp[2])
        self.HtrgGAT_layer_ST21 = HtrgGraphAttentionLayer(gat[0], gat[1], temp[2])
        self.HtrgGAT_layer_ST22 = HtrgGraphAttentionLayer(gat[1], gat[1], temp[2])
        self.pool_S = GraphPool(pool[0], gat[0])
        self.pool_T = GraphPool(pool[1], gat[0])
        self.pool_hS1 = GraphPool(pool[2], gat[1])
        self.pool_hT1 = GraphPool(pool[2], gat[1])
        self.pool_hS2 = GraphPool(pool[2], gat[1])
        self.pool_hT2 = GraphPool(pool[2], gat[1])
        self.out_layer = nn.Linear(5 * gat[1], 2)

    def forward(self, x):
        x = F.conv1d(x.unsqueeze(1), self.sinc).unsqueeze(1)
        x = F.selu(self.first_bn(F.max_pool2d(torch.abs(x), (3, 3))))
        e = self.encoder(x)
        e_S = torch.max(torch.abs(e), dim=3)[0].transpose(1, 2) + self.pos_S
        out_S = self.pool_S(self.GAT_layer_S(e_S))
        e_T = torch.max(torch.abs(e), dim=2)[0].transpose(1, 2)
        out_T = self.pool_T(self.GAT_layer_T(e_T))

        def branch(first, second, pool_s, pool_t, master):
            t, s, m = first(out_T, out_S, master)
            s, t = pool_s(s), pool_t(t)
            ta, sa, ma = second(t, s, m)
            return t + ta, s + sa, m + ma

        t1, s1, m1 = branch(self.HtrgGAT_layer_ST11, self.HtrgGAT_layer_ST12, self.pool_hS1, self.pool_hT1, self.master1)
        t2, s2, m2 = branch(self.HtrgGAT_layer_ST21, self.HtrgGAT_layer_ST22, self.pool_hS2, self.pool_hT2, self.master2)
        out_T, out_S, master = torch.max(t1, t2), torch.max(s1, s2), torch.max(m1, m2)
        hidden = torch.cat(
            [
                torch.max(torch.abs(out_T), dim=1)[0],
                torch.mean(out_T, dim=1),
                torch.max(torch.abs(out_S), dim=1)[0],
                torch.mean(out_S, dim=1),
                master.squeeze(1),
            ],
            dim=1,
        )
        return self.out_layer(hidden)


def load(conf_path, pth_path):
    with open(conf_path) as f:
        conf = json.load(f)["model_config"]
    model = Model(conf)
    state = torch.load(pth_path, map_location="cpu", weights_only=True)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    model.eval()
    return model, conf["nb_samp"]


def window(x, n):
    """First window of n samples; shorter audio is tiled (upstream's `pad`)."""
    if len(x) >= n:
        return x[:n]
    return np.tile(x, n // len(x) + 1)[:n]


def windows(x, n, max_windows=8):
    """All window starts as the Rust port chooses them (crate antispoof, window_starts)."""
    if len(x) <= n:
        return [window(x, n)]
    count = min(-(-len(x) // n), max_windows)
    if count == 1:
        s = (len(x) - n) // 2
        return [x[s : s + n]]
    span = len(x) - n
    return [x[i * span // (count - 1) : i * span // (count - 1) + n] for i in range(count)]


def read16k(path):
    x, sr = sf.read(path, dtype="float32")
    if sr != 16000 or x.ndim != 1:
        raise SystemExit(f"{path}: expected 16 kHz mono, got {sr} Hz, shape {x.shape}")
    return x


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    torch.set_num_threads(1)
    model, n = load(sys.argv[1], sys.argv[2])
    with torch.no_grad():
        for path in sys.argv[3:]:
            logits = model(torch.from_numpy(window(read16k(path), n)).unsqueeze(0))[0]
            print(json.dumps({"file": path, "logits": [float(v) for v in logits]}))


if __name__ == "__main__":
    main()
