"""python -m ect_service: the ect-service command (cli.py)."""

from ect_service.cli import main

raise SystemExit(main())
