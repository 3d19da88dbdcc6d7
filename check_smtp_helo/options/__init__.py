"""The command line: the option table with every rule of each option, its parser, its --help,
and what the options come to once read together."""
