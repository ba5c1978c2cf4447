"""`xmtrade explain`: the configured plan taken apart rule by rule.

One variant per rule family (`variants`), each a config with that family switched off or set
to its neutral value; every run screened in the kernel and confirmed in backtrader (`runs`);
the paired daily return differences bootstrapped (`statistics`) over the whole window, each
calendar year and each named regime (`spans`); the table in the terminal and as JSON, and
explain.html (`page`) in an atomically written run folder (`output`)."""
