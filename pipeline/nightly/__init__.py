"""The nightly steps, each a function of explicit inputs to outputs, that the DAG tasks, the CLI and
the benchmarks call; forecasting with the champion, monitoring, the run reports."""
