"""Per-app and per-request state shared by the blueprints."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app, g

from profiler.ingest.limits import Limits
from profiler.query.engine import QueryEngine
from profiler.store import Store

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
    config: ServerConfig
    store: Store
    engine: QueryEngine


def state() -> State:
    return current_app.extensions[EXT]


def tenant() -> str:
    return g.get("tenant", "")
