"""python -m check_smtp_helo"""

from check_smtp_helo.console import run

run()
