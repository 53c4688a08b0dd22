"""core.spaces_support with a fake `spaces` package: spaces.GPU wraps where it is installed, nothing where not."""
import sys
import types

from core import spaces_support


def fake_spaces(monkeypatch, calls: list):
    module = types.ModuleType("spaces")

    def GPU(fn=None, duration=None):  # the real decorator's two spellings: @spaces.GPU and @spaces.GPU(duration=)
        def wrap(f):
            def on_gpu(*args, **kwargs):
                calls.append(duration)
                return f(*args, **kwargs)
            return on_gpu
        return wrap(fn) if fn is not None else wrap

    module.GPU = GPU
    module.__spec__ = types.SimpleNamespace(name="spaces")  # find_spec looks here for an imported module
    monkeypatch.setitem(sys.modules, "spaces", module)
    return module


def test_without_spaces_the_function_is_unchanged(monkeypatch):
    monkeypatch.setattr(spaces_support.importlib.util, "find_spec", lambda name: None)

    def generate(x):
        return x + 1

    assert spaces_support.gpu(duration=30)(generate) is generate
    assert spaces_support.import_spaces() is False


def test_with_spaces_gpu_wraps_and_passes_the_duration(monkeypatch):
    calls = []
    fake_spaces(monkeypatch, calls)
    monkeypatch.setattr(spaces_support.importlib.util, "find_spec", lambda name: object() if name == "spaces" else None)
    assert spaces_support.import_spaces() is True

    @spaces_support.gpu(duration=45)
    def generate(x):
        return x * 2

    @spaces_support.gpu()
    def quick(x):
        return -x

    assert generate(21) == 42 and quick(3) == -3
    assert calls == [45, None]


def test_space_settings_come_from_the_environment_only(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert spaces_support.hf_token() is None and not spaces_support.on_space()
    monkeypatch.setenv("HF_TOKEN", " hf_abc \n")
    monkeypatch.setenv("SPACE_ID", "teacher/playground")
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert spaces_support.hf_token() == "hf_abc" and spaces_support.on_space() and spaces_support.on_zero_gpu()
    monkeypatch.setattr(spaces_support, "SPACE_STORAGE", tmp_path)
    assert spaces_support.persistent_storage() == tmp_path
    monkeypatch.setattr(spaces_support, "SPACE_STORAGE", tmp_path / "missing")
    assert spaces_support.persistent_storage() is None
