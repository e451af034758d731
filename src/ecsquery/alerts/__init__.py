"""osqueryd result logs → ECS alert documents with the rule's MITRE ATT&CK block."""
