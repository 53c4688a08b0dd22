"""core.teacher: the figures of the teacher's view, each against an independent reading of the same thing."""
import os
import time

from core import jobs, sessions, teacher


def test_disk_and_learners_come_from_the_runs_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_RUNS_DIR", str(tmp_path))
    old, new = sessions.new_user_id(), sessions.new_user_id()
    sizes = {old: 3 * 2**20, new: 2**20 + 512}
    for user, size in sizes.items():
        run = sessions.new_run_dir(user, "minigpt")
        (run / "model.safetensors").write_bytes(b"\0" * size)
    (tmp_path / "not-a-learner").mkdir()  # ignored: not a learner id
    long_ago = time.time() - 3600
    for path in [sessions.user_dir(old), *sessions.user_dir(old).rglob("*")]:
        os.utime(path, (long_ago, long_ago))
    assert teacher.recent_learners() == (2, 1)
    disk = teacher.disk()
    assert disk["runs_mb"] == sum(sizes.values()) / 2**20
    report = teacher.report(sessions_in_flight=3, training_queue=1)
    assert f"runs {sum(sizes.values()) / 2**20:,.0f} MB" in report
    assert "3 browser sessions" in report and "1 learners whose runs changed" in report and "2 learner folders" in report


def test_memory_figures_match_the_kernels():
    total_mb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20
    assert abs(teacher.meminfo()["MemTotal"] - total_mb) < 0.01 * total_mb + 1


def test_the_job_table_names_learners_by_a_prefix_and_cancels_by_it(tmp_path):
    owner = sessions.new_user_id()
    jobs.reserve(owner, "MiniGPT training", tmp_path)
    try:
        [row] = [r for r in teacher.job_rows() if r.learner == owner[:8]]
        assert row.state == "queued" and row.kind == "MiniGPT training" and row.memory_mb is None
        assert owner not in teacher.report(0, 0) and owner[:8] in teacher.report(0, 0)  # the full id never shows
        assert "Asked the job" in teacher.cancel(owner[:8])
        assert not jobs.has_job(owner)
    finally:
        jobs.release_reservation(owner, tmp_path)
