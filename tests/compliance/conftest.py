# The shared assets (acme_waba, globex_waba, acme_number) are root fixtures: tests/assets.py.
from tests.assets import ACME_PHONE, ACME_WABA, GLOBEX_WABA

__all__ = ["ACME_PHONE", "ACME_WABA", "GLOBEX_WABA"]
