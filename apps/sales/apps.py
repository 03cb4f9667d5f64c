from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "apps.sales"
    label = "sales"
    verbose_name = _("Dealers, leads and what members own")

    def ready(self) -> None:
        # Members shows, exports, merges and anonymises what sales keeps about a member without importing it.
        from apps.members.merging import register_member_merger
        from apps.members.personal_data import register_member_anonymiser, register_member_data_section
        from apps.members.profile_sections import register_profile_section, restrict_profile_section
        from apps.members.timeline import register_timeline_source, restrict_timeline_source
        from apps.sales import selectors, services
        from apps.sales.models import Lead, Ownership

        register_profile_section(
            name="owned_products",
            label=_("Owned products"),
            summary=selectors.owned_products_summary,
            order=20,
        )
        register_timeline_source(
            name=selectors.LEAD_SOURCE,
            label=_("Leads"),
            rows=lambda member: Lead.objects.filter(member_id=member.pk),
            time_field="received_at",
            columns=selectors.LEAD_COLUMNS,
            items=selectors.lead_timeline,
        )
        register_timeline_source(
            name=selectors.OWNERSHIP_SOURCE,
            label=_("Ownership changes"),
            rows=lambda member: Ownership.objects.filter(member_id=member.pk),
            time_field="started_at",
            columns=selectors.OWNERSHIP_COLUMNS,
            items=selectors.ownership_timeline,
        )
        # Leads and owned products (VINs) need the same rights as their own pages and the member page's sales section.
        restrict_timeline_source(name=selectors.LEAD_SOURCE, permission="sales.view_lead")
        restrict_timeline_source(name=selectors.OWNERSHIP_SOURCE, permission="sales.view_ownedproduct")
        restrict_profile_section(name="owned_products", permission="sales.view_ownedproduct")
        register_member_merger(name="sales", move=services.sales_member_merge)
        register_member_data_section(name="leads", collect=selectors.leads_personal_data)
        register_member_data_section(name="owned_products", collect=selectors.products_personal_data)
        register_member_anonymiser(services.leads_anonymise)
