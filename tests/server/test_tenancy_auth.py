"""Multi-tenancy by X-Scope-OrgID and optional bearer/basic tokens."""

from __future__ import annotations

import base64

import pytest

from profiler.server.app import ServerConfig, create_app, shutdown
from tests.server.helpers import gz, push_request

PROTO = {"Content-Type": "application/proto", "Content-Encoding": "gzip"}


@pytest.fixture
def make_app(tmp_path):
    apps = []

    def make(**kw):
        app = create_app(ServerConfig(db_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                                      maintenance=False, **kw))
        apps.append(app)
        return app.test_client()

    yield make
    for a in apps:
        shutdown(a)


def test_tenants_never_see_each_other(make_app):
    c = make_app(multitenancy=True)
    body = gz(push_request({"service_name": "secret"}))
    r = c.post("/push.v1.PusherService/Push", data=body, headers=PROTO)
    assert r.status_code == 401
    r = c.post("/push.v1.PusherService/Push", data=body, headers={**PROTO, "X-Scope-OrgID": "a"})
    assert r.status_code == 200
    assert c.get("/api/v1/labels").status_code == 401
    b = c.get("/api/v1/labels/service_name/values", headers={"X-Scope-OrgID": "b"}).get_json()
    assert b["values"] == []
    fb = c.get("/api/v1/render?query={}", headers={"X-Scope-OrgID": "b"}).get_json()
    assert fb["flamebearer"]["numTicks"] == 0
    a = c.get("/api/v1/labels/service_name/values", headers={"X-Scope-OrgID": "a"}).get_json()
    assert a["values"] == ["secret"]
    assert c.get("/healthz").status_code == 200


def test_token_auth_bearer_and_basic(make_app):
    c = make_app(auth_token="s3cret")
    body = gz(push_request({"service_name": "x"}))
    assert c.post("/push.v1.PusherService/Push", data=body, headers=PROTO).status_code == 401
    bad = {**PROTO, "Authorization": "Bearer nope"}
    assert c.post("/push.v1.PusherService/Push", data=body, headers=bad).status_code == 401
    ok = {**PROTO, "Authorization": "Bearer s3cret"}
    assert c.post("/push.v1.PusherService/Push", data=body, headers=ok).status_code == 200
    basic = "Basic " + base64.b64encode(b"user:s3cret").decode()
    r = c.get("/api/v1/labels", headers={"Authorization": basic})
    assert r.status_code == 200 and "service_name" in r.get_json()["names"]
    assert c.get("/api/v1/labels").status_code == 401
    assert c.post("/ingest?name=a", data=b"a;b 1").status_code == 401
    assert c.get("/healthz").status_code == 200
