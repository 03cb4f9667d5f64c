"""The back office's large lists filled set-based in SQL, in a schema of their own per size, for the list benchmark.

Each size lives in its own PostgreSQL schema of the benchmark database (``lists_10000``, ``lists_1000000``), migrated
like the public one, so the two sizes sit side by side and a page view switches between them with ``search_path``.
"""

from django.core.management import call_command
from django.db import connection, transaction
from django.db.backends.signals import connection_created

from apps.members.models import Tier

_active_schema: list[str] = []


def _apply_search_path(sender: object, connection: object, **kwargs: object) -> None:
    if _active_schema:
        with connection.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute(f'SET search_path TO "{_active_schema[0]}"')


connection_created.connect(_apply_search_path)


def use_schema(schema: str) -> None:
    """Make every query of this process, on this connection and on any it reopens, read ``schema``."""
    _active_schema[:] = [schema]
    with connection.cursor() as cursor:
        cursor.execute(f'SET search_path TO "{schema}"')


def schema_for(rows: int) -> str:
    return f"lists_{rows}"


def ensure_lists(rows: int) -> str:
    """A migrated schema holding ``rows`` members and ``rows`` rows in every large list; made once, then reused."""
    schema = schema_for(rows)
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    use_schema(schema)
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor, transaction.atomic():
        filled = _fill(cursor, rows)
    # Autovacuum may be off: without a vacuum the visibility map is empty and no index-only scan skips the table.
    with connection.cursor() as cursor:
        for table in filled:
            cursor.execute(f'VACUUM ANALYZE "{schema}"."{table}"')
    return schema


def _fill(cursor: object, rows: int) -> list[str]:
    """Fill every list that is still empty, so a list added to the benchmark later fills in a schema made before it;
    the tables filled."""
    tier_ids = list(Tier.objects.order_by("rank").values_list("pk", flat=True))
    filled = []
    for table, statement in _STATEMENTS:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {table})")  # type: ignore[attr-defined]
        if cursor.fetchone()[0]:  # type: ignore[attr-defined]
            continue
        cursor.execute(statement, {"rows": rows, "tiers": tier_ids})  # type: ignore[attr-defined]
        filled.append(table)
    return filled


# (table, statement filling it): each runs only while its table is empty, in this order (later ones read earlier ones).
_STATEMENTS: list[tuple[str, str]] = [
    # Members, one in ten silver, one in fifty gold, one in two hundred VIP; a tenth frozen.
    (
        "members_member",
        """
        INSERT INTO members_member (external_id, name, phone, email, gender, city, source_channel, status, status_reason,
                                    joined_at, tier_id, tier_achieved_at, created_at, updated_at)
        SELECT 'L' || i, 'Member ' || i, '+86131' || lpad(i::text, 8, '0'), '', 'unknown',
               (ARRAY['上海','北京','深圳','广州','杭州','成都'])[1 + i %% 6], 'import',
               CASE WHEN i %% 10 = 3 THEN 'frozen' ELSE 'active' END, '',
               now() - (i %% 365) * interval '1 day',
               (%(tiers)s::bigint[])[1 + (i %% 10 = 0)::int + (i %% 50 = 0)::int + (i %% 200 = 0)::int],
               now(), now(), now()
        FROM generate_series(1, %(rows)s) AS i
        """,
    ),
    (
        "members_pointsaccount",
        """
        INSERT INTO members_pointsaccount (member_id, balance, updated_at) SELECT id, 100, now() FROM members_member
        """,
    ),
    (
        "members_pointsentry",
        """
        INSERT INTO members_pointsentry (kind, amount, balance_after, reason, source_ref, expires_at, created_at, account_id,
                                         reason_code, reason_params, idempotency_key)
        SELECT CASE WHEN a.id %% 5 = 0 THEN 'adjust' ELSE 'earn' END, 100, 100, 'Purchase', 'ORDER-' || a.id,
               now() + interval '1 year', now() - (a.id %% 365) * interval '1 day', a.id, '', '{}', ''
        FROM members_pointsaccount a
        """,
    ),
    (
        "members_tierchange",
        """
        INSERT INTO members_tierchange (kind, growth_value, reason, created_at, member_id, to_tier_id, reason_code, reason_params)
        SELECT CASE WHEN m.id %% 7 = 0 THEN 'demotion' ELSE 'enrolment' END, 0, 'Enrolment',
               m.joined_at, m.id, m.tier_id, '', '{}'
        FROM members_member m
        """,
    ),
    (
        "benefits_benefit",
        """
        INSERT INTO benefits_benefit (name, description, kind, category, face_value, unit_cost, status, validity_days,
                                      issued_count, cost_committed, per_member_lifetime_limit, limit_period, created_at, updated_at)
        SELECT 'Voucher ' || i, '', 'coupon', 'economic', 50, 30, 'active', 30, 0, 0, NULL, 'none', now(), now()
        FROM generate_series(1, 3) AS i
        """,
    ),
    (
        "benefits_grant",
        """
        INSERT INTO benefits_grant (code, state, source, source_ref, valid_from, valid_until, issued_at, cost, revoke_reason,
                                    benefit_id, member_id)
        SELECT 'G' || lpad(m.id::text, 11, '0'), (ARRAY['issued','redeemed','expired','revoked'])[1 + m.id %% 4], 'campaign', '',
               now() - interval '10 days', now() + interval '20 days', now() - (m.id %% 365) * interval '1 day', 30, '',
               (SELECT min(id) FROM benefits_benefit) + m.id %% 3, m.id
        FROM members_member m
        """,
    ),
    (
        "events_event",
        """
        INSERT INTO events_event (title, description, cover, kind, city, venue, online_url, starts_at, ends_at,
                                  registration_opens_at, registration_closes_at, cancellation_deadline, capacity,
                                  max_companions, points_price, attendance_points, status, seats_taken, cancel_reason,
                                  created_at, updated_at, members_only)
        SELECT 'Owner meet-up ' || i, '', '', 'offline', '上海', 'NIO House', '', now() + i * interval '1 day',
               now() + i * interval '1 day' + interval '2 hours', now() - interval '1 day', now() + i * interval '1 day',
               now() + i * interval '1 day', %(rows)s, 0, 0, 0, 'published', 0, '', now(), now(), false
        FROM generate_series(1, 3) AS i
        """,
    ),
    (
        "events_registration",
        """
        INSERT INTO events_registration (companions, state, ticket_code, created_at, cancel_reason, event_id, member_id,
                                         reason_code, reason_params)
        SELECT 0, CASE WHEN m.id %% 9 = 0 THEN 'cancelled' ELSE 'registered' END, 'T' || m.id,
               now() - (m.id %% 365) * interval '1 day', '', (SELECT min(id) FROM events_event) + m.id %% 3, m.id, '', '{}'
        FROM members_member m
        """,
    ),
    (
        "analytics_activityevent",
        """
        INSERT INTO analytics_activityevent (kind, occurred_at, recorded_at, source, event_id, amount, order_ref, channel, member_id)
        SELECT CASE WHEN m.id %% 4 = 0 THEN 'purchase' ELSE 'login' END, now() - (m.id %% 365) * interval '1 day', now(), 'app',
               'E' || m.id, CASE WHEN m.id %% 4 = 0 THEN 199 END, '', 'app', m.id
        FROM members_member m
        """,
    ),
    (
        "campaigns_segment",
        """
        INSERT INTO campaigns_segment (name, description, rules, frozen_count, created_at, updated_at)
        VALUES ('Everyone', '', '{}', 0, now(), now())
        """,
    ),
    (
        "campaigns_campaign",
        """
        INSERT INTO campaigns_campaign (name, description, status, segment_id, points_amount, points_valid_days, message_channel,
                                        message_template_code, message_purpose, schedule_kind, interval_minutes, cron, trigger,
                                        holdout_percent, applies_frequency_cap, cost_per_member, created_at, updated_at)
        SELECT 'Weekly points', '', 'running', max(id), 10, 365, '', '', 'marketing', 'interval', 60, '', '', 0, false, 0,
               now(), now()
        FROM campaigns_segment
        """,
    ),
    (
        "campaigns_campaignrun",
        """
        INSERT INTO campaigns_campaignrun (dry_run, status, trigger_key, created_at, started_at, finished_at, cursor, targeted,
                                           processed, acted, held_out, skipped_no_consent, skipped_cap_reached,
                                           skipped_budget_exhausted, skipped_member_frozen, failed, points_awarded,
                                           messages_queued, cost, campaign_id, benefits_granted, benefits_not_granted)
        SELECT i %% 10 = 0, CASE WHEN i %% 10 = 0 THEN 'running' ELSE 'completed' END, 'slot-' || i,
               now() - i * interval '1 minute', now() - i * interval '1 minute', now() - i * interval '1 minute', 0,
               100, 100, 90, 10, 0, 0, 0, 0, 0, 900, 0, 0, (SELECT max(id) FROM campaigns_campaign), 0, 0
        FROM generate_series(1, %(rows)s) AS i
        """,
    ),
    (
        "core_accesslogentry",
        """
        INSERT INTO core_accesslogentry (username, action, object_type, object_id, row_count, detail, ip, user_agent, at,
                                         object_ids)
        SELECT 'agent' || i %% 20, CASE WHEN i %% 3 = 0 THEN 'export' ELSE 'view_member_detail' END, 'members.member',
               i::text, 1, '', '10.0.0.1', '', now() - i * interval '1 minute', ''
        FROM generate_series(1, %(rows)s) AS i
        """,
    ),
    (
        "imports_importjob",
        """
        INSERT INTO imports_importjob (file, original_name, all_or_nothing, status, total_rows, processed_rows, created, updated,
                                       unchanged, duplicate, invalid, report, error, created_at, welcome_rewards)
        SELECT 'imports/customers-' || i || '.csv', 'customers-' || i || '.csv', false,
               CASE WHEN i %% 10 = 0 THEN 'failed' ELSE 'done' END, 1000, 1000, 990, 0, 0, 0, 10, '', '',
               now() - i * interval '1 minute', false
        FROM generate_series(1, %(rows)s) AS i
        """,
    ),
    (
        "messaging_message",
        """
        INSERT INTO messaging_message (created_at, updated_at, channel, purpose, template_code, subject, body, language, state,
                                       attempts, next_attempt_at, last_error, provider_ref, dedupe_key, unsubscribe_token, member_id,
                                       context, fallback_channels, click_count, provider, provider_code, provider_template_id,
                                       link_url)
        SELECT now(), now(), 'sms', 'marketing', 'weekly', '', 'Hello', 'zh-hans',
               CASE WHEN m.id %% 5 = 0 THEN 'queued' ELSE 'sent' END, 0, now(), '', '', 'D' || m.id, 'U' || m.id, m.id,
               '{}', '[]', 0, '', '', '', ''
        FROM members_member m
        """,
    ),
    # Lists added since the first measurement: leads, feedback items, journey enrolments, rule awards, webhook deliveries.
    (
        "sales_dealer",
        """
        INSERT INTO sales_dealer (created_at, updated_at, code, name, city, region, active)
        SELECT now(), now(), 'D' || i, 'Dealer ' || i, '上海', 'East', true FROM generate_series(1, 3) AS i
        """,
    ),
    (
        "sales_lead",
        """
        INSERT INTO sales_lead (source_system, source_ref, name, phone, external_id, city, channel, interest, received_at,
                                outcome, created_at, dealer_id, member_id)
        SELECT 'crm', 'LD' || m.id, m.name, m.phone, '', m.city, CASE WHEN m.id %% 3 = 0 THEN 'dealer' ELSE 'app' END,
               'ES6', now() - (m.id %% 365) * interval '1 day',
               CASE WHEN m.id %% 4 = 0 THEN 'matched_prospect' ELSE 'matched_member' END, now(),
               (SELECT min(id) FROM sales_dealer) + m.id %% 3, m.id
        FROM members_member m
        """,
    ),
    (
        "feedback_feedbackcategory",
        """
        INSERT INTO feedback_feedbackcategory (code, name, sla_hours, is_active)
        SELECT 'bench-' || i, 'Category ' || i, 48, true FROM generate_series(1, 3) AS i
        """,
    ),
    (
        "feedback_feedbackitem",
        """
        INSERT INTO feedback_feedbackitem (kind, channel, priority, subject, body, status, created_at, due_at,
                                           satisfaction_comment, category_id, member_id)
        SELECT 'complaint', 'phone', CASE WHEN m.id %% 8 = 0 THEN 'urgent' ELSE 'normal' END, 'Charging card lost', '',
               (ARRAY['open','in_progress','resolved','closed'])[1 + m.id %% 4], now() - (m.id %% 365) * interval '1 day',
               now() - (m.id %% 365) * interval '1 day' + interval '2 days', '',
               (SELECT min(id) FROM feedback_feedbackcategory) + m.id %% 3, m.id
        FROM members_member m
        """,
    ),
    (
        "journeys_journey",
        """
        INSERT INTO journeys_journey (created_at, updated_at, name, description, status, entry_kind, entry_activity_kind,
                                      entry_properties, entry_stage, reentry, holdout_percent, goal_activity_kind)
        VALUES (now(), now(), 'Welcome series', '', 'running', 'event', 'signup', '{}', '', 'never', 0, '')
        """,
    ),
    (
        "journeys_journeyversion",
        """
        INSERT INTO journeys_journeyversion (number, created_at, journey_id)
        SELECT 1, now(), max(id) FROM journeys_journey
        """,
    ),
    (
        "journeys_journeystep",
        """
        INSERT INTO journeys_journeystep (position, kind, params, version_id)
        SELECT 1, 'wait', '{"days": 3}', max(id) FROM journeys_journeyversion
        """,
    ),
    (
        "journeys_enrolment",
        """
        INSERT INTO journeys_enrolment (entry_number, due_at, state, in_holdout, entered_at, finished_at, member_id,
                                        journey_id, step_id, version_id)
        SELECT 1, CASE WHEN m.id %% 3 = 0 THEN now() + interval '1 day' END,
               CASE WHEN m.id %% 3 = 0 THEN 'active' ELSE 'completed' END, false,
               now() - (m.id %% 365) * interval '1 day', CASE WHEN m.id %% 3 <> 0 THEN now() END, m.id,
               (SELECT max(id) FROM journeys_journey),
               CASE WHEN m.id %% 3 = 0 THEN (SELECT max(id) FROM journeys_journeystep) END,
               (SELECT max(id) FROM journeys_journeyversion)
        FROM members_member m
        """,
    ),
    (
        "rules_earningrule",
        """
        INSERT INTO rules_earningrule (created_at, updated_at, name, description, status, kind, priority, days_of_week,
                                       property_conditions, channels, first_time_only, points, growth, unit_property,
                                       unit_size, budget_used)
        VALUES (now(), now(), 'Purchase points', '', 'active', 'purchase', 10, '[]', '[]', '[]', false, 10, 0, '', 1, 0)
        """,
    ),
    (
        "rules_ruleaward",
        """
        INSERT INTO rules_ruleaward (kind, occurred_at, status, points, growth, hold_reasons, created_at, decision_note,
                                     activity_id, member_id, rule_id)
        SELECT e.kind, e.occurred_at, CASE WHEN e.id %% 20 = 0 THEN 'held' ELSE 'paid' END, 10, 0,
               CASE WHEN e.id %% 20 = 0 THEN '["velocity"]' ELSE '[]' END::jsonb, e.occurred_at, '', e.id, e.member_id,
               (SELECT max(id) FROM rules_earningrule)
        FROM analytics_activityevent e
        """,
    ),
    (
        "webhooks_webhookendpoint",
        """
        INSERT INTO webhooks_webhookendpoint (created_at, updated_at, name, url, secret, event_types, is_active, status,
                                              last_failure, contact_email)
        VALUES (now(), now(), 'CRM', 'http://127.0.0.1:9/hook', 'secret', '[]', true, 'healthy', '', '')
        """,
    ),
    (
        "webhooks_webhookdelivery",
        """
        INSERT INTO webhooks_webhookdelivery (event_id, type, member_id, occurred_at, payload, sequence, status, attempts,
                                              next_attempt_at, created_at, response_body, error, endpoint_id)
        SELECT gen_random_uuid(), 'points.earned', m.id, now() - (m.id %% 365) * interval '1 day', '{}', m.id,
               CASE WHEN m.id %% 10 = 0 THEN 'dead' ELSE 'delivered' END, 1, now(), now() - (m.id %% 365) * interval '1 day',
               '', '', (SELECT max(id) FROM webhooks_webhookendpoint)
        FROM members_member m
        """,
    ),
    # Every other list of the back office whose rows grow with the programme (the benchmark visits every registered list).
    (
        "core_user",
        """
        INSERT INTO core_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined,
                               language)
        VALUES ('!', false, 'bench-staff', '', '', '', true, true, now(), '')
        """,
    ),
    (
        "analytics_rfmscore",
        """
        INSERT INTO analytics_rfmscore (member_id, recency, frequency, monetary, segment, last_purchase_day, purchases, revenue,
                                        lifetime_revenue, last_active_day, scored_at)
        SELECT m.id, 1 + m.id %% 5, 1 + m.id %% 4, 1 + m.id %% 3,
               (ARRAY['champions','loyal','potential','new','at_risk','hibernating'])[1 + m.id %% 6],
               current_date - (m.id %% 365)::int, 1 + m.id %% 9, 199 * (1 + m.id %% 9), 199 * (1 + m.id %% 9),
               current_date - (m.id %% 365)::int, now()
        FROM members_member m
        """,
    ),
    (
        "campaigns_referral",
        """
        INSERT INTO campaigns_referral (created_at, updated_at, code, state, reject_reason, qualifying_action, qualified_at,
                                        rewarded_at, referee_id, referrer_id)
        SELECT now() - (m.id %% 365) * interval '1 day', now(), 'R' || m.id,
               (ARRAY['pending','qualified','rewarded','rejected'])[1 + m.id %% 4], '', 'purchase', NULL, NULL, m.id, m.id + 1
        FROM members_member m WHERE m.id < (SELECT max(id) FROM members_member)
        """,
    ),
    (
        "core_failedtask",
        """
        INSERT INTO core_failedtask (task_id, task_name, args, kwargs, exception, traceback, retries, state, failed_at, retry_task_id)
        SELECT 'task-' || i, 'apps.messaging.tasks.send_message', '[]', '{}', 'TimeoutError', '', 3,
               CASE WHEN i %% 10 = 0 THEN 'failed' ELSE 'dismissed' END, now() - i * interval '1 minute', ''
        FROM generate_series(1, %(rows)s) AS i
        """,
    ),
    (
        "engagement_signin",
        """
        INSERT INTO engagement_signin (day, streak, signed_in_at, member_id)
        SELECT current_date - (m.id %% 365)::int, 1 + m.id %% 7, now() - (m.id %% 365) * interval '1 day', m.id FROM members_member m
        """,
    ),
    (
        "engagement_task",
        """
        INSERT INTO engagement_task (created_at, updated_at, code, title, description, goal, activity_kind, target, "window",
                                     reward_points, reward_growth, status)
        VALUES (now(), now(), 'bench-sign-in', 'Sign in 7 days', '', 'count', 'sign_in', 7, 'week', 10, 0, 'active')
        """,
    ),
    (
        "engagement_taskprogress",
        """
        INSERT INTO engagement_taskprogress (window_start, value, best_streak, last_day, completed_at, updated_at, member_id, task_id)
        SELECT current_date, 1 + m.id %% 7, 1, current_date, NULL, now(), m.id, (SELECT max(id) FROM engagement_task)
        FROM members_member m
        """,
    ),
    (
        "engagement_taskcompletion",
        """
        INSERT INTO engagement_taskcompletion (window_start, completed_at, points, growth, member_id, task_id)
        SELECT current_date, now() - (m.id %% 365) * interval '1 day', 10, 0, m.id, (SELECT max(id) FROM engagement_task)
        FROM members_member m
        """,
    ),
    (
        "events_club",
        """
        INSERT INTO events_club (created_at, updated_at, name, city, interest, description, join_policy, max_members, rule_cities)
        SELECT now(), now(), 'Club ' || i, '上海', 'ES6', '', 'approval', NULL, '' FROM generate_series(1, 3) AS i
        """,
    ),
    (
        "events_clubmembership",
        """
        INSERT INTO events_clubmembership (joined_at, left_at, club_id, member_id, role, joined_via, reason)
        SELECT now() - (m.id %% 365) * interval '1 day', NULL, (SELECT min(id) FROM events_club) + m.id %% 3, m.id,
               CASE WHEN m.id %% 100 = 0 THEN 'organiser' ELSE 'member' END, 'staff', ''
        FROM members_member m
        """,
    ),
    (
        "events_clubjoinrequest",
        """
        INSERT INTO events_clubjoinrequest (status, message, created_at, decided_at, reason, club_id, member_id)
        SELECT CASE WHEN m.id %% 5 = 0 THEN 'pending' ELSE 'approved' END, '', now() - (m.id %% 365) * interval '1 day', NULL, '',
               (SELECT min(id) FROM events_club) + m.id %% 3, m.id
        FROM members_member m
        """,
    ),
    (
        "feedback_survey",
        """
        INSERT INTO feedback_survey (code, title, intro, nps_question, status, link_valid_days, message_template_code, created_at)
        VALUES ('bench-nps', 'NPS', '', 'How likely?', 'open', 30, '', now())
        """,
    ),
    (
        "feedback_surveyresponse",
        """
        INSERT INTO feedback_surveyresponse (nps_score, answers, submitted_at, member_id, survey_id)
        SELECT m.id %% 11, '{}', now() - (m.id %% 365) * interval '1 day', m.id, (SELECT max(id) FROM feedback_survey)
        FROM members_member m
        """,
    ),
    (
        "identities_channelidentity",
        """
        INSERT INTO identities_channelidentity (created_at, updated_at, kind, app_id, external_id, unionid, adviser_userid,
                                                dealer_code, source, member_id)
        SELECT now(), now(), CASE WHEN m.id %% 2 = 0 THEN 'official_account' ELSE 'mini_program' END, 'wx-bench', 'o' || m.id,
               'u' || m.id, '', '', 'app', m.id
        FROM members_member m
        """,
    ),
    (
        "identities_subscriptionquota",
        """
        INSERT INTO identities_subscriptionquota (created_at, updated_at, template_id, remaining, member_id)
        SELECT now(), now(), 'tmpl-order', m.id %% 5, m.id FROM members_member m
        """,
    ),
    (
        "lifecycle_stagechange",
        """
        INSERT INTO lifecycle_stagechange (dimension, from_stage, to_stage, changed_at, reason, member_id)
        SELECT 'lifecycle', 'new', 'growing', now() - (m.id %% 365) * interval '1 day', 'nightly', m.id FROM members_member m
        """,
    ),
    (
        "members_duplicatecandidate",
        """
        INSERT INTO members_duplicatecandidate (reason, score, state, found_at, member_a_id, member_b_id)
        SELECT 'name_city', m.id %% 101, CASE WHEN m.id %% 3 = 0 THEN 'open' ELSE 'dismissed' END, now(), m.id, m.id + 1
        FROM members_member m WHERE m.id < (SELECT max(id) FROM members_member)
        """,
    ),
    (
        "members_tag",
        """
        INSERT INTO members_tag (name) VALUES ('bench-vip')
        """,
    ),
    (
        "members_tagchange",
        """
        INSERT INTO members_tagchange (action, source, reference, at, member_id, tag_id)
        SELECT CASE WHEN m.id %% 4 = 0 THEN 'removed' ELSE 'added' END, 'job', '', now() - (m.id %% 365) * interval '1 day', m.id,
               (SELECT max(id) FROM members_tag)
        FROM members_member m
        """,
    ),
    (
        "members_tierassignment",
        """
        INSERT INTO members_tierassignment (reason, ends_at, created_at, assigned_by_id, from_tier_id, member_id, tier_id)
        SELECT 'Invited', now() + interval '1 year', now() - (m.id %% 365) * interval '1 day', (SELECT min(id) FROM core_user),
               m.tier_id, m.id, m.tier_id
        FROM members_member m
        """,
    ),
    (
        "members_pointsadjustment",
        """
        INSERT INTO members_pointsadjustment (amount, reason, state, requested_at, decision_note, member_id, requested_by_id, entry_id)
        SELECT 100, 'Goodwill', CASE WHEN a.member_id %% 10 = 0 THEN 'pending' ELSE 'applied' END,
               now() - (a.member_id %% 365) * interval '1 day', '', a.member_id, (SELECT min(id) FROM core_user),
               CASE WHEN a.member_id %% 10 <> 0 THEN e.id END
        FROM members_pointsaccount a JOIN members_pointsentry e ON e.account_id = a.id
        """,
    ),
    (
        "members_growthadjustment",
        """
        INSERT INTO members_growthadjustment (amount, reason, state, requested_at, decision_note, member_id, requested_by_id)
        SELECT 100, 'Goodwill', CASE WHEN m.id %% 10 = 0 THEN 'pending' ELSE 'rejected' END, now() - (m.id %% 365) * interval '1 day',
               '', m.id, (SELECT min(id) FROM core_user)
        FROM members_member m
        """,
    ),
    (
        "sales_productkind",
        """
        INSERT INTO sales_productkind (created_at, updated_at, code, name, identifier_label, identifier_check, attribute_schema)
        VALUES (now(), now(), 'vehicle', 'Vehicle', 'VIN', 'none', '[]')
        """,
    ),
    (
        "sales_ownedproduct",
        """
        INSERT INTO sales_ownedproduct (created_at, updated_at, identifier, model, trim, attributes, delivered_on, status,
                                        dealer_id, owner_id, kind_id)
        SELECT now(), now(), 'VIN' || lpad(m.id::text, 14, '0'), (ARRAY['ES6','ES8','ET5'])[1 + m.id %% 3], '', '{}',
               current_date - (m.id %% 365)::int, 'owned', (SELECT min(id) FROM sales_dealer) + m.id %% 3, m.id,
               (SELECT max(id) FROM sales_productkind)
        FROM members_member m
        """,
    ),
]
