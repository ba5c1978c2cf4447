"""xmtrade: a rule-based three-horizon strategy engine for Xiaomi Group (HKEX 1810)."""

__version__ = "0.3.0"
