"""The comma-separated lists Minos carries in message headers: ``related_services`` (the services a saga touched)
and ``transactions`` (the nested transactions a request runs in, innermost last). One place reads and writes them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping


def header_list(headers: Mapping[str, str], name: str) -> list[str]:
    """The non-empty items of the comma-separated header ``name``, in order; empty when the header is missing."""
    return [item for item in (headers.get(name) or "").split(",") if item]


def add_related_services(headers: MutableMapping[str, str], services: Iterable[str]) -> None:
    """Add ``services`` to the ``related_services`` header, which stays sorted and without repeats."""
    headers["related_services"] = ",".join(sorted({*header_list(headers, "related_services"), *services}))


def push_transaction(headers: MutableMapping[str, str], uuid: str) -> None:
    """Append ``uuid`` to the ``transactions`` header: the request runs inside it, nested in the ones before."""
    headers["transactions"] = f"{headers['transactions']},{uuid}" if headers.get("transactions") else uuid


def pop_transaction(headers: MutableMapping[str, str]) -> None:
    """Remove the innermost transaction from the ``transactions`` header, and the header with its last one."""
    if transactions := headers.get("transactions"):
        if remaining := ",".join(transactions.split(",")[:-1]):
            headers["transactions"] = remaining
        else:
            del headers["transactions"]
