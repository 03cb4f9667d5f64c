"""Uploaded customer files name many people: those naming an anonymised member are deleted."""

from apps.imports.services import import_files_forget_member
from apps.members.models import Member
from apps.members.personal_data import register_member_anonymiser


def anonymise_import_files(member: Member) -> None:
    import_files_forget_member(member=member)


def register() -> None:
    register_member_anonymiser(anonymise_import_files)
