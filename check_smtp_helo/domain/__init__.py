"""The mail domain: DNS through dnspython, DANE, MTA-STS, and one conversation with every
address at once. Imported only by the domain options (--mx, --all-addresses, --resolver): a
plain check pays nothing for dnspython. Nothing here knows about Nagios."""
