"""Customer import at scale: rows/second and peak memory of ``import_file`` on a generated CSV, beside
PostgreSQL's own COPY of the same file into a bare table with the same unique keys, and beside
django-import-export's default row-by-row path on 10,000 rows — all in the same run."""

import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from django.db import connection

from apps.members.models import Member

SIZES = {"quick": 50_000, "full": 1_000_000}
ROW_BY_ROW_ROWS = 10_000
PREFIXES = [f"{n}" for n in (*range(150, 160), *range(180, 190), *range(170, 179))]
ROOT = Path(__file__).resolve().parent.parent


def _unused_prefixes(count: int) -> list[str]:
    free = [p for p in PREFIXES if not Member.objects.filter(phone__startswith=f"+86{p}").exists()]
    if len(free) < count:
        raise RuntimeError("the benchmark database has no unused phone prefixes left; drop it (userops_bench) and run again")
    return free[:count]


def _write_file(path: Path, rows: int, prefix: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["外部编号", "姓名", "手机号", "城市", "入会日期", "积分"])
        for i in range(rows):
            writer.writerow([f"B{prefix}-{i}", f"会员{i}", f"{prefix} {i // 10000:04d} {i % 10000:04d}", "上海", "2024/3/5", i % 500])


def _copy_baseline(path: Path) -> float:
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_import_baseline")
        cursor.execute(
            "CREATE UNLOGGED TABLE bench_import_baseline"
            " (external_id text UNIQUE, name text, phone text UNIQUE, city text, joined text, points int)"
        )
        started = time.perf_counter()
        with path.open("rb") as handle, cursor.cursor.copy("COPY bench_import_baseline FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
            while data := handle.read(1 << 20):
                copy.write(data)
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_import_baseline")
    return elapsed


def _child(mode: str, path: Path) -> dict[str, Any]:
    """Run one import in its own process, so its peak memory (ru_maxrss) is its own."""
    output = subprocess.run(
        [sys.executable, "-m", "bench.import_child", mode, str(path)], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def run(size: str) -> list[dict[str, Any]]:
    rows = SIZES[size]
    main_prefix, row_prefix = _unused_prefixes(2)
    with tempfile.TemporaryDirectory() as folder:
        big, small = Path(folder) / "members.csv", Path(folder) / "small.csv"
        _write_file(big, rows, main_prefix)
        _write_file(small, ROW_BY_ROW_ROWS, row_prefix)
        copy_seconds = _copy_baseline(big)
        ours = _child("userops", big)
        row_by_row = _child("import-export", small)
    shape = f"{rows:,} rows CSV"
    return [
        {
            "name": "member import (set-based upsert)",
            "figure": round(rows / ours["seconds"], 1),
            "unit": "rows/s",
            "baseline": round(rows / copy_seconds, 1),
            "baseline_name": "PostgreSQL COPY into a bare table with the same unique keys",
            "size": shape,
        },
        {
            "name": "member import, peak memory",
            "figure": ours["max_rss_mb"],
            "unit": "MB RSS",
            "baseline": row_by_row["max_rss_mb"],
            "baseline_name": f"django-import-export on {ROW_BY_ROW_ROWS:,} rows",
            "size": shape,
        },
        {
            "name": "django-import-export row by row",
            "figure": round(ROW_BY_ROW_ROWS / row_by_row["seconds"], 1),
            "unit": "rows/s",
            "baseline": round(rows / ours["seconds"], 1),
            "baseline_name": "our import on the large file",
            "size": f"{ROW_BY_ROW_ROWS:,} rows CSV",
        },
    ]
