"""minos 0.7's broker messages serialise on every supported Python once minos.saga is imported."""

from __future__ import annotations

from minos.networks import BrokerMessageV1, BrokerMessageV1Payload

import minos.saga  # noqa: F401  (importing the package applies the repair)


def test_message_version_reads_as_an_int_on_class_and_instance():
    message = BrokerMessageV1("topic", BrokerMessageV1Payload("content"))
    assert BrokerMessageV1.version == 1
    assert message.version == 1


def test_message_survives_an_avro_round_trip():
    message = BrokerMessageV1("topic", BrokerMessageV1Payload("content", headers={"saga": "x"}))
    assert BrokerMessageV1.from_avro_bytes(message.avro_bytes) == message
