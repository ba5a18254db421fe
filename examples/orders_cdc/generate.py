"""Deterministic order change events, as a CDC connector would capture them.

Each order is created, may have its amount corrected, then is paid and shipped or cancelled;
the events of different orders interleave. `final_orders` replays them the way the database
would, so a test can compare the tables with it.
"""
from __future__ import annotations

import random

START_MS = 1_700_000_000_000
SEED = 11


def changes(orders: int, customers: int, seed: int = SEED) -> list[dict]:
    rng = random.Random(seed)
    lifecycles = []
    for n in range(1, orders + 1):
        order_id, customer = f"o-{n:05d}", f"c-{rng.randrange(customers):03d}"
        amount = round(rng.uniform(5, 500), 2)
        steps = [("c", "CREATED", amount)]
        if rng.random() < 0.3:
            steps.append(("u", "CREATED", round(amount * rng.uniform(0.5, 1.5), 2)))
        fate = rng.random()
        if fate < 0.5:
            steps += [("u", "PAID", steps[-1][2]), ("u", "SHIPPED", steps[-1][2])]
        elif fate < 0.7:
            steps.append(("u", "CANCELLED", steps[-1][2]))
        elif fate < 0.85:
            steps.append(("u", "PAID", steps[-1][2]))
        lifecycles.append([(order_id, customer, op, status, value) for op, status, value in steps])

    events, clock = [], START_MS
    pending = [list(reversed(steps)) for steps in lifecycles]
    while pending:
        steps = pending[rng.randrange(len(pending))]
        order_id, customer, op, status, value = steps.pop()
        clock += rng.randrange(1, 50)
        events.append({"ORDER_ID": order_id, "OP": op, "CUSTOMER": customer, "STATUS": status,
                       "AMOUNT": value, "CHANGED_AT": clock})
        pending = [s for s in pending if s]
    return events


def final_orders(events: list[dict]) -> dict[str, dict]:
    """Each order's row after every change is applied."""
    orders = {}
    for event in events:
        orders[event["ORDER_ID"]] = event
    return orders
