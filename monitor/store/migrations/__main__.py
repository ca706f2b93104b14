"""``python -m monitor.store.migrations "what changes"``: draft the next revision (for developers)."""

import sys

from monitor.store.migrations import draft_revision

if len(sys.argv) != 2 or not sys.argv[1].strip():
    sys.exit('usage: python -m monitor.store.migrations "what the revision changes"')
print(f"wrote {draft_revision(sys.argv[1])}: check it by hand, then run tests/test_migrations.py")
