"""Staff roles are groups whose permissions are declared here and kept in sync on every migrate.

A pattern is ``app_label.codename`` where the codename may be ``*`` (every permission of the app) or
start with ``view_*`` (every view permission). Apps that land later add their lines here.
"""

from fnmatch import fnmatch

from django.utils.translation import gettext_lazy as _

OPERATIONS_MANAGER = "Operations manager"
CUSTOMER_SERVICE = "Customer service"
CAMPAIGN_MANAGER = "Campaign manager"
ANALYST = "Analyst"
AUDITOR = "Auditor"

ROLE_LABELS = {
    OPERATIONS_MANAGER: _("Operations manager"),
    CUSTOMER_SERVICE: _("Customer service"),
    CAMPAIGN_MANAGER: _("Campaign manager"),
    ANALYST: _("Analyst"),
    AUDITOR: _("Auditor"),
}

PROJECT_APPS = (
    "core",
    "members",
    "identities",
    "messaging",
    "benefits",
    "campaigns",
    "events",
    "analytics",
    "imports",
    "engagement",
    "rules",
    "journeys",
    "tagging",
    "sales",
    "lifecycle",
)

ROLE_PERMISSIONS: dict[str, list[str]] = {
    OPERATIONS_MANAGER: [f"{app}.*" for app in PROJECT_APPS if app != "core"]
    + ["core.view_apiclient", "core.view_failedtask", "core.change_failedtask", "django_celery_beat.view_*"]
    + ["abuse.*", "webhooks.*", "feedback.*"],
    CUSTOMER_SERVICE: [
        "members.view_member",
        "members.view_tier",
        "members.view_tierchange",
        "members.view_pointsentry",
        "members.view_member_pii",
        "members.export_member_data",
        "members.adjust_points",
        "members.view_pointsadjustment",
        "members.adjust_growth",
        "members.view_growthadjustment",
        "members.view_tierassignment",
        "members.change_member",
        # Customer service find and merge duplicate members (客服 handle "I have two accounts").
        "members.merge_member",
        "members.view_duplicatecandidate",
        "members.view_membermerge",
        # The profile's tags panel: agents read a member's tags at a glance.
        "members.view_tag",
        "benefits.view_*",
        "benefits.add_redemption",
        "events.view_*",
        "events.change_registration",
        "events.change_clubmembership",
        "events.change_clubjoinrequest",
        "messaging.view_*",
        "abuse.view_*",
        "engagement.view_*",
        "identities.view_*",
        # "Why didn't I earn?": the rules and their awards, read-only.
        "rules.view_earningrule",
        "rules.view_ruleaward",
        # Reads tags and attributes on the profile and corrects a member's values; defining attributes is not theirs.
        "members.view_tagchange",
        "tagging.view_attribute",
        "tagging.edit_member_attributes",
        # Dealers, products and leads, read; a member's test drives, orders and deliveries recorded; prospects enrolled.
        "sales.view_*",
        "sales.record_journey_event",
        "sales.enrol_prospect",
        # Feedback and complaints: the queue, replies, resolution; survey answers read-only.
        "feedback.view_feedbackitem",
        "feedback.add_feedbackitem",
        "feedback.handle_feedbackitem",
        "feedback.view_feedbackcategory",
        "feedback.view_surveyresponse",
    ],
    CAMPAIGN_MANAGER: [
        "members.view_member",
        "members.view_tier",
        "members.view_tag",
        "benefits.view_*",
        "campaigns.*",
        "messaging.*",
        "identities.view_subscriptionquota",
        "events.view_*",
        "analytics.view_*",
        "engagement.*",
        # Designs earning rules and simulates them; releasing held awards stays with operations managers.
        "rules.view_*",
        "rules.add_earningrule",
        "rules.change_earningrule",
        "rules.add_ruletiermultiplier",
        "rules.change_ruletiermultiplier",
        "rules.delete_ruletiermultiplier",
        # Builds and runs journeys.
        "journeys.*",
        # Tags whole segments and uploaded lists, and keeps auto-tag rules.
        "members.view_tagchange",
        "tagging.view_*",
        "tagging.add_tagjob",
        "tagging.add_autotagrule",
        "tagging.change_autotagrule",
        # Owners and dealers are what ownership segments pick from.
        "sales.view_dealer",
        "sales.view_ownedproduct",
        # Writes surveys and sends them through campaigns; reads their results.
        "feedback.view_survey",
        "feedback.add_survey",
        "feedback.change_survey",
        "feedback.add_surveyquestion",
        "feedback.change_surveyquestion",
        "feedback.delete_surveyquestion",
        "feedback.view_surveyquestion",
        "feedback.view_survey_results",
    ],
    ANALYST: [f"{app}.view_*" for app in PROJECT_APPS if app != "core"]
    + ["members.export_member", "feedback.view_survey", "feedback.view_surveyquestion", "feedback.view_survey_results"],
    # Reads the access log and the audit trail; sees members masked, changes nothing.
    AUDITOR: [
        "core.view_accesslogentry",
        "core.view_failedtask",
        "members.view_member",
        "members.view_tierchange",
        "members.view_pointsentry",
        "members.view_pointsadjustment",
        "rules.view_ruleaward",
        "members.view_growthadjustment",
        "members.view_tierassignment",
        "members.view_tagchange",
        "tagging.view_tagjob",
        "members.view_membermerge",
    ],
}

# Sensitive permissions: only their own name or a whole-app ``*`` grants them, never ``view_*``.
EXPLICIT_ONLY = {
    "members.view_member_pii",
    "members.adjust_points_unlimited",
    "members.approve_pointsadjustment",
    "members.adjust_growth_unlimited",
    "members.approve_growthadjustment",
    "members.assign_tier",
    "members.export_member",
    "members.export_member_data",
    "members.anonymise_member",
    "members.merge_member",
}


def permission_matches(pattern: str, app_label: str, codename: str) -> bool:
    pattern_app, _sep, pattern_code = pattern.partition(".")
    if pattern_app != app_label:
        return False
    qualified = f"{app_label}.{codename}"
    if qualified in EXPLICIT_ONLY:
        return pattern == qualified or pattern_code == "*"
    return fnmatch(codename, pattern_code)


def sync_roles(group_model: type, permission_model: type) -> None:
    permissions = list(permission_model.objects.select_related("content_type"))
    for role, patterns in ROLE_PERMISSIONS.items():
        group, _created = group_model.objects.get_or_create(name=role)
        wanted = [
            permission
            for permission in permissions
            if any(permission_matches(p, permission.content_type.app_label, permission.codename) for p in patterns)
        ]
        group.permissions.set(wanted)
