"""The list benchmark measures every list registered in the back office: a list added later is measured or fails here."""

from django.contrib import admin
from django.urls import reverse

from bench.member_list import NOT_LISTS, PAGES, unmeasured_lists


def test_every_registered_list_is_measured_or_named_as_no_list():
    assert unmeasured_lists() == []


def test_the_benchmark_names_no_page_that_is_not_registered():
    registered = {reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist") for model in admin.site._registry}
    named = {path for _name, path, _filters in PAGES} | set(NOT_LISTS)
    assert named - registered == set()
    assert len({path for _name, path, _filters in PAGES}) == len(PAGES), "each list is measured under one name"
