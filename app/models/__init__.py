"""All tables; importing this package registers them on ``Base.metadata``."""

from app.models.api_key import ApiKey
from app.models.base import Base
from app.models.tenant import Tenant

__all__ = ["ApiKey", "Base", "Tenant"]
