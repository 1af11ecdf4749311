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


@dataclass(frozen=True)
class Observations:
    """Standardised feature windows of every bar; training reads bars [first, split), evaluation [split, end)."""

    values: npt.NDArray[np.float64]
    first: int
    split: int
    mean: npt.NDArray[np.float64]
    std: npt.NDArray[np.float64]


def observations_split(values: npt.NDArray[np.float64], *, window: int, train_fraction: float) -> Observations:
    stacked = deep.windows(values.astype(np.float64), window)
    complete = np.flatnonzero(np.isfinite(stacked).all(axis=1))
    if len(complete) == 0:
        raise ValueError("no bar has a complete feature window")
    bars = len(values)
    first = int(complete[0])
    split = first + int((bars - first) * train_fraction)
    if split - first < 100 or bars - split < 50:
        raise ValueError(f"{bars - first} bars with features are too few: 100 to train and 50 to test")
    if not np.isfinite(stacked[first:]).all():
        raise ValueError("features have gaps after their warm-up")
    mean, std = deep.standardiser(stacked[first:split])  # the training range's statistics only
    return Observations(values=(stacked - mean) / std, first=first, split=split, mean=mean, std=std)


@dataclass
class ReplayMemory:
    """Every transition of the training run (preallocated: episodes x steps per episode)."""

    states: npt.NDArray[np.float32]
    next_states: npt.NDArray[np.float32]
    actions: npt.NDArray[np.int64]
    rewards: npt.NDArray[np.float32]
    dones: npt.NDArray[np.float32]
    stored: int = 0

    @classmethod
    def sized(cls, steps: int, dimension: int) -> ReplayMemory:
        return cls(
            states=np.zeros((steps, dimension), dtype=np.float32),
            next_states=np.zeros((steps, dimension), dtype=np.float32),
            actions=np.zeros(steps, dtype=np.int64),
            rewards=np.zeros(steps, dtype=np.float32),
            dones=np.zeros(steps, dtype=np.float32),
        )

    def add(self, state: Any, action: int, reward: float, next_state: Any, done: bool) -> None:
        at = self.stored
        self.states[at], self.next_states[at] = state, next_state
        self.actions[at], self.rewards[at], self.dones[at] = action, reward, float(done)
        self.stored += 1

    def sample(self, rng: np.random.Generator, batch: int, device: str) -> tuple[Any, ...]:
        import torch

        chosen = rng.integers(0, self.stored, size=batch)
        return tuple(
            torch.as_tensor(array[chosen], device=device)
            for array in (self.states, self.next_states, self.actions, self.rewards, self.dones)
        )


@dataclass
class TrainedAgent:
    net: Any
    steps: int
    updates: int
    episode_returns: list[float]


REWARD_SCALE = 100.0  # hourly log returns are ~1e-3: scaled so the Q-values are of order one
TARGET_SYNC_UPDATES = 250  # the frozen target network catches up with the trained one every this many updates


def _dqn_update(net: Any, frozen: Any, optimiser: Any, sample: tuple[Any, ...], *, gamma: float, actions: int) -> None:
    import torch

    s, s2, a, r, d = sample
    with torch.no_grad():
        goal = r + gamma * (1 - d) * frozen(s2).max(dim=1).values
    # The taken action's value by a one-hot product: gather's backward is a scatter-add, which is not
    # deterministic on CUDA.
    taken = (net(s) * torch.nn.functional.one_hot(a, actions)).sum(dim=1)
    loss = torch.nn.functional.smooth_l1_loss(taken, goal)
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()


def train_dqn(
    env: TradingEnv,
    seen: Observations,
    *,
    hidden: int,
    episodes: int,
    gamma: float,
    lr: float,
    batch: int,
    seed: int,
    device: str,
    rng: np.random.Generator,
) -> TrainedAgent:
    """Epsilon-greedy episodes over the training bars, learning from minibatches of all transitions so far."""
    import torch

    dimension, actions = seen.values.shape[1] + 1, len(env.targets)
    net = deep.mlp(dimension, hidden, actions, seed=seed).to(device)
    frozen = deep.mlp(dimension, hidden, actions).to(device)
    frozen.load_state_dict(net.state_dict())
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    total_steps = episodes * (seen.split - seen.first - 1)
    memory = ReplayMemory.sized(total_steps, dimension)
    updates = 0
    episode_returns = []
    for _episode in range(episodes):
        state = env.reset(start=seen.first, end=seen.split)
        done = False
        while not done:
            epsilon = max(0.05, 1.0 - memory.stored / (0.6 * total_steps))
            if rng.random() < epsilon:
                action = int(rng.integers(actions))
            else:
                with torch.no_grad():
                    q = net(torch.tensor(state, dtype=torch.float32, device=device))
                action = int(torch.argmax(q).item())
            next_state, reward, done = env.step(action)
            memory.add(state, action, reward * REWARD_SCALE, next_state, done)
            state = next_state
            if memory.stored >= batch and memory.stored % 2 == 0:
                _dqn_update(net, frozen, optimiser, memory.sample(rng, batch, device), gamma=gamma, actions=actions)
                updates += 1
                if updates % TARGET_SYNC_UPDATES == 0:
                    frozen.load_state_dict(net.state_dict())
        episode_returns.append(env.equity / env.initial_cash - 1)
    net.eval()
    return TrainedAgent(net=net, steps=memory.stored, updates=updates, episode_returns=episode_returns)


def out_of_sample(
    agent: TrainedAgent,
    seen: Observations,
    targets: list[float],
    *,
    open: npt.NDArray[np.float64],
    high: npt.NDArray[np.float64],
    low: npt.NDArray[np.float64],
    close: npt.NDArray[np.float64],
    commission: float,
    slippage: float,
    device: str,
    rng: np.random.Generator,
) -> dict[str, Any]:
    """The greedy agent on the bars after training, next to buy-and-hold, flat and random policies, each
    replayed through the event-driven engine with the same costs."""
    split = seen.split

    def stats(decided: npt.NDArray[np.float64]) -> dict[str, Any]:
        run = data_api.backtest_replay_targets(
            open=open[split:],
            high=high[split:],
            low=low[split:],
            close=close[split:],
            targets=decided,
            commission=commission,
            slippage=slippage,
        )
        return policy_stats(run.equity, decided, run.trades)

    test_bars = len(close) - split
    agent_targets, _ = greedy_targets(agent.net, seen.values[split:], targets, device)
    policies = {
        "agent": stats(agent_targets),
        "buy_and_hold": stats(np.ones(test_bars)),
        "flat": stats(np.zeros(test_bars)),
    }
    random_returns = []
    for _run in range(RANDOM_POLICY_RUNS):
        drawn = np.asarray(targets)[rng.integers(0, len(targets), size=test_bars)]
        random_returns.append(stats(drawn)["total_return"])
    agent_return = policies["agent"]["total_return"]
    policies["random"] = {
        "runs": RANDOM_POLICY_RUNS,
        "total_return_mean": float(np.mean(random_returns)),
        "total_return_std": float(np.std(random_returns)),
        "agent_beats_share": float(np.mean([agent_return > value for value in random_returns])),
    }
    return policies


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
    from dsta.ml.training import Fitted

    device = deep.device_choice()
    deep.deterministic_setup(device)
    seen = observations_split(values, window=window, train_fraction=train_fraction)
    names = list(action_targets(allow_short))
    targets = list(action_targets(allow_short).values())
    env = TradingEnv(
        open=open, close=close, observations=seen.values, targets=targets, commission=commission, slippage=slippage
    )
    rng = np.random.default_rng(seed)
    options = {"hidden": hidden, "episodes": episodes, "gamma": gamma, "lr": lr, "batch": batch, "seed": seed}
    agent = train_dqn(env, seen, device=device, rng=rng, **options)
    oos = out_of_sample(
        agent,
        seen,
        targets,
        open=open,
        high=high,
        low=low,
        close=close,
        commission=commission,
        slippage=slippage,
        device=device,
        rng=rng,
    )
    first, split, dimension = seen.first, seen.split, seen.values.shape[1] + 1
    agent_return = oos["agent"]["total_return"]
    metrics = {
        "algorithm": "dqn",
        "rows": int(len(close)),
        "window": window,
        "network": f"mlp {dimension}-{hidden}-{hidden}-{len(targets)}",
        "actions": names,
        "episodes": episodes,
        "steps": agent.steps,
        "updates": agent.updates,
        "seed": seed,
        "device": device,
        "commission": commission,
        "slippage": slippage,
        "train_range": {"start": _iso(open_time[first]), "end": _iso(open_time[split - 1]), "bars": split - first},
        "test_range": {"start": _iso(open_time[split]), "end": _iso(open_time[-1]), "bars": len(close) - split},
        "train_episode_returns": [float(value) for value in agent.episode_returns],
        "oos": oos,
        "edge_over_buy_and_hold": agent_return - oos["buy_and_hold"]["total_return"],
        "edge_over_flat": agent_return - oos["flat"]["total_return"],
        "edge_over_random": agent_return - oos["random"]["total_return_mean"],
    }
    artefact = {
        "kind": "rl_agent",
        "columns": list(columns),
        "state_dict": {name: tensor.detach().cpu() for name, tensor in agent.net.state_dict().items()},
        "metadata": {
            "window": window,
            "inputs": dimension,
            "hidden": hidden,
            "outputs": len(targets),
            "mean": seen.mean.tolist(),
            "std": seen.std.tolist(),
            "actions": names,
            "targets": targets,
        },
    }
    return Fitted(artefact=artefact, metrics=metrics)


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
