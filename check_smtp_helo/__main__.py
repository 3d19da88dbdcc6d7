"""python -m check_smtp_helo"""

from check_smtp_helo.cli import run

run()
