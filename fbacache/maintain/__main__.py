import sys
from fbacache.fba.cli import main
sys.exit(main())
