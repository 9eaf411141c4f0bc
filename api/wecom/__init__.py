"""WeCom (企业微信) callbacks: the approval cards' taps (docs/approvals.md#enterprise-wechat-one-tap)."""
