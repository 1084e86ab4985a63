"""The emulator's SendGrid Mail Send API, driven by the real ``sendgrid`` client."""

from __future__ import annotations

import httpx
import pytest
from python_http_client.exceptions import HTTPError
from sendgrid.helpers.mail import CustomArg, Mail, Personalization, To

from ._helpers import mail_body, sg_client


def _send_error(emu, body: dict, api_key: str = "test-key") -> HTTPError:
    with pytest.raises(HTTPError) as info:
        sg_client(emu, api_key).client.mail.send.post(request_body=body)
    return info.value


def test_valid_send_is_accepted_and_recorded(emulator_factory) -> None:
    """A valid send gets 202, an empty body and a 22-char X-Message-Id, and every recipient is
    recorded with its send_id, request categories and merged request+personalization custom_args."""
    emu = emulator_factory(seed=1)
    body = mail_body(3, categories=["points_expiry"], custom_args={"workflow": "wf1", "send_id": "x"})
    r = sg_client(emu).client.mail.send.post(request_body=body)
    assert r.status_code == 202
    assert r.body in (b"", "")
    x_id = r.headers["X-Message-Id"]
    assert len(x_id) == 22

    msgs = httpx.get(f"{emu.url}/_emulator/messages", params={"send_id": "user-1"}).json()
    assert len(msgs) == 1
    m = msgs[0]
    assert m["x_message_id"] == x_id
    assert m["sg_message_id"].startswith(x_id + ".")
    assert m["to"] == "user1@example.com"
    assert m["subject"] == "Your points are waiting"
    assert m["categories"] == ["points_expiry"]
    assert m["custom_args"] == {
        "workflow": "wf1",
        "send_id": "user-1",
    }  # personalization wins
    assert m["fate"] in ("delivered", "bounced")
    all_msgs = httpx.get(f"{emu.url}/_emulator/messages", params={"channel": "email"}).json()
    assert len({x["sg_message_id"] for x in all_msgs}) == 3
    stats = httpx.get(f"{emu.url}/_emulator/stats").json()
    assert stats["requests"] == 1 and stats["messages"] == 3 and stats["request_bytes"] > 0


def test_mail_helper_object_is_accepted(emulator_factory) -> None:
    """The client's own Mail helper (what most code uses) produces a body the emulator accepts,
    including personalization-level custom_args."""
    emu = emulator_factory()
    mail = Mail(from_email="loyalty@shop.example.com", subject="Hi", plain_text_content="Hello")
    p = Personalization()
    p.add_to(To("ada@example.com"))
    p.add_custom_arg(CustomArg("send_id", "s-ada"))
    mail.add_personalization(p)
    assert sg_client(emu).send(mail).status_code == 202
    [m] = httpx.get(f"{emu.url}/_emulator/messages", params={"send_id": "s-ada"}).json()
    assert m["to"] == "ada@example.com"


def test_1000_personalizations_ok_1001_rejected(emulator_factory) -> None:
    """The batch limit is SendGrid's: 1000 personalizations pass, 1001 get 400 in the errors
    shape, and a rejected request records no message."""
    emu = emulator_factory()
    assert sg_client(emu).client.mail.send.post(request_body=mail_body(1000)).status_code == 202
    err = _send_error(emu, mail_body(1001, prefix="more"))
    assert err.status_code == 400
    payload = err.to_dict
    assert set(payload) == {"errors"}
    assert payload["errors"][0]["field"] == "personalizations"
    assert set(payload["errors"][0]) == {"message", "field", "help"}
    assert httpx.get(f"{emu.url}/_emulator/stats").json()["messages"] == 1000


def test_duplicate_address_rejected(emulator_factory) -> None:
    """The same address twice in one request (any case, any personalization) is a 400 and
    nothing is recorded."""
    emu = emulator_factory()
    body = mail_body(2)
    body["personalizations"][1]["to"][0]["email"] = "USER0@example.com"
    err = _send_error(emu, body)
    assert err.status_code == 400
    assert "duplicate" in err.to_dict["errors"][0]["message"]
    assert httpx.get(f"{emu.url}/_emulator/stats").json()["messages"] == 0


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("from"), "from.email"),
        (lambda b: b.pop("subject"), "subject"),
        (lambda b: b.pop("content"), "content"),
        (lambda b: b["personalizations"][0].update(to=[]), "personalizations.0.to"),
        (lambda b: b.update(personalizations=[]), "personalizations"),
        (
            lambda b: b["personalizations"][0]["to"][0].update(email="not-an-email"),
            "personalizations.0.to.0.email",
        ),
    ],
)
def test_invalid_bodies_rejected_with_field(emulator_factory, mutate, field) -> None:
    """Each missing/invalid required part gets 400 naming the offending field."""
    emu = emulator_factory()
    body = mail_body(1)
    mutate(body)
    err = _send_error(emu, body)
    assert err.status_code == 400
    assert field in [e["field"] for e in err.to_dict["errors"]]


def test_subject_optional_when_every_personalization_has_one_or_template(
    emulator_factory,
) -> None:
    """subject may live in every personalization, and content may be replaced by template_id."""
    emu = emulator_factory()
    body = mail_body(2)
    del body["subject"]
    for p in body["personalizations"]:
        p["subject"] = "Per-person subject"
    assert sg_client(emu).client.mail.send.post(request_body=body).status_code == 202
    body = mail_body(1, prefix="t")
    del body["subject"], body["content"]
    body["template_id"] = "d-123"
    assert sg_client(emu).client.mail.send.post(request_body=body).status_code == 202


def test_auth_required_when_api_key_set(emulator_factory) -> None:
    """With api_key configured, a missing or wrong bearer token is 401 in SendGrid's error
    shape; the right one is accepted; the signed-webhook settings endpoint is guarded too."""
    emu = emulator_factory(api_key="secret")
    r = httpx.post(f"{emu.url}/v3/mail/send", json=mail_body(1))
    assert r.status_code == 401
    assert set(r.json()["errors"][0]) == {"message", "field", "help"}
    assert _send_error(emu, mail_body(1), api_key="wrong").status_code == 401
    assert sg_client(emu, "secret").client.mail.send.post(request_body=mail_body(1)).status_code == 202
    settings_url = f"{emu.url}/v3/user/webhooks/event/settings/signed"
    assert httpx.get(settings_url).status_code == 401
    ok = httpx.get(settings_url, headers={"Authorization": "Bearer secret"})
    assert ok.status_code == 200 and ok.json()["enabled"] is True
    assert httpx.get(f"{emu.url}/_emulator/stats").json()["messages"] == 1


def test_scopes_prove_the_key_and_send_nothing(emulator_factory) -> None:
    """GET /v3/scopes (what `loyalty doctor` calls) lists the key's scopes, Mail Send among them, for the
    configured key, and is 401 in SendGrid's shape for a wrong or missing one; it records no message."""
    emu = emulator_factory(api_key="secret")
    response = sg_client(emu, "secret").client.scopes.get()
    assert response.status_code == 200
    assert "mail.send" in response.to_dict["scopes"]
    with pytest.raises(HTTPError) as info:
        sg_client(emu, "wrong").client.scopes.get()
    assert info.value.status_code == 401
    assert httpx.get(f"{emu.url}/v3/scopes").status_code == 401
    assert httpx.get(f"{emu.url}/_emulator/stats").json()["messages"] == 0


def test_injected_faults(emulator_factory) -> None:
    """Fault injection: a 429 with Retry-After records nothing; an 'after_accept' 500 records
    the message anyway (the case a send ledger must reconcile by send_id); then back to 202."""
    emu = emulator_factory()
    httpx.post(
        f"{emu.url}/_emulator/faults",
        json={
            "faults": [
                {"status": 429, "retry_after": 2},
                {"status": 500, "after_accept": True},
            ]
        },
    )
    err = _send_error(emu, mail_body(1, prefix="a"))
    assert err.status_code == 429 and err.headers["Retry-After"] == "2"
    assert httpx.get(f"{emu.url}/_emulator/messages", params={"send_id": "a-0"}).json() == []
    assert _send_error(emu, mail_body(1, prefix="b")).status_code == 500
    assert len(httpx.get(f"{emu.url}/_emulator/messages", params={"send_id": "b-0"}).json()) == 1
    assert sg_client(emu).client.mail.send.post(request_body=mail_body(1, prefix="c")).status_code == 202
    assert httpx.get(f"{emu.url}/_emulator/faults").json() == []


def test_reset_clears_records(emulator_factory) -> None:
    """POST /_emulator/reset forgets requests and messages."""
    emu = emulator_factory()
    sg_client(emu).client.mail.send.post(request_body=mail_body(5))
    stats = httpx.post(f"{emu.url}/_emulator/reset").json()
    assert stats["requests"] == 0 and stats["messages"] == 0
    assert httpx.get(f"{emu.url}/_emulator/messages").json() == []
    assert httpx.get(f"{emu.url}/_emulator/health").json()["status"] == "ok"


def test_cc_and_bcc_recipients_are_messages_too(emulator_factory) -> None:
    """cc and bcc recipients each get their own message record (SendGrid reports events per
    recipient), sharing the personalization's send_id; an address repeated in to and cc is 400."""
    emu = emulator_factory()
    body = mail_body(1)
    body["personalizations"][0]["cc"] = [{"email": "cc@example.com"}]
    body["personalizations"][0]["bcc"] = [{"email": "bcc@example.com", "name": "B"}]
    assert sg_client(emu).client.mail.send.post(request_body=body).status_code == 202
    msgs = httpx.get(f"{emu.url}/_emulator/messages", params={"send_id": "user-0"}).json()
    assert sorted((m["kind"], m["to"]) for m in msgs) == [
        ("bcc", "bcc@example.com"),
        ("cc", "cc@example.com"),
        ("to", "user0@example.com"),
    ]
    body["personalizations"][0]["cc"] = [{"email": "user0@example.com"}]
    assert _send_error(emu, body).status_code == 400
