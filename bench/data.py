"""Large data sets made set-based in SQL, for benchmarks only."""

from django.db import connection

from apps.members.models import Tier


def ensure_members(count: int) -> None:
    """Make sure at least ``count`` members (with points accounts) exist; adds the missing ones in SQL."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM members_member")
        have = cursor.fetchone()[0]
        if have >= count:
            return
        tier_ids = list(Tier.objects.order_by("rank").values_list("pk", flat=True))
        cursor.execute(
            """
            INSERT INTO members_member (external_id, name, phone, email, gender, city, source_channel, status, status_reason,
                                        joined_at, tier_id, tier_achieved_at, created_at, updated_at)
            SELECT 'BENCH' || i, 'Member ' || i, '+86130' || lpad(i::text, 8, '0'), '', 'unknown',
                   (ARRAY['上海','北京','深圳','广州','杭州','成都'])[1 + i %% 6], 'import', 'active', '',
                   now() - (i %% 365) * interval '1 day', (%s::bigint[])[1 + (i %% 10 = 0)::int + (i %% 50 = 0)::int + (i %% 200 = 0)::int],
                   now(), now(), now()
            FROM generate_series(%s, %s) AS i
            """,
            [tier_ids, have + 1, count],
        )
        cursor.execute(
            """
            INSERT INTO members_pointsaccount (member_id, balance, updated_at)
            SELECT m.id, 0, now() FROM members_member m
            LEFT JOIN members_pointsaccount a ON a.member_id = m.id WHERE a.id IS NULL
            """
        )
        cursor.execute("ANALYZE members_member")
        cursor.execute("ANALYZE members_pointsaccount")
