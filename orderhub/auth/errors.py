"""The auth context's error codes (see :class:`orderhub.errors.ErrorCode`)."""

from __future__ import annotations

from orderhub.errors import ErrorCode

__all__ = ["AuthError"]


class AuthError(ErrorCode):
    """Auth: users, passwords and badges."""

    INVALID_CREDENTIALS = "invalid_credentials", "用户名或密码错误", "Wrong username or password."
    INVALID_BADGE = "invalid_badge", "工牌无效，请重新扫描或用账号密码登录", "The badge is not bound to any user."
    USER_INACTIVE = "user_inactive", "账号已停用", "The account is disabled."
    DUPLICATE_USERNAME = "duplicate_username", "用户名已存在", "A user with this username exists."
    DUPLICATE_BADGE = "duplicate_badge", "工牌已绑定其他员工", "The badge is bound to another user."
