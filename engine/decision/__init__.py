"""The answers as plain data: Decision, its reasons (codes and arguments), fixes, routes, reach rows."""
