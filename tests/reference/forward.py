#!/usr/bin/env python3
"""forward: an independent float64 reference forward pass for the architectures llmux runs.

    python3 forward.py MODEL.gguf --tokens 1,2,3 --out logits.f32 [--act-quant] [--out-act logits_aq.f32]
    python3 forward.py MODEL.gguf --matmul blk.0.ffn_down.weight:x.f32:y.f32   # one product, --act-quant rounding
    python3 forward.py MODEL.gguf --tokens 1,2,3 --out-hidden h.f32 --out-embd e.f32 [--pooling mean] [--no-normalize]

Reads the GGUF file with gguf_np.py (its own reader and dequantizers), runs the
token ids from position 0 with causal attention, and writes the logits of every
position as raw little-endian float32, n_tokens rows of n_vocab (or as .npy when
the output name ends in .npy). Only numpy is needed.

The math follows the public model definitions (Hugging Face transformers'
modeling_llama / qwen2 / qwen3 / gemma2 / phi3) as they appear after conversion
to GGUF, where:
  - llama q/k weights are permuted by the converter so that rope rotates
    adjacent pairs (x[2i], x[2i+1]) ("normal" rope); the other architectures
    keep the rotate-half layout, pairs (x[i], x[i + n_rot/2]) ("neox" rope);
  - gemma's RMSNorm "(1 + w)" is stored as w + 1, so every norm is x * rms * w;
  - phi3's fused gate_up_proj is one matrix, gate rows first, then up.
Everything is computed in float64 from the dequantized weights: the result is
what the model means, not what one engine rounds it to. With --act-quant, the
input of every matrix product is first rounded the way ggml-style engines do
before a quantized dot product (Q8_0 / Q8_1 / Q8_K blocks, f16 or bf16), which
lets a test separate the engine's kernels from that deliberate rounding.

--out-hidden writes the hidden states after the final norm (what the output
layer reads), n_tokens rows of n_embd; --out-embd one pooled vector of n_embd:
the mean of those rows, the first or the last, as --pooling or the file's
<arch>.pooling_type says (mean when it has none), scaled to unit length unless
--no-normalize.
"""
import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_np  # noqa: E402

NEOX_ARCHS = {"qwen2", "qwen3", "gemma2", "phi3"}
SUPPORTED = {"llama", "mistral", "qwen2", "qwen3", "gemma2", "phi3"}


# ---- hyper-parameters
class HParams:
    def __init__(self, f):
        kv = f.kv
        arch = kv["general.architecture"]
        if arch not in SUPPORTED:
            raise SystemExit("forward.py: architecture %s is not supported" % arch)

        def get(key, default=None):
            v = kv.get(arch + "." + key, default)
            if v is None:
                raise SystemExit("forward.py: metadata key %s.%s is missing" % (arch, key))
            return v

        self.arch = arch
        self.n_embd = int(get("embedding_length"))
        self.n_layer = int(get("block_count"))
        self.n_ff = int(get("feed_forward_length"))
        self.n_head = int(get("attention.head_count"))
        self.n_head_kv = int(get("attention.head_count_kv", self.n_head))
        self.head_dim = int(get("attention.key_length", self.n_embd // self.n_head))
        self.head_dim_v = int(get("attention.value_length", self.head_dim))
        self.eps = float(get("attention.layer_norm_rms_epsilon", 1e-5))
        self.n_ctx_train = int(get("context_length"))
        # rope
        self.neox = arch in NEOX_ARCHS
        self.n_rot = int(get("rope.dimension_count", self.head_dim))
        self.rope_base = float(get("rope.freq_base", 10000.0))
        self.rope_type = str(get("rope.scaling.type", "none"))
        self.rope_factor = float(get("rope.scaling.factor", 0.0)) or float(get("rope.scale_linear", 0.0))
        self.rope_orig_ctx = int(get("rope.scaling.original_context_length", self.n_ctx_train))
        self.rope_attn_factor = float(get("rope.scaling.attn_factor", 1.0))
        self.yarn_beta_fast = float(get("rope.scaling.yarn_beta_fast", 32.0))
        self.yarn_beta_slow = float(get("rope.scaling.yarn_beta_slow", 1.0))
        # attention shape of the block
        self.attn_scale = 1.0 / math.sqrt(self.head_dim)
        self.attn_softcap = float(get("attn_logit_softcapping", 0.0))
        self.final_softcap = float(get("final_logit_softcapping", 0.0))
        self.window = int(get("attention.sliding_window", 0))
        self.embd_scale = 1.0
        self.act = "silu"
        self.swa_layers = set(range(self.n_layer)) if self.window else set()
        if arch == "phi3":
            # llama.cpp runs Phi models without a sliding window (which layers would
            # use one is not stated in their configs); the engine follows it.
            self.window, self.swa_layers = 0, set()
        if arch == "gemma2":
            # Gemma 2: normalizer sqrt(hidden_size) on the embeddings, GELU (tanh), soft-capped
            # attention scores (50) and logits (30), sliding window on layers 0, 2, 4, ...
            # query_pre_attn_scalar is head_dim except for the 27B shape (hidden / heads).
            self.embd_scale = math.sqrt(self.n_embd)
            self.act = "gelu_tanh"
            self.attn_softcap = self.attn_softcap or 50.0
            self.final_softcap = self.final_softcap or 30.0
            self.window = self.window or 4096
            self.swa_layers = {il for il in range(self.n_layer) if il % 2 == 0}
            if self.n_layer == 46:
                self.attn_scale = 1.0 / math.sqrt(self.n_embd // self.n_head)


# ---- rotary embeddings
def rope_angles(hp, rope_freqs, n_pos):
    """cos, sin of shape (n_pos, n_rot/2), already multiplied by the attention factor."""
    half = hp.n_rot // 2
    inv_freq = hp.rope_base ** (-2.0 * np.arange(half) / hp.n_rot)
    if rope_freqs is not None:          # llama3-style per-frequency divisors
        inv_freq = inv_freq / rope_freqs
    mscale = hp.rope_attn_factor
    kind = hp.rope_type
    if kind == "yarn":
        # YaRN (Peng et al. 2023): interpolate the low frequencies by `factor`, keep the
        # high ones, ramp between the dims whose wavelength fits beta_fast / beta_slow
        # turns in the original context; scale attention by 0.1 ln(factor) + 1.
        factor = hp.rope_factor

        def corr_dim(n_turns):
            return hp.n_rot * math.log(hp.rope_orig_ctx / (n_turns * 2 * math.pi)) / (2 * math.log(hp.rope_base))

        low = max(math.floor(corr_dim(hp.yarn_beta_fast)), 0)
        high = min(math.ceil(corr_dim(hp.yarn_beta_slow)), hp.n_rot - 1)
        ramp = np.clip((np.arange(half) - low) / max(high - low, 0.001), 0.0, 1.0)  # 0: extrapolate
        inv_freq = (inv_freq / factor) * ramp + inv_freq * (1.0 - ramp)
        mscale *= 0.1 * math.log(factor) + 1.0
    elif kind == "linear" or (kind == "none" and hp.rope_factor > 0):
        inv_freq = inv_freq / hp.rope_factor
    elif kind not in ("none", "longrope"):
        raise SystemExit("forward.py: rope scaling %s is not supported" % kind)
    theta = np.arange(n_pos, dtype=np.float64)[:, None] * inv_freq[None, :]
    return np.cos(theta) * mscale, np.sin(theta) * mscale


def rope(x, cos, sin, hp):
    """x: (n_pos, n_heads, head_dim); rotates the first n_rot dims of every head."""
    half = hp.n_rot // 2
    y = x.copy()
    if hp.neox:
        a, b = x[:, :, :half], x[:, :, half:hp.n_rot]
        y[:, :, :half] = a * cos[:, None, :] - b * sin[:, None, :]
        y[:, :, half:hp.n_rot] = a * sin[:, None, :] + b * cos[:, None, :]
    else:
        a, b = x[:, :, 0:hp.n_rot:2], x[:, :, 1:hp.n_rot:2]
        y[:, :, 0:hp.n_rot:2] = a * cos[:, None, :] - b * sin[:, None, :]
        y[:, :, 1:hp.n_rot:2] = a * sin[:, None, :] + b * cos[:, None, :]
    return y


# ---- rounding of activations before a quantized dot product (--act-quant)
# ggml-style engines quantize each matmul input row to the weight's "vec-dot type"
# and take integer dot products. These functions reproduce that rounding in the
# engine's own float32 arithmetic (IEEE float32 division and product, then the
# stated rounding), so that on the same float32 input they give the same blocks
# bit for bit. Each returns (rounded x as float64, extra) where extra is the
# Q8_1 block-sum correction (see Model.matmul) or None.
F32 = np.float32


def _f32_blocks(x, size):
    return x.astype(F32).reshape(-1, size)


def _q8_0_round(x):
    """Blocks of 32: d = max|x| / 127 (f32), stored as f16; q = roundf(x * (1/d))."""
    b = _f32_blocks(x, 32)
    d = np.abs(b).max(axis=1, keepdims=True) / F32(127)
    inv = np.zeros_like(d)
    np.divide(F32(1), d, out=inv, where=d != 0)
    v = (b * inv).astype(np.float64)                 # the f32 product, exactly
    q = np.sign(v) * np.floor(np.abs(v) + 0.5)       # roundf: half away from zero
    return q, d


def _q8_0_like(x):
    q, d = _q8_0_round(x)
    return (q * d.astype(np.float16).astype(np.float64)).reshape(x.shape), None


def _q8_1_like(x):
    """Q8_0 rounding, plus the block sum s = f16(f32(sum q) * d) that Q4_1/Q5_1 dots
    multiply by the weight block's min, where exact math would use sum(q) * f16(d)."""
    q, d = _q8_0_round(x)
    d16 = d.astype(np.float16).astype(np.float64)
    qsum = q.sum(axis=1, keepdims=True)
    s16 = (qsum.astype(F32) * d).astype(np.float16).astype(np.float64)
    rows = x.shape[0]
    return (q * d16).reshape(x.shape), (s16 - qsum * d16).reshape(rows, -1)


def _q8_k(x):
    """Blocks of 256: the signed value of largest magnitude m, iscale = -127/m (f32),
    q = round-half-even(iscale * x) clamped to 127, d = 1/iscale (f32)."""
    b = _f32_blocks(x, 256)
    m = b[np.arange(b.shape[0]), np.abs(b).argmax(axis=1)][:, None]
    iscale = np.zeros_like(m)
    np.divide(F32(-127), m, out=iscale, where=m != 0)
    q = np.minimum(np.rint((iscale * b).astype(np.float64)), 127)
    d = np.zeros_like(iscale)
    np.divide(F32(1), iscale, out=d, where=iscale != 0)
    return (q * d.astype(np.float64)).reshape(x.shape), None


def _f16(x):
    return x.astype(F32).astype(np.float16).astype(np.float64), None


def _bf16(x):
    u = x.astype(F32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16  # round to nearest even
    return gguf_np.bf16_to_f64(u.astype(np.uint16)), None


ACT_ROUND = {
    "F32": None, "F16": _f16, "BF16": _bf16,
    "Q4_0": _q8_0_like, "Q5_0": _q8_0_like, "Q8_0": _q8_0_like, "Q4_1": _q8_1_like, "Q5_1": _q8_1_like,
    "Q2_K": _q8_k, "Q3_K": _q8_k, "Q4_K": _q8_k, "Q5_K": _q8_k, "Q6_K": _q8_k,
}


# ---- the model
class Model:
    def __init__(self, path, act_quant=False):
        self.f = gguf_np.GGUFFile(path)
        self.hp = HParams(self.f)
        self.act_quant = act_quant
        self.tied = not self.f.has("output.weight")

    def weight(self, name):
        return self.f.tensor(name)

    def opt(self, name):
        return self.f.tensor(name) if self.f.has(name) else None

    def matmul(self, name, x):
        """x (n, n_in) @ W^T, W stored as (n_out, n_in)."""
        t = self.f.tensors[name]
        w = self.weight(name)
        fn = ACT_ROUND[gguf_np.TYPES[t.type][0]] if self.act_quant else None
        if fn is None:
            return x @ w.T
        xr, extra = fn(x)
        y = xr @ w.T
        if extra is not None:  # Q4_1 / Q5_1: sum over blocks of min(w) * (s - sum(q) d)
            y += extra @ gguf_np.block_mins(self.f.raw(name), t.type, t.n_elements).reshape(w.shape[0], -1).T
        return y


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def attention(m, il, x, cos, sin):
    hp, p = m.hp, "blk.%d." % il
    n = x.shape[0]
    qd, kd, vd = hp.n_head * hp.head_dim, hp.n_head_kv * hp.head_dim, hp.n_head_kv * hp.head_dim_v
    if m.f.has(p + "attn_qkv.weight"):
        qkv = m.matmul(p + "attn_qkv.weight", x)
        q, k, v = qkv[:, :qd], qkv[:, qd:qd + kd], qkv[:, qd + kd:qd + kd + vd]
    else:
        q, k, v = (m.matmul(p + "attn_%s.weight" % s, x) for s in "qkv")
    for name, t in (("q", q), ("k", k), ("v", v)):
        b = m.opt(p + "attn_%s.bias" % name)
        if b is not None:
            t += b
    q = q.reshape(n, hp.n_head, hp.head_dim)
    k = k.reshape(n, hp.n_head_kv, hp.head_dim)
    v = v.reshape(n, hp.n_head_kv, hp.head_dim_v)
    qn, kn = m.opt(p + "attn_q_norm.weight"), m.opt(p + "attn_k_norm.weight")
    if qn is not None:
        q = rms_norm(q, qn, hp.eps)
    if kn is not None:
        k = rms_norm(k, kn, hp.eps)
    q, k = rope(q, cos, sin, hp), rope(k, cos, sin, hp)
    # grouped-query attention: query head h reads kv head h // (n_head / n_head_kv)
    rep = hp.n_head // hp.n_head_kv
    k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
    scores = np.einsum("ihd,jhd->hij", q, k) * hp.attn_scale
    if hp.attn_softcap:
        scores = hp.attn_softcap * np.tanh(scores / hp.attn_softcap)
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    allowed = j <= i
    if il in hp.swa_layers:
        allowed &= i - j < hp.window
    scores = np.where(allowed[None], scores, -np.inf)
    scores -= scores.max(axis=-1, keepdims=True)
    w = np.exp(scores)
    w /= w.sum(axis=-1, keepdims=True)
    out = np.einsum("hij,jhd->ihd", w, v).reshape(n, hp.n_head * hp.head_dim_v)
    y = m.matmul(p + "attn_output.weight", out)
    bo = m.opt(p + "attn_output.bias")
    return y + bo if bo is not None else y


def feed_forward(m, il, x):
    hp, p = m.hp, "blk.%d." % il
    if m.f.has(p + "ffn_gate.weight"):
        gate, up = m.matmul(p + "ffn_gate.weight", x), m.matmul(p + "ffn_up.weight", x)
    else:  # phi3: one matrix, gate rows then up rows
        gu = m.matmul(p + "ffn_up.weight", x)
        gate, up = gu[:, :hp.n_ff], gu[:, hp.n_ff:]
    act = gelu_tanh(gate) if hp.act == "gelu_tanh" else silu(gate)
    return m.matmul(p + "ffn_down.weight", act * up)


def rope_factors(m, n_pos):
    """Per-frequency divisors: llama3 files store them in rope_freqs.weight; phi3 LongRoPE
    files store a short and a long set, the long one for sequences past the original context."""
    if m.f.has("rope_freqs.weight"):
        return m.weight("rope_freqs.weight")
    if m.hp.rope_type == "longrope" or m.f.has("rope_factors_short.weight"):
        name = "rope_factors_long.weight" if n_pos > m.hp.rope_orig_ctx else "rope_factors_short.weight"
        return m.opt(name)
    return None


def hidden(m, tokens):
    """The hidden states after the final norm, (n, n_embd)."""
    hp = m.hp
    tokens = np.asarray(tokens, dtype=np.int64)
    embd = m.weight("token_embd.weight")
    if tokens.min() < 0 or tokens.max() >= embd.shape[0]:
        raise SystemExit("forward.py: token id outside the vocabulary of %d" % embd.shape[0])
    x = embd[tokens] * hp.embd_scale  # (n, n_embd)
    cos, sin = rope_angles(hp, rope_factors(m, len(tokens)), len(tokens))
    for il in range(hp.n_layer):
        p = "blk.%d." % il
        h = attention(m, il, rms_norm(x, m.weight(p + "attn_norm.weight"), hp.eps), cos, sin)
        post = m.opt(p + "post_attention_norm.weight")
        x = x + (rms_norm(h, post, hp.eps) if post is not None else h)
        h = feed_forward(m, il, rms_norm(x, m.weight(p + "ffn_norm.weight"), hp.eps))
        post = m.opt(p + "post_ffw_norm.weight")
        x = x + (rms_norm(h, post, hp.eps) if post is not None else h)
    return rms_norm(x, m.weight("output_norm.weight"), hp.eps)


def forward(m, tokens, x=None):
    """Logits (n, n_vocab); x: the hidden states if already computed."""
    hp = m.hp
    if x is None:
        x = hidden(m, tokens)
    logits = m.matmul("token_embd.weight" if m.tied else "output.weight", x)
    if hp.final_softcap:
        logits = hp.final_softcap * np.tanh(logits / hp.final_softcap)
    return logits


POOLING = {"mean": 1, "cls": 2, "last": 3}  # GGUF <arch>.pooling_type numbers


def pool(m, x, pooling, normalize):
    """One vector from the hidden states x (n, n_embd), as embedding models define it."""
    kind = POOLING[pooling] if pooling else int(m.f.kv.get(m.hp.arch + ".pooling_type", 1))
    if kind == 1:
        v = x.mean(axis=0)
    elif kind == 2:
        v = x[0]
    elif kind == 3:
        v = x[-1]
    else:
        raise SystemExit("forward.py: pooling type %d gives no single vector" % kind)
    return v / np.linalg.norm(v) if normalize else v


def write(path, a):
    if path.endswith(".npy"):
        np.save(path, a)
    else:
        a.astype("<f4").tofile(path)


def run_matmuls(model, specs):
    """--matmul NAME:X:Y: Y = NAME @ X with the activation rounding of --act-quant, where X
    holds float32 rows of the tensor's input length; Y gets float32 rows of its output length."""
    for spec in specs:
        name, xpath, ypath = spec.split(":")
        n_in = model.f.tensors[name].ne[0]
        x = np.fromfile(xpath, dtype="<f4").astype(np.float64).reshape(-1, n_in)
        model.matmul(name, x).astype("<f4").tofile(ypath)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("--tokens", help="comma-separated token ids, run from position 0")
    ap.add_argument("--out", help="output: raw float32 (n_tokens x n_vocab), or .npy")
    ap.add_argument("--act-quant", action="store_true", help="round matmul inputs as quantized dot products do")
    ap.add_argument("--out-act", help="also write the logits of a second pass with --act-quant here")
    ap.add_argument("--matmul", action="append", default=[], metavar="NAME:X:Y",
                    help="one matrix product with --act-quant rounding (repeatable); no forward pass")
    ap.add_argument("--out-hidden", help="output: hidden states after the final norm (n_tokens x n_embd)")
    ap.add_argument("--out-embd", help="output: the pooled embedding (n_embd)")
    ap.add_argument("--pooling", choices=sorted(POOLING), help="pooling of --out-embd (default: the file's)")
    ap.add_argument("--no-normalize", action="store_true", help="leave the --out-embd vector unnormalized")
    args = ap.parse_args()
    if args.matmul:
        run_matmuls(Model(args.model, act_quant=True), args.matmul)
        return
    if not args.tokens or not (args.out or args.out_hidden or args.out_embd):
        ap.error("--tokens and one of --out, --out-hidden, --out-embd are needed (or --matmul)")
    tokens = [int(t) for t in args.tokens.split(",") if t.strip()]
    if not tokens:
        raise SystemExit("forward.py: no tokens")
    m = Model(args.model, args.act_quant)
    x = hidden(m, tokens)
    if args.out_hidden:
        write(args.out_hidden, x)
    if args.out_embd:
        write(args.out_embd, pool(m, x, args.pooling, not args.no_normalize))
    if args.out:
        write(args.out, forward(m, tokens, x))
    if args.out_act:
        write(args.out_act, forward(Model(args.model, True), tokens))


if __name__ == "__main__":
    main()
