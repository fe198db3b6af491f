"""Checks of `scripts/e2e_celery.sh` when the workers share no disk (E2E_STORE=s3).

    python scripts/e2e_no_shared_disk.py folders HOMES FORECAST_JSON
        the workers' folders hold no file another task reads; the object store holds what they handed on
    python scripts/e2e_no_shared_disk.py champion
        @champion loads and forecasts in this process (run it with an empty home and no object-store
        credentials: the model comes through the MLflow server's artifact proxy)
Exits 1 with what failed.
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

from pipeline.config import Settings

# What one task hands another: windows, snapshots, pointers, data docs, plots, models, stores.
HANDED_ON = (".npz", ".parquet", ".csv", ".json", ".html", ".png", ".pkl", ".keras", ".db")
EXPECTED = ("pipeline/raw/", "pipeline/clean/latest.json", "pipeline/windows/", "pipeline/datadocs/",
            "pipeline/forecasts/", "mlflow/")


def folders(homes: Path, forecast_json: Path) -> None:
    import boto3

    settings = Settings.from_env()
    bucket = settings.artifact_root.removeprefix("s3://").split("/", 1)[0]
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    by_prefix = collections.Counter("/".join(k.split("/")[:2]) for k in keys)
    print("object store keys: " + ", ".join(f"{p} {n}" for p, n in sorted(by_prefix.items())))
    found = []
    for home in (homes / "worker-1", homes / "worker-2"):
        held = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
        print(f"{home.name} folder: {len(held)} files {held[:8]}" + ("" if home.exists() else " (never created)"))
        found += [f"{home.name}/{name}" for name in held if name.endswith(HANDED_ON)]
    missing = [prefix for prefix in EXPECTED if not any(k.startswith(prefix) for k in keys)]
    tasks = json.loads(forecast_json.read_text())["task_instances"]
    print("forecast tasks by worker: " + ", ".join(f"{t['task_id']} {t['hostname']}" for t in tasks))
    if found or missing:
        sys.exit(f"FAIL: in a worker's folder {found}; missing from the object store {missing}")
    print(f"OK: no worker's folder holds a file another task read; the object store holds {', '.join(EXPECTED)}")


def champion() -> None:
    import mlflow

    from pipeline.inputs import data
    from pipeline.io import storage
    from pipeline.lifecycle import logged_models

    settings = Settings.from_env()
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{settings.registered_model}@{settings.champion_alias}")
    history = data.clean(data.parse_raw(storage.read_bytes(settings.data_uri), settings.data_uri))
    forecast = model.predict(logged_models.model_input(history.loc[:"2019-05-31"]))
    print(f"OK: @{settings.champion_alias} loaded in a third process with an empty home and no object-store "
          f"credentials; it forecast {len(forecast)} rows")


if __name__ == "__main__":
    if sys.argv[1:2] == ["folders"]:
        folders(Path(sys.argv[2]), Path(sys.argv[3]))
    elif sys.argv[1:2] == ["champion"]:
        champion()
    else:
        sys.exit(__doc__)
