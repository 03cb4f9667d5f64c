"""The benefit catalogue as a spreadsheet: staff export it, edit prices, stock and texts in Excel, and import it
back through django-import-export's preview and confirm. Every row goes through the catalogue's own rules."""

from typing import Any

from django.core.exceptions import ValidationError
from import_export import fields, resources
from import_export.widgets import ManyToManyWidget

from apps.benefits import services
from apps.benefits.models import KIND_CATEGORY, Benefit
from apps.core.errors import ApplicationError
from apps.members.models import Tier

CATALOGUE_FIELDS = (
    "id",
    "name_en",
    "name_zh_hans",
    "description_en",
    "description_zh_hans",
    "kind",
    "face_value",
    "discount_percent",
    "discount_cap",
    "unit_cost",
    "valid_from",
    "valid_until",
    "validity_days",
    "total_stock",
    "budget",
    "per_member_lifetime_limit",
    "per_member_period_limit",
    "limit_period",
    "points_price",
    "status",
    "eligible_tiers",
)


class BenefitResource(resources.ModelResource):
    eligible_tiers = fields.Field(
        attribute="eligible_tiers", column_name="eligible_tiers", widget=ManyToManyWidget(Tier, field="code", separator="|")
    )

    class Meta:
        model = Benefit
        fields = CATALOGUE_FIELDS
        export_order = CATALOGUE_FIELDS
        import_id_fields = ("id",)
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True

    def validate_instance(self, instance: Benefit, import_validation_errors: dict | None = None, validate_unique: bool = True) -> None:
        errors: dict[str, Any] = dict(import_validation_errors or {})
        # The untranslated column is what lists and exports show; it follows the English (else Chinese) name.
        instance.name = instance.name_en or instance.name_zh_hans or ""
        instance.category = KIND_CATEGORY.get(instance.kind, "")
        try:
            services.benefit_check(benefit=instance)
        except ApplicationError as exc:
            for field, message in exc.fields.items():
                errors.setdefault(field, []).append(ValidationError(message))
        super().validate_instance(instance, errors, validate_unique)

    def do_instance_save(self, instance: Benefit, is_create: bool) -> None:
        services.benefit_save(benefit=instance)
