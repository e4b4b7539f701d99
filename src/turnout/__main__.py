from turnout.cli.main import main

raise SystemExit(main())
