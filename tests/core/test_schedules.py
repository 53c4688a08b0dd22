"""core.schedules against transformers' get_scheduler, torch's StepLR, and the MiniGPT trainer itself."""
import pytest
import torch
from transformers import get_scheduler

from core import schedules
from core.minigpt import train
from core.minigpt.config import GPTConfig
from core.minigpt.model import MiniGPT


def transformers_rates(name, total, peak, warmup, **kwargs):
    """The learning rate an optimizer really has at each step 0..total under transformers' scheduler."""
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=peak)
    scheduler = get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=total,
                              scheduler_specific_kwargs=kwargs or None)
    rates = []
    for _ in range(total + 1):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


SETTINGS = [(100, 3e-4, 10), (37, 1e-3, 0), (500, 5e-3, 50), (8, 0.1, 8), (1, 2e-2, 0)]


@pytest.mark.parametrize("total, peak, warmup", SETTINGS)
@pytest.mark.parametrize("name", ["constant_with_warmup", "linear", "cosine"])
def test_equal_to_transformers_step_by_step(name, total, peak, warmup):
    ours = [schedules.learning_rate(name, s, total, peak, warmup) for s in range(total + 1)]
    assert ours == pytest.approx(transformers_rates(name, total, peak, warmup), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("total, peak, warmup", SETTINGS[:3])
def test_cosine_with_a_floor_is_transformers_cosine_with_min_lr(total, peak, warmup):
    ours = [schedules.learning_rate("cosine", s, total, peak, warmup, min_lr_ratio=0.1) for s in range(total + 1)]
    theirs = transformers_rates("cosine_with_min_lr", total, peak, warmup, min_lr_rate=0.1)
    assert ours == pytest.approx(theirs, rel=1e-12)
    assert ours[-1] == pytest.approx(0.1 * peak)


@pytest.mark.parametrize("decay_type", ["cosine", "linear", "1-sqrt"])
@pytest.mark.parametrize("total, warmup, decay, floor", [(100, 10, 20, 0.0), (300, 0, 60, 0.1), (50, 5, 45, 0.05)])
def test_warmup_stable_decay_equals_transformers(decay_type, total, warmup, decay, floor):
    ours = [schedules.learning_rate("warmup_stable_decay", s, total, 1e-3, warmup, decay_steps=decay,
                                    decay_type=decay_type, min_lr_ratio=floor) for s in range(total + 1)]
    theirs = transformers_rates("warmup_stable_decay", total, 1e-3, warmup, num_decay_steps=decay,
                                decay_type=decay_type, min_lr_ratio=floor)
    assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-15)


def test_step_schedule_equals_torch_step_lr():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.5)
    theirs = []
    for _ in range(40):
        theirs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    ours = [schedules.learning_rate("step", s, 40, 0.01, 0, step_size=7, gamma=0.5) for s in range(40)]
    assert ours == pytest.approx(theirs, rel=1e-12)
    # after a warmup, the drops count from its end
    assert schedules.learning_rate("step", 10 + 7, 40, 0.01, 10, step_size=7, gamma=0.5) == pytest.approx(0.005)


def test_the_trainer_uses_this_schedule():
    cfg = train.TrainConfig(steps=120, learning_rate=4e-3, warmup_steps=12, min_lr_ratio=0.1)
    for s in range(cfg.steps):
        expected = schedules.learning_rate("cosine", s + 1 if s < 12 else s, 120, 4e-3, 12, min_lr_ratio=0.1)
        assert train.learning_rate_at(s, cfg) == pytest.approx(expected, rel=1e-12)
    _, curve = schedules.curve("cosine", 120, 4e-3, 12, trainer=True, min_lr_ratio=0.1)
    assert curve == [train.learning_rate_at(s, cfg) for s in range(120)]


def test_the_optimizer_really_gets_the_plotted_rate():
    """What set_learning_rate puts on AdamW's groups at each step is the curve tab 8 plots."""
    cfg = train.TrainConfig(steps=30, learning_rate=1e-2, warmup_steps=5)
    optimizers = train.make_optimizers(MiniGPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=1, n_embd=16)), cfg)
    seen = []
    for s in range(cfg.steps):
        train.set_learning_rate(optimizers, s, cfg)
        seen.append(optimizers[0].param_groups[0]["lr"])
    _, plotted = schedules.curve("cosine", 30, 1e-2, 5, trainer=True, min_lr_ratio=cfg.min_lr_ratio)
    assert seen == pytest.approx(plotted, rel=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda: schedules.learning_rate("cyclic", 0, 10, 1e-3), "Unknown schedule"),
    (lambda: schedules.learning_rate("cosine", 11, 10, 1e-3), "outside the run"),
    (lambda: schedules.learning_rate("cosine", 0, 0, 1e-3), "total number of steps"),
    (lambda: schedules.learning_rate("cosine", 0, 10, -1.0), "positive"),
    (lambda: schedules.learning_rate("cosine", 0, 10, float("nan")), "positive"),
    (lambda: schedules.learning_rate("linear", 0, 10, 1e-3, min_lr_ratio=0.1), "no option"),
    (lambda: schedules.learning_rate("cosine", 0, 10, 1e-3, min_lr_ratio=2), "min_lr_ratio"),
    (lambda: schedules.learning_rate("warmup_stable_decay", 0, 10, 1e-3, 5, decay_steps=8), "decay"),
    (lambda: schedules.learning_rate("step", 0, 10, 1e-3, gamma=0), "gamma"),
])
def test_bad_settings_are_refused_with_a_reason(call, message):
    with pytest.raises(ValueError, match=message):
        call()
