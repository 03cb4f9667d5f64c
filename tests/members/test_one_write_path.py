"""One write path per ledger, proven by reading the code: only the ledger module writes points and growth rows
(and opens accounts), only the tiers module writes tier history and the stored growth values, and points accounts are locked only in
apps/members/locks.py. The scan reads every module under apps/ (migrations aside)."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LEDGER = "apps/members/services/ledger.py"
TIERS = "apps/members/services/tiers.py"
LOCKS = "apps/members/locks.py"

# model → the one module that may create or change its rows
WRITERS = {
    "PointsAccount": LEDGER,
    "PointsEntry": LEDGER,
    "PointsLot": LEDGER,
    "PointsLotUse": LEDGER,
    "GrowthEntry": LEDGER,
    "TierChange": TIERS,
    "GrowthValue": TIERS,
}
TABLES = {f"members_{model.lower()}": module for model, module in WRITERS.items()}
WRITE_METHODS = {"create", "bulk_create", "get_or_create", "update_or_create", "update", "bulk_update", "save", "delete"}
BULK_WRITERS = {"insert_rows", "allocate_ids", "bulk_update_with_history"}
# (module, table) pairs written elsewhere on purpose, and why.
KNOWN = {
    # Synthetic benchmark data: empty accounts for the generated members, in one INSERT … SELECT (analytics' command).
    ("apps/analytics/management/commands/generate_large_dataset.py", "members_pointsaccount"),
}
RAW_WRITE = re.compile(r"\b(INSERT\s+INTO|COPY|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE)


def _chain(node: ast.AST) -> list[str]:
    """The names along a call chain, outermost last: ``PointsEntry.objects.filter(...).update`` → PointsEntry, objects, filter, update."""
    names: list[str] = []
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript):
            node = node.value
        else:
            if isinstance(node, ast.Name):
                names.append(node.id)
            return names[::-1]


def violations(source: str, module: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            chain = _chain(node.func)
            models = [name for name in chain if name in WRITERS]
            line = f"{module}:{node.lineno}"
            for model in models:
                if chain[-1] in WRITE_METHODS and WRITERS[model] != module:
                    found.append(f"{line} writes {model} rows ({'.'.join(chain)})")
                if chain[-1] == "select_for_update" and model == "PointsAccount" and module != LOCKS:
                    found.append(f"{line} locks points accounts outside locks.py")
            if chain == [chain[-1]] and chain[-1] in WRITERS and WRITERS[chain[-1]] != module:
                found.append(f"{line} builds a {chain[-1]} row")
            if chain and chain[-1] in BULK_WRITERS and node.args:
                target = _chain(node.args[0])
                if target and target[-1] in WRITERS and WRITERS[target[-1]] != module:
                    found.append(f"{line} inserts {target[-1]} rows with {chain[-1]}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            for match in RAW_WRITE.finditer(node.value):
                table = match.group(2).lower()
                if table in TABLES and TABLES[table] != module and (module, table) not in KNOWN:
                    found.append(f"{module}:{node.lineno} writes {table} in SQL")
            if "pointsaccount" in node.value.lower() and "for update" in node.value.lower() and module != LOCKS:
                found.append(f"{module}:{node.lineno} locks points accounts in SQL")
    return sorted(found)


def test_only_the_ledger_writes_ledger_rows_and_only_locks_py_locks_accounts():
    found = []
    for path in sorted((ROOT / "apps").rglob("*.py")):
        module = path.relative_to(ROOT).as_posix()
        if "/migrations/" not in module:
            found += violations(path.read_text(encoding="utf-8"), module)
    assert found == []


def test_the_scan_sees_every_way_of_writing_around_the_ledger():
    written_around = """
PointsEntry.objects.create(account=account, amount=1)
models.PointsLot.objects.filter(pk=1).update(remaining=0)
GrowthEntry(member=member, amount=1).save()
insert_rows(PointsEntry, rows)
PointsAccount.objects.select_for_update().get(pk=1)
TierChange.objects.bulk_create(changes)
cursor.execute("INSERT INTO members_pointsentry (amount) VALUES (1)")
cursor.execute("SELECT 1 FROM members_pointsaccount WHERE id = 1 FOR UPDATE")
"""
    found = violations(written_around, "apps/campaigns/services.py")
    assert len(found) == 9, found
    assert violations(written_around.replace("TierChange", "PointsEntry"), LEDGER) == [
        f"{LEDGER}:6 locks points accounts outside locks.py",
        f"{LEDGER}:9 locks points accounts in SQL",
    ]
