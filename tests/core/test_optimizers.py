"""core.optimizers against PyTorch: surfaces and gradients vs autograd, steps vs torch.optim."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core.optimizers import MAX_STEPS, OPTIMIZERS, SURFACES, run_descent


def _regression_data():
    x, y = SURFACES["regression"].points
    return torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)


def _best_line():
    x, y = _regression_data()
    return torch.linalg.lstsq(torch.stack([x, torch.ones_like(x)], 1), y[:, None]).solution[:, 0]


# The same functions written independently in torch, from their formulas.
def torch_loss(key, theta):
    if key == "parabola":
        return (theta[0] - 1) ** 2
    if key == "bowl":
        return theta[0] ** 2 + theta[1] ** 2
    if key == "valley":
        return 0.1 * theta[0] ** 2 + 2 * theta[1] ** 2
    if key == "rosenbrock":
        return (1 - theta[0]) ** 2 + 100 * (theta[1] - theta[0] ** 2) ** 2
    x, y = _regression_data()
    if key == "regression":
        return ((theta[0] * x + theta[1] - y) ** 2).mean()
    if key == "regression-1d":
        return ((theta[0] * x + _best_line()[1] - y) ** 2).mean()
    raise KeyError(key)


def test_every_surface_has_a_torch_twin():
    assert set(SURFACES) == {"parabola", "regression-1d", "bowl", "valley", "rosenbrock", "regression"}


coordinate = st.floats(-3, 3, allow_nan=False)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(sorted(SURFACES)), coordinate, coordinate)
def test_loss_and_gradient_match_autograd(key, a, b):
    surface = SURFACES[key]
    theta = np.array([a, b][: surface.dim])
    t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    loss = torch_loss(key, t)
    loss.backward()
    assert surface.loss_at(theta) == pytest.approx(loss.item(), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(surface.grad_at(theta), t.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("key", sorted(SURFACES))
def test_grid_is_the_loss_at_each_point(key):
    surface = SURFACES[key]
    if surface.dim == 1:
        xs, losses = surface.grid(7)
        expected = [torch_loss(key, torch.tensor([x], dtype=torch.float64)).item() for x in xs]
    else:
        xs, ys, losses = surface.grid(7)
        expected = [[torch_loss(key, torch.tensor([x, y], dtype=torch.float64)).item() for x in xs] for y in ys]
    np.testing.assert_allclose(losses, expected, rtol=1e-12, atol=1e-12)


def test_minima_are_where_the_gradient_vanishes():
    best = _best_line().numpy()
    np.testing.assert_allclose(SURFACES["regression"].minimum, best, rtol=1e-10)
    np.testing.assert_allclose(SURFACES["regression-1d"].minimum, best[:1], rtol=1e-10)
    for surface in SURFACES.values():
        np.testing.assert_allclose(surface.grad_at(surface.minimum), 0, atol=1e-9)


def test_sgd_limits_are_two_over_the_largest_curvature():
    for key in ("parabola", "bowl", "valley", "regression", "regression-1d"):
        t = torch.tensor(SURFACES[key].start, dtype=torch.float64)
        hessian = torch.autograd.functional.hessian(lambda th, k=key: torch_loss(k, th), t)
        assert SURFACES[key].sgd_limit == pytest.approx(2 / torch.linalg.eigvalsh(hessian).max().item(), rel=1e-9)


def torch_optimizer(name, params, lr):
    return {
        "SGD": lambda: torch.optim.SGD(params, lr=lr),
        "Momentum": lambda: torch.optim.SGD(params, lr=lr, momentum=0.9),
        "Adam": lambda: torch.optim.Adam(params, lr=lr),
    }[name]()


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("key", sorted(SURFACES))
def test_steps_match_torch_optim(key, optimizer):
    surface = SURFACES[key]
    lr = surface.lr if optimizer != "Adam" else 0.05
    run = run_descent(surface, optimizer, lr, steps=40)
    assert not run.diverged and run.steps_taken == 40
    theta = torch.tensor(surface.start, dtype=torch.float64, requires_grad=True)
    opt = torch_optimizer(optimizer, [theta], lr)
    points, losses = [theta.detach().clone()], []
    for _ in range(40):
        opt.zero_grad()
        loss = torch_loss(key, theta)
        losses.append(loss.item())
        loss.backward()
        opt.step()
        points.append(theta.detach().clone())
    losses.append(torch_loss(key, theta).item())
    np.testing.assert_allclose(run.points, torch.stack(points).numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(run.losses, losses, rtol=1e-9, atol=1e-12)


def test_too_large_a_learning_rate_is_reported_not_plotted():
    run = run_descent(SURFACES["bowl"], "SGD", lr=1.5, steps=500)
    assert run.diverged and run.steps_taken < 500
    assert np.all(np.isfinite(run.points)) and np.all(np.isfinite(run.losses))
    assert "Diverged" in run.message() and "below 1" in run.message()
    # Rosenbrock explodes within a few steps: still only finite numbers come back
    run = run_descent(SURFACES["rosenbrock"], "SGD", lr=0.05, steps=100)
    assert run.diverged and np.all(np.isfinite(run.points))


def test_slightly_too_large_learning_rate_says_the_loss_went_up():
    run = run_descent(SURFACES["parabola"], "SGD", lr=1.02, steps=20)
    assert not run.diverged and run.losses[-1] > run.losses[0]
    assert "went up" in run.message()


def test_convergence_message_reports_the_distance_to_the_minimum():
    run = run_descent(SURFACES["bowl"], "SGD", lr=0.1, steps=100)
    distance = np.linalg.norm(run.points[-1])
    assert f"{distance:.3g} away" in run.message()


@pytest.mark.parametrize("kwargs, message", [
    (dict(optimizer="RMSprop"), "unknown optimizer"),
    (dict(lr=0), "positive"),
    (dict(lr=float("nan")), "positive"),
    (dict(steps=0), "between 1"),
    (dict(steps=MAX_STEPS + 1), "between 1"),
    (dict(start=(1.0,)), "2 finite"),
    (dict(start=(1.0, float("inf"))), "2 finite"),
])
def test_bad_settings_are_explained(kwargs, message):
    settings_ = dict(surface=SURFACES["bowl"], optimizer="SGD", lr=0.1, steps=10) | kwargs
    with pytest.raises(ValueError, match=message):
        run_descent(**settings_)


def test_contours_of_rosenbrock_are_logarithmic():
    xs, ys, values, title = SURFACES["rosenbrock"].contour(9)
    assert title == "log₁₀ loss"
    for i, j in ((0, 0), (4, 6), (8, 2)):
        loss = torch_loss("rosenbrock", torch.tensor([xs[j], ys[i]], dtype=torch.float64))
        assert values[i, j] == pytest.approx(torch.log10(loss.clamp(min=1e-3)).item(), rel=1e-12)
    assert SURFACES["bowl"].contour(5)[3] == "loss"
