"""Every table's model, imported in one place so the metadata (and Alembic) sees them all."""

from collection_cases.accounts.models import Account, ApiKey, RateLimitWindow
from collection_cases.cases.models import CaseTotal, CollectionCase
from collection_cases.chat.models import ChatMessage
from collection_cases.db import Base
from collection_cases.events.models import Event, WebhookDelivery, WebhookEndpoint
from collection_cases.files.models import CaseFile
from collection_cases.idempotency.models import IdempotencyKey
from collection_cases.partners.models import CollectionPartner
from collection_cases.payments.models import DebtPayment, PaymentTotal, Payout
from collection_cases.web.dashboard.models import DashboardSession

metadata = Base.metadata

__all__ = [
    "Account",
    "ApiKey",
    "CaseFile",
    "CaseTotal",
    "ChatMessage",
    "CollectionCase",
    "CollectionPartner",
    "DashboardSession",
    "DebtPayment",
    "Event",
    "IdempotencyKey",
    "PaymentTotal",
    "Payout",
    "RateLimitWindow",
    "WebhookDelivery",
    "WebhookEndpoint",
    "metadata",
]
