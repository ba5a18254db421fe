"""Orders CDC end to end: start the pipeline as a service, stream generated change events
into it over the REST API, then look orders and customers up with pull queries.

    python examples/orders_cdc/run.py [--orders 2000] [--customers 50]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from orders_cdc.generate import changes, final_orders  # noqa: E402
from service import Service, print_table  # noqa: E402


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--orders", type=int, default=2000)
    options.add_argument("--customers", type=int, default=50)
    options.add_argument("--data-dir", help="keep the log and state here (default: a temp dir)")
    args = options.parse_args()

    events = changes(args.orders, args.customers)
    last = events[-1]
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = Path(args.data_dir or Path(scratch) / "data")
        service = Service(HERE / "pipeline.sql", data_dir, Path(scratch) / "service.log")
        try:
            print(f"service up on {service.host}:{service.port}; "
                  f"inserting {len(events)} change events")
            for start in range(0, len(events), 500):
                service.insert("ORDER_CHANGES", events[start:start + 500])
            print("waiting for the tables to take in every change")
            service.wait_for(f"SELECT STATUS FROM ORDERS WHERE ORDER_ID = '{last['ORDER_ID']}';",
                             lambda rows: rows == [[last["STATUS"]]])
            expected_orders = len(final_orders(events))
            columns, rows = service.wait_for(
                "SELECT ORDER_ID FROM ORDERS;", lambda rows: len(rows) == expected_orders)
            print(f"{len(rows)} orders in the table")

            print(f"\nOrder {last['ORDER_ID']}:")
            print_table(*service.query(
                f"SELECT * FROM ORDERS WHERE ORDER_ID = '{last['ORDER_ID']}';"))

            print("\nThe five customers with the most open orders:")
            columns, customers = service.query("SELECT * FROM OPEN_ORDERS_PER_CUSTOMER;")
            print_table(columns, sorted(customers, key=lambda row: (-row[1], row[0]))[:5])
        finally:
            code = service.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
