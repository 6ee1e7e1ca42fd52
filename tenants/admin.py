from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from tenants.models import ApiKey, Client, Domain, Membership, User


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "schema_name", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["name", "slug"]
    readonly_fields = ["schema_name", "is_template", "storage_bytes", "housekept_at", "created_at"]
    inlines = [DomainInline, MembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).exclude(schema_name="public")

    def has_add_permission(self, request):
        return False  # provisioning goes through the staff console / `create_client`


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_staff", "staff_role", "is_active"]
    list_filter = ["is_staff", "staff_role", "is_active"]
    search_fields = ["email", "full_name"]
    fieldsets = [
        (None, {"fields": ["email", "password", "full_name"]}),
        ("BSP staff", {"fields": ["is_staff", "staff_role", "is_superuser", "groups"]}),
        ("Status", {"fields": ["is_active", "last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"fields": ["email", "password1", "password2"]})]
    inlines = [MembershipInline]
    actions = ["deactivate"]

    def has_delete_permission(self, request, obj=None):
        # People are deactivated, not deleted: their name stays on audit rows and on the
        # records of every client they worked in.
        return False

    @admin.action(description="Deactivate (they can no longer sign in)")
    def deactivate(self, request, queryset):
        from tenants.services import user_deactivate

        for user in queryset:
            user_deactivate(user=user, actor=request.user)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "client", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_select_related = ["client"]
    readonly_fields = ["prefix", "key_hash", "created_at", "last_used_at", "created_by"]
    search_fields = ["name", "prefix", "client__name"]

    def has_add_permission(self, request):
        return False  # keys are created with `create_api_key` so the secret is shown once
