"""TLS for the conversation: imported only when a TLS option is given (ssl costs start-up
time that a plain check should not pay). Nothing here knows about SMTP or Nagios."""
