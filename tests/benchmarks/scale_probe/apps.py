from django.apps import AppConfig


class ScaleProbeConfig(AppConfig):
    """A tenant app that exists only in `make bench-scale`: each of its migrations after 0001 is
    "the next release's migration", applied to every client schema at one fleet size."""

    name = "tests.benchmarks.scale_probe"
    label = "scale_probe"
