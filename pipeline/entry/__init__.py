"""Entry points: the `ridership` CLI and what a DAG task calls first; the only modules that set up
the process (environment, thread pools, logging, the plotting backend)."""
