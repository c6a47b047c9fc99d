"""The run-failure alert (elcrec_pipeline/alerts.py): a failed run is written to the instance's alerts file and
posted to the webhook, with the job, the day, the data folder and each failed step's error."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import pytest

from elcrec_pipeline.alerts import ALERT_WEBHOOK_ENV, ALERTS_FILE, AlertWebhook, run_failure_alert
from elcrec_pipeline.definitions import defs
from elcrec_pipeline.resources import Storage


class _Webhook(BaseHTTPRequestHandler):
    """Keeps each JSON body posted to it in ``bodies`` and answers with ``status`` (a redirect to /moved for 301;
    what else comes, a GET, in ``others``)."""

    bodies: list[dict] = []
    others: list[str] = []
    headers_seen: list[str | None] = []
    status: int | str = 200

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.headers_seen.append(self.headers["Authorization"])
        if self.status == "trickle":
            for byte in b"HTTP/1.1 200 OK\r\n\r\n":
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.2)
            return
        self.send_response(self.status)
        if self.status == 301:
            self.send_header("Location", "/moved")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        self.others.append(f"GET {self.path}")
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def webhook():
    """The URL of a webhook on this machine, and the bodies posted to it."""
    _Webhook.bodies, _Webhook.others, _Webhook.headers_seen, _Webhook.status = [], [], [], 200
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
        server.status = 301  # urllib followed it with a GET without the alert, said "sent" (helper-242)
        run_failure_alert(context, alert_webhook=AlertWebhook(url=url))
        lines = (Path(instance.root_directory) / ALERTS_FILE).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["webhook"] for line in lines] == [
        "not sent: HTTP Error 500: Internal Server Error",
        f"not sent: {ALERT_WEBHOOK_ENV} is no http(s) URL: it does not begin with http:// or https://", "not set",
        "not sent: HTTP Error 301: Moved Permanently"]
    assert (len(server.bodies), server.others) == (2, [])


def test_a_post_that_http_client_refuses_or_that_trickles_is_said_and_a_password_is_sent_but_never_written(
        tmp_path, webhook, monkeypatch):
    """A listener that is no HTTP server raised http.client's BadStatusLine (no OSError) out of the sensor: the alert
    was lost; so was one to a URL with user:password@, whose password the error (InvalidURL) showed; and an answer
    trickling in a byte at a time kept the post minutes past its 10 s (helper-244)."""
    from elcrec_pipeline import alerts

    url, server = webhook
    not_http = socket.create_server(("127.0.0.1", 0))
    peers: list[socket.socket] = []  # kept open: a peer closed at once failed the post's write, EPIPE (helper-250)
    threading.Thread(target=lambda: peers.append(not_http.accept()[0]) or peers[0].sendall(b"SSH-2.0-OpenSSH_9.6\r\n"),
                     daemon=True).start()
    said = AlertWebhook(url=f"http://127.0.0.1:{not_http.getsockname()[1]}/hook").post("x")
    assert said.startswith("not sent: BadStatusLine: "), said
    with dg.instance_for_test() as instance:
        context = _failed_run(instance, tmp_path / "data")
        run_failure_alert(context, alert_webhook=AlertWebhook(url=url.replace("http://", "http://bot:S3cret%21@")))
        text = (Path(instance.root_directory) / ALERTS_FILE).read_text(encoding="utf-8")
    assert json.loads(text)["webhook"] == "sent" and "S3cret" not in text
    assert server.headers_seen[-1] == "Basic " + base64.b64encode(b"bot:S3cret!").decode()
    server.status = "trickle"  # a byte of its answer every 0.2 s: each read within urllib's timeout
    monkeypatch.setattr(alerts, "WEBHOOK_TIMEOUT_SECONDS", 1)
    assert AlertWebhook(url=url).post("x") == "not sent: no answer within 1 s"
    # a data folder given as {"env": NAME} in the run config, of a run refused before its tag: shown as a dict
    run = dg.DagsterRun(job_name="j", run_id="r2", run_config={"resources": {"storage": {"config": {
        "data_dir": {"env": "TEAM_DATA"}}}}})
    monkeypatch.delenv("TEAM_DATA", raising=False)
    assert alerts.failure_alert(run, [], "e")["data_folder"] == "$TEAM_DATA"
    monkeypatch.setenv("TEAM_DATA", "/srv/team")
    assert alerts.failure_alert(run, [], "e")["data_folder"] == "/srv/team"


def test_an_alert_names_the_error_under_dagsters_wrapping_and_a_failure_before_any_step(tmp_path):
    """A step's own exception (not a dg.Failure) read 'DagsterExecutionStepExecutionError: Error occurred while
    executing op', and a run refused by its data folder before any step 'An exception was thrown during execution',
    without the folder (helper-242): the error that caused each, and the folder of the run config."""
    @dg.op
    def full_disk() -> None:
        raise OSError(28, "No space left on device")

    @dg.job
    def writes() -> None:
        full_disk()

    with dg.instance_for_test() as instance:
        result = writes.execute_in_process(instance=instance, raise_on_error=False)
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert", dagster_event=result.get_run_failure_event(), dagster_instance=instance,
            dagster_run=instance.get_run_by_id(result.run_id)).for_run_failure()
        run_failure_alert(context, alert_webhook=AlertWebhook())
        # a folder that an earlier run succeeded with, now empty (a volume not mounted): refused as resources start
        folder = tmp_path / "data"
        storage = {"storage": Storage(data_dir=str(folder))}
        job = defs().resolve_job_def("ingestion_job")
        assert job.execute_in_process(partition_key="2026-02-01", instance=instance, resources=storage).success
        shutil.rmtree(folder)
        folder.mkdir()
        config = {"resources": {"storage": {"config": {"data_dir": str(folder)}}}}
        refused = job.execute_in_process(run_config=config, partition_key="2026-02-01", instance=instance,
                                         raise_on_error=False)
        context = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert", dagster_event=refused.get_run_failure_event(), dagster_instance=instance,
            dagster_run=instance.get_run_by_id(refused.run_id)).for_run_failure()
        run_failure_alert(context, alert_webhook=AlertWebhook())
        wrapped, before_any_step = map(json.loads, (Path(instance.root_directory) / ALERTS_FILE).read_text(
            encoding="utf-8").splitlines())
    assert wrapped["failed_steps"] == [{"step": "full_disk", "error": "OSError: [Errno 28] No space left on device"}]
    assert (before_any_step["failed_steps"], before_any_step["data_folder"]) == ([], str(folder))
    assert before_any_step["error"].startswith(f"ValueError: the data folder {folder} (the run config's resources."
                                               "storage.config.data_dir) is empty, though run ")
    assert before_any_step["text"].splitlines()[1] == before_any_step["error"]



def test_an_alert_says_interrupted_names_an_asset_materialization_and_marks_a_cut_error() -> None:
    """Ctrl-C read 'dagster._core.errors.DagsterExecutionInterruptedError', a materialization from the UI or the
    shell '__ASSET_JOB', and an error cut at 1000 characters ended mid-path without a mark (helper-243)."""
    from dagster_shared.error import SerializableErrorInfo

    from elcrec_pipeline.alerts import ERROR_CHARS, error_text, failure_alert

    interrupted = SerializableErrorInfo(message="dagster._core.errors.DagsterExecutionInterruptedError\n", stack=[],
                                        cls_name="DagsterExecutionInterruptedError")
    assert error_text(interrupted) == "interrupted: the run was given Ctrl-C or a signal"  # the UI's Terminate:
    # the run ends canceled, not failed, and raises no alert (it was named here: helper-244)
    run = dg.DagsterRun(job_name="__ASSET_JOB", run_id="r1", tags={"dagster/partition": "2026-02-01"})
    alert = failure_alert(run, [("raw_interactions", "x" * (ERROR_CHARS + 1))], "")
    assert alert["text"].splitlines()[0] == "elcrec-pipeline: run r1 of an asset materialization for 2026-02-01 failed"
    assert alert["failed_steps"][0]["error"] == "x" * (ERROR_CHARS - 3) + "..."
    assert failure_alert(run, [("raw_interactions", "x" * ERROR_CHARS)], "")["failed_steps"][0]["error"] == \
        "x" * ERROR_CHARS


def test_the_alert_watches_every_run_of_the_instance_and_is_on_by_default():
    """A run of ``dagster job execute`` has no code location: a sensor of one location alone never sees it (a
    trial with the daemon, 2026-12-07)."""
    sensor = defs().get_sensor_def("run_failure_alert")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor._monitor_all_code_locations  # noqa: SLF001 (Dagster keeps it private)
    assert "alert_webhook" in sensor.required_resource_keys


def test_an_abandoned_post_hangs_up_and_a_url_that_urllib_would_quote_is_refused_naming_the_setting(
        webhook, monkeypatch):
    """A server whose answer trickles in kept the post's thread reading it (a thread and a socket per alert, for as
    long as it trickled) after the post had said "no answer"; a URL with a space or a control character in its path
    was quoted in http.client's error (its path, a Slack webhook's secret, written in the alert and the log), and one
    whose host urllib could not read raised in the thread: a traceback, and "no answer" 10 s later (helper-250)."""
    from elcrec_pipeline import alerts

    trickler, hung_up = socket.create_server(("127.0.0.1", 0)), threading.Event()

    def trickle() -> None:  # a header line that never ends: http.client reads up to 64 KiB of it
        peer = trickler.accept()[0]
        peer.recv(65536)
        try:
            peer.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while True:
                peer.sendall(b"a")
                time.sleep(0.1)
        except OSError:
            hung_up.set()

    threading.Thread(target=trickle, daemon=True).start()
    monkeypatch.setattr(alerts, "WEBHOOK_TIMEOUT_SECONDS", 1)
    url = f"http://127.0.0.1:{trickler.getsockname()[1]}/hook"
    assert AlertWebhook(url=url).post("x") == "not sent: no answer within 1 s"
    assert hung_up.wait(60)  # without the hang-up: never (hours)
    for thread in threading.enumerate():
        if thread.name == "elcrec-alert-post":
            thread.join(60)
            assert not thread.is_alive()
    trickler.close()
    hook, server = webhook
    secret = "/services/T0/B0/S3cretPath"
    monkeypatch.setenv(ALERT_WEBHOOK_ENV, hook.replace("/hook", secret + " x"))
    at = hook.index("/hook") + len(secret) + 1  # the space's place, from 1
    assert AlertWebhook().post("x") == (f"not sent: {ALERT_WEBHOOK_ENV} is no URL: it holds a space (at character "
                                        f"{at}; write a space as %20)")
    said = AlertWebhook(url=hook.replace("/hook", secret + "\r\nX-Injected: 1")).post("x")
    assert said == ("not sent: the alert_webhook resource's url is no URL: it holds a control character (at character "
                    f"{at}; write a space as %20)")
    assert AlertWebhook(url="http://[::1" + secret).post("x") == (
        "not sent: the alert_webhook resource's url is no URL: its host or port cannot be read")
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # a password "p" was masked in the error's word "urlopen": "<url***en error ..."
    assert AlertWebhook(url=f"http://bot:p@127.0.0.1:{port}/hook").post("x") == (
        "not sent: <urlopen error [Errno 111] Connection refused>")
    assert AlertWebhook(url=f" {hook}\n").post("y") == "sent"  # the white space around it: urllib leaves it out
    assert server.bodies == [{"text": "y"}]
