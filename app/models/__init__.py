"""All tables; importing this package registers them on ``Base.metadata``."""

from app.models.api_key import ApiKey
from app.models.audit_log import AuditEntry
from app.models.base import Base
from app.models.billing_endpoints import ChargebeeEndpoint, PaddleEndpoint
from app.models.cancellation_flow import FLOW_STATUSES, FLOW_VARIANTS, CancellationFlow
from app.models.customer import CUSTOMER_STATUSES, Customer
from app.models.customer_revenue import CustomerRevenue
from app.models.event import EVENT_TYPES, Event
from app.models.health_dirty import HealthDirty
from app.models.health_model import HealthModel
from app.models.health_score import HealthScore, HealthSnapshot
from app.models.health_settings import HealthSettingsVersion
from app.models.offer import Offer
from app.models.offer_settings import OfferSettings
from app.models.plan import Plan
from app.models.segment_mapping import SEGMENT_TARGETS, SegmentMapping
from app.models.signal_emission import SIGNALS, SignalEmission
from app.models.signal_settings import SignalSettings
from app.models.status_change import CustomerStatusChange
from app.models.stripe_endpoint import StripeEndpoint
from app.models.tenant import Tenant
from app.models.tenant_purchase_rhythm import TenantPurchaseRhythm
from app.models.usage_daily import UsageDaily
from app.models.webhook_delivery import DELIVERY_STATUSES, WebhookDelivery
from app.models.webhook_endpoint import WebhookEndpoint

__all__ = [
    "CUSTOMER_STATUSES",
    "DELIVERY_STATUSES",
    "EVENT_TYPES",
    "FLOW_STATUSES",
    "FLOW_VARIANTS",
    "SEGMENT_TARGETS",
    "SIGNALS",
    "ApiKey",
    "AuditEntry",
    "Base",
    "CancellationFlow",
    "ChargebeeEndpoint",
    "Customer",
    "CustomerRevenue",
    "CustomerStatusChange",
    "Event",
    "HealthDirty",
    "HealthModel",
    "HealthScore",
    "HealthSettingsVersion",
    "HealthSnapshot",
    "Offer",
    "OfferSettings",
    "PaddleEndpoint",
    "Plan",
    "SegmentMapping",
    "SignalEmission",
    "SignalSettings",
    "StripeEndpoint",
    "Tenant",
    "TenantPurchaseRhythm",
    "UsageDaily",
    "WebhookDelivery",
    "WebhookEndpoint",
]
