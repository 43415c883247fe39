#!/usr/bin/python3
"""PyTorch baseline for bench/forward.sh: the same Qwen2.5-0.5B-shaped decoder (random weights,
HF Qwen2 math written out by hand, KV cache) timed for prefill and decode, bf16 and f32.
Usage: forward_torch.py PREFILL DECODE THREADS..."""
import sys
import time

import torch

C, L, HQ, HKV, D, I, V = 896, 24, 14, 2, 64, 4864, 151936
REPS = 3


def make(dtype):
    g = torch.Generator().manual_seed(0)
    r = lambda *s: (torch.rand(*s, generator=g) - 0.5).mul_(0.1).to(dtype)
    layers = [dict(q=r(HQ * D, C), qb=r(HQ * D), k=r(HKV * D, C), kb=r(HKV * D), v=r(HKV * D, C),
                   vb=r(HKV * D), o=r(C, HQ * D), g=r(I, C), u=r(I, C), d=r(C, I),
                   n1=torch.ones(C, dtype=dtype), n2=torch.ones(C, dtype=dtype)) for _ in range(L)]
    return r(V, C), layers, torch.ones(C, dtype=dtype)


def rms(x, w):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-6)).to(x.dtype) * w


def rope(x, pos):
    inv = 1.0 / (1e6 ** (torch.arange(0, D, 2).float() / D))
    a = pos.float()[:, None] * inv[None]
    e = torch.cat((a, a), -1)
    c, s = e.cos()[:, None].to(x.dtype), e.sin()[:, None].to(x.dtype)
    h = D // 2
    return x * c + torch.cat((-x[..., h:], x[..., :h]), -1) * s


def forward(model, ids, cache, start):
    E, layers, nf = model
    T = len(ids)
    pos = torch.arange(start, start + T)
    x = E[ids]
    for li, w in enumerate(layers):
        n = rms(x, w["n1"])
        q = rope((n @ w["q"].T + w["qb"]).view(T, HQ, D), pos)
        k = rope((n @ w["k"].T + w["kb"]).view(T, HKV, D), pos)
        v = (n @ w["v"].T + w["vb"]).view(T, HKV, D)
        ck, cv = cache[li]
        ck[start:start + T], cv[start:start + T] = k, v
        K = ck[:start + T].repeat_interleave(HQ // HKV, 1)
        Vv = cv[:start + T].repeat_interleave(HQ // HKV, 1)
        s = torch.einsum("thd,shd->hts", q, K).float() / D ** 0.5
        mask = torch.ones(T, start + T, dtype=torch.bool).tril(start)
        p = s.masked_fill(~mask, float("-inf")).softmax(-1).to(x.dtype)
        a = torch.einsum("hts,shd->thd", p, Vv).reshape(T, HQ * D)
        x = x + a @ w["o"].T
        n = rms(x, w["n2"])
        x = x + (torch.nn.functional.silu(n @ w["g"].T) * (n @ w["u"].T)) @ w["d"].T
    return rms(x[-1:], nf) @ E.T


def main():
    npre, ndec = int(sys.argv[1]), int(sys.argv[2])
    for dtype in (torch.bfloat16, torch.float32):
        model = make(dtype)
        nbytes = sum(t.numel() * t.element_size() for w in model[1] for t in w.values())
        nbytes += model[0].numel() * model[0].element_size()
        for th in map(int, sys.argv[3:]):
            torch.set_num_threads(th)
            with torch.no_grad():
                cache = [(torch.zeros(npre + ndec + 1, HKV, D, dtype=dtype),
                          torch.zeros(npre + ndec + 1, HKV, D, dtype=dtype)) for _ in range(L)]
                ids = torch.arange(npre + ndec) * 7919 % V
                forward(model, ids[:1], cache, 0)
                tps = []
                for _ in range(REPS):  # median of REPS prefills, as forward_bench.c
                    t0 = time.time()
                    forward(model, ids[:npre], cache, 0)
                    tps.append(time.time() - t0)
                tp = sorted(tps)[REPS // 2]
                t0 = time.time()
                for i in range(ndec):
                    forward(model, ids[npre + i:npre + i + 1], cache, npre + i)
                td = time.time() - t0
            print(f"pytorch {torch.__version__} {str(dtype)[6:]} threads {th}: prefill {npre} tokens "
                  f"{npre / tp:.1f} tok/s | decode {ndec} tokens {ndec / td:.2f} tok/s, "
                  f"{nbytes * ndec / td / 1e9:.2f} GB/s of weights")
            name = "bf16" if dtype == torch.bfloat16 else "fp32"
            print(f"@ fwd_torch_{name}_prefill_{th}t {npre / tp:.1f}\n@ fwd_torch_{name}_decode_{th}t {ndec / td:.2f}")
        del model


if __name__ == "__main__":
    main()
