"""Alerts: the log, the metadata store, and an optional webhook that receives a JSON POST.

:class:`AlertDispatcher` logs every alert as a WARNING on the ``mlpilot.monitoring`` logger and
records it as an :class:`~mlpilot.store.AlertRow` (all alerts of one :meth:`~AlertDispatcher.emit`
in one transaction). When ``[monitor.alerts] webhook`` is set, the rows start as ``pending`` and a
background thread delivers them, one POST per alert, so ``emit`` never waits on the network:

- the webhook URL is checked again before every attempt (:func:`check_webhook_url`, including a
  fresh DNS resolution) and the request goes to an address that check accepted, with the original
  ``Host`` header and TLS server name, so a DNS answer that changes between the check and the
  connection cannot send the request elsewhere; a URL the check refuses marks the row ``failed``
  without a request;
- redirects are not followed, and proxies and ``.netrc`` from the environment are not used;
- connection errors, timeouts, a host that does not resolve, HTTP 429 and 5xx are retried (each
  counts as an attempt), at most ``retries`` times, after exponential backoff with jitter
  (``backoff_seconds``, doubled each time, each delay drawn between half and all of it, capped at
  60 s; a ``Retry-After`` in seconds is honoured up to that cap); any other answer is final;
- every attempt updates the row: ``attempts``, ``delivery`` (``pending`` while retries remain, then
  ``sent`` or ``failed``) and ``last_error`` (cleared once sent).

Delivery is at least once: the row is the source of truth, so a process that stops leaves its
undelivered alerts ``pending``, and :meth:`AlertDispatcher.retry_pending` in the next process sends
them (a crash between the receiver's answer and the row update sends that alert twice; the
payload's ``id`` and the ``X-Mlpilot-Alert-Id`` header let a receiver drop the copy).
"""

from __future__ import annotations

import heapq
import ipaddress
import json
import logging
import math
import random
import re
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeAlias

from sqlalchemy import exc as sa_exc
from sqlalchemy import select, update

from mlpilot.config import AlertSettings
from mlpilot.errors import ConfigError, StoreError
from mlpilot.monitoring._report import Alert
from mlpilot.store import AlertRow, Store

if TYPE_CHECKING:
    import httpx

__all__ = ["AlertDispatcher", "check_webhook_url", "recent_alerts"]

_log = logging.getLogger("mlpilot.monitoring")

_KEY = "monitor.alerts.webhook"
_MAX_BACKOFF_SECONDS = 60.0
_MAX_ERROR_CHARS = 500
_MAX_BODY_SNIPPET = 200
_MAX_TEXT_CHARS = 300

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata services that are not link-local: AWS over IPv6, Alibaba Cloud.
# (169.254.169.254 and every other 169.254.0.0/16 / fe80::/10 address are refused as link-local.)
_METADATA = frozenset(
    {ipaddress.ip_address("fd00:ec2::254"), ipaddress.ip_address("100.100.100.200")}
)
_PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
_SITE_LOCAL = ipaddress.ip_network("fec0::/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_SHORTHAND = re.compile(r"^[0-9a-fx.]+$", re.IGNORECASE)


# --- checking the webhook URL -------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    url: httpx.URL
    shown: str  # scheme://host[:port]/… : no credentials, path or query
    host: str  # ASCII (IDNA) host, as resolved and sent as the TLS server name
    netloc: str  # the Host header
    port: int


def check_webhook_url(url: str, settings: AlertSettings, *, resolve: bool = True) -> None:
    """Raise :class:`~mlpilot.errors.ConfigError` unless ``url`` is a safe alert webhook.

    The scheme must be http or https, with no ``user:password@``; when ``settings.allow_hosts``
    is not empty the host must be one of them (case-insensitive). With ``resolve`` (the default)
    the host is resolved, and the URL is refused if ANY address is link-local (which covers the
    cloud metadata address 169.254.169.254) or another cloud metadata address, unspecified,
    multicast, reserved or otherwise not publicly routable; loopback (and the name
    ``localhost``) unless ``allow_loopback``; private (RFC 1918, fc00::/7, 100.64.0.0/10)
    unless ``allow_private``. An IPv4-mapped IPv6 address is judged as its IPv4 address. Without
    ``resolve``, only an IP-literal host is judged by address. Messages show the URL without
    credentials, path or query, since webhook paths often hold the secret.
    """
    target = _check_name(url, settings)
    if not resolve:
        literal = _literal_ip(target.host)
        if literal is not None:
            _check_addresses(target, [literal], settings)
        return
    try:
        addresses = _resolve(target)
    except OSError as exc:
        raise _unresolvable(target, exc) from exc
    _check_addresses(target, addresses, settings)


def _check_name(url: str, settings: AlertSettings) -> _Target:
    import httpx

    shown = _shown(url)
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise ConfigError(
            f"the alert webhook {shown} is not a valid URL ({exc}); write it as "
            "'https://host/path' in [monitor.alerts] webhook",
            key=_KEY,
        ) from exc
    shown = _shown_parsed(parsed)
    if parsed.scheme not in ("http", "https"):
        raise ConfigError(
            f"the alert webhook {shown} uses the scheme '{parsed.scheme or '(none)'}'; "
            "use an http:// or https:// URL in [monitor.alerts] webhook",
            key=_KEY,
        )
    if parsed.userinfo:
        raise ConfigError(
            f"the alert webhook {shown} has credentials in the URL (user:password@); remove "
            "them from [monitor.alerts] webhook (URLs end up in logs) and use a receiver that "
            "authenticates by a secret path or token",
            key=_KEY,
        )
    try:
        host = parsed.raw_host.decode("ascii")
    except UnicodeDecodeError as exc:  # pragma: no cover - httpx encodes hosts with IDNA
        raise ConfigError(
            f"the alert webhook {shown} has a host that is not a valid name; fix the host in "
            "[monitor.alerts] webhook",
            key=_KEY,
        ) from exc
    if not host:
        raise ConfigError(
            f"the alert webhook {shown} has no host; write it as 'https://host/path' in "
            "[monitor.alerts] webhook",
            key=_KEY,
        )
    port = parsed.port if parsed.port is not None else (443 if parsed.scheme == "https" else 80)
    if not 1 <= port <= 65535:
        raise ConfigError(
            f"the alert webhook {shown} has port {port}, outside 1-65535; fix the port in "
            "[monitor.alerts] webhook",
            key=_KEY,
        )
    name = _normal_host(host)
    if settings.allow_hosts:
        allowed = {_normal_host(h) for h in settings.allow_hosts}
        if name not in allowed and _normal_host(parsed.host) not in allowed:
            raise ConfigError(
                f"the alert webhook {shown} has the host '{parsed.host}', which is not in "
                f"[monitor.alerts] allow_hosts ({', '.join(settings.allow_hosts)}); add it "
                "there or fix the webhook's host",
                key=_KEY,
            )
    if (name == "localhost" or name.endswith(".localhost")) and not settings.allow_loopback:
        raise ConfigError(
            f"the alert webhook {shown} goes to '{parsed.host}', a loopback name; set "
            "allow_loopback = true in [monitor.alerts] if a local relay should receive alerts",
            key=_KEY,
        )
    return _Target(
        url=parsed,
        shown=shown,
        host=host,
        netloc=parsed.netloc.decode("ascii"),
        port=port,
    )


def _resolve(target: _Target) -> list[IPAddress]:
    """Every address the host resolves to, in the resolver's order, without duplicates."""
    infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    out: list[IPAddress] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone ("fe80::1%eth0")
        address = ipaddress.ip_address(text)
        if address not in out:
            out.append(address)
    if not out:
        raise OSError("the resolver returned no address")
    return out


def _unresolvable(target: _Target, exc: OSError) -> ConfigError:
    return ConfigError(
        f"the alert webhook {target.shown} cannot be resolved: the host '{target.host}' has no "
        f"address ({exc}); check the host name in [monitor.alerts] webhook and this machine's DNS",
        key=_KEY,
    )


def _check_addresses(
    target: _Target, addresses: Sequence[IPAddress], settings: AlertSettings
) -> None:
    for address in addresses:
        problem = _address_problem(address, settings)
        if problem is not None:
            where = (
                f"is the address {address}"
                if _literal_ip(target.host) == address
                else f"resolves to {address}"
            )
            raise ConfigError(f"the alert webhook {target.shown} {where}, {problem}", key=_KEY)


def _address_problem(address: IPAddress, settings: AlertSettings) -> str | None:
    """Why a webhook may not go to ``address`` (with the fix), or ``None`` when it may."""
    never = "which is never allowed; point the webhook at the receiver's public address"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return _address_problem(address.ipv4_mapped, settings)
        if address in _NAT64:  # DNS64: an IPv4 host seen from an IPv6-only network
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            return _address_problem(embedded, settings)
        if address.sixtofour is not None:
            problem = _address_problem(address.sixtofour, settings)
            if problem is not None:
                return problem
    if address in _METADATA:
        return f"a cloud metadata service address, {never}"
    if address.is_link_local:
        return f"a link-local address (where cloud metadata services answer), {never}"
    if address.is_unspecified:
        return f"the unspecified address, {never}"
    if address.is_multicast:
        return f"a multicast address, {never}"
    if address.is_loopback:
        if settings.allow_loopback:
            return None
        return (
            "a loopback address; set allow_loopback = true in [monitor.alerts] if a local "
            "relay should receive alerts"
        )
    if any(address in network for network in _PRIVATE):
        if settings.allow_private:
            return None
        return (
            "a private address; set allow_private = true in [monitor.alerts] if the receiver "
            "is on your private network"
        )
    if address in _SITE_LOCAL:
        return f"a (deprecated) site-local address, {never}"
    if address.is_reserved:
        return f"a reserved address, {never}"
    if not address.is_global:
        return f"a special-purpose address that is not publicly routable, {never}"
    return None


def _literal_ip(host: str) -> IPAddress | None:
    """The address ``host`` spells, including the legacy IPv4 forms (``127.1``, ``2130706433``,
    ``0x7f.0.0.1``) that resolvers accept; ``None`` for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if _IPV4_SHORTHAND.match(host) and not host.endswith("."):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _normal_host(host: str) -> str:
    return host.strip().rstrip(".").casefold()


def _shown(url: str) -> str:
    """A best-effort safe form of a URL that may not parse: scheme and host, nothing else."""
    match = re.match(r"^\s*([A-Za-z][A-Za-z0-9+.-]*)://(?:[^/?#]*@)?([^/?#@]*)", url)
    if match is None:
        return "'(not a URL)'"
    return f"{match.group(1)}://{match.group(2)}/…"


def _shown_parsed(url: httpx.URL) -> str:
    try:
        netloc = url.netloc.decode("ascii")
    except UnicodeDecodeError:  # pragma: no cover - httpx encodes hosts with IDNA
        netloc = url.host
    rest = "" if url.raw_path in (b"", b"/") else "…"
    return f"{url.scheme}://{netloc}/{rest}"


# --- the dispatcher -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    sent: bool
    retryable: bool = False
    error: str | None = None
    retry_after: float | None = None


class AlertDispatcher:
    """Logs, records and (with a webhook) delivers the alerts of one deployment.

    ``emit`` logs and records at once and returns; a daemon thread, started on first need, sends
    each alert in its own POST (so a receiver's answer and the row's ``attempts``/``last_error``
    belong to exactly one alert, and Slack-like receivers show one message per alert). Call
    :meth:`retry_pending` once at start-up to resend alerts a stopped process left ``pending``,
    and :meth:`close` (or use the dispatcher as a context manager) to let deliveries finish.
    The webhook URL is not checked here; check it up front with :func:`check_webhook_url` to
    report a bad one as a configuration error (a URL refused at delivery time marks rows failed).
    """

    def __init__(self, store: Store, settings: AlertSettings, deployment: str) -> None:
        self.store = store
        self.settings = settings
        self.deployment = deployment
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, str]] = []  # (due, sequence, alert id)
        self._queued: set[str] = set()  # waiting in the heap or being delivered
        self._seq = 0
        self._thread: threading.Thread | None = None
        self._closed = False  # no more emits; the worker drains and stops
        self._abort = False  # the worker stops before its next attempt

    # -- public ----------------------------------------------------------------------------------

    def emit(self, alerts: Sequence[Alert], evaluation_id: str | None = None) -> None:
        """Log each alert, record them all in one transaction, and queue their delivery.

        Rows start as ``pending`` when a webhook is configured, else ``none``. Returns without
        waiting for any delivery. Raises :class:`~mlpilot.errors.StoreError` (and records none of
        them) when the store refuses the rows, e.g. an alert id recorded before.
        """
        if self._closed:
            raise RuntimeError("this AlertDispatcher is closed; create a new one to emit alerts")
        alerts = list(alerts)
        for alert in alerts:
            if alert.deployment != self.deployment:
                raise ValueError(
                    f"alert {alert.id} is for deployment '{alert.deployment}', but this "
                    f"dispatcher sends alerts of '{self.deployment}'"
                )
        if not alerts:
            return
        for alert in alerts:
            _log.warning(
                "alert on %s (%s): %s [%s, value %s, threshold %s, id %s]",
                alert.deployment,
                _where(alert.scope, alert.variant, alert.model_version),
                alert.message,
                alert.monitor,
                alert.value,
                alert.threshold,
                alert.id,
            )
        delivery = "pending" if self.settings.webhook else "none"
        rows = [_row(alert, evaluation_id, delivery) for alert in alerts]
        try:
            with self.store.session() as s:
                s.add_all(rows)
        except sa_exc.SQLAlchemyError as exc:
            raise StoreError(
                f"cannot record {len(rows)} alert(s) of deployment '{self.deployment}' in the "
                f"metadata store at {self.store.url}: {getattr(exc, 'orig', None) or exc}; each "
                "alert needs a new id, and the store must be reachable (none was recorded; they "
                "are in the log)"
            ) from exc
        if self.settings.webhook:
            self._enqueue([alert.id for alert in alerts])

    def pending_alerts(self) -> list[dict[str, Any]]:
        """This deployment's alerts whose webhook delivery has not finished, oldest first."""
        with self.store.session() as s:
            rows = s.execute(
                select(AlertRow)
                .where(AlertRow.deployment == self.deployment, AlertRow.delivery == "pending")
                .order_by(AlertRow.ts, AlertRow.id)
            ).scalars()
            return [_row_dict(r) for r in rows]

    def retry_pending(self) -> int:
        """Queue every ``pending`` alert of this deployment that this dispatcher is not already
        delivering (those a stopped process left behind); returns how many were queued.

        Each gets the attempts it has left under ``retries``, and at least one. Without a
        webhook configured they cannot be sent and are marked ``failed``. Run it in one process
        per deployment at a time, or an alert may be sent twice.
        """
        if self._closed:
            raise RuntimeError("this AlertDispatcher is closed; create a new one to retry alerts")
        ids = [str(r["id"]) for r in self.pending_alerts()]
        if not ids:
            return 0
        if not self.settings.webhook:
            for alert_id in ids:
                self._record(
                    alert_id,
                    delivery="failed",
                    error="no webhook is configured any more ([monitor.alerts] webhook)",
                )
            return 0
        return self._enqueue(ids)

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting alerts and wait up to ``timeout`` seconds for queued deliveries
        (retries included) to finish; past that, stop before the next attempt and leave the
        rest ``pending`` for :meth:`retry_pending`. An attempt already under way may still
        finish, within the webhook timeout, and record its result."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is None:
            return
        thread.join(timeout)
        if thread.is_alive():
            with self._cond:
                self._abort = True
                left = len(self._queued)
                self._cond.notify_all()
            _log.warning(
                "stopped delivering alerts of %s after %.1f s with %d still pending; "
                "AlertDispatcher.retry_pending() in the next process sends them",
                self.deployment,
                timeout,
                left,
            )

    def __enter__(self) -> AlertDispatcher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the worker ------------------------------------------------------------------------------

    def _enqueue(self, ids: Sequence[str]) -> int:
        due = time.monotonic()
        added = 0
        with self._cond:
            for alert_id in ids:
                if alert_id in self._queued:
                    continue
                self._push(due, alert_id)
                added += 1
            if self._thread is None and added:
                self._thread = threading.Thread(
                    target=self._run, name=f"mlpilot-alerts-{self.deployment}", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()
        return added

    def _push(self, due: float, alert_id: str) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, alert_id))
        self._queued.add(alert_id)

    def _next(self) -> str | None:
        with self._cond:
            while True:
                if self._abort:
                    return None
                if not self._heap:
                    if self._closed:
                        return None
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait <= 0:
                    return heapq.heappop(self._heap)[2]
                self._cond.wait(wait)

    def _run(self) -> None:
        import httpx

        client = httpx.Client(
            follow_redirects=False,
            timeout=self.settings.timeout_seconds,
            trust_env=False,  # no proxy or .netrc from the environment: the checked address
        )
        try:
            while (alert_id := self._next()) is not None:
                try:
                    again = self._attempt(client, alert_id)
                except Exception:
                    _log.exception(
                        "delivering alert %s of %s failed; it stays pending",
                        alert_id,
                        self.deployment,
                    )
                    again = None
                with self._cond:
                    if again is None or self._abort:
                        self._queued.discard(alert_id)
                    else:
                        self._seq += 1
                        heapq.heappush(self._heap, (time.monotonic() + again, self._seq, alert_id))
                    self._cond.notify_all()
        finally:
            client.close()

    def _attempt(self, client: httpx.Client, alert_id: str) -> float | None:
        """One delivery attempt; the delay before the next one, or ``None`` when done."""
        with self.store.session() as s:
            row = s.get(AlertRow, alert_id)
            if row is None or row.delivery != "pending":
                return None
            payload = _payload(row)
            attempts = row.attempts + 1
        webhook = self.settings.webhook
        if not webhook:
            self._record(alert_id, delivery="failed", error="no webhook is configured")
            return None
        try:
            target = _check_name(webhook, self.settings)
            try:
                addresses = _resolve(target)
            except OSError as exc:
                outcome = _Outcome(
                    sent=False, retryable=True, error=_unresolvable(target, exc).message
                )
            else:
                _check_addresses(target, addresses, self.settings)
                outcome = _post(client, target, addresses, payload, self.settings)
        except ConfigError as exc:
            self._record(alert_id, delivery="failed", error=exc.message)
            _log.warning("alert %s of %s not sent: %s", alert_id, self.deployment, exc.message)
            return None
        if outcome.sent:
            self._record(alert_id, delivery="sent", error=None, attempts=attempts)
            _log.info("alert %s of %s sent (attempt %d)", alert_id, self.deployment, attempts)
            return None
        if outcome.retryable and attempts <= self.settings.retries:
            self._record(alert_id, delivery="pending", error=outcome.error, attempts=attempts)
            delay = _backoff(attempts, self.settings.backoff_seconds, outcome.retry_after)
            _log.info(
                "alert %s of %s: attempt %d failed (%s); next in %.1f s",
                alert_id,
                self.deployment,
                attempts,
                outcome.error,
                delay,
            )
            return delay
        self._record(alert_id, delivery="failed", error=outcome.error, attempts=attempts)
        _log.warning(
            "alert %s of %s not sent after %d attempt(s): %s",
            alert_id,
            self.deployment,
            attempts,
            outcome.error,
        )
        return None

    def _record(
        self, alert_id: str, *, delivery: str, error: str | None, attempts: int | None = None
    ) -> None:
        values: dict[str, Any] = {
            "delivery": delivery,
            "last_error": None if error is None else error[:_MAX_ERROR_CHARS],
        }
        if attempts is not None:
            values["attempts"] = attempts
        with self.store.session() as s:
            s.execute(update(AlertRow).where(AlertRow.id == alert_id).values(**values))


def _post(
    client: httpx.Client,
    target: _Target,
    addresses: Sequence[IPAddress],
    payload: dict[str, Any],
    settings: AlertSettings,
) -> _Outcome:
    """POST ``payload`` to the first of the checked ``addresses`` that accepts a connection."""
    import httpx

    body = json.dumps(payload, allow_nan=False, separators=(",", ":")).encode()
    headers = {
        "Host": target.netloc,
        "Content-Type": "application/json",
        "User-Agent": "mlpilot",
        "X-Mlpilot-Alert-Id": str(payload["id"]),
    }
    extensions: dict[str, Any] = {}
    if target.url.scheme == "https":
        extensions["sni_hostname"] = target.host  # certificate checked against the name
    refused: list[str] = []
    for address in addresses:
        url = target.url.copy_with(host=str(address))
        try:
            with client.stream(
                "POST", url, content=body, headers=headers, extensions=extensions
            ) as response:
                if 200 <= response.status_code < 300:
                    return _Outcome(sent=True)
                snippet = _read_snippet(response)
        except httpx.ConnectError as exc:
            refused.append(f"{address}: {exc}")
            continue
        except httpx.TimeoutException:
            return _Outcome(
                sent=False,
                retryable=True,
                error=f"{target.shown} did not answer within {settings.timeout_seconds:g} s "
                "(timed out; [monitor.alerts] timeout_seconds)",
            )
        except httpx.TransportError as exc:
            return _Outcome(
                sent=False,
                retryable=True,
                error=f"{target.shown} broke the connection: {type(exc).__name__}: {exc}",
            )
        except httpx.HTTPError as exc:
            return _Outcome(sent=False, error=f"cannot POST to {target.shown}: {exc}")
        return _judge(response, snippet, target)
    return _Outcome(
        sent=False,
        retryable=True,
        error=f"cannot connect to {target.shown} ({'; '.join(refused)})",
    )


def _read_snippet(response: httpx.Response) -> str:
    """At most a few hundred bytes of the answer: enough to explain a refusal."""
    import httpx

    data = b""
    try:
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= _MAX_BODY_SNIPPET:
                break
    except httpx.HTTPError:
        pass  # the status is what counts; the body only explains it
    text = data[:_MAX_BODY_SNIPPET].decode("utf-8", "replace")
    return " ".join(text.split())


def _judge(response: httpx.Response, snippet: str, target: _Target) -> _Outcome:
    status = response.status_code
    said = f": {snippet}" if snippet else ""
    error = f"{target.shown} answered HTTP {status}{said}"
    if status == 429 or status >= 500:
        return _Outcome(
            sent=False,
            retryable=True,
            error=error,
            retry_after=_retry_after(response.headers.get("Retry-After")),
        )
    if 300 <= status < 400:
        error += (
            " (a redirect, which is not followed; set [monitor.alerts] webhook to the URL it "
            "points to)"
        )
    return _Outcome(sent=False, error=error)


def _retry_after(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())


def _backoff(attempt: int, base: float, retry_after: float | None) -> float:
    """``base`` doubled after each attempt, capped, and drawn between half and all of it."""
    full = min(_MAX_BACKOFF_SECONDS, base * 2.0 ** min(attempt - 1, 32))
    delay = full * random.uniform(0.5, 1.0)
    if retry_after is not None:
        delay = max(delay, min(retry_after, _MAX_BACKOFF_SECONDS))
    return delay


# --- rows and payloads --------------------------------------------------------------------------


def _row(alert: Alert, evaluation_id: str | None, delivery: str) -> AlertRow:
    return AlertRow(
        id=alert.id,
        evaluation_id=evaluation_id,
        deployment=alert.deployment,
        ts=datetime.fromtimestamp(alert.ts, UTC),
        monitor=alert.monitor,
        scope=alert.scope,
        variant=alert.variant,
        model_version=alert.model_version,
        value=alert.value,
        threshold=alert.threshold,
        message=alert.message,
        delivery=delivery,
        attempts=0,
        last_error=None,
    )


def _where(scope: str, variant: str | None, model_version: int | None) -> str:
    if scope == "deployment" or model_version is None:
        return "deployment"
    return f"v{model_version} {variant}" if variant else f"v{model_version}"


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def _payload(row: AlertRow) -> dict[str, Any]:
    """The JSON body: the alert's fields, its evaluation, and a one-line ``text``."""
    where = _where(row.scope, row.variant, row.model_version)
    text = f"[mlpilot] {row.deployment} ({where}): {row.message}"
    if len(text) > _MAX_TEXT_CHARS:
        text = text[: _MAX_TEXT_CHARS - 1] + "…"
    return {
        "id": row.id,
        "ts": row.ts.timestamp(),
        "deployment": row.deployment,
        "monitor": row.monitor,
        "scope": row.scope,
        "variant": row.variant,
        "model_version": row.model_version,
        "value": _finite(row.value),
        "threshold": _finite(row.threshold),
        "message": row.message,
        "evaluation_id": row.evaluation_id,
        "text": text,
    }


def _row_dict(row: AlertRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "evaluation_id": row.evaluation_id,
        "deployment": row.deployment,
        "ts": row.ts.timestamp(),
        "monitor": row.monitor,
        "scope": row.scope,
        "variant": row.variant,
        "model_version": row.model_version,
        "value": row.value,
        "threshold": row.threshold,
        "message": row.message,
        "delivery": row.delivery,
        "attempts": row.attempts,
        "last_error": row.last_error,
    }


def recent_alerts(store: Store, deployment: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """The last ``limit`` alerts of ``deployment``, newest first, with their delivery state
    (``ts`` in unix seconds)."""
    if limit < 1:
        raise ConfigError(f"limit is {limit}; ask for at least 1 alert", key="limit")
    with store.session() as s:
        rows = s.execute(
            select(AlertRow)
            .where(AlertRow.deployment == deployment)
            .order_by(AlertRow.ts.desc(), AlertRow.id.desc())
            .limit(limit)
        ).scalars()
        return [_row_dict(r) for r in rows]
