"""Every shortcut minos.saga takes through minos internals, and a check that they still hold.

The engine's hot paths skip work minos' public API would repeat on values the engine produced itself:

- a minos ``Field`` built through its constructor runs the type decoder over its value; ``unchecked_field`` fills
  the five slots of a ``Field`` (``_name``, ``_type``, ``_value``, ``_parser``, ``_validator``) directly;
- a declarative model built through its constructor decodes every field; ``build_model`` gives an instance the
  state ``Model.__init__`` gives it, with unchecked fields typed as the class declares them (its private
  ``_type_hints()``) in ``_fields``, where ``Model`` keeps and reads them (and where ``SagaContext`` builds its
  fields on demand);
- ``BrokerPublisher.send`` formats ``repr(message)`` for a debug line on its module's logger, then hands the message
  to ``_send``; ``publish`` calls ``_send`` itself when nothing would see that line;
- ``Inject.resolve_by_name(name)`` calls ``container.providers[name]()`` on the container wired into it; wiring a
  container also lists dependency_injector's provider of the container itself under ``__self__``, so
  ``injection_resolver`` resolves that container once and then calls its providers itself (without that provider it
  resolves name by name, as before).

``unmet_assumptions()`` runs each shortcut against the installed minos and describes every difference from what it
relies on; the test suite asserts it finds none, so a minos release that changes these internals fails the tests
loudly instead of producing subtly different messages.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import Any, Callable, NamedTuple, TypeVar
from uuid import UUID

from dependency_injector import containers, providers
from minos.common import DeclarativeModel, Field, Inject, Model, NotProvidedException
from minos.networks import BrokerMessage, BrokerMessageV1, BrokerMessageV1Payload, BrokerPublisher

M = TypeVar("M", bound=DeclarativeModel)

_IMMUTABLE = (bool, int, float, str, bytes, type(None))
FIELD_SLOTS = ("_name", "_type", "_value", "_parser", "_validator")
_PUBLISHER_LOGGER = logging.getLogger(BrokerPublisher.__module__)  # the logger ``BrokerPublisher.send`` writes to


def unchecked_field(name: str, type_: Any, value: Any) -> Field:
    """A ``Field`` holding ``value`` as given: no type decoding, no parser, no validator."""
    field = Field.__new__(Field)
    field._name, field._type, field._value = name, type_, value
    field._parser = field._validator = None
    return field


class _ModelLayout(NamedTuple):
    types: dict[str, Any]  # the declared field names and types
    state: dict[str, Any]  # what ``Model.__init__`` sets on an instance besides its fields


_LAYOUTS: dict[type, _ModelLayout] = {}


def _layout(model_cls: type[DeclarativeModel]) -> _ModelLayout:
    """The layout of ``model_cls``'s instances, read once per class."""
    if (layout := _LAYOUTS.get(model_cls)) is None:
        probe = object.__new__(model_cls)
        Model.__init__(probe, {})
        state = {name: value for name, value in vars(probe).items() if name != "_fields"}
        layout = _LAYOUTS[model_cls] = _ModelLayout(dict(model_cls._type_hints()), state)
    return layout


def build_model(model_cls: type[M], **values: Any) -> M:
    """An instance of the declarative ``model_cls`` holding ``values`` (one per declared field) without decoding them:
    equal to, and serialised like, ``model_cls(**values)`` when the values already have the declared types."""
    types, state = _layout(model_cls)
    model = object.__new__(model_cls)
    vars(model).update(
        state, _fields={name: unchecked_field(name, type_, values[name]) for name, type_ in types.items()}
    )
    return model


async def publish(publisher: BrokerPublisher, message: BrokerMessage) -> None:
    """Send ``message`` through ``publisher``, without formatting minos' debug line when nothing would show it.

    The repr that ``BrokerPublisher.send`` formats costs as much as building the message. So when the publisher keeps
    minos' ``send`` and its logger would drop the line, the message goes to ``_send`` directly; otherwise (debug
    logging on, or a publisher with its own ``send``) through ``send`` as usual."""
    if getattr(publisher.send, "__func__", None) is BrokerPublisher.send and not _PUBLISHER_LOGGER.isEnabledFor(
        logging.DEBUG
    ):
        await publisher._send(message)
    else:
        await publisher.send(message)


def injection_resolver() -> Callable[[str], Any]:
    """What ``Inject.resolve_by_name`` gives for each name, from the container wired now.

    Each call of ``Inject.resolve_by_name`` resolves the wired container again through dependency_injector's wiring,
    which costs ten times as much as asking the container's provider: a run that needs several injections resolves
    the container once, here. A name the container lacks or cannot provide goes through ``Inject.resolve_by_name``,
    which raises what minos raises for it."""
    try:
        container = Inject.resolve_by_name(_CONTAINER_ITSELF)
    except NotProvidedException:
        container = None
    if not isinstance(container, containers.Container):  # nothing wired, or not listed: the public way, by name
        return Inject.resolve_by_name

    def resolve(name: str) -> Any:
        try:
            return container.providers[name]()
        except Exception:
            return Inject.resolve_by_name(name)

    return resolve


_CONTAINER_ITSELF = "__self__"


def unmet_assumptions() -> list[str]:
    """What the installed minos does differently from what the shortcuts above rely on (empty when nothing)."""
    checks = (_field_problem, _model_problem, _publisher_problem, _injection_problem)
    return [problem for check in checks if (problem := check())]


def _field_problem() -> str | None:
    if tuple(getattr(Field, "__slots__", ())) != FIELD_SLOTS:
        return f"minos Field's slots are {getattr(Field, '__slots__', None)!r}, unchecked_field fills {FIELD_SLOTS!r}"
    if tuple(unchecked_field("a", int, 1)) != tuple(Field("a", int, 1)):
        return "an unchecked Field differs from Field('a', int, 1) (name, type, value, parser or validator)"
    return None


def _model_problem() -> str | None:
    identifier = UUID(int=1)
    payload = BrokerMessageV1Payload({"a": 1}, headers={"h": "v"})
    expected = BrokerMessageV1("topic", payload, identifier=identifier, reply_topic="reply")
    try:
        built = build_model(
            BrokerMessageV1,
            topic="topic",
            identifier=identifier,
            reply_topic="reply",
            strategy=expected.strategy,
            payload=build_model(BrokerMessageV1Payload, content={"a": 1}, status=payload.status, headers={"h": "v"}),
        )
    except (AttributeError, KeyError, TypeError) as exc:
        return f"build_model cannot build a BrokerMessageV1 from its declared fields ({exc!r})"
    for ours, theirs in ((built, expected), (built.payload, expected.payload)):
        state = {name: value for name, value in vars(theirs).items() if name != "_fields"}
        if vars(ours).keys() != vars(theirs).keys() or _layout(type(theirs)).state != state:
            return f"minos models hold {vars(theirs)!r}, build_model gives them {vars(ours)!r}"
        if not all(isinstance(value, _IMMUTABLE) for value in state.values()):
            return f"minos models hold mutable state besides their fields, which build_model would share: {state!r}"
    if built != expected or BrokerMessageV1.from_avro_bytes(built.avro_bytes) != expected:
        return "a BrokerMessageV1 from build_model differs from the one its constructor builds, or serialises otherwise"
    fields = {"content": unchecked_field("content", Any, 1)}
    model = object.__new__(BrokerMessageV1Payload)
    Model.__init__(model, fields)
    if vars(model).get("_fields") is not fields or model.fields is not fields:
        return "Model.__init__ no longer keeps its fields in _fields behind the fields property (SagaContext's)"
    return None


def _publisher_problem() -> str | None:
    message = BrokerMessageV1("topic", BrokerMessageV1Payload("content"))
    sent: list[BrokerMessage] = []
    logged: list[str] = []

    class Probe(BrokerPublisher):
        async def _send(self, message: BrokerMessage) -> None:
            sent.append(message)

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(record.getMessage())

    recorder, level = Recorder(logging.DEBUG), _PUBLISHER_LOGGER.level
    _PUBLISHER_LOGGER.addHandler(recorder)
    _PUBLISHER_LOGGER.setLevel(logging.DEBUG)
    try:
        completed = _completes_without_suspending(Probe().send(message))
    finally:
        _PUBLISHER_LOGGER.removeHandler(recorder)
        _PUBLISHER_LOGGER.setLevel(level)
    if not completed or sent != [message] or not any(repr(message) in line for line in logged):
        return f"BrokerPublisher.send no longer logs the message on {_PUBLISHER_LOGGER.name!r} and hands it to _send"
    return None


def _injection_problem() -> str | None:
    # The container is passed explicitly: dependency_injector then injects nothing, so the wired one stays untouched.
    answer = object()
    container = containers.DynamicContainer()
    container.set_provider("answer", providers.Object(answer))
    if Inject.resolve_by_name("answer", container=container) is not answer:
        return "Inject.resolve_by_name(name) no longer calls the provider of that name of the container it is given"
    if container.__self__() is not container:
        return "a dependency_injector container's __self__ provider no longer gives the container"
    return None


def _completes_without_suspending(coroutine: Coroutine[Any, Any, Any]) -> bool:
    """Run ``coroutine`` until it first waits, inside a running event loop too; whether it finished by then."""
    try:
        coroutine.send(None)
    except StopIteration:
        return True
    coroutine.close()
    return False
