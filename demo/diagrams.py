"""Write ``docs/demo.md``: the demo's saga definitions rendered with ``saga_to_mermaid``.

uv run python demo/diagrams.py   # run by ``make docs``
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", category=UserWarning, module="aiomisc.*")

from demo.sagas import CREATE_ORDER, FRAUD_CHECK  # noqa: E402
from minos.saga import saga_to_mermaid  # noqa: E402

PAGE = """# The demo's sagas

`make demo` runs three services in one process: **order** orchestrates, **stock** and **payment** take part.
The diagrams below are generated from the definitions in `demo/sagas.py` by
[`saga_to_mermaid`](api.md#minos.saga.definitions.saga_to_mermaid) every time `make docs` runs.

Solid arrows are the normal flow; a dashed arrow leaves every step that has a compensation (`on_failure`),
and dashed arrows then go *back* through the compensations in the order `rollback()` runs them.

## `CREATE_ORDER`

Hold the stock, check for fraud unless the customer is premium (a conditional step), charge, confirm.

```mermaid
{create_order}```

## `FRAUD_CHECK` (the `else_then` branch on its own)

```mermaid
{fraud_check}```

## What the demo shows

1. **Happy path**: every step succeeds, the saga finishes and the two-phase commit makes the stock hold and the
   pending charge final (`_Reserve…`, `_Commit…Transaction`).
2. **Payment refused**: `ChargePayment` answers 400, `payment_refused` returns an exception, the saga rolls back:
   `release_stock` is sent to stock, `cancel_order` runs locally, and every participant gets `_Reject…Transaction`.
3. **Conditional branch**: a premium customer takes the `if_then(is_premium, ...)` branch and skips the fraud check.
4. **Restart**: with the stock service down, the saga pauses on `reserve_stock` and is stored; the order service
   is stopped and a new `SagaManager` over a new repository object reading the same storage takes over; when stock
   comes back, its reply reaches the new `SagaService`, which loads the execution and finishes it.

5. **Duplicate delivery**: the broker delivers `ReserveStock`, `CheckFraud` and `ChargePayment` twice. The
   participants' handlers are [`@idempotent`](participants.md): the second delivery does not run them (no second
   hold, no second charge) and is answered with the recorded reply, which the saga, already past that step, ignores.
6. **Timeout**: `charge_payment` declares `.timeout(30).retry(RetryPolicy(maximum_attempts=2, ...))` and the broker
   loses `ChargePayment`. The demo moves the manager's clock (an injectable `SagaClock`) past the timeout and runs
   the recovery loop (`recover()`): the request is sent again with the same identity; once more, and with no
   attempt left the step fails with `SagaStepTimeoutException` and the saga compensates (stock released, order
   cancelled, transaction rejected). See [Timeouts and retries](timeouts.md).

The participants keep their state (stock on hand and holds, balances and pending charges) in a PostgreSQL database
created for the run, and do their work through `participant_cursor()`, so it commits with the record of the request.
`make demo` runs on a throwaway server, or on the one the usual `PG*` variables name.

It ends with `4 sagas finished, 2 compensated` and exits 1 if any outcome differs from the expected one.
`make demo-postgres` also stores the sagas in PostgreSQL (`uv run python demo/run.py --postgres` uses the `PG*`
variables directly).
"""


def main() -> None:
    target = ROOT / "docs" / "demo.md"
    target.write_text(
        PAGE.replace("{create_order}", saga_to_mermaid(CREATE_ORDER)).replace(
            "{fraud_check}", saga_to_mermaid(FRAUD_CHECK)
        )
    )
    print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
