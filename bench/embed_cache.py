"""An on-disk cache of local embeddings for the benchmarks (keyed by the text's sha1).

Embedding SciFact's 5,183 abstracts with numpy on two cores takes minutes; the cache makes
every later run of bench/retrieval.py quick. Delete .naestro/cache/ to recompute.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from activities.memory.minilm import MiniLM

CACHE = Path(".naestro/cache/minilm-embeddings.npz")


def _key(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def embed_cached(texts: list[str], path: Path = CACHE, step: int = 512) -> NDArray[np.float32]:
    known: dict[str, NDArray[np.float32]] = {}
    if path.exists():
        data = np.load(path)
        known = dict(zip(data["keys"].tolist(), data["vecs"], strict=True))
    missing = sorted({t for t in texts if _key(t) not in known}, key=len)
    model = MiniLM()
    for start in range(0, len(missing), step):
        part = missing[start : start + step]
        for text, vec in zip(part, model.encode(part), strict=True):
            known[_key(text)] = vec
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, keys=np.array(list(known)), vecs=np.stack(list(known.values())))
    return np.stack([known[_key(t)] for t in texts]).astype(np.float32)
