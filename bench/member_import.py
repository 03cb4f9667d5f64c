"""Customer import at scale: rows/second and peak memory of ``import_file`` on a generated CSV of new members,
beside its floor — a COPY of the same rows into the same eight tables the import fills, keys reserved the same way,
in one transaction — alternating the two over several rounds (median), each in a process of its own.

Also printed: PostgreSQL's COPY of the file into one bare table (the old, much cheaper reference) and
django-import-export's default row-by-row path on a small file.
"""

import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.analytics.models import OWN_SOURCE, ActivityEvent, ActivityEventKey
from apps.core.bulk_insert import allocate_ids
from apps.core.reasons import Reason, reason_fields
from apps.members.models import (
    Member,
    MemberStatus,
    PointsAccount,
    PointsEntry,
    PointsEntryKind,
    SourceChannel,
    TierChangeKind,
)
from apps.members.services import default_points_expiry, lowest_tier

SIZES = {"quick": 50_000, "full": 1_000_000}
ROUNDS = {"quick": 3, "full": 3}
ROW_BY_ROW_ROWS = {"quick": 2_000, "full": 10_000}
# Four-digit mainland mobile prefixes; each generated file takes one that no member's phone starts with yet.
PREFIXES = [f"{block}{digit}" for block in (*range(150, 154), *range(155, 160), *range(180, 190)) for digit in range(10)]
HEADER = ["外部编号", "姓名", "手机号", "城市", "入会日期", "积分"]
ROOT = Path(__file__).resolve().parent.parent


def _unused_prefixes(count: int) -> list[str]:
    free = [p for p in PREFIXES if not Member.objects.filter(phone__startswith=f"+86{p}").exists()]
    if len(free) < count:
        raise RuntimeError("the benchmark database has no unused phone prefixes left; drop it and run again")
    return free[:count]


def _write_file(path: Path, rows: int, prefix: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            writer.writerow(
                [f"B{prefix}-{i}", f"会员{i}", f"{prefix[:3]} {prefix[3]}{i // 10000:03d} {i % 10000:04d}", "上海", "2024/3/5", i % 500]
            )


def _written(prefix: str) -> dict[str, int]:
    """The rows of each table that belong to the members of one file (its phones share ``prefix``)."""
    history = Member.history.model._meta.db_table
    by_member = "JOIN members_member m ON m.id = {alias}.member_id"
    by_account = "JOIN members_pointsaccount a ON a.id = {alias}.account_id JOIN members_member m ON m.id = a.member_id"
    queries = {
        "members_member": "members_member m",
        history: f"{history} m",
        "members_pointsaccount": "members_pointsaccount p " + by_member.format(alias="p"),
        "members_tierchange": "members_tierchange t " + by_member.format(alias="t"),
        "members_pointsentry": "members_pointsentry e " + by_account.format(alias="e"),
        "members_pointslot": "members_pointslot l " + by_account.format(alias="l"),
        "analytics_activityevent": "analytics_activityevent v " + by_member.format(alias="v"),
        "analytics_activityeventkey": "analytics_activityeventkey k JOIN members_member m ON k.event_id = 'enrolment:' || m.id",
    }
    counts = {}
    with connection.cursor() as cursor:
        for table, source in queries.items():
            cursor.execute(f"SELECT count(*) FROM {source} WHERE m.phone LIKE %s", [f"+86{prefix}%"])
            counts[table] = cursor.fetchone()[0]
    return counts


def copy_into_import_tables(path: Path) -> int:
    """The floor for what an import of new members writes: read the file, reserve keys from the sequences per
    chunk as the import does, and COPY each row's member, history, account, tier history, opening ledger entry and
    lot, and the enrolment the import announces (the event and its key), in one transaction — no validation, no
    matching. Returns the rows read."""
    now = timezone.now()
    zone = timezone.get_current_timezone()
    tier_id = lowest_tier().pk
    expires_at = default_points_expiry(now)
    imported, opening = reason_fields(Reason("imported")), reason_fields(Reason("opening_balance_import"))
    chunk_size = settings.USEROPS_IMPORTS["CHUNK_SIZE"]
    total = 0
    with transaction.atomic(), path.open(encoding="utf-8", newline="") as handle, connection.cursor() as cursor:
        rows = csv.reader(handle)
        next(rows)
        while chunk := list(islice(rows, chunk_size)):
            total += len(chunk)
            member_ids = allocate_ids(Member, len(chunk))
            account_ids = allocate_ids(PointsAccount, len(chunk))
            member_rows = []
            source, status = SourceChannel.IMPORT.value, MemberStatus.ACTIVE.value
            for member_id, (external_id, name, phone, city, joined, _points) in zip(member_ids, chunk, strict=True):
                year, month, day = joined.split("/")
                joined_at = datetime(int(year), int(month), int(day), 12, tzinfo=zone)
                phone = "+86" + phone.replace(" ", "")
                member_rows.append(
                    (member_id, now, now, external_id, name, phone, "", "unknown", city, source, status, "", joined_at, tier_id, now)
                )
            raw = cursor.cursor
            member_columns = "id, created_at, updated_at, external_id, name, phone, email, gender, city, source_channel,"
            member_columns += " status, status_reason, joined_at, tier_id, tier_achieved_at"
            with raw.copy(f"COPY members_member ({member_columns}) FROM STDIN") as copy:
                for member_row in member_rows:
                    copy.write_row(member_row)
            # A history row is the member row without updated_at, then when and how it was recorded.
            history_columns = member_columns.replace(" updated_at,", "") + ", history_date, history_type"
            with raw.copy(f"COPY {Member.history.model._meta.db_table} ({history_columns}) FROM STDIN") as copy:
                for member_row in member_rows:
                    copy.write_row((*member_row[:2], *member_row[3:], now, "+"))
            with raw.copy("COPY members_pointsaccount (id, member_id, balance, updated_at) FROM STDIN") as copy:
                for account_id, member_id, row in zip(account_ids, member_ids, chunk, strict=True):
                    copy.write_row((account_id, member_id, int(row[5]), now))
            tier_columns = "member_id, kind, to_tier_id, growth_value, reason, reason_code, reason_params, created_at"
            with raw.copy(f"COPY members_tierchange ({tier_columns}) FROM STDIN") as copy:
                for member_id in member_ids:
                    copy.write_row(
                        (member_id, TierChangeKind.INITIAL.value, tier_id, 0, imported["reason"], imported["reason_code"], "{}", now)
                    )
            first_row = total - len(chunk) + 2  # the header is row 1
            with_points = [
                (account_id, first_row + index, int(row[5]))
                for index, (account_id, row) in enumerate(zip(account_ids, chunk, strict=True))
                if int(row[5]) > 0
            ]
            entry_ids = allocate_ids(PointsEntry, len(with_points))
            entry_columns = (
                "id, account_id, kind, amount, balance_after, reason, reason_code, reason_params, source_ref, expires_at, created_at,"
                " idempotency_key"
            )
            with raw.copy(f"COPY members_pointsentry ({entry_columns}) FROM STDIN") as copy:
                for entry_id, (account_id, row_number, points) in zip(entry_ids, with_points, strict=True):
                    copy.write_row(
                        (
                            entry_id,
                            account_id,
                            PointsEntryKind.MIGRATE.value,
                            points,
                            points,
                            opening["reason"],
                            opening["reason_code"],
                            "{}",
                            f"import:row:{row_number}",
                            expires_at,
                            now,
                            "",
                        )
                    )
            with raw.copy("COPY members_pointslot (account_id, entry_id, amount, remaining, expires_at) FROM STDIN") as copy:
                for entry_id, (account_id, _row_number, points) in zip(entry_ids, with_points, strict=True):
                    copy.write_row((account_id, entry_id, points, points, expires_at))
            # Each new member announced as enrolled on their join date: the event's key, then the event.
            event_ids = [f"enrolment:{member_id}" for member_id in member_ids]
            with raw.copy(f"COPY {ActivityEventKey._meta.db_table} (source, event_id) FROM STDIN") as copy:
                for event_id in event_ids:
                    copy.write_row((OWN_SOURCE, event_id))
            event_columns = "member_id, kind, occurred_at, recorded_at, source, event_id, order_ref, channel, device_id, properties"
            with raw.copy(f"COPY {ActivityEvent._meta.db_table} ({event_columns}) FROM STDIN") as copy:
                for member_row, event_id in zip(member_rows, event_ids, strict=True):
                    copy.write_row((member_row[0], "enrolment", member_row[12], now, OWN_SOURCE, event_id, "", "other", "", "{}"))
    return total


def _copy_one_table(path: Path) -> float:
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


def _measured(mode: str, path: Path, prefix: str) -> dict[str, Any]:
    result = _child(mode, path)
    result["written"] = _written(prefix)
    return result


def run(size: str) -> list[dict[str, Any]]:
    rows, rounds = SIZES[size], ROUNDS[size]
    prefixes = _unused_prefixes(2 * rounds + 1)
    imports: list[dict[str, Any]] = []
    floors: list[dict[str, Any]] = []
    one_table: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        for round_number in range(rounds):
            import_file = Path(folder) / f"import-{round_number}.csv"
            floor_file = Path(folder) / f"floor-{round_number}.csv"
            _write_file(import_file, rows, prefixes[2 * round_number])
            _write_file(floor_file, rows, prefixes[2 * round_number + 1])
            # Alternate which goes first, so a drift in the machine's load does not favour one of them.
            order = [("userops", import_file, prefixes[2 * round_number]), ("copy-tables", floor_file, prefixes[2 * round_number + 1])]
            for mode, path, prefix in order if round_number % 2 == 0 else reversed(order):
                (imports if mode == "userops" else floors).append(_measured(mode, path, prefix))
            if imports[-1]["written"] != floors[-1]["written"] or imports[-1]["rows"] != rows:
                raise RuntimeError(f"the import and its floor wrote different rows: {imports[-1]['written']} != {floors[-1]['written']}")
            one_table.append(_copy_one_table(import_file))
            import_file.unlink()
            floor_file.unlink()
        small = Path(folder) / "small.csv"
        _write_file(small, ROW_BY_ROW_ROWS[size], prefixes[-1])
        row_by_row = _child("import-export", small)
    import_rate = statistics.median(rows / run["seconds"] for run in imports)
    floor_rate = statistics.median(rows / run["seconds"] for run in floors)
    shape = f"{rows:,} rows CSV of new members, median of {rounds} alternating rounds"
    written = ", ".join(f"{table.removeprefix('members_')} {count:,}" for table, count in imports[-1]["written"].items())
    print(f"  each round, the import and its floor each wrote: {written}", flush=True)
    return [
        {
            "name": "member import (set-based upsert)",
            "figure": round(import_rate, 1),
            "unit": "rows/s",
            "baseline": round(floor_rate, 1),
            "baseline_name": "COPY of the same rows into the same eight tables, keys reserved the same way, one transaction",
            "size": shape,
        },
        {
            "name": "member import beside a one-table COPY",
            "figure": round(import_rate, 1),
            "unit": "rows/s",
            "baseline": round(statistics.median(rows / seconds for seconds in one_table), 1),
            "baseline_name": "COPY of the file into one bare table with the same unique keys",
            "size": shape,
        },
        {
            "name": "member import, peak memory",
            "figure": max(run["max_rss_mb"] for run in imports),
            "unit": "MB RSS",
            "baseline": max(run["setup_rss_mb"] for run in imports),
            "baseline_name": "the same process before importing (Django loaded)",
            "size": f"{rows:,} rows CSV, highest of {rounds} rounds",
        },
        {
            "name": "django-import-export row by row",
            "figure": round(ROW_BY_ROW_ROWS[size] / row_by_row["seconds"], 1),
            "unit": "rows/s",
            "baseline": round(import_rate, 1),
            "baseline_name": "our import on the large file",
            "size": f"{ROW_BY_ROW_ROWS[size]:,} rows CSV",
        },
    ]
