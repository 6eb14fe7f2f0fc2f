"""Command line: ``python -m tracksolid_simulator serve|push ...`` (see ``cli.py``)."""

from tracksolid_simulator.cli import main

raise SystemExit(main())
