"""check_smtp_helo: a Nagios/Icinga plugin that checks an SMTP server's banner and EHLO/HELO.

Importing the package imports nothing else, so that each module pays only for itself.
"""

__version__ = "0.1.0"
