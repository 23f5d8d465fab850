"""`python -m app` is the same as the `hark` command."""

from app.cli import main

raise SystemExit(main())
