"""Every change to members, tiers, growth value and points, by concern:

- ``profile``: enrolment, profile edits, consent, status transitions;
- ``privacy``: PIPL data export, anonymisation, redaction of free text;
- ``tokens``: member tokens for the member app;
- ``ledger``: every points and growth-value write, for one member or set-based for many;
- ``tiers``: tier evaluation and changes, tier history, tier setup;
- ``tags``: every tag added to or removed from members, with its tag history.

Callers import the services from here (``from apps.members.services import points_earn``).
"""

from apps.members.services.duplicates import DuplicatesFound, duplicate_dismiss, duplicates_find
from apps.members.services.ledger import (
    MAX_POINTS_PER_OPERATION,
    AccountOwner,
    GrowthCredit,
    PointsCredit,
    default_points_expiry,
    growth_add,
    growth_add_many,
    growth_adjust,
    growth_adjustment_approve,
    growth_adjustment_reject,
    points_accounts_open,
    points_adjust,
    points_adjustment_approve,
    points_adjustment_reject,
    points_credit_many,
    points_earn,
    points_earn_bulk,
    points_expire_due,
    points_reverse,
    points_spend,
)
from apps.members.services.merge import member_merge, member_merge_conflicts
from apps.members.services.privacy import MEMBER_DATA_FORMAT, ledger_text_redact, member_anonymise, member_data_export
from apps.members.services.profile import (
    PROFILE_FIELDS,
    member_check_unique,
    member_close,
    member_enrol,
    member_enrol_prospect,
    member_freeze,
    member_set_consent,
    member_unfreeze,
    member_update_profile,
    member_withdraw_all_consents,
    members_history_record_created,
    prospect_register,
)
from apps.members.services.tags import member_tags_set, tags_add, tags_by_name, tags_remove
from apps.members.services.tiers import (
    TierEvaluation,
    TierStart,
    TierThresholds,
    lowest_tier,
    tier_assign,
    tier_history_start,
    tier_save,
    tiers_evaluate,
    tiers_save_thresholds,
)
from apps.members.services.tokens import member_token_issue, member_tokens_revoke

__all__ = [
    "MAX_POINTS_PER_OPERATION",
    "MEMBER_DATA_FORMAT",
    "PROFILE_FIELDS",
    "AccountOwner",
    "DuplicatesFound",
    "GrowthCredit",
    "PointsCredit",
    "TierEvaluation",
    "TierStart",
    "TierThresholds",
    "default_points_expiry",
    "duplicate_dismiss",
    "duplicates_find",
    "growth_add",
    "growth_add_many",
    "growth_adjust",
    "growth_adjustment_approve",
    "growth_adjustment_reject",
    "ledger_text_redact",
    "lowest_tier",
    "member_anonymise",
    "member_check_unique",
    "member_close",
    "member_data_export",
    "member_enrol",
    "member_enrol_prospect",
    "member_freeze",
    "member_merge",
    "member_merge_conflicts",
    "member_set_consent",
    "member_tags_set",
    "member_token_issue",
    "member_tokens_revoke",
    "member_unfreeze",
    "member_update_profile",
    "member_withdraw_all_consents",
    "members_history_record_created",
    "points_accounts_open",
    "points_adjust",
    "points_adjustment_approve",
    "points_adjustment_reject",
    "points_credit_many",
    "points_earn",
    "points_earn_bulk",
    "points_expire_due",
    "points_reverse",
    "points_spend",
    "prospect_register",
    "tags_add",
    "tags_by_name",
    "tags_remove",
    "tier_assign",
    "tier_history_start",
    "tier_save",
    "tiers_evaluate",
    "tiers_save_thresholds",
]
