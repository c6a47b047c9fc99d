"""The run-failure alert (elcrec_pipeline/alerts.py): a failed run is written to the instance's alerts file and
posted to the webhook, with the job, the day, the data folder and each failed step's error."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import pytest

from elcrec_pipeline.alerts import ALERT_WEBHOOK_ENV, ALERTS_FILE, AlertWebhook, run_failure_alert
from elcrec_pipeline.definitions import defs
from elcrec_pipeline.resources import Storage


class _Webhook(BaseHTTPRequestHandler):
    """Keeps each JSON body posted to it in ``bodies`` and answers with ``status``."""

    bodies: list[dict] = []
    status = 200

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def webhook():
    """The URL of a webhook on this machine, and the bodies posted to it."""
    _Webhook.bodies, _Webhook.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), _Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Webhook
    server.shutdown()


def _failed_run(instance: dg.DagsterInstance, data_dir: Path) -> dg.RunFailureSensorContext:
    """The sensor's context for a failed run of ``ingestion_job``: its source path is outside the allowed folders."""
    job = defs().resolve_job_def("ingestion_job")
    config = {"ops": {"raw_interactions": {"config": {"format": "csv", "path": "/nonexistent/day.csv"}}}}
    result = job.execute_in_process(run_config=config, partition_key="2026-02-01", instance=instance,
                                    raise_on_error=False, resources={"storage": Storage(data_dir=str(data_dir))})
    assert not result.success
    return dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert", dagster_event=result.get_run_failure_event(), dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id)).for_run_failure()


def test_a_failed_run_is_written_down_and_posted_with_its_day_folder_and_error(tmp_path, webhook):
    url, server = webhook
    with dg.instance_for_test() as instance:
        context = _failed_run(instance, tmp_path / "data")
        run_failure_alert(context, alert_webhook=AlertWebhook(url=url))
        (line,) = (Path(instance.root_directory) / ALERTS_FILE).read_text(encoding="utf-8").splitlines()
    alert = json.loads(line)
    run_id = context.dagster_run.run_id
    error = ("Failure: source path '/nonexistent/day.csv' is /nonexistent/day.csv, outside the folders sources are "
             f"read from ({tmp_path / 'data'})")
    assert (alert["run_id"], alert["job"], alert["partition"], alert["data_folder"], alert["webhook"]) == (
        run_id, "ingestion_job", "2026-02-01", str(tmp_path / "data"), "sent")
    assert [step["step"] for step in alert["failed_steps"]] == ["raw_interactions"]
    assert alert["failed_steps"][0]["error"].startswith(error)
    assert alert["text"].splitlines()[:2] == [
        f"elcrec-pipeline: run {run_id} of ingestion_job for 2026-02-01 failed (data folder {tmp_path / 'data'})",
        f"raw_interactions: {alert['failed_steps'][0]['error']}"]
    assert server.bodies == [{"text": alert["text"]}]


def test_an_alert_that_cannot_be_posted_is_still_written_down_saying_why(tmp_path, webhook, monkeypatch):
    url, server = webhook
    server.status = 500
    monkeypatch.setenv(ALERT_WEBHOOK_ENV, url)  # the resource's default
    with dg.instance_for_test() as instance:
        context = _failed_run(instance, tmp_path / "data")
        run_failure_alert(context, alert_webhook=AlertWebhook())
        monkeypatch.setenv(ALERT_WEBHOOK_ENV, "file:///etc/passwd")  # no http(s) URL: never opened
        run_failure_alert(context, alert_webhook=AlertWebhook())
        monkeypatch.delenv(ALERT_WEBHOOK_ENV)
        run_failure_alert(context, alert_webhook=AlertWebhook())
        lines = (Path(instance.root_directory) / ALERTS_FILE).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["webhook"] for line in lines] == [
        "not sent: HTTP Error 500: Internal Server Error",
        f"not sent: {ALERT_WEBHOOK_ENV} 'file:///etc/passwd' is no http(s) URL", "not set"]
    assert len(server.bodies) == 1


def test_the_alert_watches_every_run_of_the_instance_and_is_on_by_default():
    """A run of ``dagster job execute`` has no code location: a sensor of one location alone never sees it (a
    trial with the daemon, 2026-12-07)."""
    sensor = defs().get_sensor_def("run_failure_alert")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor._monitor_all_code_locations  # noqa: SLF001 (Dagster keeps it private)
    assert "alert_webhook" in sensor.required_resource_keys
