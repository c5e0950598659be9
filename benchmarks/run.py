"""The command line: pick workloads, run them, print the table, write JSON."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

from .workloads import WORKLOADS, Settings


def _optional(module: str, install: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        print(f"{module} is not installed ({install}): its comparisons are skipped")
        return None


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("workloads", nargs="*", metavar="WORKLOAD",
                        help=f"which to run (default: all): {', '.join(WORKLOADS)}")
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes and fewer rounds: a check that it runs, not a measure")
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved timing rounds per workload (default 9, quick 3)")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS/OpenMP threads for numpy and PyTorch alike (default 1: on a "
                             "shared 2-core machine a second BLAS thread waits for a busy core)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    args = parser.parse_args(argv)
    unknown = [name for name in args.workloads if name not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload {', '.join(unknown)}: choose from {', '.join(WORKLOADS)}")
    if args.rounds is None:
        args.rounds = 3 if args.quick else 9
    return args


def environment(threads: int, spin_cap: dict, loaded_before_cap: list, torch,
                threadpoolctl) -> dict:
    pools = [] if threadpoolctl is None else [
        {key: pool.get(key) for key in ("internal_api", "prefix", "version", "architecture",
                                        "num_threads")}
        for pool in threadpoolctl.threadpool_info()]
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {_cpu_name()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": getattr(torch, "__version__", None),
        "threads": threads,
        "spin_cap": spin_cap,
        "spin_cap_too_late_for": loaded_before_cap,
        "openblas_env": {name: os.environ.get(name) for name in
                         ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS")},
        "thread_pools": pools,
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def format_table(rows: list[dict]) -> str:
    header = ("workload", "case", "ours", "reference", "theirs", "ratio", "target", "met",
              "cpu ratio")
    lines = []
    for r in rows:
        unit = r["unit"]
        ratio, target = r["ratio"], r["target"]
        target_text = "" if target is None else (f"<= {target:g}x" if r["reference"]
                                                 else f"<= {target:g} {unit}")
        lines.append((
            r["workload"], r["case"], f"{r['ours']:.4g} {unit}", r["reference"] or "",
            "" if r["theirs"] is None else f"{r['theirs']:.4g} {unit}",
            "" if ratio is None else f"{ratio:.2f}x", target_text,
            {True: "yes", False: "NO", None: ""}[r["met"]],
            "" if r["cpu_ratio"] is None else f"{r['cpu_ratio']:.2f}x",
        ))
    widths = [max(len(str(v)) for v in column) for column in zip(header, *lines)]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths)),
           "-|-".join("-" * w for w in widths)]
    out += [" | ".join(str(v).ljust(w) for v, w in zip(line, widths)) for line in lines]
    notes = [f"  {r['workload']} {r['case']}: {r['note']}" for r in rows if r["note"]]
    return "\n".join(out + (["notes:"] + notes if notes else []))


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def main(argv=None, spin_cap: dict | None = None, loaded_before_cap=()) -> int:
    args = parse_args(argv)
    threadpoolctl = _optional("threadpoolctl", "pip install -e '.[bench]'; without it numpy's "
                              "BLAS keeps its default thread count")
    torch = _optional("torch", "pip install torch==2.13.0, or pip install -e '.[bench]'")
    micrograd = _optional("micrograd.engine", "pip install micrograd, or pip install -e '.[bench]'")
    if threadpoolctl is not None:
        threadpoolctl.threadpool_limits(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    env = environment(args.threads, spin_cap or {}, list(loaded_before_cap), torch,
                      threadpoolctl)
    print(f"{env['date']}  {env['machine']}  python {env['python']}  numpy {env['numpy']}  "
          f"torch {env['torch']}  threads {args.threads}")
    print("BLAS/OpenMP spin capped: " + (", ".join(f"{k}={v}" for k, v in env["spin_cap"].items())
                                        or "no (run as python -m benchmarks to cap it)"))
    if loaded_before_cap:
        print(f"  (too late for {', '.join(loaded_before_cap)}, already loaded)")
    print("OpenBLAS environment: " + ", ".join(f"{k}={v}" for k, v in env["openblas_env"].items()))
    for pool in env["thread_pools"]:
        print(f"  thread pool: {pool['internal_api']} {pool['version'] or ''} "
              f"{pool['architecture'] or ''} ({pool['prefix']}), {pool['num_threads']} threads")
    settings = Settings(quick=args.quick, rounds=args.rounds, threads=args.threads, torch=torch,
                        micrograd=micrograd)
    rows = []
    for name in args.workloads or WORKLOADS:
        print(f"running {name} ...", flush=True)
        rows += [row.as_dict() for row in WORKLOADS[name](settings)]
    print()
    print(format_table(rows))
    if args.json:
        _write_atomically(args.json, json.dumps({"environment": env, "quick": args.quick,
                                                 "rounds": args.rounds, "results": rows},
                                                indent=2))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
