"""KQL and EQL parsers into one AST (``ast``), and AST→AST passes."""
