"""gguf_np: a small, independent GGUF (v2/v3) reader with numpy dequantizers.

Written from the format definitions, not from the engine: it shares no code
with src/, so the reference forward pass (forward.py) checks the engine's file
reader and every dequantizer as well as its arithmetic.

    f = GGUFFile("model.gguf")
    f.kv["llama.block_count"]          # metadata: int, float, bool, str or list
    f.tensor("blk.0.attn_q.weight")    # float64 array, shape (ne[1], ne[0]): one row per output

Every dequantizer works on whole arrays of blocks (no per-element Python loop).
Block layouts (little-endian; "f16" is an IEEE half; QK_K = 256):

  F32, F16, BF16   plain elements (BF16: the upper 16 bits of an f32)
  Q4_0   32 elts, 18 B: d f16 | qs[16]: elt j = lo nibble of qs[j], elt j+16 = hi nibble; x = d (q - 8)
  Q4_1   32 elts, 20 B: d f16, m f16 | qs[16] as Q4_0; x = d q + m
  Q5_0   32 elts, 22 B: d f16 | qh u32 (bit j = 5th bit of elt j) | qs[16] as Q4_0; x = d (q - 16)
  Q5_1   32 elts, 24 B: d f16, m f16 | qh u32 | qs[16]; x = d q + m
  Q8_0   32 elts, 34 B: d f16 | qs[32] int8; x = d q
  Q2_K  256 elts, 84 B: scales[16] (lo nibble scale, hi nibble min) | qs[64] | d f16 | dmin f16.
         elt (half n, shift j, l<32) = 2 bits (qs[32n+l] >> 2j) & 3, sub-block 8n+2j+l//16;
         x = d sc q - dmin m
  Q3_K  256 elts, 110 B: hmask[32] | qs[64] | scales[12] (16 signed 6-bit scales, bias 32) | d f16.
         low 2 bits as Q2_K; high bit (hmask[l] >> 4n+j) & 1, and q - 4 when it is clear; x = d sc q
  Q4_K  256 elts, 144 B: d f16, dmin f16 | scales[12] (8 6-bit scales and 8 6-bit mins) | qs[128].
         chunk c of 64: lo nibbles of qs[32c..] are sub-block 2c, hi nibbles 2c+1; x = d sc q - dmin m
  Q5_K  256 elts, 176 B: d, dmin f16 | scales[12] as Q4_K | qh[32] (bit s of qh[l]: 5th bit of
         elt l of sub-block s) | qs[128] as Q4_K
  Q6_K  256 elts, 210 B: ql[128] | qh[64] | scales[16] int8 | d f16. half n, quarter r, l<32:
         lo 4 bits from ql[64n + 32(r%2) + l] (nibble r//2), hi 2 bits (qh[32n+l] >> 2r) & 3;
         x = d sc[e//16] (q - 32)
"""
import struct

import numpy as np

GGUF_MAGIC = 0x46554747  # "GGUF" little-endian

# type id -> (name, elements per block, bytes per block)
TYPES = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 30: ("BF16", 1, 2),
}
TYPE_IDS = {v[0]: k for k, v in TYPES.items()}

# metadata value types
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_NP_SCALARS = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "<u1", 10: "<u8", 11: "<i8",
               12: "<f8"}
_STRING, _ARRAY = 8, 9


class GGUFError(Exception):
    pass


class _Cursor:
    def __init__(self, buf):
        self.buf, self.off = buf, 0

    def take(self, fmt):
        size = struct.calcsize(fmt)
        if self.off + size > len(self.buf):
            raise GGUFError("truncated file at byte %d" % self.off)
        v = struct.unpack_from(fmt, self.buf, self.off)[0]
        self.off += size
        return v

    def string(self):
        n = self.take("<Q")
        if self.off + n > len(self.buf):
            raise GGUFError("string of %d bytes runs past the end at byte %d" % (n, self.off))
        s = bytes(self.buf[self.off:self.off + n]).decode("utf-8", errors="surrogateescape")
        self.off += n
        return s

    def value(self, vtype):
        if vtype in _SCALARS:
            return self.take(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            etype, n = self.take("<I"), self.take("<Q")
            if etype in _NP_SCALARS:
                size = np.dtype(_NP_SCALARS[etype]).itemsize * n
                if self.off + size > len(self.buf):
                    raise GGUFError("array runs past the end at byte %d" % self.off)
                arr = np.frombuffer(self.buf, dtype=_NP_SCALARS[etype], count=n, offset=self.off)
                self.off += size
                return arr.astype(bool) if etype == 7 else arr
            return [self.value(etype) for _ in range(n)]
        raise GGUFError("unknown value type %d at byte %d" % (vtype, self.off))


class Tensor:
    def __init__(self, name, ne, ttype, offset):
        self.name, self.ne, self.type, self.offset = name, ne, ttype, offset

    @property
    def n_elements(self):
        return int(np.prod(self.ne))

    def n_bytes(self):
        _, block, size = TYPES[self.type]
        return self.n_elements // block * size


class GGUFFile:
    def __init__(self, path):
        with open(path, "rb") as fh:
            self.buf = fh.read()
        c = _Cursor(self.buf)
        if c.take("<I") != GGUF_MAGIC:
            raise GGUFError("%s: not a GGUF file" % path)
        self.version = c.take("<I")
        if self.version not in (2, 3):
            raise GGUFError("%s: GGUF version %d is not supported" % (path, self.version))
        n_tensors, n_kv = c.take("<Q"), c.take("<Q")
        self.kv = {}
        for _ in range(n_kv):
            key = c.string()
            self.kv[key] = c.value(c.take("<I"))
        self.tensors = {}
        for _ in range(n_tensors):
            name = c.string()
            n_dims = c.take("<I")
            ne = [c.take("<Q") for _ in range(n_dims)]
            ttype, offset = c.take("<I"), c.take("<Q")
            self.tensors[name] = Tensor(name, ne, ttype, offset)
        align = int(self.kv.get("general.alignment", 32))
        self.data_offset = (c.off + align - 1) // align * align

    def raw(self, name):
        t = self.tensors[name]
        start = self.data_offset + t.offset
        if start + t.n_bytes() > len(self.buf):
            raise GGUFError("tensor %s runs past the end of the file" % name)
        return np.frombuffer(self.buf, dtype=np.uint8, count=t.n_bytes(), offset=start)

    def tensor(self, name):
        """The tensor as float64, shape (ne[-1], ..., ne[0]) (so a matrix is (n_out, n_in))."""
        t = self.tensors[name]
        if t.type not in TYPES:
            raise GGUFError("tensor %s has type %d, which gguf_np cannot dequantize" % (name, t.type))
        flat = dequantize(self.raw(name), t.type, t.n_elements)
        return flat.reshape(list(reversed(t.ne)))

    def has(self, name):
        return name in self.tensors


# ---- dequantizers: blocks (n_blocks, bytes) uint8 -> (n_blocks, block elements) float64

def _f16(b, at):
    return b[:, at:at + 2].copy().view("<f2").astype(np.float64)  # (nb, 1)


def _nibbles(qs):
    return np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int64)


def _bits32(b, at):
    qh = b[:, at:at + 4].copy().view("<u4").astype(np.int64)  # (nb, 1)
    return (qh >> np.arange(32)) & 1  # (nb, 32): bit j of the word


def _q4_0(b):
    return _f16(b, 0) * (_nibbles(b[:, 2:18]) - 8)


def _q4_1(b):
    return _f16(b, 0) * _nibbles(b[:, 4:20]) + _f16(b, 2)


def _q5_0(b):
    return _f16(b, 0) * ((_nibbles(b[:, 6:22]) | (_bits32(b, 2) << 4)) - 16)


def _q5_1(b):
    return _f16(b, 0) * (_nibbles(b[:, 8:24]) | (_bits32(b, 4) << 4)) + _f16(b, 2)


def _q8_0(b):
    return _f16(b, 0) * b[:, 2:34].copy().view(np.int8).astype(np.int64)


def _two_bit_planes(qs):
    """qs (nb, 64) -> (nb, 2, 4, 32): [half n, shift j, l] = (qs[32n + l] >> 2j) & 3."""
    q = qs.reshape(-1, 2, 1, 32).astype(np.int64)
    return (q >> (2 * np.arange(4)).reshape(1, 1, 4, 1)) & 3


def _q2_k(b):
    nb = b.shape[0]
    sc = b[:, 0:16].astype(np.int64).reshape(nb, 2, 4, 2, 1)  # [n, j, l // 16]
    q = _two_bit_planes(b[:, 16:80]).reshape(nb, 2, 4, 2, 16)
    d, dmin = _f16(b, 80).reshape(nb, 1, 1, 1, 1), _f16(b, 82).reshape(nb, 1, 1, 1, 1)
    return (d * (sc & 0xF) * q - dmin * (sc >> 4)).reshape(nb, 256)


def _q3_k_scales(s):
    """s (nb, 12) -> (nb, 16) signed scales: 4 low bits from s[k % 8] (nibble k // 8),
    2 high bits from s[8 + k % 4] (pair k // 4), minus 32."""
    s = s.astype(np.int64)
    k = np.arange(16)
    lo = (s[:, k % 8] >> (4 * (k // 8))) & 0xF
    hi = (s[:, 8 + k % 4] >> (2 * (k // 4))) & 3
    return (lo | (hi << 4)) - 32


def _q3_k(b):
    nb = b.shape[0]
    hmask = b[:, 0:32].astype(np.int64).reshape(nb, 1, 1, 32)
    bit = (4 * np.arange(2).reshape(1, 2, 1, 1) + np.arange(4).reshape(1, 1, 4, 1))  # 4n + j
    high = (hmask >> bit) & 1  # (nb, 2, 4, 32)
    q = _two_bit_planes(b[:, 32:96]) - 4 * (1 - high)
    sc = _q3_k_scales(b[:, 96:108]).reshape(nb, 2, 4, 2, 1)
    d = _f16(b, 108).reshape(nb, 1, 1, 1, 1)
    return (d * sc * q.reshape(nb, 2, 4, 2, 16)).reshape(nb, 256)


def _k4_scales_mins(s):
    """s (nb, 12) -> scales, mins (nb, 8), 6 bits each: sub-blocks 0..3 in the low 6 bits of
    s[0..3] / s[4..7]; 4..7 with their low 4 bits in s[8..11] (scale: lo nibble, min: hi
    nibble) and their top 2 bits in the top of s[0..3] / s[4..7]."""
    s = s.astype(np.int64)
    lo_sc, lo_m = s[:, 0:4] & 63, s[:, 4:8] & 63
    hi_sc = (s[:, 8:12] & 0xF) | ((s[:, 0:4] >> 6) << 4)
    hi_m = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return np.concatenate([lo_sc, hi_sc], axis=1), np.concatenate([lo_m, hi_m], axis=1)


def _k4_nibbles(qs):
    """qs (nb, 128) -> (nb, 8, 32): sub-block 2c = lo nibbles of qs[32c..32c+32], 2c+1 = hi."""
    q = qs.reshape(-1, 4, 1, 32).astype(np.int64)
    return np.concatenate([q & 0xF, q >> 4], axis=2).reshape(-1, 8, 32)


def _q4_k(b):
    nb = b.shape[0]
    d, dmin = _f16(b, 0).reshape(nb, 1, 1), _f16(b, 2).reshape(nb, 1, 1)
    sc, m = _k4_scales_mins(b[:, 4:16])
    q = _k4_nibbles(b[:, 16:144])
    return (d * sc[:, :, None] * q - dmin * m[:, :, None]).reshape(nb, 256)


def _q5_k(b):
    nb = b.shape[0]
    d, dmin = _f16(b, 0).reshape(nb, 1, 1), _f16(b, 2).reshape(nb, 1, 1)
    sc, m = _k4_scales_mins(b[:, 4:16])
    qh = b[:, 16:48].astype(np.int64).reshape(nb, 1, 32)
    high = (qh >> np.arange(8).reshape(1, 8, 1)) & 1  # (nb, 8, 32): bit s for sub-block s
    q = _k4_nibbles(b[:, 48:176]) + 16 * high
    return (d * sc[:, :, None] * q - dmin * m[:, :, None]).reshape(nb, 256)


def _q6_k(b):
    nb = b.shape[0]
    ql = b[:, 0:128].astype(np.int64).reshape(nb, 2, 2, 32)   # [n, which 32, l]
    qh = b[:, 128:192].astype(np.int64).reshape(nb, 2, 1, 32)  # [n, -, l]
    sc = b[:, 192:208].copy().view(np.int8).astype(np.int64).reshape(nb, 16, 1)
    d = _f16(b, 208).reshape(nb, 1, 1)
    r = np.arange(4)
    lo = (ql[:, :, r % 2, :] >> (4 * (r // 2)).reshape(1, 1, 4, 1)) & 0xF  # (nb, 2, 4, 32)
    hi = (qh >> (2 * r).reshape(1, 1, 4, 1)) & 3
    q = (lo | (hi << 4)) - 32
    return (d * sc * q.reshape(nb, 16, 16)).reshape(nb, 256)


_DEQUANT = {
    "Q4_0": _q4_0, "Q4_1": _q4_1, "Q5_0": _q5_0, "Q5_1": _q5_1, "Q8_0": _q8_0,
    "Q2_K": _q2_k, "Q3_K": _q3_k, "Q4_K": _q4_k, "Q5_K": _q5_k, "Q6_K": _q6_k,
}


def bf16_to_f64(u16):
    return (u16.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


def dequantize(raw, ttype, n):
    """raw: uint8 bytes of n elements of type ttype -> float64 (n,)."""
    name, block, size = TYPES[ttype]
    if n % block:
        raise GGUFError("%d elements are not a multiple of the %s block (%d)" % (n, name, block))
    if name == "F32":
        return raw.view("<f4").astype(np.float64)
    if name == "F16":
        return raw.view("<f2").astype(np.float64)
    if name == "BF16":
        return bf16_to_f64(raw.view("<u2"))
    blocks = raw.reshape(n // block, size)
    return _DEQUANT[name](blocks).reshape(n)


def block_mins(raw, ttype, n):
    """The per-block minimum m (f16 at byte 2) of a Q4_1 or Q5_1 tensor of n elements, float64 (n / 32,)."""
    name, block, size = TYPES[ttype]
    if name not in ("Q4_1", "Q5_1"):
        raise GGUFError("%s blocks have no min" % name)
    return _f16(raw.reshape(n // block, size), 2).reshape(-1)
