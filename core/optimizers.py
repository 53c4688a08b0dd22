"""Gradient descent on small loss surfaces you can draw: SGD, momentum and Adam, step by step.

    >>> from core.optimizers import SURFACES, run_descent
    >>> run = run_descent(SURFACES["bowl"], "SGD", lr=0.1, steps=20)
    >>> run.losses[-1] < run.losses[0], run.diverged
    (True, False)

Each surface has a loss written with NumPy broadcasting (so one call fills a whole contour grid)
and its gradient written out by hand; tests/core/test_optimizers.py checks both against PyTorch
autograd, and each optimizer's steps against torch.optim on the same function.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

# --- loss surfaces --------------------------------------------------------------------------

@dataclass(frozen=True)
class Surface:
    key: str
    title: str
    formula: str  # plain text, for hover and the command line
    dim: int  # 1: a curve loss(x); 2: a landscape loss(x, y)
    loss: Callable  # loss(*coords) with coords broadcastable arrays -> array of losses
    grad: Callable  # grad(*coords) -> tuple of arrays, one per coordinate
    start: tuple[float, ...]
    lr: float  # a learning rate that works for SGD here
    x_range: tuple[float, float]
    y_range: tuple[float, float] = (0.0, 0.0)
    minimum: tuple[float, ...] = ()
    axis_names: tuple[str, ...] = ("x", "y")
    # for quadratic surfaces SGD diverges above 2 / (largest curvature): a number worth showing
    sgd_limit: float | None = None
    points: tuple[np.ndarray, np.ndarray] | None = field(default=None, compare=False)  # regression data (x, y)
    predict: Callable | None = None  # predict(theta, x): the regression line the parameters stand for
    log_contours: bool = False  # the loss spans orders of magnitude: contour its log instead

    def loss_at(self, theta) -> float:
        return float(self.loss(*np.asarray(theta, dtype=np.float64)))

    def grad_at(self, theta) -> np.ndarray:
        return np.array(self.grad(*np.asarray(theta, dtype=np.float64)), dtype=np.float64)

    def grid(self, resolution: int = 80):
        """Coordinates and losses on a grid over the plot range (1-D: a curve)."""
        xs = np.linspace(*self.x_range, resolution)
        if self.dim == 1:
            return xs, self.loss(xs)
        ys = np.linspace(*self.y_range, resolution)
        gx, gy = np.meshgrid(xs, ys)
        return xs, ys, self.loss(gx, gy)

    def contour(self, resolution: int = 80):
        """(xs, ys, values, what the values are) for a contour plot of a 2-D surface."""
        xs, ys, z = self.grid(resolution)
        if self.log_contours:
            return xs, ys, np.log10(np.maximum(z, 1e-3)), "log₁₀ loss"
        return xs, ys, z, "loss"


def _regression_points(n: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    # y = 2x + 1 plus noise: the line the guide's gradient-descent script learns
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, n)
    return x, 2.0 * x + 1.0 + rng.normal(0, 0.5, n)


def _regression_surfaces() -> tuple[Surface, Surface]:
    x, y = _regression_points()
    # exact least-squares optimum: where the learner's descent should end up
    w_best, b_best = np.linalg.lstsq(np.stack([x, np.ones_like(x)], 1), y, rcond=None)[0]

    def loss2(w, b):
        r = np.multiply.outer(w, x) + np.expand_dims(b, -1) - y
        return (r ** 2).mean(-1)

    def grad2(w, b):
        r = np.multiply.outer(w, x) + np.expand_dims(b, -1) - y
        return (2 * r * x).mean(-1), (2 * r).mean(-1)

    # the 1-D version learns only the slope, with the intercept held at its best value
    def loss1(w):
        return loss2(w, np.full(np.shape(w), b_best))

    def grad1(w):
        return (grad2(w, np.full(np.shape(w), b_best))[0],)

    curvature_w = 2 * (x ** 2).mean()
    hessian = 2 * np.array([[(x ** 2).mean(), x.mean()], [x.mean(), 1.0]])
    one_d = Surface("regression-1d", "Linear regression: slope only (1-D)", f"mean((w·x + {b_best:.3f} - y)²)", 1, loss1, grad1,
                    start=(-3.0,), lr=0.1, x_range=(-4.0, 7.0), minimum=(float(w_best),), axis_names=("w",),
                    sgd_limit=float(2 / curvature_w), points=(x, y), predict=lambda theta, xs: theta[0] * xs + b_best)
    two_d = Surface("regression", "Linear regression: slope and intercept (2-D)", "mean((w·x + b - y)²)", 2, loss2, grad2,
                    start=(-2.0, 4.0), lr=0.1, x_range=(-3.0, 5.0), y_range=(-3.0, 5.0), minimum=(float(w_best), float(b_best)),
                    axis_names=("w", "b"), sgd_limit=float(2 / np.linalg.eigvalsh(hessian).max()), points=(x, y),
                    predict=lambda theta, xs: theta[0] * xs + theta[1])
    return one_d, two_d


def _make_surfaces() -> dict[str, Surface]:
    regression_1d, regression_2d = _regression_surfaces()
    surfaces = [
        Surface("parabola", "Parabola (1-D)", "(x - 1)²", 1, lambda x: (x - 1) ** 2, lambda x: (2 * (x - 1),),
                start=(-3.0,), lr=0.1, x_range=(-4.0, 6.0), minimum=(1.0,), sgd_limit=1.0),
        regression_1d,
        Surface("bowl", "Quadratic bowl (2-D)", "x² + y²", 2, lambda x, y: x ** 2 + y ** 2, lambda x, y: (2 * x, 2 * y),
                start=(-3.0, 2.5), lr=0.1, x_range=(-4.0, 4.0), y_range=(-4.0, 4.0), minimum=(0.0, 0.0), sgd_limit=1.0),
        Surface("valley", "Elongated valley (2-D)", "0.1·x² + 2·y²", 2, lambda x, y: 0.1 * x ** 2 + 2 * y ** 2,
                lambda x, y: (0.2 * x, 4 * y), start=(-4.0, 1.5), lr=0.4, x_range=(-5.0, 5.0), y_range=(-2.5, 2.5),
                minimum=(0.0, 0.0), sgd_limit=0.5),
        Surface("rosenbrock", "Rosenbrock banana (2-D)", "(1 - x)² + 100·(y - x²)²", 2,
                lambda x, y: (1 - x) ** 2 + 100 * (y - x ** 2) ** 2,
                lambda x, y: (-2 * (1 - x) - 400 * x * (y - x ** 2), 200 * (y - x ** 2)),
                start=(-1.2, 1.0), lr=0.001, x_range=(-2.0, 2.0), y_range=(-1.0, 3.0), minimum=(1.0, 1.0), log_contours=True),
        regression_2d,
    ]
    return {s.key: s for s in surfaces}


SURFACES: dict[str, Surface] = _make_surfaces()


# --- optimizers: the update rules of torch.optim, one step at a time ------------------------

class SGD:
    """theta <- theta - lr·v with v <- momentum·v + g (v = g on the first step), as torch.optim.SGD."""

    def __init__(self, lr: float, momentum: float = 0.0):
        self.lr, self.momentum, self.velocity = lr, momentum, None

    def step(self, theta: np.ndarray, grad: np.ndarray) -> np.ndarray:
        if self.momentum:
            self.velocity = grad.copy() if self.velocity is None else self.momentum * self.velocity + grad
            grad = self.velocity
        return theta - self.lr * grad


class Adam:
    """Running averages of g and g², bias-corrected, as torch.optim.Adam (no weight decay)."""

    def __init__(self, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.m = self.v = None
        self.t = 0

    def step(self, theta: np.ndarray, grad: np.ndarray) -> np.ndarray:
        if self.m is None:
            self.m, self.v = np.zeros_like(theta), np.zeros_like(theta)
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1 - self.beta2) * grad ** 2
        m_hat = self.m / (1 - self.beta1 ** self.t)
        v_hat = self.v / (1 - self.beta2 ** self.t)
        return theta - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


OPTIMIZERS: dict[str, Callable[[float], SGD | Adam]] = {
    "SGD": lambda lr: SGD(lr),
    "Momentum": lambda lr: SGD(lr, momentum=0.9),
    "Adam": lambda lr: Adam(lr),
}

MAX_STEPS = 1000
# A run counts as diverged once the loss has grown this many times past where it started, or a
# coordinate has run this far away: far off the plot, and on the way to inf/nan.
DIVERGED_LOSS_FACTOR = 1e4
DIVERGED_COORDINATE = 1e6


@dataclass
class Trajectory:
    surface: Surface
    optimizer: str
    lr: float
    points: np.ndarray  # (steps taken + 1, dim): start first; only finite points
    losses: np.ndarray  # loss at each point
    diverged: bool
    requested_steps: int

    @property
    def steps_taken(self) -> int:
        return len(self.points) - 1

    def message(self) -> str:
        """What happened, in words (a diverged run is described, never drawn as infinities)."""
        first, last = self.losses[0], self.losses[-1]
        if self.diverged:
            text = (f"Diverged at step {self.steps_taken}: the loss grew from {first:.4g} to {last:.4g} and would run off to "
                    f"infinity, so the run stopped. The learning rate {self.lr:g} is too large for {self.optimizer} here")
            if self.surface.sgd_limit and self.optimizer == "SGD":
                text += f" (plain SGD on this surface needs a learning rate below {self.surface.sgd_limit:.3g})"
            return text + "."
        if last > first:
            return (f"The loss went up, from {first:.4g} to {last:.4g} in {self.steps_taken} steps: the steps overshoot the "
                    f"minimum. Try a smaller learning rate.")
        distance = float(np.linalg.norm(self.points[-1] - np.asarray(self.surface.minimum)))
        return (f"After {self.steps_taken} steps the loss fell from {first:.4g} to {last:.4g}; "
                f"the point is {distance:.3g} away from the minimum.")


def run_descent(surface: Surface, optimizer: str, lr: float, steps: int, start=None) -> Trajectory:
    """Follow the optimizer from start; stop early (diverged=True) before numbers overflow."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}: choose one of {', '.join(OPTIMIZERS)}")
    lr, steps = float(lr), int(steps)
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError("the learning rate must be a positive number")
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"the number of steps must be between 1 and {MAX_STEPS}")
    theta = np.array(surface.start if start is None else start, dtype=np.float64)
    if theta.shape != (surface.dim,) or not np.all(np.isfinite(theta)):
        raise ValueError(f"the start point needs {surface.dim} finite coordinate(s) for {surface.title}")
    opt = OPTIMIZERS[optimizer](lr)
    points, losses = [theta], [surface.loss_at(theta)]
    limit = DIVERGED_LOSS_FACTOR * (abs(losses[0]) + 1.0)
    diverged = False
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            theta = opt.step(theta, surface.grad_at(theta))
            loss = surface.loss_at(theta)
            finite = bool(np.all(np.isfinite(theta))) and math.isfinite(loss)
            if not finite or loss > limit or np.abs(theta).max() > DIVERGED_COORDINATE:
                diverged = True
                if finite:
                    points.append(theta)  # the last finite point shows the jump off the map
                    losses.append(loss)
                break
            points.append(theta)
            losses.append(loss)
    return Trajectory(surface, optimizer, lr, np.array(points), np.array(losses), diverged, steps)
