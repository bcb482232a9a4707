import sys

from mlops_portal_client.cli import main

sys.exit(main())
