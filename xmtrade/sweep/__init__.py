"""Parameter sweeps and walk-forward validation of the strategy.

- `grid`: the grid file (lists, ranges, random sampling) and its combinations;
- `work`: one backtest per combination, with data and indicators shared across runs;
- `executors`: where the runs happen (this process, a process pool, Dask distributed);
- `runner`: a sweep from grid to sorted results, with progress and clean interrupts;
- `overfitting`: the deflated Sharpe ratio and the probability of backtest overfitting;
- `walkforward`: train/test windows, the stitched out-of-sample equity;
- `output`: results.csv, best.yaml, heatmap and charts, sweep.json.
"""
