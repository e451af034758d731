SELECT
  time,
  timestamp,
  event_category,
  event_type,
  event_action,
  event_id,
  host_os_type,
  host_name,
  process_pid,
  process_entity_id,
  process_executable,
  process_name,
  process_args,
  process_args_count,
  process_command_line,
  process_working_directory,
  process_env_vars,
  process_previous_executable,
  process_exit_code,
  process_code_signature_exists,
  process_code_signature_trusted,
  process_code_signature_signing_id,
  process_code_signature_team_id,
  process_parent_pid,
  process_parent_entity_id,
  process_parent_executable,
  process_parent_name,
  process_parent_args,
  process_parent_command_line,
  process_parent_code_signature_exists,
  process_parent_code_signature_trusted,
  process_effective_parent_pid,
  process_effective_parent_entity_id,
  process_effective_parent_executable,
  process_effective_parent_name,
  user_id,
  user_name,
  user_effective_id,
  group_id,
  event_outcome,
  source_ip,
  source_port,
  destination_ip,
  destination_port,
  source_address,
  destination_address,
  network_transport,
  network_type,
  network_direction
FROM ecs_network_events
WHERE time >= (SELECT unix_time FROM time) - 540
  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'network')
  AND event_action = 'connection_accepted'
  AND process_name IN ('ollama', 'ollama.exe')
  AND NULLIF(destination_port, '') = 11434
  AND NULLIF(source_ip, '') IS NOT NULL
  AND NOT coalesce(source_ip = '0.0.0.0', 0)
  AND NOT CASE WHEN NULLIF(source_ip, '') IS NULL THEN 0 WHEN instr(NULLIF(source_ip, ''), ':') > 0 THEN NULLIF(source_ip, '') IN ('::1') OR in_cidr_block('fe80::/10', NULLIF(source_ip, '')) OR in_cidr_block('fc00::/7', NULLIF(source_ip, '')) OR NOT (in_cidr_block('::/1', NULLIF(source_ip, '')) OR in_cidr_block('8000::/2', NULLIF(source_ip, '')) OR in_cidr_block('c000::/3', NULLIF(source_ip, '')) OR in_cidr_block('e000::/4', NULLIF(source_ip, '')) OR in_cidr_block('f000::/5', NULLIF(source_ip, '')) OR in_cidr_block('f800::/6', NULLIF(source_ip, '')) OR in_cidr_block('fc00::/7', NULLIF(source_ip, '')) OR in_cidr_block('fe00::/8', NULLIF(source_ip, ''))) ELSE NULLIF(source_ip, '') IN ('10.0.0.0', '10.255.255.255', '127.0.0.0', '127.255.255.255', '169.254.0.0', '169.254.255.255', '172.16.0.0', '172.31.255.255', '192.168.0.0', '192.168.255.255', '100.64.0.0', '100.127.255.255') OR in_cidr_block('10.0.0.0/8', NULLIF(source_ip, '')) OR in_cidr_block('127.0.0.0/8', NULLIF(source_ip, '')) OR in_cidr_block('169.254.0.0/16', NULLIF(source_ip, '')) OR in_cidr_block('172.16.0.0/12', NULLIF(source_ip, '')) OR in_cidr_block('192.168.0.0/16', NULLIF(source_ip, '')) OR in_cidr_block('100.64.0.0/10', NULLIF(source_ip, '')) END
  AND event_category GLOB '*"network"*'
  AND time IN (
    SELECT time
    FROM ecs_network_events
    WHERE time >= (SELECT unix_time FROM time) - 540
      AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'network')
      AND event_action = 'connection_accepted'
      AND process_name IN ('ollama', 'ollama.exe')
      AND NULLIF(destination_port, '') = 11434
      AND NULLIF(source_ip, '') IS NOT NULL
      AND NOT coalesce(source_ip = '0.0.0.0', 0)
      AND NOT CASE WHEN NULLIF(source_ip, '') IS NULL THEN 0 WHEN instr(NULLIF(source_ip, ''), ':') > 0 THEN NULLIF(source_ip, '') IN ('::1') OR in_cidr_block('fe80::/10', NULLIF(source_ip, '')) OR in_cidr_block('fc00::/7', NULLIF(source_ip, '')) OR NOT (in_cidr_block('::/1', NULLIF(source_ip, '')) OR in_cidr_block('8000::/2', NULLIF(source_ip, '')) OR in_cidr_block('c000::/3', NULLIF(source_ip, '')) OR in_cidr_block('e000::/4', NULLIF(source_ip, '')) OR in_cidr_block('f000::/5', NULLIF(source_ip, '')) OR in_cidr_block('f800::/6', NULLIF(source_ip, '')) OR in_cidr_block('fc00::/7', NULLIF(source_ip, '')) OR in_cidr_block('fe00::/8', NULLIF(source_ip, ''))) ELSE NULLIF(source_ip, '') IN ('10.0.0.0', '10.255.255.255', '127.0.0.0', '127.255.255.255', '169.254.0.0', '169.254.255.255', '172.16.0.0', '172.31.255.255', '192.168.0.0', '192.168.255.255', '100.64.0.0', '100.127.255.255') OR in_cidr_block('10.0.0.0/8', NULLIF(source_ip, '')) OR in_cidr_block('127.0.0.0/8', NULLIF(source_ip, '')) OR in_cidr_block('169.254.0.0/16', NULLIF(source_ip, '')) OR in_cidr_block('172.16.0.0/12', NULLIF(source_ip, '')) OR in_cidr_block('192.168.0.0/16', NULLIF(source_ip, '')) OR in_cidr_block('100.64.0.0/10', NULLIF(source_ip, '')) END
      AND event_category GLOB '*"network"*')
