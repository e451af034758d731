WITH RECURSIVE
ev AS MATERIALIZED (
  SELECT time, timestamp, event_category, event_type, event_action, event_id, host_os_type, host_name, process_pid, process_entity_id, process_executable, process_name, process_args, process_args_count, process_command_line, process_working_directory, process_env_vars, process_previous_executable, process_exit_code, process_code_signature_exists, process_code_signature_trusted, process_code_signature_signing_id, process_code_signature_team_id, process_parent_pid, process_parent_entity_id, process_parent_executable, process_parent_name, process_parent_args, process_parent_command_line, process_parent_code_signature_exists, process_parent_code_signature_trusted, process_effective_parent_pid, process_effective_parent_entity_id, process_effective_parent_executable, process_effective_parent_name, user_id, user_name, user_effective_id, group_id, file_path, file_name, file_extension, file_directory, file_original_path, file_original_name, coalesce(CAST(round((julianday(NULLIF(timestamp, '')) - 2440587.5) * 86400000.0) AS INTEGER), time * 1000) AS _ms,
    row_number() OVER (ORDER BY coalesce(CAST(round((julianday(NULLIF(timestamp, '')) - 2440587.5) * 86400000.0) AS INTEGER), time * 1000), event_id) AS _eid
  FROM (
    SELECT time, timestamp, event_category, event_type, event_action, event_id, host_os_type, host_name, process_pid, process_entity_id, process_executable, process_name, process_args, process_args_count, process_command_line, process_working_directory, process_env_vars, process_previous_executable, process_exit_code, process_code_signature_exists, process_code_signature_trusted, process_code_signature_signing_id, process_code_signature_team_id, process_parent_pid, process_parent_entity_id, process_parent_executable, process_parent_name, process_parent_args, process_parent_command_line, process_parent_code_signature_exists, process_parent_code_signature_trusted, process_effective_parent_pid, process_effective_parent_entity_id, process_effective_parent_executable, process_effective_parent_name, user_id, user_name, user_effective_id, group_id, NULL AS file_path, NULL AS file_name, NULL AS file_extension, NULL AS file_directory, NULL AS file_original_path, NULL AS file_original_name FROM ecs_process_events WHERE time >= (SELECT unix_time FROM time) - 540
    UNION ALL SELECT time, timestamp, event_category, event_type, event_action, event_id, host_os_type, host_name, process_pid, process_entity_id, process_executable, process_name, process_args, process_args_count, process_command_line, process_working_directory, process_env_vars, process_previous_executable, process_exit_code, process_code_signature_exists, process_code_signature_trusted, process_code_signature_signing_id, process_code_signature_team_id, process_parent_pid, process_parent_entity_id, process_parent_executable, process_parent_name, process_parent_args, process_parent_command_line, process_parent_code_signature_exists, process_parent_code_signature_trusted, process_effective_parent_pid, process_effective_parent_entity_id, process_effective_parent_executable, process_effective_parent_name, user_id, user_name, user_effective_id, group_id, file_path, file_name, file_extension, file_directory, file_original_path, file_original_name FROM ecs_file_events WHERE time >= (SELECT unix_time FROM time) - 540
  )
),
hits AS MATERIALIZED (
  SELECT row_number() OVER (ORDER BY _k, _ms, _id, _o) AS _rn,
    (row_number() OVER (PARTITION BY _k ORDER BY _ms, _id, _o)) = 1 AS _first,
    _k, _ms, _id, _eid, _o
  FROM (
    SELECT json_array('host', NULLIF(process_entity_id, '')) AS _k, _ms, event_id AS _id, _eid, 2 AS _o FROM ev WHERE EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'file') AND host_os_type = 'macos' AND event_action = 'launch_daemon' AND NULLIF(process_entity_id, '') IS NOT NULL
    UNION ALL SELECT json_array('host', NULLIF(process_parent_entity_id, '')) AS _k, _ms, event_id AS _id, _eid, 1 AS _o FROM ev WHERE EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process') AND host_os_type = 'macos' AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN ('start', 'process_started')) AND process_name = 'launchctl' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value = 'load') AND NULLIF(process_parent_entity_id, '') IS NOT NULL
  )
),
walk(_rn, p0, q0, t0, _done, _ids) AS (
  SELECT 0, NULL, NULL, NULL, NULL, NULL
  UNION ALL
  SELECT h._rn,
    CASE h._o WHEN 2 THEN json_array(h._eid) WHEN 1 THEN NULL WHEN 3 THEN NULL ELSE (CASE WHEN h._first THEN NULL ELSE w.p0 END) END,
    CASE h._o WHEN 2 THEN json_array(h._id) WHEN 1 THEN NULL WHEN 3 THEN NULL ELSE (CASE WHEN h._first THEN NULL ELSE w.q0 END) END,
    CASE h._o WHEN 2 THEN h._ms WHEN 1 THEN NULL WHEN 3 THEN NULL ELSE (CASE WHEN h._first THEN NULL ELSE w.t0 END) END,
    CASE WHEN h._o = 1 AND (CASE WHEN h._first THEN NULL ELSE w.p0 END) IS NOT NULL AND h._ms - (CASE WHEN h._first THEN NULL ELSE w.t0 END) <= 30000 THEN json_insert((CASE WHEN h._first THEN NULL ELSE w.p0 END), '$[#]', h._eid) END,
    CASE WHEN h._o = 1 AND (CASE WHEN h._first THEN NULL ELSE w.p0 END) IS NOT NULL AND h._ms - (CASE WHEN h._first THEN NULL ELSE w.t0 END) <= 30000 THEN json_insert((CASE WHEN h._first THEN NULL ELSE w.q0 END), '$[#]', h._id) END
  FROM walk AS w JOIN hits AS h ON h._rn = w._rn + 1
)
SELECT ev.time, ev.timestamp, ev.event_category, ev.event_type, ev.event_action, ev.event_id, ev.host_os_type, ev.host_name, ev.process_pid, ev.process_entity_id, ev.process_executable, ev.process_name, ev.process_args, ev.process_args_count, ev.process_command_line, ev.process_working_directory, ev.process_env_vars, ev.process_previous_executable, ev.process_exit_code, ev.process_code_signature_exists, ev.process_code_signature_trusted, ev.process_code_signature_signing_id, ev.process_code_signature_team_id, ev.process_parent_pid, ev.process_parent_entity_id, ev.process_parent_executable, ev.process_parent_name, ev.process_parent_args, ev.process_parent_command_line, ev.process_parent_code_signature_exists, ev.process_parent_code_signature_trusted, ev.process_effective_parent_pid, ev.process_effective_parent_entity_id, ev.process_effective_parent_executable, ev.process_effective_parent_name, ev.user_id, ev.user_name, ev.user_effective_id, ev.group_id, ev.file_path, ev.file_name, ev.file_extension, ev.file_directory, ev.file_original_path, ev.file_original_name,
  w._ids AS sequence_id, j.key + 1 AS sequence_step, 2 AS sequence_length
FROM walk AS w, json_each(w._done) AS j JOIN ev ON ev._eid = j.value
WHERE w._done IS NOT NULL
ORDER BY w._rn, j.key
