"""SMS segments (GSM-7 or UCS-2) and push limits: the sizes carriers bill, checked before a provider sees a message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from loyalty.channels.base import Message
from loyalty.channels.message_size import SMS_MAX_CHARS, sms_size, template_estimate
from loyalty.channels.twilio_sms import TwilioSms
from loyalty.paths import WORKFLOWS_DIR
from loyalty.specs import WorkflowSpec
from loyalty.specs.checks import check_spec, dbt_model_columns


class TestSegments:
    @pytest.mark.parametrize(
        ("text", "encoding", "units", "segments"),
        [
            ("Hello", "GSM-7", 5, 1),
            ("a" * 160, "GSM-7", 160, 1),
            ("a" * 161, "GSM-7", 161, 2),  # 153 a segment once a message is split
            ("a" * 306, "GSM-7", 306, 2),
            ("a" * 307, "GSM-7", 307, 3),
            ("€" * 80, "GSM-7", 160, 1),  # the extension table: two septets each
            ("{" * 81, "GSM-7", 162, 2),
            ("Olá João", "UCS-2", 8, 1),  # ã is not in GSM-7: the whole message is UCS-2
            ("ã" * 70, "UCS-2", 70, 1),
            ("ã" * 71, "UCS-2", 71, 2),  # 67 a segment once split
            ("🎉" * 35, "UCS-2", 70, 1),  # an emoji is two UTF-16 units
            ("", "GSM-7", 0, 1),
        ],
    )
    def test_encoding_and_segments(self, text: str, encoding: str, units: int, segments: int) -> None:
        size = sms_size(text)
        assert (size.encoding, size.units, size.segments) == (encoding, units, segments)

    def test_an_estimate_counts_each_value_and_keeps_every_branch(self) -> None:
        estimate = template_estimate("Hi {{ first_name }}! {% if points %}{{ points }} pts{% else %}none{% endif %}")
        assert estimate == "Hi " + "x" * 20 + "! " + "x" * 20 + " ptsnone"


def _spec(channel: str, template: dict) -> WorkflowSpec:
    spec = yaml.safe_load((WORKFLOWS_DIR / "win_back.yml").read_text())
    spec["steps"] = [{"id": "hello", "type": "message", "channel": channel}]
    spec["experiment"]["variants"] = [{"id": "control", "weight": 1, "templates": {"hello": {"en": template}}}]
    return WorkflowSpec.model_validate(spec)


def _size_problems(tmp_path: Path, spec: WorkflowSpec) -> list[str]:
    path = tmp_path / "spec.yml"
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), allow_unicode=True))
    return [str(p) for p in check_spec(path, spec, dbt_model_columns()) if "too long" in p.message]


class TestValidation:
    def test_an_sms_over_three_segments_is_a_validation_error(self, tmp_path: Path) -> None:
        long_text = "Olá {{ first_name }}, " + "você tem pontos a vencer. " * 8  # UCS-2: 67 characters a segment
        problems = _size_problems(tmp_path, _spec("sms", {"text": long_text}))
        assert len(problems) == 1
        assert "experiment.variants.0.templates.hello.en.text: too long for SMS: about 4 segments (UCS-2" in problems[0]
        assert "at most 3 segments" in problems[0] and "hint: each value counted as 20 characters" in problems[0]

    def test_an_sms_that_fits_passes(self, tmp_path: Path) -> None:
        assert _size_problems(tmp_path, _spec("sms", {"text": "Hi {{ first_name }}, your points expire soon."})) == []

    def test_push_title_and_text_limits(self, tmp_path: Path) -> None:
        """Android shows about 65 characters of a title and 240 of a text: one over each fails, each named."""
        problems = _size_problems(tmp_path, _spec("push", {"title": "t" * 66, "text": "x" * 241}))
        assert sorted(p.split(": ", 2)[1:] for p in problems) == [
            [
                "experiment.variants.0.templates.hello.en.text",
                "too long for push: about 241 characters, at most 240 (hint: each value counted as 20 characters; "
                "`loyalty preview` sizes a real customer's)",
            ],
            [
                "experiment.variants.0.templates.hello.en.title",
                "too long for push: about 66 characters, at most 65 (hint: each value counted as 20 characters; "
                "`loyalty preview` sizes a real customer's)",
            ],
        ]
        assert _size_problems(tmp_path, _spec("push", {"title": "t" * 65, "text": "x" * 240})) == []

    def test_a_fallback_step_is_checked_for_each_of_its_channels(self, tmp_path: Path) -> None:
        """[push, sms, email]: the body that email sends is checked as the SMS text too (no `text` given)."""
        spec = _spec("email", {"subject": "Hi", "body": "<p>" + "Long words. " * 50 + "</p>"})
        raw = spec.model_dump(mode="json", exclude_none=True)
        raw["steps"][0]["channel"] = ["sms", "email"]
        problems = _size_problems(tmp_path, WorkflowSpec.model_validate(raw))
        assert len(problems) == 1 and "templates.hello.en.body: too long for SMS" in problems[0]


class TestSendTime:
    def test_a_body_twilio_would_refuse_is_failed_without_a_request(self) -> None:
        """Over 1600 characters: a failed outcome with the reason, and no request (the host is not listening)."""
        sms = TwilioSms("AC" + "0" * 32, "token", "+15005550006", "http://127.0.0.1:9/cb", host="http://127.0.0.1:9")
        try:
            outcome = sms._send_one(Message("send-1", "+15550000001", "", "x" * (SMS_MAX_CHARS + 1)))
        finally:
            sms.close()
        assert outcome.status == "failed"
        assert outcome.reason == "too long for SMS: 1601 characters, Twilio takes at most 1600"
