"""cf-py's crash report quotes the crashed instance's own output."""

from __future__ import annotations

from cf_platform.client import waiting

CRASH = {"instance": "old-guid", "index": 0, "exit_status": 3, "exit_description": "app instance exited"}


class LogsAnswers:
    """Stands in for CcClient.logs only: each call returns the next prepared answer."""

    def __init__(self, *answers: list[dict]) -> None:
        self.answers = list(answers)
        self.calls = 0

    def logs(self, guid: str) -> list[dict]:
        self.calls += 1
        return self.answers.pop(0) if self.answers else []


def test_the_crashed_instance_is_quoted_not_a_newer_one_under_its_index(monkeypatch):
    monkeypatch.setattr(waiting, "POLL", 0)
    cc = LogsAnswers([
        {"index": 0, "instance": "old-guid", "stderr": "crasher: missing DATABASE_URL\n", "stdout": ""},
        {"index": 0, "instance": "new-guid", "stderr": "", "stdout": ""},   # restarted by the HM
    ])
    message = waiting._crash_message(cc, "app", "crasher", CRASH)
    assert message.startswith("Instance 0 of crasher crashed: app instance exited (exit status 3)")
    assert "  crasher: missing DATABASE_URL" in message


def test_a_dea_that_answers_late_is_asked_again(monkeypatch):
    monkeypatch.setattr(waiting, "POLL", 0)
    cc = LogsAnswers([], [{"index": 0, "instance": "old-guid", "stderr": "boom\n"}])
    assert "Last output of the instance:\n  boom" in waiting._crash_message(cc, "app", "crasher", CRASH)
    assert cc.calls == 2


def test_no_output_at_all_is_the_bare_crash_line(monkeypatch):
    monkeypatch.setattr(waiting, "POLL", 0)
    cc = LogsAnswers()
    assert waiting._crash_message(cc, "app", "crasher", CRASH) == \
        "Instance 0 of crasher crashed: app instance exited (exit status 3)"
    assert cc.calls == 3
