from ect_service.cli import main

raise SystemExit(main())
