"""SagaRequest, SagaResponse and SagaResponseStatus."""

from __future__ import annotations

from uuid import uuid4

import pytest
from minos.networks import BrokerMessageV1, BrokerMessageV1Payload, BrokerMessageV1Status

from minos.saga import (
    SagaRequest,
    SagaResponse,
    SagaResponseException,
    SagaResponseStatus,
    SagaResponseStatusException,
)


async def test_request():
    request = SagaRequest("Target", {"a": 1})
    assert request.target == "Target"
    assert await request.content() == {"a": 1}
    assert await SagaRequest("T").content() is None
    assert request == SagaRequest("Target", {"a": 1}) and request != SagaRequest("Other", {"a": 1})


async def test_response_defaults():
    response = SagaResponse()
    assert await response.content() is None
    assert response.ok and response.status == SagaResponseStatus.SUCCESS
    assert response.related_services == set()
    assert response.uuid is None


@pytest.mark.parametrize(("status", "ok"), [(200, True), (400, False), (500, False)])
def test_response_status(status, ok):
    response = SagaResponse(status=status)
    assert response.status == SagaResponseStatus(status)
    assert response.ok is ok


def test_response_status_600():
    with pytest.raises(SagaResponseStatusException):
        SagaResponse(status=600)
    with pytest.raises(SagaResponseStatusException):
        SagaResponseStatus.from_raw(600)
    assert SagaResponseStatus.from_raw(400) is SagaResponseStatus.ERROR


async def test_from_message():
    uuid = uuid4()
    headers = {"saga": str(uuid), "related_services": "ticket,payment"}
    message = BrokerMessageV1(
        "orderReply", BrokerMessageV1Payload("c", headers=headers, status=BrokerMessageV1Status.ERROR)
    )
    response = SagaResponse.from_message(message)
    assert await response.content() == "c"
    assert response.uuid == uuid
    assert response.related_services == {"ticket", "payment"}
    assert response.status == SagaResponseStatus.ERROR


def test_from_message_without_headers():
    response = SagaResponse.from_message(BrokerMessageV1("orderReply", BrokerMessageV1Payload("c")))
    assert response.uuid is None and response.related_services == set()


def test_from_message_reads_the_request_identifier_the_dispatcher_echoes():
    request_id = uuid4()
    message = BrokerMessageV1("orderReply", BrokerMessageV1Payload("c"), identifier=request_id)
    assert SagaResponse.from_message(message).request_id == request_id


def test_from_message_with_a_malformed_saga_header():
    message = BrokerMessageV1("orderReply", BrokerMessageV1Payload("c", headers={"saga": "not-a-uuid"}))
    with pytest.raises(SagaResponseException, match="saga"):
        SagaResponse.from_message(message)


def test_equality():
    uuid = uuid4()
    assert SagaResponse("a", {"x"}, 200, uuid) == SagaResponse("a", {"x"}, 200, uuid)
    assert SagaResponse("a", {"x"}, 200, uuid) != SagaResponse("a", {"x"}, 400, uuid)


def test_request_and_response_are_hashable():
    uuid = uuid4()
    assert len({SagaRequest("T", 1), SagaRequest("T", 1), SagaRequest("T", 2)}) == 2
    assert len({SagaResponse("a", {"x"}, 200, uuid), SagaResponse("a", {"x"}, 200, uuid)}) == 1
    assert hash(SagaResponse("a", {"x"}, 200, uuid)) != hash(SagaResponse("a", {"x"}, 400, uuid))
    with pytest.raises(TypeError):
        hash(SagaRequest("T", {"unhashable": "content"}))


def test_response_repr_lists_content_status_related_services_uuid():
    uuid = uuid4()
    assert repr(SagaResponse("a", {"x"}, 400, uuid)) == (
        f"SagaResponse('a', {SagaResponseStatus.ERROR!r}, {{'x'}}, {uuid!r})"
    )
