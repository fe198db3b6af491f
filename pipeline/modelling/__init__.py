"""Modelling without I/O: training a family (engine), scoring, backtest windows, the choice and
combination of candidates (selection), prediction intervals, warm starts."""
