"""``python -m minigan`` runs the ``minigan`` command."""
import sys

from .cli import main

sys.exit(main())
