from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.decorators import action
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from apps.core import services
from apps.core.errors import ApplicationError
from apps.core.models import ApiClient, ApiScope, User

admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ["username", "email", "first_name", "last_name", "is_active", "language"]
    list_filter = ["is_active", "is_superuser", "groups"]
    fieldsets = (*BaseUserAdmin.fieldsets, (_("Back office"), {"fields": ["language"]}))


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass


class ApiClientForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(label=_("scopes"), choices=ApiScope.choices, widget=forms.CheckboxSelectMultiple, required=False)

    class Meta:
        model = ApiClient
        fields = ["name", "scopes", "is_active"]


@admin.register(ApiClient)
class ApiClientAdmin(ModelAdmin):
    form = ApiClientForm
    list_display = ["name", "key_prefix", "scopes", "is_active", "last_used_at", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "key_prefix"]
    readonly_fields = ["key_prefix", "last_used_at", "created_at"]
    fields = ["name", "scopes", "is_active", "key_prefix", "last_used_at", "created_at"]
    actions_detail = ["rotate_key"]

    def save_model(self, request: HttpRequest, obj: ApiClient, form, change: bool) -> None:
        try:
            if change:
                services.api_client_update(client=obj, name=obj.name, scopes=obj.scopes, is_active=obj.is_active)
                return
            client, raw_key = services.api_client_create(name=obj.name, scopes=obj.scopes)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return
        obj.pk = client.pk
        messages.warning(
            request, _("The key of %(name)s is %(key)s — copy it now, it is not shown again.") % {"name": client.name, "key": raw_key}
        )

    @action(description=_("Rotate key"), url_path="rotate-key", permissions=["change"])
    def rotate_key(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        client = ApiClient.objects.get(pk=object_id)
        raw_key = services.api_client_rotate_key(client=client)
        messages.warning(
            request, _("The new key of %(name)s is %(key)s — copy it now, it is not shown again.") % {"name": client.name, "key": raw_key}
        )
        return HttpResponseRedirect(reverse("admin:core_apiclient_change", args=[object_id]))
