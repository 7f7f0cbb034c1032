"""Imports every model module so that metadata (and Alembic) sees all tables."""
from kehu.access.models import *  # noqa: F401,F403
from kehu.audit.models import *  # noqa: F401,F403
from kehu.catalog.models import *  # noqa: F401,F403
from kehu.customers.models import *  # noqa: F401,F403
from kehu.interactions.models import *  # noqa: F401,F403
from kehu.orders.models import *  # noqa: F401,F403
from kehu.leads.models import *  # noqa: F401,F403
from kehu.pools.models import *  # noqa: F401,F403
from kehu.complaints.models import *  # noqa: F401,F403
from kehu.surveys.models import *  # noqa: F401,F403
