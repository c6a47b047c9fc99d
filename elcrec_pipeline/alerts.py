"""The run-failure alert: a failed run of the Dagster instance is written down and, where a webhook is set,
posted to it, so that nobody has to watch the UI to learn that the night's retraining failed."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import socket
import threading
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from elcrec_pipeline.resources import WAREHOUSE_TAG

if TYPE_CHECKING:
    from dagster_shared.error import SerializableErrorInfo  # the record of an error in Dagster's events

ALERT_WEBHOOK_ENV = "ELCREC_ALERT_WEBHOOK"
ALERTS_FILE = "elcrec_alerts.jsonl"  # in the instance's folder (DAGSTER_HOME), one JSON object per failed run
WEBHOOK_TIMEOUT_SECONDS = 10
ERROR_CHARS = 3000  # of each failed step's error, in the alert (a longer one ends with ...)
INTERRUPTED = "DagsterExecutionInterruptedError"  # Dagster's error of a run terminated or given Ctrl-C: no message


class AlertWebhook(dg.ConfigurableResource):
    """Where failed runs are posted: an http(s) URL that takes a JSON body ``{"text": ...}`` (a Slack or Mattermost
    incoming webhook, or a team's own service). ``url`` defaults to ``$ELCREC_ALERT_WEBHOOK``, read at each
    alert; with neither, alerts are written to the instance's folder and the sensor's log only."""

    url: str = Field("", description=f"the webhook's URL (default: ${ALERT_WEBHOOK_ENV}; none: no post)")

    def target(self) -> str:
        """The URL (its surrounding white space left out, as urllib leaves it), or "" when none is set. Raises
        ValueError for a URL that is not http(s) (a ``file:`` URL would read a local file), or that holds a space or
        control character or a host that cannot be read, naming the setting, not the URL (a webhook's URL holds its
        secret: http.client's and urllib's errors quoted it, written in the alert and the daemon's log, helper-250)."""
        url = (self.url or dg.EnvVar(ALERT_WEBHOOK_ENV).get_value() or "").strip()
        setting = "the alert_webhook resource's url" if self.url else ALERT_WEBHOOK_ENV
        if url and not url.lower().startswith(("http://", "https://")):
            raise ValueError(f"{setting} is no http(s) URL: it does not begin with http:// or https://")
        if bad := re.search(r"[\x00-\x20\x7f]", url):
            raise ValueError(f"{setting} is no URL: it holds {'a space' if bad[0] == ' ' else 'a control character'} "
                             f"(at character {bad.start() + 1}; write a space as %20)")
        try:
            urllib.parse.urlsplit(url).port  # noqa: B018 (reads the host and port: ValueError where they cannot be)
        except ValueError:
            raise ValueError(f"{setting} is no URL: its host or port cannot be read") from None
        return url

    def post(self, text: str) -> str:
        """Posts ``text``; returns what came of it: ``"not set"``, ``"sent"``, or why it was not sent (the URL's
        refusal, the HTTP status, no answer within :data:`WEBHOOK_TIMEOUT_SECONDS` s in all: urllib's timeout is of
        each read, and an answer that trickled in took minutes, helper-244). A URL's ``user:password@`` is sent as
        HTTP basic authentication. Never raises: an alert that cannot be posted is still written down."""
        try:
            url = self.target()
        except ValueError as err:
            return f"not sent: {err}"
        if not url:
            return "not set"
        outcome: list[str] = []
        connections: list[http.client.HTTPConnection] = []
        sender = threading.Thread(target=lambda: outcome.append(_send(url, text, connections)), daemon=True,
                                  name="elcrec-alert-post")
        sender.start()
        sender.join(WEBHOOK_TIMEOUT_SECONDS)
        if outcome:
            return outcome[0]
        connections.append(None)  # abandoned: a connection made after this is closed at once
        for connection in filter(None, connections):  # the sender ends now, not when an answer that trickles in
            _hang_up(connection)  # ends: a thread a failed run had been left reading it (helper-250)
        return f"not sent: no answer within {WEBHOOK_TIMEOUT_SECONDS} s"


def _hang_up(connection: http.client.HTTPConnection) -> None:
    """Shut ``connection``'s socket down, which ends a read of it in another thread at once."""
    with contextlib.suppress(OSError, AttributeError):
        connection.sock.shutdown(socket.SHUT_RDWR)


def _send(url: str, text: str, connections: list[http.client.HTTPConnection | None]) -> str:
    """What came of posting ``{"text": text}`` to ``url`` (see :meth:`AlertWebhook.post`), neither its password nor
    its path said; each connection made is added to ``connections``, and closed at once where it holds None (the
    post abandoned)."""
    parts = urllib.parse.urlsplit(url)
    try:
        headers = {"Content-Type": "application/json"}
        if parts.username is not None:  # urllib took user:password@ for the host, the password in an error (helper-244)
            login = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(login.encode()).decode()
            url = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        request = urllib.request.Request(url, data=json.dumps({"text": text}).encode(), method="POST", headers=headers)
        # a redirect is an HTTP error here: urllib follows it with a GET without the body, said "sent" (helper-242)
        opener = urllib.request.build_opener(_NoRedirect, _Tracked(connections), _TrackedTLS(connections))
        with opener.open(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            return "sent" if response.status < 300 else f"not sent: HTTP {response.status}"
    except Exception as err:  # noqa: BLE001 (the last line of defence: http.client's errors, a listener that is no
        # HTTP server's BadStatusLine, are no OSErrors, and the sensor raised, the alert lost: helper-244)
        said = str(err) if isinstance(err, OSError) else f"{type(err).__name__}: {err}"
        secrets = {parts.password, parts.password and urllib.parse.unquote(parts.password), parts.query,
                   parts.path if len(parts.path) > 1 else None}  # a Slack webhook's secret is its path
        for secret in sorted(filter(None, secrets), key=len, reverse=True):
            said = re.sub(_whole(secret), "***", said)
        return f"not sent: {said}"


def _whole(secret: str) -> str:
    """A pattern of ``secret`` where no letter or digit goes on where it starts or ends with one (a password p was
    masked in "urlopen": helper-250)."""
    before = r"(?<![^\W_])" if secret[0].isalnum() else ""
    return before + re.escape(secret) + (r"(?![^\W_])" if secret[-1].isalnum() else "")


class _Connections:
    """A handler whose connections are added to a list, each closed as soon as it is made where the list holds None
    (:meth:`AlertWebhook.post` abandoned the post)."""

    def __init__(self, connections: list[http.client.HTTPConnection | None]) -> None:
        super().__init__()
        self.connections = connections

    def do_open(self, http_class: type[http.client.HTTPConnection], request: Any, **kwargs: Any) -> Any:
        def made(host: str, **settings: Any) -> http.client.HTTPConnection:
            connection = http_class(host, **settings)
            connect = connection.connect

            def connected() -> None:
                self.connections.append(connection)
                connect()
                if None in self.connections:  # abandoned while it connected
                    _hang_up(connection)
            connection.connect = connected  # type: ignore[method-assign]
            return connection
        return super().do_open(made, request, **kwargs)


class _Tracked(_Connections, urllib.request.HTTPHandler):
    pass


class _TrackedTLS(_Connections, urllib.request.HTTPSHandler):
    pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None  # urllib then raises the 3xx as an HTTPError


def failure_alert(run: dg.DagsterRun, steps: list[tuple[str, str]], run_error: str) -> dict[str, Any]:
    """The alert of a failed ``run``: its job, partition, data folder (the run's :data:`WAREHOUSE_TAG`, else its
    run config's; none where neither names it), each failed step with its error (``steps``: (step key, error) pairs),
    else the run's own ``run_error`` (a failure before any step, as a resource's refusal), each error cut to
    :data:`ERROR_CHARS` characters, and a ``text`` that says it all in a few lines."""
    warehouse = run.tags.get(WAREHOUSE_TAG)
    storage = (run.run_config.get("resources") or {}).get("storage") or {}
    folder = str(Path(warehouse).parent) if warehouse else _setting((storage.get("config") or {}).get("data_dir"))
    partition = run.tags.get("dagster/partition")
    failed = [{"step": step, "error": _cut(error)} for step, error in steps]
    job = "an asset materialization" if run.job_name == "__ASSET_JOB" else run.job_name  # Dagster's name of it
    head = (f"elcrec-pipeline: run {run.run_id} of {job}" + (f" for {partition}" if partition else "")
            + " failed" + (f" (data folder {folder})" if folder else ""))
    error = None if failed else _cut(run_error)
    lines = [f"{item['step']}: {item['error']}" for item in failed] or [error]
    return {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "run_id": run.run_id,
            "job": run.job_name, "partition": partition, "data_folder": folder, "failed_steps": failed,
            "error": error, "text": "\n".join([head, *lines])}


def _setting(value: str | dict | None) -> str | None:
    """A run config's value as text: ``{"env": NAME}`` as the variable's value here, else ``$NAME`` (it was shown as
    a dict: helper-244); None for none."""
    if isinstance(value, dict) and "env" in value:
        return os.environ.get(value["env"]) or f"${value['env']}"
    return str(value) if value else None


def _cut(error: str) -> str:
    """``error`` within :data:`ERROR_CHARS` characters, ending with ... where it was cut (helper-243)."""
    return error if len(error) <= ERROR_CHARS else error[:ERROR_CHARS - 3] + "..."


def error_text(error: SerializableErrorInfo | None) -> str:
    """The error that caused ``error`` (the last of its causes: Dagster wraps a step's own exception, said
    ``Error occurred while executing op``, helper-242) as ``Class: message``, its module path left out."""
    if error is None:
        return "no error recorded"
    while error.cause is not None:
        error = error.cause
    if error.cls_name == INTERRUPTED:  # its class path alone (helper-243)
        return "interrupted: the run was given Ctrl-C or a signal"  # the UI's Terminate: canceled, no failure
    text = error.message.strip()
    prefix, colon, rest = text.partition(": ")  # dagster._core.definitions.events.Failure: ...
    return f"{error.cls_name}: {rest}" if colon and prefix.rsplit(".", 1)[-1] == error.cls_name else text


def _step_errors(context: dg.RunFailureSensorContext) -> list[tuple[str, str]]:
    """(step key, error) of each failed step."""
    return [(event.step_key or "?", error_text(event.event_specific_data.error))
            for event in context.get_step_failure_events()]


@dg.run_failure_sensor(
    name="run_failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    # every location: a run of `dagster job execute` or `dagster asset materialize` has none, and Dagster matches
    # it to no code location's sensor
    monitor_all_code_locations=True,
    description=f"When a run of this Dagster instance fails (the schedule's, the sensor's, a backfill's, the UI's, "
                f"or one of `dagster job execute`), appends an alert (job, partition, data folder, each failed step "
                f"and its error) to {ALERTS_FILE} in the instance's folder (DAGSTER_HOME), logs it here, and posts "
                f"it to the alert_webhook resource's URL (${ALERT_WEBHOOK_ENV}) where one is set. Runs with the "
                "daemon (`dagster dev` starts one).",
)
def run_failure_alert(context: dg.RunFailureSensorContext, alert_webhook: AlertWebhook) -> None:
    failure = context.failure_event
    run_error = error_text(failure.event_specific_data.error) if failure.event_specific_data else failure.message
    alert = failure_alert(context.dagster_run, _step_errors(context), run_error or "")
    alert["webhook"] = alert_webhook.post(alert["text"])
    with open(Path(context.instance.root_directory) / ALERTS_FILE, "a", encoding="utf-8") as alerts:
        alerts.write(json.dumps(alert) + "\n")
    context.log.error(f"{alert['text']}\n(webhook: {alert['webhook']})")
