"""The director's /metrics as Prometheus scrapes it: a real director on the dummy CPI,
driven by the real CLI, read with prometheus_client's own parser."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from bosh_py.director.metrics import TaskMetrics, task_type
from tests.cf.metrics.scrape_support import families, http_get, samples, value
from tests.director.dummy_support import DEPLOYMENT, dummy_director
from tests.harness import wait_until


def _credentials(director) -> tuple[str, str]:
    config = json.loads((director.root / "cli.json").read_text())
    return config["user"], config["password"]


def _scrape(director) -> tuple[dict, str]:
    user, password = _credentials(director)
    status, headers, body = http_get(director.url + "/metrics", user, password)
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return samples(body.decode()), body.decode()


def test_director_metrics_move_with_tasks_cpi_calls_and_heartbeats(tmp_path):
    with dummy_director(tmp_path) as d:
        user, password = _credentials(d)
        assert http_get(d.url + "/metrics")[0] == 401
        assert http_get(d.url + "/metrics", user, "not-the-password")[0] == 401
        before, text = _scrape(d)
        kinds = families(text)
        assert kinds["bosh_py_task_duration_seconds"] == "histogram"
        assert kinds["bosh_py_tasks_finished"] == "counter"
        assert kinds["bosh_py_cpi_call_duration_seconds"] == "histogram"
        assert value(before, "bosh_py_tasks_finished_total", type="upload_release", state="done") == 1
        assert value(before, "bosh_py_tasks_finished_total", type="deploy", state="done") == 0

        d.cli("deploy", "-n", str(d.manifest(instances=2)))
        after, text = _scrape(d)
        assert value(after, "bosh_py_tasks_finished_total", type="deploy", state="done") == 1
        assert value(after, "bosh_py_task_duration_seconds_count", type="deploy", state="done") == 1
        assert value(after, "bosh_py_deploy_last_duration_seconds", deployment=DEPLOYMENT) > 0
        assert value(after, "bosh_py_cpi_call_duration_seconds_count", method="create_vm", result="ok") >= 2
        assert password not in text
        # a second scrape counts nothing twice
        again, _ = _scrape(d)
        assert value(again, "bosh_py_tasks_finished_total", type="deploy", state="done") == 1

        seen = value(after, "bosh_py_agent_heartbeats_total", job_state="running")
        wait_until(lambda: value(_scrape(d)[0], "bosh_py_agent_heartbeats_total", job_state="running") >= seen + 2,
                   timeout=20, message="heartbeats to be counted")

        d.fail_next("create_vm", "CloudError", times=None, message="no capacity")
        assert d.cli("deploy", "-n", str(d.manifest(instances=3)), check=False).returncode == 1
        failed, _ = _scrape(d)
        assert value(failed, "bosh_py_tasks_finished_total", type="deploy", state="error") == 1
        assert value(failed, "bosh_py_cpi_call_duration_seconds_count", method="create_vm", result="error") >= 1
        assert value(failed, "bosh_py_deploy_last_duration_seconds", deployment=DEPLOYMENT) == \
            value(after, "bosh_py_deploy_last_duration_seconds", deployment=DEPLOYMENT)


@pytest.mark.parametrize("description,kind", [
    ("create deployment", "deploy"), ("create deployment (dry run)", "deploy"),
    ("scan and fix: recreate web/0", "resurrection"), ("scan and fix", "cck_resolve"),
    ("scan cloud", "cck_scan"), ("delete release kv/3", "delete_release"),
    ("recreate instances", "recreate"), ("run errand smoke", "run_errand"), ("something new", "other"),
])
def test_task_types_are_a_fixed_vocabulary(description, kind):
    assert task_type(description) == kind


def test_task_metrics_count_each_finished_task_once_even_out_of_order():
    start = datetime(2026, 12, 1)
    tasks = TaskMetrics(CollectorRegistry())
    running = (1, "create deployment", "processing", "web", start, None)
    quick = (2, "scan and fix: recreate web/0", "done", "web", start, start + timedelta(seconds=7))
    tasks.refresh([running, quick])
    assert tasks.in_progress == {("deploy", "processing"): 1}
    assert tasks.watermark == 1
    tasks.refresh([running, quick])  # task 2 is read again (above the watermark): not counted again
    assert tasks.finished.labels(type="resurrection", state="done")._value.get() == 1
    tasks.refresh([(1, "create deployment", "done", "web", start, start + timedelta(seconds=90)), quick])
    assert tasks.finished.labels(type="deploy", state="done")._value.get() == 1
    assert tasks.last_deploy == {"web": 90.0}
    assert tasks.in_progress == {} and tasks.watermark == 3 and tasks.counted == set()
