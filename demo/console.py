"""What every service of the demo prints, so participants and the orchestrator share no module but this one."""

from __future__ import annotations


def say(service: str, text: str) -> None:
    """Print what a service does, under the messages the bus prints."""
    print(f"      {service:>7} · {text}")


def title(text: str) -> None:
    """Print the heading of a part of the demo."""
    print(f"\n━━ {text} " + "━" * max(0, 74 - len(text)))
