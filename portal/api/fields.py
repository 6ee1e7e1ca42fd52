"""Input fields that take only the documented JSON type (DRF's own coerce `0` to "0" and
`false` to 0.0, which the schema does not promise)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(
    {
        "type": "string",
        "nullable": True,
        "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]+)?)?$",
        "example": "21:00",
    }
)
class LocalTimeField(serializers.TimeField):
    """A wall-clock time without a UTC offset, as `HH:MM` (JSON Schema's `time` format needs
    an offset, which a local quiet-hours time has not)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("format", "%H:%M")
        super().__init__(**kwargs)


class NoUnknownFields:
    """Serializer mixin: a field the input does not define is a 400, not silently dropped."""

    def validate(self, attrs):
        unknown = set(getattr(self, "initial_data", {}) or {}) - set(self.fields)
        if unknown:
            raise serializers.ValidationError(
                {name: ["This field is not part of this request."] for name in sorted(unknown)}
            )
        return super().validate(attrs)
