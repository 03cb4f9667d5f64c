"""Run the benchmarks: ``python -m bench.run --size quick|full [--only NAME ...]``.

Each benchmark prints its figure beside a baseline measured in the same run; all of them are written to
bench/results.json (name, figure, unit, baseline, ratio, size).
"""

import argparse
import importlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

BENCHMARKS = [
    "bench.points_earn",
    "bench.redemption",
    "bench.member_list",
    "bench.member_import",
    "bench.campaign_run",
    "bench.analytics_dashboard",
    "bench.rules_ingest",
    "bench.tiers_evaluate",
    "bench.webhooks",
    "bench.journey_tick",
    "bench.lifecycle_staging",
    "bench.timeline",
    "bench.access_log",
    "bench.activity_partitions",
    "bench.capacity",
]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/userops_bench"


def prepare_django() -> None:
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    # Benchmarks do their work in-process; a task they queue on the way goes to a broker nobody reads.
    os.environ.setdefault("CELERY_BROKER_URL", "memory://")
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django
    import psycopg

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[-1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=["quick", "full"], default="quick")
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args(argv)
    prepare_django()
    results: list[dict[str, Any]] = []
    for module_name in BENCHMARKS:
        if args.only and module_name.rsplit(".", 1)[-1] not in args.only:
            continue
        module = importlib.import_module(module_name)
        for result in module.run(args.size):
            result["ratio"] = round(result["figure"] / result["baseline"], 3) if result["baseline"] else None
            results.append(result)
            print(
                f"{result['name']:<48} {result['figure']:>12,.2f} {result['unit']:<14} "
                f"baseline {result['baseline']:>12,.2f}  ratio {result['ratio']}  ({result['baseline_name']}, size {result['size']})",
                flush=True,
            )
    out = Path(__file__).with_name("results.json")
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
