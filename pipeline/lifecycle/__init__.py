"""The model lifecycle in MLflow: runs and their tags (tracking), models logged as code (serving),
the registry: the gate, @champion, rollbacks (registry)."""
