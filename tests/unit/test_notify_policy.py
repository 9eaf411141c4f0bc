"""Pure policy: quiet hours at their edges, and which provider answers wait for a window instead of failing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from wechatpy.exceptions import WeChatClientException

from notify.providers._wechat import to_notify_error
from notify.providers.aliyun_sms import error_for
from orderhub.clock import SHANGHAI
from orderhub.notifications.config import NotifySettings, quiet_until
from orderhub.notifications.port import PermanentNotifyError, ThrottledNotifyError, TransientNotifyError


def shanghai(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI).astimezone(UTC)


@pytest.mark.parametrize(
    ("local", "until"),
    [
        ("2026-12-02 21:59", None),
        ("2026-12-02 22:00", "2026-12-03 08:00"),
        ("2026-12-02 23:59", "2026-12-03 08:00"),
        ("2026-12-03 00:00", "2026-12-03 08:00"),
        ("2026-12-03 07:59", "2026-12-03 08:00"),
        ("2026-12-03 08:00", None),
        ("2026-12-03 13:00", None),
    ],
)
def test_default_quiet_hours_run_from_ten_at_night_to_eight_in_shanghai(local: str, until: str | None) -> None:
    got = quiet_until(shanghai(local), NotifySettings())
    assert got == (None if until is None else shanghai(until))
    assert got is None or got.tzinfo is not None


def test_quiet_hours_within_one_day_and_switched_off() -> None:
    lunch = NotifySettings(quiet_start="12:00", quiet_end="13:30")
    assert quiet_until(shanghai("2026-12-03 11:59"), lunch) is None
    assert quiet_until(shanghai("2026-12-03 12:00"), lunch) == shanghai("2026-12-03 13:30")
    assert quiet_until(shanghai("2026-12-03 13:30"), lunch) is None
    off = NotifySettings(quiet_start="00:00", quiet_end="00:00")
    assert quiet_until(shanghai("2026-12-03 03:00"), off) is None


@pytest.mark.parametrize(
    ("code", "message", "retry_after", "daily"),
    [
        ("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1", 60.0, False),
        ("isv.BUSINESS_LIMIT_CONTROL", "触发小时级流控Permits:5", 3600.0, False),
        ("isv.BUSINESS_LIMIT_CONTROL", "触发天级流控Permits:10", None, True),
        ("isv.DAY_LIMIT_CONTROL", "触发日发送限额", None, True),
        ("Throttling.User", "Request was denied due to user flow control.", 1.0, False),
    ],
)
def test_aliyun_flow_control_waits_for_its_window(
    code: str, message: str, retry_after: float | None, daily: bool
) -> None:
    error = error_for(code, message)
    assert isinstance(error, ThrottledNotifyError) and error.daily == daily
    if retry_after is not None:
        assert error.retry_after == retry_after


def test_aliyun_other_codes_are_transient_or_permanent() -> None:
    assert type(error_for("isp.SYSTEM_ERROR", "")) is TransientNotifyError
    assert type(error_for("InternalError", "", http_status=500)) is TransientNotifyError
    assert isinstance(error_for("isv.MOBILE_NUMBER_ILLEGAL", ""), PermanentNotifyError)
    assert isinstance(error_for("isv.MONTH_LIMIT_CONTROL", ""), PermanentNotifyError)


@pytest.mark.parametrize(("errcode", "daily"), [(45009, True), (45011, False), (45033, False)])
def test_wechat_quota_errors_wait_instead_of_failing(errcode: int, daily: bool) -> None:
    error = to_notify_error(WeChatClientException(errcode, "api freq out of limit"))
    assert isinstance(error, ThrottledNotifyError) and error.code == str(errcode) and error.daily == daily
    assert type(to_notify_error(WeChatClientException(-1, "system error"))) is TransientNotifyError
    assert isinstance(to_notify_error(WeChatClientException(40003, "invalid openid")), PermanentNotifyError)
