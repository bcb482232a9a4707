"""Runs INSIDE the MLflow virtualenv (never imported by the portal's tests): what a data scientist does in MLflow.

``python mlflow_actions.py <tracking uri> '<json list of actions>'`` prints one JSON list of results. Actions:
``log`` (train and log a scikit-learn model, registered under ``name``) and ``tags`` (read a version's tags with
MLflow's own client). Aliases and descriptions are set through the REST API (``Mlflow.rest`` in conftest.py).
"""

import json
import sys

import mlflow
import numpy as np
import sklearn
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression


def log(action: dict) -> dict:
    features = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.9], [0.9, 0.1], [0.4, 0.7]])
    labels = np.array([0, 1, 1, 0, 1, 0])
    with mlflow.start_run():
        model = LogisticRegression(C=action.get("C", 1.0)).fit(features, labels)
        mlflow.log_params({"C": action.get("C", 1.0), "solver": model.solver})
        mlflow.log_metric("accuracy", float(model.score(features, labels)))
        signature = mlflow.models.infer_signature(features, model.predict(features))
        info = mlflow.sklearn.log_model(
            model, name="model", signature=signature, registered_model_name=action["name"],
            pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"numpy=={np.__version__}"])
    return {"version": str(info.registered_model_version), "sklearn": sklearn.__version__,
            "numpy": np.__version__}


def main() -> None:
    mlflow.set_tracking_uri(sys.argv[1])
    client = MlflowClient()
    results = []
    for action in json.loads(sys.argv[2]):
        op = action["op"]
        if op == "log":
            results.append(log(action))
        elif op == "tags":
            results.append(dict(client.get_model_version(action["name"], action["version"]).tags))
        else:
            raise SystemExit(f"unknown action {op}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
