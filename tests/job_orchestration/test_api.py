"""`/api/jobs` over the whole app: tenancy, cancel, retry, admin-only stats/reap/diag, SSE replay."""

from __future__ import annotations

import json

from job_orchestration import service


def _sse(response) -> list[dict]:
    events, current = [], {}
    for line in response.iter_lines():
        if not line:
            if current:
                events.append(current)
            current = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            current[key] = value
    return events


def test_owner_lists_gets_and_cancels_own_jobs_others_get_not_found(api, db, env, make_user, auth_headers_for):
    owner, stranger = make_user(), make_user()
    with db.transaction() as session:
        job = service.submit(session, env, owner, kind="diag.sleep", payload={"seconds": 1})
    mine = auth_headers_for(owner)
    listed = api.get("/api/jobs", headers=mine, params={"status": "queued"})
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()["items"]] == [str(job.id)]
    assert listed.json()["total"] == 1
    shown = api.get(f"/api/jobs/{job.id}", headers=mine).json()
    assert (shown["status"], shown["kind"], shown["priority"], shown["attempts"]) == (
        "queued",
        "diag.sleep",
        "default",
        0,
    )
    theirs = api.get(f"/api/jobs/{job.id}", headers=auth_headers_for(stranger))
    assert theirs.status_code == 404
    assert theirs.json() == {
        "error": {"code": "NOT_FOUND", "message": "job not found", "details": {"job_id": str(job.id)}}
    }
    assert api.post(f"/api/jobs/{job.id}/cancel", headers=auth_headers_for(stranger)).status_code == 404
    first = api.post(f"/api/jobs/{job.id}/cancel", headers=mine)
    again = api.post(f"/api/jobs/{job.id}/cancel", headers=mine)
    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == again.json()["status"] == "cancelled"
    retried = api.post(f"/api/jobs/{job.id}/retry", headers=mine)
    assert (retried.status_code, retried.json()["status"]) == (200, "queued")
    conflict = api.post(f"/api/jobs/{job.id}/retry", headers=mine)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "CONFLICT"
    assert api.get("/api/jobs", headers=mine, params={"status": "bogus"}).status_code == 422
    assert api.get("/api/jobs").status_code == 401


def test_stats_reap_and_diag_are_for_admins(api, env, make_user, auth_headers_for):
    user, admin = make_user(), make_user(role="admin")
    for method, path in (("get", "/api/jobs/stats"), ("post", "/api/jobs/reap")):
        denied = getattr(api, method)(path, headers=auth_headers_for(user))
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "FORBIDDEN"
    stats = api.get("/api/jobs/stats", headers=auth_headers_for(admin))
    assert stats.status_code == 200
    assert [q["queue"] for q in stats.json()["queues"]] == ["high", "default", "low"]
    reap = api.post("/api/jobs/reap", headers=auth_headers_for(admin))
    assert reap.status_code == 200 and reap.json()["skipped"] is False
    bad = api.post("/api/jobs/diag", headers=auth_headers_for(admin), json={"kind": "backtest.run"})
    assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "kind"
    made = api.post(
        "/api/jobs/diag",
        headers=auth_headers_for(admin),
        json={"kind": "diag.sleep", "payload": {"seconds": 0.1}, "priority": "low"},
    )
    assert made.status_code == 201
    assert (made.json()["kind"], made.json()["priority"], made.json()["owner_id"]) == (
        "diag.sleep",
        "low",
        str(admin.user_id),
    )


def test_sse_replays_a_finished_job_in_order_and_resumes_after_last_event_id(api, db, env, make_user, auth_headers_for):
    owner = make_user()
    with db.transaction() as session:
        job = service.submit(session, env, owner, kind="diag.sleep", payload={})
    with db.transaction() as session:
        service.cancel(session, env, owner, job.id)
    headers = auth_headers_for(owner)
    with api.stream("GET", f"/api/jobs/{job.id}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _sse(response)
    assert [e["event"] for e in events] == ["submitted", "enqueued", "cancelled"]
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(ids)
    assert [json.loads(e["data"])["status"] for e in events] == ["queued", "queued", "cancelled"]
    with api.stream("GET", f"/api/jobs/{job.id}/events", headers={**headers, "Last-Event-ID": str(ids[0])}) as resumed:
        assert [e["event"] for e in _sse(resumed)] == ["enqueued", "cancelled"]
    stranger = api.get(f"/api/jobs/{job.id}/events", headers=auth_headers_for(make_user()))
    assert stranger.status_code == 404 and stranger.json()["error"]["code"] == "NOT_FOUND"
    log = api.get(f"/api/jobs/{job.id}/events/log", headers=headers, params={"after": ids[1]})
    assert [e["type"] for e in log.json()] == ["cancelled"]
