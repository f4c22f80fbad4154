"""Guessing the /metrics token is throttled per client address, like the API's failed auth."""

from tests.service.conftest import TOKENS, auth


def test_failed_metrics_authentication_is_throttled(make_running):
    app = make_running(tokens=TOKENS, metrics_token="scrape-secret-1", auth_fail_limit="3/minute")
    c = app.client
    for guess in ("guess-1", "guess-2", "guess-3"):
        assert c.get("/metrics", headers=auth(guess)).status_code == 401
    # past the limit: 429 with Retry-After, even for the right token (not compared any more)
    r = c.get("/metrics", headers=auth("guess-4"))
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) >= 1
    assert c.get("/metrics", headers=auth("scrape-secret-1")).status_code == 429
    # the API's own buckets are untouched by the scraper's failures
    assert c.get("/v1/stats", headers=auth("tok-alpha-admin")).status_code == 200


def test_right_metrics_token_does_not_count_as_a_failure(make_running):
    app = make_running(tokens=TOKENS, metrics_token="scrape-secret-1", auth_fail_limit="2/minute")
    for _ in range(5):
        assert app.client.get("/metrics", headers=auth("scrape-secret-1")).status_code == 200
