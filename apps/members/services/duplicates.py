"""The duplicates finder: pairs of members that look like one person, each with a reason and a score.

Set-based: one ``INSERT … SELECT … ON CONFLICT DO NOTHING`` per reason, so a run costs a few statements whatever the
number of members, and running it again adds only new pairs (a dismissed or merged pair keeps its decision). Phones and
external IDs are unique, so two members can share them only in different forms (legacy rows stored before phones were
normalised, external IDs differing in case or spaces); emails are not unique and are compared case-insensitively; names
by trigram similarity (``pg_trgm``) within one city and surname (first character); other apps add their own reasons
(identities: the same WeChat unionid) through ``apps.members.merging.register_duplicate_source``.
"""

from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.core.errors import ApplicationError
from apps.core.models import User
from apps.members.merging import DUPLICATE_SOURCES
from apps.members.models import DuplicateCandidate, DuplicateReason, DuplicateState

# Each query pairs members that are neither merged away nor anonymised.
_MEMBER_PAIRS = {
    DuplicateReason.EMAIL: (
        "SELECT a.id, b.id, 90 FROM members_member a JOIN members_member b"
        " ON lower(b.email) = lower(a.email) AND b.id > a.id"
        " WHERE a.email <> ''"
        " AND a.merged_into_id IS NULL AND a.anonymised_at IS NULL AND b.merged_into_id IS NULL AND b.anonymised_at IS NULL"
    ),
    DuplicateReason.PHONE: (
        "SELECT a.id, b.id, 100 FROM members_member a JOIN members_member b"
        " ON right(regexp_replace(b.phone, '\\D', '', 'g'), 11) = right(regexp_replace(a.phone, '\\D', '', 'g'), 11) AND b.id > a.id"
        " WHERE a.phone IS NOT NULL AND b.phone IS NOT NULL AND length(regexp_replace(a.phone, '\\D', '', 'g')) >= 11"
        " AND a.merged_into_id IS NULL AND a.anonymised_at IS NULL AND b.merged_into_id IS NULL AND b.anonymised_at IS NULL"
    ),
    DuplicateReason.EXTERNAL_ID: (
        "SELECT a.id, b.id, 100 FROM members_member a JOIN members_member b"
        " ON lower(btrim(b.external_id)) = lower(btrim(a.external_id)) AND b.id > a.id"
        " WHERE a.external_id IS NOT NULL AND b.external_id IS NOT NULL"
        " AND a.merged_into_id IS NULL AND a.anonymised_at IS NULL AND b.merged_into_id IS NULL AND b.anonymised_at IS NULL"
    ),
}

_NAME_CITY_TRIGRAM = (
    "SELECT a.id, b.id, least(100, round(similarity(a.name, b.name) * 80))::int FROM members_member a JOIN members_member b"
    " ON b.city = a.city AND left(b.name, 1) = left(a.name, 1) AND b.id > a.id"
    " WHERE a.city <> '' AND similarity(a.name, b.name) >= 0.5"
    " AND a.merged_into_id IS NULL AND a.anonymised_at IS NULL AND b.merged_into_id IS NULL AND b.anonymised_at IS NULL"
)
# Without pg_trgm (the embedded SQLite database): the same name, ignoring case and spaces, in the same city.
_NAME_CITY_EXACT = (
    "SELECT a.id, b.id, 60 FROM members_member a JOIN members_member b"
    " ON b.city = a.city AND lower(trim(b.name)) = lower(trim(a.name)) AND b.id > a.id"
    " WHERE a.city <> ''"
    " AND a.merged_into_id IS NULL AND a.anonymised_at IS NULL AND b.merged_into_id IS NULL AND b.anonymised_at IS NULL"
)


def _has_trigram() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        return cursor.fetchone() is not None


@dataclass(frozen=True)
class DuplicatesFound:
    new_pairs: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.new_pairs.values())


def _pair_queries() -> list[tuple[str, str]]:
    """Exact identifiers first (ours, then other apps'), the name similarity last: the surest reason names a pair."""
    if connection.vendor == "postgresql":
        exact = [(reason.value, sql) for reason, sql in _MEMBER_PAIRS.items()]
        exact += [(source.reason, source.sql) for source in DUPLICATE_SOURCES]
        return [*exact, (DuplicateReason.NAME_CITY.value, _NAME_CITY_TRIGRAM if _has_trigram() else _NAME_CITY_EXACT)]
    # The embedded SQLite database has no regular expressions: emails and names only.
    return [(DuplicateReason.EMAIL.value, _MEMBER_PAIRS[DuplicateReason.EMAIL]), (DuplicateReason.NAME_CITY.value, _NAME_CITY_EXACT)]


@transaction.atomic
def duplicates_find() -> DuplicatesFound:
    """Add every pair of members that look like one person and is not listed yet; returns the new pairs per reason.

    The strongest reasons run first, so a pair found by several keeps the surest one.
    """
    now = timezone.now()
    table = DuplicateCandidate._meta.db_table
    found: dict[str, int] = {}
    with connection.cursor() as cursor:
        for reason, sql in _pair_queries():
            cursor.execute(
                f"INSERT INTO {table} (member_a_id, member_b_id, score, reason, state, found_at)"  # noqa: S608 (our own SQL only)
                # Every pair query selects (member a, member b, score) in that order; no column-alias list, which SQLite
                # lacks, and a WHERE before ON CONFLICT, without which SQLite cannot parse an INSERT … SELECT's upsert.
                f" SELECT pair.*, %s, %s, %s FROM ({sql}) AS pair WHERE true"
                " ON CONFLICT (member_a_id, member_b_id) DO NOTHING",
                [reason, DuplicateState.OPEN, now],
            )
            found[reason] = cursor.rowcount
    return DuplicatesFound(found)


def _lock_open_candidate(candidate_id: int) -> DuplicateCandidate:
    candidate = DuplicateCandidate.objects.select_for_update().filter(pk=candidate_id).first()
    if candidate is None:
        raise ApplicationError("not_found", _("No such pair of possible duplicates."), http_status=404)
    if candidate.state != DuplicateState.OPEN:
        raise ApplicationError(
            "duplicate_decided",
            _("This pair was already decided: %(state)s.") % {"state": candidate.get_state_display()},
            http_status=409,
        )
    return candidate


@transaction.atomic
def duplicate_dismiss(*, candidate: DuplicateCandidate, actor: User) -> DuplicateCandidate:
    """The two members are different people: the pair leaves the list and the finder never lists it again."""
    if not actor.has_perm("members.merge_member"):
        raise ApplicationError("permission_denied", _("You may not decide on duplicate members."), http_status=403)
    candidate = _lock_open_candidate(candidate.pk)
    candidate.state, candidate.decided_at, candidate.decided_by = DuplicateState.DISMISSED, timezone.now(), actor
    candidate.save(update_fields=["state", "decided_at", "decided_by"])
    return candidate
