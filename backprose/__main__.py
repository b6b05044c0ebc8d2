"""`python -m backprose` is the `backprose` command."""

import sys

from backprose.cli import main

sys.exit(main())
