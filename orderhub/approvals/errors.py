"""The approvals context's error codes (see :class:`orderhub.errors.ErrorCode`; docs/approvals.md)."""

from __future__ import annotations

from orderhub.errors import ErrorCode

__all__ = ["ApprovalError", "CardDelivery", "OaDelivery"]


class ApprovalError(ErrorCode):
    """Approval flows, requests and the actions people take on them (``orderhub.approvals``)."""

    APPROVAL_FLOW_NOT_FOUND = "approval_flow_not_found", "审批流程不存在", "No approval flow has this code."
    APPROVAL_FLOW_EXISTS = "approval_flow_exists", "审批流程编码已存在", "Another approval flow has this code."
    APPROVAL_FLOW_INACTIVE = (
        "approval_flow_inactive",
        "审批流程已停用",
        "The flow named is switched off: new requests cannot start on it (requests in flight go on).",
    )
    APPROVAL_FLOW_UNKNOWN = (
        "approval_flow_unknown",
        "规则指定的审批流程不存在",
        "A rule's `require_approval` action names a flow code that does not exist (checked when the rule is saved).",
    )
    APPROVAL_FLOW_WRONG_KIND = (
        "approval_flow_wrong_kind",
        "该审批流程不处理订单审批（流程的 kinds 不含 order_hold）",
        "A rule's `require_approval` action names a flow whose current version does not take `order_hold` requests.",
    )
    APPROVAL_BAD_DEFINITION = (
        "approval_bad_definition",
        "审批流程定义不正确",
        "A flow definition is malformed or inconsistent (the message and `field` say where).",
    )
    APPROVAL_NO_FLOW = (
        "approval_no_flow",
        "没有适用于该申请的审批流程",
        "No active flow takes this kind of request, or the flow's entry condition does not match it.",
    )
    APPROVAL_UNKNOWN_KIND = "approval_unknown_kind", "不支持的审批类型", "`kind` is not a registered request kind."
    APPROVAL_BAD_PAYLOAD = (
        "approval_bad_payload",
        "申请内容不完整或格式不正确",
        "The request's payload does not fit its kind (the message says what is missing).",
    )
    APPROVAL_NOT_FOUND = "approval_not_found", "审批不存在", "No such approval request."
    APPROVAL_ALREADY_PENDING = (
        "approval_already_pending",
        "已有一条同类审批正在进行",
        "A pending request of this kind exists for the same order (or stock row).",
    )
    APPROVAL_CLOSED = (
        "approval_closed",
        "该审批已结束",
        "The request was decided, withdrawn or cancelled already (by someone else, or by the same tap before).",
    )
    APPROVAL_TASK_NOT_PENDING = (
        "approval_task_not_pending",
        "你没有待处理的审批任务（可能已处理、已转交或已升级）",
        "The caller holds no pending task on this request: done already, transferred or escalated away.",
    )
    APPROVAL_REASON_REQUIRED = "approval_reason_required", "驳回需要填写原因", "A rejection needs a reason."
    APPROVAL_TEXT_REQUIRED = "approval_text_required", "评论内容不能为空", "A comment needs text."
    APPROVAL_BAD_SIGNER = (
        "approval_bad_signer",
        "加签或转交的人员不合适",
        "The person added or transferred to is unknown, inactive, the caller, or already deciding this step.",
    )
    APPROVAL_NOT_REQUESTER = "approval_not_requester", "只有申请人可以撤回", "Only the requester may withdraw."
    APPROVAL_NOT_INVOLVED = (
        "approval_not_involved",
        "你与该审批无关，不能执行此操作",
        "Only the requester, the approvers, the people copied (and managers) may comment or remind.",
    )
    APPROVAL_REMIND_TOO_SOON = (
        "approval_remind_too_soon",
        "催办过于频繁，请稍后再试",
        "The request was reminded less than five minutes ago.",
    )
    APPROVAL_KEY_REUSED = (
        "approval_key_reused",
        "操作标识已用于另一个操作",
        "The idempotency key was used before for a different request, action or person.",
    )
    APPROVAL_NO_APPROVER = (
        "approval_no_approver",
        "找不到可以审批的人员",
        "A step's approvers resolve to nobody, not even its fallback role.",
    )
    APPROVAL_EFFECT_REFUSED = (
        "approval_effect_refused",
        "审批结果无法执行（订单状态已变化）",
        "What the decision should do can no longer be done (e.g. the order was shipped meanwhile).",
    )
    APPROVAL_BAD_CURSOR = "approval_bad_cursor", "分页游标无效，请从第一页重新查询", "`cursor` is not one we gave."
    APPROVAL_BAD_MANAGER = (
        "approval_bad_manager",
        "上级设置不正确（不能是本人，也不能形成循环）",
        "A staff member's manager is unknown, themselves, or would make a cycle.",
    )
    # The WeCom callback of the approval cards (docs/approvals.md#enterprise-wechat-one-tap)
    APPROVAL_WECOM_NOT_CONFIGURED = (
        "approval_wecom_not_configured",
        "未配置企业微信审批回调",
        "The WeCom account has no callback Token and EncodingAESKey (notify settings, provider `wecom`).",
    )
    APPROVAL_WECOM_BAD_SIGNATURE = (
        "approval_wecom_bad_signature",
        "企业微信回调签名不正确",
        "`msg_signature` does not match the Token: not sent by WeCom. Nothing was changed.",
    )
    APPROVAL_WECOM_BAD_MESSAGE = (
        "approval_wecom_bad_message",
        "企业微信回调无法解密或不属于本企业",
        "Signed, but not encrypted with our EncodingAESKey or not for our CorpID: forged. Nothing was changed.",
    )
    APPROVAL_WECOM_STALE = (
        "approval_wecom_stale",
        "企业微信回调已过期（疑似重放）",
        "The callback was signed more than five minutes ago: an old delivery replayed. Nothing was changed.",
    )
    APPROVAL_WECOM_MALFORMED = (
        "approval_wecom_malformed",
        "企业微信回调格式不正确",
        "The body is not WeCom's encrypted XML envelope (or is too large).",
    )
    # Flows that run in WeCom's own 审批 app (docs/approvals.md#wecoms-own-审批-app)
    APPROVAL_RUNS_IN_WECOM = (
        "approval_runs_in_wecom",
        "该审批在企业微信「审批」中进行，请在企业微信中同意或驳回",
        "The request runs in WeCom's 审批 app (its flow's `runs_in: wecom_oa`): it is decided there, not in the hub.",
    )
    APPROVAL_WITHDRAW_IN_WECOM = (
        "approval_withdraw_in_wecom",
        "该审批在企业微信「审批」中进行，企业微信不提供代为撤销的接口：请申请人在企业微信中撤销",
        "WeCom has no API to cancel an approval on someone's behalf: the requester withdraws it in WeCom's 审批 app, "
        "and the hub follows (the request becomes withdrawn).",
    )
    APPROVAL_WECOM_OA_UNAVAILABLE = (
        "approval_wecom_oa_unavailable",
        "未配置企业微信，无法在企业微信审批中发起",
        "The flow runs in WeCom's 审批 app but the WeCom account (notify settings, provider `wecom`) is not set up.",
    )
    APPROVAL_WECOM_OA_NO_CREATOR = (
        "approval_wecom_oa_no_creator",
        "找不到提交审批的企业微信账号（申请人没有企业微信账号，流程也未设置 creator_userid）",
        "WeCom needs a member to submit the approval as: the requester's WeCom userid, or the flow's `creator_userid`.",
    )


class CardDelivery(ErrorCode):
    """Why an approval card was held back, not sent or not updated: recorded on it (``approval_card.error_code``)."""

    CARD_NOT_CONFIGURED = "card_not_configured", "未配置企业微信", "WeCom is not set up (notify settings, `wecom`)."
    CARD_TASK_CLOSED = (
        "card_task_closed",
        "审批任务已结束，卡片不再发送",
        "The task was decided, transferred or escalated before its card went out: never sent.",
    )
    CARD_REQUEST_CLOSED = (
        "card_request_closed",
        "审批已结束，卡片不再发送",
        "The request was decided before the card (or reminder) went out: never sent.",
    )
    CARD_MEMBER_RATE = (
        "card_member_rate",
        "超过企业微信每人每分钟的发送限制，排队稍后发送",
        "Held back by the per-member window (WeCom drops what passes 30 a minute per member): sent when it has room.",
    )
    CARD_RECIPIENT_REFUSED = (
        "card_recipient_refused",
        "企业微信未送达该成员（不在应用可见范围或无许可）",
        "WeCom answered the person's userid as invaliduser / unlicenseduser.",
    )
    CARD_SENT_BEFORE = (
        "card_sent_before",
        "卡片已发出（上次发送的回应丢失），无法用发送凭证更新",
        "A retried send found its task_id taken: the earlier attempt went through, its response_code is unknown.",
    )
    CARD_NO_UPDATE_CODE = (
        "card_no_update_code",
        "卡片的更新凭证已用完或已过期（72 小时），无法再更新",
        "Every response_code of the card was spent or expired: its buttons cannot be changed any more.",
    )


class OaDelivery(ErrorCode):
    """What became of a submission to WeCom's 审批 app, recorded on it (``approval_oa.error_code``) with WeCom's."""

    OA_NOT_CONFIGURED = "oa_not_configured", "未配置企业微信", "WeCom is not set up (notify settings, `wecom`)."
    OA_REQUEST_CLOSED = (
        "oa_request_closed",
        "审批已结束，不再提交到企业微信",
        "The request was closed (cancelled with its order …) before its submission went out: never submitted.",
    )
    OA_FOUND_AFTER_RETRY = (
        "oa_found_after_retry",
        "上次提交已到达企业微信（回应丢失），已找回审批单号",
        "An attempt whose answer was lost had reached WeCom: its approval was found (getapprovalinfo) and kept, "
        "not submitted twice.",
    )
    OA_SUBMIT_FAILED = (
        "oa_submit_failed",
        "提交到企业微信审批失败，审批已取消，请在订单中枢处理",
        "WeCom refused the submission for good (or every attempt failed): the request was cancelled so that nothing "
        "waits on it; the order's log says why.",
    )
