"""The model lifecycle in MLflow: runs and their tags (tracking), models logged as code (logged_models),
the registry: the gate, @champion, rollbacks (registry)."""
