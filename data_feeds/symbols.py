"""What a ticker may look like (a cache file is named after it): 1810.HK, ^HSI, HKD=X."""

from __future__ import annotations

import re

SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.^=_-]*$")
SYMBOL_EXPECTED = "expected a ticker like 1810.HK (letters, digits, '.', '^', '=', '_', '-')"
