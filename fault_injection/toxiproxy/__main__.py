from __future__ import annotations

import sys

from fault_injection.toxiproxy.cli import main

sys.exit(main())
