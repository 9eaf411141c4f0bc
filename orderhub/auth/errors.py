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
    INVALID_PHONE = (
        "invalid_phone",
        "请填写中国大陆 11 位手机号",
        "A staff account's phone must be a mainland mobile number.",
    )
    # staff on the WeChat mini-program (orderhub/auth/miniprogram.py)
    MP_NOT_CONFIGURED = (
        "mp_not_configured",
        "尚未配置微信小程序（AppID 与 AppSecret），暂不能用微信登录",
        "The mini-program's appid and secret are not configured (notify provider `wechat_subscribe`).",
    )
    MP_CODE_INVALID = (
        "mp_code_invalid",
        "微信登录凭证无效或已使用，请重新进入小程序再试",
        "WeChat refused the `wx.login` code (code2Session errcode 40029 invalid code, 40163 code used): call "
        "`wx.login` again for a fresh code.",
    )
    MP_WECHAT_RATE_LIMITED = (
        "mp_wechat_rate_limited",
        "微信登录过于频繁，请一分钟后再试",
        "WeChat's rate limit (errcode 45011: at most 100 logins per user per minute); retry after `retry_after` "
        "seconds.",
    )
    MP_USER_BLOCKED = (
        "mp_user_blocked",
        "微信判定该微信号存在安全风险，已拦截小程序登录；请更换微信号或用账号密码登录",
        "WeChat blocked this user's mini-program login (errcode 40226: a high-risk user).",
    )
    MP_WECHAT_UNAVAILABLE = (
        "mp_wechat_unavailable",
        "微信服务暂时不可用，请稍后重试",
        "WeChat could not be reached or answered 'system busy' (errcode -1); retry.",
    )
    MP_WECHAT_REFUSED = (
        "mp_wechat_refused",
        "微信拒绝了登录请求，请联系管理员检查小程序配置",
        "WeChat refused the call for another reason (e.g. 40013 invalid appid, 40125 invalid secret); the message "
        "carries WeChat's errcode.",
    )
    MP_NOT_BOUND = (
        "mp_not_bound",
        "该微信尚未绑定员工账号，请用主管发的绑定码或手机号绑定",
        "No staff account is bound to this WeChat user: bind with a binding code or the phone number on the account "
        "(`POST /mp/v1/auth/bind`).",
    )
    MP_ACCOUNT_DISABLED = (
        "mp_account_disabled",
        "该员工账号已停用，不能登录",
        "The staff account bound to this WeChat user (or named by the binding code) is deactivated.",
    )
    MP_BINDING_CODE_INVALID = (
        "mp_binding_code_invalid",
        "绑定码无效、已使用或已过期，请向主管重新获取",
        "The binding code is unknown, already used, replaced by a newer one or expired.",
    )
    MP_PHONE_CODE_INVALID = (
        "mp_phone_code_invalid",
        "手机号授权已失效，请重新点击获取手机号",
        "WeChat refused the getPhoneNumber code (errcode 40029 / 40163): ask for the number again.",
    )
    MP_PHONE_NOT_MATCHED = (
        "mp_phone_not_matched",
        "该手机号与员工账号登记的手机号不一致，请联系主管登记手机号或获取绑定码",
        "No single active staff account has the phone number WeChat vouched for (none, or several).",
    )
    MP_OPENID_TAKEN = (
        "mp_openid_taken",
        "该微信已绑定其他员工账号，请先让主管解绑",
        "The WeChat user is bound to another staff account; a manager unbinds it first.",
    )
    MP_ALREADY_BOUND = (
        "mp_already_bound",
        "该员工账号已绑定其他微信，请让主管解绑或发绑定码",
        "Binding by phone to an account bound to another WeChat user: a manager unbinds it or issues a binding code.",
    )
    MP_BIND_NEEDS_ONE = (
        "mp_bind_needs_one",
        "请提供绑定码或手机号授权（二选一）",
        "`POST /mp/v1/auth/bind` takes exactly one of `binding_code` and `phone_code`.",
    )
    MP_BINDING_NOT_ALLOWED = (
        "mp_binding_not_allowed",
        "主管只能为本仓库的拣货、打包、财务、审核人员生成绑定码",
        "A manager issues binding codes for staff below them (picker, packer, finance, approver) only; an admin's "
        "or a manager's account is bound with a code from an admin.",
    )
