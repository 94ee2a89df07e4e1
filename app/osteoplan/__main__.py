from osteoplan.cli import main

raise SystemExit(main())
