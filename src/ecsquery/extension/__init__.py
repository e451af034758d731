"""The osquery extension: an ECS-normalized process-events table and its event sources."""
