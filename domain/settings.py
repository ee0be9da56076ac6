"""Configuration, read once from ``INCIDENTDESK_*`` environment variables.

The CLI and the server read the same settings, so a token minted by one is accepted by the other.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ExternalIssuer(BaseModel):
    """An external OIDC provider whose tokens the service accepts."""

    issuer: str
    audience: str
    # When absent, discovered from ``{issuer}/.well-known/openid-configuration``.
    jwks_uri: str | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INCIDENTDESK_", extra="ignore")

    # "production" turns off what helps a developer and helps an attacker as much (GraphiQL, anonymous
    # introspection, field suggestions) and refuses to start on an insecure setting.
    env: Literal["development", "production"] = "development"
    # Each defaults to on in development and off in production.
    graphiql: bool | None = None
    anonymous_introspection: bool | None = None
    field_suggestions: bool | None = None
    # Origins allowed to call the API from a browser, comma-separated (https://portal.example.com,...).
    # Empty: no cross-origin access. "*" is refused in production.
    cors_origins: str = ""

    # Owner connection: migrations and administrative commands. Unset means the embedded PostgreSQL.
    database_url: str | None = None
    # Application-role connection used at runtime; derived from database_url when unset.
    app_database_url: str | None = None
    data_dir: Path = Path(".incidentdesk")
    public_url: str = "http://127.0.0.1:8000"
    audience: str = "incidentdesk"
    host: str = "127.0.0.1"
    port: int = 8000
    # On SIGTERM `incidentdesk serve` stops accepting and lets requests in flight finish this long.
    shutdown_grace_seconds: float = Field(default=30.0, gt=0)
    # Worker processes of `incidentdesk serve`; each holds its own pool of db_pool_size connections.
    workers: int = Field(default=1, ge=1)
    token_ttl_seconds: int = Field(default=3600, ge=60, le=86400)
    # Seals the built-in issuer's private keys and webhook secrets at rest. Unset outside production: a
    # key generated once into data_dir (owner-only) seals them instead.
    key_encryption_key: str | None = None
    # How often each process re-reads the signing keys (to sign with a rotated one, retire old ones).
    signing_keys_refresh_seconds: float = Field(default=60.0, gt=0)
    oidc_issuers: str = "[]"
    jwks_cache_seconds: int = 300
    max_body_bytes: int = 1_000_000
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 5000
    rate_limit_per_minute: int = 600
    # Where rate-limit counters live: per process by default; e.g. async+redis://host:6379 to share them.
    rate_limit_storage: str = "async+memory://"
    max_query_cost: int = 20_000
    # Answer the queries the read model covers with one compiled SQL statement (off: the executor answers
    # every query; the differential test runs both side by side).
    compiled_reads: bool = True
    # POST /oauth/token: tries per minute per client id, and per client address (each try costs a scrypt).
    token_rate_limit_per_minute: int = Field(default=20, ge=1)
    token_address_rate_limit_per_minute: int = Field(default=60, ge=1)
    # Subscribing to a public status page by mail (its form, and subscribeToStatusPage): requests per hour
    # per client address, and per mail address asked for, whichever page it was asked on.
    subscribe_client_rate_limit_per_hour: int = Field(default=30, ge=1)
    subscribe_email_rate_limit_per_hour: int = Field(default=5, ge=1)
    max_subscriptions_per_connection: int = 50
    # Open subscriptions of one caller in one process, over all its connections.
    max_subscriptions_per_principal: int = Field(default=200, ge=1)
    # permessage-deflate on WebSockets (off: live messages are small and compressed per socket).
    ws_compression: bool = False
    db_pool_size: int = 10
    # Connections opened beyond the pool when it is exhausted, closed again as soon as they are returned.
    # None by default: under sustained load each request would open and close one (a PostgreSQL backend
    # started per request); a request waits for a pooled connection instead.
    db_pool_overflow: int = Field(default=0, ge=0)
    log_level: str = "info"
    # One line per record: "json" for a log collector, "console" for a person; "auto" picks console when
    # stderr is a terminal (``make run``) and JSON otherwise.
    log_format: Literal["auto", "json", "console"] = "auto"
    # Prometheus metrics at GET /metrics (route templates and counts only; no tenant data).
    metrics_enabled: bool = True
    # When set, a scrape must carry ``Authorization: Bearer <token>`` (compared in constant time).
    metrics_token: SecretStr | None = None
    # When set, /metrics is served on this port (same host) by a small server of its own, and no longer
    # by the app's port: it can then stay inside the cluster while the API is public.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # Alert intake (POST /v2/enqueue): events per minute per routing key, like PagerDuty's own limit.
    intake_rate_limit_per_minute: int = Field(default=120, ge=1)
    # Applying accepted alerts: at most this many of a tenant's in one transaction; applied alerts stay in
    # the integration key's alert log this many days.
    alert_batch_size: int = Field(default=200, ge=1, le=1000)
    alert_log_retention_days: int = Field(default=7, ge=1)
    # Outbound webhooks. Targets on private, loopback or link-local addresses are refused (SSRF) unless set.
    webhook_allow_private_targets: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # Exponential backoff with jitter between attempts: base * 2^(n-1), capped, times a random factor.
    webhook_retry_base_seconds: float = Field(default=5.0, gt=0)
    webhook_retry_max_seconds: float = Field(default=3600.0, gt=0)
    # An endpoint failing this long is disabled; a delivery failing this long is given up.
    webhook_disable_after_seconds: float = Field(default=86400.0, gt=0)
    # The worker wakes on NOTIFY; this bounds its sleep when notifications are missed.
    webhook_poll_seconds: float = Field(default=5.0, gt=0)
    webhook_concurrency: int = Field(default=8, ge=1)
    # Outgoing mail. With an SMTP URL (smtp://user:password@host:587 for STARTTLS, smtps://...:465 for TLS
    # from the first byte, smtp://host:25?starttls=false for neither) mails go there; without one they
    # are written to the Maildir <data_dir>/mail, which `incidentdesk mail list` reads.
    smtp_url: str | None = None
    mail_from: str = "incidentdesk <noreply@incidentdesk.invalid>"
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    # A mail that cannot be sent is tried again after base * 2^(n-1) seconds (capped), at most n times.
    mail_retry_base_seconds: float = Field(default=30.0, gt=0)
    mail_retry_max_seconds: float = Field(default=3600.0, gt=0)
    mail_max_attempts: int = Field(default=12, ge=1)
    mail_poll_seconds: float = Field(default=30.0, gt=0)
    # How long the links of an incident mail (confirm or reopen a resolution, rate the handling) work
    # after the mail was sent. Unsubscribe links never expire.
    mail_link_days: int = Field(default=7, ge=1, le=90)
    # Idempotency-Key on GraphQL mutations: how long a first answer is kept for replay.
    idempotency_ttl_seconds: int = Field(default=86400, ge=60)
    # Live events (or, in a live group, messages waiting for a slow socket) buffered per subscriber before
    # it catches up from the database instead.
    live_feed_capacity: int = Field(default=1000, ge=1)
    # Python's cycle collector (api/cycle_collector.py): how often what has lived that long is frozen out
    # of collections (0: CPython's own schedule), and the longest between two full collections.
    gc_freeze_interval_seconds: float = Field(default=10.0, ge=0)
    gc_reclaim_interval_seconds: float = Field(default=3600.0, gt=0)
    # Waits between reconnection attempts of the LISTEN connection: doubling from min up to max.
    live_reconnect_min_seconds: float = Field(default=0.1, gt=0)
    live_reconnect_max_seconds: float = Field(default=5.0, gt=0)
    # The longest the maintenance-window mover sleeps when no window is due sooner.
    bulletin_phase_tick_seconds: float = Field(default=5.0, gt=0)
    # Auto-close of RESOLVED incidents past their tenant's delay: seconds between scans; 0 turns it off.
    auto_close_interval_seconds: float = Field(default=300.0, ge=0)
    # SLA scanner (one replica at a time): the longest it sleeps when nothing falls due sooner (a NOTIFY
    # on the events channel wakes it earlier); 0 turns it off.
    sla_scanner_max_sleep_seconds: float = Field(default=60.0, ge=0)
    # How often a replica that is not the scanner's leader checks whether the leader went away.
    sla_scanner_lock_retry_seconds: float = Field(default=30.0, gt=0)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def _development_default(self, value: bool | None) -> bool:
        return (not self.is_production) if value is None else value

    @property
    def graphiql_enabled(self) -> bool:
        return self._development_default(self.graphiql)

    @property
    def anonymous_introspection_enabled(self) -> bool:
        return self._development_default(self.anonymous_introspection)

    @property
    def field_suggestions_enabled(self) -> bool:
        return self._development_default(self.field_suggestions)

    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    def production_problems(self) -> list[str]:
        """Why this configuration must not serve production: one line each, empty when it may."""
        if not self.is_production:
            return []
        problems = []
        if not self.key_encryption_key:
            problems.append(
                "INCIDENTDESK_KEY_ENCRYPTION_KEY is not set: signing keys and webhook secrets need a"
                " configured key in production (the same on every replica)"
            )
        if self.webhook_allow_private_targets:
            problems.append(
                "INCIDENTDESK_WEBHOOK_ALLOW_PRIVATE_TARGETS=true lets partners' webhooks reach the private"
                " network: unset it in production"
            )
        if "*" in self.cors_origin_list():
            problems.append(
                "INCIDENTDESK_CORS_ORIGINS allows every origin ('*'): list the origins of your portals"
            )
        return problems

    def external_issuers(self) -> list[ExternalIssuer]:
        return [ExternalIssuer.model_validate(item) for item in json.loads(self.oidc_issuers)]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
