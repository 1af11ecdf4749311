"""Torch models of the ml domain: a small MLP direction classifier over a window of feature rows, and the
shared pieces the RL agent (`dsta.ml.rl`) uses: device choice, seeding, windows, artefact save and load.

torch is optional: it is imported inside functions only, so the app and the other model kinds work without it,
and a torch kind asked for on a machine without it gets a clear error (`torch_missing_message`).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings

DEVICES = ("auto", "cpu", "cuda")
TORCH_INSTALL_HINT = "python3 -m pip --python .venv/bin/python install torch==2.13.0 (./dev does it)"

# Weights are initialised from torch's global generator: seeding it and building the network happen under one
# lock so two jobs training in one worker process cannot interleave and lose determinism.
_INIT_LOCK = threading.Lock()


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def torch_missing_message(kind: str) -> str:
    return f"the {kind} kind needs torch, which is not installed here; install it with {TORCH_INSTALL_HINT}"


def device_choice() -> str:
    """`DSTA_ML_DEVICE`: auto (CUDA when torch sees a GPU, else CPU), cpu, or cuda (an error without a GPU)."""
    import torch

    wanted = getattr(settings, "ML_DEVICE", "auto")
    if wanted not in DEVICES:
        raise ValueError(f"DSTA_ML_DEVICE must be one of {', '.join(DEVICES)}, not {wanted!r}")
    if wanted == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("DSTA_ML_DEVICE=cuda but torch sees no CUDA device")
    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return wanted


def deterministic_setup(device: str) -> None:
    import torch

    # These networks are tiny: intra-op threads only add synchronisation (an update took 10x longer with two
    # threads than with one on a busy 2-core machine), and one thread also keeps CPU sums in a fixed order.
    torch.set_num_threads(1)
    if device == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS reproducibility, needed before use
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def mlp(inputs: int, hidden: int, outputs: int, *, seed: int | None = None) -> Any:
    import torch
    from torch import nn

    with _INIT_LOCK:
        if seed is not None:
            torch.manual_seed(seed)
        return nn.Sequential(
            nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, outputs)
        )


def windows(values: npt.NDArray[np.float64], window: int) -> npt.NDArray[np.float64]:
    """Row t holds feature rows t-window+1 .. t flattened (oldest first); the first window-1 rows are NaN."""
    rows, columns = values.shape
    out = np.full((rows, window * columns), np.nan)
    if rows >= window:
        view = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)  # (rows-window+1, columns, window)
        out[window - 1 :] = view.transpose(0, 2, 1).reshape(rows - window + 1, window * columns)
    return out


def standardiser(x: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std < 1e-12] = 1.0  # a constant column stays as it is instead of dividing by zero
    return mean, std


# Direction classifier ------------------------------------------------------------------------------------------


def _train_classifier(
    x: npt.NDArray[np.float64],
    y: npt.NDArray[np.int_],
    *,
    hidden: int,
    epochs: int,
    batch: int,
    lr: float,
    weight_decay: float,
    seed: int,
    device: str,
) -> tuple[Any, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    import torch

    mean, std = standardiser(x)
    inputs = torch.tensor((x - mean) / std, dtype=torch.float32, device=device)
    labels = torch.tensor(y, dtype=torch.float32, device=device)
    net = mlp(x.shape[1], hidden, 1, seed=seed).to(device)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    loss_of = torch.nn.BCEWithLogitsLoss()
    order = np.random.default_rng(seed)  # minibatch order from numpy: torch's global generator stays untouched
    net.train()
    for _epoch in range(epochs):
        permutation = torch.as_tensor(order.permutation(len(x)), device=device)
        for first in range(0, len(x), batch):
            chosen = permutation[first : first + batch]
            optimiser.zero_grad()
            loss = loss_of(net(inputs[chosen]).squeeze(1), labels[chosen])
            loss.backward()
            optimiser.step()
    net.eval()
    return net, mean, std


def _p_up(net: Any, x: npt.NDArray[np.float64], mean: Any, std: Any, device: str) -> npt.NDArray[np.float64]:
    import torch

    with torch.no_grad():
        inputs = torch.tensor((x - np.asarray(mean)) / np.asarray(std), dtype=torch.float32, device=device)
        return torch.sigmoid(net(inputs).squeeze(1)).double().cpu().numpy()  # type: ignore[no-any-return]


def fit_torch_direction(
    columns: list[str],
    values: npt.NDArray[np.float64],
    close: npt.NDArray[np.float64],
    *,
    window: int = 4,
    hidden: int = 32,
    epochs: int = 30,
    batch: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    folds: int = 5,
    seed: int = 0,
) -> Any:
    """Next bar up or down from the last `window` feature rows, with an MLP. Time-series CV only; each fold is
    scored against the naive baselines (majority, persistence) and the sklearn logistic regression fitted on
    the same inputs of the same fold."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import TimeSeriesSplit
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from dsta.ml.training import Fitted

    device = device_choice()
    deterministic_setup(device)
    target = np.zeros(len(close), dtype=int)
    target[:-1] = (close[1:] > close[:-1]).astype(int)
    stacked = windows(values.astype(np.float64), window)
    usable: npt.NDArray[np.bool_] = np.isfinite(stacked).all(axis=1)  # type: ignore[assignment]
    usable[-1] = False  # the last bar's next move is unknown
    x, y = stacked[usable], target[usable]
    if len(x) < folds * 20:
        raise ValueError(f"{len(x)} complete rows are too few for {folds} folds")
    last_return = values[usable, columns.index("ret_1")]
    options: dict[str, Any] = {
        "hidden": hidden,
        "epochs": epochs,
        "batch": batch,
        "lr": lr,
        "weight_decay": weight_decay,
    }

    accuracy, logistic, majority, persistence = [], [], [], []
    for fold, (train, test) in enumerate(TimeSeriesSplit(n_splits=folds).split(x)):
        net, mean, std = _train_classifier(x[train], y[train], seed=seed + fold, device=device, **options)
        accuracy.append(float(((_p_up(net, x[test], mean, std, device) >= 0.5).astype(int) == y[test]).mean()))
        reference = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x[train], y[train])
        logistic.append(float((reference.predict(x[test]) == y[test]).mean()))
        majority_class = int(np.bincount(y[train], minlength=2).argmax())
        majority.append(float((y[test] == majority_class).mean()))
        persistence.append(float(((last_return[test] > 0).astype(int) == y[test]).mean()))
    net, mean, std = _train_classifier(x, y, seed=seed + folds, device=device, **options)
    mean_accuracy = float(np.mean(accuracy))
    best_naive = max(float(np.mean(majority)), float(np.mean(persistence)))
    metrics = {
        "rows": int(len(x)),
        "folds": folds,
        "window": window,
        "inputs": int(x.shape[1]),
        "network": f"mlp {x.shape[1]}-{hidden}-{hidden}-1",
        "epochs": epochs,
        "seed": seed,
        "device": device,
        "accuracy": mean_accuracy,
        "accuracy_per_fold": accuracy,
        "baseline_majority_accuracy": float(np.mean(majority)),
        "baseline_persistence_accuracy": float(np.mean(persistence)),
        "baseline_logistic_accuracy": float(np.mean(logistic)),
        "baseline_logistic_accuracy_per_fold": logistic,
        "edge_over_best_baseline": mean_accuracy - best_naive,
        "edge_over_logistic": mean_accuracy - float(np.mean(logistic)),
    }
    artefact = {
        "kind": "torch_direction",
        "columns": list(columns),
        "state_dict": {name: tensor.detach().cpu() for name, tensor in net.state_dict().items()},
        "metadata": {
            "window": window,
            "inputs": int(x.shape[1]),
            "hidden": hidden,
            "outputs": 1,
            "mean": mean.tolist(),
            "std": std.tolist(),
        },
    }
    return Fitted(artefact=artefact, metrics=metrics)


# Artefacts -----------------------------------------------------------------------------------------------------


def artefact_save(artefact: dict[str, Any], path: Path) -> None:
    """state_dict plus plain metadata: loadable with `weights_only=True` (no pickled code runs on load)."""
    import torch

    torch.save(artefact, path)


def artefact_load(path: str) -> dict[str, Any]:
    """The saved network rebuilt on the chosen device, in eval mode, next to its metadata."""
    import torch

    saved = torch.load(path, map_location="cpu", weights_only=True)
    metadata = saved["metadata"]
    device = device_choice()
    deterministic_setup(device)
    net = mlp(metadata["inputs"], metadata["hidden"], metadata["outputs"])
    net.load_state_dict(saved["state_dict"])
    net.to(device).eval()
    return {**metadata, "kind": saved["kind"], "columns": saved["columns"], "net": net, "device": device}


def apply(artefact: dict[str, Any], rows: npt.NDArray[np.float64]) -> tuple[str, float | None, dict[str, Any]]:
    """Label, probability and output of a torch model for the bar at the end of `rows` (feature rows, oldest
    first, as many as the kind's `history_needed` says). The RL agent's is `rl.apply`."""
    stacked = windows(rows, artefact["window"])[-1:]
    up = float(_p_up(artefact["net"], stacked, artefact["mean"], artefact["std"], artefact["device"])[0])
    return ("up" if up >= 0.5 else "down"), max(up, 1 - up), {"p_up": up}
