"""The environment check (tab 9, `python -m core info`): correct on this machine, a fix for every red
or amber item, and never a hang without a network."""
import importlib.metadata
import json
import shutil
import time
import types

import pytest

from core import environment as E
from core import sessions, threads, tiktoken_offline


def test_machine_checks_say_what_torch_says():
    import torch

    checks = {c.name: c for c in E.machine_checks()}
    assert checks["Python"].status == E.OK
    assert checks["torch"].found.startswith(torch.__version__)
    assert ("CPU-only build" in checks["torch"].found) == (torch.version.cuda is None and not torch.backends.mps.is_built())
    assert (checks["device"].status == E.OK) == torch.cuda.is_available()
    assert f"{torch.get_num_threads()} torch threads on {threads.cpu_count()} CPU cores" in checks["threads"].found
    four_bit = checks["4-bit (bitsandbytes)"]
    assert (four_bit.status == E.OK) == torch.cuda.is_available() and (four_bit.fix != "") == (four_bit.status != E.OK)


def test_every_library_of_the_guide_is_checked_with_its_installed_version():
    pins = E.pinned_versions()
    assert pins["torch"] == "2.13.0" and pins["trl"] == "1.16.0"  # read from requirements.txt
    # versions of all (found, not imported: importing the whole Hugging Face stack costs ~20 s of CI); a real
    # import of the cheap ones (the tab imports all of them, and the browser test sees that table)
    checks = list(E.library_checks(really_import=False))
    checks += [E.library_check(p, m, why, pins) for p, m, why in E.LIBRARIES if p in ("numpy", "tiktoken", "safetensors")]
    assert [c.name for c in checks[:len(E.LIBRARIES)]] == [p for p, _, _ in E.LIBRARIES]
    for check in checks:
        version = importlib.metadata.version(check.name)
        assert check.found.startswith(version) and ("imports" in check.found or "found (not imported)" in check.found)
        assert check.status == (E.OK if version.split("+")[0] == pins.get(check.name, version.split("+")[0]) else E.WARN)
    assert sum("imports" in c.found for c in checks) == 3


def test_a_missing_broken_or_other_version_library_says_what_to_do():
    missing = E.library_check("no-such-package-xyz", "no_such_package_xyz", "nothing", {})
    assert missing.status == E.FAIL and missing.fix == E.INSTALL
    broken = E.library_check("pytest", "no_such_module_xyz", "tests", {"pytest": "9.2.0"})
    assert broken.status == E.FAIL and "does not import" in broken.found and "pytest==9.2.0" in broken.fix
    assert E.library_check("pytest", "no_such_module_xyz", "tests", {}, really_import=False).status == E.FAIL
    other = E.library_check("pytest", "pytest", "tests", {"pytest": "0.0.1"})
    assert other.status == E.WARN and "tested with 0.0.1" in other.found and "pytest==0.0.1" in other.fix


def test_a_cpu_build_on_a_gpu_machine_is_red_with_the_fix(monkeypatch):
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=lambda: False),
                                 backends=types.SimpleNamespace(mps=types.SimpleNamespace(is_available=lambda: False)),
                                 version=types.SimpleNamespace(cuda=None))
    monkeypatch.setattr(E.glob, "glob", lambda pattern: ["/dev/nvidia0"])
    (check,) = E._gpu_checks(fake)
    assert check.status == E.FAIL and "CPU-only build" in check.found and "download.pytorch.org" in check.fix


def test_four_bit_reason_is_tab_7s():
    from core.finetune.models import Environment

    cpu = E.four_bit_check(False, None)
    assert cpu.status == E.INFO and cpu.found == Environment(False, None, True, False, False).four_bit_unavailable
    assert E.four_bit_check(True, "some GPU").status == E.OK  # bitsandbytes is installed here


def test_tiktoken_rows_match_the_offline_availability():
    rows = {c.name: c for c in E.tiktoken_checks()}
    for a in tiktoken_offline.availability():
        assert (rows[a.name].status == E.OK) == a.available
        if not a.available:
            assert rows[a.name].fix == a.detail  # where to get it
    assert rows["cl100k_base"].status == E.OK


def test_disk_and_memory_are_this_machines():
    disk, memory = E.space_checks()
    free = shutil.disk_usage(E._existing(sessions.runs_root())).free / 2**30
    shown = float(disk.found.split(" GB free")[0])
    assert abs(shown - free) < 0.2  # other processes write meanwhile
    with open("/proc/meminfo") as f:
        available = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable")) / 2**20
    assert abs(float(memory.found.split(" GB")[0]) - available) < 0.5


def test_hub_check_offline_mode_does_not_even_try(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    check = E.hub_check()
    assert check.status == E.INFO and "not tried" in check.found and "unset HF_HUB_OFFLINE" in check.fix


@pytest.mark.timeout(30)  # a hang fails here instead of blocking the suite
def test_hub_check_never_hangs_on_a_silent_network(monkeypatch):
    import urllib.request

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    def silent(*args, **kwargs):  # a network that never answers (then fails, as a timed-out request does)
        time.sleep(60)
        raise OSError("timed out")

    monkeypatch.setattr(urllib.request, "urlopen", silent)
    start = time.perf_counter()
    check = E.hub_check(timeout=0.5)
    print(f"\nhub check on a silent network answered in {time.perf_counter() - start:.2f} s")
    assert check.status == E.WARN and "within 0.5 s" in check.found and "HF_ENDPOINT" in check.fix


def test_cli_info_prints_every_check_and_what_to_do(capsys, monkeypatch):
    from core.__main__ import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["info", "--skip-imports"]) == 0  # the imports themselves: tests above and the tab's browser test
    out = capsys.readouterr().out
    for package, _, _ in E.LIBRARIES:
        assert f"library  {package}" in out
    assert "Hugging Face Hub" in out and "-> Works offline" in out
    assert main(["info", "--json", "--skip-imports"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert sum(info["counts"].values()) == len(info["checks"]) and info["torch_build"] in out
    assert main(["info", "--hub-timeout", "0"]) == 2  # refused, with a message
    assert "--hub-timeout" in capsys.readouterr().err


def test_a_gpu_shows_its_name_and_free_memory():
    gib = 2**30
    cuda = types.SimpleNamespace(is_available=lambda: True, mem_get_info=lambda i: (100 * gib, 141 * gib),
                                 get_device_name=lambda i: "NVIDIA H200", device_count=lambda: 1)
    fake = types.SimpleNamespace(cuda=cuda, version=types.SimpleNamespace(cuda="12.8"))
    device, memory = E._gpu_checks(fake)
    assert device.status == memory.status == E.OK
    assert device.found == "NVIDIA H200 (1 visible)" and memory.found == "100.0 GB free of 141.0 GB"
