"""The DBOS Transact side of `cargo xtask bench engine` (docs/benchmarks.md): the workloads of
durable-postgres's `postgres_throughput` example, written as a new DBOS user would, on a
database of its own on the same PostgreSQL server. Prints the same JSON line.

Tested with dbos 3.4.0 (`pip install dbos==3.4.0`).

- sequential: `--orchestrations N --activities K`: N workflows started with
  `DBOS.start_workflow`, each calling the step `inc` K times in a row.
- fan_out: `--orchestrations 1 --activities K --fan-out`: one workflow starts K child
  workflows that each call `inc` once (DBOS runs steps in parallel only as workflows) and
  joins them. With `--queue` it enqueues them on a queue instead, as DBOS's documentation
  shows fan-out: slower here (17 against 34 steps/s for K = 200 on a loaded machine), so the
  benchmark compares with the direct start.

The system database (`--database`, default ocfl_bench_dbos) is dropped and created afresh,
so the role of `--url` needs CREATEDB.

usage: python dbos_driver.py --url URL --orchestrations N --activities K [--fan-out]
       [--runs R] [--database NAME] [--queue]
"""
import argparse
import json
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import psycopg
from dbos import DBOS, DBOSConfig


def database_url(url, name):
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def recreate(url, name):
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def peak_rss_bytes():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def percentile(values, fraction):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, round((len(values) - 1) * fraction))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--orchestrations", type=int, default=1)
    parser.add_argument("--activities", type=int, default=1)
    parser.add_argument("--fan-out", action="store_true")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--database", default="ocfl_bench_dbos")
    parser.add_argument("--queue", action="store_true")
    options = parser.parse_args()

    recreate(options.url, options.database)
    config: DBOSConfig = {
        "name": "ocfl-bench",
        "system_database_url": database_url(options.url, options.database),
        "log_level": "ERROR",
    }
    DBOS(config=config)
    queue = None

    @DBOS.step()
    def inc(n: int) -> int:
        return n + 1

    @DBOS.workflow()
    def sequence(k: int) -> int:
        value = 0
        for _ in range(k):
            value = inc(value)
        return value

    @DBOS.workflow()
    def one(n: int) -> int:
        return inc(n)

    @DBOS.workflow()
    def fan_out(k: int) -> int:
        if options.queue:
            handles = [queue.enqueue(one, n) for n in range(k)]
        else:
            handles = [DBOS.start_workflow(one, n) for n in range(k)]
        return sum(handle.get_result() for handle in handles)

    DBOS.launch()
    # Queues are registered in the system database: after launch.
    queue = DBOS.register_queue("fan_out")
    k = options.activities
    want = k * (k + 1) // 2 if options.fan_out else k
    workflow = fan_out if options.fan_out else sequence
    latencies_ms = []
    failed = 0
    started = time.monotonic()
    for _ in range(options.runs):
        scheduled = time.monotonic()
        handles = [DBOS.start_workflow(workflow, k) for _ in range(options.orchestrations)]
        for handle in handles:
            try:
                result = handle.get_result()
            except Exception:  # a failed workflow counts as failed, as in the Rust drivers
                result = None
            if options.orchestrations == 1:
                latencies_ms.append((time.monotonic() - scheduled) * 1000.0)
            else:
                status = handle.get_status()
                latencies_ms.append(float(status.updated_at - status.created_at))
            if result != want:
                failed += 1
    seconds = time.monotonic() - started
    DBOS.destroy()
    orchestrations = options.orchestrations * options.runs
    activities = orchestrations * k
    print(
        json.dumps(
            {
                "engine": "dbos",
                "dbos_version": dbos_version(),
                "workload": "fan_out" if options.fan_out else "sequential",
                "processes": 1,
                "orchestrations": orchestrations,
                "activities": activities,
                "seconds": seconds,
                "activities_per_s": activities / seconds,
                "p50_ms": percentile(latencies_ms, 0.5),
                "p99_ms": percentile(latencies_ms, 0.99),
                "failed": failed,
                "peak_rss_bytes": peak_rss_bytes(),
                "durability": "postgresql_commit",
            }
        )
    )


def dbos_version():
    from importlib.metadata import version

    return version("dbos")


if __name__ == "__main__":
    sys.exit(main())
