"""Piccolo app registration: the tables and where their migrations live (top-level ``migrations/``)."""

from __future__ import annotations

from pathlib import Path

from piccolo.conf.apps import AppConfig

from orderhub.approvals.card_tables import ApprovalCard
from orderhub.approvals.oa_tables import ApprovalOa
from orderhub.approvals.tables import (
    ApprovalAction,
    ApprovalAudit,
    ApprovalChain,
    ApprovalFlow,
    ApprovalFlowVersion,
    ApprovalRequest,
    ApprovalTask,
)
from orderhub.auth.tables import MpBindingCode, User
from orderhub.catalog.tables import Sku, SkuBarcode
from orderhub.channels.erp_file.settlement_tables import SettlementMapping
from orderhub.channels.tables import Channel, ChannelSku, ImportJob, ImportMapping, PullRun, ReceiverDecrypt
from orderhub.customs.tables import CustomsRulePack, CustomsSku
from orderhub.finance.tables import (
    FeeSetting,
    OrderPayout,
    Reconciliation,
    SettlementBatch,
    SettlementLine,
    SettlementPull,
    SettlementSetting,
)
from orderhub.insights.alert_tables import Alert, AlertRule, AlertState
from orderhub.insights.health_tables import (
    HealthScoreDay,
    HealthSetting,
    OrderInquiry,
    Rectification,
    RectificationComment,
    RollupInquiryDay,
    RollupInquiryOrder,
)
from orderhub.insights.pattern_tables import CopurchasePattern, CopurchaseRun
from orderhub.insights.tables import (
    RollupOperatorDay,
    RollupOrderBucket,
    RollupOrderQuality,
    RollupReasonBucket,
    RollupStatusCount,
)
from orderhub.inventory.tables import Location, StockAdjustment, StockLevel, Warehouse
from orderhub.logistics.tables import CarrierAccount, CarrierRateCard, CarrierRuleRow, ParcelTracking, Waybill
from orderhub.notifications.tables import Notification, NotifyContact, NotifyDigestItem, NotifyTemplate
from orderhub.offers.tables import Offer, OfferLog
from orderhub.orders.aftersale_tables import AfterSale, AfterSaleChange, AfterSaleLine, AfterSaleReceipt, DamagedStock
from orderhub.orders.tables import Order, OrderEvent, OrderLine, PipelineSetting, PlatformWriteback, SurgeEvent
from orderhub.picking.putback_tables import Putback, PutbackLine
from orderhub.picking.tables import (
    PackRecord,
    PdaDevice,
    PdaScan,
    PickingConfig,
    PickLine,
    PickTask,
    PickTaskOrder,
    SkuLocation,
    Wave,
)
from orderhub.reports.tables import ReportFile
from orderhub.routing.tables import Shipment
from orderhub.rules.tables import Rule

__all__ = ["APP_CONFIG", "TABLES"]

TABLES = [
    Warehouse,
    Location,
    Sku,
    SkuBarcode,
    StockLevel,
    StockAdjustment,
    Channel,
    User,
    MpBindingCode,
    Order,
    OrderLine,
    OrderEvent,
    Rule,
    Shipment,
    SurgeEvent,
    PipelineSetting,
    PullRun,
    ReceiverDecrypt,
    ChannelSku,
    PlatformWriteback,
    ImportMapping,
    ImportJob,
    PickingConfig,
    SkuLocation,
    PdaDevice,
    Wave,
    PickTask,
    PickTaskOrder,
    PickLine,
    PdaScan,
    PackRecord,
    CarrierAccount,
    Waybill,
    ParcelTracking,
    CarrierRateCard,
    CarrierRuleRow,
    Notification,
    NotifyTemplate,
    NotifyContact,
    NotifyDigestItem,
    RollupOrderBucket,
    RollupReasonBucket,
    RollupStatusCount,
    RollupOperatorDay,
    RollupOrderQuality,
    OrderInquiry,
    RollupInquiryOrder,
    RollupInquiryDay,
    HealthSetting,
    HealthScoreDay,
    Rectification,
    RectificationComment,
    AlertRule,
    AlertState,
    Alert,
    CopurchaseRun,
    CopurchasePattern,
    ApprovalFlow,
    ApprovalFlowVersion,
    ApprovalRequest,
    ApprovalTask,
    ApprovalAction,
    ApprovalAudit,
    ApprovalChain,
    ApprovalCard,
    ApprovalOa,
    Putback,
    PutbackLine,
    SettlementMapping,
    FeeSetting,
    OrderPayout,
    SettlementSetting,
    SettlementPull,
    SettlementBatch,
    SettlementLine,
    Reconciliation,
    AfterSale,
    AfterSaleLine,
    AfterSaleChange,
    AfterSaleReceipt,
    DamagedStock,
    ReportFile,
    CustomsSku,
    CustomsRulePack,
    Offer,
    OfferLog,
]

APP_CONFIG = AppConfig(
    app_name="orderhub",
    migrations_folder_path=str(Path(__file__).resolve().parent.parent / "migrations"),
    table_classes=TABLES,
    migration_dependencies=[],
    commands=[],
)
