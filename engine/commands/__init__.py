"""Each CLI command as a function over the library that returns (output, exit code); cli.py only declares them."""
