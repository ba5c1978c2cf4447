"""The screening kernel: the strategy compiled with numba over precomputed arrays, and its
parity with backtrader (xmtrade/kernel/screen.py, tests/xmtrade/kernel/)."""
