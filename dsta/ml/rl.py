"""A small DQN trading agent, trained in an environment whose fills are the backtest engine's own.

The environment walks bars of one series: the agent sees a window of standardised feature rows and its
position, and chooses an exposure (flat or long; short too when allowed) at bar t's close. The order fills at
bar t+1's open through the data domain's fill model (`data_api.backtest_fill`: the engine's commission and
slippage arithmetic), and the reward is the log change of equity marked at t+1's close. A test proves the
environment's equity equals the engine's for the same decisions.

Training uses the first part of the chosen bars; the greedy policy is then evaluated out of sample on the
bars after it through the event-driven engine itself (`data_api.backtest_replay_targets`), next to
buy-and-hold, flat and random policies costed the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from dsta.data import api as data_api
from dsta.data.contracts import SimulatedBook
from dsta.ml import deep

RANDOM_POLICY_RUNS = 20
ROLLOUT_BARS = 48  # a prediction replays the agent over the bars before it to know the position it holds


def action_targets(allow_short: bool) -> dict[str, float]:
    return {"flat": 0.0, "long": 1.0, "short": -1.0} if allow_short else {"flat": 0.0, "long": 1.0}


@dataclass
class TradingEnv:
    """Bars of one series; `observations[t]` is the feature window at bar t (standardised, flattened)."""

    open: npt.NDArray[np.float64]
    close: npt.NDArray[np.float64]
    observations: npt.NDArray[np.float64]
    targets: list[float]
    commission: float
    slippage: float
    initial_cash: float = 10_000.0
    t: int = 0
    end: int = 0
    held: float = 0.0  # the exposure the current position was built for
    book: SimulatedBook = field(default_factory=lambda: SimulatedBook(cash=10_000.0))
    equity: float = 0.0

    def reset(self, *, start: int, end: int) -> npt.NDArray[np.float64]:
        """An episode over bars [start, end): the first decision at start's close, the last at end-2's."""
        if not 0 <= start < end - 1 or end > len(self.close):
            raise ValueError(f"an episode needs at least two bars inside the series, not [{start}, {end})")
        self.t, self.end, self.held = start, end, 0.0
        self.book = SimulatedBook(cash=self.initial_cash)
        self.equity = self.initial_cash
        return self.observation()

    def observation(self) -> npt.NDArray[np.float64]:
        return np.append(self.observations[self.t], self.held)

    def step(self, action: int) -> tuple[npt.NDArray[np.float64], float, bool]:
        target = self.targets[action]
        t = self.t + 1
        if target != self.held:
            self.book = data_api.backtest_fill(
                book=self.book,
                target=target,
                price=float(self.open[t]),
                index=t,
                commission=self.commission,
                slippage=self.slippage,
            )
            self.held = target
        self.t = t
        done = t >= self.end - 1
        if done and self.book.qty != 0:  # settled at the last close, as the engine does at the end of data
            self.book = data_api.backtest_fill(
                book=self.book,
                target=0.0,
                price=float(self.close[t]),
                index=t,
                commission=self.commission,
                slippage=self.slippage,
            )
        equity = self.book.cash + self.book.qty * float(self.close[t])
        reward = math.log(equity / self.equity)
        self.equity = equity
        return self.observation(), reward, done


def greedy_targets(
    net: Any, observations: npt.NDArray[np.float64], targets: list[float], device: str, *, held: float = 0.0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The greedy policy over consecutive bars: each decision sees the position the previous one built.
    Returns the exposure decided at every bar and the action values of the last decision."""
    import torch

    decided = np.empty(len(observations))
    q = np.zeros(len(targets))
    with torch.no_grad():
        for t, features in enumerate(observations):
            state = torch.tensor(np.append(features, held), dtype=torch.float32, device=device)
            q = net(state).double().cpu().numpy()
            held = targets[int(np.argmax(q))]
            decided[t] = held
    return decided, q


def policy_stats(equity: npt.NDArray[np.float64], targets: npt.NDArray[np.float64], trades: int) -> dict[str, Any]:
    returns = np.diff(equity) / equity[:-1]
    peak = np.maximum.accumulate(equity)
    spread = float(returns.std())
    return {
        "total_return": float(equity[-1] / equity[0] - 1),
        "sharpe_per_bar": float(returns.mean() / spread) if spread > 0 else 0.0,
        "max_drawdown": float((1 - equity / peak).max()),
        "trades": trades,
        "exposure": float(np.abs(targets[:-1]).mean()),
    }


def _iso(time: np.datetime64) -> str:
    return str(time.astype("datetime64[s]")) + "Z"


def fit_rl_agent(
    columns: list[str],
    values: npt.NDArray[np.float64],
    *,
    open: npt.NDArray[np.float64],
    high: npt.NDArray[np.float64],
    low: npt.NDArray[np.float64],
    close: npt.NDArray[np.float64],
    open_time: npt.NDArray[np.datetime64],
    window: int = 8,
    hidden: int = 64,
    episodes: int = 10,
    train_fraction: float = 0.7,
    gamma: float = 0.9,
    lr: float = 1e-3,
    batch: int = 64,
    allow_short: bool = False,
    commission: float = 0.001,
    slippage: float = 0.0005,
    seed: int = 0,
) -> Any:
    import torch

    from dsta.ml.training import Fitted

    device = deep.device_choice()
    deep.deterministic_setup(device)
    stacked = deep.windows(values.astype(np.float64), window)
    complete = np.flatnonzero(np.isfinite(stacked).all(axis=1))
    if len(complete) == 0:
        raise ValueError("no bar has a complete feature window")
    first = int(complete[0])
    split = first + int((len(close) - first) * train_fraction)
    if split - first < 100 or len(close) - split < 50:
        raise ValueError(f"{len(close) - first} bars with features are too few: 100 to train and 50 to test")
    if not np.isfinite(stacked[first:]).all():
        raise ValueError("features have gaps after their warm-up")
    mean, std = deep.standardiser(stacked[first:split])  # the training range's statistics only
    observations = (stacked - mean) / std
    names = list(action_targets(allow_short))
    targets = list(action_targets(allow_short).values())
    env = TradingEnv(
        open=open, close=close, observations=observations, targets=targets, commission=commission, slippage=slippage
    )

    net = deep.mlp(observations.shape[1] + 1, hidden, len(targets), seed=seed).to(device)
    frozen = deep.mlp(observations.shape[1] + 1, hidden, len(targets)).to(device)
    frozen.load_state_dict(net.state_dict())
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    steps_per_episode = split - first - 1
    total_steps = episodes * steps_per_episode
    dimension = observations.shape[1] + 1
    states = np.zeros((total_steps, dimension), dtype=np.float32)
    next_states = np.zeros((total_steps, dimension), dtype=np.float32)
    actions = np.zeros(total_steps, dtype=np.int64)
    rewards = np.zeros(total_steps, dtype=np.float32)
    dones = np.zeros(total_steps, dtype=np.float32)
    stored = updates = 0
    episode_returns = []
    reward_scale = 100.0  # hourly log returns are ~1e-3: scaled so the Q-values are of order one
    for _episode in range(episodes):
        state = env.reset(start=first, end=split)
        done = False
        while not done:
            epsilon = max(0.05, 1.0 - stored / (0.6 * total_steps))
            if rng.random() < epsilon:
                action = int(rng.integers(len(targets)))
            else:
                with torch.no_grad():
                    q = net(torch.tensor(state, dtype=torch.float32, device=device))
                action = int(torch.argmax(q).item())
            next_state, reward, done = env.step(action)
            states[stored], next_states[stored] = state, next_state
            actions[stored], rewards[stored], dones[stored] = action, reward * reward_scale, float(done)
            stored += 1
            state = next_state
            if stored >= batch and stored % 2 == 0:
                chosen = rng.integers(0, stored, size=batch)
                s = torch.as_tensor(states[chosen], device=device)
                s2 = torch.as_tensor(next_states[chosen], device=device)
                a = torch.as_tensor(actions[chosen], device=device)
                r = torch.as_tensor(rewards[chosen], device=device)
                d = torch.as_tensor(dones[chosen], device=device)
                with torch.no_grad():
                    goal = r + gamma * (1 - d) * frozen(s2).max(dim=1).values
                # The taken action's value by a one-hot product: gather's backward is a scatter-add, which is
                # not deterministic on CUDA.
                taken = (net(s) * torch.nn.functional.one_hot(a, len(targets))).sum(dim=1)
                loss = torch.nn.functional.smooth_l1_loss(taken, goal)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                updates += 1
                if updates % 250 == 0:
                    frozen.load_state_dict(net.state_dict())
        episode_returns.append(env.equity / env.initial_cash - 1)
    net.eval()

    def replay(decided: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], int]:
        run = data_api.backtest_replay_targets(
            open=open[split:],
            high=high[split:],
            low=low[split:],
            close=close[split:],
            targets=decided,
            commission=commission,
            slippage=slippage,
        )
        return run.equity, run.trades

    test_bars = len(close) - split
    agent_targets, _ = greedy_targets(net, observations[split:], targets, device)
    agent = policy_stats(*_with_targets(replay(agent_targets), agent_targets))
    holding = np.ones(test_bars)
    buy_and_hold = policy_stats(*_with_targets(replay(holding), holding))
    flat = policy_stats(*_with_targets(replay(np.zeros(test_bars)), np.zeros(test_bars)))
    random_returns = []
    for _run in range(RANDOM_POLICY_RUNS):
        drawn = np.asarray(targets)[rng.integers(0, len(targets), size=test_bars)]
        random_returns.append(policy_stats(*_with_targets(replay(drawn), drawn))["total_return"])
    agent_return = agent["total_return"]
    metrics = {
        "algorithm": "dqn",
        "rows": int(len(close)),
        "window": window,
        "network": f"mlp {dimension}-{hidden}-{hidden}-{len(targets)}",
        "actions": names,
        "episodes": episodes,
        "steps": stored,
        "updates": updates,
        "seed": seed,
        "device": device,
        "commission": commission,
        "slippage": slippage,
        "train_range": {"start": _iso(open_time[first]), "end": _iso(open_time[split - 1]), "bars": split - first},
        "test_range": {"start": _iso(open_time[split]), "end": _iso(open_time[-1]), "bars": test_bars},
        "train_episode_returns": [float(value) for value in episode_returns],
        "oos": {
            "agent": agent,
            "buy_and_hold": buy_and_hold,
            "flat": flat,
            "random": {
                "runs": RANDOM_POLICY_RUNS,
                "total_return_mean": float(np.mean(random_returns)),
                "total_return_std": float(np.std(random_returns)),
                "agent_beats_share": float(np.mean([agent_return > value for value in random_returns])),
            },
        },
        "edge_over_buy_and_hold": agent_return - buy_and_hold["total_return"],
        "edge_over_flat": agent_return - flat["total_return"],
        "edge_over_random": agent_return - float(np.mean(random_returns)),
    }
    artefact = {
        "kind": "rl_agent",
        "columns": list(columns),
        "state_dict": {name: tensor.detach().cpu() for name, tensor in net.state_dict().items()},
        "metadata": {
            "window": window,
            "inputs": dimension,
            "hidden": hidden,
            "outputs": len(targets),
            "mean": mean.tolist(),
            "std": std.tolist(),
            "actions": names,
            "targets": targets,
        },
    }
    return Fitted(artefact=artefact, metrics=metrics)


def _with_targets(
    run: tuple[npt.NDArray[np.float64], int], decided: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], int]:
    return run[0], decided, run[1]


def apply(artefact: dict[str, Any], rows: npt.NDArray[np.float64]) -> tuple[str, float | None, dict[str, Any]]:
    """The agent's action at the last of `rows`: it is replayed from flat over the bars before, so the position
    it sees is the one its own decisions would hold."""
    window = int(artefact["window"])
    observations = (deep.windows(rows, window)[window - 1 :] - np.asarray(artefact["mean"])) / np.asarray(
        artefact["std"]
    )
    targets = list(artefact["targets"])
    decided, q = greedy_targets(artefact["net"], observations, targets, artefact["device"])
    held = float(decided[-2]) if len(decided) > 1 else 0.0
    action = artefact["actions"][targets.index(float(decided[-1]))]
    values = {name: float(value) for name, value in zip(artefact["actions"], q, strict=True)}
    return action, None, {"action": action, "target": float(decided[-1]), "position": held, "q_values": values}
