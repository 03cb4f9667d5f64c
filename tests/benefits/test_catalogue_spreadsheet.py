import re

import pytest
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.benefits.models import Benefit, BenefitCategory
from apps.benefits.resources import BenefitResource
from apps.core.roles import CUSTOMER_SERVICE, OPERATIONS_MANAGER
from tests.benefits.factories import BenefitFactory
from tests.members.factories import tier

pytestmark = pytest.mark.django_db

HEADER = (
    "id,name_en,name_zh_hans,kind,face_value,unit_cost,validity_days,discount_percent,discount_cap,points_price,status,eligible_tiers\n"
)


def upload(client, text: str):
    """The back office's import: choose a CSV, see the preview; returns the preview page."""
    page = client.get(reverse("admin:benefits_benefit_import")).content.decode()
    csv_format = re.search(r'<option value="(\d+)"[^>]*>\s*csv\s*</option>', page, re.IGNORECASE).group(1)
    return client.post(
        reverse("admin:benefits_benefit_import"),
        {"format": csv_format, "import_file": SimpleUploadedFile("catalogue.csv", text.encode("utf-8"), "text/csv"), "resource": "0"},
    )


def confirm(client, preview):
    form = preview.context["confirm_form"]
    return client.post(reverse("admin:benefits_benefit_process_import"), {**form.initial, "resource": "0"})


def test_export_lists_the_catalogue_with_tier_codes():
    benefit = BenefitFactory(name="Free car wash", points_price=300)
    benefit.eligible_tiers.set([tier("gold"), tier("vip")])
    row = BenefitResource().export(queryset=Benefit.objects.filter(pk=benefit.pk)).dict[0]
    assert row["name_en"] == "Free car wash" and row["points_price"] == "300"
    assert set(row["eligible_tiers"].split("|")) == {"gold", "vip"}


def test_import_previews_then_creates_and_updates_through_the_catalogue_rules(client, staff):
    existing = BenefitFactory(name="Free car wash", unit_cost="25.00")
    client.force_login(staff(OPERATIONS_MANAGER))
    preview = upload(
        client,
        HEADER
        + f"{existing.pk},Free car wash,免费洗车,free_product,80,20,90,,,300,active,gold|vip\n"
        + ",Birthday gift box,生日礼盒,free_product,199,120,30,,,,active,\n",
    )
    assert preview.status_code == 200 and "confirm_form" in preview.context
    assert Benefit.objects.count() == 1, "the preview writes nothing"

    confirm(client, preview)

    existing.refresh_from_db()
    assert (existing.unit_cost, existing.points_price, existing.name_zh_hans) == (20, 300, "免费洗车")
    assert set(existing.eligible_tiers.values_list("code", flat=True)) == {"gold", "vip"}
    created = Benefit.objects.get(name_en="Birthday gift box")
    assert created.category == BenefitCategory.ECONOMIC and created.name == "Birthday gift box"


def test_a_row_breaking_the_rules_is_named_and_nothing_is_imported(client, staff):
    client.force_login(staff(OPERATIONS_MANAGER))
    preview = upload(
        client,
        HEADER
        + ",Good one,好的,free_product,10,5,30,,,,active,\n"
        + ",Half off,五折,percent_discount,0,10,30,50,,,active,\n"
        + ",No validity,无有效期,free_product,10,5,,,,,active,\n",
    )
    page = preview.content.decode()
    assert "confirm_form" not in preview.context
    assert "A percentage discount needs a percentage and a cap." in page
    assert "Give a fixed validity window or a number of days after grant." in page
    assert not Benefit.objects.exists()


def test_import_needs_the_change_permission(client, staff):
    client.force_login(staff(CUSTOMER_SERVICE))
    assert client.get(reverse("admin:benefits_benefit_import")).status_code == 403
    assert client.get(reverse("admin:benefits_benefit_export")).status_code == 200


def test_export_neutralises_formulas(client, staff):
    BenefitFactory(name='=HYPERLINK("http://evil")')
    client.force_login(staff(OPERATIONS_MANAGER))
    dataset = BenefitResource().export()
    assert dataset.dict[0]["name_en"].startswith("=")
    page = client.get(reverse("admin:benefits_benefit_export")).content.decode()
    csv_format = re.search(r'<option value="(\d+)"[^>]*>\s*csv\s*</option>', page, re.IGNORECASE).group(1)
    response = client.post(
        reverse("admin:benefits_benefit_export"), {"format": csv_format, "resource": "0", "benefitresource_name_en": "on"}
    )
    exported = tablib.Dataset().load(response.content.decode("utf-8-sig"), format="csv")
    assert not any(cell.startswith("=") for row in exported for cell in row if cell)


FORMULA_LIKE_NAMES = ['=HYPERLINK("x")', "+1", "-2", "@a", "'quoted", "'=already escaped", "plain"]


def export_file(client, file_format: str) -> bytes:
    page = client.get(reverse("admin:benefits_benefit_export")).content.decode()
    format_value = re.search(rf'<option value="(\d+)"[^>]*>\s*{file_format}\s*</option>', page, re.IGNORECASE).group(1)
    selected = {f"benefitresource_{name}": "on" for name in ("id", "name_en", "name_zh_hans", "kind", "status")}
    response = client.post(reverse("admin:benefits_benefit_export"), {"format": format_value, "resource": "0", **selected})
    assert response.status_code == 200
    return response.content


def import_file(client, file_format: str, content: bytes):
    page = client.get(reverse("admin:benefits_benefit_import")).content.decode()
    format_value = re.search(rf'<option value="(\d+)"[^>]*>\s*{file_format}\s*</option>', page, re.IGNORECASE).group(1)
    preview = client.post(
        reverse("admin:benefits_benefit_import"),
        {"format": format_value, "import_file": SimpleUploadedFile(f"catalogue.{file_format}", content), "resource": "0"},
    )
    assert "confirm_form" in preview.context, preview.content.decode()
    return preview


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_formula_like_names_survive_export_and_import_unchanged(client, staff, file_format):
    benefits = [BenefitFactory(name_en=name, name_zh_hans=f"{name}中") for name in FORMULA_LIKE_NAMES]
    client.force_login(staff(OPERATIONS_MANAGER))
    content = export_file(client, file_format)
    Benefit.objects.update(name_en="changed", name_zh_hans="改了")

    confirm(client, import_file(client, file_format, content))

    for benefit, name in zip(benefits, FORMULA_LIKE_NAMES, strict=True):
        benefit.refresh_from_db()
        assert (benefit.name_en, benefit.name_zh_hans) == (name, f"{name}中")


def test_csv_export_escapes_formulas_with_the_documented_apostrophe(client, staff):
    BenefitFactory(name_en='=HYPERLINK("x")')
    client.force_login(staff(OPERATIONS_MANAGER))
    exported = tablib.Dataset().load(export_file(client, "csv").decode("utf-8-sig"), format="csv")
    assert exported.dict[0]["name_en"] == '\'=HYPERLINK("x")'


def test_xlsx_export_stores_formula_like_names_as_text_cells(client, staff):
    from io import BytesIO

    import openpyxl

    BenefitFactory(name_en='=HYPERLINK("x")')
    client.force_login(staff(OPERATIONS_MANAGER))
    sheet = openpyxl.load_workbook(BytesIO(export_file(client, "xlsx"))).active
    header = [cell.value for cell in sheet[1]]
    name_cell = sheet[2][header.index("name_en")]
    assert (name_cell.value, name_cell.data_type) == ('=HYPERLINK("x")', "s")
