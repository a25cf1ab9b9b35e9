"""The sandbox's user writes as the official file has them: POST /users, PUT /users/{id}, DELETE /users/{id}."""

from __future__ import annotations

from typing import Any

import httpx
import pytest


@pytest.fixture
def api(sandbox: Any) -> httpx.Client:
    with httpx.Client(base_url=sandbox.portal_url, headers={"Authorization": sandbox.token}, timeout=10) as c:
        yield c


def test_post_answers_user_show_and_refuses_a_taken_email(api):
    r = api.post("/users", json={"Email": "Dev.New@Example.test", "First": "Dev", "Last": "New", "Active": True})
    assert r.status_code == 200
    body = r.json()
    assert body["Email"] == "Dev.New@Example.test" and body["Active"] is True and isinstance(body["ID"], int)
    assert {"CreatedAt", "UpdatedAt"} <= set(body)
    again = api.post("/users", json={"Email": "dev.new@example.test"})
    assert again.status_code == 422 and again.json()["errors"]


def test_put_activates_and_keeps_what_it_does_not_name(api, sandbox):
    made = api.post("/users", json={"Email": "sleepy@example.test", "First": "Sleepy", "Active": False}).json()
    r = api.put(f"/users/{made['ID']}", json={"Active": True})
    assert r.status_code == 200
    body = r.json()
    assert body["Active"] is True and body["First"] == "Sleepy" and body["Email"] == "sleepy@example.test"
    assert api.get(f"/users/{made['ID']}").json()["Active"] is True
    assert sandbox.state.users[made["ID"]]["Active"] is True


def test_put_refusals_are_422_as_the_file_documents(api):
    made = api.post("/users", json={"Email": "a@example.test"}).json()
    other = api.post("/users", json={"Email": "b@example.test"}).json()
    assert api.put("/users/999999", json={"Active": True}).status_code == 422  # not found: 422 per the file
    assert api.put("/users/x", json={"Active": True}).status_code == 422
    assert api.put(f"/users/{made['ID']}", json={"Active": "yes"}).status_code == 422
    assert api.put(f"/users/{made['ID']}", json={"Email": "B@example.test"}).status_code == 422
    assert api.put(f"/users/{other['ID']}", json={"Teams": [1]}).status_code == 422
    ok = api.put(f"/users/{made['ID']}", json={"Email": "c@example.test", "Teams": ["team-1"]})
    assert ok.status_code == 200 and ok.json()["Email"] == "c@example.test"
    # the e-mail index follows: the old address is free, the new one taken
    assert api.post("/users", json={"Email": "a@example.test"}).status_code == 200
    assert api.post("/users", json={"Email": "c@example.test"}).status_code == 422


def test_put_needs_the_admin_token(sandbox):
    r = httpx.put(sandbox.portal_url + "/users/2", json={"Active": True})
    assert r.status_code == 401


def test_delete_removes_the_user_and_their_apps(api, sandbox):
    made = api.post("/users", json={"Email": "gone@example.test"}).json()
    app = api.post("/apps", json={"Name": "Theirs", "UserID": made["ID"]}).json()
    assert api.delete(f"/users/{made['ID']}").status_code == 200
    assert api.get(f"/users/{made['ID']}").status_code == 404
    assert api.get(f"/apps/{app['ID']}").status_code == 404
    assert api.delete(f"/users/{made['ID']}").status_code == 404
