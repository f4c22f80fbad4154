"""Bad input gets a clear error naming the problem, and a bad batch inserts nothing."""

import math

import numpy as np
import pytest

from memory.engine import DimensionMismatch, Engine, EngineConfig, EngineError, InvalidArgument, InvalidVector, UnknownId


@pytest.fixture
def eng(rng):
    e = Engine(4)
    e.add(["a", "b"], rng.normal(size=(2, 4)))
    return e


def _unchanged(e, before):
    assert sorted(e.ids()) == before
    assert len(e) == len(before)


@pytest.mark.parametrize("bad, exc, words", [
    (np.zeros(4), InvalidVector, "row 2: zero vector"),
    (np.array([1.0, math.nan, 0, 0]), InvalidVector, "row 2: vector contains NaN"),
    (np.array([1.0, math.inf, 0, 0]), InvalidVector, "row 2: vector contains NaN or Inf"),
])
def test_bad_row_inserts_nothing(eng, rng, bad, exc, words):
    before = eng.row("a")
    stats = eng.stats()
    vecs = rng.normal(size=(4, 4))
    vecs[2] = bad
    with pytest.raises(exc, match=words):
        eng.add(["c", "d", "e", "a"], vecs, importance=[5.0, 6.0, 7.0, 8.0])
    _unchanged(eng, ["a", "b"])
    after = eng.row("a")  # the existing "a" was not replaced
    np.testing.assert_array_equal(after.pop("vector"), before.pop("vector"))
    assert after == before
    # nor did the rejected batch feed the importance reservoir
    assert eng.stats()["importance"] == stats["importance"]


def test_wrong_dimension(eng, rng):
    with pytest.raises(DimensionMismatch, match="dimension 5, engine expects 4"):
        eng.add(["c"], rng.normal(size=(1, 5)))
    with pytest.raises(DimensionMismatch):
        eng.search(rng.normal(size=3), 1)
    with pytest.raises(DimensionMismatch):
        eng.search_batch(rng.normal(size=(2, 3)), 1)
    _unchanged(eng, ["a", "b"])
    assert issubclass(DimensionMismatch, EngineError) and issubclass(DimensionMismatch, ValueError)


@pytest.mark.parametrize("ids, words", [
    (["c", "c"], "row 1: duplicate id 'c'"),
    (["c", ""], "row 1: id must be a non-empty string"),
    (["c", 7], "row 1: id must be a non-empty string"),
])
def test_bad_ids(eng, rng, ids, words):
    with pytest.raises(InvalidArgument, match=words):
        eng.add(ids, rng.normal(size=(2, 4)))
    _unchanged(eng, ["a", "b"])


def test_bad_side_arrays(eng, rng):
    v = rng.normal(size=(2, 4))
    with pytest.raises(InvalidArgument, match="row 1: importance nan"):
        eng.add(["c", "d"], v, importance=[1.0, math.nan])
    with pytest.raises(InvalidArgument, match="one value per id"):
        eng.add(["c", "d"], v, created=[1.0])
    with pytest.raises(InvalidArgument, match="row 0: importance_norm 1.5"):
        eng.add(["c", "d"], v, importance_norm=[1.5, 0.2])
    with pytest.raises(InvalidArgument, match="kinds"):
        eng.add(["c", "d"], v, kinds=[0.5, 1.0])
    with pytest.raises(InvalidArgument, match="2 ids but 3 vectors"):
        eng.add(["c", "d"], rng.normal(size=(3, 4)))
    with pytest.raises(InvalidArgument, match="single string"):
        eng.add("cd", v)
    _unchanged(eng, ["a", "b"])


def test_bad_queries(eng):
    for q, words in ((np.zeros(4), "zero query"), ([1, math.nan, 0, 0], "NaN"), ([[1, 2], [3, 4]], "shape")):
        with pytest.raises(InvalidVector, match=words):
            eng.search(q, 1)
    with pytest.raises(InvalidVector, match="query row 1: zero vector"):
        eng.search_batch(np.array([[1.0, 0, 0, 0], [0, 0, 0, 0]]), 1)
    for k in (0, -1, 1.5, True):
        with pytest.raises(InvalidArgument, match="k must be a positive integer"):
            eng.search([1, 0, 0, 0], k)
    for bad in ((5.0, 1.0), (math.nan, None), 7.0, ("a", "b")):
        with pytest.raises(InvalidArgument, match="created_range"):
            eng.search([1, 0, 0, 0], 1, created_range=bad)
    for bad in ("2", ["x"], [None]):
        with pytest.raises(InvalidArgument, match="kinds"):
            eng.search_batch([[1, 0, 0, 0]], 1, kinds=bad)
    for bad in ("a", 5, [["a"]]):
        with pytest.raises(InvalidArgument, match="allowed_ids"):
            eng.search([1, 0, 0, 0], 1, allowed_ids=bad)
    for now in (math.nan, math.inf, "soon"):
        with pytest.raises(InvalidArgument, match="now"):
            eng.search([1, 0, 0, 0], 1, now=now)


def test_unknown_ids(eng):
    with pytest.raises(UnknownId, match="unknown id 'zz'"):
        eng.row("zz")
    assert isinstance(UnknownId("x"), KeyError)
    assert eng.remove(["zz"]) == 0
    assert eng.touch(["zz"]) == 0


def test_bad_config():
    for kwargs, words in (({"dtype": "int8"}, "dtype"), ({"half_life_s": 0}, "half_life_s"),
                          ({"decay_floor": 2}, "decay_floor"), ({"ann": "annoy"}, "ann"),
                          ({"recall_floor": 1.5}, "recall_floor"), ({"alpha": -1}, "alpha"),
                          ({"gamma2": math.nan}, "gamma2"), ({"gamma4": -0.1}, "gamma4"),
                          ({"retention_half_life_s": 0}, "retention_half_life_s"), ({"block_rows": 8}, "block_rows")):
        with pytest.raises(InvalidArgument, match=words):
            EngineConfig(**kwargs)
    with pytest.raises(InvalidArgument, match="dim"):
        Engine(0)


def test_readd_replaces(eng, rng):
    v = rng.normal(size=4)
    eng.add(["a"], v[None, :], importance=[3.0], kinds=[2], created=[123.0])
    assert len(eng) == 2
    row = eng.row("a")
    np.testing.assert_allclose(row["vector"], v / np.linalg.norm(v), atol=1e-6)
    assert row["kind"] == 2 and row["created"] == 123.0 and row["importance"] == 3.0
    assert [h.id for h in eng.search(v, 1)] == ["a"]


def test_stored_importance_norm_is_kept(rng):
    e = Engine(4)
    res = e.add(["x", "y"], rng.normal(size=(2, 4)), importance=[5.0, 1.0], importance_norm=[0.25, 0.75])
    assert res.importance_norm.tolist() == [0.25, 0.75]
    assert e.row("x")["importance_norm"] == 0.25 and e.row("x")["importance"] == 5.0


def test_huge_finite_vectors_are_normalised(rng):
    e = Engine(4)
    e.add(["big", "tiny"], [[1e200, 1e200, 0, 0], [1e-300, 0, 0, 0]])
    np.testing.assert_allclose(e.row("big")["vector"], [2 ** -0.5, 2 ** -0.5, 0, 0], atol=1e-6)
    np.testing.assert_allclose(e.row("tiny")["vector"], [1, 0, 0, 0], atol=1e-6)
    (hit, _) = e.search(np.array([1e300, 1e300, 0.0, 0.0]), 2)
    assert hit.id == "big" and abs(hit.similarity - 1.0) < 1e-6
