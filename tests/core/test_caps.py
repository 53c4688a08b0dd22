"""core.caps: what a teacher's environment allows one job, and the message when a setting is over it."""
from dataclasses import replace

import pytest

from core import caps
from core.finetune.train import TrainSettings
from core.minigpt.config import GPTConfig
from core.minigpt.train import preset


@pytest.fixture(autouse=True)
def class_defaults(monkeypatch):
    for name in caps.DEFAULTS:
        monkeypatch.delenv(name, raising=False)


def sized(name="default"):
    model, train = preset(name)
    return replace(model, vocab_size=65), train


@pytest.mark.parametrize("name", ["default", "adamw", "speedrun"])
def test_every_preset_fits_the_class_defaults(name):
    caps.check_minigpt(*sized(name))


def test_the_sliders_maximums_are_refused_with_the_cap_and_its_variable():
    model = GPTConfig(vocab_size=100, block_size=256, n_layer=8, n_head=8, n_embd=384)
    _, train = sized()
    with pytest.raises(ValueError, match=r"Parameters x batch x context .* over this server's cap of 2e\+10.*PLAYGROUND_MAX_STEP_WORK"):
        caps.check_minigpt(model, replace(train, batch_size=256))
    with pytest.raises(ValueError, match="20,000, over this server's cap of 5,000.*PLAYGROUND_MAX_STEPS"):
        caps.check_minigpt(*sized()[:1], replace(train, steps=20_000))


def test_a_teacher_raises_or_lowers_a_cap_from_the_environment(monkeypatch):
    model, train = sized()
    monkeypatch.setenv("PLAYGROUND_MAX_STEPS", "100")
    with pytest.raises(ValueError, match="cap of 100"):
        caps.check_minigpt(model, train)
    monkeypatch.setenv("PLAYGROUND_MAX_STEPS", "20000")
    caps.check_minigpt(model, replace(train, steps=20_000))
    monkeypatch.setenv("PLAYGROUND_MAX_JOB_MB", "450")  # the default preset's estimate (~110 MB) + 400
    with pytest.raises(ValueError, match="estimated training memory.*cap of 450 MB.*PLAYGROUND_MAX_JOB_MB"):
        caps.check_minigpt(model, train)
    monkeypatch.setenv("PLAYGROUND_MAX_JOB_MB", "lots")
    with pytest.raises(ValueError, match="PLAYGROUND_MAX_JOB_MB='lots' is not a number"):
        caps.check_minigpt(model, train)


def test_lora_steps_including_epochs(monkeypatch):
    caps.check_lora(TrainSettings(max_steps=60))
    with pytest.raises(ValueError, match="LoRA steps is 1,000.*cap of 300.*PLAYGROUND_MAX_LORA_STEPS"):
        caps.check_lora(TrainSettings(max_steps=1000))
    # 3 epochs of 1,000 examples at batch 8: 375 steps
    with pytest.raises(ValueError, match="375"):
        caps.check_lora(TrainSettings(epochs=3, batch_size=8), n_examples=1000)
    monkeypatch.setenv("PLAYGROUND_MAX_LORA_STEPS", "400")
    caps.check_lora(TrainSettings(epochs=3, batch_size=8), n_examples=1000)


def test_running_limits_follow_the_caps(monkeypatch):
    monkeypatch.setenv("PLAYGROUND_MAX_MINUTES", "2")
    limits = caps.minigpt_limits()
    assert (limits.wall_s, limits.memory_mb) == (120, 2500)
    assert caps.lora_limits().memory_mb == 4000
    assert "5,000 steps" in caps.describe()
