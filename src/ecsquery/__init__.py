"""ecsquery: Elastic's macOS detection rules on osquery.

Pipeline subpackages: ``extension`` (ECS process events as an osquery table), ``rules`` (KQL/EQL
→ AST → osquery SQL → packs), ``alerts`` (osqueryd result logs → Elastic-style alerts) and
``replay`` (recorded events through the whole chain, offline). ``schema`` is the one
ECS-field → column table they all share.
"""

__version__ = "0.1.0"
