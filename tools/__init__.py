"""Generators of the documentation from the code (`make docs`); not part of the installed
package, and nothing in qmoe_cli imports them (an import contract in pyproject.toml)."""
