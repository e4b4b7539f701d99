"""The `turnout` command line: thin commands over the library."""
