"""Print minigan train's options as a Markdown table, read from the table the command is built from.

    python docs/img/make_options_table.py

docs/options.md shows this output (tests/test_options.py checks that it still does).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from minigan import options  # noqa: E402
from minigan.gan import config  # noqa: E402

if __name__ == "__main__":
    sys.stdout.write(options.markdown(config.TRAIN, config.RECIPE_KEYS))
