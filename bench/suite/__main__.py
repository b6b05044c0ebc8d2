"""`python -m bench.suite`: see bench/suite/__init__.py for usage."""

from bench.suite.run import main

main()
