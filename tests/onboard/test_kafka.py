"""`inv kafka.topics` against the Tansu broker (a real Kafka-protocol server)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from confluent_kafka.admin import AdminClient, NewTopic

from tasks.onboard import kafka_ops
from tasks.onboard.spec import OnboardSpec
from tests.onboard.cli import inv

pytestmark = pytest.mark.kafka


def _admin(broker) -> AdminClient:
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def _create(broker, name, partitions, replication=1, config=None):
    admin = _admin(broker)  # kept alive until the futures resolve
    futures = admin.create_topics([NewTopic(name, partitions, replication, config=config or {})])
    for fut in futures.values():
        fut.result(timeout=15)


def _state(broker, ns, mode="dev"):
    admin = _admin(broker)
    return {t.name: kafka_ops.describe(admin, t)
            for t in kafka_ops.topics_for(OnboardSpec(ns, mode=mode))}


def test_topics_twice_creates_then_reports_all_set(kafka_env):
    code, out = inv("kafka.topics", "--ns", "kt01")
    assert code == 0, out
    assert "done create topic kt01.events" in out and "done create topic kt01.events.dlq" in out
    for name, state in _state(kafka_env, "kt01").items():
        assert (state.exists, state.partitions, state.replication) == (True, 6, 1), name
        assert state.config == {"retention.ms": "259200000"}, name
    code, out = inv("kafka.topics", "--ns", "kt01")
    assert code == 0, out
    assert "all set" in out and "no drift" in out and "done " not in out


def test_drift_is_reported_and_partitions_never_shrink(kafka_env):
    _create(kafka_env, "kt02.events", 8, config={"retention.ms": "1000"})
    code, out = inv("kafka.topics", "--ns", "kt02")
    assert code == 0, out
    assert "kt02.events: 8 partitions > 6 wanted; left alone" in out
    assert "kt02.events: retention.ms='1000', wanted '259200000'; will set it" in out
    state = _state(kafka_env, "kt02")
    assert state["kt02.events"].partitions == 8
    assert state["kt02.events"].config == {"retention.ms": "259200000"}
    assert state["kt02.events.dlq"].partitions == 6
    code, out = inv("kafka.topics", "--ns", "kt02")
    assert code == 0 and "all set" in out
    assert "8 partitions > 6 wanted" in out  # still reported, still left alone


def test_replication_drift_is_reported_not_changed(kafka_env):
    _create(kafka_env, "kt03.events", 6, replication=3, config={"retention.ms": "259200000"})
    code, out = inv("kafka.topics", "--ns", "kt03", "--mode", "dev")
    assert code == 0, out
    assert "kt03.events: replication factor 3 != 1; needs a partition reassignment" in out
    assert _state(kafka_env, "kt03")["kt03.events"].replication == 3


def test_too_few_partitions_are_grown_or_the_broker_says_why(kafka_env):
    _create(kafka_env, "kt04.events", 3, config={"retention.ms": "259200000"})
    code, out = inv("kafka.topics", "--ns", "kt04")
    assert "kt04.events: 3 partitions < 6; will add partitions" in out
    partitions = _state(kafka_env, "kt04")["kt04.events"].partitions
    if code == 0:
        assert partitions == 6
    else:
        # Tansu 0.6 does not implement CreatePartitions: the step fails by name with the
        # broker's reason, and the topic keeps what it had.
        assert "add partitions to kt04.events" in out and "CreatePartitions" in out
        assert partitions == 3


def test_staging_mode_asks_for_three_replicas_with_validate_only_under_dry(kafka_env):
    # Under --dry the create request goes out with validate_only=True. (Tansu 0.6 ignores
    # that flag and creates the topic anyway, so the broker's state is not asserted here.)
    code, out = inv("--dry", "kafka.topics", "--ns", "kt05", "--mode", "staging")
    assert code == 0, out
    assert "dry run" in out
    table = "".join(ch for ch in out if ch not in "│ \n")  # undo the table's wrapping
    assert "createtopickt05.events" in table and "replication=3" in table
    assert table.count("validate_only=True") == 2


def test_no_broker_configured_is_a_clear_error():
    code, out = inv("kafka.topics", "--ns", "kt06")
    assert code == 1 and "SOMA_ONBOARD_KAFKA_BOOTSTRAP" in out


SASL = {"bootstrap": "k:9092", "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "user1", "ssl_ca_location": "/etc/ssl/kafka-ca.pem", "secret": "",
        "secret_key": "password"}


def test_sasl_and_tls_settings_reach_the_client_config():
    conf = kafka_ops.client_config(SASL, {"SOMA_KAFKA_SASL_PASSWORD": "pw-from-env"})
    assert conf == {"bootstrap.servers": "k:9092", "socket.timeout.ms": 10000,
                    "security.protocol": "SASL_SSL", "ssl.ca.location": "/etc/ssl/kafka-ca.pem",
                    "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "user1",
                    "sasl.password": "pw-from-env"}
    plain = kafka_ops.client_config({"bootstrap": "k:9092"}, {"SOMA_KAFKA_SASL_PASSWORD": "x"})
    assert plain["security.protocol"] == "PLAINTEXT" and "sasl.password" not in plain


def test_a_secret_gives_the_password_when_the_environment_does_not():
    asked = []

    def read_secret(ref, key):
        asked.append((ref, key))
        return "pw-from-secret\n"

    conf = kafka_ops.client_config({**SASL, "secret": "soma-infra/soma-admin"}, {}, read_secret)
    assert conf["sasl.password"] == "pw-from-secret"  # Strimzi's `password` key: one password
    assert conf["sasl.username"] == "user1"  # a configured username wins
    assert asked == [("soma-infra/soma-admin", "password")]


def test_a_strimzi_user_secret_names_the_user():
    """Strimzi names a KafkaUser's Secret after the user: with no sasl_username, the Secret's
    name is the SCRAM username, and SCRAM-SHA-512 (Strimzi's mechanism) is the default."""
    settings = {"bootstrap": "k:9092", "security_protocol": "SASL_PLAINTEXT", "secret": "soma-infra/soma-admin"}
    conf = kafka_ops.client_config(settings, {}, lambda ref, key: "pw")
    assert (conf["sasl.username"], conf["sasl.password"], conf["sasl.mechanism"]) == ("soma-admin", "pw", "SCRAM-SHA-512")
    conf = kafka_ops.client_config({**settings, "secret": "soma-admin"}, {"SOMA_KAFKA_SASL_PASSWORD": "env"})
    assert (conf["sasl.username"], conf["sasl.password"]) == ("soma-admin", "env")


JAAS = ('org.apache.kafka.common.security.scram.ScramLoginModule required username="soma-admin" '
        'password="p@ss \\"quoted\\" w0rd";')


def test_the_sasl_jaas_config_key_gives_username_and_password():
    settings = {"bootstrap": "k:9092", "security_protocol": "SASL_PLAINTEXT", "secret": "soma-infra/creds",
                "secret_key": "sasl.jaas.config"}
    conf = kafka_ops.client_config(settings, {}, lambda ref, key: JAAS)
    assert conf["sasl.username"] == "soma-admin"
    assert conf["sasl.password"] == 'p@ss \\"quoted\\" w0rd'


@given(st.text(min_size=1).filter(lambda t: "username=" not in t or "password=" not in t))
@settings(max_examples=50, deadline=None)
def test_a_jaas_line_without_both_fields_is_a_clear_error_that_shows_nothing(text):
    from tasks.onboard.errors import TopicError
    with pytest.raises(TopicError) as caught:
        kafka_ops.jaas_credentials(text)
    assert str(caught.value) == "the Secret's sasl.jaas.config holds no username and password"


@pytest.mark.parametrize("settings, message", [
    ({**SASL, "sasl_username": ""}, "needs soma.onboard.kafka.sasl_username"),
    (SASL, "needs a SASL password: set SOMA_KAFKA_SASL_PASSWORD"),
])
def test_incomplete_sasl_settings_are_clear_errors(settings, message):
    from tasks.onboard.errors import TopicError
    with pytest.raises(TopicError, match=message):
        kafka_ops.client_config(settings, {})


def test_sasl_settings_reach_the_real_broker_and_the_password_stays_hidden(kafka_env, monkeypatch):
    """Tansu here speaks PLAINTEXT only: a client configured for SASL must fail its handshake
    (proof the settings reached librdkafka), with one clear line and no password in it."""
    monkeypatch.setenv("SOMA_ONBOARD_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("SOMA_ONBOARD_KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("SOMA_ONBOARD_KAFKA_SASL_USERNAME", "user1")
    monkeypatch.setenv("SOMA_KAFKA_SASL_PASSWORD", "sasl-s3cret-pw")
    code, out = inv("kafka.topics", "-n", "kt07")
    assert code == 1, out
    assert "kafka.topics:" in out and "sasl-s3cret-pw" not in out
    assert "Traceback" not in out


def test_topic_state_rules():
    spec = kafka_ops.TopicSpec("x.events", 6, 3, {"retention.ms": "259200000"})
    fewer = kafka_ops.TopicState(spec, True, 4, 3, {"retention.ms": "259200000"})
    more = kafka_ops.TopicState(spec, True, 9, 3, {"retention.ms": "259200000"})
    absent = kafka_ops.TopicState(spec)
    assert fewer.grow_to == 6 and more.grow_to is None and absent.grow_to is None
    assert absent.drift == [] and absent.config_changes == {}
    assert more.drift == ["x.events: 9 partitions > 6 wanted; left alone (partitions are "
                          "never reduced)"]
