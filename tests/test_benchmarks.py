"""The benchmark command runs and reports what it promises (speed itself is never asserted)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_op_overhead_writes_table_and_json(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--rounds", "1", "--json", str(out),
         "op_overhead"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert "BLAS/OpenMP spin capped: OPENBLAS_THREAD_TIMEOUT=" in done.stdout
    assert "op_overhead" in done.stdout.split("workload", 1)[1]  # the table, after its header
    report = json.loads(out.read_text())
    assert report["quick"] is True
    assert report["environment"]["spin_cap"]["GOMP_SPINCOUNT"] == "0"
    rows = report["results"]
    assert rows and {row["workload"] for row in rows} == {"op_overhead"}
    for row in rows:
        assert {"case", "unit", "ours", "reference", "theirs", "ratio", "target", "met"} <= set(row)
        assert row["unit"] == "us/op" and row["ours"] > 0
        if row["theirs"] is not None:
            assert row["theirs"] > 0 and row["ratio"] > 0


def test_the_scalar_demo_collector_profile_reports_each_generation():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.scalar_demo", "collector", "ours", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    forward, step = done.stdout.splitlines()
    assert forward.startswith("ours: one forward adds ") and "tracked objects" in forward
    assert int(forward.split()[4].replace(",", "")) > 0
    assert "ms per step with gc on" in step
    assert all(f"generation {g}: " in step for g in range(3))


def test_the_scalar_demo_command_names_its_usage_on_bad_arguments():
    for args in (["collector", "nobody"], ["collector", "ours", "many"], ["profile", "ours"]):
        done = subprocess.run([sys.executable, "-m", "benchmarks.scalar_demo", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1
        assert ("usage: python -m benchmarks.scalar_demo worker|collector ours|micrograd "
                "[steps]") in done.stderr


def test_unknown_workload_is_a_clear_error():
    done = subprocess.run([sys.executable, "-m", "benchmarks", "no_such_workload"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "unknown workload no_such_workload" in done.stderr


def test_interleaved_rounds_never_run_a_contender_twice_in_a_row():
    from benchmarks.timing import interleaved

    calls = []
    contenders = {name: (lambda name=name: calls.append(name)) for name in "ABC"}
    interleaved(contenders, rounds=6, warmup=0)
    assert all(a != b for a, b in zip(calls, calls[1:])), calls
    assert sorted(calls) == sorted("ABC" * 6)
    calls.clear()
    interleaved({"A": contenders["A"], "B": contenders["B"]}, rounds=4, warmup=0)
    assert "".join(calls) == "ABABABAB"
