import sys

from femvalid.cli import main

sys.exit(main())
