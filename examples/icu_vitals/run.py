"""ICU vitals end to end: start the pipeline as a service, stream generated readings into it
over the REST API, then ask the tables with pull queries.

    python examples/icu_vitals/run.py [--patients 40] [--minutes 5]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from icu_vitals.generate import readings  # noqa: E402
from service import Service, print_table  # noqa: E402

LOW_SPO2 = 90


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--patients", type=int, default=40)
    options.add_argument("--minutes", type=int, default=5)
    options.add_argument("--data-dir", help="keep the log and state here (default: a temp dir)")
    args = options.parse_args()

    rows = readings(args.patients, args.minutes)
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(args.data_dir or Path(scratch) / "data")
        log = Path(scratch) / "service.log"
        service = Service(HERE / "pipeline.sql", data_dir, log, [f"low_spo2={LOW_SPO2}"])
        try:
            print(f"service up on {service.host}:{service.port}; inserting {len(rows)} readings")
            for start in range(0, len(rows), 500):
                service.insert("VITALS", rows[start:start + 500])
            print("waiting for the windows to take in every reading")
            service.wait_for("SELECT READINGS FROM VITALS_PER_MINUTE;",
                             lambda found: sum(r[0] for r in found) == len(rows))

            print(f"\nWindows with at least three SpO2 readings below {LOW_SPO2}:")
            columns, alerts = service.query(
                "SELECT PATIENT_ID, WINDOWSTART, LOW_READINGS, LOWEST_SPO2 FROM SPO2_ALERTS;")
            print_table(columns, sorted(alerts))

            patient = rows[0]["PATIENT_ID"]
            print(f"\nEvery minute of {patient}:")
            columns, minutes = service.query(
                "SELECT WINDOWSTART, READINGS, AVG_HR, MAX_HR, MIN_SPO2 FROM VITALS_PER_MINUTE "
                f"WHERE PATIENT_ID = '{patient}';")
            print_table(columns, sorted(minutes))
        finally:
            code = service.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
