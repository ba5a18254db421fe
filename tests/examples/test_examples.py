"""The README's example pipelines: each runs as its one command, and its tables, read back
after a restart of the service, hold exactly what the generated data says they must."""
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))

from icu_vitals.generate import readings  # noqa: E402
from orders_cdc.generate import changes, final_orders  # noqa: E402
from service import Service  # noqa: E402

MINUTE_MS = 60_000


def run_example(name: str, data_dir: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLES / name / "run.py"), "--data-dir",
                           str(data_dir), *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def restarted(tmp_path):
    """The example's service started again on the data it left behind."""
    services = []

    def start(name: str, *defines: str) -> Service:
        service = Service(EXAMPLES / name / "pipeline.sql", tmp_path / "data",
                          tmp_path / f"{name}.log", defines)
        services.append(service)
        return service

    yield start
    for service in services:
        assert service.stop() == 0


def test_icu_vitals_windows_and_alerts_match_the_readings(tmp_path, restarted):
    patients, minutes = 12, 4
    out = run_example("icu_vitals", tmp_path / "data", "--patients", str(patients),
                      "--minutes", str(minutes))
    assert "Windows with at least three SpO2 readings below 90" in out

    windows = defaultdict(list)
    for row in readings(patients, minutes):
        windows[row["PATIENT_ID"], row["TS"] // MINUTE_MS * MINUTE_MS].append(row)
    expected_minutes = sorted(
        [pid, start, len(rows), max(r["HEART_RATE"] for r in rows), min(r["SPO2"] for r in rows)]
        for (pid, start), rows in windows.items())
    expected_alerts = sorted(
        [pid, start, len(low), min(r["SPO2"] for r in low)]
        for (pid, start), rows in windows.items()
        if len(low := [r for r in rows if r["SPO2"] < 90]) >= 3)
    assert expected_alerts, "the generator must produce some alerts for this test to mean much"

    service = restarted("icu_vitals", "low_spo2=90")
    _, got_minutes = service.query(
        "SELECT PATIENT_ID, WINDOWSTART, READINGS, MAX_HR, MIN_SPO2 FROM VITALS_PER_MINUTE;")
    _, got_alerts = service.query(
        "SELECT PATIENT_ID, WINDOWSTART, LOW_READINGS, LOWEST_SPO2 FROM SPO2_ALERTS;")
    assert sorted(got_minutes) == expected_minutes
    assert sorted(got_alerts) == expected_alerts


def test_orders_cdc_tables_follow_every_change(tmp_path, restarted):
    orders, customers = 400, 12
    out = run_example("orders_cdc", tmp_path / "data", "--orders", str(orders),
                      "--customers", str(customers))
    assert f"{orders} orders in the table" in out

    final = final_orders(changes(orders, customers))
    open_per_customer = defaultdict(lambda: [0, 0.0])
    for order in final.values():
        if order["STATUS"] not in ("SHIPPED", "CANCELLED"):
            open_per_customer[order["CUSTOMER"]][0] += 1
            open_per_customer[order["CUSTOMER"]][1] += order["AMOUNT"]

    service = restarted("orders_cdc")
    _, got_orders = service.query("SELECT ORDER_ID, CUSTOMER, STATUS, AMOUNT FROM ORDERS;")
    assert sorted(got_orders) == sorted(
        [o["ORDER_ID"], o["CUSTOMER"], o["STATUS"], o["AMOUNT"]] for o in final.values())
    _, got_customers = service.query(
        "SELECT CUSTOMER, OPEN_ORDERS, OPEN_AMOUNT FROM OPEN_ORDERS_PER_CUSTOMER;")
    got = {customer: (count, amount) for customer, count, amount in got_customers if count}
    assert got.keys() == open_per_customer.keys()
    for customer, (count, amount) in open_per_customer.items():
        assert got[customer][0] == count
        assert got[customer][1] == pytest.approx(amount)
