"""The auth context's error codes (see :class:`orderhub.errors.ErrorCode`)."""

from __future__ import annotations

from orderhub.errors import ErrorCode

__all__ = ["AuthError"]


class AuthError(ErrorCode):
    """Auth: users, passwords and badges."""

    INVALID_CREDENTIALS = (
        "invalid_credentials",
        "用户名或密码错误",
        "Wrong username or password, or a disabled account (one answer for all, so that guesses learn nothing).",
    )
    INVALID_BADGE = (
        "invalid_badge",
        "工牌或设备无效，请重新扫描，或用账号密码登录",
        "Device sign-in failed: an unknown or disabled device or badge, or a badge that may not sign in here "
        "(one answer for all, so that guesses learn nothing).",
    )
    TOO_MANY_ATTEMPTS = (
        "too_many_attempts",
        "尝试次数过多，请稍后再试",
        "Too many failed sign-ins for this account, device or address; retry after `retry_after` seconds.",
    )
    ACCOUNT_LOCKED = (
        "account_locked",
        "账号已锁定，请联系主管解锁",
        "Too many failed sign-ins: the account is locked until a manager unlocks it (or `retry_after` passes).",
    )
    DUPLICATE_USERNAME = "duplicate_username", "用户名已存在", "A user with this username exists."
    DUPLICATE_BADGE = "duplicate_badge", "工牌已绑定其他员工", "The badge is bound to another user."
    LAST_ADMIN = (
        "last_admin",
        "至少要保留一位启用、且不绑定仓库的管理员",
        "The change would leave no active admin bound to no warehouse (who alone may manage staff and hub-wide "
        "settings): make another user such an admin first.",
    )
