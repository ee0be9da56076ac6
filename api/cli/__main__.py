"""``python -m api.cli``: the ``incidentdesk`` command."""

import sys

from api.cli import main

sys.exit(main())
