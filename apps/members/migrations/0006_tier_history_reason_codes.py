"""Tier history written before reasons had codes: the texts the system wrote (in English or Chinese) become codes
with parameters, so they read in each reader's language. Texts that do not parse (staff notes) stay as they are.
The points ledger is append-only, so its older rows keep their stored text (the back office shows it as written)."""

import re

from django.db import migrations

PLAIN = {
    "Enrolment": "enrolment",
    "入会": "enrolment",
    "Imported": "imported",
    "导入": "imported",
    "Imported with tier from the previous programme": "imported_with_tier",
    "导入，沿用原会员体系的等级": "imported_with_tier",
}
PATTERNS = [
    ("tier_promoted", re.compile(r"^Growth value (?P<value>\d+) reached the (?P<tier>.+) threshold of (?P<threshold>\d+)\.$")),
    ("tier_promoted", re.compile(r"^成长值 (?P<value>\d+) 达到(?P<tier>.+)门槛 (?P<threshold>\d+)。$")),
    (
        "tier_demoted",
        re.compile(
            r"^Growth value (?P<value>\d+) stayed below the (?P<tier>.+) threshold of (?P<threshold>\d+) after the guarantee period\.$"
        ),
    ),
]


def to_codes(apps, schema_editor):
    TierChange = apps.get_model("members", "TierChange")
    Tier = apps.get_model("members", "Tier")
    tiers = {}
    for tier in Tier.objects.all():
        names = {"en": tier.name_en or tier.name, "zh-hans": tier.name_zh_hans or tier.name}
        for name in (tier.name, tier.name_en, tier.name_zh_hans):
            if name:
                tiers[name] = names
    for text, code in PLAIN.items():
        TierChange.objects.filter(reason=text, reason_code="").update(reason_code=code, reason_params={})
    for change in TierChange.objects.filter(reason_code="", reason__regex=r"^(Growth value|成长值) ").iterator():
        for code, pattern in PATTERNS:
            match = pattern.match(change.reason)
            if match:
                tier = match["tier"]
                params = {"value": int(match["value"]), "tier": tiers.get(tier, tier), "threshold": int(match["threshold"])}
                TierChange.objects.filter(pk=change.pk).update(reason_code=code, reason_params=params)
                break


class Migration(migrations.Migration):
    dependencies = [("members", "0005_coded_reasons")]

    operations = [migrations.RunPython(to_codes, migrations.RunPython.noop)]
