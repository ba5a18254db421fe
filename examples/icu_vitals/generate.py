"""Deterministic ICU vitals: every patient reports every 5 seconds; some deteriorate.

`readings(patients, minutes)` gives the rows in event-time order, as /inserts-stream takes them.
"""
from __future__ import annotations

import random

START_MS = 1_700_000_040_000  # a minute boundary, so windows line up with the data
PERIOD_MS = 5_000
SEED = 7


def readings(patients: int, minutes: int, seed: int = SEED) -> list[dict]:
    rng = random.Random(seed)
    ids = [f"p-{n:03d}" for n in range(1, patients + 1)]
    # One patient in five deteriorates: oxygen saturation falls and the heart races.
    failing = {pid for n, pid in enumerate(ids) if n % 5 == 2}
    rows = []
    for step in range(minutes * 60_000 // PERIOD_MS):
        for n, pid in enumerate(ids):
            decline = step / 4 if pid in failing else 0.0
            rows.append({
                "PATIENT_ID": pid,
                "TS": START_MS + step * PERIOD_MS + n,  # patients a millisecond apart
                "HEART_RATE": round(rng.gauss(78, 6) + 3 * decline),
                "SPO2": round(min(100.0, rng.gauss(97, 1) - decline), 1),
                "WARD": f"icu-{n % 3 + 1}",
            })
    return rows
