import sys

from rap.cli import main

sys.exit(main())
