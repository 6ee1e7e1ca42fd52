from __future__ import annotations

import json

from rest_framework import serializers

# Generous bounds on the request itself (Meta's own limits are the linter's findings, not 400s):
# a template is a handful of components and a few kilobytes of JSON.
MAX_COMPONENTS = 20
MAX_COMPONENTS_JSON = 100_000


class LintInputSerializer(serializers.Serializer):
    """A template draft in Meta's shape. Blank fields are allowed: the linter reports them."""

    name = serializers.CharField(allow_blank=True, max_length=2048, trim_whitespace=False)
    language = serializers.CharField(allow_blank=True, max_length=64)
    category = serializers.CharField(allow_blank=True, max_length=64)
    parameter_format = serializers.CharField(
        required=False, default="positional", allow_blank=True, max_length=32
    )
    components = serializers.ListField(
        child=serializers.DictField(), allow_empty=True, max_length=MAX_COMPONENTS
    )

    def validate_components(self, components: list[dict]) -> list[dict]:
        for index, component in enumerate(components):
            if not isinstance(component.get("type"), str):
                raise serializers.ValidationError(
                    f"Component {index + 1} needs a `type` (HEADER, BODY, FOOTER or BUTTONS)."
                )
        if len(json.dumps(components)) > MAX_COMPONENTS_JSON:
            raise serializers.ValidationError("The components are too large to be a template.")
        return components


class LintFindingSerializer(serializers.Serializer):
    severity = serializers.ChoiceField(choices=["error", "warning", "info"])
    code = serializers.CharField()
    message = serializers.CharField()
    component = serializers.CharField(allow_null=True)


class LintResultSerializer(serializers.Serializer):
    findings = LintFindingSerializer(many=True)
    errors = serializers.IntegerField()
    warnings = serializers.IntegerField()
