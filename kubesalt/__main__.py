from kubesalt.cli import main

raise SystemExit(main())
