"""Entry script of the PyInstaller bundle: the same `main` as the installed `osteoplan` command."""

from osteoplan.cli import main

raise SystemExit(main())
