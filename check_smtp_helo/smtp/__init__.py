"""The SMTP conversation: connect, read the greeting, say EHLO/HELO (LHLO for LMTP), and,
when asked, AUTH, MAIL FROM and RCPT TO (never DATA); then RSET and QUIT.

Nothing here knows about Nagios. Every wait ends at one deadline, every read is bounded, and
server bytes become printable ASCII before anything else sees them. A conversation never
raises for what the network or the server does: it returns a `Session` whose `failure` says
what went wrong, and where."""
