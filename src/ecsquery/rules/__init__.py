"""Rules → packs: the rule model, KQL/EQL parsers, the SQL compiler and pack rendering."""
