"""Storage: every SQLite table of the daemon's database, behind one repository each.

db             connect(): WAL, busy timeout, schema migrated (refuses a newer schema)
migrations     STORE_MIGRATIONS keyed on PRAGMA user_version; one small function per version
samples        Store: scored samples, retention, readings; version_spans()
alert_state    AlertStateTable: rule_alert_state (restored alert instances)
baselines      BaselineTable: rule_baselines (the pinned baseline)
outbox         Outbox: alert_outbox and alert_notification_state
journal        Journal: the intake journal, a SQLite file of its own (JOURNAL_MIGRATIONS);
               take_over_spool() moves the SIGTERM spool of a release before it into it

No other package runs SQL; `driftmon.rules` and `driftmon.alerting` use these repositories.
"""

from driftmon.store.alert_state import AlertStateRow, AlertStateTable
from driftmon.store.baselines import BaselineTable, PinnedReading, PinnedRows
from driftmon.store.db import connect
from driftmon.store.journal import JOURNAL_MIGRATIONS, Entry, Journal, take_over_spool
from driftmon.store.migrations import STORE_MIGRATIONS, migrate, schema_version
from driftmon.store.outbox import Outbox, OutboxRow, Queued, SentState
from driftmon.store.samples import Reading, Store, VersionSpan, reading_values, version_spans

__all__ = [
    "JOURNAL_MIGRATIONS",
    "STORE_MIGRATIONS",
    "AlertStateRow",
    "AlertStateTable",
    "BaselineTable",
    "Entry",
    "Journal",
    "Outbox",
    "OutboxRow",
    "PinnedReading",
    "PinnedRows",
    "Queued",
    "Reading",
    "SentState",
    "Store",
    "VersionSpan",
    "connect",
    "migrate",
    "reading_values",
    "schema_version",
    "take_over_spool",
    "version_spans",
]
