"""`python -m coordinator.cli`: the `saga` command, for where the console script is not on PATH."""

from coordinator.cli import main

raise SystemExit(main())
