"""The text workload's corpus and cache: docstring paragraphs of installed code, embedded by
the packaged MiniLM weights (real model, tiny corpus), resumable and read back unchanged."""

import json

import numpy as np

from memory.bench.textdata import TextEmbeddings, extract


def write_package(root, n):
    pkg = root / "pkg"
    pkg.mkdir()
    body = ['"""Module docstring about caching vectors for the agent memory service."""']
    for i in range(n):
        body.append(f'def f{i}():\n    """Return the {i}th element of the sorted index, or raise KeyError when missing.\n\n'
                    f'    Short.\n    """\n')
    (pkg / "mod.py").write_text("\n".join(body))
    (pkg / "broken.py").write_text("def (:\n")  # unparsable files are skipped


def test_extract_keeps_long_enough_unique_paragraphs(tmp_path):
    write_package(tmp_path, 20)
    texts = extract(limit=100, root=tmp_path, log=lambda s: None)
    assert len(texts) == 21 and len(set(texts)) == 21  # "Short." is too short; every docstring once
    assert sorted(texts) == sorted(extract(limit=100, root=tmp_path, log=lambda s: None))  # deterministic
    assert extract(limit=100, root=tmp_path, log=lambda s: None) == texts


def test_minilm_embeddings_are_cached_and_resumed(tmp_path):
    (tmp_path / "src").mkdir()
    write_package(tmp_path / "src", 7)
    logs = []
    data = TextEmbeddings(cache=tmp_path / "cache", log=logs.append, source=tmp_path / "src", query_pool=3)
    assert data.available_rows == 5
    q, rows = data.queries(3), data.rows(5)
    assert q.shape == (3, 384) and rows.shape == (5, 384)
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    assert any("embedded" in s for s in logs)
    index = json.loads((tmp_path / "cache" / "current.json").read_text())
    assert index["paragraphs"] == 8
    logs.clear()
    again = TextEmbeddings(cache=tmp_path / "cache", log=logs.append, query_pool=3)  # no source: the cache
    np.testing.assert_array_equal(again.rows(5), rows)
    assert not logs  # read back, nothing embedded again
