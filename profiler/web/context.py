"""What a request handler knows beyond its arguments: the server's config and
store, and the tenant the request acts for.

`server.create_app` puts one `State` per app under `EXT`; the ingest and query
blueprints read it here, so neither imports the server that assembles them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app, g

from profiler.store import MaintainedStore, TraceStore
from profiler.web.limits import Limits

EXT = "flamecam"


@dataclass
class ServerConfig:
    db_url: str | None = None           # None: SQLite under ./data
    limits: Limits = field(default_factory=Limits)
    multitenancy: bool = False          # require X-Scope-OrgID and isolate tenants
    auth_token: str | None = None       # "TOKEN" for Bearer, or "user:password" for Basic
    maintenance: bool = True            # background compaction, downsampling, retention
    retention_s: int = 7 * 86400
    downsample_after_s: int = 86400
    maintenance_interval_s: float = 30.0


@dataclass
class State:
    """The app's parts a handler reaches; read per request (tests change `config`)."""

    config: ServerConfig
    store: MaintainedStore
    traces: TraceStore  # spans, thread spans, linked samples (same database)
    # Tenants seen with stored profiles: spans are accepted for them (multitenancy).
    tenants_with_profiles: set[str] = field(default_factory=set)


def state() -> State:
    return current_app.extensions[EXT]


def tenant() -> str:
    """The tenant the request acts for (set by the server's authentication hook)."""
    return g.get("tenant", "")
