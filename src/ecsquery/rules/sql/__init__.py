"""The SQL backend: literal quoting (``literals``), Lucene regex translation (``regex``) and the
AST → osquery SQL visitor (``compiler``). ``ecsquery.rules.compile`` is the facade."""
