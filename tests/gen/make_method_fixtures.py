#!/usr/bin/python3
"""Golden fixtures of BAdam, GaLore and LLaMA Pro for tests/test_methods_golden.c (Debian
python3-torch, float64):
    /usr/bin/python3 tests/gen/make_method_fixtures.py tests/fixtures/train

The model math (HF Qwen2/Qwen3 decoder, causal-LM loss) is make_train_fixtures.py's. Written here
from the references' semantics, not imported from them (neither badam nor galore_torch nor
transformers is installed):

badam.bin    BAdam's BlockOptimizer (github.com/Ledzy/BAdam, src/badam/block_optim.py) as
             LlamaFactory runs it (block_prefix_list None: one block per decoder layer): a
             torch.optim.AdamW over the active block only (its defaults' weight_decay 0.01 on
             every parameter), cleared at every switch; after optimizer step s the block switches
             when (s + 1) % interval == 0; ascending / descending / fixed orders. Per step: loss,
             pre-clip grad norm, lr and the active block; the final weights.
galore.bin   galore_torch 1.0 (github.com/jiaweizzhao/GaLore: adamw.py, galore_projector.py) in
             LlamaFactory's groups (galore weights and every other weight but biases, RMSNorm
             weights included: weight_decay; biases: 0): its AdamW (eps outside the bias correction, decay after the update) and
             GaLoreProjector for proj_type std, reverse_std, right, left and full. The projector
             is the leading singular vectors of torch.linalg.svd with each vector's sign fixed
             (largest |component| positive), the rule of ctune's ct_svd_basis: LAPACK's signs are
             arbitrary and galore_torch uses them as they come. Per step: loss, grad norm; the
             first update of every GaLore weight; the final weights (std, targets, layerwise).
llama_pro.bin  scripts/llama_pro.py's block expansion of a 4-layer model by 2 (a copy of layers 1
             and 3 with o_proj / down_proj zeroed) and 4 steps of freeze tuning with
             use_llama_pro (trainable: layers 2 and 5, every tensor), torch AdamW with HF's
             decay rule; the loss of the original model, equal to the expanded one's.
"""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_train_fixtures as mtf  # noqa: E402  (the decoder, the loss, the fixture writer)

torch.set_default_dtype(torch.float64)


def tiny(qwen3, L):
    return dict(C=32, Hq=4, Hkv=2, D=16 if qwen3 else 8, I=48, L=L, V=64, theta=10000.0, eps=1e-6,
                tied=qwen3, qk_norm=qwen3, bias=not qwen3)


def make_batch(cfg, gen):
    B, T = 2, 12
    ids = torch.randint(0, cfg["V"], (B, T), generator=gen)
    labels = ids.clone()
    labels[:, :3] = -100
    labels[1, 7:9] = -100
    pos = torch.arange(T).repeat(B, 1)
    seg = torch.zeros(B, T, dtype=torch.int64)
    return dict(ids=ids, labels=labels, pos=pos, seg=seg)


def header(cfg, batch):
    return {"config": torch.tensor([cfg["C"], cfg["Hq"], cfg["Hkv"], cfg["D"], cfg["I"], cfg["L"], cfg["V"],
                                    cfg["theta"], cfg["eps"], float(cfg["tied"]), float(cfg["qk_norm"]),
                                    float(cfg["bias"]), 0, 0, batch["ids"].shape[0], batch["ids"].shape[1]]),
            "batch.input_ids": batch["ids"], "batch.labels": batch["labels"],
            "batch.position_ids": batch["pos"], "batch.segment_ids": batch["seg"]}


def loss_of(cfg, w, batch):
    return mtf.forward_loss(cfg, w, None, batch, 1.0)


# ---------------------------------------------------------------- BAdam

def badam_run(cfg, w0, batch, order, start, interval, steps, lr, warmup, max_norm):
    L = cfg["L"]
    w = {k: v.clone() for k, v in w0.items()}
    lam = mtf.cosine_lambda(warmup, steps)
    nxt = start if start is not None else (L - 1 if order == "descending" else 0)
    state = {}

    def advance(i):
        return {"ascending": (i + 1) % L, "descending": (i - 1) % L, "fixed": i}[order]

    def switch():  # switch_trainable_params: the pending block, a fresh AdamW, the next block
        active = state["next"]
        state["active"] = active
        prefix = f"model.layers.{active}."
        for k, v in w.items():
            v.requires_grad_(k.startswith(prefix))
        state["params"] = [v for k, v in w.items() if k.startswith(prefix)]
        state["opt"] = torch.optim.AdamW(state["params"], lr=lr, betas=(0.9, 0.999), eps=1e-8)  # wd 0.01
        state["next"] = advance(active)

    state["next"] = nxt
    switch()
    losses, norms, lrs, blocks = [], [], [], []
    for s in range(steps):
        blocks.append(state["active"])
        loss = loss_of(cfg, w, batch)
        loss.backward()
        n = torch.nn.utils.clip_grad_norm_(state["params"], max_norm)
        for g in state["opt"].param_groups:
            g["lr"] = lr * lam(s)
        lrs.append(lr * lam(s))
        state["opt"].step()
        state["opt"].zero_grad(set_to_none=True)
        losses.append(loss.item())
        norms.append(n.item())
        if (s + 1 + 1) % interval == 0:  # BlockOptimizer.step: global_step += 1, then (global_step + 1) % every
            switch()
    return losses, norms, lrs, blocks, {k: v.detach() for k, v in w.items()}


def make_badam(outdir):
    cfg = tiny(True, 4)
    gen = torch.Generator().manual_seed(777)
    w = mtf.make_weights(cfg, gen)
    batch = make_batch(cfg, gen)
    out = header(cfg, batch)
    for k, v in w.items():
        out["w." + k] = v
    runs = [("ascending", "ascending", None), ("descending", "descending", 1), ("fixed", "fixed", 2)]
    for tag, order, start in runs:
        losses, norms, lrs, blocks, wf = badam_run(cfg, w, batch, order, start, 2, 7, 5e-3, 1, 1.0)
        out[tag + ".losses"] = torch.tensor(losses)
        out[tag + ".grad_norms"] = torch.tensor(norms)
        out[tag + ".lrs"] = torch.tensor(lrs)
        out[tag + ".blocks"] = torch.tensor(blocks, dtype=torch.float64)
        for k, v in wf.items():
            out[tag + ".final." + k] = v
        print("badam", tag, "blocks", blocks, "loss", losses[0], "->", losses[-1])
    mtf.write_fixture(f"{outdir}/badam.bin", out)


# ---------------------------------------------------------------- GaLore

def svd_basis(G, r):
    U, S, Vh = torch.linalg.svd(G, full_matrices=False)
    U, Vh = U[:, :r].clone(), Vh[:r, :].clone()
    for j in range(r):
        i = torch.argmax(U[:, j].abs())
        if U[i, j] < 0:
            U[:, j] = -U[:, j]
        i = torch.argmax(Vh[j].abs())
        if Vh[j, i] < 0:
            Vh[j] = -Vh[j]
    return U, Vh


class Projector:
    """galore_projector.GaLoreProjector with svd_basis for get_orthogonal_matrix."""

    def __init__(self, rank, gap, scale, proj_type):
        self.rank, self.gap, self.scale, self.type = rank, gap, scale, proj_type
        self.U = self.Vh = None

    def side(self, G):
        m, n = G.shape
        t = self.type
        if t == "std":
            return "right" if m >= n else "left"
        if t == "reverse_std":
            return "left" if m >= n else "right"
        return t

    def project(self, G, it):
        side = self.side(G)
        if self.U is None and self.Vh is None or it % self.gap == 0:
            self.U, self.Vh = svd_basis(G, min(self.rank, min(G.shape)))
        if side == "right":
            return G @ self.Vh.T
        if side == "left":
            return self.U.T @ G
        return self.U.T @ G @ self.Vh.T

    def project_back(self, low, G_shape):
        side = self.side(torch.empty(G_shape))
        if side == "right":
            full = low @ self.Vh
        elif side == "left":
            full = self.U @ low
        else:
            full = self.U @ low @ self.Vh
        return full * self.scale


def galore_adamw_step(groups, state, lr, b1=0.9, b2=0.999, eps=1e-8):
    """galore_torch.adamw.AdamW.step (correct_bias True)."""
    with torch.no_grad():
        for grp in groups:
            for p in grp["params"]:
                st = state.setdefault(id(p), {"step": 0})
                grad = p.grad
                if "rank" in grp:
                    if "proj" not in st:
                        st["proj"] = Projector(grp["rank"], grp["gap"], grp["scale"], grp["proj_type"])
                    grad = st["proj"].project(grad, st["step"])
                if "m" not in st:
                    st["m"] = torch.zeros_like(grad)
                    st["v"] = torch.zeros_like(grad)
                st["step"] += 1
                st["m"].mul_(b1).add_(grad, alpha=1 - b1)
                st["v"].mul_(b2).addcmul_(grad, grad, value=1 - b2)
                denom = st["v"].sqrt().add_(eps)
                step_size = lr * math.sqrt(1 - b2 ** st["step"]) / (1 - b1 ** st["step"])
                ng = st["m"] / denom
                if "rank" in grp:
                    ng = st["proj"].project_back(ng, p.shape)
                p.add_(ng, alpha=-step_size)
                if grp["weight_decay"] > 0:
                    p.add_(p, alpha=-lr * grp["weight_decay"])


def is_linear(name):
    return name.endswith("proj.weight") or name == "lm_head.weight"


def galore_run(cfg, w0, batch, targets, rank, gap, scale, proj_type, steps, lr, warmup, wd, max_norm):
    w = {k: v.clone().requires_grad_(True) for k, v in w0.items()}

    def module(k):
        return k[: -len(".weight")]

    def selected(k):
        if not is_linear(k):
            return False
        if targets == ["all"]:
            return k != "lm_head.weight"
        return any(t in module(k) for t in targets)

    gal = [v for k, v in w.items() if selected(k)]
    # LlamaFactory's _get_decay_parameter_names: parameters outside nn.LayerNorm modules (RMSNorm
    # is not one) whose name has no "bias" decay, norm weights included
    dec = [v for k, v in w.items() if not selected(k) and "bias" not in k]
    nod = [v for k, v in w.items() if not selected(k) and "bias" in k]
    groups = [dict(params=nod, weight_decay=0.0), dict(params=dec, weight_decay=wd),
              dict(params=gal, weight_decay=wd, rank=rank, gap=gap, scale=scale, proj_type=proj_type)]
    lam = mtf.cosine_lambda(warmup, steps)
    state, losses, norms, first = {}, [], [], {}
    for s in range(steps):
        loss = loss_of(cfg, w, batch)
        loss.backward()
        allp = [v for v in w.values()]
        if max_norm is None:
            n = torch.sqrt(sum((v.grad ** 2).sum() for v in allp))
        else:
            n = torch.nn.utils.clip_grad_norm_(allp, max_norm)
        before = {k: v.detach().clone() for k, v in w.items()} if s == 0 else None
        galore_adamw_step(groups, state, lr * lam(s))
        for v in allp:
            v.grad = None
        losses.append(loss.item())
        norms.append(n.item())
        if s == 0:
            first = {k: (w[k].detach() - before[k]) for k in w if selected(k)}
    return losses, norms, first, {k: v.detach() for k, v in w.items()}


def make_galore(outdir):
    cfg = tiny(False, 2)
    gen = torch.Generator().manual_seed(4242)
    w = mtf.make_weights(cfg, gen)
    batch = make_batch(cfg, gen)
    out = header(cfg, batch)
    for k, v in w.items():
        out["w." + k] = v
    #        tag          targets              rank gap scale proj           steps  max_norm
    runs = [("std", ["all"], 4, 3, 2.0, "std", 7, 1.0),
            ("reverse_std", ["all"], 3, 2, 2.0, "reverse_std", 4, 1.0),
            ("right", ["all"], 3, 2, 1.5, "right", 4, 1.0),
            ("left", ["all"], 3, 2, 1.5, "left", 4, 1.0),
            ("full", ["all"], 3, 2, 2.0, "full", 4, 1.0),
            ("targets", ["mlp", "lm_head"], 4, 2, 2.0, "std", 4, 1.0),
            ("layerwise", ["all"], 4, 3, 2.0, "std", 4, None)]
    for tag, targets, rank, gap, scale, proj, steps, max_norm in runs:
        losses, norms, first, wf = galore_run(cfg, w, batch, targets, rank, gap, scale, proj, steps, 5e-3, 0, 0.05,
                                              max_norm)
        out[tag + ".params"] = torch.tensor([rank, gap, scale, steps, 0 if max_norm is None else max_norm])
        out[tag + ".losses"] = torch.tensor(losses)
        out[tag + ".grad_norms"] = torch.tensor(norms)
        for k, v in first.items():
            out[tag + ".update1." + k] = v
        if tag in ("std", "targets", "layerwise"):  # the other projections: losses and first updates
            for k, v in wf.items():
                out[tag + ".final." + k] = v
        print("galore", tag, "loss", losses[0], "->", losses[-1], "galore weights", len(first))
    mtf.write_fixture(f"{outdir}/galore.bin", out)


# ---------------------------------------------------------------- LLaMA Pro

def block_expansion(w, L, E):
    """scripts/llama_pro.py on a state dict (tied: no lm_head, as the script deletes it)."""
    split = L // E
    out, cnt = {}, 0
    for i in range(L):
        for k, v in w.items():
            if f".{i:d}." in k:
                out[k.replace(f".{i:d}.", f".{cnt:d}.")] = v
        cnt += 1
        if (i + 1) % split == 0:
            for k, v in w.items():
                if f".{i:d}." in k:
                    nk = k.replace(f".{i:d}.", f".{cnt:d}.")
                    out[nk] = torch.zeros_like(v) if ("down_proj" in k or "o_proj" in k) else v.clone()
            cnt += 1
    for k, v in w.items():
        if k not in out and not any(f".{i:d}." in k for i in range(L)):
            out[k] = v
    return out


def make_llama_pro(outdir):
    cfg = tiny(True, 4)
    gen = torch.Generator().manual_seed(99)
    w = mtf.make_weights(cfg, gen)
    batch = make_batch(cfg, gen)
    out = header(cfg, batch)
    for k, v in w.items():
        out["w." + k] = v
    E = 2
    we = block_expansion(w, 4, E)
    ecfg = dict(cfg, L=4 + E)
    out["original.loss"] = torch.tensor([loss_of(cfg, w, batch).item()])
    stride = ecfg["L"] // E
    ids = list(range(stride - 1, ecfg["L"] + stride - 1, stride))
    trainable = {k: v.clone().requires_grad_(True) for k, v in we.items()
                 if any(f".{i:d}." in k for i in ids)}
    fixed = {k: v for k, v in we.items() if k not in trainable}
    decay = [p for k, p in trainable.items() if "norm" not in k]
    nodecay = [p for k, p in trainable.items() if "norm" in k]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": nodecay, "weight_decay": 0.0}],
                            lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
    lam = mtf.cosine_lambda(1, 4)
    losses, norms = [], []
    for s in range(4):
        for g in opt.param_groups:
            g["lr"] = 1e-2 * lam(s)
        loss = loss_of(ecfg, {**fixed, **trainable}, batch)
        loss.backward()
        n = torch.nn.utils.clip_grad_norm_(list(trainable.values()), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        norms.append(n.item())
    out["expanded.layers"] = torch.tensor(ids, dtype=torch.float64)
    out["train.losses"] = torch.tensor(losses)
    out["train.grad_norms"] = torch.tensor(norms)
    for k, v in trainable.items():
        out["train.final." + k] = v.detach()
    print("llama_pro: trainable layers", ids, "loss", out["original.loss"].item(), losses)
    mtf.write_fixture(f"{outdir}/llama_pro.bin", out)


if __name__ == "__main__":
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/train"
    make_badam(outdir)
    make_galore(outdir)
    make_llama_pro(outdir)
