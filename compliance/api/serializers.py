from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from compliance import choices as c
from compliance.models import ConsentEvent, HealthEvent, HealthSnapshot, PhoneNumber
from portal.api.fields import LocalTimeField, StrictCharField


class PhoneNumberSerializer(serializers.ModelSerializer):
    waba_id = serializers.CharField(source="account.meta_id")
    phone_number_id = serializers.CharField(source="meta_id")

    class Meta:
        model = PhoneNumber
        fields = [
            "id",
            "phone_number_id",
            "waba_id",
            "display_phone_number",
            "verified_name",
            "status",
            "quality",
            "messaging_limit",
            "throughput",
            "name_status",
            "can_send",
            "score",
            "band",
            "reasons",
            "actions",
            "assessed_at",
            "last_confirmed_at",
        ]


class HealthSnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = HealthSnapshot
        fields = ["taken_at", "status", "quality", "messaging_limit", "can_send", "score", "band"]


class HealthSeriesSerializer(serializers.Serializer):
    """A number's health time series (snapshots, oldest first)."""

    number = serializers.IntegerField()
    days = serializers.IntegerField()
    series = HealthSnapshotSerializer(many=True)


class HealthEventSerializer(serializers.ModelSerializer):
    number = serializers.IntegerField(source="number_id", allow_null=True)
    waba_id = serializers.CharField(source="account.meta_id", allow_null=True, default=None)

    class Meta:
        model = HealthEvent
        fields = [
            "id",
            "occurred_at",
            "kind",
            "severity",
            "title",
            "detail",
            "number",
            "waba_id",
            "template_name",
            "source",
            "data",
        ]


# --- Consent ----------------------------------------------------------------------------------


class TemplateRefSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=512)
    language = serializers.CharField(max_length=15)


class SendCheckInputSerializer(serializers.Serializer):
    """One `recipient` or up to 10,000 `recipients` (E.164 phones or BSUIDs); a `template` or a
    `category` (`service` for a free-form message, which needs the 24-hour window)."""

    recipient = serializers.CharField(
        max_length=140, required=False, help_text="E.164 phone or BSUID (US.1349…)"
    )
    recipients = serializers.ListField(
        child=serializers.CharField(max_length=140), required=False, max_length=10_000
    )
    template = TemplateRefSerializer(required=False)
    category = serializers.CharField(
        required=False, help_text="marketing, utility, authentication or service (free-form)"
    )
    phone_number_id = serializers.CharField(max_length=64)
    api = serializers.ChoiceField(
        choices=["cloud", "marketing_messages"],
        default="cloud",
        help_text="cloud (the Cloud API's /messages) or marketing_messages (the MM API)",
    )

    def validate_category(self, value):
        if value not in (*c.ConsentCategory.values, "service"):
            raise serializers.ValidationError(
                "Choose marketing, utility, authentication or service."
            )
        return value

    def validate(self, attrs):
        if ("recipient" in attrs) == ("recipients" in attrs):
            raise serializers.ValidationError("Give either recipient or recipients.")
        if "template" not in attrs and "category" not in attrs:
            raise serializers.ValidationError("Give a template (name and language) or a category.")
        return attrs


class ReasonSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class DecisionSerializer(serializers.Serializer):
    allowed = serializers.BooleanField()
    reasons = ReasonSerializer(many=True)


class BulkDecisionSerializer(DecisionSerializer):
    recipient = serializers.CharField()


class HeadroomSerializer(serializers.Serializer):
    """The business portfolio's messaging limit against its 24-hour usage."""

    portfolio = serializers.CharField()
    limit = serializers.IntegerField()
    used = serializers.IntegerField()
    remaining = serializers.IntegerField(help_text="Before this request")
    remaining_after = serializers.IntegerField(help_text="After the allowed new recipients")
    new_recipients = serializers.IntegerField()


class BulkSendCheckSerializer(serializers.Serializer):
    results = BulkDecisionSerializer(many=True)
    allowed = serializers.IntegerField()
    denied = serializers.IntegerField()
    portfolio = HeadroomSerializer(allow_null=True)


META_SOURCES = {
    c.ConsentSource.WHATSAPP_KEYWORD,
    c.ConsentSource.META_131050,
    c.ConsentSource.META_USER_PREFERENCES,
}
RECORDABLE_SOURCES = [s for s in c.ConsentSource.values if s not in META_SOURCES]


class ConsentInputSerializer(serializers.Serializer):
    """An opt-in or opt-out with its evidence (Meta's own sources arrive by webhook only)."""

    categories = list(c.ConsentCategory.values)

    phone = serializers.CharField(max_length=40, required=False, default="")
    bsuid = serializers.CharField(
        max_length=140, required=False, default="", help_text="WhatsApp user id, e.g. US.1349…"
    )
    username = serializers.CharField(max_length=40, required=False, default="")
    category = serializers.CharField(help_text="marketing, utility or authentication")
    source = serializers.CharField(
        default=c.ConsentSource.API.value, help_text=", ".join(RECORDABLE_SOURCES)
    )
    source_id = serializers.CharField(max_length=200, required=False, default="")
    wording = serializers.CharField(required=False, default="", allow_blank=True)
    wording_version = serializers.CharField(
        max_length=50, required=False, default="", allow_blank=True
    )
    page_url = serializers.URLField(max_length=500, required=False, default="", allow_blank=True)
    ip_address = serializers.IPAddressField(required=False, allow_null=True, default=None)
    user_agent = serializers.CharField(required=False, default="", allow_blank=True)
    channel = serializers.CharField(max_length=50, required=False, default="", allow_blank=True)
    occurred_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    name = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)

    def validate_category(self, value):
        if value not in self.categories:
            raise serializers.ValidationError(f"Choose one of {', '.join(self.categories)}.")
        return value

    def validate_source(self, value):
        if value not in RECORDABLE_SOURCES:
            raise serializers.ValidationError(f"Choose one of {', '.join(RECORDABLE_SOURCES)}.")
        return value

    def validate_bsuid(self, value):
        from compliance.identity import bsuid_validate

        try:
            return bsuid_validate(value) if value else ""
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_username(self, value):
        from compliance.identity import username_validate

        try:
            return username_validate(value) if value else ""
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate(self, attrs):
        if not (attrs.get("phone") or attrs.get("bsuid") or attrs.get("username")):
            raise serializers.ValidationError(
                {"phone": ["Give a phone number, a WhatsApp user id (bsuid) or a username."]}
            )
        return attrs


class OptInInputSerializer(ConsentInputSerializer):
    pass


class OptOutInputSerializer(ConsentInputSerializer):
    categories = [*c.ConsentCategory.values, "all"]
    category = serializers.CharField(help_text="marketing, utility, authentication or all")


class ConsentEventSerializer(serializers.ModelSerializer):
    phone = serializers.CharField(source="contact.phone", allow_null=True)
    bsuid = serializers.CharField(source="contact.bsuid", allow_null=True)
    # plain strings in the schema: enum names would collide with other "category"/"source" sets
    category = serializers.CharField()
    kind = serializers.CharField()
    source = serializers.CharField()

    class Meta:
        model = ConsentEvent
        fields = [
            "id",
            "phone",
            "bsuid",
            "category",
            "kind",
            "source",
            "wording",
            "wording_version",
            "page_url",
            "ip_address",
            "user_agent",
            "channel",
            "actor_label",
            "data",
            "occurred_at",
            "recorded_at",
        ]


class ConsentRecordedSerializer(serializers.Serializer):
    """The events a POST recorded (empty when each was recorded before: idempotent)."""

    recorded = ConsentEventSerializer(many=True)


class ContactSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="For `contacts/{id}/timeline/`.")
    phone = serializers.CharField(allow_null=True)
    bsuid = serializers.CharField(allow_null=True)
    username = serializers.CharField(allow_null=True)
    wa_id = serializers.CharField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    states = serializers.DictField(child=serializers.CharField())
    history = ConsentEventSerializer(many=True)


class RestrictionSerializer(serializers.ModelSerializer):
    restriction_type = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        from compliance.models import AccountRestriction

        model = AccountRestriction
        fields = ["restriction_type", "expires_at", "remediation", "received_at"]


class PortfolioUsageSerializer(serializers.Serializer):
    """A business portfolio's shared messaging limit, its 24-hour usage and its scaling state
    (the `portfolio/` endpoint adds its numbers and tier history)."""

    id = serializers.CharField(help_text="Meta's business portfolio id")
    name = serializers.CharField()
    messaging_limit = serializers.CharField(help_text="tier_250, tier_2k, …, unlimited")
    limit_words = serializers.CharField()
    limit = serializers.IntegerField(allow_null=True, help_text="Null: unlimited or not known")
    used = serializers.IntegerField(help_text="Unique recipients, business-initiated, 24 h")
    remaining = serializers.IntegerField(allow_null=True)
    percent = serializers.IntegerField(allow_null=True)
    measured_at = serializers.DateTimeField()
    max_phone_numbers = serializers.IntegerField(allow_null=True)
    scaling_state = serializers.CharField()
    scaling_label = serializers.CharField()


def portfolio_usage_row(portfolio, usage) -> dict:
    """What `PortfolioUsageSerializer` shows of a portfolio and its `compliance.portfolio.Usage`."""
    from compliance.portfolio import limit_words

    return {
        "id": portfolio.meta_id,
        "name": portfolio.name,
        "messaging_limit": portfolio.messaging_limit,
        "limit_words": limit_words(portfolio.messaging_limit),
        "limit": usage.limit,
        "used": usage.used,
        "remaining": usage.remaining,
        "percent": usage.percent,
        "measured_at": usage.measured_at,
        "max_phone_numbers": portfolio.max_phone_numbers,
        "scaling_state": portfolio.scaling_state,
        "scaling_label": portfolio.get_scaling_state_display(),
    }


class AccountSerializer(serializers.ModelSerializer):
    """A WABA; its portfolio's usage comes with the row when the queryset is
    `compliance.portfolio.accounts_with_portfolio_usage` (no query per row)."""

    waba_id = serializers.CharField(source="meta_id")
    review_status = serializers.CharField()
    business_verification = serializers.CharField()
    ban_state = serializers.CharField()
    ban_date = serializers.CharField(help_text="The date of the ban, as Meta wrote it.")
    ban_state_at = serializers.DateTimeField(allow_null=True)
    can_send = serializers.CharField()
    restrictions = RestrictionSerializer(many=True, source="active_restrictions")
    portfolio = serializers.SerializerMethodField(
        help_text="The business portfolio that owns the WABA (null until Meta has said which)."
    )

    class Meta:
        from compliance.models import WhatsAppAccount

        model = WhatsAppAccount
        fields = [
            "id",
            "waba_id",
            "name",
            "currency",
            "timezone_id",
            "review_status",
            "business_verification",
            "ban_state",
            "ban_date",
            "ban_state_at",
            "can_send",
            "restrictions",
            "portfolio",
            "last_confirmed_at",
        ]

    @extend_schema_field(PortfolioUsageSerializer(allow_null=True))
    def get_portfolio(self, account) -> dict | None:
        from compliance.portfolio import account_portfolio_usage

        usage = account_portfolio_usage(account)
        if usage is None:
            return None
        return PortfolioUsageSerializer(portfolio_usage_row(account.portfolio, usage)).data


class AlertSerializer(serializers.ModelSerializer):
    event = HealthEventSerializer()
    acknowledged = serializers.SerializerMethodField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    acknowledged_by = serializers.SerializerMethodField()

    class Meta:
        from compliance.models import Alert

        model = Alert
        fields = ["id", "created_at", "acknowledged", "acknowledged_at", "acknowledged_by", "event"]

    def get_acknowledged(self, obj) -> bool:
        return obj.acknowledged_at is not None

    def get_acknowledged_by(self, obj) -> str | None:
        return obj.acknowledged_by.email if obj.acknowledged_by_id else None


class SyncRunSerializer(serializers.ModelSerializer):
    state = serializers.CharField()
    percent = serializers.IntegerField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    class Meta:
        from compliance.models import SyncRun

        model = SyncRun
        fields = [
            "id",
            "state",
            "percent",
            "steps_done",
            "steps_total",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]


class PolicySerializer(serializers.ModelSerializer):
    quiet_hours_start = LocalTimeField(allow_null=True)
    quiet_hours_end = LocalTimeField(allow_null=True)
    opt_out_keywords = serializers.ListField(child=serializers.CharField())

    class Meta:
        from compliance.models import MessagingPolicy

        model = MessagingPolicy
        fields = [
            "marketing_cap",
            "utility_cap",
            "window_days",
            "quiet_hours_start",
            "quiet_hours_end",
            "time_zone",
            "opt_out_keywords",
        ]


class PolicyInputSerializer(serializers.Serializer):
    """Only the fields given change; the settings page's rules apply."""

    marketing_cap = serializers.IntegerField(min_value=0, max_value=32767, required=False)
    utility_cap = serializers.IntegerField(min_value=0, max_value=32767, required=False)
    window_days = serializers.IntegerField(min_value=1, max_value=90, required=False)
    quiet_hours_start = LocalTimeField(allow_null=True, required=False)
    quiet_hours_end = LocalTimeField(allow_null=True, required=False)
    time_zone = StrictCharField(max_length=64, required=False)
    opt_out_keywords = serializers.ListField(
        child=StrictCharField(max_length=50), required=False, max_length=100
    )


class ActivitySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    actor = serializers.CharField(source="actor_label")
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)
