"""The approvals context's error codes (see :class:`orderhub.errors.ErrorCode`; docs/approvals.md)."""

from __future__ import annotations

from orderhub.errors import ErrorCode

__all__ = ["ApprovalError"]


class ApprovalError(ErrorCode):
    """Approval flows, requests and the actions people take on them (``orderhub.approvals``)."""

    APPROVAL_FLOW_NOT_FOUND = "approval_flow_not_found", "审批流程不存在", "No approval flow has this code."
    APPROVAL_FLOW_EXISTS = "approval_flow_exists", "审批流程编码已存在", "Another approval flow has this code."
    APPROVAL_FLOW_INACTIVE = (
        "approval_flow_inactive",
        "审批流程已停用",
        "The flow named is switched off: new requests cannot start on it (requests in flight go on).",
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
