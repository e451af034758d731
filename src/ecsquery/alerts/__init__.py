"""osqueryd result logs → Elastic-style alerts with the rule's MITRE ATT&CK block."""
